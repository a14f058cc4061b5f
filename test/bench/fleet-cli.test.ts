import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The command line of bench/fleet.js, run as a real process: it refuses bad
// options and a user other than root in one line, before it touches the
// network. The benchmark itself is not part of the suite (it needs root,
// namespaces and minutes).

const FLEET = fileURLToPath(new URL('../../bench/fleet.js', import.meta.url));
// nobody: a user that is not root, for the refusal, when the suite runs as root
const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
// (a checkout under a directory nobody may enter, /root/…, cannot be run as nobody)
const nobodyCanRun =
  !asRoot || spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(FLEET)})`], { uid: NOBODY, gid: NOBODY }).status === 0;

function fleet(args: string[], asUser?: number) {
  const result = spawnSync(process.execPath, [FLEET, ...args], { encoding: 'utf8', timeout: 30_000, ...(asUser === undefined ? {} : { uid: asUser, gid: asUser }) });
  return { code: result.status, stdout: result.stdout, stderrLines: result.stderr.split('\n').filter(Boolean) };
}

describe('bench:fleet command line', () => {
  it('refuses a fleet size out of range in one line, naming the option', () => {
    const { code, stderrLines } = fleet(['--hosts', '65']);
    expect(code).toBe(2);
    expect(stderrLines).toEqual(["bench:fleet: --hosts takes a whole number from 1 to 64, not '65'"]);
  });

  it('refuses a remote it does not simulate', () => {
    const { code, stderrLines } = fleet(['--remote', 'memcached']);
    expect(code).toBe(2);
    expect(stderrLines).toEqual(["bench:fleet: --remote takes redis or s3, not 'memcached'"]);
  });

  it.skipIf(!nobodyCanRun)('prints its usage with --help, without needing root', () => {
    const { code, stdout } = fleet(['--help'], asRoot ? NOBODY : undefined);
    expect(code).toBe(0);
    expect(stdout).toContain('--hosts N');
    expect(stdout).toContain('Needs root');
  });

  it.skipIf(!nobodyCanRun)('says in one line that it needs root, and exits 1, when run by another user', () => {
    const { code, stderrLines } = fleet(['--hosts', '4', '--remote', 'redis'], asRoot ? NOBODY : undefined);
    expect(code).toBe(1);
    expect(stderrLines).toHaveLength(1);
    expect(stderrLines[0]).toMatch(/^bench:fleet: needs root /);
  });
});
