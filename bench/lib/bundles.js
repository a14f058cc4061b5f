import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROBES, REPO } from './paths.js';
import { cleanEnv } from './spawn.js';

const REGISTER = fileURLToPath(new URL('./esbuild-register.js', import.meta.url));

// Runs the project's own build (package.json's "build" script) in `sources`,
// a scratch copy of the repository, with esbuild wrapped so that it also
// writes source maps and logs its options (bench/lib/esbuild-with-maps.js).
// Returns { mapFor, options }: mapFor(fileName) gives the source map of a
// file of `dist` when the rebuild is the same code as `dist` (else null),
// and options are the esbuild options of the CLI's build, for the probes.
export function rebuildWithMaps(sources, dist) {
  const pkg = JSON.parse(readFileSync(join(sources, 'package.json'), 'utf8'));
  const script = pkg.scripts?.build;
  if (!script) throw new Error('package.json has no "build" script');
  const log = join(sources, '.bench-build-log.jsonl');
  const env = cleanEnv({
    BENCH_BUILD_LOG: log,
    NODE_OPTIONS: `--import=${REGISTER}`,
    PATH: [join(sources, 'node_modules', '.bin'), process.env.PATH].join(delimiter),
  });
  const result = spawnSync('/bin/sh', ['-c', script], { cwd: sources, env, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`the build failed: ${result.stderr.trim() || result.stdout.trim()}`);
  if (!existsSync(log)) throw new Error('the build did not call esbuild.build()');
  const options = readFileSync(log, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
  const built = join(sources, 'dist');
  const mapFor = mirrors(built, dist) ? readMaps(built) : null;
  return { mapFor, options: pickCliOptions(options) };
}

// Bundles the single-dependency probes (bench/probes/*-only.js) with the
// options the CLI's bundle was built with. Returns their paths by name.
export async function buildProbeBundles(outdir, cliOptions) {
  const { build } = await import('esbuild');
  const names = ['commander-only', 'xxhash-only'];
  const extension = cliOptions.format === 'cjs' ? '.cjs' : '.mjs';
  await build({
    ...cliOptions,
    absWorkingDir: REPO,
    entryPoints: Object.fromEntries(names.map((n) => [n, join(PROBES, `${n}.js`)])),
    outdir,
    outExtension: { '.js': extension },
    logLevel: 'warning',
  });
  return Object.fromEntries(names.map((n) => [n, join(outdir, `${n}${extension}`)]));
}

// The options of the build whose entry point is src/cli.ts (else the first),
// less those that name inputs and outputs or need the build script's code.
const PROBE_OPTIONS = [
  'bundle',
  'format',
  'platform',
  'target',
  'minify',
  'minifyWhitespace',
  'minifyIdentifiers',
  'minifySyntax',
  'keepNames',
  'treeShaking',
  'banner',
  'footer',
  'mainFields',
  'conditions',
];

function pickCliOptions(all) {
  const cli = all.find((o) => JSON.stringify(o.entryPoints ?? '').includes('cli')) ?? all[0];
  return Object.fromEntries(PROBE_OPTIONS.filter((key) => cli[key] !== undefined).map((key) => [key, cli[key]]));
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

// Whether `node <file>` treats the file as an ES module (else CommonJS).
export function isEsmEntry(file) {
  const ext = extname(file);
  if (ext === '.mjs') return true;
  if (ext === '.cjs') return false;
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) return JSON.parse(readFileSync(pkg, 'utf8')).type === 'module';
    if (dirname(dir) === dir) return false;
  }
}
