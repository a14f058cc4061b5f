import { spawnSync } from 'node:child_process';

// The fleet's network: one namespace per host, each joined to the root
// namespace by a veth pair whose root end is a port of one bridge. The
// bridge holds the only address the servers listen on (SERVER_ADDRESS);
// a host's namespace has its veth end, its loopback and a route to the
// bridge's /24, and no default route, so nothing a host sends can leave
// the machine (and the root namespace does not forward: ip_forward is
// left as it is, and a bridge port is not a route).
//
// Every name starts with PREFIX, so that a run can find and remove what a
// crashed run left behind without touching anything else.

export const PREFIX = 'dcfleet-';
const BRIDGE = `${PREFIX}br`;
const SUBNET = '10.213.0';
export const SERVER_ADDRESS = `${SUBNET}.1`;
// each `ip`/`tc` call is bounded: a wedged netlink call must not hang the run
const IP_TIMEOUT_MS = 10_000;

export function namespaceOf(index) {
  return `${PREFIX}${index}`;
}

function hostAddress(index) {
  return `${SUBNET}.${10 + index}`;
}

function rootEnd(index) {
  return `${PREFIX}v${index}`;
}

// Runs ip or tc; throws with its stderr when it fails, unless `allowFail`.
function run(file, args, { allowFail = false } = {}) {
  const result = spawnSync(file, args, { encoding: 'utf8', timeout: IP_TIMEOUT_MS });
  const ok = result.status === 0 && !result.error;
  if (!ok && !allowFail) {
    const why = result.error?.message ?? (result.stderr.trim() || `exit ${result.status}`);
    throw new Error(`${file} ${args.join(' ')}: ${why}`);
  }
  return { ok, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

// The namespaces and links named with PREFIX, made by this run or left by
// one that crashed.
function ours() {
  const namespaces = run('ip', ['netns', 'list'], { allowFail: true })
    .stdout.split('\n')
    .map((line) => line.split(' ')[0])
    .filter((name) => name?.startsWith(PREFIX));
  const links = run('ip', ['-o', 'link', 'show'], { allowFail: true })
    .stdout.split('\n')
    .map((line) => /^\d+: ([^:@]+)/.exec(line)?.[1])
    .filter((name) => name?.startsWith(PREFIX));
  return { namespaces, links };
}

// Removes every namespace and link named with PREFIX: the processes still
// in a namespace are killed first (a namespace is gone only once nothing
// runs in it). Synchronous, so that a signal handler can call it.
export function removeNetwork() {
  const { namespaces, links } = ours();
  for (const ns of namespaces) {
    const pids = run('ip', ['netns', 'pids', ns], { allowFail: true }).stdout.split('\n').filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    run('ip', ['netns', 'del', ns], { allowFail: true });
  }
  // deleting a namespace deletes the veth pairs in it; the bridge is left
  for (const link of links) run('ip', ['link', 'del', link], { allowFail: true });
  return { namespaces: namespaces.length, links: links.length };
}

// Refuses to start where the subnet is already in use: its addresses must
// reach this run's bridge and nothing else.
function assertSubnetFree() {
  const addresses = run('ip', ['-o', 'addr', 'show']).stdout;
  if (addresses.includes(` ${SUBNET}.`)) throw new Error(`the subnet ${SUBNET}.0/24 is already in use on this machine; bench:fleet needs it for its hosts`);
}

// Makes the bridge and `count` hosts. `delayMs` is the one-way delay of
// each link: tc netem on both ends of every veth (each direction delayed
// once) where the kernel has netem; otherwise the links are left undelayed
// and the caller puts a delaying proxy in front of the servers. Returns
// how the delay is applied: 'netem' or 'proxy'.
export function createNetwork(count, delayMs) {
  assertSubnetFree();
  run('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  run('ip', ['addr', 'add', `${SERVER_ADDRESS}/24`, 'dev', BRIDGE]);
  run('ip', ['link', 'set', BRIDGE, 'up']);
  let delay = null;
  for (let i = 0; i < count; i++) {
    const ns = namespaceOf(i);
    run('ip', ['netns', 'add', ns]);
    run('ip', ['link', 'add', rootEnd(i), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    run('ip', ['link', 'set', rootEnd(i), 'master', BRIDGE]);
    run('ip', ['link', 'set', rootEnd(i), 'up']);
    run('ip', ['-n', ns, 'addr', 'add', `${hostAddress(i)}/24`, 'dev', 'eth0']);
    run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    // netem or nothing: decided on the first link, the same for every link
    delay ??= run('tc', ['qdisc', 'add', 'dev', rootEnd(i), 'root', 'netem', 'delay', `${delayMs}ms`], { allowFail: true }).ok ? 'netem' : 'proxy';
    if (delay === 'netem') {
      if (i > 0) run('tc', ['qdisc', 'add', 'dev', rootEnd(i), 'root', 'netem', 'delay', `${delayMs}ms`]);
      run('tc', ['-n', ns, 'qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'delay', `${delayMs}ms`]);
    }
  }
  return delay;
}
