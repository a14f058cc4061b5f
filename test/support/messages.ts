import { expect } from 'vitest';

// What dcache says on stderr, as a test reads it.

// Removes colour codes so messages compare as plain text.
export function plain(text: string): string {
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}

// The lines dcache wrote of its own: stderr lines that start `dcache:`.
export function dcacheLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => plain(line).startsWith('dcache:'));
}

// A stack trace or an internal error: never acceptable in dcache's output.
export const CRASH = /internal error|^\s+at .+:\d+:\d+\)?$/m;

// stderr without the closing line of a -v miss ("dcache: recorded 8 B in
// 117 ms, fresh forever"), which it must end with: for tests that compare
// the lines before it exactly.
export function beforeRecordedLine(stderr: string): string {
  const text = plain(stderr);
  const m = /dcache: recorded \d+(?:\.\d+)? [KMG]?i?B in [^\n]+, fresh [^\n]+\n$/.exec(text);
  if (m === null) throw new Error(`stderr does not end with a "recorded" line:\n${text}`);
  return text.slice(0, m.index);
}

// A refused call: the exit code, nothing on stdout, and one line on stderr,
// dcache's own, that says `message`.
export function expectOneLineRefusal(r: { code: number | null; stdout: Buffer | string; stderr: string }, code: number, message: RegExp): void {
  expect(r.code).toBe(code);
  expect(r.stdout.length).toBe(0);
  const lines = plain(r.stderr).trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^dcache: /);
  expect(lines[0]).toMatch(message);
}
