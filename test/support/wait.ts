// Waiting for something another process does. A limit here is only the
// condition under which a test fails, never a measurement.

// Long enough that only something that hangs is stopped by it.
export const GENEROUS_MS = 30_000;

// Checks `condition` every 20 ms until it holds; fails the test after `limitMs`.
export async function waitUntil(
  what: string,
  condition: () => boolean | Promise<boolean>,
  limitMs = GENEROUS_MS,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
