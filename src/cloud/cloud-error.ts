// A cloud that could not be asked, or said no: no credentials, a refusal
// (AccessDenied), no such bucket or object, a timeout. `code` is the
// cloud's own error code where it gave one (NoSuchKey, 403, ...), so that a
// message can name it. Expected: the caller turns it into "could not be
// checked" or "the remote failed", never a crash.
export class CloudError extends Error {
  constructor(
    message: string,
    readonly code: string,
    // the HTTP status, when there was an answer
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = 'CloudError';
  }
}

// Decodes the five XML entities the clouds' list and error bodies use.
export function xmlText(text: string): string {
  return text.replace(/&(quot|amp|lt|gt|apos|#(\d+)|#x([0-9a-f]+));/gi, (all, name: string, dec?: string, hex?: string) => {
    if (dec) return String.fromCodePoint(Number(dec));
    if (hex) return String.fromCodePoint(Number.parseInt(hex, 16));
    return { quot: '"', amp: '&', lt: '<', gt: '>', apos: "'" }[name.toLowerCase()] ?? all;
  });
}

// The text of each <tag>…</tag> in `xml`, decoded.
export function xmlValues(xml: string, tag: string): string[] {
  const found: string[] = [];
  const pattern = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g');
  for (let m = pattern.exec(xml); m !== null; m = pattern.exec(xml)) found.push(xmlText(m[1]!));
  return found;
}

// The text of the first <tag>…</tag>, or null.
export function xmlValue(xml: string, tag: string): string | null {
  return xmlValues(xml, tag)[0] ?? null;
}

// A request's failure in words: a timeout, or the network's own code
// (Node's error, or fetch's with Node's as its cause).
export function describeFetchFailure(err: unknown, timeoutMs: number): { message: string; code: string } {
  const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return { message: `no answer within ${timeoutMs / 1000} s`, code: 'Timeout' };
  if (typeof e.code === 'string' && e.code !== 'ABORT_ERR') return { message: e.message, code: e.code };
  const code = e.cause?.code ?? 'NetworkError';
  return { message: e.cause?.message ?? e.message, code };
}
