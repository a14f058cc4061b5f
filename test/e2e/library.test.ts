import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import { startNode } from '../support/running.js';
import type { Sandbox } from '../support/sandbox.js';
import { waitUntil } from '../support/wait.js';

// The library as a user gets it: `npm pack`, the tarball installed into a
// fresh project, and scripts there that `import { cached } from 'dcache'`,
// each call in a process of its own, with time moved by DCACHE_NOW.

const root = resolve(import.meta.dirname, '../..');
let project: string;

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'dcache-library-'));
  // dist/ is already built by `npm test`; packing must not rebuild it
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', project], { cwd: root, encoding: 'utf8' });
  const [packed] = JSON.parse(out) as Array<{ filename: string }>;
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'data-scripts', version: '1.0.0', type: 'module', private: true }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', join(project, packed!.filename)], { cwd: project, stdio: 'ignore' });
}, 120_000);

afterAll(() => {
  rmSync(project, { recursive: true, force: true });
});

// A script in the project that calls a cached function once with the
// arguments given to it as JSON, and prints the result as JSON. Each run
// of the function appends a line to `runs` (in the sandbox).
function script(box: Sandbox, name: string, body: string): string {
  const path = join(project, `${name}-${createHash('sha256').update(box.root).digest('hex').slice(0, 8)}.mjs`);
  writeFileSync(path, body);
  return path;
}

function node(box: Sandbox, path: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return startNode(box, path, args, { cwd: project, env }).done;
}

const runsOf = (box: Sandbox) => {
  try {
    return readFileSync(box.path('runs'), 'utf8').split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
};

const loader = (box: Sandbox, options = "{ policy: 'daily' }", extra = '') => `
import { appendFileSync, existsSync } from 'node:fs';
import { cached } from 'dcache';
const loadRawCustomerData = cached(async function loadRawCustomerData(customer) {
  appendFileSync(${JSON.stringify(box.path('runs'))}, customer + '\\n');
  ${extra}
  return { customer, rows: [{ id: 1, signedUp: new Date(0) }], fetchedAt: process.env.DCACHE_NOW ?? 'now' };
}, ${options});
const result = await loadRawCustomerData(JSON.parse(process.argv[2]));
console.log(JSON.stringify(result));
`;

describe('cached() from the installed package', () => {
  it('keeps a value for the calendar day: calls at 09:00, 15:00 and 06:00 the next day run the function twice', async ({ box }) => {
    const path = script(box, 'daily', loader(box));
    const at = (when: string) => node(box, path, ['"acme"'], { DCACHE_NOW: when });
    const nine = await at('2026-11-24T09:00:00');
    const three = await at('2026-11-24T15:00:00');
    const six = await at('2026-11-25T06:00:00');
    expect([nine.code, three.code, six.code]).toEqual([0, 0, 0]);
    expect(runsOf(box)).toBe(2);
    expect(JSON.parse(three.stdout.toString())).toEqual(JSON.parse(nine.stdout.toString()));
    expect(JSON.parse(nine.stdout.toString())).toEqual({ customer: 'acme', rows: [{ id: 1, signedUp: '1970-01-01T00:00:00.000Z' }], fetchedAt: '2026-11-24T09:00:00' });
    expect(JSON.parse(six.stdout.toString()).fetchedAt).toBe('2026-11-25T06:00:00');
    expect(nine.stderr + three.stderr + six.stderr).toBe('');
  });

  it('says on stderr, with DCACHE_VERBOSE=1, whether it was a hit or a miss and what a miss recorded', async ({ box }) => {
    const path = script(box, 'verbose', loader(box));
    const miss = await node(box, path, ['"acme"'], { DCACHE_VERBOSE: '1' });
    const hit = await node(box, path, ['"acme"'], { DCACHE_VERBOSE: '1' });
    expect(miss.stderr.split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(/^dcache: miss \(no entry\); running loadRawCustomerData/),
      expect.stringMatching(/^dcache: recorded \d+ B in \d+ ms, fresh until /),
    ]);
    expect(hit.stderr).toMatch(/^dcache: hit: recorded \d+s ago /);
    expect(runsOf(box)).toBe(1);
  });

  it('keeps one entry per argument, listed by dcache ls and show under the function’s name', async ({ box }) => {
    const path = script(box, 'per-argument', loader(box));
    for (const customer of ['"acme"', '"beta"', '"acme"', '"beta"']) expect((await node(box, path, [customer])).code).toBe(0);
    expect(runsOf(box)).toBe(2);
    const listed = JSON.parse(box.dcache(['ls', '--json']).stdout.toString()) as { entries: Array<{ key: string; argv: string[]; function: string | null; hits: number }> };
    expect(listed.entries.map((e) => [e.function, e.argv, e.hits])).toEqual([
      ['loadRawCustomerData', ['loadRawCustomerData'], 1],
      ['loadRawCustomerData', ['loadRawCustomerData'], 1],
    ]);
    const shown = plain(box.dcache(['show', listed.entries[0]!.key]).stdout.toString());
    expect(shown).toMatch(/^function +loadRawCustomerData\(\) /m);
    expect(shown).toMatch(/^arguments +hash [0-9a-f]{16}$/m);
    expect(plain(box.dcache(['stats']).stdout.toString())).toMatch(/loadRawCustomerData\(\)/);
    expect(box.dcache(['clear', '--all']).code).toBe(0);
    await node(box, path, ['"acme"']);
    expect(runsOf(box)).toBe(3);
  });

  it('runs the function once for six processes that call it with one key at once, for longer than three leases', async ({ box }) => {
    const gate = box.path('gate');
    const path = script(box, 'concurrent', loader(box, "{ policy: 'daily' }", `while (!existsSync(${JSON.stringify(gate)})) await new Promise((r) => setTimeout(r, 20));`));
    // a 1 s lease, held for 3.5 s: the holder's renewals are what keep the others waiting
    const calls = Array.from({ length: 6 }, () => node(box, path, ['"acme"'], { DCACHE_LOCK_LEASE: '1s' }));
    await waitUntil('one process runs the function', () => runsOf(box) === 1);
    await new Promise((resolve) => setTimeout(resolve, 3500));
    writeFileSync(gate, '');
    const results = await Promise.all(calls);
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(new Set(results.map((r) => r.stdout.toString())).size).toBe(1);
    expect(runsOf(box)).toBe(1);
  });

  it('returns a recently stale value at once with staleWhileRevalidate, and refreshes it in the background of the process', async ({ box }) => {
    const gate = box.path('gate');
    const path = script(
      box,
      'swr',
      `
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { cached } from 'dcache';
const report = cached(async function dailyReport(name) {
  appendFileSync(${JSON.stringify(box.path('runs'))}, name + '\\n');
  if (process.env.WAIT) while (!existsSync(${JSON.stringify(gate)})) await new Promise((r) => setTimeout(r, 20));
  return 'report of ' + process.env.DCACHE_NOW;
}, { policy: 'daily', staleWhileRevalidate: '1d' });
console.log(await report('sales'));
writeFileSync(${JSON.stringify(box.path('printed'))}, '');
`,
    );
    expect((await node(box, path, [], { DCACHE_NOW: '2026-11-24T09:00:00' })).stdout.toString()).toBe('report of 2026-11-24T09:00:00\n');
    const stale = node(box, path, [], { DCACHE_NOW: '2026-11-25T09:00:00', WAIT: '1' });
    // the stale value is printed, and the refresh runs, waiting at the gate
    await waitUntil('the stale value is printed and the refresh runs', () => existsSync(box.path('printed')) && runsOf(box) === 2);
    writeFileSync(gate, '');
    expect((await stale).stdout.toString()).toBe('report of 2026-11-24T09:00:00\n');
    const next = await node(box, path, [], { DCACHE_NOW: '2026-11-25T10:00:00' });
    expect(next.stdout.toString()).toBe('report of 2026-11-25T09:00:00\n');
    expect(runsOf(box)).toBe(2);
  });

  it('does not keep a thrown error, unless cacheErrors; then it throws it again', async ({ box }) => {
    const body = (options: string) => `
import { appendFileSync } from 'node:fs';
import { cached } from 'dcache';
const check = cached(async function checkUpstream(name) {
  appendFileSync(${JSON.stringify(box.path('runs'))}, name + '\\n');
  throw new RangeError('upstream ' + name + ' is down');
}, ${options});
try { await check(process.argv[2]); } catch (e) { console.log(e.name + ': ' + e.message); }
`;
    const plainPath = script(box, 'errors', body('{}'));
    for (const _ of [1, 2]) expect((await node(box, plainPath, ['a'])).stdout.toString()).toBe('RangeError: upstream a is down\n');
    expect(runsOf(box)).toBe(2);
    const keeping = script(box, 'errors-kept', body('{ cacheErrors: true }'));
    for (const _ of [1, 2]) expect((await node(box, keeping, ['b'])).stdout.toString()).toBe('RangeError: upstream b is down\n');
    expect(runsOf(box)).toBe(3);
  });

  it('gives back a 50 MB Buffer byte for byte', async ({ box }) => {
    const path = script(
      box,
      'buffer',
      `
import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { cached } from 'dcache';
const fetchBlob = cached(function fetchBlob(seed) {
  appendFileSync(${JSON.stringify(box.path('runs'))}, 'x\\n');
  const bytes = Buffer.alloc(50 * 1000 * 1000);
  for (let i = 0; i < bytes.length; i += 4096) bytes[i] = (i / 4096 + seed) % 251;
  return bytes;
});
const bytes = await fetchBlob(Number(process.argv[2]));
console.log(Buffer.isBuffer(bytes), bytes.length, createHash('sha256').update(bytes).digest('hex'));
`,
    );
    const first = await node(box, path, ['7']);
    const second = await node(box, path, ['7']);
    expect(runsOf(box)).toBe(1);
    expect(second.stdout.toString()).toBe(first.stdout.toString());
    expect(first.stdout.toString()).toMatch(/^true 50000000 [0-9a-f]{64}\n$/);
  });

  it('names the bad argument in a TypeError, and the bad option', async ({ box }) => {
    const path = script(
      box,
      'misuse',
      `
import { cached } from 'dcache';
const f = cached(function f(x) { return x; });
try { await f({ when: () => 1 }); } catch (e) { console.log(e.constructor.name + ': ' + e.message); }
const g = cached(function g() { return 1; }, { policy: 'sometimes' });
try { await g(); } catch (e) { console.log(e.constructor.name + ': ' + e.message); }
`,
    );
    const out = (await node(box, path, [])).stdout.toString().split('\n');
    expect(out[0]).toBe(
      "TypeError: f(): argument 1.when is a function; a cached function's arguments may be JSON values, undefined, Dates, BigInts, Buffers, typed arrays, Maps and Sets",
    );
    expect(out[1]).toMatch(/^TypeError: cached\(g\): .*sometimes/);
  });

  it('keeps the function’s types (tsc on a small file)', ({ box }) => {
    const file = join(project, `types-${createHash('sha256').update(box.root).digest('hex').slice(0, 8)}.ts`);
    writeFileSync(
      file,
      `
import { cached, type CachedOptions } from 'dcache';
const options: CachedOptions = { policy: ['daily'], watch: 's3://exports/acme/customers.csv', key: 'v2' };
const load = cached(async function load(customer: string, limit: number) {
  return { customer, rows: [] as Array<{ id: number }>, limit };
}, options);
const result: Promise<{ customer: string; rows: Array<{ id: number }>; limit: number }> = load('acme', 10);
void result;
// @ts-expect-error the second argument is a number
void load('acme', '10');
// @ts-expect-error there are two parameters
void load('acme');
const sync = cached(function twice(x: number) { return x * 2; });
const doubled: Promise<number> = sync(2);
void doubled;
// @ts-expect-error policy is a string or a list of them
cached(function bad() { return 1; }, { policy: 3 });
`,
    );
    const config = `${file.slice(0, -3)}.tsconfig.json`;
    writeFileSync(
      config,
      JSON.stringify({
        compilerOptions: { noEmit: true, strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', types: [] },
        files: [file],
      }),
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    // an unused @ts-expect-error, or a type that does not fit, fails tsc
    const run = () => execFileSync(process.execPath, [tsc, '-p', config], { cwd: project, encoding: 'utf8' });
    expect(run).not.toThrow();
  });
});
