import { formatInstant } from '../policy/clock.js';
import { storedZone } from '../store/local/gc.js';
import { formatAge } from '../policy/duration.js';
import { commandText, describeEntry, materialText } from './entry-info.js';
import type { KeyMaterial } from '../schema/key.js';
import type { Manifest } from '../schema/manifest.js';
import { ExitError } from '../core/errors.js';
import { escapeControls } from '../core/text.js';
import { createPalette } from '../terminal/messages.js';
import { formatSize } from '../core/size.js';
import { displayHash } from '../core/hash.js';
import { readActivity } from '../store/local/activity.js';
import { readCatalog, type Catalog, type CatalogEntry } from '../store/local/catalog.js';
import { describeFingerprint } from '../sources/registry.js';
import type { CacheCommandContext } from './context.js';
import { stateText } from './ls.js';

export const SHOW_JSON_VERSION = 1;

// dcache show: everything about one entry, found by a key prefix.
export async function show(ctx: CacheCommandContext, prefix: string, options: { json: boolean }): Promise<number> {
  const { store } = ctx;
  const catalog = readCatalog(store);
  const entry = findOne(catalog, prefix);
  const m = entry.manifest;
  const info = await describeEntry(entry, readActivity(ctx.dir), ctx.now);
  if (options.json) {
    const detail = {
      version: SHOW_JSON_VERSION,
      ...info,
      durationMs: m.durationMs,
      material: m.material,
      stdout: m.stdout,
      stderr: m.stderr,
      files: m.outputs,
      validators: m.validators,
      ...(m.fetched !== undefined ? { fetched: m.fetched } : {}),
    };
    ctx.stdout.write(`${JSON.stringify(detail, null, 2)}\n`);
    return 0;
  }
  const paint = createPalette(ctx.stdout, ctx.env, ctx.colour);
  // every time in the zone the entry's policies are judged in, as ls gives them
  const zone = storedZone(entry);
  const at = (t: number) => formatInstant(t, zone);
  const lines: Array<[string, string]> = [
    ['key', info.key],
    ...materialLines(m.material),
    ['recorded', `${at(m.recordedAt)} (${formatAge(ctx.now - m.recordedAt)} ago), ran ${m.durationMs} ms`],
    ['exit code', String(m.exitCode)],
    ['policies', info.policies.join(', ')],
    ['state', stateText(info, zone, ctx.now)],
    ['stdout', m.stdout ? `${formatSize(m.stdout.size)} (blob ${displayHash(m.stdout.hash)})` : 'empty'],
    ['stderr', m.stderr ? `${formatSize(m.stderr.size)} (blob ${displayHash(m.stderr.hash)})` : 'empty'],
    ['size', formatSize(info.bytes)],
    ['hits', `${info.hits}${info.lastHitAt ? `, last ${at(Date.parse(info.lastHitAt))}` : ''}`],
    ...(info.lastRefreshFailure === null
      ? []
      : [
          [
            'refresh',
            `${info.refreshFailures} background ${info.refreshFailures === 1 ? 'refresh' : 'refreshes'} failed, the last ${at(Date.parse(info.lastRefreshFailure.at))} (${info.lastRefreshFailure.failed}); the stale entry was kept`,
          ] as [string, string],
        ]),
    ...m.outputs.map((o): [string, string] => [
      'output',
      o.type === 'file'
        ? `${escapeControls(o.path)} (${formatSize(o.blob.size)}, mode ${o.mode.toString(8)})`
        : o.type === 'dir'
          ? `${escapeControls(o.path)}/ (mode ${o.mode.toString(8)})`
          : `${escapeControls(o.path)} -> ${escapeControls(o.target)}`,
    ]),
    ...m.validators.map((v): [string, string] => ['watch', `${escapeControls(v.source)}: ${describeFingerprint(v)}`]),
    ...fetchedLines(m.fetched),
  ];
  const width = Math.max(...lines.map(([label]) => label.length));
  for (const [label, value] of lines) ctx.stdout.write(`${paint.bold(label.padEnd(width))}  ${value}\n`);
  return 0;
}

// The objects of a fetch, the first few of them: key, path, size, identity.
const SHOWN_OBJECTS = 20;
function fetchedLines(fetched: Manifest['fetched']): Array<[string, string]> {
  if (fetched === undefined) return [];
  const lines = fetched.slice(0, SHOWN_OBJECTS).map((o): [string, string] => {
    const identity = [o.etag !== null ? `ETag ${o.etag}` : null, o.version !== null ? `version ${o.version}` : null].filter(Boolean).join(', ');
    return ['object', `${escapeControls(o.key)} -> ${o.path === '' ? '(stdout)' : escapeControls(o.path)} (${formatSize(o.size)}${identity ? `, ${escapeControls(identity)}` : ''})`];
  });
  if (fetched.length > SHOWN_OBJECTS) lines.push(['object', `and ${fetched.length - SHOWN_OBJECTS} more (dcache show --json lists them all)`]);
  return [['objects', String(fetched.length)], ...lines];
}

// The one entry a prefix names; an unknown prefix exits 1, an ambiguous one
// lists the candidates and exits 2.
export function findOne(catalog: Catalog, prefix: string): CatalogEntry {
  const matches = findByPrefix(catalog, prefix);
  if (matches.length > 1) {
    const list = matches.map((e) => `  ${e.key}  ${materialText(e.manifest.material)}`).join('\n');
    throw new ExitError(`key prefix '${prefix}' matches ${matches.length} entries; give more of the key:\n${list}`, 2);
  }
  return matches[0]!;
}

// The entries a prefix names (at least one); usage errors exit 2, no match 1.
export function findByPrefix(catalog: Catalog, prefix: string): CatalogEntry[] {
  if (!/^[0-9a-f]{1,16}$/i.test(prefix)) throw new ExitError(`'${prefix}' is not a key prefix; keys are 16 hexadecimal digits (see dcache ls)`, 2);
  const matches = catalog.entries.filter((e) => e.key.startsWith(prefix.toLowerCase()));
  if (matches.length === 0) throw new ExitError(`no entry's key starts with '${prefix}' (see dcache ls)`, 1);
  return matches;
}

// What selects the entry, line by line.
function materialLines(m: KeyMaterial): Array<[string, string]> {
  if (m.kind === 'function') {
    return [
      ['function', `${escapeControls(m.name)}()  (cached in a program with cached())`],
      ['source', `hash ${displayHash(m.source)}`],
      ['arguments', `hash ${displayHash(m.args)}`],
      ['namespace', m.namespace === null ? '(none)' : escapeControls(JSON.stringify(m.namespace))],
    ];
  }
  if (m.kind === 'fetch') {
    return [
      ['fetch', `${escapeControls(m.source)}  (dcache fetch)`],
      ['into', m.dest === null ? '(standard output)' : escapeControls(m.dest)],
      ['key text', m.extra === null ? '(none)' : escapeControls(JSON.stringify(m.extra))],
    ];
  }
  return [
    ['command', commandText(m.argv, m.shell) + (m.shell ? '  (through /bin/sh -c)' : '')],
    ['working directory', m.cwd === null ? '(not part of the key)' : escapeControls(m.cwd)],
    ...m.env.map(([name, hash]): [string, string] => ['environment', `${name} ${hash === null ? '(unset)' : `(value hash ${displayHash(hash)})`}`]),
    ['stdin', m.stdin === null ? '(not part of the key)' : `hash ${displayHash(m.stdin)}`],
    ['key text', m.extra === null ? '(none)' : escapeControls(JSON.stringify(m.extra))],
  ];
}
