import type { Result } from './errors.js';
import { fail, ok } from './errors.js';

const UNITS: Record<string, number> = { b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

export const SIZE_EXAMPLES = '500M, 5G, 1.5T (B for bytes)';

// A size such as 500M or 5G; units are powers of 1024 (B, K, M, G, T, with
// an optional i and B: 5G = 5GB = 5GiB). A unit is required: `500` meant as
// 500 MB would otherwise empty a cache.
export function parseSize(text: string): Result<number, string> {
  const m = /^(\d+(?:\.\d+)?)\s*(b|[kmgt](?:i?b)?)$/i.exec(text.trim());
  if (!m) return fail(`'${text}' is not a size; use a number and a unit: ${SIZE_EXAMPLES}`);
  const value = Math.round(Number(m[1]) * UNITS[m[2]!.charAt(0).toLowerCase()]!);
  if (!Number.isSafeInteger(value)) return fail(`'${text}' is too large a size`);
  return ok(value);
}

// 1.2 GiB, 340 MiB, 12 KiB, 512 B
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

// Two sizes to be told apart (recorded and found, before and now): as
// formatSize gives them, or in bytes when the rounding would make them read
// the same (1.2 MiB and 1.2 MiB).
export function formatSizePair(a: number, b: number): [string, string] {
  const [x, y] = [formatSize(a), formatSize(b)];
  return x === y && a !== b ? [`${a} B`, `${b} B`] : [x, y];
}
