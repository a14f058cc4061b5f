// A minimal reader for source map v3 `mappings`: enough to turn a position in
// a bundled file into the original file and line, to attribute profile samples.

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DIGIT = new Map([...BASE64].map((c, i) => [c, i]));

// Decodes one segment's base64 VLQ fields.
function decodeSegment(text) {
  const fields = [];
  let value = 0;
  let shift = 0;
  for (const c of text) {
    const digit = DIGIT.get(c);
    if (digit === undefined) throw new Error(`bad source map character '${c}'`);
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
    } else {
      fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return fields;
}

// Parses a source map into per-line arrays of
// { column, source, line, name } (0-based), sorted by column.
export function readSourceMap(map) {
  const lines = [];
  let source = 0;
  let line = 0;
  let sourceColumn = 0;
  let name = 0;
  for (const text of map.mappings.split(';')) {
    const segments = [];
    let column = 0;
    for (const part of text.split(',')) {
      if (part === '') continue;
      const f = decodeSegment(part);
      column += f[0];
      if (f.length < 4) continue;
      source += f[1];
      line += f[2];
      sourceColumn += f[3];
      if (f.length >= 5) name += f[4];
      segments.push({ column, source: map.sources[source], line, name: f.length >= 5 ? map.names[name] : undefined });
    }
    lines.push(segments);
  }
  return {
    // The mapping at or before (line, column), both 0-based, or undefined.
    lookup(atLine, atColumn) {
      const segments = lines[atLine];
      if (!segments || segments.length === 0) return undefined;
      let lo = 0;
      let hi = segments.length - 1;
      if (segments[0].column > atColumn) return undefined;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (segments[mid].column <= atColumn) lo = mid;
        else hi = mid - 1;
      }
      return segments[lo];
    },
  };
}
