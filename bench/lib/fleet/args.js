// The command line of `npm run bench:fleet`. Parsing is pure (it takes argv
// and returns a value), so that bench/fleet.js can refuse a bad option before
// it asks for root or touches the network.

export const SIZES = [1, 4, 16, 64];
export const REMOTES = ['redis', 's3'];
// The most hosts one run may start: each is a network namespace, a veth
// pair and a Node process on this machine.
export const MAX_HOSTS = 64;
// One-way delay on each link, in ms: a round trip of 20 ms, a nearby region.
export const DEFAULT_DELAY_MS = 10;
// The burst's command: longer than a heartbeat, well within a 10 s lease.
export const DEFAULT_COMMAND_SECONDS = 3;

export const USAGE = `usage: npm run bench:fleet -- [--hosts N] [--remote redis|s3] [--delay-ms D] [--remote-timeout T] [--command-seconds S] [--json]

  --hosts N      one fleet size, 1 to ${MAX_HOSTS} (default: ${SIZES.join(', ')} in turn)
  --remote KIND  redis or s3 (default: both)
  --delay-ms D   one-way delay on each host's link, 10 to 20 ms (default ${DEFAULT_DELAY_MS})
  --remote-timeout T  passed to every dcache run (e.g. 30s; default: dcache's own, 2 s)
  --command-seconds S  how long the burst's command runs, 1 to 120 (default 3): long
                 ones time how soon the waiters replay once it is published
  --json         one JSON row per run on stdout; BENCHMARKS.md is rewritten only
                 by a full run (every size, both remotes, the default delay and timeout)

Needs root: it makes network namespaces and veth pairs.`;

// { ok: true, options } or { ok: false, message } (one line, for stderr).
export function parseFleetArgs(argv) {
  const options = { sizes: SIZES, remotes: REMOTES, delayMs: DEFAULT_DELAY_MS, remoteTimeout: null, commandSeconds: DEFAULT_COMMAND_SECONDS, json: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => inline ?? argv[++i];
    switch (name) {
      case '--json':
        options.json = true;
        break;
      case '-h':
      case '--help':
        options.help = true;
        break;
      case '--hosts': {
        const text = value();
        const hosts = /^\d+$/.test(text ?? '') ? Number(text) : NaN;
        if (!(hosts >= 1 && hosts <= MAX_HOSTS)) return fail(`--hosts takes a whole number from 1 to ${MAX_HOSTS}, not '${text ?? ''}'`);
        options.sizes = [hosts];
        break;
      }
      case '--remote': {
        const text = value();
        if (!REMOTES.includes(text)) return fail(`--remote takes ${REMOTES.join(' or ')}, not '${text ?? ''}'`);
        options.remotes = [text];
        break;
      }
      case '--delay-ms': {
        const text = value();
        const delay = /^\d+(\.\d+)?$/.test(text ?? '') ? Number(text) : NaN;
        if (!(delay >= 10 && delay <= 20)) return fail(`--delay-ms takes a delay from 10 to 20 (ms, one way), not '${text ?? ''}'`);
        options.delayMs = delay;
        break;
      }
      case '--command-seconds': {
        const text = value();
        const seconds = /^\d+$/.test(text ?? '') ? Number(text) : NaN;
        if (!(seconds >= 1 && seconds <= 120)) return fail(`--command-seconds takes a whole number from 1 to 120, not '${text ?? ''}'`);
        options.commandSeconds = seconds;
        break;
      }
      case '--remote-timeout': {
        const text = value();
        if (!/^\d+(ms|s|m)?$/.test(text ?? '')) return fail(`--remote-timeout takes a duration like 30s, not '${text ?? ''}'`);
        options.remoteTimeout = text;
        break;
      }
      default:
        return fail(`unknown option '${arg}' (see --help)`);
    }
  }
  // BENCHMARKS.md holds whole runs only, as bench/run.js does with BENCH_ONLY
  options.full =
    options.sizes.length === SIZES.length &&
    options.remotes.length === REMOTES.length &&
    options.delayMs === DEFAULT_DELAY_MS &&
    options.remoteTimeout === null &&
    options.commandSeconds === DEFAULT_COMMAND_SECONDS;
  return { ok: true, options };
}

function fail(message) {
  return { ok: false, message: `bench:fleet: ${message}` };
}

// The one line printed, with exit code 1, when the run is not root.
export const NEEDS_ROOT = 'bench:fleet: needs root (it makes network namespaces and veth pairs with ip netns); run it as root, e.g. sudo npm run bench:fleet';
