import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';

// Every measured process is spawned the same way, so that A and B pay the
// same spawn and pipe costs: stdin closed, stdout and stderr piped to this
// process, which drains them (spawnSync buffers them until exit). `stdout`
// may instead be a file descriptor (DEV_NULL) for outputs too large to buffer.
const MAX_BUFFER = 1 << 30;

export function spawnMeasured(file, args, { cwd, env, stdout = 'pipe' }) {
  const result = spawnSync(file, args, {
    cwd,
    env,
    stdio: ['ignore', stdout, 'pipe'],
    maxBuffer: MAX_BUFFER,
  });
  if (result.error) throw result.error;
  return result;
}

// Opened once, shared by every run that writes to /dev/null; the child
// gets its own copy of the descriptor.
let devNull = null;
export function devNullFd() {
  devNull ??= openSync('/dev/null', 'w');
  return devNull;
}

export function closeDevNull() {
  if (devNull !== null) closeSync(devNull);
  devNull = null;
}

// Runs `<command...> | cat > /dev/null` the way a user's shell would: a
// pipe(2) between the two, cat as the reader. bash for `pipefail`, so that
// a failure of the command is not hidden by cat's success (dash has none).
// A and B of a pipe case both go through it, so both pay for bash.
const PIPELINE_SCRIPT = 'set -o pipefail; "$@" | cat > /dev/null';

export function spawnIntoPipe(command, options) {
  return spawnMeasured('/bin/bash', ['-c', PIPELINE_SCRIPT, 'bash', ...command], options);
}

// Runs a command with its stdout streamed into a SHA-256 (never held in
// memory): for checking a large output once, untimed.
export function hashStdout(file, args, { cwd, env }) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const hash = createHash('sha256');
    let bytes = 0;
    const stderr = [];
    child.stdout.on('data', (chunk) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    child.stderr.on('data', (chunk) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (status, signal) =>
      resolve({ status, signal, bytes, sha256: hash.digest('hex'), stderr: Buffer.concat(stderr) }),
    );
  });
}

// Starts `count` copies of one command at once and resolves when all have
// exited, with each one's { status, signal, stdout, stderr }, as spawnSync
// would give them. Output is collected in memory: for small outputs only.
export function spawnTogether(count, file, args, { cwd, env }) {
  const one = () =>
    new Promise((resolve, reject) => {
      const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
      const stdout = [];
      const stderr = [];
      child.stdout.on('data', (chunk) => stdout.push(chunk));
      child.stderr.on('data', (chunk) => stderr.push(chunk));
      child.on('error', reject);
      child.on('close', (status, signal) =>
        resolve({ status, signal, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) }),
      );
    });
  return Promise.all(Array.from({ length: count }, one));
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
    // (extra CA certificates cost Node 20 some 80 ms at every start: they
    // would flatter every ratio against `node -e 0`)
    if (name === 'NODE_EXTRA_CA_CERTS') continue;
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
