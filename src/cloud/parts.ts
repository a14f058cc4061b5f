// How a large upload is cut into parts (S3 multipart, Azure blocks): each
// part is streamed from the file in its own request, so memory holds no
// more than a stream's buffer whatever the size.

// A body up to this size goes in one request.
export const ONE_REQUEST_MAX = 16 << 20;
// the size of a part, or more for a body that would need more parts than
// the stores allow (S3: 10,000; Azure: 50,000)
export const PART_BYTES = 8 << 20;
const MAX_PARTS = 10_000;

export function partsOf(size: number): Array<{ start: number; end: number }> {
  if (size <= ONE_REQUEST_MAX) return [{ start: 0, end: size }];
  const MiB = 1 << 20;
  const partBytes = Math.max(PART_BYTES, Math.ceil(size / MAX_PARTS / MiB) * MiB);
  const parts: Array<{ start: number; end: number }> = [];
  for (let start = 0; start < size; start += partBytes) parts.push({ start, end: Math.min(size, start + partBytes) });
  return parts;
}
