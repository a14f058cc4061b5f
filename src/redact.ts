// user:password@ in a URL becomes ***@: credentials are never printed or
// written to the cache directory.
export function redactCredentials(text: string): string {
  // up to the last @ of the authority: a password may hold an @ itself
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@');
}
