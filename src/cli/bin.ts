import { main } from './main.js';

// The bundle's entry point: bin/dcache.js runs it.
void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
