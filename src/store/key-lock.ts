import { hostname } from 'node:os';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CacheKey } from '../hash.js';
import type { LocalStore } from './local-store.js';

// Single flight: one process per key records, the others wait and replay.
//
// proper-lockfile makes the lock: an atomic mkdir whose mtime the holder
// refreshes every 2 s, taken over once 10 s stale. That covers holders on
// other hosts (the cache directory may be on NFS). A holder on this host
// that died (kill -9, a crash) is noticed at once: it leaves its pid in the
// lock, and a pid that no longer runs frees the lock. (A reused pid only
// falls back to the 10 s rule.)

const STALE_MS = 10_000;
const UPDATE_MS = 2_000;
const POLL_MS = 100;
const OWNER = 'owner.json';

export interface KeyLock {
  // whether another process held it first (and may have recorded meanwhile)
  waited: boolean;
  release(): Promise<void>;
}

interface Owner {
  host: string;
  pid: number;
}

// Waits for the key's lock and takes it. `onWait` is called once, if
// another process holds it. `giveUp` is asked at each poll while waiting:
// true (the holder has published what we wait for) ends the wait without
// the lock, so that every waiter can replay at once instead of taking the
// lock in turn.
export async function lockKey(
  store: LocalStore,
  key: CacheKey,
  onWait: (holder: Owner | null) => void,
  giveUp: () => boolean = () => false,
): Promise<KeyLock | null> {
  const { default: lockfile } = await import('proper-lockfile');
  const dir = join(store.root, 'locks');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, key);
  const lockDir = `${file}.lock`;
  let told = false;
  for (;;) {
    try {
      const release = await lockfile.lock(file, {
        realpath: false,
        stale: STALE_MS,
        update: UPDATE_MS,
        // A holder whose heartbeat stalled and whose lock was taken over
        // keeps going: two recordings of one key are wasteful, not wrong.
        onCompromised: () => {},
      });
      try {
        chmodSync(lockDir, 0o700);
        writeFileSync(join(lockDir, OWNER), JSON.stringify({ host: hostname(), pid: process.pid } satisfies Owner), {
          mode: 0o600,
        });
      } catch {
        // The owner note only speeds up a takeover (a full disk, say):
        // without it the lock is still held, and still goes stale.
        rmSync(join(lockDir, OWNER), { force: true });
      }
      let held = true;
      return {
        waited: told,
        release: async () => {
          if (!held) return;
          held = false;
          rmSync(join(lockDir, OWNER), { force: true });
          await release().catch(() => {});
        },
      };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY') {
        // proper-lockfile judged it stale but cannot rmdir it: our owner file is inside.
        rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (code !== 'ELOCKED') throw err;
    }
    const holder = readOwner(lockDir);
    if (holder && holder.host === hostname() && !isRunning(holder.pid)) {
      rmSync(lockDir, { recursive: true, force: true });
      continue;
    }
    if (!told) {
      told = true;
      onWait(holder);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    if (giveUp()) return null;
  }
}

function readOwner(lockDir: string): Owner | null {
  try {
    const owner = JSON.parse(readFileSync(join(lockDir, OWNER), 'utf8')) as Owner;
    return typeof owner.host === 'string' && Number.isInteger(owner.pid) ? owner : null;
  } catch {
    return null;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
