// Preloaded (node --import) into the build that
// bench/anatomy/rebuild-with-maps.js runs: registers the hooks that give it
// esbuild with source maps.
import { register } from 'node:module';

register('./esbuild-hooks.js', import.meta.url);
