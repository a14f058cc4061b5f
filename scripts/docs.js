// Rewrites the generated reference pages (docs/cli.md, docs/env.md) from the
// tables in src/cli/ (see src/cli/reference.ts): `npm run docs`.
// test/unit/cli/reference.test.ts fails while a committed page differs.
import { build } from 'esbuild';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// The TypeScript source, bundled into one module that Node can import.
const bundled = await build({
  entryPoints: [join(root, 'src/cli/reference.ts')],
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  write: false,
  logLevel: 'warning',
});
// Under node_modules, so that the packages it imports are found from there.
mkdirSync(join(root, 'node_modules/.cache'), { recursive: true });
const dir = mkdtempSync(join(root, 'node_modules/.cache/dcache-docs-'));
try {
  const file = join(dir, 'reference.mjs');
  writeFileSync(file, bundled.outputFiles[0].text);
  const { referenceDocuments } = await import(pathToFileURL(file).href);
  for (const { path, text } of referenceDocuments()) {
    writeFileSync(join(root, path), text);
    console.log(`wrote ${path}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
