// Bundles the CLI into dist/ so that start-up reads and compiles one file
// instead of walking node_modules.
//
// The bundle is CommonJS: an ES-module entry point costs Node about 5 ms to
// set up its module loader, a visible share of a ~50 ms hit. Code that only
// some calls need (execa for a miss, commander for help and errors, croner,
// tinyglobby, picomatch) goes into files of its own, never loaded on a hit.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

const common = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minify: true,
  legalComments: 'linked',
  logLevel: 'warning',
  // import() of a file outside the bundle becomes require(): the bundle runs
  // as a plain script (src/launch/code-cache.ts), where import() is not
  // available.
  supported: { 'dynamic-import': false },
};

// Packages that only some calls need, each bundled into its own file and
// required on first use: `await import('execa')` in src/ becomes a require
// of dist/execa.cjs. A hit loads none of them.
const lazyPackages = [
  'execa',
  'commander',
  'croner',
  'tinyglobby',
  'picomatch',
  'ioredis',
  // the clouds' credential chains, each loaded only when its cloud is used
  '@aws-sdk/credential-providers',
  'google-auth-library',
  '@azure/identity',
];
const lazyApart = {
  name: 'lazy-apart',
  setup(b) {
    const filter = new RegExp(`^(${lazyPackages.join('|')})$`);
    b.onResolve({ filter }, (args) =>
      args.kind === 'dynamic-import' ? { path: `./${args.path}.cjs`, external: true } : undefined,
    );
  },
};

// dcache decides colour itself (src/output.ts) and hands chalk a level, so
// chalk's own detection is dead weight; it also loads node:tty, and with it
// the net and stream machinery, at start-up. It is replaced by "no colour".
const noColourDetection = {
  name: 'no-colour-detection',
  setup(b) {
    b.onResolve({ filter: /^#supports-color$/ }, () => ({ path: 'supports-color', namespace: 'dcache-shim' }));
    b.onLoad({ filter: /.*/, namespace: 'dcache-shim' }, () => ({
      contents: 'export default { stdout: false, stderr: false };',
      loader: 'js',
    }));
  },
};

// Node's built-in modules, each required when the bundle first uses it, not
// when the bundle starts: esbuild hoists every import to the start of the
// bundle, so a hit loaded what only a miss, a remote or a listing uses
// (node:crypto and node:stream alone are 45 built-in modules, about 10 ms).
// Each import of one becomes a module of the bundle whose exports require
// the built-in on first read. Those that Node has loaded before any user
// code runs stay plain.
const eagerBuiltins = new Set(['fs', 'path', 'process', 'buffer', 'events', 'module']);
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
      // the shim's own require of the built-in
      if (args.namespace === 'lazy-builtin') return { path: args.path, external: true };
      const name = args.path.replace(/^node:/, '');
      if (!builtinModules.includes(name) || eagerBuiltins.has(name)) return undefined;
      return { path: name, namespace: 'lazy-builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => {
      const id = `node:${args.path}`;
      // One proxy answers every name, from the prototype of module.exports:
      // each import of the module is wrapped (esbuild's __toESM) in an
      // object that copies its own properties one by one and inherits the
      // rest. Getters per name (50 to 70 closures for each built-in), on it
      // or on its prototype, were half a millisecond of every start.
      // __esModule is read by that wrapper and must not load the built-in.
      return {
        contents:
          `let loaded;\nconst load = () => (loaded ??= require(${JSON.stringify(id)}));\n` +
          "module.exports = Object.create(new Proxy({}, { get: (_, name) => (name === '__esModule' ? undefined : load()[name]) }));\n",
        loader: 'js',
      };
    });
  },
};

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
const results = await Promise.all([
  build({
    ...common,
    entryPoints: ['src/cli/bin.ts'],
    outfile: 'dist/cli.cjs',
    plugins: [lazyApart, noColourDetection, lazyBuiltins],
    define: { DCACHE_VERSION: JSON.stringify(pkg.version) },
    metafile: true,
  }),
  // The library (import { cached } from 'dcache'): a bundle of its own that
  // shares the lazy packages' files with the CLI, and loads none of the
  // CLI's (commander) or a miss's (execa) code unless a call needs it.
  build({
    ...common,
    entryPoints: ['src/index.ts'],
    outfile: 'dist/library.cjs',
    plugins: [lazyApart, noColourDetection, lazyBuiltins],
    define: { DCACHE_VERSION: JSON.stringify(pkg.version) },
    metafile: true,
  }),
  // What loads the two bundles above, through a code cache
  // (src/launch/launch.ts): bin/dcache.js and dist/index.cjs require it.
  // Without lazy built-ins: it uses four that are cheap to load, and
  // requires node:crypto itself when it needs it; the lazy modules' getters
  // were most of its text, and half a millisecond of every start.
  build({
    ...common,
    entryPoints: ['src/launch/launch.ts'],
    outfile: 'dist/launch.cjs',
    metafile: true,
  }),
  ...lazyPackages.map((name) =>
    build({
      ...common,
      stdin: { contents: `module.exports = require('${name}');`, resolveDir: '.', loader: 'js' },
      outfile: `dist/${name}.cjs`,
      metafile: true,
    }),
  ),
]);

// The bundle carries other packages' code, so it carries their licences.
const packages = new Set();
for (const { metafile } of results) {
  for (const input of Object.keys(metafile.inputs)) {
    // the innermost package: nested copies may be other versions
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m) packages.add(m[1]);
  }
}
const notices = [...packages].sort().map((dir) => {
  const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  const text = file ? readFileSync(join(dir, file), 'utf8').trim() : `License: ${meta.license}`;
  return `${meta.name} ${meta.version}\n\n${text}\n`;
});
writeFileSync('dist/THIRD-PARTY-LICENSES.txt', `dcache bundles these packages.\n\n${notices.join('\n----\n\n')}`);

// The entries of the library: CommonJS, which loads its bundle through
// dist/launch.cjs as the CLI's is loaded, and
// the ES module over it; and the declarations of its types, generated from
// the sources by tsc.
writeFileSync(
  'dist/index.cjs',
  "'use strict';\n" +
    "module.exports = require('./launch.cjs').loadLibrary(require('node:path').join(__dirname, 'library.cjs'));\n",
);
writeFileSync(
  'dist/index.js',
  "import { createRequire } from 'node:module';\n" +
    "const library = createRequire(import.meta.url)('./index.cjs');\n" +
    'export const cached = library.cached;\n' +
    'export const fetched = library.fetched;\n' +
    'export const FetchError = library.FetchError;\n',
);
const declared = spawnSync(process.execPath, [fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-p', 'tsconfig.types.json'], {
  stdio: 'inherit',
});
if (declared.status !== 0) throw new Error('tsc could not write the declarations of the library');

// Writes the code caches of the bundles (src/launch/code-cache.ts): the
// CLI's by recording and then replaying a tiny command, the library's by a
// cached function's miss and hit, so that each cache holds the hit path
// compiled. Failing here costs speed, not correctness: it is not an error.
const scratch = mkdtempSync(join(tmpdir(), 'dcache-build-'));
const libraryEntry = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const warmLibrary = `import { cached } from ${JSON.stringify(libraryEntry)};
const warm = cached(function warm(n) { return { n }; }, { dir: ${JSON.stringify(join(scratch, 'library'))} });
await warm(1);
await warm(1);
`;
// a file, not node -e: the flags of `node -e` would name another cache
const warmScript = join(scratch, 'warm.mjs');
writeFileSync(warmScript, warmLibrary);
try {
  for (let i = 0; i < 2; i++) {
    // the caches are named after the flags they were made under: those of
    // a user's plain `dcache` or `node script.mjs`, not whatever
    // NODE_OPTIONS the build ran with
    const options = { stdio: 'ignore', cwd: scratch, env: { ...process.env, NODE_OPTIONS: '' } };
    spawnSync(process.execPath, [fileURLToPath(new URL('../bin/dcache.js', import.meta.url)), 'run', '-q', '--dir', scratch, '--', process.execPath, '-e', '0'], options);
    spawnSync(process.execPath, [warmScript], options);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
