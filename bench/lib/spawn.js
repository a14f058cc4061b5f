import { spawnSync } from 'node:child_process';

// Every measured process is spawned the same way, so that A and B pay the
// same spawn and pipe costs: stdin closed, stdout and stderr piped to this
// process, which drains them (spawnSync buffers them until exit).
const MAX_BUFFER = 1 << 30;

export function spawnMeasured(file, args, { cwd, env }) {
  const result = spawnSync(file, args, {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: MAX_BUFFER,
  });
  if (result.error) throw result.error;
  return result;
}

// Runs `node <args>` with the same Node binary as the runner.
export function spawnNode(args, options) {
  return spawnMeasured(process.execPath, args, options);
}

// The environment handed to every measured process: the runner's own,
// without anything that could steer dcache (DCACHE_*, XDG_*), its colour
// decision, or Node (NODE_OPTIONS), nor npm's per-script variables (so that
// `npm run bench` and `node bench/run.js` measure the same thing).
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('DCACHE_') || name.startsWith('npm_') || name.startsWith('XDG_')) continue;
    if (name === 'NO_COLOR' || name === 'FORCE_COLOR' || name === 'NODE_OPTIONS') continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

// Throws with the process's stderr when a measured run did not exit 0.
export function expectSuccess(label, result) {
  if (result.status !== 0) {
    const why = result.signal ? `signal ${result.signal}` : `exit ${result.status}`;
    throw new Error(`${label}: ${why}\n${result.stderr.toString().trim()}`);
  }
}
