// user:password@ in a URL becomes ***@: credentials are never printed or
// written to the cache directory.
export function redactCredentials(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#@]*@/i, '$1***@');
}
