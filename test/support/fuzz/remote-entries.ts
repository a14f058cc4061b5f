import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';

// The shapes of a hostile remote entry, for the fuzz harness
// (test/e2e/fuzz-remote-entries.test.ts): a real entry, recorded by a real
// dcache, then mutated field by field the way a writer of the remote could,
// with its blobs served short, long, wrong, missing, dripped or stalled.
// Each case says what it did, so that a counterexample reads as a story.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

// An entry as it was recorded: its manifest (parsed) and its blobs by hash.
export interface BaseEntry {
  key: string;
  manifest: Record<string, Json>;
  blobs: Map<string, Buffer>;
}

// How one blob is served.
export type BlobServing = 'as-is' | 'truncated' | 'extended' | 'flipped' | 'missing' | 'other-blob' | 'drip' | 'stall' | 'slow';

// What stands in the reader's working tree before the call.
export type TreeItem =
  | { path: string; kind: 'dir' | 'file' }
  | { path: string; kind: 'link'; target: string };

export interface FuzzCase {
  remote: 'file' | 'http';
  // none: no key anywhere; reader: the reader has a key, the entry is as
  // served; signed: the reader has a key and the mutated entry is signed
  // with it (a writer who holds the key: signing must not excuse anything)
  signing: 'none' | 'reader' | 'signed';
  edits: Edit[];
  // the text of the manifest, after the edits
  text: TextEdit;
  // by the index of the blob in the base entry's blob list
  blobs: BlobServing[];
  tree: TreeItem[];
}

export type Edit =
  | { edit: 'set'; field: string; value: Json }
  | { edit: 'ref'; stream: 'stdout' | 'stderr' | 'order'; to: RefChange }
  | { edit: 'add-records'; records: Json[] }
  | { edit: 'many-records'; count: number; type: 'dir' | 'file' }
  | { edit: 'duplicate-record' }
  | { edit: 'drop-records' }
  | { edit: 'nest'; field: string; depth: number }
  | { edit: 'inline'; change: 'drop' | 'garble' | 'swap' | 'pad' }
  | { edit: 'material'; change: 'argv' | 'kind' | 'cwd' | 'drop-outputs' };

export type RefChange = 'null' | 'other-blob' | 'random-hash' | 'huge-size' | 'negative-size' | 'size-minus-one' | 'size-plus-one';
export type TextEdit = 'as-is' | 'truncated' | 'garbage' | 'in-array' | 'bom' | 'padded';

const SEGMENTS = ['o', 'sub', 'a.txt', 'b.txt', '..', '.', '', 'x', 'b', 'deep'];
const TARGET_STEPS = ['..', '.', 'sub', 'x', 'b', 'a.txt', 'o', 'deep'];

// Paths of records: mostly under the declared output o/, some that leave
// it, climb out, or are absolute.
const recordPath = fc.oneof(
  { weight: 6, arbitrary: fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 4 }).map((parts) => ['o', ...parts].join('/')) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/')) },
  { weight: 1, arbitrary: fc.constantFrom('@outside/planted.txt', '/etc/dcache-fuzz', '@parent/planted') },
);

// Link targets built from the steps that defeat a textual check.
const linkTarget = fc.oneof(
  { weight: 6, arbitrary: fc.array(fc.constantFrom(...TARGET_STEPS), { minLength: 1, maxLength: 8 }).map((parts) => parts.join('/')) },
  { weight: 1, arbitrary: fc.constantFrom('/etc', '/', '@outside', '@parent', '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
);

const mode = fc.oneof(fc.constantFrom(0o644, 0o755, 0o7777, 0o4755, 0o1777, 0, -1, 0o10000, 1.5), fc.integer({ min: 0, max: 0o7777 }));

// A record of the outputs, in every type a manifest may name and some it may not.
function outputRecord(blobRefs: Json[]): fc.Arbitrary<Json> {
  return fc.oneof(
    fc.record({ path: recordPath, type: fc.constant('file'), mode, blob: fc.constantFrom(...blobRefs) }),
    fc.record({ path: recordPath, type: fc.constant('dir'), mode }),
    { weight: 2, arbitrary: fc.record({ path: recordPath, type: fc.constant('symlink'), target: linkTarget }) },
    fc.record({ path: recordPath, type: fc.constantFrom('fifo', 'socket', 'FILE'), mode }),
    fc.record({ path: fc.oneof(recordPath, fc.integer()), type: fc.constantFrom('file', 'dir', 'symlink') }),
  );
}

// Values that a field may be set to: right types with odd values, wrong
// types, and the deep and the large.
const oddValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom(null, true, 0, -1, 1.5, 2 ** 53, 1e308, '', '2', 'daily', [], {}, [[]], { format: 2 }),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
);

function edit(blobRefs: Json[]): fc.Arbitrary<Edit> {
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({
        edit: fc.constant('set' as const),
        field: fc.constantFrom('format', 'key', 'recordedAt', 'durationMs', 'exitCode', 'policies', 'tz', 'outputs', 'validators', 'stdout', 'stderr', 'order', 'origin'),
        value: fc.oneof(oddValue, fc.constantFrom(3, 255, 256, ['forever'], ['ttl:1s'], ['bogus'], 'Mars/Phobos', Date.UTC(2099, 0, 1))),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        edit: fc.constant('ref' as const),
        stream: fc.constantFrom('stdout' as const, 'stderr' as const, 'order' as const),
        to: fc.constantFrom<RefChange>('null', 'other-blob', 'random-hash', 'huge-size', 'negative-size', 'size-minus-one', 'size-plus-one'),
      }),
    },
    { weight: 5, arbitrary: fc.record({ edit: fc.constant('add-records' as const), records: fc.array(outputRecord(blobRefs), { minLength: 1, maxLength: 5 }) }) },
    { weight: 1, arbitrary: fc.record({ edit: fc.constant('many-records' as const), count: fc.integer({ min: 100, max: 5000 }), type: fc.constantFrom('dir' as const, 'file' as const) }) },
    { weight: 1, arbitrary: fc.constant({ edit: 'duplicate-record' as const }) },
    { weight: 1, arbitrary: fc.constant({ edit: 'drop-records' as const }) },
    { weight: 1, arbitrary: fc.record({ edit: fc.constant('nest' as const), field: fc.constantFrom('unknownField', 'outputs', 'material', 'validators'), depth: fc.constantFrom(2, 31, 33, 200, 6000) }) },
    { weight: 1, arbitrary: fc.record({ edit: fc.constant('inline' as const), change: fc.constantFrom('drop' as const, 'garble' as const, 'swap' as const, 'pad' as const) }) },
    { weight: 1, arbitrary: fc.record({ edit: fc.constant('material' as const), change: fc.constantFrom('argv' as const, 'kind' as const, 'cwd' as const, 'drop-outputs' as const) }) },
  );
}

const treeItem: fc.Arbitrary<TreeItem> = fc.oneof(
  fc.record({ path: fc.constantFrom('o', 'o/sub', 'o/x', 'o/b'), kind: fc.constantFrom('dir' as const, 'file' as const) }),
  fc.record({ path: fc.constantFrom('o', 'o/sub', 'o/x', 'o/b', 'o/a.txt'), kind: fc.constant('link' as const), target: fc.constantFrom('..', '.', '../..', '@outside', 'sub', '/etc', 'x/..') }),
);

// The cases, for an entry whose blobs are `blobCount` in number and whose
// blob references are `blobRefs`.
export function fuzzCases(blobRefs: Json[], blobCount: number, streamBlob: Record<'stdout' | 'stderr', number>): fc.Arbitrary<FuzzCase> {
  // Mostly one hostile thing at a time, on an entry otherwise whole: a case
  // whose every part is broken only ever shows that a broken entry is a
  // miss. Blobs are served as they are in most cases, and one is not in the others.
  const allAsIs = Array.from({ length: blobCount }, (): BlobServing => 'as-is');
  const oneBlob = (i: number, how: BlobServing) => allAsIs.map((asIs, j) => (j === i ? how : asIs));
  const blobs = fc.oneof(
    { weight: 7, arbitrary: fc.constant(allAsIs) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.nat({ max: blobCount - 1 }), fc.constantFrom<BlobServing>('truncated', 'extended', 'flipped', 'missing', 'other-blob', 'drip', 'stall', 'slow'))
        .map(([i, how]) => oneBlob(i, how)),
    },
  );
  const text = fc.oneof(
    { weight: 12, arbitrary: fc.constant<TextEdit>('as-is') },
    { weight: 1, arbitrary: fc.constantFrom<TextEdit>('truncated', 'garbage', 'in-array', 'bom', 'padded') },
  );
  const common = {
    remote: fc.constantFrom('file' as const, 'http' as const),
    signing: fc.constantFrom('none' as const, 'none' as const, 'none' as const, 'reader' as const, 'signed' as const),
    tree: fc.array(treeItem, { maxLength: 3 }),
  };
  // Links of the entry that name each other: chains, '..' after a link,
  // links to links, each a few steps over the names of the others.
  // A target walks through other links, climbs, then names something.
  const linkTarget: fc.Arbitrary<string[]> = fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom<string[]>(['.'], ['..'], ['sub']) },
    {
      weight: 4,
      arbitrary: fc
        .tuple(fc.array(fc.constantFrom(...LINK_NAMES), { maxLength: 3 }), fc.nat({ max: 4 }), fc.array(fc.constantFrom('a.txt', 'sub', 'x', '.'), { maxLength: 1 }))
        .map(([through, ups, last]) => [...through, ...Array.from({ length: ups }, () => '..'), ...last])
        .filter((parts) => parts.length > 0),
    },
  );
  const linkSet = fc.array(fc.record({ name: fc.constantFrom(...LINK_NAMES), target: linkTarget }), { minLength: 1, maxLength: 4 });
  return fc.oneof(
    // anything, a few edits at once
    { weight: 4, arbitrary: fc.record({ ...common, edits: fc.array(edit(blobRefs), { maxLength: 3 }), text, blobs }) },
    // links that name each other, on an entry otherwise whole
    {
      weight: 3,
      arbitrary: fc.record({
        ...common,
        edits: linkSet.map((links): Edit[] => [
          { edit: 'add-records', records: links.map((l) => ({ path: `o/${l.name}`, type: 'symlink', target: l.target.map((t) => t.replace(/^o\//, '')).join('/') })) },
        ]),
        text: fc.constant<TextEdit>('as-is'),
        blobs: fc.constant(allAsIs),
      }),
    },
    // a field nested deep, on an entry otherwise whole
    {
      weight: 1,
      arbitrary: fc.record({
        ...common,
        edits: fc
          .record({ field: fc.constantFrom('unknownField', 'validators', 'material'), depth: fc.constantFrom(31, 33, 6000) })
          .map(({ field, depth }): Edit[] => [{ edit: 'nest', field, depth }]),
        text: fc.constant<TextEdit>('as-is'),
        blobs: fc.constant(allAsIs),
      }),
    },
    // a blob that claims more than it is, served slowly, dripped or stalled
    {
      weight: 1,
      arbitrary: fc
        .record({
          ...common,
          stream: fc.constantFrom('stdout' as const, 'stderr' as const),
          to: fc.constantFrom<RefChange>('huge-size', 'size-plus-one'),
          how: fc.constantFrom<BlobServing>('drip', 'stall', 'slow', 'as-is'),
        })
        .map(({ stream, to, how, ...rest }) => ({
          ...rest,
          edits: [{ edit: 'ref' as const, stream, to }],
          text: 'as-is' as const,
          blobs: oneBlob(streamBlob[stream], how),
        })),
    },
  );
}

// The names the links of a case take, below o/: the entry's own files and
// folders among them.
const LINK_NAMES = ['b', 'x', 'l1', 'l2', 'sub/up', 'sub/x', 'o/b'];

// Where the markers of paths and targets point, in one case's sandbox.
export interface Places {
  outside: string;
  parent: string;
}

export function resolveMarkers(text: string, places: Places): string {
  return text.replace('@outside', places.outside).replace('@parent', places.parent);
}

// The manifest a case serves: the base entry with the edits applied, as
// text, signed if the case says so.
export function mutatedManifest(base: BaseEntry, c: FuzzCase, places: Places, signingKey: string): string {
  const m = structuredClone(base.manifest);
  const hashes = [...base.blobs.keys()];
  const records = () => (Array.isArray(m.outputs) ? m.outputs : (m.outputs = []));
  for (const e of c.edits) {
    switch (e.edit) {
      case 'set':
        m[e.field] = e.value;
        break;
      case 'ref': {
        const current = m[e.stream];
        const ref = typeof current === 'object' && current !== null && !Array.isArray(current) ? (current as { hash: string; size: number }) : null;
        const other = hashes.find((h) => h !== ref?.hash) ?? hashes[0]!;
        const change: Record<RefChange, () => Json> = {
          null: () => null,
          'other-blob': () => ({ hash: other, size: base.blobs.get(other)!.length }),
          'random-hash': () => ({ hash: sha256(`random ${e.stream}`), size: ref?.size ?? 5 }),
          'huge-size': () => ({ hash: ref?.hash ?? other, size: 10 * 2 ** 30 }),
          'negative-size': () => ({ hash: ref?.hash ?? other, size: -1 }),
          'size-minus-one': () => ({ hash: ref?.hash ?? other, size: Math.max(0, (ref?.size ?? 1) - 1) }),
          'size-plus-one': () => ({ hash: ref?.hash ?? other, size: (ref?.size ?? 0) + 1 }),
        };
        m[e.stream] = change[e.to]();
        break;
      }
      case 'add-records':
        records().push(...e.records.map((r) => withMarkers(r, places)));
        break;
      case 'many-records': {
        const file = (records() as Array<Record<string, Json>>).find((r) => r.type === 'file');
        for (let i = 0; i < e.count; i++) {
          records().push(e.type === 'dir' || file === undefined ? { path: `o/many/d${i}`, type: 'dir', mode: 0o755 } : { ...file, path: `o/many-${i}.txt` });
        }
        break;
      }
      case 'duplicate-record': {
        const list = records();
        if (list.length > 0) list.push(structuredClone(list[list.length - 1]!));
        break;
      }
      case 'drop-records':
        m.outputs = [];
        break;
      case 'nest':
        // (written into the text below: JSON.stringify itself overflows
        // its stack on a value some thousands of levels deep)
        m[e.field] = `@nest:${e.depth}`;
        break;
      case 'inline': {
        const inline = (typeof m.inline === 'object' && m.inline !== null && !Array.isArray(m.inline) ? m.inline : (m.inline = {})) as Record<string, Json>;
        if (e.change === 'drop') delete m.inline;
        else if (e.change === 'garble') for (const k of Object.keys(inline)) inline[k] = `${String(inline[k])}!!`;
        else if (e.change === 'swap') {
          const keys = Object.keys(inline);
          if (keys.length > 1) [inline[keys[0]!], inline[keys[1]!]] = [inline[keys[1]!]!, inline[keys[0]!]!];
        } else inline[hashes[0]!] = 'A'.repeat(1 << 16);
        break;
      }
      case 'material': {
        const material = m.material;
        if (typeof material !== 'object' || material === null || Array.isArray(material)) break;
        if (e.change === 'argv') material.argv = ['./other.sh'];
        else if (e.change === 'kind') material.kind = 'function-of-the-future';
        else if (e.change === 'cwd') material.cwd = places.outside;
        else material.outputs = [];
        break;
      }
    }
  }
  let text = JSON.stringify(m).replace(/"@nest:(\d+)"/g, (_all, depth: string) => `${'['.repeat(Number(depth))}${']'.repeat(Number(depth))}`);
  switch (c.text) {
    case 'as-is':
      break;
    case 'truncated':
      text = text.slice(0, Math.floor(text.length / 2));
      break;
    case 'garbage':
      text = '\u0000\uffff{"format":2,';
      break;
    case 'in-array':
      text = `[${text}]`;
      break;
    case 'bom':
      text = `\uFEFF${text}`;
      break;
    case 'padded':
      text = `${text.slice(0, -1)},"padding":"${'p'.repeat(2 << 20)}"}`;
      break;
  }
  if (c.signing === 'signed') {
    const id = createHash('sha256').update('dcache signing key id v1\0').update(signingKey).digest('hex').slice(0, 16);
    const mac = createHmac('sha256', Buffer.from(signingKey, 'utf8')).update(text, 'utf8').digest('hex');
    text = JSON.stringify({ signed: text, signature: `hmac-sha256:${id}:${mac}` });
  }
  return text;
}

// What a blob's bytes become when served as `how` (null: not served).
export function servedBytes(bytes: Buffer, how: BlobServing, other: Buffer): Buffer | null {
  switch (how) {
    case 'truncated':
      return bytes.subarray(0, Math.max(0, bytes.length - 1));
    case 'extended':
      return Buffer.concat([bytes, Buffer.from('tail')]);
    case 'flipped': {
      const copy = Buffer.from(bytes);
      if (copy.length > 0) copy[0] = copy[0]! ^ 0xff;
      return copy;
    }
    case 'missing':
      return null;
    case 'other-blob':
      return other;
    default:
      return bytes;
  }
}

function withMarkers(value: Json, places: Places): Json {
  if (typeof value === 'string') return resolveMarkers(value, places);
  if (Array.isArray(value)) return value.map((v) => withMarkers(v, places));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withMarkers(v, places)]));
  return value;
}

export function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
