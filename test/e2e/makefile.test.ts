import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { blockAfter, readDoc } from '../support/docs.js';
import { describe, expect, it } from '../support/fixture.js';
import { BIN } from '../support/sandbox.js';

// The README's Makefile recipe, as written, with `dcache` this checkout's
// (recipe lines start with a tab, which the page keeps).
const MAKEFILE = `${blockAfter(readDoc('README.md'), '### Makefile')
  .join('\n')
  .replace(/^\tdcache /m, `\t'${process.execPath}' '${BIN}' `)}\n`;

describe('dcache in a Makefile recipe', () => {
  it('restores a deleted target on the second make without running the fetch again', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'echo fetching; printf "customer,amount\\nacme,42\\n" > data.csv');
    writeFileSync(box.path('Makefile'), MAKEFILE);
    const first = box.shell('make -s');
    expect(first.code).toBe(0);
    expect(first.stdout.toString()).toBe('fetching\n');
    expect(first.stderr).toBe('');
    expect(fetch.runs()).toBe(1);
    const fetched = readFileSync(box.path('data.csv'), 'utf8');
    expect(fetched).toBe('customer,amount\nacme,42\n');

    rmSync(box.path('data.csv'));
    const second = box.shell('make -s');
    expect(second.code).toBe(0);
    expect(second.stdout.toString()).toBe('fetching\n');
    expect(second.stderr).toBe('');
    expect(fetch.runs()).toBe(1);
    expect(readFileSync(box.path('data.csv'), 'utf8')).toBe(fetched);
  });

  it('runs the fetch again for a deleted target on the next day', ({ box }) => {
    const fetch = box.counter('fetch.sh', 'date +%s%N > data.csv');
    writeFileSync(box.path('Makefile'), MAKEFILE);
    box.shell('make -s', { env: { DCACHE_NOW: '2024-08-27T09:00:00' } });
    const monday = readFileSync(box.path('data.csv'), 'utf8');
    rmSync(box.path('data.csv'));
    const next = box.shell('make -s', { env: { DCACHE_NOW: '2024-08-28T09:00:00' } });
    expect(next.code).toBe(0);
    expect(fetch.runs()).toBe(2);
    expect(readFileSync(box.path('data.csv'), 'utf8')).not.toBe(monday);
  });
});
