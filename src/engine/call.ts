import type { Result } from '../errors.js';
import { fail, ok } from '../errors.js';
import type { CacheKey } from '../hash.js';
import { LOCAL_ZONE, parseInstant, parseZone, type Zone } from '../policy/clock.js';
import { parseDuration } from '../policy/duration.js';
import type { Policy } from '../policy/policy.js';
import { parsePolicies } from '../policy/policy.js';
import type { KeyMaterial } from '../schema/key.js';
import { parseSize } from '../size.js';
import { parseWatch, type WatchPlan } from '../sources/registry.js';
import { resolveCacheDir } from '../store/local/cache-dir.js';
import { DEFAULT_MAX_SIZE } from '../store/local/gc.js';
import { LocalStore } from '../store/local/local-store.js';
import { DEFAULT_REMOTE_TIMEOUT_MS, parseRemote } from '../store/remote/registry.js';
import { DEFAULT_MAX_ENTRY_BYTES, DEFAULT_STALL_MS, type RemoteSpec } from '../store/remote/remote-store.js';
import { loadSigningKeys, type SigningKeys } from '../store/remote/signing.js';
import type { Host } from './host.js';
import type { Rules } from './decide.js';
import type { EntryStore } from './tiers.js';
import { leaseTimingFromEnv, type LeaseTiming } from './lease.js';

// One call of the engine, every option checked: what selects its entry
// (the key), what makes it stale (policies, watched sources), where it is
// stored, and how it behaves. Whoever produces the values (a command, a
// function) supplies the key material.
export interface Call {
  key: CacheKey;
  material: KeyMaterial;
  policies: Policy[];
  zone: Zone;
  // the zone to record with an entry: --tz (or the config's), else TZ, else
  // null for the system's
  zoneName: string | null;
  watch: WatchPlan;
  // where watched paths are relative to, and output files restored
  cwd: string;
  // the environment of probes and commands: dcache's own secrets removed
  commandEnv: NodeJS.ProcessEnv;
  // DCACHE_NOW, or the real clock
  clock(): number;
  host: Host;
  store: EntryStore;
  // the shared cache, from --remote or DCACHE_REMOTE
  remote: RemoteSpec | null;
  // the keys that sign and verify remote entries (DCACHE_SIGNING_KEY)
  signing: SigningKeys | null;
  // single flight's timers (DCACHE_LOCK_*)
  lease: LeaseTiming;
  force: boolean;
  cacheFailures: boolean;
  staleIfError: boolean;
  // --stale-while-revalidate: how long after it went stale an entry is still
  // replayed while a refresh runs in the background; null: not at all
  staleWhileRevalidateMs: number | null;
  // This process is such a background refresh (DCACHE_REFRESH_OF): it runs
  // only if no one else is producing the entry, and records its failure.
  refreshing: boolean;
  // how long a background refresh may run before it is stopped
  // (DCACHE_REFRESH_LIMIT); null: ten times the entry's last run, at least
  // a minute (see refreshLimit)
  refreshLimitMs: number | null;
  explain: boolean;
  // the automatic clean-up's size limit
  maxSize: number;
  // settings that were ignored, to be warned about once
  warnings: string[];
  // the front end's own check of an entry (see Rules)
  vet?: Rules['vet'];
}

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

// How long a background refresh of an entry that last ran `lastRunMs` may
// run: DCACHE_REFRESH_LIMIT, else ten times its last run, at least a
// minute. Past it the refresh is stopped, and the stale entry stays.
export function refreshLimit(call: Pick<Call, 'refreshLimitMs'>, lastRunMs: number | null): number {
  return call.refreshLimitMs ?? Math.max(REFRESH_LIMIT_FLOOR_MS, 10 * (lastRunMs ?? 0));
}

const REFRESH_LIMIT_FLOOR_MS = 60_000;

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
