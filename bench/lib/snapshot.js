import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './paths.js';

// Copies the repository, as it is when the benchmark starts, to a temp
// directory: the built CLI (bin/, dist/, package.json) to measure, and the
// sources (bench/lib/big-store.js bundles its store generator from them;
// bench/anatomy.js rebuilds them with source maps). Everything is measured
// against this copy, so that an edit or a rebuild in the working tree while
// the benchmark runs (scripts/build.js empties dist/ first) cannot break or
// skew it. node_modules is linked, not copied.
export function snapshotRepo() {
  if (!existsSync(join(REPO, 'dist'))) {
    throw new Error('dist/ is missing: run `npm run build` first (`npm run bench` and `npm run bench:anatomy` do)');
  }
  const root = mkdtempSync(join(tmpdir(), 'dcache-bench-snapshot-'));
  const build = join(root, 'build');
  const sources = join(root, 'sources');
  for (const name of ['bin', 'dist', 'package.json']) cpSync(join(REPO, name), join(build, name), { recursive: true });
  for (const name of readdirSync(REPO)) {
    if (['node_modules', '.git', 'dist', '.bench'].includes(name)) continue;
    cpSync(join(REPO, name), join(sources, name), { recursive: true });
  }
  for (const dir of [build, sources]) symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return {
    // The CLI to measure: `node <bin>`; <dist> holds its bundle.
    build: { root: build, bin: join(build, 'bin', 'dcache.js'), dist: join(build, 'dist') },
    // A copy of the sources, to bundle or rebuild from.
    sources,
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}
