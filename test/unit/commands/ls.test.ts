import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { EntryInfo } from '../../../src/commands/entry-info.js';
import { LS_JSON_VERSION, writeListing } from '../../../src/commands/ls.js';

// `ls --json` writes its listing an entry at a time; the text must be the
// one JSON.stringify(…, null, 2) gives for the whole, byte for byte.
async function written(infos: unknown[], highWaterMark = 16 * 1024, buffered: number[] = []): Promise<string> {
  const out = new PassThrough({ highWaterMark });
  const write = out.write.bind(out) as (chunk: string) => boolean;
  out.write = ((chunk: string) => {
    const flowing = write(chunk);
    buffered.push(out.writableLength);
    return flowing;
  }) as typeof out.write;
  const chunks: Buffer[] = [];
  const ended = new Promise<void>((resolve) => out.on('end', resolve));
  // a slow reader, so that writes have to wait for 'drain'
  out.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    out.pause();
    setImmediate(() => out.resume());
  });
  await writeListing(out, infos as EntryInfo[]);
  out.end();
  await ended;
  return Buffer.concat(chunks).toString('utf8');
}

const whole = (infos: unknown[]) => `${JSON.stringify({ version: LS_JSON_VERSION, entries: infos }, null, 2)}\n`;

function entry(n: number): unknown {
  return {
    key: n.toString(16).padStart(16, '0'),
    argv: ['sh', '-c', `printf 'line ${n}\\nnext'`, 'naïve ☃ "quoted"'],
    cwd: n % 3 === 0 ? null : `/home/user/project ${n}`,
    policies: n % 2 === 0 ? [] : ['daily', 'ttl:1h'],
    outputs: n % 5 === 0 ? [{ path: 'data/raw.csv', bytes: n }] : [],
    env: {},
    nested: { deeper: { list: [1, [2, []], {}] } },
    fresh: n % 2 === 0,
    expiresAt: null,
    bytes: n * 1000,
  };
}

describe('ls --json, written an entry at a time', () => {
  it.each([0, 1, 2, 499, 500, 501, 1001, 2500])('is the whole JSON text, byte for byte, with %i entries', async (count) => {
    const infos = Array.from({ length: count }, (_, n) => entry(n));
    expect(await written(infos)).toBe(whole(infos));
  });

  it('waits for a slow reader rather than piling the text up', async () => {
    const infos = Array.from({ length: 5000 }, (_, n) => entry(n));
    const buffered: number[] = [];
    const text = await written(infos, 1024, buffered);
    expect(text).toBe(whole(infos));
    // never more than about two writes' worth waiting (a write is 500 entries)
    expect(Math.max(...buffered)).toBeLessThan((2 * Buffer.byteLength(text)) / 10);
  });
});
