import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { delimiter, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv } from '../lib/spawn.js';

const REGISTER = fileURLToPath(new URL('./esbuild-register.js', import.meta.url));

// Runs the project's own build (package.json's "build" script) in `sources`,
// a scratch copy of the repository, with esbuild wrapped so that it also
// writes source maps (bench/anatomy/esbuild-with-maps.js). Returns
// mapFor(fileName), the source map of a file of `dist`, when the rebuild is
// the same code as `dist`; else null (src/ changed after dist/ was built),
// and profile frames in dist/ cannot be attributed.
export function rebuildWithMaps(sources, dist) {
  const pkg = JSON.parse(readFileSync(join(sources, 'package.json'), 'utf8'));
  const script = pkg.scripts?.build;
  if (!script) throw new Error('package.json has no "build" script');
  const env = cleanEnv({
    NODE_OPTIONS: `--import=${REGISTER}`,
    PATH: [join(sources, 'node_modules', '.bin'), process.env.PATH].join(delimiter),
  });
  const result = spawnSync('/bin/sh', ['-c', script], { cwd: sources, env, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`the build failed: ${result.stderr.trim() || result.stdout.trim()}`);
  const built = join(sources, 'dist');
  if (!readdirSync(built).some((n) => n.endsWith('.map'))) throw new Error('the build wrote no source maps: did it call esbuild.build()?');
  return mirrors(built, dist) ? readMaps(built) : null;
}

// Split chunks carry an 8-character content hash that covers the map too;
// a placeholder of the same length keeps columns aligned.
const HASHED = /-[A-Z0-9]{8}(\.[cm]?js)/g;
const isCode = (name) => ['.js', '.cjs', '.mjs'].includes(extname(name));
const stableName = (name) => name.replace(HASHED, '-HHHHHHHH$1');
const normalise = (code) => code.replace(HASHED, '-HHHHHHHH$1').replace(/\n\/\/# sourceMappingURL=[^\n]*\n?$/, '\n');

function mirrors(built, dist) {
  const rebuilt = new Map(
    readdirSync(built)
      .filter(isCode)
      .map((n) => [stableName(n), normalise(readFileSync(join(built, n), 'utf8'))]),
  );
  const shipped = readdirSync(dist).filter(isCode);
  if (shipped.length !== rebuilt.size) return false;
  return shipped.every((n) => rebuilt.get(stableName(n)) === normalise(readFileSync(join(dist, n), 'utf8')));
}

function readMaps(built) {
  const maps = new Map();
  for (const name of readdirSync(built).filter((n) => n.endsWith('.map'))) {
    maps.set(stableName(name.slice(0, -'.map'.length)), JSON.parse(readFileSync(join(built, name), 'utf8')));
  }
  return (distName) => maps.get(stableName(distName));
}
