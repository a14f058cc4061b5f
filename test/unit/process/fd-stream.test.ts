import fc from 'fast-check';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { afterWritten, DescriptorStream } from '../../../src/process/fd-stream.js';

const chunksOf = fc.array(fc.uint8Array({ minLength: 0, maxLength: 64 }).map((a) => Buffer.from(a)), { maxLength: 12 });

describe('afterWritten', () => {
  it('leaves exactly the bytes past the written ones, for any chunks and any count up to their total (fast-check, 2,000 runs)', () => {
    fc.assert(
      fc.property(chunksOf, fc.double({ min: 0, max: 1, noNaN: true }), (chunks, share) => {
        const all = Buffer.concat(chunks);
        const written = Math.floor(share * all.length);
        const left = afterWritten(chunks, written);
        expect(Buffer.concat(left).equals(all.subarray(written))).toBe(true);
        // of chunks none of which is empty (as writeAll gives it), none is left empty
        const whole = chunks.filter((c) => c.length > 0);
        expect(afterWritten(whole, written).every((c) => c.length > 0)).toBe(true);
      }),
      { numRuns: 2000, seed: 20 },
    );
  });
});

describe('a DescriptorStream', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'dcache-fd-stream-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes every chunk, in order, when many pile up behind a write (one writev for them)', async () => {
    const path = join(dir, 'out');
    const fd = openSync(path, 'w');
    try {
      const stream = new DescriptorStream(fd);
      const chunks = Array.from({ length: 2000 }, (_, i) => Buffer.from(`${i}:${'x'.repeat(i % 97)}\n`));
      for (const chunk of chunks) stream.write(chunk);
      await stream.flushed();
      expect(readFileSync(path).equals(Buffer.concat(chunks))).toBe(true);
    } finally {
      closeSync(fd);
    }
  });
});
