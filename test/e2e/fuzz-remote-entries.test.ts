import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFiles } from '../support/cache-files.js';
import {
  fuzzCases,
  mutatedManifest,
  resolveMarkers,
  servedBytes,
  sha256,
  type BaseEntry,
  type FuzzCase,
  type Json,
  type Places,
} from '../support/fuzz/remote-entries.js';
import { CRASH, plain } from '../support/messages.js';
import { BIN } from '../support/sandbox.js';

// The trust boundary, proven by a generator: a real entry, recorded by a
// real dcache, mutated as a writer of the remote could (test/support/fuzz),
// served through a real remote (a shared directory, or an HTTP server of
// this test's own) to a real `dcache run` process. For every case:
//
//   1. the caller gets the command's output and exit code, from a run or
//      from a verified replay of what the manifest names, never anything else;
//   2. nothing is written outside the working directory and the cache
//      directories (the whole parent folder is compared before and after),
//      nothing in the working directory outside the declared output, and no
//      link of the entry is left that resolves outside the working directory;
//   3. no internal error, no stack trace;
//   4. the call ends within the remote timeout, plus the stall window, plus
//      the command's own time (a generous bound: a case that hangs fails).
//
// FUZZ_CASES and FUZZ_SEED (npm run fuzz -- --cases N --seed S) run it longer.

const CASES = Number(process.env.FUZZ_CASES ?? 120);
const SEED = Number(process.env.FUZZ_SEED ?? 26);
const SIGNING_KEY = 'fuzz-signing-key-0123456789abcdef';
// the bound of property 4: remote timeout 2 s, stall window 1 s, the
// command's few milliseconds, and room for a loaded machine
const CALL_LIMIT_MS = 20_000;

// What the command prints and makes: its own output, whatever the cache did.
const COMMAND = `#!/bin/sh
echo run >> "$FUZZ_COUNT"
rm -rf o && mkdir -p o/sub && printf 'alpha\\n' > o/a.txt && printf 'beta\\n' > o/sub/b.txt
printf 'out-1\\n'; printf 'err-1\\n' >&2; printf 'out-2\\n'
`;
const RUN_STDOUT = 'out-1\nout-2\n';
const RUN_STDERR = 'err-1\n';

let root: string;
let places: Places;
let wd: string;
let command: string;
let countFile: string;
let base: BaseEntry;
let server: Server;
let port: number;
// what the HTTP server serves, by case
const serving = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();

beforeAll(async () => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'dcache-fuzz-')));
  const parent = join(root, 'parent');
  places = { parent, outside: join(parent, 'outside') };
  wd = join(parent, 'wd');
  mkdirSync(join(places.outside, 'dir'), { recursive: true });
  writeFileSync(join(places.outside, 'secret.txt'), 'do not touch\n');
  mkdirSync(wd);
  mkdirSync(join(root, 'cmd'));
  command = join(root, 'cmd', 'fuzz-cmd.sh');
  countFile = join(root, 'cmd', 'count');
  writeFileSync(command, COMMAND);
  chmodSync(command, 0o755);
  // the entry, recorded for real on another machine
  const baseRemote = join(root, 'base-remote');
  const recorded = spawnSync(process.execPath, [BIN, 'run', '--remote', pathToFileURL(baseRemote).toString(), '-o', 'o', '--', command], {
    cwd: wd,
    env: cleanEnv({ DCACHE_DIR: join(root, 'base-cache'), FUZZ_COUNT: countFile }),
    encoding: 'utf8',
  });
  if (recorded.status !== 0 || recorded.stderr !== RUN_STDERR) throw new Error(`the base entry was not recorded: ${recorded.stderr}`);
  const [manifestPath] = listFiles(join(baseRemote, 'entries'));
  const manifest = JSON.parse(readFileSync(manifestPath!, 'utf8')) as Record<string, Json>;
  const blobs = new Map(listFiles(join(baseRemote, 'blobs')).map((path) => [path.split('/').at(-1)!, readFileSync(path)]));
  base = { key: manifest.key as string, manifest, blobs };
  server = createServer((req, res) => {
    const id = (req.url ?? '').split('/')[1] ?? '';
    const handler = serving.get(id);
    if (handler) handler(req, res);
    else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  if (root) rmSync(root, { recursive: true, force: true });
});

function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('DCACHE_') && !name.startsWith('XDG_') && name !== 'NO_COLOR' && name !== 'FORCE_COLOR') env[name] = value;
  }
  return { ...env, TZ: 'Europe/Paris', ...extra };
}

// Everything under the parent folder but the working directory and the
// cache directories, with what it is.
function snapshot(): Map<string, string> {
  const seen = new Map<string, string>();
  const skip = new Set([wd, join(places.parent, 'cache-b'), join(places.parent, 'remote')]);
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (skip.has(path)) continue;
      const st = lstatSync(path);
      if (st.isSymbolicLink()) seen.set(path, `link ${readlinkSync(path)}`);
      else if (st.isDirectory()) {
        seen.set(path, `dir ${st.mode}`);
        walk(path);
      } else seen.set(path, `file ${st.mode} ${sha256(readFileSync(path))}`);
    }
  };
  walk(places.parent);
  return seen;
}

// The working tree a case starts from.
function prepareTree(c: FuzzCase): Set<string> {
  rmSync(wd, { recursive: true, force: true });
  mkdirSync(wd);
  const links = new Set<string>();
  for (const item of c.tree) {
    const path = join(wd, item.path);
    const parts = item.path.split('/');
    const throughLink = parts.slice(0, -1).some((_, i) => lstatOrNull(join(wd, ...parts.slice(0, i + 1)))?.isSymbolicLink());
    if (throughLink || lstatOrNull(path) !== null) continue;
    try {
      mkdirSync(dirname(path), { recursive: true });
      if (item.kind === 'link') {
        symlinkSync(resolveMarkers(item.target, places), path);
        links.add(path);
      } else if (item.kind === 'dir') mkdirSync(path);
      else writeFileSync(path, 'already here\n');
    } catch {
      // a file where a folder would go: the tree stays as it is
    }
  }
  return links;
}

function lstatOrNull(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

// Serves a case: writes the shared directory, or tells the HTTP server what
// to answer. Returns the --remote URL.
function serve(c: FuzzCase, id: string, text: string): string {
  const hashes = [...base.blobs.keys()];
  const bytesOf = (i: number) => servedBytes(base.blobs.get(hashes[i]!)!, c.blobs[i]!, base.blobs.get(hashes[(i + 1) % hashes.length]!)!);
  if (c.remote === 'file') {
    const remote = join(places.parent, 'remote');
    const entry = join(remote, 'entries', base.key.slice(0, 2), `${base.key}.json`);
    mkdirSync(dirname(entry), { recursive: true, mode: 0o700 });
    writeFileSync(entry, text, { mode: 0o600 });
    hashes.forEach((hash, i) => {
      const bytes = bytesOf(i);
      if (bytes === null) return;
      mkdirSync(join(remote, 'blobs', hash.slice(0, 2)), { recursive: true, mode: 0o700 });
      writeFileSync(join(remote, 'blobs', hash.slice(0, 2), hash), bytes, { mode: 0o600 });
    });
    return pathToFileURL(remote).toString();
  }
  const timers = new Set<NodeJS.Timeout>();
  serving.set(id, (req, res) => {
    const path = (req.url ?? '').slice(id.length + 2);
    req.resume();
    if (req.method === 'PUT') {
      res.writeHead(201);
      res.end();
    } else if (req.method === 'GET' && path === `entries/${base.key}.json`) {
      res.writeHead(200);
      res.end(text);
    } else if (req.method === 'GET' && path.startsWith('blobs/') && hashes.includes(path.slice(6))) {
      const i = hashes.indexOf(path.slice(6));
      const bytes = bytesOf(i);
      if (bytes === null) {
        res.writeHead(404);
        res.end();
        return;
      }
      res.writeHead(200);
      res.flushHeaders();
      const how = c.blobs[i]!;
      if (how === 'stall') return;
      // drip: a byte a second; slow: the whole in four steps, steadily
      const step = how === 'drip' ? 1 : how === 'slow' ? Math.ceil(bytes.length / 4) : bytes.length;
      let at = 0;
      const send = () => {
        res.write(bytes.subarray(at, (at += step)));
        if (at >= bytes.length) res.end();
        else timers.add(setTimeout(send, how === 'drip' ? 1000 : 200));
      };
      send();
      res.on('close', () => timers.forEach(clearTimeout));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return `http://127.0.0.1:${port}/${id}`;
}

function runs(): number {
  return existsSync(countFile) ? readFileSync(countFile, 'utf8').split('\n').filter(Boolean).length : 0;
}

// dcache run on machine B, without blocking the HTTP server of this process.
function runOnB(remote: string, c: FuzzCase): Promise<{ code: number | null; stdout: Buffer; stderr: string; killed: boolean }> {
  const env = cleanEnv({
    DCACHE_DIR: join(places.parent, 'cache-b'),
    DCACHE_REMOTE_STALL_WINDOW: '1s',
    FUZZ_COUNT: countFile,
    ...(c.signing === 'none' ? {} : { DCACHE_SIGNING_KEY: SIGNING_KEY }),
  });
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'run', '--remote', remote, '-o', 'o', '--', command], { cwd: wd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, CALL_LIMIT_MS);
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err, killed });
    });
  });
}

// The bytes of a blob reference that a verified replay could write: the
// recorded blob it names, if its size is right; else none could.
function replayable(ref: Json | undefined): Buffer | null | 'none' {
  if (ref === null) return null;
  if (typeof ref !== 'object' || Array.isArray(ref) || ref === undefined) return 'none';
  const bytes = base.blobs.get(String(ref.hash));
  return bytes !== undefined && bytes.length === ref.size ? bytes : 'none';
}

// Every link in the tree (that the case did not put there) resolves inside
// it, as the kernel resolves it (GNU realpath -m); a link that grows
// without end has no place and is left out.
function linksLeavingTree(setUp: Set<string>): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = lstatSync(path);
      if (st.isSymbolicLink()) {
        if (setUp.has(path)) continue;
        const r = spawnSync('realpath', ['-m', '--', path], { encoding: 'utf8', timeout: 2000 });
        const resolved = r.stdout.replace(/\n$/, '');
        if (r.status === 0 && resolved !== wd && !resolved.startsWith(`${wd}/`)) found.push(`${path} -> ${readlinkSync(path)}`);
      } else if (st.isDirectory()) walk(path);
    }
  };
  walk(wd);
  return found;
}

let caseNumber = 0;
// how the cases ended: a harness whose cases all end one way proves little
const outcomes = { ran: 0, replayed: 0 };

async function checkCase(c: FuzzCase): Promise<boolean> {
  const id = `c${++caseNumber}`;
  rmSync(join(places.parent, 'cache-b'), { recursive: true, force: true });
  rmSync(join(places.parent, 'remote'), { recursive: true, force: true });
  const setUp = prepareTree(c);
  const text = mutatedManifest(base, c, places, SIGNING_KEY);
  const remote = serve(c, id, text);
  const before = snapshot();
  const runsBefore = runs();
  let r;
  try {
    r = await runOnB(remote, c);
  } finally {
    serving.delete(id);
  }
  // 3 and 4
  expect(r.killed, 'the call ended within its bound').toBe(false);
  expect(r.stderr).not.toMatch(CRASH);
  // 2
  expect(snapshot()).toEqual(before);
  expect(readdirSync(wd).filter((name) => name !== 'o')).toEqual([]);
  expect(linksLeavingTree(setUp)).toEqual([]);
  // 1
  const ownStderr = plain(r.stderr).replace(/^dcache: .*\n/gm, '');
  const ran = runs() > runsBefore;
  outcomes[ran ? 'ran' : 'replayed'] += 1;
  if (ran) {
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(RUN_STDOUT);
    expect(ownStderr).toBe(RUN_STDERR);
  } else {
    // a replay: of exactly what the (mutated) manifest names, verified
    const m = replayedManifest(text);
    const stdout = replayable(m.stdout);
    const stderr = replayable(m.stderr);
    expect(stdout, 'a replayed stdout the manifest names, verified').not.toBe('none');
    expect(stderr, 'a replayed stderr the manifest names, verified').not.toBe('none');
    expect(r.stdout.equals((stdout as Buffer | null) ?? Buffer.alloc(0))).toBe(true);
    expect(ownStderr).toBe(((stderr as Buffer | null) ?? Buffer.alloc(0)).toString('utf8'));
    expect(r.code).toBe(m.exitCode);
  }
  return true;
}

// Which of the base entry's blobs (by their place in its list) hold its stdout and stderr.
function streamBlobs(): Record<'stdout' | 'stderr', number> {
  const hashes = [...base.blobs.keys()];
  const at = (ref: Json | undefined) => hashes.indexOf(String((ref as { hash?: string } | null)?.hash));
  return { stdout: at(base.manifest.stdout), stderr: at(base.manifest.stderr) };
}

// The manifest a replay used: the served text, out of its envelope.
function replayedManifest(text: string): Record<string, Json> {
  const outer = JSON.parse(text) as Record<string, Json>;
  return typeof outer.signed === 'string' ? (JSON.parse(outer.signed) as Record<string, Json>) : outer;
}

describe('a remote entry, mutated as a writer of the remote could', () => {
  it(`keeps the four promises in ${CASES} generated cases (seed ${SEED})`, async () => {
    const refs: Json[] = [...base.blobs].map(([hash, bytes]) => ({ hash, size: bytes.length }));
    await fc.assert(
      fc.asyncProperty(fuzzCases(refs, base.blobs.size, streamBlobs()), (c) => checkCase(c)),
      { numRuns: CASES, seed: SEED, endOnFailure: true },
    );
    if (process.env.FUZZ_CASES !== undefined) console.info(`fuzz: ${CASES} cases, seed ${SEED}: ${outcomes.replayed} replayed, ${outcomes.ran} ran the command`);
    // both ways are taken often: the generator reaches replays, not only refusals
    expect(outcomes.replayed).toBeGreaterThan(CASES / 10);
    expect(outcomes.ran).toBeGreaterThan(CASES / 10);
  }, 60_000 + CASES * 5_000);
});
