import type { Writable } from 'node:stream';
import { resolveCacheDir } from '../cache-dir.js';
import { Capture } from '../capture.js';
import { formatInstant } from '../clock.js';
import { formatAge } from '../duration.js';
import { EXIT_DCACHE_FAILED, ExitError } from '../errors.js';
import type { CacheKey, Hasher } from '../hash.js';
import { loadHasher } from '../hash.js';
import { buildKeyMaterial, deriveKey, sameKeyMaterial, type KeyMaterial } from '../key.js';
import type { Manifest } from '../manifest.js';
import { MANIFEST_FORMAT } from '../manifest.js';
import type { Output } from '../output.js';
import type { Policy } from '../policy.js';
import { judgePolicies, parsePolicies } from '../policy.js';
import { runCommand } from '../record.js';
import { replayStreams } from '../replay.js';
import { describeError, LocalStore } from '../store/local-store.js';

// A process whose reader went away dies of SIGPIPE in a shell; 128 + 13.
const EXIT_BROKEN_PIPE = 141;

export interface RunOptions {
  policy: string[];
  force: boolean;
  cacheFailures: boolean;
  dir: string | undefined;
}

export interface RunContext {
  command: string[];
  options: RunOptions;
  cwd: string;
  home: string;
  env: NodeJS.ProcessEnv;
  now: number;
  stdout: Writable;
  stderr: Writable;
  output: Output;
}

// dcache run: replay a fresh entry, or run the command and record it.
// Returns the exit code; throws ExitError for misuse.
export async function run(ctx: RunContext): Promise<number> {
  const { options, output } = ctx;
  const policies = parsePolicies(options.policy);
  if (!policies.ok) throw new ExitError(policies.error, EXIT_DCACHE_FAILED);
  const dir = resolveCacheDir(options.dir, ctx.env, ctx.home, ctx.cwd);
  if (!dir.ok) throw new ExitError(dir.error, EXIT_DCACHE_FAILED);

  const hasher = await loadHasher();
  const material = buildKeyMaterial({ argv: ctx.command, cwd: ctx.cwd });
  const key = deriveKey(hasher, material);
  const store = new LocalStore(dir.value);

  let missReason = '--force';
  if (!options.force) {
    const lookup = await tryReplay(ctx, store, hasher, key, material, policies.value);
    if (lookup.replayed) return lookup.exitCode;
    missReason = lookup.reason;
  }
  output.info(`miss (${missReason}); running ${describeCommand(ctx.command)}`);
  return record(ctx, store, hasher, key, material, policies.value);
}

type Lookup = { replayed: true; exitCode: number } | { replayed: false; reason: string };

async function tryReplay(
  ctx: RunContext,
  store: LocalStore,
  hasher: Hasher,
  key: CacheKey,
  material: KeyMaterial,
  policies: Policy[],
): Promise<Lookup> {
  const { output } = ctx;
  const read = store.readEntry(key);
  switch (read.status) {
    case 'absent':
      return { replayed: false, reason: 'no entry' };
    case 'unreadable':
      output.warnOnce('cache', `cannot read the cache entry (${read.detail}); running the command`);
      return { replayed: false, reason: 'entry unreadable' };
    case 'bad':
      output.warn(`dropped a bad cache entry (${read.detail}); running the command`);
      store.dropEntry(null, key, null);
      return { replayed: false, reason: 'bad entry' };
    case 'found':
      break;
  }
  const manifest = read.manifest;
  if (!sameKeyMaterial(manifest.material, material)) {
    return { replayed: false, reason: 'the entry under this key is for another command' };
  }
  const verdict = judgePolicies(policies, manifest.recordedAt, ctx.now);
  if (!verdict.fresh) {
    const when = manifest.recordedAt > ctx.now ? 'recorded after now' : `stale since ${formatExpiry(verdict.expiresAt)}`;
    return { replayed: false, reason: `${when}, ${policyNames(policies)}` };
  }
  const missing = store.checkBlobs(manifest);
  if (missing) {
    output.warn(`dropped a bad cache entry (${missing.detail}); running the command`);
    store.dropEntry(manifest, key, missing.hash);
    return { replayed: false, reason: 'bad entry' };
  }
  output.info(
    `hit: recorded ${formatAge(ctx.now - manifest.recordedAt)} ago (${formatInstant(manifest.recordedAt)}), ` +
      `fresh ${verdict.expiresAt === null ? 'forever' : `until ${formatInstant(verdict.expiresAt)}`} (${policyNames(policies)})`,
  );
  const result = await replayStreams(store, manifest, hasher, { stdout: ctx.stdout, stderr: ctx.stderr });
  if (result.ok) return { replayed: true, exitCode: manifest.exitCode };
  switch (result.reason) {
    case 'closed':
      return { replayed: true, exitCode: EXIT_BROKEN_PIPE };
    case 'bad-before-output':
      output.warn(`dropped a bad cache entry (${result.detail}); running the command`);
      store.dropEntry(manifest, key, result.hash);
      return { replayed: false, reason: 'bad entry' };
    case 'bad-during-output':
      store.dropEntry(manifest, key, result.hash);
      throw new ExitError(
        `the cached output was found corrupt while replaying it (${result.detail}); ` +
          'the entry is dropped, and the next run will execute the command',
        EXIT_DCACHE_FAILED,
      );
  }
}

async function record(
  ctx: RunContext,
  store: LocalStore,
  hasher: Hasher,
  key: CacheKey,
  material: KeyMaterial,
  policies: Policy[],
): Promise<number> {
  const { output } = ctx;
  let capture: Capture | null = null;
  try {
    store.prepare();
    capture = new Capture(store, hasher);
  } catch (err) {
    output.warnOnce('cache', `cannot use the cache directory ${store.root} (${describeError(err)}); running without the cache`);
  }
  const started = performance.now();
  let result;
  try {
    result = await runCommand({
      argv: ctx.command,
      cwd: ctx.cwd,
      env: ctx.env,
      stdout: ctx.stdout,
      stderr: ctx.stderr,
      capture,
    });
  } catch (err) {
    await capture?.discard();
    throw err;
  }
  const durationMs = Math.round(performance.now() - started);
  const { outcome } = result;
  switch (outcome.kind) {
    case 'not-found':
    case 'not-executable':
    case 'spawn-failed':
      output.error(outcome.message);
      break;
    case 'exited':
    case 'signaled':
      break;
  }
  const worthRecording =
    outcome.kind === 'exited' && result.delivered && (outcome.exitCode === 0 || ctx.options.cacheFailures);
  if (capture === null) return outcome.exitCode;
  if (!worthRecording) {
    await capture.discard();
    return outcome.exitCode;
  }
  try {
    const streams = await capture.finish();
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      key,
      material,
      recordedAt: ctx.now,
      durationMs,
      exitCode: outcome.exitCode,
      policies: policies.map((p) => p.spec),
      ...streams,
    };
    store.publishManifest(manifest);
    output.info(`recorded ${key} (exit ${outcome.exitCode}, ${durationMs} ms)`);
  } catch (err) {
    await capture.discard();
    output.warnOnce('cache', `the run was not recorded (${describeError(err)})`);
  }
  return outcome.exitCode;
}

function formatExpiry(expiresAt: number | null): string {
  return expiresAt === null ? 'never' : formatInstant(expiresAt);
}

function policyNames(policies: Policy[]): string {
  return policies.map((p) => p.spec).join(', ');
}

function describeCommand(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ');
}
