import type { Readable, Writable } from 'node:stream';
import { resolveCacheDir } from '../cache-dir.js';
import { Capture } from '../capture.js';
import { formatInstant } from '../clock.js';
import { formatAge } from '../duration.js';
import { FdSink } from '../fd-sink.js';
import { EXIT_DCACHE_FAILED, ExitError } from '../errors.js';
import type { CacheKey, Hasher } from '../hash.js';
import { loadHasher } from '../hash.js';
import { copyStdin, hashEnvSpecs, type StdinCopy } from '../key-inputs.js';
import { buildKeyMaterial, deriveKey, sameKeyMaterial, type KeyMaterial } from '../key.js';
import type { Manifest } from '../manifest.js';
import { MANIFEST_FORMAT } from '../manifest.js';
import { captureOutputs, normalizeOutputPath } from '../output-files.js';
import type { Output } from '../output.js';
import type { Policy } from '../policy.js';
import { judgePolicies, parsePolicies } from '../policy.js';
import { runCommand } from '../record.js';
import { replayEntry } from '../replay.js';
import { describeError, LocalStore } from '../store/local-store.js';

// A process whose reader went away dies of SIGPIPE in a shell; 128 + 13.
const EXIT_BROKEN_PIPE = 141;

export interface RunOptions {
  policy: string[];
  force: boolean;
  cacheFailures: boolean;
  dir: string | undefined;
  output: string[];
  env: string[];
  stdin: boolean;
  // false with --no-cwd
  cwd: boolean;
  key: string | undefined;
  shell: boolean;
}

export interface RunContext {
  command: string[];
  options: RunOptions;
  cwd: string;
  home: string;
  env: NodeJS.ProcessEnv;
  now: number;
  // getters: the process streams are created only if a run needs them
  stdin: () => Readable;
  stdout: () => Writable;
  stderr: () => Writable;
  output: Output;
}

// What a run needs once its options are checked and its key is known.
interface Plan {
  ctx: RunContext;
  store: LocalStore;
  hasher: Hasher;
  key: CacheKey;
  material: KeyMaterial;
  policies: Policy[];
  stdin: StdinCopy | null;
}

// dcache run: replay a fresh entry, or run the command and record it.
// Returns the exit code; throws ExitError for misuse.
export async function run(ctx: RunContext): Promise<number> {
  const plan = await makePlan(ctx);
  try {
    let missReason = '--force';
    if (!ctx.options.force) {
      const lookup = await tryReplay(plan);
      if (lookup.replayed) return lookup.exitCode;
      missReason = lookup.reason;
    }
    ctx.output.info(`miss (${missReason}); running ${describeCommand(ctx.command)}`);
    return await record(plan);
  } finally {
    plan.stdin?.dispose();
  }
}

// Checks every option before anything runs, then derives the key.
async function makePlan(ctx: RunContext): Promise<Plan> {
  const { options } = ctx;
  const usage = (message: string) => new ExitError(message, EXIT_DCACHE_FAILED);
  const policies = parsePolicies(options.policy);
  if (!policies.ok) throw usage(policies.error);
  const dir = resolveCacheDir(options.dir, ctx.env, ctx.home, ctx.cwd);
  if (!dir.ok) throw usage(dir.error);
  if (options.shell && ctx.command.length !== 1) {
    throw usage(`--shell takes the command as one string, e.g. --shell -- 'sort data.csv | uniq -c'; got ${ctx.command.length} arguments`);
  }
  const outputs: string[] = [];
  for (const given of options.output) {
    const path = normalizeOutputPath(ctx.cwd, given);
    if (!path.ok) throw usage(path.error);
    outputs.push(path.value);
  }
  const env = await hashEnvSpecs(options.env, ctx.env);
  if (!env.ok) throw usage(env.error);
  if (options.key !== undefined && options.key === '') throw usage("--key '' is empty; give the text to mix into the key");

  const hasher = await loadHasher();
  const stdin = options.stdin ? await copyStdin(ctx.stdin(), hasher) : null;
  const material = buildKeyMaterial({
    argv: ctx.command,
    shell: options.shell,
    cwd: options.cwd ? ctx.cwd : null,
    env: env.value,
    stdin: stdin?.hash ?? null,
    outputs: [...new Set(outputs)].sort(),
    extra: options.key ?? null,
  });
  return {
    ctx,
    store: new LocalStore(dir.value),
    hasher,
    key: deriveKey(hasher, material),
    material,
    policies: policies.value,
    stdin,
  };
}

type Lookup = { replayed: true; exitCode: number } | { replayed: false; reason: string };

async function tryReplay(plan: Plan): Promise<Lookup> {
  const { ctx, store, key, material, policies } = plan;
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
  const sinks = { stdout: new FdSink(1, ctx.stdout), stderr: new FdSink(2, ctx.stderr) };
  const result = await replayEntry(store, manifest, plan.hasher, sinks, ctx.cwd);
  if (result.ok) return { replayed: true, exitCode: manifest.exitCode };
  switch (result.reason) {
    case 'closed':
      return { replayed: true, exitCode: EXIT_BROKEN_PIPE };
    case 'bad-before-output':
      output.warn(`dropped a bad cache entry (${result.detail}); running the command`);
      store.dropEntry(manifest, key, result.hash);
      return { replayed: false, reason: 'bad entry' };
    case 'unsafe-output':
      output.warn(
        `refused a cache entry that would write '${result.path}' outside the declared outputs or the working directory; running the command`,
      );
      store.dropEntry(manifest, key, null);
      return { replayed: false, reason: 'unsafe entry' };
    case 'restore-failed':
      output.warn(`cannot restore the output files (${result.detail}); running the command`);
      return { replayed: false, reason: 'outputs not restored' };
    case 'bad-during-output':
      store.dropEntry(manifest, key, result.hash);
      throw new ExitError(
        `the cached output was found corrupt while replaying it (${result.detail}); ` +
          'the entry is dropped, and the next run will execute the command',
        EXIT_DCACHE_FAILED,
      );
  }
}

async function record(plan: Plan): Promise<number> {
  const { ctx, store, hasher } = plan;
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
      shell: ctx.options.shell,
      stdinFile: plan.stdin?.path ?? null,
      cwd: ctx.cwd,
      env: ctx.env,
      stdout: ctx.stdout(),
      stderr: ctx.stderr(),
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
    // Output files are captured only after a successful run: a failed one
    // is replayed as stdout, stderr and its exit code alone.
    const outputs =
      outcome.exitCode === 0 ? captureOutputs(store, hasher, ctx.cwd, plan.material.outputs) : { ok: true as const, value: [] };
    if (!outputs.ok) {
      await capture.discard();
      const problem = outputs.error;
      switch (problem.reason) {
        case 'missing':
          output.warn(`declared output '${problem.path}' does not exist after the run; nothing was recorded`);
          break;
        case 'outside':
          output.warn(
            `declared output '${problem.path}' lies outside the working directory through a symlink; nothing was recorded`,
          );
          break;
        case 'failed':
          output.warn(`cannot capture the output files (${problem.detail}); nothing was recorded`);
          break;
      }
      return outcome.exitCode;
    }
    const streams = await capture.finish();
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      key: plan.key,
      material: plan.material,
      recordedAt: ctx.now,
      durationMs,
      exitCode: outcome.exitCode,
      policies: plan.policies.map((p) => p.spec),
      ...streams,
      outputs: outputs.value,
    };
    store.publishManifest(manifest);
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
