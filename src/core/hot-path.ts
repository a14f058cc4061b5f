// A hit is what the code caches of dist/ are for (src/launch/code-cache.ts):
// a process says it took that path with this event on `process`, and the
// launcher that loaded its bundle then keeps the bundle's cache as this
// process compiled it, once, if the cache was made by a process that did
// not (a miss compiles no replay code, and a hit would compile it anew each
// time). Without a launcher (the tests, the sources) no one listens.
export const HOT_PATH_EVENT = 'dcache:hot-path';

export function tookHotPath(): void {
  (process as NodeJS.EventEmitter).emit(HOT_PATH_EVENT);
}
