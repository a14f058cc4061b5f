import type { ActivityEvent } from '../../ports/tiers.js';
import { parseDocument, SMALL_DOCUMENT_LIMITS, type DocumentLimits } from '../../core/json-document.js';
import { appendFileSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirs } from './make-dirs.js';

// Hits and misses, for `stats`, and last use, for `ls` and gc's LRU order.
// A hit appends one short line to the day's log (the one write a hit makes);
// gc folds the logs of past days into summary.json.

export type { ActivityEvent } from '../../ports/tiers.js';

export interface KeyActivity {
  hits: number;
  // of which served from the remote cache
  remoteHits: number;
  misses: number;
  lastHitAt: number | null;
  savedMs: number;
  // background refreshes that failed (--stale-while-revalidate), and the last
  refreshFailures?: number;
  lastRefreshFailure?: { t: number; failed: string } | null;
  // the hits of the latest recording of the key that has any, made at or
  // after its record time (`at`): what ls and show count for an entry
  recording?: RecordingActivity;
}

export interface RecordingActivity {
  at: number;
  hits: number;
  remoteHits: number;
  lastHitAt: number | null;
}

export interface DayActivity {
  hits: number;
  misses: number;
  // the time the day's hits saved (absent in summaries written before it was counted)
  savedMs?: number;
}

export interface Activity {
  keys: Map<string, KeyActivity>;
  // by local date, YYYY-MM-DD
  days: Map<string, DayActivity>;
}

const SUMMARY = 'summary.json';

export function activityDir(root: string): string {
  return join(root, 'activity');
}

// The local calendar day, YYYY-MM-DD: what a person counts as "a day".
export function dayOf(t: number): string {
  const d = new Date(t);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

// Best effort: statistics never fail a run.
export function recordEvent(root: string, event: ActivityEvent): void {
  try {
    appendFileSync(join(activityDir(root), `${dayOf(event.t)}.log`), `${JSON.stringify(event)}\n`, { mode: 0o600 });
  } catch {
    // no activity directory yet, or not writable: the event is not counted
  }
}

export function readActivity(root: string): Activity {
  const dir = activityDir(root);
  const activity = loadSummary(dir);
  for (const name of logFiles(dir)) for (const event of readLog(join(dir, name))) addEvent(activity, event);
  return activity;
}

// Folds the logs of days before `today` into the summary, then removes them.
// Today's log is left alone: other processes are appending to it.
// `pid` makes the summary's temp name unique.
export function compactActivity(root: string, now: number, pid: number): void {
  const dir = activityDir(root);
  const today = dayOf(now);
  const old = logFiles(dir).filter((name) => name.slice(0, 10) < today);
  if (old.length === 0) return;
  const activity = loadSummary(dir);
  for (const name of old) for (const event of readLog(join(dir, name))) addEvent(activity, event);
  writeSummary(dir, activity, pid);
  for (const name of old) rmSync(join(dir, name), { force: true });
}

function loadSummary(dir: string): Activity {
  const activity: Activity = { keys: new Map(), days: new Map() };
  // no summary yet, or a damaged one: counting starts again
  let text: string;
  try {
    text = readFileSync(join(dir, SUMMARY), 'utf8');
  } catch {
    return activity;
  }
  const parsed = parseDocument(text, SUMMARY_LIMITS);
  if (!parsed.ok || typeof parsed.value !== 'object' || parsed.value === null) return activity;
  const summary = parsed.value as { keys?: unknown; days?: unknown };
  for (const [k, v] of recordsOf(summary.keys)) activity.keys.set(k, v as unknown as KeyActivity);
  for (const [d, v] of recordsOf(summary.days)) activity.days.set(d, v as unknown as DayActivity);
  return activity;
}

export function clearActivity(root: string): void {
  rmSync(activityDir(root), { recursive: true, force: true });
  makeDirs(activityDir(root), 0o700);
}

function writeSummary(dir: string, activity: Activity, pid: number): void {
  const temp = join(dir, `${SUMMARY}.${pid}.tmp`);
  writeFileSync(
    temp,
    JSON.stringify({ version: 1, keys: Object.fromEntries(activity.keys), days: Object.fromEntries(activity.days) }),
    { mode: 0o600 },
  );
  renameSync(temp, join(dir, SUMMARY));
}

function logFiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((name) => /^\d{4}-\d{2}-\d{2}\.log$/.test(name))
      .sort();
  } catch {
    return [];
  }
}

function readLog(path: string): ActivityEvent[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const events: ActivityEvent[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    // a line torn by a crash mid-append is skipped
    const parsed = parseDocument(line, SMALL_DOCUMENT_LIMITS);
    if (!parsed.ok || typeof parsed.value !== 'object' || parsed.value === null) continue;
    const e = parsed.value as ActivityEvent;
    if (typeof e.t === 'number' && typeof e.k === 'string' && (e.e === 'hit' || e.e === 'miss' || e.e === 'refresh-failed')) events.push(e);
  }
  return events;
}

function addEvent(activity: Activity, event: ActivityEvent): void {
  const key = activity.keys.get(event.k) ?? { hits: 0, remoteHits: 0, misses: 0, lastHitAt: null, savedMs: 0 };
  if (event.e === 'refresh-failed') {
    key.refreshFailures = (key.refreshFailures ?? 0) + 1;
    if (!key.lastRefreshFailure || event.t >= key.lastRefreshFailure.t) key.lastRefreshFailure = { t: event.t, failed: String(event.failed ?? 'failed') };
    activity.keys.set(event.k, key);
    return;
  }
  const day = activity.days.get(dayOf(event.t)) ?? { hits: 0, misses: 0 };
  if (event.e === 'hit') {
    key.hits += 1;
    if (event.remote) key.remoteHits = (key.remoteHits ?? 0) + 1;
    key.savedMs += Math.max(0, event.saved ?? 0);
    day.savedMs = (day.savedMs ?? 0) + Math.max(0, event.saved ?? 0);
    if (key.lastHitAt === null || event.t > key.lastHitAt) key.lastHitAt = event.t;
    day.hits += 1;
    // A hit before a recording (by the clock of its call) cannot be one of it.
    if (typeof event.r === 'number' && event.t >= event.r) {
      if (key.recording === undefined || event.r > key.recording.at) key.recording = { at: event.r, hits: 0, remoteHits: 0, lastHitAt: null };
      const current = key.recording;
      if (current.at === event.r) {
        current.hits += 1;
        if (event.remote) current.remoteHits += 1;
        if (current.lastHitAt === null || event.t > current.lastHitAt) current.lastHitAt = event.t;
      }
    }
  } else {
    key.misses += 1;
    day.misses += 1;
  }
  activity.keys.set(event.k, key);
  activity.days.set(dayOf(event.t), day);
}

// The summary holds a small record per key and per day: 100,000 keys are
// about 10 MB.
const SUMMARY_LIMITS: DocumentLimits = { maxLength: 64 << 20, maxDepth: 4 };

// The fields of a summary's map whose values are records of numbers (what
// addEvent writes); anything else in it is left out.
function recordsOf(map: unknown): Array<[string, Record<string, unknown>]> {
  if (typeof map !== 'object' || map === null || Array.isArray(map)) return [];
  return Object.entries(map as Record<string, unknown>).filter(
    (pair): pair is [string, Record<string, unknown>] => typeof pair[1] === 'object' && pair[1] !== null && !Array.isArray(pair[1]),
  ).map(([k, v]) => [k, { ...v }]);
}
