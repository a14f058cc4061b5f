// dcache as a library: `import { cached } from 'dcache'`.
export { cached } from './library/cached.js';
export type { CachedFunction } from './library/cached.js';
export type { CachedOptions } from './library/options.js';
