import type { SettingName } from '../setup/settings.js';

// Every setting of a configuration file and every DCACHE_* variable dcache
// reads, declared once for people: docs/env.md is written from these
// tables (reference.ts), and a test holds them to what src/ reads, so a new
// variable cannot go undocumented. The reading itself stays where it is
// used (settings.ts, the engine's timers, the remote's secrets).

export interface ConfigSetting {
  name: SettingName;
  default: string;
  meaning: string;
}

// In a project's .dcache.json or the user's config.json; the flag and the
// variable that override one are found from RUN_OPTIONS and VARIABLES.
export const CONFIG_SETTINGS = [
  { name: 'policy', default: '`daily`', meaning: 'the default policy or list of policies' },
  { name: 'tz', default: '`TZ`, else the system zone', meaning: 'the zone for calendar policies' },
  { name: 'key', default: 'none', meaning: 'text mixed into every key (a namespace: one per project, say)' },
  {
    name: 'dir',
    default: '`$XDG_CACHE_HOME/dcache`, else `~/.cache/dcache`',
    meaning: 'the cache directory (relative to the file that says it)',
  },
  { name: 'remote', default: 'none', meaning: 'the shared cache' },
  { name: 'maxSize', default: '`10G`', meaning: "the automatic clean-up's limit" },
  {
    name: 'maxEntrySize',
    default: '`4G`',
    meaning: 'the largest entry taken from, or given to, the shared cache (a size): a reader does not download an entry whose blobs claim more',
  },
  {
    name: 'signingKeyFile',
    default: 'none',
    meaning: 'a file holding the key(s) that sign entries on the remote (relative to the file that says it; must be `chmod 600`)',
  },
  {
    name: 'staleWhileRevalidate',
    default: 'none',
    meaning: 'the window of `--stale-while-revalidate` (a duration, e.g. `"1d"`)',
  },
] as const satisfies readonly ConfigSetting[];

// Who reads a variable, in the words of the reference.
const RUN = '`run`, `status`, `warm`, `cached()`';

export interface Variable {
  name: `DCACHE_${string}`;
  // the configuration setting it overrides; its default is the setting's
  setting?: SettingName;
  default?: string;
  meaning: string;
  readBy: string;
}

export const VARIABLES = [
  { name: 'DCACHE_DIR', setting: 'dir', meaning: 'the cache directory (relative to the working directory)', readBy: 'every subcommand, `cached()`' },
  {
    name: 'DCACHE_POLICY',
    setting: 'policy',
    meaning: "the default policy or policies, several separated by `;` (`DCACHE_POLICY='daily@06:00;ttl:6h'`)",
    readBy: RUN,
  },
  { name: 'DCACHE_TZ', setting: 'tz', meaning: 'the zone for calendar policies, an IANA name', readBy: RUN },
  { name: 'DCACHE_KEY', setting: 'key', meaning: 'text mixed into every key (a namespace)', readBy: `${RUN}, \`clear --\`` },
  {
    name: 'DCACHE_REMOTE',
    setting: 'remote',
    meaning: 'the shared cache: `s3://`, `gs://`, `az://`, `redis://`, `http(s)://` or `file:///`; never passed to the command',
    readBy: RUN,
  },
  {
    name: 'DCACHE_REMOTE_TOKEN',
    default: 'none',
    meaning: 'a bearer token for an `http(s)://` remote; never passed to the command',
    readBy: RUN,
  },
  {
    name: 'DCACHE_SIGNING_KEY',
    default: 'none',
    meaning:
      'the key (at least 16 characters) that signs every entry pushed to the remote; a machine with a key replays only entries that verify with it. `new,old` while rotating: the first signs, any verifies. Never passed to the command',
    readBy: RUN,
  },
  {
    name: 'DCACHE_SIGNING_KEY_FILE',
    setting: 'signingKeyFile',
    meaning: 'a file holding the signing key(s), readable by its owner only; never passed to the command',
    readBy: RUN,
  },
  {
    name: 'DCACHE_NOW',
    default: 'the clock',
    meaning:
      'replaces the clock everywhere: an ISO-8601 date-time; with an offset that instant, without one wall-clock time in the `--tz` zone; a date alone is midnight',
    readBy: 'every subcommand, `cached()` (its `now` option wins)',
  },
  { name: 'DCACHE_MAX_SIZE', setting: 'maxSize', meaning: "the automatic clean-up's limit (a size: `500M`, `5G`)", readBy: '`run`, `stats`, `cached()`' },
  {
    name: 'DCACHE_MAX_ENTRY_SIZE',
    setting: 'maxEntrySize',
    meaning: 'the largest entry taken from, or given to, the shared cache',
    readBy: RUN,
  },
  { name: 'DCACHE_LOCK_LEASE', default: '`10s`', meaning: 'a lock not renewed for this long is taken over', readBy: '`run`, `warm`, `cached()`' },
  {
    name: 'DCACHE_LOCK_HEARTBEAT',
    default: 'a quarter of the lease',
    meaning: 'how often a holder renews its lock (at most half the lease)',
    readBy: '`run`, `warm`, `cached()`',
  },
  {
    name: 'DCACHE_LOCK_MAX_WAIT',
    default: '`6h`',
    meaning: 'the longest a call waits before running the command itself',
    readBy: '`run`, `warm`, `cached()`',
  },
  {
    name: 'DCACHE_REMOTE_STALL_WINDOW',
    default: '`5s`',
    meaning: 'the window in which a blob downloaded from the shared cache must move 64 KiB (for links slower than 13 KB/s, and for tests)',
    readBy: RUN,
  },
  {
    name: 'DCACHE_REFRESH_LIMIT',
    default: "ten times the entry's last run, at least `1m`",
    meaning: 'how long a background refresh may run before its command is stopped (SIGTERM, then SIGKILL 10 s later), keeping the stale entry',
    readBy: '`run --stale-while-revalidate`, `warm`',
  },
  {
    name: 'DCACHE_VERBOSE',
    default: 'unset',
    meaning: '`1`: `cached()` prints the hit-or-miss lines that `-v` prints for the CLI',
    readBy: '`cached()`',
  },
  {
    name: 'DCACHE_REFRESH',
    default: 'unset',
    meaning: 'set to `1` by dcache itself in the environment of a background refresh, and never passed on to the command; not one to set',
    readBy: '`run`',
  },
] as const satisfies readonly Variable[];

// Variables of the system and of other tools that dcache obeys.
export const OTHER_VARIABLES = [
  { name: 'TZ', meaning: 'the zone of calendar policies and of the times shown, when neither `--tz` nor `DCACHE_TZ` is given; an unknown one is warned about' },
  { name: 'XDG_CACHE_HOME', meaning: 'the default cache directory is `$XDG_CACHE_HOME/dcache` (an absolute path; else `~/.cache/dcache`)' },
  { name: 'XDG_CONFIG_HOME', meaning: "the user's configuration file is `$XDG_CONFIG_HOME/dcache/config.json` (else `~/.config/dcache/config.json`)" },
  { name: 'NO_COLOR', meaning: 'set and not empty: no colour, even on a terminal' },
  { name: 'TERM', meaning: '`dumb`: no colour, and no progress line' },
  { name: 'COLUMNS', meaning: "the width of `ls`'s table where the terminal does not say" },
  {
    name: 'AWS_*, GOOGLE_APPLICATION_CREDENTIALS, STORAGE_EMULATOR_HOST, AZURE_*',
    meaning: "credentials, regions and endpoints of watched cloud objects and of a bucket remote, read as the clouds' own tools read them (see [Cloud credentials](guide.md#cloud-credentials))",
  },
] as const satisfies ReadonlyArray<{ name: string; meaning: string }>;
