// How the library's cached() might store a value: v8.serialize against
// JSON (with a replacer and reviver that keep Dates, BigInts, Maps, Sets
// and byte arrays), on the values a data script returns. Prints a table.
// Run: node docs/investigations/2026-11-29-how-the-library-stores-a-value.cjs
const v8 = require('node:v8');

const rows = Array.from({ length: 100_000 }, (_, i) => ({
  id: i,
  name: `customer ${i}`,
  signedUp: new Date(1_700_000_000_000 + i * 1000),
  revenue: i * 1.25,
  tags: ['a', 'b'],
}));
const bytes = Buffer.alloc(64 << 20, 7);
const floats = new Float64Array(1 << 20).map((_, i) => i / 3);

function replacer(key, value) {
  const raw = this[key];
  if (raw instanceof Date) return { $t: 'date', v: raw.toISOString() };
  if (typeof raw === 'bigint') return { $t: 'bigint', v: raw.toString() };
  if (raw instanceof Map) return { $t: 'map', v: [...raw] };
  if (raw instanceof Set) return { $t: 'set', v: [...raw] };
  if (Buffer.isBuffer(raw)) return { $t: 'buffer', v: raw.toString('base64') };
  if (ArrayBuffer.isView(raw)) return { $t: raw.constructor.name, v: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') };
  return value;
}
function reviver(_key, value) {
  if (value && typeof value === 'object' && typeof value.$t === 'string') {
    switch (value.$t) {
      case 'date': return new Date(value.v);
      case 'bigint': return BigInt(value.v);
      case 'map': return new Map(value.v);
      case 'set': return new Set(value.v);
      case 'buffer': return Buffer.from(value.v, 'base64');
      default: {
        const b = Buffer.from(value.v, 'base64');
        return new globalThis[value.$t](b.buffer, b.byteOffset, b.byteLength / globalThis[value.$t].BYTES_PER_ELEMENT);
      }
    }
  }
  return value;
}

const formats = {
  'v8.serialize': { write: (v) => v8.serialize(v), read: (b) => v8.deserialize(b) },
  'JSON + tags': { write: (v) => Buffer.from(JSON.stringify(v, replacer)), read: (b) => JSON.parse(b.toString('utf8'), reviver) },
};

function time(fn, runs = 5) {
  const times = [];
  let out;
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    out = fn();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(runs / 2)], out };
}

console.log('| value | format | bytes | write (median of 5) | read (median of 5) |');
console.log('| --- | --- | --- | --- | --- |');
for (const [label, value] of [['100,000 rows (objects with a Date)', rows], ['a 64 MiB Buffer', bytes], ['a Float64Array of 1 Mi numbers', floats]]) {
  for (const [name, f] of Object.entries(formats)) {
    const w = time(() => f.write(value));
    const r = time(() => f.read(w.out));
    console.log(`| ${label} | ${name} | ${w.out.length.toLocaleString('en')} | ${w.ms.toFixed(1)} ms | ${r.ms.toFixed(1)} ms |`);
  }
}
