import { closeSync, fsyncSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import type { BlobHash } from '../../hash.js';
import { createStreamHash } from '../../hash.js';
import { sameKeyMaterial } from '../../schema/key.js';
import { judgeEntry, type Decision } from '../../engine/lookup.js';
import type { Manifest } from '../../schema/manifest.js';
import { blobsOf, validateManifest } from '../../schema/manifest.js';
import type { Output } from '../../terminal/messages.js';
import type { Plan } from '../../engine/call.js';
import { describeError } from '../local/local-store.js';
import { symlinkLeaves } from '../../process/output-files.js';
import { openRemote, type RemoteSpec, type RemoteStore } from './remote-store.js';
import type { LockOutcome, WaitHooks } from '../../engine/lease.js';
import { openManifest, signManifest } from './signing.js';

// While waiting for another machine, how often the remote is asked whether
// the entry has arrived.
const REMOTE_LOOK_MS = 1000;

// The remote cache for one process: connected on first use, and given up
// for the rest of the process (with one warning) the first time it fails.
// A remote is only ever an optimisation.
export class RemoteSession {
  private store: Promise<RemoteStore | null> | null = null;
  private down = false;
  // blobs the remote holds but that failed verification: a push replaces them
  private readonly badBlobs = new Set<string>();
  private lastLook = 0;

  constructor(
    readonly spec: RemoteSpec,
    private readonly env: NodeJS.ProcessEnv,
    private readonly output: Output,
  ) {}

  // Copies a fresh remote entry into the local store, verifying every blob's
  // size and hash and the manifest's key material before anything is
  // replayed. Returns the local decision to replay it, or null.
  async pull(plan: Plan): Promise<(Decision & { fresh: true }) | null> {
    return this.guard(null, async (remote) => {
      const decision = await this.judgeRemote(plan, remote);
      if (decision === null) return null;
      // Another machine's entry may not plant a link that leads out of the
      // working directory: the next real run would write through it.
      const leaving = decision.manifest.outputs.find((o) => o.type === 'symlink' && symlinkLeaves(o.path, o.target));
      if (leaving !== undefined && leaving.type === 'symlink') {
        this.output.warnOnce(
          `remote-bad:${plan.key}`,
          `ignored an entry on ${remote.label}: its output '${leaving.path}' is a symlink to '${leaving.target}', outside the working directory`,
        );
        return null;
      }
      for (const blob of blobsOf(decision.manifest)) {
        if (hasLocalBlob(plan, blob.hash, blob.size)) continue;
        const problem = await download(plan, remote, blob.hash, blob.size);
        if (problem !== null) {
          this.badBlobs.add(blob.hash);
          plan.store.discardSpares();
          this.output.warnOnce(`remote-bad:${plan.key}`, `ignored an entry on ${remote.label}: ${problem}`);
          return null;
        }
      }
      plan.store.publishManifest(decision.manifest);
      return decision;
    });
  }

  // Whether the remote holds a fresh entry for the plan, without copying it.
  async peek(plan: Plan): Promise<(Decision & { fresh: true }) | null> {
    return this.guard(null, (remote) => this.judgeRemote(plan, remote));
  }

  private async judgeRemote(plan: Plan, remote: RemoteStore): Promise<(Decision & { fresh: true }) | null> {
    const bytes = await remote.getManifest(plan.key);
    if (bytes === null) return null;
    const garbled = () => {
      this.output.warnOnce(`remote-bad:${plan.key}`, `ignored a garbled manifest on ${remote.label}`);
      return null;
    };
    const raw = bytes.toString('utf8');
    let parsed = parseJson(raw);
    if (parsed === undefined) return garbled();
    const opened = openManifest(parsed, raw, plan.signing);
    if (!opened.ok) {
      this.output.info(`ignored an entry on ${remote.label}: ${UNTRUSTED[opened.reason]}`);
      return null;
    }
    if (opened.signed) {
      parsed = parseJson(opened.text);
      if (parsed === undefined) return garbled();
    }
    const checked = validateManifest(parsed);
    if (!checked.ok || checked.value.key !== plan.key || !sameKeyMaterial(checked.value.material, plan.material)) {
      this.output.warnOnce(`remote-bad:${plan.key}`, `ignored a manifest on ${remote.label} that does not match this command`);
      return null;
    }
    // Watched files are hashed here whatever their size and mtime: those
    // recorded were another machine's.
    const decision = await judgeEntry(plan, checked.value, this.output, { trustFileTimes: false });
    return decision.fresh ? decision : null;
  }

  // Uploads a new entry: blobs first, the manifest last, so that another
  // machine never sees an entry whose blobs are missing.
  async push(plan: Plan, manifest: Manifest): Promise<void> {
    if (this.spec.readOnly) return;
    // Other machines would refuse it (see pull): not worth the upload.
    if (manifest.outputs.some((o) => o.type === 'symlink' && symlinkLeaves(o.path, o.target))) {
      this.output.info(`not shared with ${this.spec.label}: an output is a symlink that leads out of the working directory`);
      return;
    }
    await this.guard(undefined, async (remote) => {
      for (const blob of blobsOf(manifest)) {
        if (this.badBlobs.has(blob.hash) || !(await remote.hasBlob(blob.hash))) {
          await remote.putBlob(blob.hash, blob.size, plan.store.blobPath(blob.hash));
        }
      }
      const text = JSON.stringify(manifest);
      await remote.putManifest(manifest.key, plan.signing ? signManifest(text, plan.signing) : Buffer.from(text));
    });
  }

  // Single flight across machines, where the remote offers it; null when
  // it does not, or fails.
  async lock(plan: Plan, hooks: WaitHooks): Promise<LockOutcome | null> {
    return this.guard(null, async (remote) => (remote.lock ? remote.lock(plan.key, plan.lease, plan.identity, hooks) : null));
  }

  // Whether the remote now holds a fresh entry for the plan (asked while
  // waiting for another machine, at most every REMOTE_LOOK_MS).
  async hasFresh(plan: Plan): Promise<boolean> {
    const now = plan.identity.wallNow();
    if (now - this.lastLook < REMOTE_LOOK_MS) return false;
    this.lastLook = now;
    return (await this.peek(plan)) !== null;
  }

  async close(): Promise<void> {
    const remote = await this.store?.catch(() => null);
    await remote?.close().catch(() => {});
  }

  private async guard<T>(fallback: T, work: (remote: RemoteStore) => Promise<T>): Promise<T> {
    if (this.down) return fallback;
    try {
      this.store ??= openRemote(this.spec, this.env);
      const remote = await this.store;
      if (remote === null) return fallback;
      return await work(remote);
    } catch (err) {
      this.down = true;
      this.output.warnOnce('remote', `the remote cache ${this.spec.label} failed (${describeError(err)}); going on without it`);
      return fallback;
    }
  }
}

function hasLocalBlob(plan: Plan, hash: BlobHash, size: number): boolean {
  try {
    return statSync(plan.store.blobPath(hash)).size === size;
  } catch {
    return false;
  }
}

// Streams a remote blob into a local temp file, checking its size and hash,
// then publishes it. Returns what was wrong with it, or null.
async function download(plan: Plan, remote: RemoteStore, hash: BlobHash, size: number): Promise<string | null> {
  const temp = plan.store.tempPath();
  const fd = openSync(temp, 'wx', 0o600);
  let published = false;
  try {
    const digest = createStreamHash();
    let got = 0;
    let found: boolean;
    try {
      found = await remote.getBlob(
        hash,
        (chunk) => {
          got += chunk.length;
          if (got > size) throw new TooLong();
          digest.update(chunk);
          for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
        },
        size,
      );
    } catch (err) {
      if (err instanceof TooLong) return `blob ${hash} is longer than recorded`;
      throw err;
    }
    if (!found) return `blob ${hash} is missing`;
    if (got !== size) return `blob ${hash} has ${got} bytes, not ${size}`;
    if (digest.digest() !== hash) return `blob ${hash} does not match its hash`;
    fsyncSync(fd);
    plan.store.publishBlob({ tempPath: temp, hash, size });
    published = true;
    return null;
  } finally {
    closeSync(fd);
    if (!published) rmSync(temp, { force: true });
  }
}

class TooLong extends Error {}

// Why an entry was not trusted, for -v.
const UNTRUSTED = {
  unsigned: 'it is not signed, and this machine has a signing key',
  'other-key': 'it is signed with a key this machine does not have',
  'bad-signature': 'its signature does not verify',
} as const;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
