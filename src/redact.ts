// user:password@ in a URL becomes ***@: credentials are never printed or
// written to the cache directory.
export function redactCredentials(text: string): string {
  // Up to the last @: a password may hold an @, and in a URL that does not
  // parse, a / or a # as well.
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/).*@/is, '$1***@');
}
