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
