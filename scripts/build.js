// Bundles the CLI into dist/ so that start-up reads and compiles one file
// instead of walking node_modules.
//
// The bundle is CommonJS: an ES-module entry point costs Node about 5 ms to
// set up its module loader, a visible share of a ~50 ms hit. Code that only
// a miss needs (execa, about 115 KB) goes into its own file, required on the
// first miss and never on a hit.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
  // import() of a file outside the bundle becomes require(): bin/dcache.js
  // runs the bundle as a plain script, where import() is not available.
  supported: { 'dynamic-import': false },
};

// `await import('execa')` in src/record.ts becomes a require of dist/execa.cjs.
const execaApart = {
  name: 'execa-apart',
  setup(b) {
    b.onResolve({ filter: /^execa$/ }, (args) =>
      args.kind === 'dynamic-import' ? { path: './execa.cjs', external: true } : undefined,
    );
  },
};

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await Promise.all([
  build({
    ...common,
    entryPoints: ['src/cli.ts'],
    outfile: 'dist/cli.cjs',
    plugins: [execaApart],
    define: { DCACHE_VERSION: JSON.stringify(pkg.version) },
  }),
  build({
    ...common,
    stdin: { contents: "export { execa } from 'execa';", resolveDir: '.', loader: 'js' },
    outfile: 'dist/execa.cjs',
  }),
]);

// Writes V8's code cache for the bundle (see bin/dcache.js) by recording and
// then replaying a tiny command, so the cache holds the hit path compiled.
// Failing here costs speed, not correctness: it is not an error.
const scratch = mkdtempSync(join(tmpdir(), 'dcache-build-'));
try {
  for (let i = 0; i < 2; i++) {
    spawnSync(process.execPath, [fileURLToPath(new URL('../bin/dcache.js', import.meta.url)), 'run', '-q', '--dir', scratch, '--', process.execPath, '-e', '0'], {
      stdio: 'ignore',
      cwd: scratch,
    });
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
