import type { Result } from '../core/errors.js';
import { fail, ok } from '../core/errors.js';
import { LOCAL_ZONE, parseInstant, parseZone } from '../policy/clock.js';
import { parseDuration } from '../policy/duration.js';
import { parsePolicies } from '../policy/policy.js';
import { parseSize } from '../core/size.js';
import { parseWatch } from '../sources/registry.js';
import { resolveCacheDir } from '../store/local/cache-dir.js';
import { DEFAULT_MAX_SIZE } from '../store/local/gc.js';
import { LocalStore } from '../store/local/local-store.js';
import { DEFAULT_REMOTE_TIMEOUT_MS, parseRemote } from '../store/remote/registry.js';
import { DEFAULT_MAX_ENTRY_BYTES, DEFAULT_STALL_MS } from '../store/remote/backend.js';
import { loadSigningKeys } from '../store/remote/signing.js';
import type { Host } from '../ports/host.js';
import type { RemoteSpec } from '../ports/tiers.js';
import type { Call } from '../engine/call.js';
import { leaseTimingFromEnv } from './lease-timing.js';

// From what a front end was given (the CLI's options, cached()'s) to a
// call of the engine: every option checked, the real local store, the
// remote's spec, the timers. The CLI and the library build their calls here.

// The options of a call that do not depend on what produces its values.
export interface CallOptions {
  policy: string[];
  tz: string | undefined;
  dir: string | undefined;
  watch: string[];
  watchCmd: string[];
  watchTimeout: string | undefined;
  remote: string | undefined;
  remoteReadOnly: boolean;
  remoteTimeout: string | undefined;
  maxSize: string;
  // the largest entry the remote hands over; 4G when not given
  maxEntrySize?: string;
  signingKeyFile: string | null;
  force: boolean;
  cacheFailures: boolean;
  staleIfError: boolean;
  staleWhileRevalidate: string | undefined;
  explain: boolean;
}

// Where a call happens: what the CLI (or the library) read of its process.
export interface CallContext {
  cwd: string;
  home: string;
  env: NodeJS.ProcessEnv;
  // DCACHE_NOW, unparsed: without an offset it is read in the --tz zone
  nowText: string | undefined;
  host: Host;
}

// A call before its key material is known; its store is a real one.
export type CallBase = Omit<Call, 'key' | 'material' | 'store'> & { store: LocalStore };

// Checks every option before anything runs. Returns the first usage problem
// as a message naming the bad value.
export async function prepareCall(options: CallOptions, ctx: CallContext): Promise<Result<CallBase, string>> {
  let zone = LOCAL_ZONE;
  if (options.tz !== undefined) {
    const parsed = parseZone(options.tz);
    if (!parsed.ok) return fail(parsed.error);
    zone = parsed.value;
  }
  let clock = () => ctx.host.wallNow();
  if (ctx.nowText !== undefined && ctx.nowText !== '') {
    const parsed = parseInstant(ctx.nowText, zone);
    if (!parsed.ok) return fail(`DCACHE_NOW: ${parsed.error}`);
    const now = parsed.value;
    clock = () => now;
  }
  const policies = await parsePolicies(options.policy, zone);
  if (!policies.ok) return policies;
  const dir = resolveCacheDir(options.dir, ctx.env, ctx.home, ctx.cwd);
  if (!dir.ok) return dir;
  const watch = parseWatch(options.watch, options.watchCmd, options.watchTimeout);
  if (!watch.ok) return watch;
  const remote = parseRemoteOptions(options, ctx.env);
  if (!remote.ok) return remote;

  let staleWhileRevalidateMs: number | null = null;
  if (options.staleWhileRevalidate !== undefined) {
    const parsed = parseDuration(options.staleWhileRevalidate);
    if (!parsed.ok) return fail(`--stale-while-revalidate ${parsed.error}`);
    staleWhileRevalidateMs = parsed.value;
  }
  const lease = leaseTimingFromEnv(ctx.env);
  const warnings = [...lease.problems];
  const stallProblem = stallWindowFromEnv(ctx.env).problem;
  if (stallProblem !== null) warnings.push(stallProblem);
  let refreshLimitMs: number | null = null;
  if (ctx.env.DCACHE_REFRESH_LIMIT) {
    const parsed = parseDuration(ctx.env.DCACHE_REFRESH_LIMIT);
    if (parsed.ok) refreshLimitMs = parsed.value;
    else warnings.push(`DCACHE_REFRESH_LIMIT ${parsed.error}; using the default`);
  }
  const badTz = options.tz === undefined ? unknownEnvZone(ctx.env) : null;
  if (badTz !== null) warnings.push(`TZ '${badTz}' is not a time zone dcache knows; calendar policies use UTC`);
  // A bad signing key turns the remote off: accepting unsigned entries
  // instead would be the opposite of what the key asks for.
  let remoteSpec = remote.value;
  const signing = loadSigningKeys(ctx.env, options.signingKeyFile);
  if (!signing.ok) {
    if (remoteSpec !== null) warnings.push(`${signing.error}; not using the remote cache ${remoteSpec.label}`);
    remoteSpec = null;
  }
  // checked by the settings already; a bad one falls back to the default
  const maxSize = parseSize(options.maxSize);
  return ok({
    policies: policies.value,
    zone,
    zoneName: zone.name ?? envZoneName(ctx.env),
    watch: watch.value,
    cwd: ctx.cwd,
    commandEnv: withoutOwnSecrets(ctx.env),
    clock,
    host: ctx.host,
    store: new LocalStore(dir.value, ctx.host),
    remote: remoteSpec,
    signing: signing.ok ? signing.value : null,
    lease: lease.timing,
    force: options.force,
    cacheFailures: options.cacheFailures,
    staleIfError: options.staleIfError,
    staleWhileRevalidateMs,
    refreshing: ctx.env[REFRESH_VARIABLE] === '1',
    refreshLimitMs,
    explain: options.explain,
    maxSize: maxSize.ok ? maxSize.value : DEFAULT_MAX_SIZE,
    warnings,
  });
}

// The variables dcache reads its own secrets from: the remote's URL (it may
// hold a password), its token, and the signing key. The wrapped command and
// the probes never see them, so they cannot print them into a recording
// that is then shared.
export const OWN_SECRETS = ['DCACHE_REMOTE', 'DCACHE_REMOTE_TOKEN', 'DCACHE_SIGNING_KEY', 'DCACHE_SIGNING_KEY_FILE'] as const;

// Set (to 1) in the environment of a background refresh (see the engine);
// never passed on to the command, so a dcache it runs is an ordinary one.
export const REFRESH_VARIABLE = 'DCACHE_REFRESH';

export function withoutOwnSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const name of OWN_SECRETS) delete copy[name];
  delete copy[REFRESH_VARIABLE];
  return copy;
}

// TZ as a zone name (a POSIX rule such as EST5EDT is kept too); null when unset.
function envZoneName(env: NodeJS.ProcessEnv): string | null {
  const tz = env.TZ?.replace(/^:/, '');
  return tz === undefined || tz === '' ? null : tz;
}

const UTC_NAMES = /^(UTC0?|GMT0?|UCT|Universal|Zulu|Greenwich|Etc\/(UTC|GMT|UCT|Universal|Zulu|Greenwich)(\+0|-0)?)$/i;

// TZ when it names no zone: Node then quietly keeps UTC. A zone it knows is
// UTC all year only in those places, so ICU (15 ms) is asked only there.
function unknownEnvZone(env: NodeJS.ProcessEnv): string | null {
  const tz = envZoneName(env);
  if (tz === null || UTC_NAMES.test(tz)) return null;
  if (new Date(0).getTimezoneOffset() !== 0 || new Date(15_552_000_000).getTimezoneOffset() !== 0) return null;
  return parseZone(tz).ok ? null : tz;
}

// DCACHE_REMOTE_STALL_WINDOW, or the default, with what was wrong with it.
function stallWindowFromEnv(env: NodeJS.ProcessEnv): { ms: number; problem: string | null } {
  const text = env.DCACHE_REMOTE_STALL_WINDOW;
  if (text === undefined || text === '') return { ms: DEFAULT_STALL_MS, problem: null };
  const parsed = parseDuration(text);
  return parsed.ok ? { ms: parsed.value, problem: null } : { ms: DEFAULT_STALL_MS, problem: `DCACHE_REMOTE_STALL_WINDOW ${parsed.error}; using the default` };
}

// The remote of a call, with its timers and limits: --remote-timeout, the
// maxEntrySize setting (checked with the settings: a bad one is the
// default), and DCACHE_REMOTE_STALL_WINDOW (for tests and odd links; a bad
// one is the default too).
function parseRemoteOptions(options: CallOptions, env: NodeJS.ProcessEnv): Result<RemoteSpec | null, string> {
  const url = options.remote;
  const maxEntry = parseSize(options.maxEntrySize ?? '');
  const limits = { maxEntryBytes: maxEntry.ok ? maxEntry.value : DEFAULT_MAX_ENTRY_BYTES, stallMs: stallWindowFromEnv(env).ms };
  let timeoutMs = DEFAULT_REMOTE_TIMEOUT_MS;
  if (options.remoteTimeout !== undefined) {
    const parsed = parseDuration(options.remoteTimeout);
    if (!parsed.ok) return fail(`--remote-timeout ${parsed.error}`);
    if (parsed.value > 60 * 60 * 1000) return fail(`--remote-timeout '${options.remoteTimeout}' is longer than the longest wait dcache takes, 1h`);
    timeoutMs = parsed.value;
  }
  if (url === undefined) return ok(null);
  return parseRemote(url, options.remoteReadOnly, timeoutMs, limits);
}
