import { isAbsolute, join, resolve } from 'node:path';
import type { Result } from '../../core/errors.js';
import { fail, ok } from '../../core/errors.js';

// --dir, then DCACHE_DIR, then $XDG_CACHE_HOME/dcache (an absolute
// XDG_CACHE_HOME only, as the XDG spec says), then ~/.cache/dcache.
export function resolveCacheDir(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  home: string,
  cwd: string,
): Result<string, string> {
  if (flag !== undefined) {
    if (flag.trim() === '') return fail(`--dir '${flag}' is empty; give a directory path, e.g. --dir ~/.cache/dcache`);
    return ok(resolve(cwd, flag));
  }
  if (env.DCACHE_DIR) return ok(resolve(cwd, env.DCACHE_DIR));
  if (env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME)) return ok(join(env.XDG_CACHE_HOME, 'dcache'));
  return ok(join(home, '.cache', 'dcache'));
}
