import { describe, expect, it } from 'vitest';
import { resolveCacheDir } from '../../../../src/store/local/cache-dir.js';

const home = '/home/ada';
const cwd = '/work/project';

describe('resolveCacheDir', () => {
  it('uses --dir before DCACHE_DIR and XDG_CACHE_HOME', () => {
    const env = { DCACHE_DIR: '/env/cache', XDG_CACHE_HOME: '/xdg' };
    expect(resolveCacheDir('/flag/cache', env, home, cwd)).toEqual({ ok: true, value: '/flag/cache' });
  });

  it('resolves a relative --dir against the working directory', () => {
    expect(resolveCacheDir('.cache', {}, home, cwd)).toEqual({ ok: true, value: '/work/project/.cache' });
  });

  it('uses DCACHE_DIR before XDG_CACHE_HOME', () => {
    const env = { DCACHE_DIR: '/env/cache', XDG_CACHE_HOME: '/xdg' };
    expect(resolveCacheDir(undefined, env, home, cwd)).toEqual({ ok: true, value: '/env/cache' });
  });

  it('uses dcache under an absolute XDG_CACHE_HOME', () => {
    expect(resolveCacheDir(undefined, { XDG_CACHE_HOME: '/xdg' }, home, cwd)).toEqual({ ok: true, value: '/xdg/dcache' });
  });

  it('ignores a relative XDG_CACHE_HOME, as the XDG spec requires', () => {
    expect(resolveCacheDir(undefined, { XDG_CACHE_HOME: 'xdg' }, home, cwd)).toEqual({
      ok: true,
      value: '/home/ada/.cache/dcache',
    });
  });

  it('falls back to ~/.cache/dcache when nothing is set', () => {
    expect(resolveCacheDir(undefined, {}, home, cwd)).toEqual({ ok: true, value: '/home/ada/.cache/dcache' });
  });

  it('rejects an empty --dir with a message naming the option', () => {
    const resolved = resolveCacheDir('', { DCACHE_DIR: '/env/cache' }, home, cwd);
    expect(resolved.ok).toBe(false);
    if (resolved.ok) return;
    expect(resolved.error).toContain('--dir');
  });
});
