import { fetchInto, type FetchContext } from '../fetch/fetch-into.js';

// dcache fetch: see src/fetch/fetch-into.ts, which the library's fetched()
// shares. Returns the exit code; throws ExitError for misuse (2) and for
// a fetch that failed (1).
export async function fetch(ctx: FetchContext): Promise<number> {
  await fetchInto(ctx);
  return 0;
}
