import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { parseDuration } from '../policy/duration.js';
import type { Result } from '../errors.js';
import { fail, ok, unreachable } from '../errors.js';
import { createStreamHash, hashBytes } from '../hash.js';
import { redactUrl, urlIdentity } from '../redact.js';

// Watched sources are validators, not key: an entry stays fresh only while
// each source's fingerprint equals the one taken when it was recorded.

// `source` is as given (a URL with its credentials and signature, to be
// fetched); `label` is how it is shown and stored; `id` names it across
// calls (a re-signed URL of the same object has the same id).
export type WatchSource =
  | { kind: 'path'; source: string; label: string; id: string }
  | { kind: 'url'; source: string; label: string; id: string }
  | { kind: 'cmd'; source: string; label: string; id: string };

export interface FileFingerprint {
  path: string;
  size: number;
  mtimeMs: number;
  hash: string;
}

// Each names its source by `source` (its label, for people) and `id` (for
// matching it again).
export type Fingerprint =
  // the files a path, directory or glob stands for (none: it does not exist)
  | { kind: 'path'; source: string; id: string; files: FileFingerprint[] }
  // a HEAD's validators, or the hash of a GET's body when there are none
  | {
      kind: 'url';
      source: string;
      id: string;
      etag: string | null;
      lastModified: string | null;
      contentLength: string | null;
      bodyHash: string | null;
    }
  // a probe's exit code and the hash of its stdout
  | { kind: 'cmd'; source: string; id: string; exitCode: number; stdoutHash: string }
  // the source could not be checked when the entry was recorded
  | { kind: 'unknown'; source: string; id: string; of: WatchSource['kind'] };

export type Probe = { ok: true; fingerprint: Fingerprint; warning?: string } | { ok: false; detail: string };

export const DEFAULT_WATCH_TIMEOUT_MS = 10_000;
const MAX_WATCH_TIMEOUT_MS = 60 * 60 * 1000;

export interface WatchPlan {
  sources: WatchSource[];
  timeoutMs: number;
}

// Checks --watch, --watch-cmd and --watch-timeout before anything runs.
export function parseWatch(
  watch: readonly string[],
  watchCmd: readonly string[],
  timeout: string | undefined,
): Result<WatchPlan, string> {
  const sources: WatchSource[] = [];
  for (const given of watch) {
    if (given.trim() === '') return fail(`--watch '${given}' is empty; give a file, directory, glob or http(s):// URL`);
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(given)) {
      let url: URL;
      try {
        url = new URL(given);
      } catch {
        return fail(`--watch '${redactUrl(given)}' is not a valid URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        return fail(`--watch '${redactUrl(given)}': only http:// and https:// URLs can be watched (or use --watch-cmd)`);
      }
      // The identity may hold a credential that is not a signature: only its hash is kept.
      sources.push({ kind: 'url', source: given, label: redactUrl(given), id: `url:${hashBytes(urlIdentity(url))}` });
    } else {
      sources.push({ kind: 'path', source: given, label: given, id: `path:${given}` });
    }
  }
  for (const command of watchCmd) {
    if (command.trim() === '') return fail(`--watch-cmd '${command}' is empty; give a command for /bin/sh -c`);
    sources.push({ kind: 'cmd', source: command, label: command, id: `cmd:${command}` });
  }
  let timeoutMs = DEFAULT_WATCH_TIMEOUT_MS;
  if (timeout !== undefined) {
    const parsed = parseDuration(timeout);
    if (!parsed.ok) return fail(`--watch-timeout ${parsed.error}`);
    if (parsed.value > MAX_WATCH_TIMEOUT_MS) return fail(`--watch-timeout '${timeout}' is longer than the longest a probe may take, 1h`);
    timeoutMs = parsed.value;
  }
  return ok({ sources, timeoutMs });
}

// How a source is named in a manifest and in messages: URL credentials and
// signatures are never written down.
export function sourceLabel(source: WatchSource): string {
  return source.label;
}

export interface ProbeContext {
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
}

// Fingerprints one source. `previous` lets a local file whose size and mtime
// are unchanged keep its recorded hash without being read again.
export async function probe(source: WatchSource, ctx: ProbeContext, previous?: Fingerprint): Promise<Probe> {
  try {
    switch (source.kind) {
      case 'path': {
        const fingerprint = await probePath(source, ctx, previous);
        // A typo in a watched path would otherwise go unnoticed for ever.
        if (fingerprint.kind === 'path' && fingerprint.files.length === 0) {
          return { ok: true, fingerprint, warning: `--watch '${source.label}' matches no file (yet); dcache watches for one to appear` };
        }
        return { ok: true, fingerprint };
      }
      case 'url':
        return await probeUrl(source, ctx);
      case 'cmd':
        return await probeCommand(source, ctx);
      default:
        return unreachable(source);
    }
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message : String(err) };
  }
}

// The fingerprint to record for a probe: an unverifiable source is recorded
// as such, and counts as changed at the next check.
export function recordable(source: WatchSource, result: Probe): Fingerprint {
  return result.ok ? result.fingerprint : { kind: 'unknown', source: source.label, id: source.id, of: source.kind };
}

// The recorded fingerprint of a source, if the entry has one.
export function findRecorded(recorded: readonly Fingerprint[], source: WatchSource): Fingerprint | undefined {
  return recorded.find((f) => f.id === source.id && (f.kind === source.kind || (f.kind === 'unknown' && f.of === source.kind)));
}

// Whether two fingerprints say the source is unchanged. For files the
// content decides: size and mtime only spare the reading.
export function sameFingerprint(a: Fingerprint, b: Fingerprint): boolean {
  if (a.kind === 'unknown' || b.kind === 'unknown') return false;
  switch (a.kind) {
    case 'path':
      return (
        b.kind === 'path' &&
        a.files.length === b.files.length &&
        a.files.every((f, i) => f.path === b.files[i]!.path && f.size === b.files[i]!.size && f.hash === b.files[i]!.hash)
      );
    case 'url':
      return (
        b.kind === 'url' &&
        a.etag === b.etag &&
        a.lastModified === b.lastModified &&
        a.contentLength === b.contentLength &&
        a.bodyHash === b.bodyHash
      );
    case 'cmd':
      return b.kind === 'cmd' && a.exitCode === b.exitCode && a.stdoutHash === b.stdoutHash;
    default:
      return unreachable(a);
  }
}

// A short human description of a fingerprint, for --explain.
export function describeFingerprint(f: Fingerprint): string {
  switch (f.kind) {
    case 'path':
      return f.files.length === 0
        ? 'no file'
        : f.files.length === 1
          ? `${f.files[0]!.size} bytes, hash ${f.files[0]!.hash}`
          : `${f.files.length} files, ${f.files.reduce((n, x) => n + x.size, 0)} bytes`;
    case 'url':
      return f.bodyHash !== null
        ? `body hash ${f.bodyHash}`
        : [
            f.etag !== null ? `ETag ${f.etag}` : null,
            f.lastModified !== null ? `Last-Modified ${f.lastModified}` : null,
            f.contentLength !== null ? `Content-Length ${f.contentLength}` : null,
          ]
            .filter(Boolean)
            .join(', ');
    case 'cmd':
      return `exit ${f.exitCode}, stdout hash ${f.stdoutHash}`;
    case 'unknown':
      return 'could not be checked';
    default:
      return unreachable(f);
  }
}

// Symlinks are followed: what matters is the content they lead to. A
// broken one is fingerprinted by where it points.
async function probePath(watched: WatchSource, ctx: ProbeContext, previous?: Fingerprint): Promise<Fingerprint> {
  const source = watched.source;
  const known = new Map(previous?.kind === 'path' ? previous.files.map((f) => [f.path, f]) : []);
  const paths = await expandPath(source, ctx.cwd);
  const files = paths.map((path): FileFingerprint => {
    const abs = isAbsolute(path) ? path : join(ctx.cwd, path);
    let st;
    try {
      st = statSync(abs);
    } catch {
      return { path, size: -1, mtimeMs: 0, hash: hashBytes(`broken symlink to ${readlinkSync(abs)}`) };
    }
    const before = known.get(path);
    if (before && before.size === st.size && before.mtimeMs === st.mtimeMs) return before;
    return { path, size: st.size, mtimeMs: st.mtimeMs, hash: hashFile(abs) };
  });
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

function hashFile(path: string): string {
  const hash = createStreamHash();
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest();
}

async function probeUrl(watched: WatchSource, ctx: ProbeContext): Promise<Probe> {
  const url = new URL(watched.source);
  const headers: Record<string, string> = {};
  // fetch refuses URLs with credentials: send them as basic auth instead.
  if (url.username || url.password) {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  const label = watched.label;
  const request = (method: 'HEAD' | 'GET') =>
    fetch(url, { method, headers, redirect: 'follow', signal: AbortSignal.timeout(ctx.timeoutMs) });
  let head: Response;
  try {
    head = await request('HEAD');
  } catch (err) {
    return { ok: false, detail: describeFetchError(label, err, ctx.timeoutMs) };
  }
  // Some servers refuse HEAD (S3's presigned GET URLs answer 403): ask with
  // GET instead, and read the body only if its headers say nothing.
  const refused = head.status === 403 || head.status === 405 || head.status === 501;
  if (!head.ok && !refused) return { ok: false, detail: `${label} answered HEAD with ${head.status} ${head.statusText}`.trim() };
  if (head.ok) {
    const validators = validatorsOf(head, watched);
    if (validators) return { ok: true, fingerprint: validators };
  }
  let response: Response;
  try {
    response = await request('GET');
    if (!response.ok) return { ok: false, detail: `${label} answered GET with ${response.status}` };
    if (refused) {
      const validators = validatorsOf(response, watched);
      if (validators) {
        await response.body?.cancel();
        return { ok: true, fingerprint: validators };
      }
    }
    const hash = createStreamHash();
    for await (const chunk of response.body ?? []) hash.update(chunk as Uint8Array);
    return {
      ok: true,
      fingerprint: {
        kind: 'url',
        source: label,
        id: watched.id,
        etag: null,
        lastModified: null,
        contentLength: null,
        bodyHash: hash.digest(),
      },
      warning: `${label} sends no ETag, Last-Modified or Content-Length: its whole body is downloaded and hashed at every check`,
    };
  } catch (err) {
    return { ok: false, detail: describeFetchError(label, err, ctx.timeoutMs) };
  }
}

function validatorsOf(response: Response, watched: WatchSource): Fingerprint | null {
  const etag = response.headers.get('etag');
  const lastModified = response.headers.get('last-modified');
  const contentLength = response.headers.get('content-length');
  if (etag === null && lastModified === null && contentLength === null) return null;
  return { kind: 'url', source: watched.label, id: watched.id, etag, lastModified, contentLength, bodyHash: null };
}

function describeFetchError(label: string, err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `${label} did not answer within ${timeoutMs / 1000} s`;
  return `${label}: ${e.cause?.code ?? e.cause?.message ?? e.message}`;
}

// Runs a probe through /bin/sh -c with stdin from /dev/null; its stdout is
// hashed as it streams, and the first line of its stderr is kept to say why
// it failed. A probe reports the state of the source on stdout and exits 0
// (`test -f ready && echo ready`): one that exits otherwise could not check
// (no credentials, a typo), and the source counts as changed. It runs in
// its own process group, so a timeout kills whatever it started too.
async function probeCommand(watched: WatchSource, ctx: ProbeContext): Promise<Probe> {
  const command = watched.source;
  // loaded here: a hit without --watch-cmd should not pay for child_process
  const { spawn } = await import('node:child_process');
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: Probe) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: ctx.cwd,
      env: ctx.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const hash = createStreamHash();
    let stderr = '';
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      child.stdout.destroy();
      child.stderr.destroy();
      settle({ ok: false, detail: `--watch-cmd '${command}' did not finish within ${ctx.timeoutMs / 1000} s` });
    }, ctx.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => hash.update(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < MAX_PROBE_STDERR) stderr += chunk.toString('utf8');
    });
    child.on('error', (err) => settle({ ok: false, detail: `--watch-cmd '${command}': ${err.message}` }));
    child.on('close', (code, signal) => {
      if (code === null) return settle({ ok: false, detail: `--watch-cmd '${command}' was killed by ${signal}` });
      if (code !== 0) {
        const first = stderr.split('\n').find((line) => line.trim() !== '')?.trim();
        const why = first === undefined ? '' : `: ${first.slice(0, MAX_PROBE_STDERR)}`;
        return settle({ ok: false, detail: `--watch-cmd '${command}' exited with ${code}${why}` });
      }
      settle({ ok: true, fingerprint: { kind: 'cmd', source: command, id: watched.id, exitCode: code, stdoutHash: hash.digest() } });
    });
  });
}

// how much of a failing probe's stderr is kept, and shown
const MAX_PROBE_STDERR = 200;
