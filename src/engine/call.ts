import type { Readable } from 'node:stream';
import { resolveCacheDir } from '../store/local/cache-dir.js';
import { LOCAL_ZONE, parseInstant, parseZone, type Zone } from '../policy/clock.js';
import type { Result } from '../errors.js';
import { fail, ok } from '../errors.js';
import type { CacheKey } from '../hash.js';
import { loadHasher } from '../hash.js';
import { copyStdin, hashEnvSpecs, type StdinCopy } from './key-inputs.js';
import { buildKeyMaterial, deriveKey, type KeyMaterial } from '../schema/key.js';
import { normalizeOutputPath } from '../process/output-files.js';
import type { Policy } from '../policy/policy.js';
import { parsePolicies } from '../policy/policy.js';
import { LocalStore } from '../store/local/local-store.js';
import { parseWatch, type WatchPlan } from '../sources/watch.js';
import { parseDuration } from '../policy/duration.js';
import { leaseTimingFromEnv, type LeaseTiming } from './lease.js';
import { loadSigningKeys, type SigningKeys } from '../store/remote/signing.js';
import type { LockIdentity } from '../store/local/lock.js';
import { DEFAULT_REMOTE_TIMEOUT_MS, parseRemote, type RemoteSpec } from '../store/remote/remote-store.js';

// The options shared by `run` and `status`, as the CLI hands them over.
export interface RunOptions {
  policy: string[];
  tz: string | undefined;
  force: boolean;
  cacheFailures: boolean;
  staleIfError: boolean;
  dir: string | undefined;
  output: string[];
  env: string[];
  stdin: boolean;
  // false with --no-cwd
  cwd: boolean;
  key: string | undefined;
  shell: boolean;
  watch: string[];
  watchCmd: string[];
  watchTimeout: string | undefined;
  explain: boolean;
  remote: string | undefined;
  remoteReadOnly: boolean;
  remoteTimeout: string | undefined;
  // the automatic clean-up's size limit (DCACHE_MAX_SIZE or a config file)
  maxSize: string;
  // DCACHE_SIGNING_KEY_FILE or the config's signingKeyFile
  signingKeyFile: string | null;
}

export interface PlanInputs {
  command: string[];
  options: RunOptions;
  cwd: string;
  home: string;
  env: NodeJS.ProcessEnv;
  // DCACHE_NOW, unparsed: without an offset it is read in the --tz zone
  nowText: string | undefined;
  stdin: () => Readable;
  // this process and its host, for locks
  identity: LockIdentity;
}

// Everything a run or a status check needs once the options are checked
// and the key is known.
export interface Plan {
  command: string[];
  options: RunOptions;
  cwd: string;
  // dcache's own environment (it reads its settings and secrets from it)
  env: NodeJS.ProcessEnv;
  // the command's and the probes': the same without dcache's secrets
  commandEnv: NodeJS.ProcessEnv;
  // the clock; moved on after waiting for another process, unless it is DCACHE_NOW
  now: number;
  nowIsReal: boolean;
  zone: Zone;
  // the zone to record with an entry: --tz (or the config's), else TZ, else
  // null for the system's
  zoneName: string | null;
  store: LocalStore;
  key: CacheKey;
  material: KeyMaterial;
  policies: Policy[];
  watch: WatchPlan;
  // the shared cache, from --remote or DCACHE_REMOTE
  remote: RemoteSpec | null;
  stdin: StdinCopy | null;
  // the keys that sign and verify remote entries (DCACHE_SIGNING_KEY)
  signing: SigningKeys | null;
  // single flight's timers (DCACHE_LOCK_*), and who takes the locks
  lease: LeaseTiming;
  identity: LockIdentity;
  // settings that were ignored, to be warned about once
  warnings: string[];
}

// Checks every option before anything runs, then derives the key. Returns
// the first usage problem as a message naming the bad value.
export async function makePlan(inputs: PlanInputs): Promise<Result<Plan, string>> {
  const { options } = inputs;
  let zone = LOCAL_ZONE;
  if (options.tz !== undefined) {
    const parsed = parseZone(options.tz);
    if (!parsed.ok) return fail(parsed.error);
    zone = parsed.value;
  }
  let now = Date.now();
  if (inputs.nowText !== undefined && inputs.nowText !== '') {
    const parsed = parseInstant(inputs.nowText, zone);
    if (!parsed.ok) return fail(`DCACHE_NOW: ${parsed.error}`);
    now = parsed.value;
  }
  const policies = await parsePolicies(options.policy, zone);
  if (!policies.ok) return policies;
  const dir = resolveCacheDir(options.dir, inputs.env, inputs.home, inputs.cwd);
  if (!dir.ok) return dir;
  if (options.shell && inputs.command.length !== 1) {
    return fail(
      `--shell takes the command as one string, e.g. --shell -- 'sort data.csv | uniq -c'; got ${inputs.command.length} arguments`,
    );
  }
  const outputs: string[] = [];
  for (const given of options.output) {
    const path = normalizeOutputPath(inputs.cwd, given);
    if (!path.ok) return path;
    outputs.push(path.value);
  }
  const watch = parseWatch(options.watch, options.watchCmd, options.watchTimeout);
  if (!watch.ok) return watch;
  const remote = parseRemoteOptions(options);
  if (!remote.ok) return remote;
  const env = await hashEnvSpecs(options.env, inputs.env);
  if (!env.ok) return env;
  if (options.key !== undefined && options.key === '') return fail("--key '' is empty; give the text to mix into the key");

  const lease = leaseTimingFromEnv(inputs.env);
  const warnings = [...lease.problems];
  const badTz = options.tz === undefined ? unknownEnvZone(inputs.env) : null;
  if (badTz !== null) warnings.push(`TZ '${badTz}' is not a time zone dcache knows; calendar policies use UTC`);
  // A bad signing key turns the remote off: accepting unsigned entries
  // instead would be the opposite of what the key asks for.
  let remoteSpec = remote.value;
  const signing = loadSigningKeys(inputs.env, options.signingKeyFile);
  if (!signing.ok) {
    if (remoteSpec !== null) warnings.push(`${signing.error}; not using the remote cache ${remoteSpec.label}`);
    remoteSpec = null;
  }
  const hasher = await loadHasher();
  const stdin = options.stdin ? await copyStdin(inputs.stdin()) : null;
  const material = buildKeyMaterial({
    argv: inputs.command,
    shell: options.shell,
    cwd: options.cwd ? inputs.cwd : null,
    env: env.value,
    stdin: stdin?.hash ?? null,
    outputs: [...new Set(outputs)].sort(),
    extra: options.key ?? null,
  });
  return ok({
    command: inputs.command,
    options,
    cwd: inputs.cwd,
    env: inputs.env,
    commandEnv: withoutOwnSecrets(inputs.env),
    now,
    nowIsReal: inputs.nowText === undefined || inputs.nowText === '',
    zone,
    zoneName: zone.name ?? envZoneName(inputs.env),
    store: new LocalStore(dir.value),
    key: deriveKey(hasher, material),
    material,
    policies: policies.value,
    watch: watch.value,
    remote: remoteSpec,
    stdin,
    signing: signing.ok ? signing.value : null,
    lease: lease.timing,
    identity: inputs.identity,
    warnings,
  });
}

// The variables dcache reads its own secrets from: the remote's URL (it may
// hold a password), its token, and the signing key. The wrapped command and
// the probes never see them, so they cannot print them into a recording
// that is then shared.
export const OWN_SECRETS = ['DCACHE_REMOTE', 'DCACHE_REMOTE_TOKEN', 'DCACHE_SIGNING_KEY', 'DCACHE_SIGNING_KEY_FILE'] as const;

export function withoutOwnSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const name of OWN_SECRETS) delete copy[name];
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

function parseRemoteOptions(options: RunOptions): Result<RemoteSpec | null, string> {
  const url = options.remote;
  let timeoutMs = DEFAULT_REMOTE_TIMEOUT_MS;
  if (options.remoteTimeout !== undefined) {
    const parsed = parseDuration(options.remoteTimeout);
    if (!parsed.ok) return fail(`--remote-timeout ${parsed.error}`);
    if (parsed.value > 60 * 60 * 1000) return fail(`--remote-timeout '${options.remoteTimeout}' is longer than the longest wait dcache takes, 1h`);
    timeoutMs = parsed.value;
  }
  if (url === undefined) return ok(null);
  return parseRemote(url, options.remoteReadOnly, timeoutMs);
}
