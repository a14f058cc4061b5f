import { readFileSync } from 'node:fs';
import { escapeControls } from '../core/text.js';

// Node decodes arguments as UTF-8 and replaces bytes that are not with
// U+FFFD, so a command would get, and be keyed by, other bytes than those
// given. Where the kernel shows the exact bytes (Linux's /proc/self/cmdline)
// they decide; elsewhere any U+FFFD is taken for a replaced byte.
export function findMangledArgument(argv: string[]): { index: number; shown: string } | null {
  if (!argv.some((arg) => arg.includes('\uFFFD'))) return null;
  let raw: Buffer[] | null = null;
  try {
    const parts = splitNul(readFileSync('/proc/self/cmdline'));
    if (parts.length >= argv.length) raw = parts.slice(parts.length - argv.length);
  } catch {
    // not Linux
  }
  for (const [index, arg] of argv.entries()) {
    if (!arg.includes('\uFFFD')) continue;
    const bytes = raw?.[index];
    if (bytes !== undefined && Buffer.from(arg, 'utf8').equals(bytes)) continue;
    return { index, shown: bytes === undefined ? escapeControls(arg) : showBytes(bytes) };
  }
  return null;
}

function splitNul(buffer: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < buffer.length; i++) {
    if (buffer[i] === 0) {
      parts.push(buffer.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < buffer.length) parts.push(buffer.subarray(start));
  return parts;
}

// Bytes as $'…' would write them: printable ASCII as is, the rest as \xHH.
function showBytes(bytes: Buffer): string {
  let text = '';
  for (const byte of bytes) {
    text += byte >= 0x20 && byte < 0x7f && byte !== 0x27 && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return `$'${text}'`;
}
