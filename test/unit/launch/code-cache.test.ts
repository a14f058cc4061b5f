import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CACHE_TEMP_STALE_MS, CACHE_UNUSED_MS, codeCachePath, readBundle, readCodeCache, readSealedCodeCache, writeCodeCache } from '../../../src/launch/code-cache.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dcache-code-cache-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const text = 'module.exports = function add(a, b) { return a + b; };';
const data = () => new Script(text).createCachedData();

describe('a code cache of ours', () => {
  it('is read back as written, for the source it was made from', () => {
    const path = codeCachePath(join(dir, 'cli.cjs'));
    const bytes = data();
    writeCodeCache(path, text, bytes);
    expect(readCodeCache(path, text)?.data.equals(bytes)).toBe(true);
    expect(readdirSync(dir)).toEqual([path.slice(dir.length + 1)]);
  });

  it('is not used for another source of the same length', () => {
    const path = codeCachePath(join(dir, 'cli.cjs'));
    writeCodeCache(path, text, data());
    expect(readCodeCache(path, text.replace('add', 'sum'))).toBeUndefined();
  });

  it('is not used when a byte of it changed, or it was cut short, or it is missing', () => {
    const path = codeCachePath(join(dir, 'cli.cjs'));
    writeCodeCache(path, text, data());
    const whole = readFileSync(path);
    const flipped = Buffer.from(whole);
    flipped[whole.length - 5]! ^= 0x01;
    writeFileSync(path, flipped);
    expect(readCodeCache(path, text)).toBeUndefined();
    writeFileSync(path, whole.subarray(0, whole.length - 1));
    expect(readCodeCache(path, text)).toBeUndefined();
    rmSync(path);
    expect(readCodeCache(path, text)).toBeUndefined();
  });

  it('is named by V8 version and flags, so that two kinds of processes keep one each', () => {
    const path = codeCachePath(join(dir, 'cli.cjs'));
    expect(path).toMatch(/cli\.cjs\.[0-9a-f]{12}\.cache$/);
    const before = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = '--max-old-space-size=300';
    try {
      expect(codeCachePath(join(dir, 'cli.cjs'))).not.toBe(path);
    } finally {
      if (before === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = before;
    }
  });

  it('removes, when written, caches of the same bundle unwritten for 30 days and temp files over an hour old', () => {
    const now = Date.now();
    const aged = (name: string, ageMs: number) => {
      writeFileSync(join(dir, name), 'x');
      const when = new Date(now - ageMs);
      utimesSync(join(dir, name), when, when);
      return name;
    };
    const old = aged('cli.cjs.0123456789ab.cache', CACHE_UNUSED_MS + 60_000);
    const recent = aged('cli.cjs.ba9876543210.cache', CACHE_UNUSED_MS - 60_000);
    const deadTemp = aged('cli.cjs.0123456789ab.cache.4242.a1b2c3d4e5f6.tmp', CACHE_TEMP_STALE_MS + 60_000);
    const liveTemp = aged('cli.cjs.0123456789ab.cache.4243.a1b2c3d4e5f6.tmp', 60_000);
    const otherBundle = aged('execa.cjs.0123456789ab.cache', CACHE_UNUSED_MS + 60_000);
    const path = codeCachePath(join(dir, 'cli.cjs'));
    writeCodeCache(path, text, data(), now);
    expect(readdirSync(dir).sort()).toEqual([recent, liveTemp, otherBundle, path.slice(dir.length + 1)].sort());
    expect([old, deadTemp].some((name) => readdirSync(dir).includes(name))).toBe(false);
  });

  it('says whether the process that made it took the hot path (a hit)', () => {
    const path = codeCachePath(join(dir, 'cli.cjs'));
    writeCodeCache(path, text, data());
    expect(readCodeCache(path, text)?.hot).toBe(false);
    writeCodeCache(path, text, data(), Date.now(), undefined, true);
    expect(readCodeCache(path, text)?.hot).toBe(true);
  });

  it('is not used when its maker’s mark is neither of the two, or it is of the format before it', () => {
    const path = codeCachePath(join(dir, 'cli.cjs'));
    writeCodeCache(path, text, data(), Date.now(), undefined, true);
    const whole = readFileSync(path);
    const mark = 'dcache-code-cache-2 '.length;
    expect(String.fromCharCode(whole[mark]!)).toBe('h');
    whole[mark] = 'x'.charCodeAt(0);
    writeFileSync(path, whole);
    expect(readCodeCache(path, text)).toBeUndefined();
    writeCodeCache(path, text, data());
    const older = Buffer.concat([Buffer.from('dcache-code-cache-1'), readFileSync(path).subarray('dcache-code-cache-2 o'.length)]);
    writeFileSync(path, older);
    expect(readCodeCache(path, text)).toBeUndefined();
  });

  it('is not written where the directory is gone, and that is no error', () => {
    rmSync(dir, { recursive: true });
    const path = codeCachePath(join(dir, 'cli.cjs'));
    expect(() => writeCodeCache(path, text, data())).not.toThrow();
    expect(readCodeCache(path, text)).toBeUndefined();
  });
});

// sleeps past the file system clock's tick
const pause = (ms = 15) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

describe('a sealed code cache', () => {
  // a bundle, its cache written as a process's exit writes it, and a pause
  function sealed() {
    const file = join(dir, 'cli.cjs');
    writeFileSync(file, text);
    const path = codeCachePath(file);
    const bytes = data();
    writeCodeCache(path, text, bytes, Date.now(), file);
    pause();
    return { file, path, bytes };
  }

  it('is sealed when written, and read back as written while both files are as sealed', () => {
    const { file, path, bytes } = sealed();
    expect(existsSync(`${path}.seal`)).toBe(true);
    // (a seal written in the same tick as the cache does not count: the
    // first read verifies and seals again)
    readSealedCodeCache(path, file, readBundle(file), true);
    pause();
    const seal = statSync(`${path}.seal`).mtimeMs;
    expect(readSealedCodeCache(path, file, readBundle(file), true)?.data.equals(bytes)).toBe(true);
    expect(statSync(`${path}.seal`).mtimeMs).toBe(seal);
  });

  it('keeps the mark of its maker: a hit’s cache reads as made on the hot path', () => {
    const file = join(dir, 'cli.cjs');
    writeFileSync(file, text);
    const path = codeCachePath(file);
    writeCodeCache(path, text, data(), Date.now(), file, true);
    pause();
    readSealedCodeCache(path, file, readBundle(file), true);
    pause();
    expect(readSealedCodeCache(path, file, readBundle(file), true)?.hot).toBe(true);
  });

  it('whose cache is damaged in place is verified, and not used', () => {
    const { file, path } = sealed();
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.from([0x5a, 0x5a, 0x5a]), 0, 3, statSync(path).size - 10);
    closeSync(fd);
    expect(readSealedCodeCache(path, file, readBundle(file), true)).toBeUndefined();
  });

  it('whose bundle is edited in place at the same length, times put back, is verified, and not used', () => {
    const { file, path } = sealed();
    const st = statSync(file);
    writeFileSync(file, text.replace('add', 'sum'));
    utimesSync(file, st.atime, st.mtime);
    expect(readSealedCodeCache(path, file, readBundle(file), true)).toBeUndefined();
  });

  it('without a seal (as shipped in the package) is verified, used, and sealed where it may write', () => {
    const { file, path, bytes } = sealed();
    rmSync(`${path}.seal`);
    expect(readSealedCodeCache(path, file, readBundle(file), false)?.data.equals(bytes)).toBe(true);
    expect(existsSync(`${path}.seal`)).toBe(false);
    expect(readSealedCodeCache(path, file, readBundle(file), true)?.data.equals(bytes)).toBe(true);
    expect(existsSync(`${path}.seal`)).toBe(true);
  });

  it('whose seal is garbled is verified', () => {
    const { file, path, bytes } = sealed();
    writeFileSync(`${path}.seal`, 'dcache-code-cache-2 1 2 3\n');
    pause();
    expect(readSealedCodeCache(path, file, readBundle(file), false)?.data.equals(bytes)).toBe(true);
    writeFileSync(path, readFileSync(path).subarray(0, 200));
    expect(readSealedCodeCache(path, file, readBundle(file), false)).toBeUndefined();
  });
});
