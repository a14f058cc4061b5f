import { Command, Option } from 'commander';

// Bundled by bench/lib/bundles.js the way the CLI is bundled: what loading
// commander and parsing a `run` command line costs, without the rest of
// dcache. No top-level await, so that it bundles to CommonJS as well.
const program = new Command('probe').enablePositionalOptions();
program
  .command('run')
  .argument('<command...>')
  .option('-p, --policy <spec>', 'policy', (v, prev) => [...prev, v], [])
  .option('-f, --force', 'force', false)
  .option('--dir <path>', 'dir')
  .addOption(new Option('-v, --verbose', 'verbose').conflicts('quiet'))
  .addOption(new Option('-q, --quiet', 'quiet'))
  .passThroughOptions()
  .action(() => {});
program.exitOverride();
program.parseAsync(['run', '--', 'true'], { from: 'user' }).catch((err) => {
  process.exitCode = 1;
  throw err;
});
