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
  library: ['core', 'ports', 'schema', 'policy', 'sources', 'store', 'process', 'engine', 'setup'],
  commands: ['core', 'ports', 'schema', 'policy', 'sources', 'store', 'process', 'engine', 'setup', 'terminal'],
  launch: [],
  cli: ['core', 'ports', 'schema', 'policy', 'sources', 'store', 'process', 'engine', 'setup', 'terminal', 'commands'],
};
