import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

  it('hands what the function threw to every process that waited for that call, once, and calls it again afterwards', async ({ box }) => {
    const gate = box.path('gate');
    const path = script(
      box,
      'concurrent-throw',
      `
import { appendFileSync, existsSync } from 'node:fs';
import { cached } from 'dcache';
const load = cached(async function load(customer) {
  appendFileSync(${JSON.stringify(box.path('runs'))}, customer + '\\n');
  while (!existsSync(${JSON.stringify(gate)})) await new Promise((r) => setTimeout(r, 20));
  throw Object.assign(new RangeError('upstream answered 503'), { code: 'E503' });
}, { policy: 'daily' });
try {
  await load('acme');
} catch (err) {
  console.log(JSON.stringify({ name: err.name, message: err.message, code: err.code }));
}
`,
    );
    const calls = Array.from({ length: 4 }, () => node(box, path, []));
    await waitUntil('one process calls the function', () => runsOf(box) === 1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    writeFileSync(gate, '');
    const results = await Promise.all(calls);
    expect(runsOf(box)).toBe(1);
    for (const r of results) expect(JSON.parse(r.stdout.toString())).toEqual({ name: 'RangeError', message: 'upstream answered 503', code: 'E503' });
    // not kept (no cacheErrors): a call that starts now calls it again
    await node(box, path, []);
    expect(runsOf(box)).toBe(2);
  });

  it('hands what the function threw to every concurrent call in one process, calling it once', async ({ box }) => {
    const path = script(
      box,
      'concurrent-throw-one-process',
      `
import { appendFileSync } from 'node:fs';
import { cached } from 'dcache';
const load = cached(async function load(customer) {
  appendFileSync(${JSON.stringify(box.path('runs'))}, customer + '\\n');
  await new Promise((r) => setTimeout(r, 1500));
  throw new Error('upstream answered 503');
}, { policy: 'daily' });
const settled = await Promise.allSettled([load('acme'), load('acme'), load('acme'), load('acme')]);
console.log(JSON.stringify(settled.map((s) => s.status === 'rejected' ? s.reason.message : 'fulfilled')));
`,
    );
    const r = await node(box, path, []);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toEqual(Array.from({ length: 4 }, () => 'upstream answered 503'));
    expect(runsOf(box)).toBe(1);
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
try { cached(function g() { return 1; }, { policy: 'sometimes' }); } catch (e) { console.log(e.constructor.name + ': ' + e.message); }
`,
    );
    const out = (await node(box, path, [])).stdout.toString().split('\n');
    expect(out[0]).toBe(
      "TypeError: f(): argument 1.when is a function; a cached function's arguments may be JSON values, undefined, Dates, BigInts, Buffers, typed arrays, Maps and Sets",
    );
    expect(out[1]).toMatch(/^TypeError: cached\(g\): .*sometimes/);
  });

  it('checks every option when cached() is called, before any call: a TypeError naming the option and what it accepts, or the nearest known option', async ({ box }) => {
    const path = script(
      box,
      'options',
      `
import { appendFileSync } from 'node:fs';
import { cached } from 'dcache';
function load(x) { appendFileSync(${JSON.stringify(box.path('runs'))}, 'x\\n'); return x; }
for (const options of [{ dir: 3 }, { policy: true }, { policy: 'sometimes' }, { polcy: 'daily' }, { tz: 'Mars/Olympus' }]) {
  try { cached(load, options); console.log('accepted'); } catch (e) { console.log(e.constructor.name + ': ' + e.message); }
}
`,
    );
    const result = await node(box, path, []);
    expect(result.stderr).toBe('');
    const out = result.stdout.toString().trim().split('\n');
    expect(out).toEqual([
      'TypeError: cached(load): options.dir must be a directory path, or null for no caching; got 3',
      expect.stringMatching(/^TypeError: cached\(load\): options\.policy must be a policy \(daily, .*\), a function \(entry\) => boolean, or a list of them; got true$/),
      expect.stringMatching(/^TypeError: cached\(load\): options\.policy 'sometimes' is not a policy; use daily, /),
      expect.stringMatching(/^TypeError: cached\(load\): unknown option 'polcy' \(did you mean policy\?\); the options are policy, /),
      expect.stringMatching(/^TypeError: cached\(load\): options\.tz 'Mars\/Olympus' is not a time zone; /),
    ]);
    expect(runsOf(box)).toBe(0);
  });

  it('never gives a bound function the result of another: partials of one function, or same-named targets, each in its own process', async ({ box }) => {
    const path = script(
      box,
      'bound',
      `
import { appendFileSync } from 'node:fs';
import { cached } from 'dcache';
const targets = {
  a: function part(prefix, n) { appendFileSync(${JSON.stringify(box.path('runs'))}, 'a\\n'); return 'a:' + prefix + n; },
  b: function part(prefix, n) { appendFileSync(${JSON.stringify(box.path('runs'))}, 'b\\n'); return 'b:' + prefix + n; },
};
const [target, prefix] = process.argv.slice(2);
const part = cached(targets[target].bind(null, prefix), { name: 'part' });
console.log(await part(7));
`,
    );
    const out = async (target: string, prefix: string) => (await node(box, path, [target, prefix])).stdout.toString();
    expect(await out('a', 'P1')).toBe('a:P17\n');
    expect(await out('a', 'P2')).toBe('a:P27\n');
    expect(await out('b', 'P1')).toBe('b:P17\n');
    expect(await out('a', 'P1')).toBe('a:P17\n');
    expect(runsOf(box)).toBe(3);
  });

  it('refuses a method bound to an instance unless key names the binding; two instances with two keys keep two entries', async ({ box }) => {
    const path = script(
      box,
      'bound-method',
      `
import { appendFileSync } from 'node:fs';
import { cached } from 'dcache';
class Api {
  constructor(base) { this.base = base; }
  fetch(path) { appendFileSync(${JSON.stringify(box.path('runs'))}, this.base + '\\n'); return this.base + path; }
}
const [base, key] = process.argv.slice(2);
const api = new Api(base);
try {
  const fetch = cached(api.fetch.bind(api), { name: 'fetch', ...(key ? { key } : {}) });
  console.log(await fetch('/customers'));
} catch (e) { console.log(e.constructor.name + ': ' + e.message); }
`,
    );
    const refused = await node(box, path, ['https://eu']);
    expect(refused.stdout.toString()).toMatch(/^TypeError: cached\(fetch\): the function is bound to a Api \(its bound this\), which cannot be part of the key; .* pass options\.key/);
    expect((await node(box, path, ['https://eu', 'eu'])).stdout.toString()).toBe('https://eu/customers\n');
    expect((await node(box, path, ['https://us', 'us'])).stdout.toString()).toBe('https://us/customers\n');
    expect((await node(box, path, ['https://eu', 'eu'])).stdout.toString()).toBe('https://eu/customers\n');
    expect(runsOf(box)).toBe(2);
  });

  it('starts new entries when the target of a bound function is edited', async ({ box }) => {
    const body = (suffix: string) => `
import { appendFileSync } from 'node:fs';
import { cached } from 'dcache';
function report(name) { appendFileSync(${JSON.stringify(box.path('runs'))}, 'x\\n'); return name + '${suffix}'; }
console.log(await cached(report.bind(null), { name: 'report' })('sales'));
`;
    const path = script(box, 'bound-edit', body(' v1'));
    expect((await node(box, path, [])).stdout.toString()).toBe('sales v1\n');
    writeFileSync(path, body(' v2'));
    expect((await node(box, path, [])).stdout.toString()).toBe('sales v2\n');
    expect(runsOf(box)).toBe(2);
  });

  it('keys by version instead of the source text: two builds of one function share entries, another version does not', async ({ box }) => {
    const body = (source: string, version: string) => `
import { appendFileSync } from 'node:fs';
import { cached } from 'dcache';
const load = cached(${source}, { version: ${JSON.stringify(version)} });
console.log(await load('acme'));
`;
    const counted = `appendFileSync(${JSON.stringify(box.path('runs'))}, 'x\\n')`;
    // as tsc writes it, and as a minifier does
    const built = script(box, 'version-built', body(`async function load(customer) {\n    ${counted};\n    return customer.toUpperCase();\n}`, '2024-06'));
    const minified = script(box, 'version-min', body(`async function load(c){${counted};return c.toUpperCase()}`, '2024-06'));
    const next = script(box, 'version-next', body(`async function load(c){${counted};return c.toUpperCase()}`, '2024-07'));
    expect((await node(box, built, [])).stdout.toString()).toBe('ACME\n');
    expect((await node(box, minified, [])).stdout.toString()).toBe('ACME\n');
    expect(runsOf(box)).toBe(1);
    expect((await node(box, next, [])).stdout.toString()).toBe('ACME\n');
    expect(runsOf(box)).toBe(2);
  });

  it('refuses a native function without a version, and caches it with one', async ({ box }) => {
    const path = script(
      box,
      'native',
      `
import { cached } from 'dcache';
try { cached(Math.max); } catch (e) { console.log(e.constructor.name + ': ' + e.message); }
console.log(await cached(Math.max, { version: 'node' })(1, 3, 2));
`,
    );
    const out = (await node(box, path, [])).stdout.toString().split('\n');
    expect(out[0]).toMatch(/^TypeError: cached\(max\): the function is a native function, whose source cannot be read; pass options\.version/);
    expect(out[1]).toBe('3');
  });

  it('calls the function every time and reads and writes nothing with enabled: false, or dir: null', async ({ box }) => {
    for (const option of ['enabled: false', 'dir: null']) {
      const path = script(
        box,
        `off-${option.split(':')[0]}`,
        `
import { appendFileSync } from 'node:fs';
import { cached } from 'dcache';
const load = cached(function load(x) { appendFileSync(${JSON.stringify(box.path('runs'))}, 'x\\n'); return { x }; }, { ${option} });
const handle = await load.entry(2);
console.log(JSON.stringify([await load(1), await load.check(1), await load.refresh(1), handle.stored, handle.key, await handle.get()]));
`,
      );
      for (const _ of [1, 2]) {
        const r = await node(box, path, []);
        expect(r.stderr).toBe('');
        expect(JSON.parse(r.stdout.toString())).toEqual([{ x: 1 }, false, { x: 1 }, false, null, { x: 2 }]);
      }
    }
    expect(runsOf(box)).toBe(12);
    expect(existsSync(box.cacheDir)).toBe(false);
  });

  it('says with check() whether a fresh entry exists, without calling the function', async ({ box }) => {
    const path = script(
      box,
      'check',
      `
import { appendFileSync } from 'node:fs';
import { cached } from 'dcache';
const load = cached(function load(x) { appendFileSync(${JSON.stringify(box.path('runs'))}, 'x\\n'); return x; }, { policy: 'daily' });
console.log(process.argv[2] === 'call' ? await load('acme') : await load.check('acme'));
`,
    );
    const step = async (what: string, when: string) => (await node(box, path, [what], { DCACHE_NOW: when })).stdout.toString();
    expect(await step('check', '2026-11-24T09:00:00')).toBe('false\n');
    expect(await step('call', '2026-11-24T09:00:00')).toBe('acme\n');
    expect(await step('check', '2026-11-24T15:00:00')).toBe('true\n');
    expect(await step('check', '2026-11-25T06:00:00')).toBe('false\n');
    expect(runsOf(box)).toBe(1);
  });

  it('calls the function and records its result with refresh(), whatever the cache holds', async ({ box }) => {
    const path = script(
      box,
      'refresh',
      `
import { appendFileSync } from 'node:fs';
import { cached } from 'dcache';
const report = cached(function report(x) { appendFileSync(${JSON.stringify(box.path('runs'))}, 'x\\n'); return x + ' at ' + process.env.DCACHE_NOW; });
console.log(process.argv[2] === 'refresh' ? await report.refresh('sales') : await report('sales'));
`,
    );
    const step = async (what: string, when: string) => (await node(box, path, [what], { DCACHE_NOW: when })).stdout.toString();
    expect(await step('call', '2026-11-24T09:00:00')).toBe('sales at 2026-11-24T09:00:00\n');
    expect(await step('refresh', '2026-11-24T10:00:00')).toBe('sales at 2026-11-24T10:00:00\n');
    expect(await step('call', '2026-11-24T11:00:00')).toBe('sales at 2026-11-24T10:00:00\n');
    expect(runsOf(box)).toBe(2);
  });

  it('gives with entry() a handle whose value is read only by get(), and whose clear() removes the entry and its bytes', async ({ box }) => {
    const path = script(
      box,
      'entry',
      `
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cached } from 'dcache';
const load = cached(function load(x) { appendFileSync(${JSON.stringify(box.path('runs'))}, 'x\\n'); return { rows: [x, x] }; });
const step = process.argv[2];
if (step === 'damage') {
  // the stored value's bytes, changed but not their length
  const blobs = join(process.env.DCACHE_DIR, 'blobs');
  for (const dir of readdirSync(blobs)) for (const name of readdirSync(join(blobs, dir))) {
    const bytes = readFileSync(join(blobs, dir, name));
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(join(blobs, dir, name), bytes);
  }
}
const handle = await load.entry('acme');
if (step === 'clear') { await handle.clear(); console.log('cleared'); }
else {
  try { console.log(JSON.stringify([handle.key, handle.stored, handle.recordedAt.toISOString(), await handle.get()])); }
  catch (e) { console.log(e.code + ': ' + e.message); }
}
`,
    );
    const step = async (what: string) => (await node(box, path, [what], { DCACHE_NOW: '2026-11-24T09:00:00Z' })).stdout.toString();
    const [key, stored, recordedAt, value] = JSON.parse(await step('get')) as [string, boolean, string, unknown];
    expect([stored, recordedAt, value]).toEqual([true, '2026-11-24T09:00:00.000Z', { rows: ['acme', 'acme'] }]);
    const listed = JSON.parse(box.dcache(['ls', '--json']).stdout.toString()) as { entries: Array<{ key: string }> };
    expect(listed.entries.map((e) => e.key)).toEqual([key]);
    expect(JSON.parse(await step('get'))).toEqual([key, true, recordedAt, value]);
    expect(runsOf(box)).toBe(1);
    // entry() does not read the value: damaged bytes are found by get() alone
    expect(await step('damage')).toBe(`DCACHE_ENTRY_GONE: load(): the entry ${key} was damaged and is dropped; call the function again\n`);
    expect(runsOf(box)).toBe(1);
    expect(JSON.parse(await step('get'))).toEqual([key, true, recordedAt, value]);
    expect(runsOf(box)).toBe(2);
    expect(await step('clear')).toBe('cleared\n');
    expect(JSON.parse(box.dcache(['ls', '--json']).stdout.toString()).entries).toEqual([]);
    expect(readdirSync(join(box.cacheDir, 'blobs'), { recursive: true }).filter((name) => String(name).length > 2)).toEqual([]);
    await step('get');
    expect(runsOf(box)).toBe(3);
  });

  it('takes a function as a policy, given what is known of the entry, alone or beside named policies, and all must hold', async ({ box }) => {
    const seen = box.path('seen');
    const path = script(
      box,
      'policy-function',
      `
import { appendFileSync } from 'node:fs';
import { cached } from 'dcache';
const young = (e) => {
  appendFileSync(${JSON.stringify(seen)}, JSON.stringify({ ...e, recordedAt: e.recordedAt.toISOString() }) + '\\n');
  return e.ageMs < 2 * 3600 * 1000;
};
const policy = process.argv[2] === 'alone' ? young : ['daily', young];
const load = cached(function load(x) { appendFileSync(${JSON.stringify(box.path('runs'))}, 'x\\n'); return x + ' ' + process.env.DCACHE_NOW; }, { policy });
console.log(await load(process.argv[2]));
`,
    );
    const call = async (how: string, when: string) => (await node(box, path, [how], { DCACHE_NOW: when })).stdout.toString().trim();
    expect(await call('mixed', '2026-11-24T21:00:00Z')).toBe('mixed 2026-11-24T21:00:00Z');
    expect(await call('mixed', '2026-11-24T22:00:00Z')).toBe('mixed 2026-11-24T21:00:00Z');
    // the function says yes (an hour old), the calendar day says no
    expect(await call('mixed', '2026-11-25T00:30:00Z')).toBe('mixed 2026-11-25T00:30:00Z');
    // the calendar day says yes, the function says no (three hours old)
    expect(await call('mixed', '2026-11-25T03:30:00Z')).toBe('mixed 2026-11-25T03:30:00Z');
    expect(runsOf(box)).toBe(3);
    // alone, across days: only the function decides
    expect(await call('alone', '2026-11-24T23:00:00Z')).toBe('alone 2026-11-24T23:00:00Z');
    expect(await call('alone', '2026-11-25T00:30:00Z')).toBe('alone 2026-11-24T23:00:00Z');
    expect(await call('alone', '2026-11-25T01:30:00Z')).toBe('alone 2026-11-25T01:30:00Z');
    expect(runsOf(box)).toBe(5);
    const first = JSON.parse(readFileSync(seen, 'utf8').split('\n')[0]!) as Record<string, unknown>;
    expect(first).toEqual({ name: 'load', recordedAt: '2026-11-24T21:00:00.000Z', durationMs: expect.any(Number), ageMs: 3600000, argsDigest: expect.stringMatching(/^[0-9a-f]{64}$/), threw: false });
  });

  it('leaves arguments out of the key by position with ignore, or keys by what a key function returns', async ({ box }) => {
    const path = script(
      box,
      'ignore',
      `
import { appendFileSync } from 'node:fs';
import { cached } from 'dcache';
function fetchRows(url, opts) { appendFileSync(${JSON.stringify(box.path('runs'))}, 'x\\n'); return url + ' ' + JSON.stringify(opts); }
const [how, url, opts] = process.argv.slice(2);
const options = how === 'ignore' ? { ignore: [1] } : { key: (u, o) => [u, o.region] };
console.log(await cached(fetchRows, options)(url, JSON.parse(opts)));
`,
    );
    const call = async (...args: string[]) => (await node(box, path, args)).stdout.toString();
    expect(await call('ignore', 'u1', '{"verbose":true}')).toBe('u1 {"verbose":true}\n');
    expect(await call('ignore', 'u1', '{"verbose":false}')).toBe('u1 {"verbose":true}\n');
    expect(await call('ignore', 'u2', '{"verbose":false}')).toBe('u2 {"verbose":false}\n');
    expect(runsOf(box)).toBe(2);
    expect(await call('key', 'u1', '{"region":"eu","verbose":true}')).toBe('u1 {"region":"eu","verbose":true}\n');
    expect(await call('key', 'u1', '{"region":"eu","verbose":false}')).toBe('u1 {"region":"eu","verbose":true}\n');
    expect(await call('key', 'u1', '{"region":"us","verbose":false}')).toBe('u1 {"region":"us","verbose":false}\n');
    expect(runsOf(box)).toBe(4);
  });

  it('calls a cached method with its this, keys instances apart by a key function, and refuses a method that reads this without one', async ({ box }) => {
    const path = script(
      box,
      'method',
      `
import { appendFileSync } from 'node:fs';
import { cached } from 'dcache';
const runs = ${JSON.stringify(box.path('runs'))};
class Api {
  constructor(base) { this.base = base; }
  fetch = cached(async function fetch(path) { appendFileSync(runs, 'x\\n'); return this.base + path; }, { key(path) { return [this.base, path]; } });
  unkeyed = cached(async function unkeyed(path) { return this.base + path; });
}
Api.prototype.list = cached(function list(n) { appendFileSync(runs, 'x\\n'); return this.base + '/list/' + n; }, { key(n) { return [this.base, n]; } });
// a function that reads no this, called on a namespace object
const util = { double: cached(function double(n) { return 2 * n; }) };
const api = new Api(process.argv[2]);
console.log(await api.fetch('/customers'), await api.list(3), await util.double(21));
try { await api.unkeyed('/x'); } catch (e) { console.log(e.constructor.name + ': ' + e.message); }
`,
    );
    const eu = (await node(box, path, ['https://eu'])).stdout.toString().split('\n');
    expect(eu[0]).toBe('https://eu/customers https://eu/list/3 42');
    expect(eu[1]).toMatch(/^TypeError: unkeyed\(\): called on a Api as its this, and the function reads this, which is not part of the key; pass options\.key, /);
    expect((await node(box, path, ['https://us'])).stdout.toString().split('\n')[0]).toBe('https://us/customers https://us/list/3 42');
    expect((await node(box, path, ['https://eu'])).stdout.toString().split('\n')[0]).toBe('https://eu/customers https://eu/list/3 42');
    expect(runsOf(box)).toBe(4);
  });

  it('throws a kept error again as the same class, with its name, message, code, cause and properties; a registered class of one’s own as itself', async ({ box }) => {
    const path = script(
      box,
      'errors-classes',
      `
import { appendFileSync } from 'node:fs';
import { cached } from 'dcache';
class HttpError extends Error { name = 'HttpError'; constructor(status, message) { super(message); this.status = status; } }
const made = {
  type: () => Object.assign(new TypeError('bad row', { cause: new RangeError('id out of range') }), { code: 'E_ROW', row: 7 }),
  aggregate: () => new AggregateError([new URIError('u'), 'plain'], 'both failed'),
  dom: () => new DOMException('the download was aborted', 'AbortError'),
  http: () => new HttpError(503, 'unavailable'),
  value: () => ({ status: 404 }),
};
const check = cached(async function checkUpstream(kind) { appendFileSync(${JSON.stringify(box.path('runs'))}, kind + '\\n'); throw made[kind](); }, { cacheErrors: true, errorClasses: [HttpError] });
try { await check(process.argv[2]); } catch (e) {
  console.log(JSON.stringify({
    class: e?.constructor?.name, name: e?.name, message: e?.message, code: e?.code, cause: e?.cause && [e.cause.constructor.name, e.cause.message],
    row: e?.row, status: e?.status, http: e instanceof HttpError, errors: e?.errors?.map((x) => x instanceof Error ? x.constructor.name + ': ' + x.message : x),
  }));
}
`,
    );
    const kinds = ['type', 'aggregate', 'dom', 'http', 'value'];
    const first = await Promise.all(kinds.map(async (kind) => (await node(box, path, [kind])).stdout.toString()));
    const again = await Promise.all(kinds.map(async (kind) => (await node(box, path, [kind])).stdout.toString()));
    expect(runsOf(box)).toBe(5);
    expect(again).toEqual(first);
    expect(again.map((line) => JSON.parse(line) as unknown)).toEqual([
      { class: 'TypeError', name: 'TypeError', message: 'bad row', code: 'E_ROW', cause: ['RangeError', 'id out of range'], row: 7, http: false },
      { class: 'AggregateError', name: 'AggregateError', message: 'both failed', http: false, errors: ['URIError: u', 'plain'] },
      { class: 'DOMException', name: 'AbortError', message: 'the download was aborted', code: 20, http: false },
      { class: 'HttpError', name: 'HttpError', message: 'unavailable', status: 503, http: true },
      { class: 'Object', status: 404, http: false },
    ]);
  });

  it('speaks of calling the function when it drops a damaged entry', async ({ box }) => {
    const path = script(box, 'damaged', loader(box));
    await node(box, path, ['"acme"']);
    rmSync(join(box.cacheDir, 'blobs'), { recursive: true });
    const r = await node(box, path, ['"acme"']);
    expect(r.stderr).toMatch(/^dcache: dropped a bad cache entry \(blob [0-9a-f]{16} is missing\); calling the function\n$/);
    expect(runsOf(box)).toBe(2);
  });

  it('writes a CACHEDIR.TAG and a .gitignore into the cache directory it creates', async ({ box }) => {
    const path = script(box, 'tags', loader(box, "{ dir: process.env.CACHE_HERE }"));
    const dir = box.path('project', '.cache', 'data');
    expect((await node(box, path, ['"acme"'], { CACHE_HERE: dir })).code).toBe(0);
    expect(readFileSync(join(dir, 'CACHEDIR.TAG'), 'utf8')).toMatch(/^Signature: 8a477f597d28d172789f06886806bc55\n/);
    expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toMatch(/^\*$/m);
  });

  it('keeps the function’s types (tsc on a small file)', ({ box }) => {
    const file = join(project, `types-${createHash('sha256').update(box.root).digest('hex').slice(0, 8)}.ts`);
    writeFileSync(
      file,
      `
import { cached, type CachedOptions } from 'dcache';
const options: CachedOptions = { policy: ['daily'], watch: 's3://exports/acme/customers.csv', key: 'v2', version: '3' };
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
// @ts-expect-error version is a string
cached(function v() { return 1; }, { version: 3 });
// @ts-expect-error an unknown option
cached(function u() { return 1; }, { polcy: 'daily' });
// @ts-expect-error dir is a path
cached(function d() { return 1; }, { dir: 3 });
cached(function off() { return 1; }, { dir: null, enabled: false });
// @ts-expect-error enabled is true or false
cached(function off() { return 1; }, { enabled: 'no' });
const checked: Promise<boolean> = load.check('acme', 10);
const refreshed: Promise<{ customer: string }> = load.refresh('acme', 10);
void checked, refreshed;
// @ts-expect-error check takes the function's parameters
void load.check('acme', '10');
async function handles() {
  const handle = await load.entry('acme', 10);
  const stored: { limit: number } = await handle.get();
  const key: string | null = handle.key;
  const when: Date = handle.recordedAt;
  await handle.clear();
  void stored, key, when;
}
void handles;
const fetchRows = cached(async function fetchRows(url: string, opts: { region: string; verbose: boolean }) {
  return [url, opts.region];
}, { key: (url, opts) => [url, opts.region], policy: ['daily', (e) => e.durationMs > 1000 && !e.threw && e.argsDigest !== ''] });
void fetchRows;
// @ts-expect-error the key function's parameters are the function's: url is a string
cached(async function rows(url: string) { return url; }, { key: (url) => url.toFixed() });
// @ts-expect-error ignore takes positions
cached(async function rows(url: string) { return url; }, { ignore: ['url'] });
// @ts-expect-error a policy function is given the entry's facts
cached(async function rows(url: string) { return url; }, { policy: (e) => e.agems > 1 });
class HttpError extends Error { status = 500; }
cached(async function rows(url: string) { return url; }, { cacheErrors: true, errorClasses: [HttpError] });
// @ts-expect-error an error class extends Error
cached(async function rows(url: string) { return url; }, { cacheErrors: true, errorClasses: [Date] });
class Api {
  base = 'https://eu';
  fetch = cached(async function fetch(this: Api, path: string) { return this.base + path; }, { key(path) { return [this.base, path]; } });
}
const api = new Api();
const fetched: Promise<string> = api.fetch('/x');
const present: Promise<boolean> = api.fetch.check.call(api, '/x');
void fetched, present;
// @ts-expect-error a method called without its this
void (0, api.fetch)('/x');
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
    const result = spawnSync(process.execPath, [tsc, '-p', config], { cwd: project, encoding: 'utf8' });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
