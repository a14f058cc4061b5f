import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

// What a cache directory (or any directory a test looks into) holds.

// Every regular file under `dir`, recursively; none if it does not exist.
export function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}

// Every directory and file under `dir` (itself included), with its mode bits.
export function listModes(dir: string): Array<{ path: string; dir: boolean; mode: number }> {
  const found = [{ path: dir, dir: true, mode: statSync(dir).mode & 0o777 }];
  for (const d of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(d.parentPath, d.name);
    found.push({ path, dir: d.isDirectory(), mode: statSync(path).mode & 0o777 });
  }
  return found;
}

// The manifests under a cache directory.
export function manifests(cacheDir: string): string[] {
  return listFiles(join(cacheDir, 'entries')).filter((f) => f.endsWith('.json'));
}

// The lock directories left under a cache directory.
export function locks(cacheDir: string): string[] {
  const dir = join(cacheDir, 'locks');
  return existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.lock')) : [];
}

// The one manifest in a cache directory, parsed.
export interface StoredEntry {
  key: string;
  stdout: { hash: string; size: number } | null;
  stderr: { hash: string; size: number } | null;
  outputs: Array<{ path: string; type: string; blob?: { hash: string; size: number } }>;
  [field: string]: unknown;
}

export function onlyEntry(cacheDir: string): StoredEntry {
  const found = manifests(cacheDir);
  if (found.length !== 1) throw new Error(`expected one entry in ${cacheDir}, found ${found.length}`);
  return JSON.parse(readFileSync(found[0]!, 'utf8')) as StoredEntry;
}

// Files under `dir` whose bytes contain `secret`.
export function filesHolding(dir: string, secret: string): string[] {
  return listFiles(dir).filter((f) => readFileSync(f).includes(secret));
}

// The entries `dcache ls --json` lists in the sandbox's cache, oldest first.
export function listedEntries(box: { dcache(args: string[]): { stdout: Buffer } }): Array<{ key: string; argv: string[] }> {
  const r = box.dcache(['ls', '--json']);
  return (JSON.parse(r.stdout.toString()) as { entries: Array<{ key: string; argv: string[] }> }).entries;
}

// The files below `dir`, at any depth, as absolute paths; none if it is missing.
export function filesUnder(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => join(d.parentPath, d.name));
  } catch {
    return [];
  }
}
