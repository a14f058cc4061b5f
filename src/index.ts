// dcache as a library: `import { cached } from 'dcache'`.
export { cached } from './library/cached.js';
export type { CachedFunction, CachedOptions } from './library/cached.js';
