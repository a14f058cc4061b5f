// Set by the bundler from package.json; a plain `tsc`/vitest run sees none.
declare const DCACHE_VERSION: string | undefined;

export const version: string = typeof DCACHE_VERSION === 'string' ? DCACHE_VERSION : '0.0.0-dev';
