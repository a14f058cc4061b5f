import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// Test rig for the end-to-end suite: every test gets a temp directory with
// its own cache directory, and runs the built bin/dcache.js as a real
// process with an environment scrubbed of anything that could steer it.

export const BIN = resolve(import.meta.dirname, '../../bin/dcache.js');

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export class Sandbox {
  readonly root: string;
  readonly cacheDir: string;
  readonly env: NodeJS.ProcessEnv;

  constructor() {
    this.root = mkdtempSync(join(tmpdir(), 'dcache-e2e-'));
    this.cacheDir = join(this.root, 'cache');
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (!name.startsWith('DCACHE_') && name !== 'NO_COLOR' && name !== 'FORCE_COLOR' && !name.startsWith('XDG_')) {
        env[name] = value;
      }
    }
    env.DCACHE_DIR = this.cacheDir;
    env.TZ = 'Europe/Paris';
    this.env = env;
  }

  path(...parts: string[]): string {
    return join(this.root, ...parts);
  }

  // Runs `dcache <args>` in the sandbox and waits for it.
  dcache(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string | Buffer } = {}): Result {
    return this.spawn(process.execPath, [BIN, ...args], options);
  }

  // Runs a shell line in the sandbox (for pipelines and redirections);
  // $DCACHE is the dcache command.
  shell(line: string, options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Result {
    return this.spawn('/bin/sh', ['-c', line], {
      ...options,
      env: { DCACHE: `${process.execPath} ${BIN}`, ...options.env },
    });
  }

  // An executable script that appends a line to a counter file each time it
  // really runs, then does `body`. `runs()` reads the count back.
  counter(name: string, body: string): { path: string; runs: () => number } {
    const path = this.path(name);
    const countFile = this.path(`${name}.count`);
    writeFileSync(path, `#!/bin/sh\necho run >> '${countFile}'\n${body}\n`);
    chmodSync(path, 0o755);
    return {
      path,
      runs: () => (existsSync(countFile) ? readFileSync(countFile, 'utf8').split('\n').filter(Boolean).length : 0),
    };
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  private spawn(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string | Buffer }): Result {
    const spawnOptions: SpawnSyncOptions = {
      cwd: options.cwd ?? this.root,
      env: { ...this.env, ...options.env },
      maxBuffer: 1 << 30,
      timeout: 120_000,
    };
    if (options.input !== undefined) spawnOptions.input = options.input;
    const r = spawnSync(file, args, spawnOptions);
    if (r.error) throw r.error;
    return { code: r.status, signal: r.signal, stdout: r.stdout as Buffer, stderr: (r.stderr as Buffer).toString('utf8') };
  }
}

// Removes colour codes so messages compare as plain text.
export function plain(text: string): string {
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}

// Every regular file under `dir`, recursively; none if it does not exist.
export function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}
