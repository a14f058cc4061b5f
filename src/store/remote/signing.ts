import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Result } from '../../core/errors.js';
import { fail, ok } from '../../core/errors.js';
import type { SigningKeys } from '../../ports/tiers.js';

// Signed entries on a shared cache. With a signing key, every manifest
// pushed to a remote travels in an envelope carrying an HMAC-SHA256 of its
// exact bytes; the manifest names every blob by its SHA-256, and every blob
// is verified on download, so the signature covers everything replayed. A
// reader with a key replays only what verifies with one of its keys.
//
// Keys rotate: DCACHE_SIGNING_KEY (or the key file) may hold several keys,
// separated by commas or newlines. The first signs; any of them verifies.
// Each signature names its key by an id (a hash of the key), so a reader
// knows which one to check it with.

export type { SigningKeys } from '../../ports/tiers.js';

export const MIN_KEY_LENGTH = 16;
const ID_SALT = 'dcache signing key id v1\0';

// An envelope: the manifest's exact text and its signature.
interface Envelope {
  signed: string;
  signature: string;
}

// The keys from DCACHE_SIGNING_KEY, else from the file DCACHE_SIGNING_KEY_FILE
// or the config's signingKeyFile; null when none is set.
export function loadSigningKeys(env: NodeJS.ProcessEnv, keyFile: string | null): Result<SigningKeys | null, string> {
  let text: string;
  let from: string;
  if (env.DCACHE_SIGNING_KEY !== undefined && env.DCACHE_SIGNING_KEY !== '') {
    text = env.DCACHE_SIGNING_KEY;
    from = 'DCACHE_SIGNING_KEY';
  } else if (keyFile !== null) {
    from = `the signing key file ${keyFile}`;
    try {
      const mode = statSync(keyFile).mode;
      if ((mode & 0o077) !== 0) return fail(`${from} may be read by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`);
      text = readFileSync(keyFile, 'utf8');
    } catch (err) {
      return fail(`cannot read ${from} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  } else {
    return ok(null);
  }
  const secrets = text
    .split(/[,\n]/)
    .map((k) => k.trim())
    .filter((k) => k !== '');
  if (secrets.length === 0) return fail(`${from} holds no key`);
  const short = secrets.findIndex((k) => k.length < MIN_KEY_LENGTH);
  if (short !== -1) return fail(`key ${short + 1} of ${from} is shorter than ${MIN_KEY_LENGTH} characters; use e.g. openssl rand -hex 32`);
  return ok({ keys: secrets.map((k) => ({ id: keyId(k), secret: Buffer.from(k, 'utf8') })) });
}

function keyId(secret: string): string {
  return createHash('sha256').update(ID_SALT).update(secret).digest('hex').slice(0, 16);
}

function hmac(secret: Buffer, text: string): string {
  return createHmac('sha256', secret).update(text, 'utf8').digest('hex');
}

// The bytes to store for a manifest's text: signed with the first key.
export function signManifest(text: string, keys: SigningKeys): Buffer {
  const key = keys.keys[0]!;
  const envelope: Envelope = { signed: text, signature: `hmac-sha256:${key.id}:${hmac(key.secret, text)}` };
  return Buffer.from(JSON.stringify(envelope));
}

export type Opened =
  | { ok: true; text: string; signed: boolean }
  | { ok: false; reason: 'unsigned' | 'other-key' | 'bad-signature' };

// A manifest's text from what a remote stored. Without keys, signed and
// unsigned entries are both read; with keys, only one that verifies.
export function openManifest(parsed: unknown, raw: string, keys: SigningKeys | null): Opened {
  const envelope = asEnvelope(parsed);
  if (envelope === null) return keys === null ? { ok: true, text: raw, signed: false } : { ok: false, reason: 'unsigned' };
  if (keys === null) return { ok: true, text: envelope.signed, signed: true };
  const m = /^hmac-sha256:([0-9a-f]{16}):([0-9a-f]{64})$/.exec(envelope.signature);
  if (!m) return { ok: false, reason: 'bad-signature' };
  const key = keys.keys.find((k) => k.id === m[1]);
  if (key === undefined) return { ok: false, reason: 'other-key' };
  const expected = Buffer.from(hmac(key.secret, envelope.signed), 'hex');
  const given = Buffer.from(m[2]!, 'hex');
  if (!timingSafeEqual(expected, given)) return { ok: false, reason: 'bad-signature' };
  return { ok: true, text: envelope.signed, signed: true };
}

function asEnvelope(value: unknown): Envelope | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const { signed, signature } = value as Record<string, unknown>;
  return typeof signed === 'string' && typeof signature === 'string' ? { signed, signature } : null;
}
