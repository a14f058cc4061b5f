import { read, readSync } from 'node:fs';
import type { StreamFd } from './capture.js';
import type { BlobHash, StreamHash } from '../core/hash.js';
import { createStreamHash, displayHash, hashBytes } from '../core/hash.js';
import type { BlobRef, Manifest } from '../schema/manifest.js';
import type { OpenBlobs as BlobFiles } from '../ports/tiers.js';
import { unreachable } from '../core/errors.js';
import { SinkClosed, type FdSink } from './fd-sink.js';
import { restoreOutputs } from './output-files.js';

// Outputs up to this size are read and verified whole before the first byte
// is written, so a bad blob is a clean miss. Larger ones are verified as they
// stream, so memory stays flat; a mismatch is then found after some bytes
// are out, and the caller must fail loudly.
const VERIFY_FIRST_LIMIT = 8 << 20;
const CHUNK = 1 << 20;
// writes at least this long go through libuv's thread pool (see streamVerified)
const POOL_WRITE_MIN = 64 << 10;

export type ReplayResult =
  | { ok: true }
  // nothing was written: drop the entry and run the command
  | { ok: false; reason: 'bad-before-output'; hash: BlobHash; detail: string }
  // some bytes are out: drop the entry and fail
  | { ok: false; reason: 'bad-during-output'; hash: BlobHash; detail: string }
  // our stdout or stderr was closed by the reader
  | { ok: false; reason: 'closed' }
  // the manifest names an output path outside the declared outputs or the
  // tree, or a link that leads out of it (`detail` says which, when it can)
  | { ok: false; reason: 'unsafe-output'; path: string; detail: string | null }
  // an output could not be restored (a directory where a file goes...)
  | { ok: false; reason: 'restore-failed'; detail: string };

export interface ReplaySinks {
  stdout: FdSink;
  stderr: FdSink;
}

type Run = [StreamFd, number];

class BadBlob extends Error {
  constructor(
    readonly hash: BlobHash,
    readonly detail: string,
  ) {
    super(detail);
  }
}


// Replays an entry whose blobs are open: restores its output files first
// (so that a bad blob among them is found before any byte reaches stdout),
// then writes its stdout and stderr back. `tag` makes temp names unique.
// An entry that came from a remote (see Manifest.origin) is restored with
// its links confined to the working directory and its modes under `umask`.
export async function replayEntry(blobs: BlobFiles, manifest: Manifest, sinks: ReplaySinks, cwd: string, tag: string, umask: () => number): Promise<ReplayResult> {
  if (manifest.outputs.length > 0) {
    const trust = manifest.origin === undefined ? undefined : { confineLinks: true, modeMask: umask() };
    const restored = await restoreOutputs(blobs, cwd, manifest.material.kind === 'command' ? manifest.material.outputs : [], manifest.outputs, tag, trust);
    if (!restored.ok) {
      const problem = restored.error;
      switch (problem.reason) {
        case 'unsafe':
          return { ok: false, reason: 'unsafe-output', path: problem.path, detail: problem.detail ?? null };
        case 'bad-blob':
          return { ok: false, reason: 'bad-before-output', hash: problem.hash, detail: problem.detail };
        case 'failed':
          return { ok: false, reason: 'restore-failed', detail: problem.detail };
        default:
          return unreachable(problem);
      }
    }
  }
  return replayStreams(blobs, manifest, sinks);
}

// Writes an entry's stdout and stderr back, in the recorded interleaving.
async function replayStreams(
  blobs: BlobFiles,
  manifest: Manifest,
  sinks: ReplaySinks,
): Promise<ReplayResult> {
  const total = (manifest.stdout?.size ?? 0) + (manifest.stderr?.size ?? 0) + (manifest.order?.size ?? 0);
  const small = total <= VERIFY_FIRST_LIMIT;
  let started = false;
  try {
    if (small) {
      const buffers = readVerified(blobs, manifest);
      const offsets: Record<StreamFd, number> = { 1: 0, 2: 0 };
      for (const [fd, length] of runsOf(manifest, buffers.order)) {
        const buffer = buffers[fd];
        started = true;
        await writeChunk(sinkFor(sinks, fd), buffer.subarray(offsets[fd], offsets[fd] + length));
        offsets[fd] += length;
      }
    } else {
      started = true;
      await streamVerified(blobs, manifest, sinks);
    }
    return { ok: true };
  } catch (err) {
    if (err instanceof SinkClosed) return { ok: false, reason: 'closed' };
    if (err instanceof BadBlob) {
      return { ok: false, reason: started ? 'bad-during-output' : 'bad-before-output', hash: err.hash, detail: err.detail };
    }
    throw err;
  }
}

function sinkFor(sinks: ReplaySinks, fd: StreamFd): FdSink {
  return fd === 1 ? sinks.stdout : sinks.stderr;
}

function readVerified(blobs: BlobFiles, manifest: Manifest): Record<StreamFd, Buffer> & { order: Buffer | null } {
  const read = (ref: BlobRef | null): Buffer | null => {
    if (ref === null) return null;
    let bytes: Buffer;
    try {
      bytes = readWhole(blobs.fd(ref.hash), ref.size);
    } catch {
      throw new BadBlob(ref.hash, `blob ${displayHash(ref.hash)} cannot be read`);
    }
    if (bytes.length !== ref.size) throw new BadBlob(ref.hash, `blob ${displayHash(ref.hash)} does not match its hash`);
    if (!blobs.checked(ref.hash)) {
      if (hashBytes(bytes) !== ref.hash) throw new BadBlob(ref.hash, `blob ${displayHash(ref.hash)} does not match its hash`);
      blobs.noteChecked(ref.hash);
    }
    return bytes;
  };
  const empty = Buffer.alloc(0);
  return { 1: read(manifest.stdout) ?? empty, 2: read(manifest.stderr) ?? empty, order: read(manifest.order) };
}

// The runs to replay: from the order blob, or, when only one stream has
// bytes, that stream whole. Checked to add up to the blobs' sizes.
function runsOf(manifest: Manifest, order: Buffer | null): Run[] {
  const runs: Run[] = [];
  if (order === null) {
    if (manifest.stdout) runs.push([1, manifest.stdout.size]);
    if (manifest.stderr) runs.push([2, manifest.stderr.size]);
    return runs;
  }
  const parser = new OrderParser(manifest.order!.hash);
  parser.push(order, (run) => runs.push(run));
  parser.end();
  checkTotals(manifest, runs);
  return runs;
}

function checkTotals(manifest: Manifest, runs: Iterable<Run>): void {
  const sums: Record<StreamFd, number> = { 1: 0, 2: 0 };
  for (const [fd, length] of runs) sums[fd] += length;
  checkSums(manifest, sums);
}

function checkSums(manifest: Manifest, sums: Record<StreamFd, number>): void {
  if (sums[1] !== (manifest.stdout?.size ?? 0) || sums[2] !== (manifest.stderr?.size ?? 0)) {
    throw new BadBlob(manifest.order!.hash, 'the interleaving does not add up to the recorded streams');
  }
}

// Parses `<fd> <bytes>\n` lines as they arrive.
class OrderParser {
  private pending = '';

  constructor(private readonly hash: BlobHash) {}

  push(chunk: Buffer, onRun: (run: Run) => void): void {
    const lines = (this.pending + chunk.toString('latin1')).split('\n');
    this.pending = lines.pop() ?? '';
    for (const line of lines) onRun(this.parse(line));
  }

  end(): void {
    if (this.pending !== '') throw new BadBlob(this.hash, 'the interleaving record is cut short');
  }

  private parse(line: string): Run {
    const m = /^([12]) (\d{1,15})$/.exec(line);
    if (!m) throw new BadBlob(this.hash, 'the interleaving record is garbled');
    return [Number(m[1]) as StreamFd, Number(m[2])];
  }
}

// Streams large blobs in 1 MiB reads, verifying each blob's hash on the way
// and checking it once its last byte has been read.
async function streamVerified(blobs: BlobFiles, manifest: Manifest, sinks: ReplaySinks): Promise<void> {
  const readers: Record<StreamFd, BlobReader | null> = {
    1: manifest.stdout ? new BlobReader(blobs, manifest.stdout) : null,
    2: manifest.stderr ? new BlobReader(blobs, manifest.stderr) : null,
  };
  const order = manifest.order ? new BlobReader(blobs, manifest.order) : null;
  try {
    // Three buffers for the whole replay, in turn: while chunk k is hashed
    // on the main thread, chunk k-1 is written and chunk k+1 read, both on
    // libuv's thread pool. A buffer is refilled only once the write of the
    // chunk it held has completed (writes run one at a time, in order).
    const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)] as const;
    const copyRun = async ([fd, length]: Run) => {
      const reader = readers[fd];
      if (!reader) throw new BadBlob(manifest.order!.hash, 'the interleaving names an empty stream');
      const sink = sinkFor(sinks, fd);
      let left = length;
      let turn = 0;
      // A read or a write in flight fails where it is awaited; until then
      // it is marked handled, so that a failure while the other is awaited
      // is not an unhandled rejection.
      const fill = (want: number) => {
        const reading = reader.fill(buffers[turn]!, want);
        reading.catch(() => {});
        return reading;
      };
      let next = left > 0 ? fill(Math.min(left, CHUNK)) : null;
      let writing: Promise<void> | null = null;
      try {
        while (next) {
          const chunk = await next;
          left -= chunk.length;
          turn = (turn + 1) % buffers.length;
          next = left > 0 ? fill(Math.min(left, CHUNK)) : null;
          reader.digest(chunk);
          await writing;
          // (a short run, of an interleaving, is written at once: a trip to
          // the pool would cost it more than it saves)
          writing = chunk.length >= POOL_WRITE_MIN ? sink.writeInPool(chunk) : sink.write(chunk);
          writing.catch(() => {});
        }
        await writing;
        writing = null;
      } finally {
        // A write that failed (the reader went away) leaves a read, and
        // perhaps a write, in flight: they settle before the blob's
        // descriptor may be closed and the buffers reused.
        await Promise.all([next?.catch(() => {}), writing?.catch(() => {})]);
      }
    };
    if (order) {
      const parser = new OrderParser(order.ref.hash);
      const orderBuffer = Buffer.allocUnsafe(64 << 10);
      const sums: Record<StreamFd, number> = { 1: 0, 2: 0 };
      for (;;) {
        const chunk = Buffer.from(order.read(orderBuffer));
        if (chunk.length === 0) break;
        const runs: Run[] = [];
        parser.push(chunk, (run) => runs.push(run));
        for (const run of runs) {
          await copyRun(run);
          sums[run[0]] += run[1];
        }
      }
      parser.end();
      order.close();
      checkSums(manifest, sums);
    } else {
      for (const fd of [1, 2] as const) {
        const reader = readers[fd];
        if (reader) await copyRun([fd, reader.ref.size]);
      }
    }
    for (const reader of [readers[1], readers[2]]) reader?.close();
  } finally {
    for (const reader of [readers[1], readers[2], order]) reader?.dispose();
  }
}

// Sequential reads of one blob with its running hash. `close` checks that
// exactly the recorded bytes were there and that they hash right.
class BlobReader {
  private readonly fd: number;
  // null: the blob was checked as its file is now (see OpenBlobs.checked)
  private readonly hash: StreamHash | null;
  private offset = 0;

  constructor(
    private readonly blobs: BlobFiles,
    readonly ref: BlobRef,
  ) {
    this.fd = blobs.fd(ref.hash);
    this.hash = blobs.checked(ref.hash) ? null : createStreamHash();
  }

  // Sequential reads of small pieces (the interleaving record), hashed.
  read(buffer: Buffer): Buffer {
    const want = Math.min(buffer.length, this.ref.size - this.offset);
    if (want <= 0) return buffer.subarray(0, 0);
    let got = 0;
    while (got < want) {
      const n = readSync(this.fd, buffer, got, want - got, this.offset + got);
      if (n === 0) throw new BadBlob(this.ref.hash, `blob ${displayHash(this.ref.hash)} is shorter than recorded`);
      got += n;
    }
    this.offset += got;
    const filled = buffer.subarray(0, got);
    this.hash?.update(filled);
    return filled;
  }

  // Reads the next `want` bytes into `buffer` off the main thread. Calls may
  // overlap (each reads at its own position); the caller passes each chunk
  // to digest() in order.
  fill(buffer: Buffer, want: number): Promise<Buffer> {
    const position = this.offset;
    this.offset += want;
    return new Promise((resolve, reject) => {
      const step = (got: number) => {
        if (got === want) return resolve(buffer.subarray(0, want));
        read(this.fd, buffer, got, want - got, position + got, (err, n) => {
          if (err || n === 0) reject(new BadBlob(this.ref.hash, `blob ${displayHash(this.ref.hash)} is shorter than recorded`));
          else step(got + n);
        });
      };
      step(0);
    });
  }

  digest(chunk: Buffer): void {
    this.hash?.update(chunk);
  }

  close(): void {
    const extra = readSync(this.fd, Buffer.alloc(1), 0, 1, this.offset);
    this.dispose();
    if (this.offset !== this.ref.size || extra !== 0) {
      throw new BadBlob(this.ref.hash, `blob ${displayHash(this.ref.hash)} does not have the recorded size`);
    }
    if (this.hash === null) {
      // changed while it was read: the bytes out may not be the checked ones
      if (!this.blobs.checked(this.ref.hash)) throw new BadBlob(this.ref.hash, `blob ${displayHash(this.ref.hash)} changed while it was replayed`);
      return;
    }
    if (this.hash.digest() !== this.ref.hash) throw new BadBlob(this.ref.hash, `blob ${displayHash(this.ref.hash)} does not match its hash`);
    this.blobs.noteChecked(this.ref.hash);
  }

  // Nothing to let go of: the descriptor belongs to BlobFiles, which closes it.
  dispose(): void {}
}

// A whole small blob, read at its own positions (a blob named twice in an
// entry shares one descriptor), one byte past the size to notice a longer file.
function readWhole(fd: number, size: number): Buffer {
  const buffer = Buffer.allocUnsafe(size + 1);
  let got = 0;
  for (;;) {
    const n = readSync(fd, buffer, got, buffer.length - got, got);
    if (n === 0) break;
    got += n;
    if (got === buffer.length) break;
  }
  return buffer.subarray(0, got);
}

function writeChunk(sink: FdSink, chunk: Uint8Array): Promise<void> {
  return chunk.length === 0 ? Promise.resolve() : sink.write(chunk);
}
