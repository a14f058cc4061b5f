import type { Result } from './errors.js';
import { fail, ok } from './errors.js';

// JSON documents that come from the cache directory or from a remote:
// manifests, leases, lock files, the activity log. Each is untrusted until
// checked, and is bounded in bytes and in nesting before it is parsed, so
// that no document can take a process's stack or memory: JSON.parse itself
// copes with any depth, but every later walk of the value (JSON.stringify
// when a manifest is published again, a deep equality) recurses.

export interface DocumentLimits {
  // the longest text accepted, in UTF-16 code units (bytes for ASCII)
  maxLength: number;
  // the deepest nesting of objects and arrays accepted
  maxDepth: number;
}

// A manifest holds one record per output file: a directory output of 200,000
// files is about 40 MB. Its deepest part, a key material's field, is 3 levels
// down; a newer version may nest more, not 32 levels.
export const MANIFEST_LIMITS: DocumentLimits = { maxLength: 64 << 20, maxDepth: 32 };
// leases, lock files, a blob's metadata, a line of the activity log
export const SMALL_DOCUMENT_LIMITS: DocumentLimits = { maxLength: 64 << 10, maxDepth: 8 };

// The parsed value, or why the text is not a document within the limits.
export function parseDocument(text: string, limits: DocumentLimits): Result<unknown, string> {
  if (text.length > limits.maxLength) return fail(`longer than ${limits.maxLength} characters`);
  const depth = nestingDepth(text, limits.maxDepth);
  if (depth > limits.maxDepth) return fail(`nested deeper than ${limits.maxDepth} levels`);
  try {
    return ok(JSON.parse(text) as unknown);
  } catch {
    return fail(text.trim() === '' ? 'empty' : 'not valid JSON');
  }
}

// The deepest nesting of brackets outside strings, counting no further than
// one past `stop`. Whether the text is JSON at all is JSON.parse's to say;
// this only has to be right for text that is.
export function nestingDepth(text: string, stop: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > stop) return deepest;
      }
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return deepest;
}
