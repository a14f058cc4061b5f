// Command lines for hyperfine (bench/hyperfine.js), which hands each one to
// bash: words quoted as a POSIX shell reads them.

export function quote(word) {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

// One command line from its words.
export function line(words) {
  return words.map(quote).join(' ');
}

// `node <words>` with the cache directory `dir` (this Node, or `node`).
export function withCache(dir, words, node = process.execPath) {
  return `DCACHE_DIR=${quote(dir)} ${line([node, ...words])}`;
}

// bash with pipefail, put before a pipeline, so that a failing command is
// not hidden by cat's success.
export const PIPEFAIL = 'set -o pipefail; ';
