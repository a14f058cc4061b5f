import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Result } from '../core/errors.js';
import { fail, ok } from '../core/errors.js';
import { createStreamHash } from '../core/hash.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const GLOB = /^[A-Za-z0-9_*?[\]!-]+$/;
// Salts the hashes of environment values so that they are not plain
// SHA-256 digests of the values; the same on every machine, so a shared
// cache still matches.
const ENV_SALT = 'dcache env value v1\0';

// The --env part of the key: one [spec, hash] pair per distinct spec. A
// plain name hashes its value (null when unset, so unset and empty differ);
// a glob hashes the sorted names and values it matches. Values never appear
// in clear.
export async function hashEnvSpecs(
  specs: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<Result<Array<[string, string | null]>, string>> {
  if (specs.length === 0) return ok([]);
  const { createHash } = await import('node:crypto');
  const digest = (text: string) => createHash('sha256').update(ENV_SALT).update(text).digest('hex');
  const pairs: Array<[string, string | null]> = [];
  // loaded only when a glob is given: a hit without one need not pay for it
  const picomatch = specs.some((spec) => !NAME.test(spec)) ? (await import('picomatch')).default : null;
  for (const spec of [...new Set(specs)]) {
    if (NAME.test(spec)) {
      const value = env[spec];
      pairs.push([spec, value === undefined ? null : digest(value)]);
    } else if (picomatch && GLOB.test(spec) && /[*?[]/.test(spec)) {
      const matches = picomatch(spec);
      const matched = Object.keys(env)
        .filter((name) => matches(name))
        .sort()
        .map((name) => [name, env[name]]);
      pairs.push([spec, digest(JSON.stringify(matched))]);
    } else {
      return fail(`--env '${spec}' is not a variable name or a glob of names (e.g. API_TOKEN or AWS_*)`);
    }
  }
  return ok(pairs);
}

export interface StdinCopy {
  path: string;
  hash: string;
  // removes the copy
  dispose(): void;
}

// Streams all of standard input into a private temp file, hashing it on the
// way: its hash goes into the key, and the file becomes the command's stdin.
export async function copyStdin(stdin: Readable): Promise<StdinCopy> {
  const dir = mkdtempSync(join(tmpdir(), 'dcache-stdin-'));
  const path = join(dir, 'stdin');
  const dispose = () => rmSync(dir, { recursive: true, force: true });
  try {
    const hash = createStreamHash();
    const out = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    for await (const chunk of stdin) {
      hash.update(chunk as Buffer);
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
    await new Promise<void>((resolve, reject) => {
      out.once('error', reject);
      out.end(() => resolve());
    });
    return { path, hash: hash.digest(), dispose };
  } catch (err) {
    dispose();
    throw err;
  }
}
