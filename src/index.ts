// dcache as a library: `import { cached, fetched } from 'dcache'`.
export { cached } from './library/cached.js';
export type { CachedEntry, CachedFunction, CachedOptions, EntryInfo, ErrorClass, PolicyCheck } from './library/types.js';
export { fetched, FetchError } from './library/fetched.js';
export type { FetchedOptions } from './library/fetched.js';
