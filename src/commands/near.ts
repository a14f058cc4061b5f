import { formatAge } from '../policy/duration.js';
import type { CommandMaterial } from '../schema/key.js';
import { readCatalog } from '../store/local/catalog.js';
import type { LocalStore } from '../store/local/local-store.js';
import { escapeControls } from '../core/text.js';

// When a call has no entry: the entries of the same command line that were
// recorded with other options, and what differs, nearest first ("61615dbecef8,
// 3h ago, with -o data/raw.csv"). Reads every manifest: only asked for by
// status, clear -- and -v.
export function nearEntries(store: LocalStore, material: CommandMaterial, now: number, limit = 3): string[] {
  let entries;
  try {
    entries = readCatalog(store).entries;
  } catch {
    return [];
  }
  const found: Array<{ at: number; line: string; differences: number }> = [];
  for (const { key, manifest } of entries) {
    const other = manifest.material;
    if (other.kind !== 'command' || other.shell !== material.shell || JSON.stringify(other.argv) !== JSON.stringify(material.argv)) continue;
    const differs = differences(other, material);
    if (differs.length === 0) continue;
    found.push({
      at: manifest.recordedAt,
      differences: differs.length,
      line: `${key}, recorded ${formatAge(now - manifest.recordedAt)} ago, ${differs.join(', ')}`,
    });
  }
  return found
    .sort((a, b) => a.differences - b.differences || b.at - a.at)
    .slice(0, limit)
    .map((f) => f.line);
}

// What the entry's options were that this call's are not, as options.
function differences(entry: CommandMaterial, call: CommandMaterial): string[] {
  const out: string[] = [];
  for (const path of entry.outputs) if (!call.outputs.includes(path)) out.push(`with -o ${escapeControls(path)}`);
  for (const path of call.outputs) if (!entry.outputs.includes(path)) out.push(`without -o ${escapeControls(path)}`);
  const callEnv = new Map(call.env);
  const entryEnv = new Map(entry.env);
  for (const [name, hash] of entry.env) {
    if (!callEnv.has(name)) out.push(`with -e ${name}`);
    else if (callEnv.get(name) !== hash) out.push(`with another value of ${name}`);
  }
  for (const [name] of call.env) if (!entryEnv.has(name)) out.push(`without -e ${name}`);
  if (entry.stdin !== call.stdin) out.push(entry.stdin === null ? 'without --stdin' : call.stdin === null ? 'with --stdin' : 'with other stdin');
  if (entry.extra !== call.extra) out.push(entry.extra === null ? 'without --key' : `with --key ${escapeControls(JSON.stringify(entry.extra))}`);
  if (entry.cwd !== call.cwd) out.push(entry.cwd === null ? 'with --no-cwd' : `in ${escapeControls(entry.cwd)}`);
  return out;
}
