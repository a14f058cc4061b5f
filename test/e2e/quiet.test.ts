import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import type { Sandbox } from '../support/sandbox.js';

// -q hides dcache's routine lines, never one that says the output is stale
// or that the cache or a watched source was bypassed: a cron job runs with
// -q, and cron mails what it prints on stderr. -qq hides those too.

// An entry recorded yesterday, and a command that fails today.
function staleDay(box: Sandbox) {
  const flag = box.path('fail-now');
  const fetch = box.counter('fetch.sh', `if [ -e '${flag}' ]; then echo 'upstream down' >&2; exit 6; fi; echo 'good rows'`);
  box.dcache(['run', '--', fetch.path], { env: { DCACHE_NOW: '2026-12-06T09:00:00' } });
  box.shell(`touch '${flag}'`);
  return (...flags: string[]) => box.dcache(['run', ...flags, '--stale-if-error', '--', fetch.path], { env: { DCACHE_NOW: '2026-12-07T09:00:00' } });
}

describe('-q', () => {
  it('still says that --stale-if-error served yesterday\'s output', ({ box }) => {
    const today = staleDay(box);
    const r = today('-q');
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('good rows\n');
    expect(plain(r.stderr)).toMatch(/^upstream down\ndcache: the command failed \(exit 6\); replaying the entry recorded 24h ago \(2026-12-06 09:00:00 \+01:00\) instead \(--stale-if-error\)\n$/);
  });

  it('still says that the remote cache was down', ({ box }) => {
    const r = box.dcache(['run', '-q', '--remote', 'redis://127.0.0.1:1/', '--remote-timeout', '1s', '--', 'echo', 'hi']);
    expect(r.code).toBe(0);
    expect(plain(r.stderr)).toMatch(/^dcache: the remote cache redis:\/\/127\.0\.0\.1:1\/ failed \(.*\); going on without it\n$/);
  });

  it('still says that a watched source could not be checked (no credentials: a download on every run)', ({ box }) => {
    const env = { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_SHARED_CREDENTIALS_FILE: box.path('none'), AWS_CONFIG_FILE: box.path('none'), AWS_EC2_METADATA_DISABLED: 'true', HOME: box.root };
    const r = box.dcache(['run', '-q', '-p', 'forever', '-w', 's3://exports/acme/customers.csv', '--', 'echo', 'fetched'], { env });
    expect(r.stdout.toString()).toBe('fetched\n');
    expect(plain(r.stderr)).toMatch(/^dcache: cannot check a watched source, so it counts as changed: .*\n$/);
  });

  it('hides the routine lines of a miss and a hit', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo rows');
    expect(box.dcache(['run', '-q', '--', fetch.path]).stderr).toBe('');
    expect(box.dcache(['run', '-q', '--', fetch.path]).stderr).toBe('');
  });
});

describe('-qq', () => {
  it('hides even that stale output was served', ({ box }) => {
    const today = staleDay(box);
    for (const flags of [['-qq'], ['-q', '-q'], ['--quiet', '--quiet']]) {
      const r = today(...flags);
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe('good rows\n');
      expect(plain(r.stderr)).toBe('upstream down\n');
    }
  });

  it('still shows dcache\'s errors', ({ box }) => {
    const r = box.dcache(['run', '-qq', '-p', 'sometimes', '--', 'true']);
    expect(r.code).toBe(125);
    expect(plain(r.stderr)).toMatch(/^dcache: --policy 'sometimes' is not a policy/);
  });
});
