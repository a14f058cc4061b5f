import { existsSync, readFileSync } from 'node:fs';
import Module from 'node:module';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO } from '../lib/paths.js';
import { readSourceMap } from './source-map.js';

// Reads .cpuprofile files (from `node --cpu-prof`) and says where the time
// went: self time per function and per bucket (Node's loader, V8's compiler,
// each bundled package, each dcache source file), and inclusive time per
// bucket (samples with that bucket anywhere on the stack).

// Buckets of frames that are not JavaScript of ours, by function name. A
// Map, not an object: a function named `constructor` or `toString` must not
// find Object.prototype's.
const NATIVE_BUCKETS = new Map([
  ['(garbage collector)', 'V8: garbage collection'],
  ['(program)', 'V8/Node native, no JS on the stack (program)'],
  ['(idle)', 'idle (event loop waiting)'],
]);

// `mapFor(distFileName)` returns a source map for a file in `dist`, or
// undefined; with it, frames in the minified bundle are attributed to the
// package or source file they came from.
export function createClassifier(dist, mapFor) {
  // A file of `dist`, or of a dist/ directory with the same files: code
  // loaded from V8's code cache keeps the path it was compiled under, which
  // for the snapshot being measured is the working tree's dist/.
  const isDistFile = (path) =>
    dirname(path) === dist || (basename(dirname(path)) === 'dist' && existsSync(join(dist, basename(path))));
  // Line 1 of a file run as `new vm.Script(Module.wrap(source))` (as
  // bin/dcache.js may do, for V8's code cache) is shifted right by the
  // wrapper; its top-level function then starts at the wrapper's parameter
  // list instead of at 0:0. learn() finds out, per file, from a profile.
  const wrapperParams = Module.wrapper[0].indexOf('(', 1);
  const lineOneShift = new Map();
  const readers = new Map();
  const readerFor = (name) => {
    if (!readers.has(name)) {
      const map = mapFor?.(name);
      readers.set(name, map ? readSourceMap(map) : null);
    }
    return readers.get(name);
  };

  const classify = (frame) => {
    const { functionName, url, lineNumber, columnNumber } = frame;
    if (NATIVE_BUCKETS.has(functionName)) return { bucket: NATIVE_BUCKETS.get(functionName), label: functionName };
    if (url.startsWith('wasm://')) return { bucket: 'WebAssembly code', label: `${functionName || '(anonymous)'} (wasm)` };
    if (url === '') return { bucket: 'Node: native bindings (C++ called from JS)', label: `${functionName || '(anonymous)'} (native)` };
    if (url.startsWith('node:')) return classifyNodeFrame(functionName, url, lineNumber);
    // A script compiled with vm.Script is named by a path, not a URL.
    if (!url.startsWith('file:') && !url.startsWith('/')) return { bucket: 'other', label: `${functionName} ${url}:${lineNumber + 1}` };
    const path = url.startsWith('file:') ? fileURLToPath(url) : url;
    const name = functionName || '(anonymous)';
    if (isDistFile(path)) {
      const file = basename(path);
      const reader = readerFor(file);
      const shift = lineNumber === 0 ? lineOneShift.get(file) : 0;
      // An unknown shift leaves line 1 unmapped rather than mapped wrong.
      const hit = shift === undefined || shift === null ? undefined : reader?.lookup(lineNumber, columnNumber - shift);
      if (!hit) {
        // No mapping: esbuild's own helpers (the chunk of __commonJS and
        // __toESM wrappers), or a module's top-level function, which holds
        // the top-level statements of every module bundled into it.
        const where = `dist/${file}:${lineNumber + 1}:${columnNumber + 1}`;
        const topLevel = lineNumber === 0 && columnNumber === (lineOneShift.get(file) ? wrapperParams : 0);
        const what = topLevel ? 'top-level code' : 'esbuild helpers';
        return { bucket: `dist/${file}: ${what} (no source)`, label: `${name} ${where} (${what})` };
      }
      const source = hit.source.replaceAll('\\', '/');
      const pkg = /.*node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(source);
      const where = pkg ? `${pkg[1]}/${pkg[2]}` : source.replace(/^.*?\bsrc\//, 'src/');
      const original = hit.name ?? (name === '(anonymous)' ? name : `${name} (minified)`);
      return {
        bucket: pkg ? `${pkg[1]} (bundled in dist/)` : `dcache ${where}`,
        label: `${original} ${where}:${hit.line + 1}`,
      };
    }
    const root = dirname(dist);
    const rel = path.startsWith(root) ? relative(root, path) : path.startsWith(REPO) ? relative(REPO, path) : basename(path);
    return { bucket: rel, label: `${name} ${rel}:${lineNumber + 1}` };
  };

  // Notes, from a profile's nodes, where each dist file's top-level function
  // starts: 0:0 when Node's module loader compiled it, the wrapper's
  // parameter list when it went through Module.wrap and vm.Script (no
  // function can start there in an unwrapped esbuild bundle, whose first
  // line opens with "use strict"). Returns the nodes by id.
  const learn = (nodes) => {
    const starts = new Map();
    for (const n of nodes) {
      const { url, functionName, lineNumber, columnNumber } = n.callFrame;
      if (functionName !== '' || lineNumber !== 0 || !(url.startsWith('file:') || url.startsWith('/'))) continue;
      const path = url.startsWith('file:') ? fileURLToPath(url) : url;
      if (!isDistFile(path)) continue;
      const file = basename(path);
      if (!starts.has(file)) starts.set(file, new Set());
      starts.get(file).add(columnNumber);
    }
    for (const [file, columns] of starts) {
      const shift = columns.has(wrapperParams) ? Module.wrapper[0].length : columns.has(0) ? 0 : null;
      if (shift === null) continue;
      lineOneShift.set(file, lineOneShift.has(file) && lineOneShift.get(file) !== shift ? null : shift);
    }
    return new Map(nodes.map((n) => [n.id, n]));
  };

  return { classify, learn };
}

function classifyNodeFrame(functionName, url, lineNumber) {
  const label = `${functionName || '(anonymous)'} ${url}:${lineNumber + 1}`;
  if (functionName === 'compileForInternalLoader') {
    return { bucket: "Node: compiling its own built-in modules on first require", label };
  }
  // Where Node hands user code to V8 to compile, or to load from a code
  // cache: ES modules, CommonJS modules, vm.Script.
  if (
    functionName === 'compileSourceTextModule' ||
    functionName === 'wrapSafe' ||
    (url === 'node:vm' && (functionName === 'Script' || functionName === 'runInThisContext'))
  ) {
    return { bucket: 'V8: compiling user code, or reading it from a code cache', label };
  }
  if (/^node:internal\/(modules|main)\//.test(url)) return { bucket: 'Node: module loader (resolve, read, link, run)', label };
  return { bucket: 'Node: other built-in JS (bootstrap, fs, streams, process)', label };
}

// Aggregates profiles; every figure is a mean per profile (per process), in ms.
export function summariseProfiles(paths, { classify, learn }) {
  const selfByLabel = new Map();
  const inclusiveByLabel = new Map();
  const bucketOfLabel = new Map();
  const selfByBucket = new Map();
  const inclusiveByBucket = new Map();
  let span = 0;
  const add = (map, key, value) => map.set(key, (map.get(key) ?? 0) + value);

  for (const path of paths) {
    const profile = JSON.parse(readFileSync(path, 'utf8'));
    span += profile.endTime - profile.startTime;
    const nodes = learn(profile.nodes);
    const parent = new Map();
    for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
    const info = new Map();
    const infoOf = (id) => {
      let known = info.get(id);
      if (known) return known;
      const node = nodes.get(id);
      const own = node.callFrame.functionName === '(root)' ? null : classify(node.callFrame);
      const above = parent.has(id) ? infoOf(parent.get(id)) : { buckets: new Set(), labels: new Set() };
      const buckets = own ? new Set([...above.buckets, own.bucket]) : above.buckets;
      const labels = own ? new Set([...above.labels, own.label]) : above.labels;
      if (own) bucketOfLabel.set(own.label, own.bucket);
      known = { own, buckets, labels };
      info.set(id, known);
      return known;
    };
    // Sample i lasts until sample i + 1 (timeDeltas[i + 1]); the last one
    // until the profile ends.
    let at = profile.startTime;
    const stamps = profile.timeDeltas.map((d) => (at += d));
    for (let i = 0; i < profile.samples.length; i++) {
      const duration = (i + 1 < stamps.length ? stamps[i + 1] : profile.endTime) - stamps[i];
      const { own, buckets, labels } = infoOf(profile.samples[i]);
      if (!own) continue;
      add(selfByLabel, own.label, duration);
      add(selfByBucket, own.bucket, duration);
      for (const bucket of buckets) add(inclusiveByBucket, bucket, duration);
      for (const label of labels) add(inclusiveByLabel, label, duration);
    }
  }

  const perRunMs = (us) => us / paths.length / 1000;
  const sorted = (map) =>
    [...map].map(([key, us]) => ({ key, ms: perRunMs(us) })).sort((x, y) => y.ms - x.ms);
  return {
    profiles: paths.length,
    spanMs: perRunMs(span),
    // Self time per function, with its inclusive time and bucket.
    functions: sorted(selfByLabel).map((f) => ({
      ...f,
      bucket: bucketOfLabel.get(f.key),
      inclusiveMs: perRunMs(inclusiveByLabel.get(f.key)),
    })),
    // Inclusive time per function, callers included.
    callers: sorted(inclusiveByLabel).map((f) => ({ ...f, bucket: bucketOfLabel.get(f.key) })),
    buckets: sorted(selfByBucket).map((b) => ({ ...b, inclusiveMs: perRunMs(inclusiveByBucket.get(b.key)) })),
  };
}
