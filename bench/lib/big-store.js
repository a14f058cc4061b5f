import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv } from './spawn.js';

// Caches filled with many generated entries, for the cases that measure
// dcache at scale. bench/lib/store-generator.ts writes them through the
// project's own store code (see there for what an entry holds); it is
// bundled with esbuild from the benchmark's snapshot of the sources, so the
// entries are exactly what the measured build reads.
//
// One cache per size is generated once per benchmark run and shared by the
// cases that ask for it; removeGeneratedStores() deletes them at the end.

// The size of the scale cases' cache ("100,000 entries" in their names).
export const MANY_ENTRIES = 100_000;

const stores = new Map();
let generator = null;

// { root, cacheDir, entries, generationMs, workers, blobBytes, events, diskBytes }
export function generatedStore(build, entries) {
  if (!stores.has(entries)) stores.set(entries, createStore(build, entries));
  return stores.get(entries);
}

// What was generated in this run, for the report.
export async function describeGeneratedStores() {
  const settled = await Promise.allSettled(stores.values());
  return settled.filter((s) => s.status === 'fulfilled').map((s) => s.value);
}

export async function removeGeneratedStores() {
  for (const store of await describeGeneratedStores()) rmSync(store.root, { recursive: true, force: true });
  stores.clear();
  const bundled = await generator?.catch(() => null);
  if (bundled) rmSync(bundled.dir, { recursive: true, force: true });
  generator = null;
}

async function createStore(build, entries) {
  if (!build.sources) throw new Error('no snapshot of the sources to bundle bench/lib/store-generator.ts from');
  const { file } = await (generator ??= bundleGenerator(build.sources));
  const root = mkdtempSync(join(tmpdir(), `dcache-bench-${entries}-entries-`));
  const cacheDir = join(root, 'cache');
  try {
    const started = performance.now();
    const now = Date.now();
    // One process per CPU, each writing a slice of the entries; then one
    // folds the activity logs, as gc would.
    const workers = Math.max(1, Math.min(availableParallelism(), Math.ceil(entries / 1000)));
    const slices = Array.from({ length: workers }, (_, w) => ({
      from: Math.floor((w * entries) / workers),
      to: Math.floor(((w + 1) * entries) / workers),
    }));
    const parts = await Promise.all(slices.map((slice) => runGenerator(file, { root: cacheDir, entries, now, ...slice })));
    await runGenerator(file, { root: cacheDir, entries, now, compact: true });
    return {
      root,
      cacheDir,
      entries,
      generationMs: performance.now() - started,
      workers,
      blobBytes: parts.reduce((n, p) => n + p.blobBytes, 0),
      events: parts.reduce((n, p) => n + p.events, 0),
      diskBytes: diskUsage(cacheDir),
    };
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}

function runGenerator(file, request) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, JSON.stringify(request)], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(JSON.parse(stdout));
      else reject(new Error(`generating entries ${JSON.stringify(request)} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    });
  });
}

async function bundleGenerator(sources) {
  const { build } = await import('esbuild');
  const dir = mkdtempSync(join(tmpdir(), 'dcache-bench-generator-'));
  const file = join(dir, 'store-generator.cjs');
  // CommonJS on purpose: the generator turns fsync off by replacing
  // fs.fsyncSync, which the store's bundled calls then see.
  await build({
    entryPoints: [join(sources, 'bench', 'lib', 'store-generator.ts')],
    absWorkingDir: sources,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: file,
    logLevel: 'warning',
  });
  return { dir, file };
}

// Bytes the cache takes on disk (allocated blocks), for the report.
function diskUsage(dir) {
  let bytes = 0;
  for (const d of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (d.isFile()) bytes += statSync(join(d.parentPath, d.name)).blocks * 512;
  }
  return bytes;
}

// The bytes of every blob in the cache (what gc --max-size counts, when
// every blob is named by an entry).
export function blobBytes(cacheDir) {
  let bytes = 0;
  const blobs = join(cacheDir, 'blobs');
  for (const shard of readdirSync(blobs)) {
    for (const name of readdirSync(join(blobs, shard))) bytes += statSync(join(blobs, shard, name)).size;
  }
  return bytes;
}
