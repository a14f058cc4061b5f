import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cutCommand, layOutListing, type ListingRow } from '../../../src/commands/ls-table.js';
import { displayWidth } from '../../../src/core/text.js';

// The table of `dcache ls`, on generated entries at generated widths. A
// fixed seed in the suite; FC_RUNS=100000 for a long run.
const RUNS = Number(process.env.FC_RUNS ?? 1500);
const SEED = 20_240_827;

// Text as commands, paths and key texts hold it once escaped: ASCII, wide
// characters (CJK, emoji), and marks that combine with the one before.
const char = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_.,:=/ '.split('')) },
  { weight: 1, arbitrary: fc.constantFrom('日', '本', '語', 'é', '😀', 'ü', 'ß', '\u0301', 'Ａ') },
);
const text = (maxLength: number) => fc.array(char, { maxLength }).map((chars) => chars.join(''));
const name = fc.array(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz-_.0123456789'.split('')), { minLength: 1, maxLength: 30 }).map((c) => c.join(''));
const tags = fc.oneof(
  fc.constant(''),
  fc.array(fc.constantFrom('-o out1.txt', '-o data/raw.csv', '-e TOKEN', '--stdin', '--key acme', "--key 'a b'", '-o 出力.csv'), { minLength: 1, maxLength: 4 }).map((t) => ` [${t.join(' ')}]`),
  fc.constant(' (exit 3)'),
);

const row: fc.Arbitrary<ListingRow> = fc.record({
  KEY: fc.stringMatching(/^[0-9a-f]{7,16}$/),
  AGE: fc.constantFrom('0s', '3h', '12d', '3h5m', '830d13h'),
  STATE: fc.constantFrom('fresh', 'stale', 'fresh 12h', 'stale 2d', 'fresh until 2024-08-28 00:00:00 +02:00', 'stale (recorded after now)'),
  SIZE: fc.constantFrom('0 B', '5 B', '1023 KiB', '1.2 MiB'),
  HITS: fc.constantFrom('0', '14', '123456', '3 (1 remote)'),
  POLICY: fc.constantFrom('daily', 'daily@06:00', 'ttl:6h,daily', 'cron:0 6,18 * * 1-5'),
  CWD: fc.oneof(fc.constant('-'), text(60).map((t) => `/${t}`)),
  COMMAND: fc.record({
    program: fc.oneof(name.map((n) => `./${n}`), fc.tuple(text(40), name).map(([dir, n]) => `/${dir}/${n}`), name, text(30)),
    args: text(80),
    tags,
  }),
});
const rows = fc.array(row, { minLength: 1, maxLength: 6 });
// any width, the narrow ones (where most is cut) more often
const width = fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 250 }));

// The program's name without its directory, as ls keeps it.
const baseName = (program: string) => program.slice(program.lastIndexOf('/') + 1);

describe('the ls table, fitted to a width', () => {
  it('never has a line wider than the width', () => {
    fc.assert(
      fc.property(rows, width, (entries, width) => {
        const listing = layOutListing(entries, width);
        for (const line of [...listing.header, ...listing.rows.flat()]) expect(displayWidth(line)).toBeLessThanOrEqual(width);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('keeps, at 80 columns and more, a script name of up to 24 characters and its tags whole', () => {
    const short = row.filter((r) => displayWidth(baseName(r.COMMAND.program)) <= 24 && displayWidth(r.COMMAND.tags) <= 30);
    fc.assert(
      fc.property(fc.array(short, { minLength: 1, maxLength: 6 }), fc.integer({ min: 80, max: 250 }), (entries, width) => {
        const listing = layOutListing(entries, width);
        for (const [n, entry] of entries.entries()) {
          const shown = listing.rows[n]!.join('\n');
          expect(shown).toContain(baseName(entry.COMMAND.program));
          expect(shown).toContain(entry.COMMAND.tags);
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('gives every entry the same number of lines, one or two', () => {
    fc.assert(
      fc.property(rows, width, (entries, width) => {
        const listing = layOutListing(entries, width);
        const counts = new Set(listing.rows.map((lines) => lines.length));
        expect(counts.size).toBe(1);
        expect([...counts][0]).toBe(listing.header.length);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});

describe('the ls table for a pipe', () => {
  it('gives every value whole, one entry a line', () => {
    fc.assert(
      fc.property(rows, (entries) => {
        const listing = layOutListing(entries, null);
        for (const [n, entry] of entries.entries()) {
          expect(listing.rows[n]).toHaveLength(1);
          const line = listing.rows[n]![0]!;
          for (const value of [entry.KEY, entry.STATE, entry.CWD, entry.COMMAND.program, entry.COMMAND.args, entry.COMMAND.tags]) expect(line).toContain(value);
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});

describe('a command cut to a width', () => {
  const fetch = { program: '/home/alice/bin/fetch-customer-data.sh', args: '--region eu --since yesterday', tags: ' [-o out1.txt]' };

  it('cuts the arguments first, then the program’s directory, and keeps the tags', () => {
    expect(cutCommand(fetch, 200)).toBe('/home/alice/bin/fetch-customer-data.sh --region eu --since yesterday [-o out1.txt]');
    expect(cutCommand(fetch, 70)).toBe('/home/alice/bin/fetch-customer-data.sh --region eu --si… [-o out1.txt]');
    expect(cutCommand(fetch, 40)).toBe('…/fetch-customer-data.sh … [-o out1.txt]');
    // narrower than the name and the tags: what is left, the tags last
    expect(cutCommand(fetch, 39)).toBe('…/fetch-customer-data.sh… [-o out1.txt]');
    expect(cutCommand(fetch, 10)).toBe('/home/ali…');
  });
});
