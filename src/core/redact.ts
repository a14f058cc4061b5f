// Secrets in URLs are never printed or written to the cache directory:
// user:password@ becomes ***@, and the value of a query parameter that signs
// the URL or carries a credential becomes ***.

// Parameters that sign a URL: S3's and GCS's V4 signatures, their older
// forms, and (only beside `sig`) an Azure SAS. They say who may fetch the
// object until when, not which object it is.
const ALWAYS_SIGNING = /^(x-amz-.+|x-goog-.+|awsaccesskeyid|googleaccessid|signature)$/i;
const AZURE_SAS = /^(sig|sv|ss|srt|sp|se|st|spr|sip|sr|si|sdd|ses|skoid|sktid|skt|ske|sks|skv|saoid|suoid|scid)$/i;
// Names like these carry credentials, whatever the service.
const CREDENTIAL = /sig|token|key|pass(word|wd)?|pwd|secret|credential|auth/i;

// Whether a query parameter only signs the URL it is in.
export function isSigningParam(name: string, all: URLSearchParams): boolean {
  if (ALWAYS_SIGNING.test(name)) return true;
  if (/^expires$/i.test(name)) return all.has('Signature') || all.has('signature');
  return all.has('sig') && AZURE_SAS.test(name);
}

function isSecretParam(name: string, all: URLSearchParams): boolean {
  return isSigningParam(name, all) || CREDENTIAL.test(name);
}

// A URL (or anything that looks like one) as it may be shown or stored. The
// text is kept as given but for the secrets, which the parsed URL points out.
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return redactUnparsed(text);
  }
  let shown = text;
  // userinfo ends at the last @ before the path, query or fragment
  if (url.username !== '' || url.password !== '') shown = shown.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@');
  const start = shown.indexOf('?');
  if (start === -1 || url.search === '') return shown;
  const end = shown.indexOf('#', start);
  const query = shown.slice(start + 1, end === -1 ? undefined : end);
  return `${shown.slice(0, start + 1)}${redactQuery(query, url.searchParams)}${end === -1 ? '' : shown.slice(end)}`;
}

// Each secret parameter's value becomes ***, in place, the rest untouched.
function redactQuery(query: string, all: URLSearchParams): string {
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq === -1) return pair;
      let name: string;
      try {
        name = decodeURIComponent(pair.slice(0, eq).replace(/\+/g, ' '));
      } catch {
        name = pair.slice(0, eq);
      }
      return isSecretParam(name, all) ? `${pair.slice(0, eq)}=***` : pair;
    })
    .join('&');
}

// A string that is not a URL: credentials before the last @, and anything
// that looks like a secret parameter.
function redactUnparsed(text: string): string {
  // Up to the last @: a password may hold an @, and in a URL that does not
  // parse, a / or a # as well.
  const withoutUser = text.replace(/^([a-z][a-z0-9+.-]*:\/\/).*@/is, '$1***@');
  return withoutUser.replace(/([?&])([^=&#]+)=([^&#]*)/g, (all, sep: string, name: string) =>
    CREDENTIAL.test(name) || ALWAYS_SIGNING.test(name) ? `${sep}${name}=***` : all,
  );
}

// user:password@ in a URL becomes ***@.
export function redactCredentials(text: string): string {
  return redactUrl(text);
}

// What names a watched URL's object: the URL without credentials and without
// the parameters that only sign it, parameters sorted. Two presigned URLs of
// one object have the same identity. (It may hold other secrets: it is
// hashed before it is stored.)
export function urlIdentity(url: URL): string {
  const copy = new URL(url.toString());
  copy.username = '';
  copy.password = '';
  const all = new URLSearchParams(copy.search);
  const kept = [...all.entries()].filter(([name]) => !isSigningParam(name, all)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  copy.search = new URLSearchParams(kept).toString();
  copy.hash = '';
  return copy.toString();
}
