// dcache as a library: `import { cached } from 'dcache'`.
export { cached } from './library/cached.js';
export type { CachedEntry, CachedFunction, CachedOptions, EntryInfo, ErrorClass, PolicyCheck } from './library/types.js';
