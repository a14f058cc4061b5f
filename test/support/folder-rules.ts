// The folders of src/ and the folders each may import (besides itself):
// the rule test/unit/import-cycles.test.ts enforces, and the "may import"
// column of docs/architecture.md's code map (test/docs/architecture.test.ts).
export const MAY_IMPORT: Record<string, readonly string[]> = {
  core: [],
  schema: ['core'],
  policy: ['core'],
  ports: ['core', 'schema'],
  cloud: ['core'],
  sources: ['core', 'ports', 'schema', 'policy', 'cloud'],
  store: ['core', 'ports', 'schema', 'policy', 'cloud'],
  process: ['core', 'ports', 'schema', 'store'],
  engine: ['core', 'ports', 'schema', 'policy', 'sources'],
  terminal: ['core', 'ports'],
  setup: ['core', 'ports', 'schema', 'policy', 'sources', 'store', 'engine'],
  // dcache fetch, which both front ends use: list, download, put in place
  fetch: ['core', 'ports', 'schema', 'policy', 'sources', 'store', 'process', 'engine', 'setup'],
  library: ['core', 'ports', 'schema', 'policy', 'sources', 'store', 'process', 'engine', 'setup', 'fetch'],
  commands: ['core', 'ports', 'schema', 'policy', 'sources', 'store', 'process', 'engine', 'setup', 'terminal', 'fetch'],
  launch: ['core'],
  cli: ['core', 'ports', 'schema', 'policy', 'sources', 'store', 'process', 'engine', 'setup', 'terminal', 'commands'],
};
