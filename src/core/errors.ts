// The one exception that is not a bug: the user has already been told what
// went wrong (or will be, by the CLI, from `message`), and the process should
// exit with `exitCode`. Everything else that is thrown is a bug.
export class ExitError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'ExitError';
  }
}

// Exit codes of `dcache run`, after GNU env and timeout.
export const EXIT_DCACHE_FAILED = 125;
export const EXIT_CANNOT_EXECUTE = 126;
export const EXIT_NOT_FOUND = 127;

// Ends an exhaustive switch: the compiler proves it unreachable, and if a
// malformed value gets here at run time it is a bug worth a loud failure.
export function unreachable(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}

// A value or the reason it could not be had; expected failures travel as values.
export type Result<T, E> = { ok: true; value: T } | { ok: false; error: E };

export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

export function fail<E>(error: E): { ok: false; error: E } {
  return { ok: false, error };
}

// A failure as a person reads it: the error code (ENOSPC) and its message.
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${code}: ${err.message.replace(/^[A-Z]+: /, '')}` : err.message;
  }
  return String(err);
}

// A failure of the operating system (a file that cannot be read, a full
// disk, a refused connection): expected where files and networks are used.
export function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
}
