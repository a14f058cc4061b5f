import { open } from 'node:fs/promises';
import { lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { fail, ok } from '../core/errors.js';
import { redactUrl } from '../core/redact.js';
import { createStreamHash, displayHash, hashBytes, isSha256 } from '../core/hash.js';
import { formatSize } from '../core/size.js';
import type { Fingerprint } from '../schema/fingerprint.js';
import type { SourceKind, WatchSource } from './source.js';

// A local file, directory or glob: every file it stands for, by size, mtime
// and content hash. The content decides; size and mtime only spare the
// reading. Symlinks are followed: what matters is the content they lead to.

interface FileFingerprint {
  path: string;
  // -1: a broken symlink, fingerprinted by where it points
  size: number;
  mtimeMs: number;
  hash: string;
}

export interface PathFingerprint extends Fingerprint {
  kind: 'path';
  // none: nothing matches
  files: FileFingerprint[];
}

export const pathKind: SourceKind = {
  kind: 'path',

  // Anything that is not a URL is a path; a URL no other kind took is an error.
  parse(given) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(given)) {
      return fail(
        `--watch '${redactUrl(given)}': the URLs that can be watched are http(s)://, s3://, gs:// and az:// (other sources: --watch-cmd)`,
      );
    }
    return ok({ kind: 'path', source: given, label: given, id: `path:${given}` });
  },

  async probe(source, ctx, previous) {
    const fingerprint = await fingerprintPath(source, ctx.cwd, asPath(previous));
    // A typo in a watched path would otherwise go unnoticed for ever.
    if (fingerprint.files.length === 0) {
      return { ok: true, fingerprint, warning: `--watch '${source.label}' matches no file (yet); dcache watches for one to appear` };
    }
    return { ok: true, fingerprint };
  },

  same(recorded, current) {
    const a = asPath(recorded);
    const b = asPath(current);
    return (
      a !== undefined &&
      b !== undefined &&
      a.files.length === b.files.length &&
      a.files.every((f, i) => f.path === b.files[i]!.path && f.size === b.files[i]!.size && f.hash === b.files[i]!.hash)
    );
  },

  describe(f) {
    const p = asPath(f);
    if (p === undefined) return 'unreadable';
    if (p.files.length === 0) return 'no file';
    const file = p.files[0]!;
    if (p.files.length === 1) return file.size === -1 ? `a broken symlink, hash ${displayHash(file.hash)}` : `${formatSize(file.size)}, hash ${displayHash(file.hash)}`;
    return `${p.files.length} files, ${formatSize(p.files.reduce((n, x) => n + Math.max(0, x.size), 0))}`;
  },
};

// A recorded fingerprint as this kind's, if it is well-formed.
function asPath(f: Fingerprint | undefined): PathFingerprint | undefined {
  if (f === undefined || f.kind !== 'path' || !Array.isArray(f.files)) return undefined;
  const wellFormed = f.files.every(
    (x: unknown) =>
      typeof x === 'object' &&
      x !== null &&
      typeof (x as FileFingerprint).path === 'string' &&
      Number.isSafeInteger((x as FileFingerprint).size) &&
      (x as FileFingerprint).size >= -1 &&
      typeof (x as FileFingerprint).mtimeMs === 'number' &&
      isSha256((x as FileFingerprint).hash),
  );
  return wellFormed ? (f as PathFingerprint) : undefined;
}

async function fingerprintPath(watched: WatchSource, cwd: string, previous: PathFingerprint | undefined): Promise<PathFingerprint> {
  const known = new Map((previous?.files ?? []).map((f) => [f.path, f]));
  const files: FileFingerprint[] = [];
  for (const path of await expandPath(watched.source, cwd)) {
    const abs = isAbsolute(path) ? path : join(cwd, path);
    let st;
    try {
      st = statSync(abs);
    } catch {
      files.push({ path, size: -1, mtimeMs: 0, hash: hashBytes(`broken symlink to ${readlinkSync(abs)}`) });
      continue;
    }
    const before = known.get(path);
    if (before && before.size === st.size && before.mtimeMs === st.mtimeMs) files.push(before);
    else files.push({ path, size: st.size, mtimeMs: st.mtimeMs, hash: await hashFile(abs) });
  }
  return { kind: 'path', source: watched.label, id: watched.id, files };
}

// The files a source stands for, sorted: a file, every file under a
// directory (following symlinks, each real directory once), or the matches
// of a glob (tinyglobby does the matching).
async function expandPath(source: string, cwd: string): Promise<string[]> {
  if (/[*?[\]{}]/.test(source)) {
    const { glob } = await import('tinyglobby');
    const matches = await glob(source, { cwd, dot: true, onlyFiles: true, absolute: isAbsolute(source) });
    return matches.sort();
  }
  const abs = isAbsolute(source) ? source : join(cwd, source);
  let st;
  try {
    st = statSync(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    // missing, or a broken symlink
    return lstatOrNull(abs) ? [source] : [];
  }
  if (!st.isDirectory()) return [source];
  const found: string[] = [];
  const seen = new Set<string>();
  const walk = (dir: string) => {
    const real = realpathSync(dir);
    if (seen.has(real)) return;
    seen.add(real);
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      let entry;
      try {
        entry = statSync(full);
      } catch {
        entry = null;
      }
      if (entry?.isDirectory()) walk(full);
      else if (entry === null || entry.isFile()) found.push(isAbsolute(source) ? full : relative(cwd, full));
    }
  };
  walk(abs);
  return found.sort();
}

function lstatOrNull(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

// Read off the main thread, a MiB at a time: a large file does not stall
// the event loop (a lock's heartbeat).
async function hashFile(path: string): Promise<string> {
  const hash = createStreamHash();
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await file.close();
  }
  return hash.digest();
}
