import { fail, ok } from '../core/errors.js';
import { createStreamHash, displayHash, isSha256 } from '../core/hash.js';
import type { Fingerprint } from '../schema/fingerprint.js';
import type { Probe, ProbeContext, SourceKind, WatchSource } from './source.js';

// A probe (--watch-cmd): a cheap command that prints the state of a source
// (git ls-remote, a SQL query, a cloud CLI); its stdout is the fingerprint.

export interface CommandFingerprint extends Fingerprint {
  kind: 'cmd';
  // always 0: a probe that exits otherwise could not check
  exitCode: number;
  stdoutHash: string;
}

export const commandKind: SourceKind = {
  kind: 'cmd',

  // Probes come from --watch-cmd, never from --watch.
  parse: () => null,

  probe: (source, ctx) => probeCommand(source, ctx),

  same(recorded, current) {
    const a = asCommand(recorded);
    const b = asCommand(current);
    return a !== undefined && b !== undefined && a.exitCode === b.exitCode && a.stdoutHash === b.stdoutHash;
  },

  describe(f) {
    const c = asCommand(f);
    return c === undefined ? 'unreadable' : `exit ${c.exitCode}, stdout hash ${displayHash(c.stdoutHash)}`;
  },
};

// The source for a --watch-cmd value.
export function commandSource(command: string) {
  if (command.trim() === '') return fail(`--watch-cmd '${command}' is empty; give a command for /bin/sh -c`);
  return ok<WatchSource>({ kind: 'cmd', source: command, label: command, id: `cmd:${command}` });
}

function asCommand(f: Fingerprint): CommandFingerprint | undefined {
  return f.kind === 'cmd' && Number.isInteger(f.exitCode) && isSha256(f.stdoutHash) ? (f as CommandFingerprint) : undefined;
}

// Runs a probe through /bin/sh -c with stdin from /dev/null; its stdout is
// hashed as it streams, and the first line of its stderr is kept to say why
// it failed. A probe reports the state of the source on stdout and exits 0
// (`test -f ready && echo ready`): one that exits otherwise could not check
// (no credentials, a typo), and the source counts as changed. It runs in
// its own process group, so a timeout kills whatever it started too.
async function probeCommand(watched: WatchSource, ctx: ProbeContext): Promise<Probe> {
  const command = watched.source;
  // loaded here: a hit without --watch-cmd should not pay for child_process
  const { spawn } = await import('node:child_process');
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: Probe) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: ctx.cwd,
      env: ctx.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const hash = createStreamHash();
    let stderr = '';
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      child.stdout.destroy();
      child.stderr.destroy();
      settle({ ok: false, detail: `--watch-cmd '${command}' did not finish within ${ctx.timeoutMs / 1000} s` });
    }, ctx.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => hash.update(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < MAX_PROBE_STDERR) stderr += chunk.toString('utf8');
    });
    child.on('error', (err) => settle({ ok: false, detail: `--watch-cmd '${command}': ${err.message}` }));
    child.on('close', (code, signal) => {
      if (code === null) return settle({ ok: false, detail: `--watch-cmd '${command}' was killed by ${signal}` });
      if (code !== 0) {
        const first = stderr.split('\n').find((line) => line.trim() !== '')?.trim();
        const why = first === undefined ? '' : `: ${first.slice(0, MAX_PROBE_STDERR)}`;
        return settle({ ok: false, detail: `--watch-cmd '${command}' exited with ${code}${why}` });
      }
      const fingerprint: CommandFingerprint = { kind: 'cmd', source: command, id: watched.id, exitCode: code, stdoutHash: hash.digest() };
      settle({ ok: true, fingerprint });
    });
  });
}

// how much of a failing probe's stderr is kept, and shown
const MAX_PROBE_STDERR = 200;
