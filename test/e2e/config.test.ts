import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeEach, describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import type { Sandbox } from '../support/sandbox.js';

// Configuration files: the user's $XDG_CONFIG_HOME/dcache/config.json and a
// project's .dcache.json (the nearest at or above the working directory).
// For each setting the first of these wins: a flag, an environment
// variable, the project file, the user file, the default.

// Every test has its own home and XDG_CONFIG_HOME, so no real user's
// configuration can leak in; commands run in proj/sub unless told.
const homeEnv = (box: Sandbox) => ({ HOME: box.path('home'), XDG_CONFIG_HOME: box.path('xdg') });
const sub = (box: Sandbox) => box.path('proj', 'sub');
beforeEach(({ box }) => {
  mkdirSync(sub(box), { recursive: true });
  mkdirSync(box.path('home'));
});

const userFile = (box: Sandbox) => box.path('xdg', 'dcache', 'config.json');
const projectFile = (box: Sandbox) => box.path('proj', '.dcache.json');

function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(value));
}

const dcache = (box: Sandbox, args: string[], extra: NodeJS.ProcessEnv = {}, cwd = sub(box)) => box.dcache(args, { env: { ...homeEnv(box), ...extra }, cwd });

// Runs `script` at 09:10 and again at 10:05 the same day: the second call
// runs the script again under `hourly`, and replays under `daily`.
function runTwiceAcrossAnHour(box: Sandbox, script: string, options: string[] = []): void {
  dcache(box, ['run', ...options, '--', script], { DCACHE_NOW: '2024-08-27T09:10:00' });
  dcache(box, ['run', ...options, '--', script], { DCACHE_NOW: '2024-08-27T10:05:00' });
}

// `dcache config --json`, parsed.
function effective(box: Sandbox, extra: NodeJS.ProcessEnv = {}, cwd = sub(box)): { version: number; settings: Record<string, { value: unknown; source: string }> } {
  const r = dcache(box, ['config', '--json'], extra, cwd);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout.toString());
}

describe('the default policy', () => {
  it('comes from the user config file', ({ box }) => {
    writeJson(userFile(box), { policy: 'hourly' });
    const fetch = box.counter('fetch.sh', 'echo fetched');
    runTwiceAcrossAnHour(box, fetch.path);
    expect(fetch.runs()).toBe(2);
  });

  it('comes from a project .dcache.json in a parent directory rather than the user file', ({ box }) => {
    writeJson(userFile(box), { policy: 'hourly' });
    writeJson(projectFile(box), { policy: 'daily' });
    const fetch = box.counter('fetch.sh', 'echo fetched');
    runTwiceAcrossAnHour(box, fetch.path);
    expect(fetch.runs()).toBe(1);
  });

  it('comes from --policy rather than either file', ({ box }) => {
    writeJson(userFile(box), { policy: 'daily' });
    writeJson(projectFile(box), { policy: ['monthly'] });
    const fetch = box.counter('fetch.sh', 'echo fetched');
    runTwiceAcrossAnHour(box, fetch.path, ['--policy', 'hourly']);
    expect(fetch.runs()).toBe(2);
  });

  it('comes from the nearest .dcache.json file, passing over a directory of that name', ({ box }) => {
    writeJson(projectFile(box), { policy: 'hourly' });
    mkdirSync(join(sub(box), '.dcache.json'), { recursive: true });
    const settings = effective(box).settings;
    expect(settings.policy).toEqual({ value: ['hourly'], source: projectFile(box) });
  });

  it('comes from the nearest .dcache.json when there are two above the working directory', ({ box }) => {
    writeJson(projectFile(box), { policy: 'hourly' });
    writeJson(join(sub(box), '.dcache.json'), { policy: 'weekly' });
    const settings = effective(box).settings;
    expect(settings.policy).toEqual({ value: ['weekly'], source: join(sub(box), '.dcache.json') });
  });

  it('comes from ~/.config/dcache/config.json when XDG_CONFIG_HOME is not set', ({ box }) => {
    const file = box.path('home', '.config', 'dcache', 'config.json');
    writeJson(file, { policy: 'weekly' });
    const settings = effective(box, { XDG_CONFIG_HOME: undefined }).settings;
    expect(settings.policy).toEqual({ value: ['weekly'], source: file });
  });
});

describe('the zone of calendar policies', () => {
  // 23:30 and 00:30 in Tokyo, across its midnight; 16:30 and 17:30 in Paris
  // (the sandbox's TZ), the same day.
  function runAcrossTokyoMidnight(box: Sandbox, script: string, options: string[] = []): void {
    dcache(box, ['run', ...options, '--', script], { DCACHE_NOW: '2024-08-27T14:30:00Z' });
    dcache(box, ['run', ...options, '--', script], { DCACHE_NOW: '2024-08-27T15:30:00Z' });
  }

  it('comes from tz in a config file rather than TZ', ({ box }) => {
    writeJson(projectFile(box), { tz: 'Asia/Tokyo' });
    const fetch = box.counter('fetch.sh', 'echo fetched');
    runAcrossTokyoMidnight(box, fetch.path);
    expect(fetch.runs()).toBe(2);
  });

  it('comes from --tz rather than tz in a config file', ({ box }) => {
    writeJson(projectFile(box), { tz: 'Asia/Tokyo' });
    const fetch = box.counter('fetch.sh', 'echo fetched');
    runAcrossTokyoMidnight(box, fetch.path, ['--tz', 'Europe/Paris']);
    expect(fetch.runs()).toBe(1);
  });
});

describe('the remote', () => {
  it('is DCACHE_REMOTE rather than remote in a config file', ({ box }) => {
    writeJson(userFile(box), { remote: 'redis://from-file:6379' });
    expect(effective(box, { DCACHE_REMOTE: 'redis://from-env:6379' }).settings.remote).toEqual({
      value: 'redis://from-env:6379',
      source: 'env DCACHE_REMOTE',
    });
  });
});

describe('the cache directory', () => {
  it('is DCACHE_DIR rather than the dir of a config file', ({ box }) => {
    writeJson(projectFile(box), { dir: 'from-config' });
    const r = dcache(box, ['run', '--', 'echo', 'hi']);
    expect(r.code).toBe(0);
    expect(existsSync(join(box.cacheDir, 'entries'))).toBe(true);
    expect(existsSync(box.path('proj', 'from-config'))).toBe(false);
  });

  it('is --dir rather than DCACHE_DIR or the dir of a config file', ({ box }) => {
    writeJson(projectFile(box), { dir: 'from-config' });
    const r = dcache(box, ['run', '--dir', box.path('from-flag'), '--', 'echo', 'hi']);
    expect(r.code).toBe(0);
    expect(existsSync(box.path('from-flag', 'entries'))).toBe(true);
    expect(existsSync(box.path('proj', 'from-config'))).toBe(false);
    expect(existsSync(box.cacheDir)).toBe(false);
  });

  it('is taken relative to the config file that names it, not to the working directory', ({ box }) => {
    writeJson(projectFile(box), { dir: '.cache/dcache' });
    const r = dcache(box, ['run', '--', 'echo', 'hi'], { DCACHE_DIR: undefined });
    expect(r.stdout.toString()).toBe('hi\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(existsSync(box.path('proj', '.cache', 'dcache', 'entries'))).toBe(true);
    expect(existsSync(join(sub(box), '.cache'))).toBe(false);
  });

  it('from a config file is the one dcache ls lists', ({ box }) => {
    writeJson(projectFile(box), { dir: '.cache/dcache' });
    dcache(box, ['run', '--', 'echo', 'hi'], { DCACHE_DIR: undefined });
    const r = dcache(box, ['ls', '--json'], { DCACHE_DIR: undefined });
    const listed = JSON.parse(r.stdout.toString()) as { entries: Array<{ argv: string[] }> };
    expect(listed.entries.map((e) => e.argv)).toEqual([['echo', 'hi']]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

describe('the size limit of the automatic clean-up', () => {
  it('comes from maxSize in a config file', ({ box }) => {
    // 5000 bytes each: two entries fit under the default 10G, not under 6K.
    const older = box.counter('older.sh', "head -c 5000 /dev/zero | tr '\\0' a");
    const newer = box.counter('newer.sh', "head -c 5000 /dev/zero | tr '\\0' b");
    dcache(box, ['run', '--', older.path]);
    // The clean-up runs at most once an hour: say the last one was earlier.
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(join(box.cacheDir, 'gc-stamp'), twoHoursAgo, twoHoursAgo);
    writeJson(projectFile(box), { maxSize: '6K' });
    dcache(box, ['run', '--', newer.path]);
    const r = dcache(box, ['ls', '--json']);
    const listed = JSON.parse(r.stdout.toString()) as { entries: Array<{ argv: string[] }> };
    expect(listed.entries.map((e) => e.argv)).toEqual([[newer.path]]);
  });

  it('is reported by dcache config with the file it came from', ({ box }) => {
    writeJson(userFile(box), { maxSize: '5G' });
    expect(effective(box).settings.maxSize).toEqual({ value: '5G', source: userFile(box) });
  });

  it('is DCACHE_MAX_SIZE rather than maxSize in a config file', ({ box }) => {
    writeJson(projectFile(box), { maxSize: '5G' });
    expect(effective(box, { DCACHE_MAX_SIZE: '500M' }).settings.maxSize).toEqual({ value: '500M', source: 'env DCACHE_MAX_SIZE' });
  });
});

describe('defaults from the environment: DCACHE_POLICY, DCACHE_TZ, DCACHE_KEY', () => {
  it('are reported by dcache config, and win over the config files', ({ box }) => {
    writeJson(projectFile(box), { policy: 'hourly', tz: 'UTC', key: 'from-file' });
    const settings = effective(box, { DCACHE_POLICY: 'daily@06:00; cron:0 6,18 * * *', DCACHE_TZ: 'Europe/Paris', DCACHE_KEY: 'nightly' }).settings;
    expect(settings.policy).toEqual({ value: ['daily@06:00', 'cron:0 6,18 * * *'], source: 'env DCACHE_POLICY' });
    expect(settings.tz).toEqual({ value: 'Europe/Paris', source: 'env DCACHE_TZ' });
    expect(settings.key).toEqual({ value: 'nightly', source: 'env DCACHE_KEY' });
    expect(effective(box).settings.key).toEqual({ value: 'from-file', source: projectFile(box) });
  });

  it('select the policy and the key of run, and a flag wins over them', ({ box }) => {
    const script = box.counter('fetch.sh', 'echo fetched');
    runTwiceAcrossAnHour(box, script.path);
    expect(script.runs()).toBe(1);
    const hourly = { DCACHE_POLICY: 'hourly', DCACHE_KEY: 'other' };
    dcache(box, ['run', '--', script.path], { ...hourly, DCACHE_NOW: '2024-08-27T09:10:00' });
    expect(script.runs()).toBe(2);
    dcache(box, ['run', '--', script.path], { ...hourly, DCACHE_NOW: '2024-08-27T10:05:00' });
    expect(script.runs()).toBe(3);
    // --key and --policy given: the first entry, under daily
    dcache(box, ['run', '-p', 'daily', '--key', 'other', '--', script.path], { ...hourly, DCACHE_NOW: '2024-08-27T10:30:00' });
    expect(script.runs()).toBe(3);
  });

  it('warn about a bad DCACHE_POLICY, naming it, and run with the default', ({ box }) => {
    const r = dcache(box, ['run', '--', 'echo', 'hi'], { DCACHE_POLICY: 'dayly' });
    expect(r.code).toBe(0);
    expect(plain(r.stderr)).toMatch(/^dcache: DCACHE_POLICY: 'dayly' is not a policy \(did you mean daily\?\)/);
  });
});

describe('dcache config', () => {
  it('prints each setting with its value and the file, variable or default it came from', ({ box }) => {
    writeJson(userFile(box), { policy: ['daily@06:00', 'ttl:6h'], maxSize: '5G' });
    writeJson(projectFile(box), { tz: 'America/New_York' });
    const r = dcache(box, ['config'], { DCACHE_REMOTE: undefined });
    const lines = plain(r.stdout.toString()).split('\n');
    expect(lines).toHaveLength(10);
    expect(lines[0]).toMatch(new RegExp(`^policy +daily@06:00, ttl:6h +${userFile(box)}$`));
    expect(lines[1]).toMatch(new RegExp(`^tz +America/New_York +${projectFile(box)}$`));
    expect(lines[2]).toMatch(/^key +\(none\) +default$/);
    expect(lines[3]).toMatch(new RegExp(`^dir +${box.cacheDir} +env DCACHE_DIR$`));
    expect(lines[4]).toMatch(/^remote +\(none\) +default$/);
    expect(lines[5]).toMatch(new RegExp(`^maxSize +5G +${userFile(box)}$`));
    expect(lines[6]).toMatch(/^maxEntrySize +4G +default$/);
    expect(lines[7]).toMatch(/^signingKeyFile +\(none\) +default$/);
    expect(lines[8]).toMatch(/^staleWhileRevalidate +\(none\) +default$/);
    expect(lines[9]).toBe('');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('lines its columns up: every value starts in one column and every source in another', ({ box }) => {
    writeJson(projectFile(box), { staleWhileRevalidate: '1d', remote: 'https://cache.internal:8443/a/rather/long/path/for/the/shared/cache' });
    const r = dcache(box, ['config']);
    const lines = plain(r.stdout.toString()).trimEnd().split('\n');
    const settings = effective(box).settings;
    const sources = Object.values(settings).map((s) => s.source);
    expect(lines).toHaveLength(sources.length);
    // where each line's value starts (after the name and its spaces), and its source
    const valueColumns = lines.map((line) => /^\S+ +/.exec(line)![0].length);
    const sourceColumns = lines.map((line, i) => {
      expect(line.endsWith(`  ${sources[i]!}`)).toBe(true);
      return line.length - sources[i]!.length;
    });
    expect(new Set(valueColumns).size).toBe(1);
    expect(new Set(sourceColumns).size).toBe(1);
  });

  it('says daily and default for the policy when nothing sets one', ({ box }) => {
    const r = dcache(box, ['config']);
    expect(plain(r.stdout.toString())).toMatch(/^policy +daily +default$/m);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('prints version 1 and every setting with value and source with --json', ({ box }) => {
    writeJson(projectFile(box), { policy: 'hourly', remote: 'http://cache.internal:8080/dcache' });
    expect(effective(box)).toEqual({
      version: 1,
      settings: {
        policy: { value: ['hourly'], source: projectFile(box) },
        tz: { value: null, source: 'env TZ' },
        key: { value: null, source: 'default' },
        dir: { value: box.cacheDir, source: 'env DCACHE_DIR' },
        remote: { value: 'http://cache.internal:8080/dcache', source: projectFile(box) },
        maxSize: { value: '10G', source: 'default' },
        maxEntrySize: { value: '4G', source: 'default' },
        signingKeyFile: { value: null, source: 'default' },
        staleWhileRevalidate: { value: null, source: 'default' },
      },
    });
  });

  it('shows the default cache directory under XDG_CACHE_HOME when nothing sets one', ({ box }) => {
    const settings = effective(box, { DCACHE_DIR: undefined, XDG_CACHE_HOME: box.path('xdg-cache') }).settings;
    expect(settings.dir).toEqual({ value: box.path('xdg-cache', 'dcache'), source: 'default' });
  });

  it('hides the password of a remote from a config file', ({ box }) => {
    writeJson(projectFile(box), { remote: 'redis://:s3cret@cache.internal:6379/0' });
    const r = dcache(box, ['config']);
    const out = plain(r.stdout.toString());
    expect(out).toMatch(/^remote +redis:\/\/\*\*\*@cache\.internal:6379\/0 /m);
    expect(out).not.toContain('s3cret');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('hides the password of a remote from DCACHE_REMOTE in its --json output', ({ box }) => {
    const r = dcache(box, ['config', '--json'], { DCACHE_REMOTE: 'https://team:s3cret@cache.internal/dcache' });
    expect(r.stdout.toString()).not.toContain('s3cret');
    expect(JSON.parse(r.stdout.toString()).settings.remote).toEqual({
      value: 'https://***@cache.internal/dcache',
      source: 'env DCACHE_REMOTE',
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

// Each is written to the project's .dcache.json.
const INVALID = [
  ['not JSON', '{ "policy": "daily", }', /not valid JSON/],
  ['an unknown setting', '{ "polcy": "daily" }', /unknown setting "polcy"/],
  ['a wrong type', '{ "maxSize": 5 }', /"maxSize" must be a string/],
] as const;

describe.each(INVALID)('a config file with %s', (_what, text, says) => {
  beforeEach(({ box }) => {
    writeFileSync(projectFile(box), text);
  });

  // The cache is never the reason a job fails: what the file says is
  // ignored, with one warning naming it.
  it('makes dcache run warn once, naming the file, and run the command', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo fetched');
    const r = dcache(box, ['run', '--', fetch.path]);
    expect(r.stdout.toString()).toBe('fetched\n');
    const lines = plain(r.stderr).trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(projectFile(box));
    expect(lines[0]).toMatch(says);
    expect(r.code).toBe(0);
    expect(fetch.runs()).toBe(1);
  });

  it('makes dcache ls warn once, naming the file, and list the cache', ({ box }) => {
    const r = dcache(box, ['ls']);
    expect(plain(r.stderr)).toContain(projectFile(box));
    expect(plain(r.stderr)).toMatch(says);
    expect(r.code).toBe(0);
  });

  it('stops dcache config with exit 2 and a message naming the file', ({ box }) => {
    const r = dcache(box, ['config']);
    expect(r.stdout.toString()).toBe('');
    expect(plain(r.stderr)).toContain(projectFile(box));
    expect(r.code).toBe(2);
  });
});

describe('a config file whose policy is not a policy', () => {
  it('makes dcache run warn, naming the file and not a flag the user did not give, and use the default', ({ box }) => {
    writeJson(projectFile(box), { policy: 'dayly' });
    const r = dcache(box, ['run', '--', 'echo', 'hi']);
    expect(r.stdout.toString()).toBe('hi\n');
    expect(plain(r.stderr)).toContain(projectFile(box));
    expect(plain(r.stderr)).not.toContain('--policy');
    expect(r.code).toBe(0);
  });
});
