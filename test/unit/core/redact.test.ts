import { describe, expect, it } from 'vitest';
import { isSigningParam, redactUrl } from '../../../src/core/redact.js';

// What a URL looks like when dcache shows or stores it: the secrets of every
// cloud's signed URLs, of userinfo, and of credential-like parameters gone.

describe('redactUrl', () => {
  it.each([
    [
      'an S3 presigned URL',
      'https://b.s3.amazonaws.com/k.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc123',
      'https://b.s3.amazonaws.com/k.csv?X-Amz-Algorithm=***&X-Amz-Credential=***&X-Amz-Signature=***',
    ],
    [
      'a GCS V4 signed URL',
      'https://storage.googleapis.com/b/k.csv?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=sa%40p.iam&X-Goog-Signature=deadbeef',
      'https://storage.googleapis.com/b/k.csv?X-Goog-Algorithm=***&X-Goog-Credential=***&X-Goog-Signature=***',
    ],
    [
      'a GCS V2 signed URL',
      'https://storage.googleapis.com/b/k.csv?GoogleAccessId=sa%40p.iam&Expires=1700000000&Signature=c2ln',
      'https://storage.googleapis.com/b/k.csv?GoogleAccessId=***&Expires=***&Signature=***',
    ],
    [
      'an Azure SAS',
      'https://acct.blob.core.windows.net/c/k.csv?sv=2021-08-06&sp=r&se=2026-12-01&sr=b&sig=c2Vj%3D',
      'https://acct.blob.core.windows.net/c/k.csv?sv=***&sp=***&se=***&sr=***&sig=***',
    ],
    ['userinfo', 'https://ada:hunter2@example.com/x', 'https://***@example.com/x'],
    ['credential-like names', 'https://api.example.com/x?token=t1&api_key=k1&password=p1&page=2', 'https://api.example.com/x?token=***&api_key=***&password=***&page=2'],
  ])('hides the secrets of %s and keeps the rest', (_what, url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });

  it('keeps the parameters that say which object it is', () => {
    expect(redactUrl('https://example.com/export.csv?date=2026-11-29&sv=1')).toBe('https://example.com/export.csv?date=2026-11-29&sv=1');
  });
});

describe('isSigningParam', () => {
  it('treats Azure SAS fields as signing only beside sig', () => {
    expect(isSigningParam('sv', new URLSearchParams('sv=1&sig=x'))).toBe(true);
    expect(isSigningParam('sv', new URLSearchParams('sv=1'))).toBe(false);
    expect(isSigningParam('Expires', new URLSearchParams('Expires=1&Signature=s'))).toBe(true);
    expect(isSigningParam('Expires', new URLSearchParams('Expires=1'))).toBe(false);
  });
});
