import { parseDuration } from '../policy/duration.js';
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { resolveCacheDir } from '../store/local/cache-dir.js';
import { LOCAL_ZONE, parseZone } from '../policy/clock.js';
import { parsePolicies } from '../policy/policy.js';
import { parseSize } from '../core/size.js';
import { DEFAULT_REMOTE_TIMEOUT_MS, parseRemote } from '../store/remote/registry.js';

// The defaults people repeat, from configuration files: the user's
// ($XDG_CONFIG_HOME/dcache/config.json, else ~/.config/dcache/config.json)
// and the project's (.dcache.json in the working directory or the nearest
// directory above it). For each setting the first of these wins: a
// command-line flag, an environment variable, the project file, the user
// file, the built-in default.

export const SETTING_NAMES = ['policy', 'tz', 'key', 'dir', 'remote', 'maxSize', 'maxEntrySize', 'signingKeyFile', 'staleWhileRevalidate'] as const;
export type SettingName = (typeof SETTING_NAMES)[number];

export interface Setting<T> {
  value: T;
  // where it came from: 'default', 'env DCACHE_DIR', or a file's path
  source: string;
}

export interface Settings {
  policy: Setting<string[]>;
  tz: Setting<string | null>;
  // --key's default: a namespace for every entry (DCACHE_KEY, a config file)
  key: Setting<string | null>;
  dir: Setting<string>;
  remote: Setting<string | null>;
  maxSize: Setting<string>;
  // the largest entry taken from (or given to) the remote, as a size
  maxEntrySize: Setting<string>;
  // a file holding the key(s) that sign and verify entries on the remote
  signingKeyFile: Setting<string | null>;
  // --stale-while-revalidate's default (a duration), from a config file
  staleWhileRevalidate: Setting<string | null>;
}

type FileValues = Partial<{ policy: string[]; tz: string; key: string; dir: string; remote: string; maxSize: string; maxEntrySize: string; signingKeyFile: string; staleWhileRevalidate: string }>;

export const PROJECT_FILE = '.dcache.json';

export function userConfigPath(env: NodeJS.ProcessEnv, home: string): string {
  const base = env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(home, '.config');
  return join(base, 'dcache', 'config.json');
}

// The nearest .dcache.json file at or above `cwd`, or null: looked for with
// a stat that throws for no missing file (one exception less per level of
// the working directory, on every call), and read once, by readConfigFile,
// which names a file it cannot read.
export function findProjectConfig(cwd: string): string | null {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const candidate = join(dir, PROJECT_FILE);
    try {
      if (statSync(candidate, { throwIfNoEntry: false })?.isFile()) return candidate;
    } catch {
      // a level that cannot be looked into (EACCES): go on up
    }
    if (dirname(dir) === dir) return null;
  }
}

// The settings, with what was wrong with the files on the way: a file that
// cannot be read or is not JSON is left out, a setting of the wrong type or
// an unknown one is skipped, and each is one problem naming the file.
export function loadSettings(cwd: string, env: NodeJS.ProcessEnv, home: string): { settings: Settings; problems: string[] } {
  const problems: string[] = [];
  const files: Array<{ path: string; values: FileValues }> = [];
  for (const path of [findProjectConfig(cwd), userConfigPath(env, home)]) {
    if (path === null) continue;
    const read = readConfigFile(path, home);
    problems.push(...read.problems);
    if (read.values !== null) files.push({ path, values: read.values });
  }
  const fromFiles = <K extends keyof FileValues>(name: K): Setting<NonNullable<FileValues[K]>> | null => {
    for (const file of files) {
      const value = file.values[name];
      if (value !== undefined) return { value: value as NonNullable<FileValues[K]>, source: file.path };
    }
    return null;
  };
  const fromEnv = (name: string): Setting<string> | null => (env[name] ? { value: env[name]!, source: `env ${name}` } : null);
  return {
    settings: {
      // several policies in DCACHE_POLICY are separated by ';' (a cron spec holds commas)
      policy: (env.DCACHE_POLICY ? { value: splitPolicies(env.DCACHE_POLICY), source: 'env DCACHE_POLICY' } : null) ??
        fromFiles('policy') ?? DEFAULTS.policy,
      tz: fromEnv('DCACHE_TZ') ?? fromFiles('tz') ?? { value: null, source: env.TZ ? 'env TZ' : 'default' },
      key: fromEnv('DCACHE_KEY') ?? fromFiles('key') ?? DEFAULTS.key,
      dir: (env.DCACHE_DIR ? { value: resolve(cwd, env.DCACHE_DIR), source: 'env DCACHE_DIR' } : null) ??
        fromFiles('dir') ?? { value: defaultCacheDir(cwd, env, home), source: 'default' },
      remote: fromEnv('DCACHE_REMOTE') ?? fromFiles('remote') ?? DEFAULTS.remote,
      maxSize: fromEnv('DCACHE_MAX_SIZE') ?? fromFiles('maxSize') ?? DEFAULTS.maxSize,
      maxEntrySize: fromEnv('DCACHE_MAX_ENTRY_SIZE') ?? fromFiles('maxEntrySize') ?? DEFAULTS.maxEntrySize,
      signingKeyFile: (env.DCACHE_SIGNING_KEY_FILE
        ? { value: resolve(cwd, env.DCACHE_SIGNING_KEY_FILE), source: 'env DCACHE_SIGNING_KEY_FILE' }
        : null) ??
        fromFiles('signingKeyFile') ?? DEFAULTS.signingKeyFile,
      staleWhileRevalidate: fromFiles('staleWhileRevalidate') ?? DEFAULTS.staleWhileRevalidate,
    },
    problems,
  };
}

const DEFAULTS = {
  policy: { value: [] as string[], source: 'default' },
  key: { value: null, source: 'default' },
  remote: { value: null, source: 'default' },
  maxSize: { value: '10G', source: 'default' },
  maxEntrySize: { value: '4G', source: 'default' },
  signingKeyFile: { value: null, source: 'default' },
  staleWhileRevalidate: { value: null, source: 'default' },
} as const;

function defaultCacheDir(cwd: string, env: NodeJS.ProcessEnv, home: string): string {
  const dir = resolveCacheDir(undefined, { ...env, DCACHE_DIR: undefined }, home, cwd);
  return dir.ok ? dir.value : join(home, '.cache', 'dcache');
}

// A config file's values, checked: null if there is no such file (or it
// cannot be used at all), with the problems found.
function readConfigFile(path: string, home: string): { values: FileValues | null; problems: string[] } {
  const none = (problem: string) => ({ values: null, problems: [problem] });
  let text: string;
  try {
    if (statSync(path, { throwIfNoEntry: false }) === undefined) return { values: null, problems: [] };
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { values: null, problems: [] };
    return none(`cannot read ${path}: ${(err as Error).message}`);
  }
  // (an editor on Windows may start the file with a byte-order mark)
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  let parsed: unknown;
  try {
    if (text.length > CONFIG_MAX_LENGTH) return none(`${path} is longer than a configuration file may be (${CONFIG_MAX_LENGTH} characters)`);
    parsed = JSON.parse(text);
  } catch (err) {
    return none(`${path} is not valid JSON: ${whereJsonFails(text, err)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return none(`${path} must hold a JSON object`);
  const values: FileValues = {};
  const problems: string[] = [];
  for (const [name, value] of Object.entries(parsed)) {
    switch (name) {
      case 'policy': {
        const list = typeof value === 'string' ? [value] : value;
        if (!Array.isArray(list) || !list.every((p) => typeof p === 'string')) {
          problems.push(`${path}: "policy" must be a policy or a list of them, e.g. "daily" or ["daily", "ttl:6h"]`);
          break;
        }
        values.policy = list;
        break;
      }
      case 'tz':
      case 'key':
      case 'remote':
      case 'maxSize':
      case 'maxEntrySize':
      case 'staleWhileRevalidate':
        if (typeof value !== 'string') problems.push(`${path}: "${name}" must be a string`);
        else values[name] = value;
        break;
      case 'dir':
      case 'signingKeyFile':
        if (typeof value !== 'string' || value === '') {
          problems.push(`${path}: "${name}" must be a path`);
          break;
        }
        // relative to the file that says it
        values[name] = resolve(dirname(path), value.replace(/^~(?=$|\/)/, home));
        break;
      default:
        problems.push(`${path}: unknown setting "${name}"; the settings are ${SETTING_NAMES.join(', ')}`);
    }
  }
  return { values, problems };
}

const CONFIG_MAX_LENGTH = 1 << 20;

// Where a JSON text stops being JSON, as an editor shows it: "line 3,
// column 7: unexpected number". V8 gives the position (and its own words,
// which change between Node versions); the end of the text when it gives none.
function whereJsonFails(text: string, err: unknown): string {
  const message = err instanceof Error ? err.message : '';
  const at = /at position (\d+)/.exec(message);
  const position = at ? Number(at[1]) : text.length;
  const before = text.slice(0, position).split('\n');
  const what = message.replace(/,? "[^]*" is not valid JSON$/, '').replace(/ in JSON at position \d+.*$/, '');
  return `line ${before.length}, column ${before.at(-1)!.length + 1}: ${what === '' ? 'not JSON' : what.charAt(0).toLowerCase() + what.slice(1)}`;
}

// Checks the values that came from files or the environment, so that a bad
// one is blamed on where it was written, not on a flag nobody typed. Each bad
// value is replaced by its default, and reported.
export async function checkSettings(given: Settings): Promise<{ settings: Settings; problems: string[] }> {
  const settings = { ...given };
  const problems: string[] = [];
  const blame = (setting: Setting<unknown>, name: string, error: string) =>
    `${setting.source.startsWith('env ') ? setting.source.slice(4) : `${setting.source}: "${name}"`}: ${error.replace(/^--[\w-]+ /, '')}`;
  const { policy, tz, remote } = settings;
  let zone = LOCAL_ZONE;
  if (tz.value !== null) {
    const parsed = parseZone(tz.value);
    if (parsed.ok) {
      zone = parsed.value;
    } else {
      problems.push(blame(tz, 'tz', parsed.error));
      settings.tz = { value: null, source: 'default' };
    }
  }
  if (policy.source !== 'default') {
    const parsed = await parsePolicies(policy.value, zone);
    if (!parsed.ok) {
      problems.push(blame(policy, 'policy', parsed.error));
      settings.policy = DEFAULTS.policy;
    }
  }
  if (remote.value !== null) {
    const parsed = parseRemote(remote.value, false, DEFAULT_REMOTE_TIMEOUT_MS);
    if (!parsed.ok) {
      problems.push(blame(remote, 'remote', parsed.error));
      settings.remote = DEFAULTS.remote;
    }
  }
  const window = settings.staleWhileRevalidate;
  if (window.value !== null) {
    const parsed = parseDuration(window.value);
    if (!parsed.ok) {
      problems.push(blame(window, 'staleWhileRevalidate', parsed.error));
      settings.staleWhileRevalidate = DEFAULTS.staleWhileRevalidate;
    }
  }
  for (const name of ['maxSize', 'maxEntrySize'] as const) {
    const size = parseSize(settings[name].value);
    if (!size.ok) {
      problems.push(blame(settings[name], name, size.error));
      settings[name] = DEFAULTS[name];
    }
  }
  return { settings, problems };
}

function splitPolicies(text: string): string[] {
  return text
    .split(';')
    .map((spec) => spec.trim())
    .filter((spec) => spec !== '');
}
