import { reclaim } from '../../core/reclaim.js';
import { closeSync, fsyncSync, openSync, readFileSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import type { Host } from '../../ports/host.js';
import type { LeaseTiming, LockOutcome, WaitHooks } from '../../ports/lease.js';
import type { Reporter } from '../../ports/reporter.js';
import { describeError, isSystemError } from '../../core/errors.js';
import type { BlobHash, CacheKey } from '../../core/hash.js';
import { createStreamHash, displayHash } from '../../core/hash.js';
import { formatSizePair } from '../../core/size.js';
import type { KeyMaterial } from '../../schema/key.js';
import { sameKeyMaterial } from '../../schema/key.js';
import type { Manifest } from '../../schema/manifest.js';
import { blobsOf, validateManifest } from '../../schema/manifest.js';
import { symlinkLeaves } from '../../schema/output-record.js';
import { MANIFEST_LIMITS, parseDocument } from '../../core/json-document.js';
import { formatSize } from '../../core/size.js';
import type { LocalStore } from '../local/local-store.js';
import type { SharedTier } from '../../ports/tiers.js';
import { openRemote } from './registry.js';
import { RemoteError, type RemoteSpec, type RemoteBackend } from './backend.js';
import { openManifest, signManifest, type SigningKeys } from './signing.js';

// The remote cache for one process: connected on first use, and given up
// for the rest of the process (with one warning) the first time it fails.
// A remote is only ever an optimisation. It enforces, once for every remote
// kind: deadlines (through the kinds' own), read-only, signing, and the
// trust rules of entries; whether an entry is fresh is the engine's to say.
export class RemoteSession implements SharedTier {
  private store: Promise<RemoteBackend> | null = null;
  private down = false;
  // blobs the remote holds but that failed verification: a push replaces them
  private readonly badBlobs = new Set<string>();
  // the small blobs that came inside entries' manifests, by hash (unverified)
  private readonly inlined = new Map<string, Buffer>();

  constructor(
    readonly spec: RemoteSpec,
    private readonly env: NodeJS.ProcessEnv,
    private readonly signing: SigningKeys | null,
    private readonly reporter: Reporter,
    // where downloads go, and uploads come from
    private readonly local: LocalStore,
  ) {}

  get label(): string {
    return this.spec.label;
  }

  get readOnly(): boolean {
    return this.spec.readOnly;
  }

  // The remote's entry for a key, if it is one this call may use: it parses
  // within the bounds of a document, its signature verifies (with a signing
  // key), it is this version's format, and its key material is this
  // call's. Otherwise null, with a line why. Its output paths and links are
  // judged when it is restored (restoreOutputs), against the tree.
  async fetchEntry(key: CacheKey, material: KeyMaterial): Promise<Manifest | null> {
    return this.guard(null, async (remote) => {
      const bytes = await remote.getManifest(key);
      if (bytes === null) return null;
      const ignore = (why: string, verbose = false) => {
        if (verbose) this.reporter.info(`ignored an entry on ${this.spec.label}: ${why}`);
        else this.reporter.warnOnce(`remote-bad:${key}`, `ignored an entry on ${this.spec.label}: ${why}`);
        return null;
      };
      const garbled = () => {
        this.reporter.warnOnce(`remote-bad:${key}`, `ignored a garbled manifest on ${this.spec.label}`);
        return null;
      };
      const raw = bytes.toString('utf8');
      let parsed = parseJson(raw);
      if (parsed === undefined) return garbled();
      const opened = openManifest(parsed, raw, this.signing);
      if (!opened.ok) return ignore(UNTRUSTED[opened.reason], true);
      if (opened.signed) {
        parsed = parseJson(opened.text);
        if (parsed === undefined) return garbled();
      }
      const checked = validateManifest(parsed);
      if (!checked.ok && checked.error.reason === 'foreign') return ignore(checked.error.detail, true);
      if (!checked.ok) {
        this.reporter.warnOnce(`remote-bad:${key}`, `ignored a garbled manifest on ${this.spec.label} (${checked.error.detail})`);
        return null;
      }
      if (checked.value.key !== key || !sameKeyMaterial(checked.value.material, material)) {
        this.reporter.warnOnce(`remote-bad:${key}`, `ignored a manifest on ${this.spec.label} that does not match this ${material.kind === 'function' ? 'call' : 'command'}`);
        return null;
      }
      const manifest = checked.value;
      // a size the manifest claims is untrusted: one over the limit is not
      // worth a download, however quickly the remote says it comes
      const size = entrySize(manifest);
      if (size > this.spec.maxEntryBytes) {
        return ignore(`its blobs total ${formatSize(size)}, over the ${formatSize(this.spec.maxEntryBytes)} an entry may have (DCACHE_MAX_ENTRY_SIZE)`);
      }
      this.keepInlined(manifest);
      // Another machine's entry may plant no link that leads out of the
      // working directory, and its modes pass through the umask: a restore
      // judges both, with the tree in front of it, whenever it sees this.
      manifest.origin = this.spec.label;
      return manifest;
    });
  }

  // Copies every blob of an entry into the local store, each checked for
  // size and hash on the way. False (with one warning) if any is missing or
  // wrong: the entry is a miss, and the next upload replaces that blob.
  async download(manifest: Manifest): Promise<boolean> {
    const { local } = this;
    return this.guard(false, async (remote) => {
      const wanted = blobsOf(manifest).filter((blob) => !hasLocalBlob(local, blob.hash, blob.size));
      const asked = wanted.filter((blob) => !this.inlined.has(blob.hash));
      if (asked.length > 0) this.reporter.info(`downloading ${asked.length === 1 ? 'a blob' : `${asked.length} blobs`} of ${formatSize(sum(asked))} from ${this.spec.label}`);
      const progress = this.reporter.transfer?.('downloading', `from ${this.spec.label}`, sum(wanted));
      let done = 0;
      try {
        for (const blob of wanted) {
          const moved = progress ? (got: number) => progress.moved(done + got) : undefined;
          const inline = this.inlined.get(blob.hash);
          this.inlined.delete(blob.hash);
          // a copy from the manifest that does not verify is not news: the
          // blob itself is asked for
          const fromManifest = inline === undefined ? 'absent' : await download(local, blob.hash, blob.size, moved, fromBytes(inline));
          const problem = fromManifest === null ? null : await download(local, blob.hash, blob.size, moved, (write) => remote.getBlob(blob.hash, write, blob.size));
          if (problem !== null) {
            this.badBlobs.add(blob.hash);
            local.discardSpares();
            this.reporter.warnOnce(`remote-bad:${manifest.key}`, `ignored an entry on ${this.spec.label}: ${problem}`);
            return false;
          }
          done += blob.size;
        }
        return true;
      } finally {
        progress?.end();
      }
    });
  }

  // Uploads a new entry: blobs first, the manifest last, so that another
  // machine never sees an entry whose blobs are missing. Signed with the
  // first signing key, if there is one.
  async share(manifest: Manifest): Promise<void> {
    const { local } = this;
    if (this.spec.readOnly) return;
    // Other machines would refuse it (see fetchEntry and restoreOutputs): not worth the upload.
    if (manifest.outputs.some((o) => o.type === 'symlink' && symlinkLeaves(o.path, o.target))) {
      this.reporter.info(`not shared with ${this.spec.label}: an output is a symlink that leads out of the working directory`);
      return;
    }
    if (entrySize(manifest) > this.spec.maxEntryBytes) {
      this.reporter.info(`not shared with ${this.spec.label}: its blobs total ${formatSize(entrySize(manifest))}, over the ${formatSize(this.spec.maxEntryBytes)} an entry may have (DCACHE_MAX_ENTRY_SIZE)`);
      return;
    }
    await this.guard(undefined, async (remote) => {
      const wanted = [];
      for (const blob of blobsOf(manifest)) {
        if (this.badBlobs.has(blob.hash) || !(await remote.hasBlob(blob.hash))) wanted.push(blob);
      }
      const progress = this.reporter.transfer?.('uploading', `to ${this.spec.label}`, sum(wanted), {
        afterPartialLine: () => {
          const last = lastOutputByte(local, manifest);
          return last !== null && last !== 0x0a;
        },
      });
      let done = 0;
      try {
        for (const blob of wanted) {
          await remote.putBlob(blob.hash, blob.size, local.blobPath(blob.hash), progress ? (sent) => progress.moved(done + sent) : undefined);
          done += blob.size;
        }
      } finally {
        progress?.end();
      }
      const text = JSON.stringify(withInlined(manifest, local));
      await remote.putManifest(manifest.key, this.signing ? signManifest(text, this.signing) : Buffer.from(text));
    });
  }

  // Takes the small blobs an entry carries inside its manifest (see
  // withInlined) out of it, to be verified like any blob when downloaded.
  // What is not a map of base64 text is ignored.
  private keepInlined(manifest: Manifest): void {
    const carried = (manifest as Manifest & { inline?: unknown }).inline;
    delete (manifest as Manifest & { inline?: unknown }).inline;
    if (typeof carried !== 'object' || carried === null || Array.isArray(carried)) return;
    // no more than a writer puts there, whatever a manifest holds
    let total = 0;
    for (const blob of blobsOf(manifest)) {
      const text = (carried as Record<string, unknown>)[blob.hash];
      if (typeof text !== 'string' || total + blob.size > INLINE_BYTES || text.length !== Math.ceil(blob.size / 3) * 4) continue;
      this.inlined.set(blob.hash, Buffer.from(text, 'base64'));
      total += blob.size;
    }
  }

  // Single flight across machines, where the remote offers it; null when
  // it does not, or fails.
  async lock(key: CacheKey, timing: LeaseTiming, host: Host, hooks: WaitHooks): Promise<LockOutcome | null> {
    return this.guard(null, async (remote) => (remote.lock ? remote.lock(key, timing, host, hooks) : null));
  }

  async close(): Promise<void> {
    const remote = await this.store?.catch(() => null);
    await remote?.close().catch(() => {});
  }

  // Runs `work` on the remote, connected on first use. A failure the remote
  // kinds expect (RemoteError, a system error) turns the remote off for the
  // rest of the process, with one warning, and gives `fallback`; anything
  // else is a bug and is thrown.
  private async guard<T>(fallback: T, work: (remote: RemoteBackend) => Promise<T>): Promise<T> {
    if (this.down) return fallback;
    try {
      this.store ??= openRemote(this.spec, this.env, this.local.host);
      return await work(await this.store);
    } catch (err) {
      if (!(err instanceof RemoteError) && !isSystemError(err)) throw err;
      this.down = true;
      // the shared cache bypassed: said even with -q
      this.reporter.alert('remote', `the remote cache ${this.spec.label} failed (${describeError(err)}); going on without it`);
      return fallback;
    }
  }
}

// An entry's blobs, up to INLINE_BYTES in all, also travel inside the
// manifest on the remote (base64, under "inline"), so that a small hit is
// one request, not one per blob. They are uploaded as blobs too, for
// versions that do not read them here and for gc, and a reader checks their
// size and hash as it would a download's. Signed manifests sign them too.
export const INLINE_BYTES = 16 << 10;

function withInlined(manifest: Manifest, local: LocalStore): Manifest & { inline?: Record<string, string> } {
  const inline: Record<string, string> = {};
  let total = 0;
  for (const blob of blobsOf(manifest)) {
    if (total + blob.size > INLINE_BYTES) continue;
    let bytes: Buffer;
    try {
      bytes = readFileSync(local.blobPath(blob.hash));
    } catch {
      continue;
    }
    if (bytes.length !== blob.size) continue;
    inline[blob.hash] = bytes.toString('base64');
    total += blob.size;
  }
  return Object.keys(inline).length === 0 ? manifest : { ...manifest, inline };
}

// A blob's bytes at hand, as a download's source.
function fromBytes(bytes: Buffer): (write: (chunk: Uint8Array) => Promise<void> | void) => Promise<boolean> {
  return async (write) => {
    await write(bytes);
    return true;
  };
}

// Why an entry was not trusted, for -v.
const UNTRUSTED = {
  unsigned: 'it is not signed, and this machine has a signing key',
  'other-key': 'it is signed with a key this machine does not have',
  'bad-signature': 'its signature does not verify',
} as const;

// A manifest's text as a value, bounded in length and depth (see
// json-document.ts); undefined if it is not a document within the bounds.
function parseJson(text: string): unknown {
  const parsed = parseDocument(text, MANIFEST_LIMITS);
  return parsed.ok ? parsed.value : undefined;
}

// The last byte of the command's output (of whichever stream wrote last),
// or null if it wrote nothing.
function lastOutputByte(local: LocalStore, manifest: Manifest): number | null {
  let last = manifest.stdout ?? manifest.stderr;
  if (manifest.order) {
    // the order blob's last line, `<fd> <bytes>`, names the stream
    const tail = readAt(local.blobPath(manifest.order.hash), Math.max(0, manifest.order.size - 32), 32).toString('latin1');
    last = /(?:^|\n)2 \d+\n$/.test(tail) ? manifest.stderr : manifest.stdout;
  }
  if (!last || last.size === 0) return null;
  return readAt(local.blobPath(last.hash), last.size - 1, 1)[0] ?? null;
}

function readAt(path: string, position: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    return buffer.subarray(0, readSync(fd, buffer, 0, length, position));
  } finally {
    closeSync(fd);
  }
}

function entrySize(manifest: Manifest): number {
  return sum(blobsOf(manifest));
}

function sum(blobs: Array<{ size: number }>): number {
  return blobs.reduce((n, blob) => n + blob.size, 0);
}

function hasLocalBlob(local: LocalStore, hash: BlobHash, size: number): boolean {
  try {
    return statSync(local.blobPath(hash)).size === size;
  } catch {
    return false;
  }
}

// Streams a blob (from the remote, or from its manifest) into a local temp
// file, checking its size and hash, then publishes it. Returns what was
// wrong with it, or null.
async function download(
  local: LocalStore,
  hash: BlobHash,
  size: number,
  moved: ((bytes: number) => void) | undefined,
  source: (write: (chunk: Uint8Array) => Promise<void> | void) => Promise<boolean>,
): Promise<string | null> {
  const temp = local.tempPath();
  const fd = openSync(temp, 'wx', 0o600);
  let published = false;
  try {
    const digest = createStreamHash();
    let got = 0;
    let found: boolean;
    try {
      found = await source((chunk) => {
        reclaim(chunk.length);
        got += chunk.length;
        moved?.(got);
        if (got > size) throw new TooLong();
        digest.update(chunk);
        for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
      });
    } catch (err) {
      if (err instanceof TooLong) return `blob ${displayHash(hash)} is longer than recorded`;
      throw err;
    }
    if (!found) return `blob ${displayHash(hash)} is missing`;
    if (got !== size) return `blob ${displayHash(hash)} has ${formatSizePair(got, size).join(', not ')}`;
    if (digest.digest() !== hash) return `blob ${displayHash(hash)} does not match its hash`;
    fsyncSync(fd);
    local.publishBlob({ tempPath: temp, hash, size });
    published = true;
    return null;
  } finally {
    closeSync(fd);
    if (!published) rmSync(temp, { force: true });
  }
}

class TooLong extends Error {}
