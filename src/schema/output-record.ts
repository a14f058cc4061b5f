import { posix } from 'node:path';
import type { BlobHash } from '../core/hash.js';
import { isSha256 } from '../core/hash.js';

export interface BlobRef {
  hash: BlobHash;
  size: number;
}

// One declared output (-o) as recorded: paths are relative to the working
// directory, '/'-separated, and always inside one of the declared outputs.
export type OutputRecord =
  | { path: string; type: 'file'; mode: number; blob: BlobRef }
  | { path: string; type: 'dir'; mode: number }
  | { path: string; type: 'symlink'; target: string };

export const OUTPUT_TYPES = ['file', 'dir', 'symlink'] as const;

export function isBlobRef(v: unknown): v is BlobRef {
  return isRecord(v) && isSha256(v.hash) && Number.isSafeInteger(v.size) && (v.size as number) >= 0;
}

// Only the shape is checked here; whether a path may be written is decided
// at restore time, against the declared outputs.
export function isOutputRecord(v: unknown): v is OutputRecord {
  if (!isRecord(v) || typeof v.path !== 'string') return false;
  const isMode = (m: unknown) => Number.isInteger(m) && (m as number) >= 0 && (m as number) <= 0o7777;
  switch (v.type) {
    case 'file':
      return isMode(v.mode) && isBlobRef(v.blob);
    case 'dir':
      return isMode(v.mode);
    case 'symlink':
      return typeof v.target === 'string';
    default:
      return false;
  }
}

// A record of a type a newer version may write (a FIFO, say): not damage,
// but nothing this version can restore.
export function isForeignRecord(v: unknown): boolean {
  return isRecord(v) && typeof v.path === 'string' && typeof v.type === 'string' && !(OUTPUT_TYPES as readonly string[]).includes(v.type);
}

// The recorded mode without setuid and setgid: an entry (from a shared cache
// above all) must not hand whoever replays it a program that runs with the
// restorer's identity. The other bits, sticky included, are kept.
export function safeMode(mode: number): number {
  return mode & ~0o6000;
}

// Whether a symlink of the outputs at `path` (relative to the working
// directory) points outside it: an absolute target, or a relative one that
// climbs out.
export function symlinkLeaves(path: string, target: string): boolean {
  if (target === '' || target.startsWith('/') || target.includes('\0')) return true;
  const joined = posix.normalize(posix.join(posix.dirname(path), target));
  return joined === '..' || joined.startsWith('../') || posix.isAbsolute(joined);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
