import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sharedKeySignature } from '../../../src/cloud/azure.js';
import { signRequest } from '../../../src/cloud/sigv4.js';

// The request signatures dcache computes itself, against the examples the
// clouds publish. (Real servers that check signatures, moto with
// authentication and Azurite, test them end to end.)

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('SigV4', () => {
  it('signs the get-vanilla request of the AWS test suite', () => {
    const headers = signRequest({
      method: 'GET',
      url: new URL('https://example.amazonaws.com/'),
      headers: {},
      region: 'us-east-1',
      service: 'service',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
      now: Date.UTC(2015, 7, 30, 12, 36, 0),
      payloadHash: EMPTY_SHA256,
    });
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, ' +
        'Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
  });

  it('signs the get-vanilla-query-order-key-case request of the AWS test suite', () => {
    const headers = signRequest({
      method: 'GET',
      url: new URL('https://example.amazonaws.com/?Param2=value2&Param1=value1'),
      headers: {},
      region: 'us-east-1',
      service: 'service',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
      now: Date.UTC(2015, 7, 30, 12, 36, 0),
      payloadHash: EMPTY_SHA256,
    });
    expect(headers.authorization).toMatch(/Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500$/);
  });

  it('signs the GET Object example of the S3 documentation', () => {
    const headers = signRequest({
      method: 'GET',
      url: new URL('https://examplebucket.s3.amazonaws.com/test.txt'),
      headers: { range: 'bytes=0-9' },
      region: 'us-east-1',
      service: 's3',
      credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
      now: Date.UTC(2013, 4, 24, 0, 0, 0),
      payloadHash: EMPTY_SHA256,
    });
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
        'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
    expect(headers['x-amz-content-sha256']).toBe(EMPTY_SHA256);
  });

  it('adds the session token of temporary credentials, signed', () => {
    const headers = signRequest({
      method: 'HEAD',
      url: new URL('https://b.s3.us-east-1.amazonaws.com/k'),
      headers: {},
      region: 'us-east-1',
      service: 's3',
      credentials: { accessKeyId: 'AK', secretAccessKey: 'SK', sessionToken: 'TOKEN' },
      now: Date.UTC(2026, 0, 1),
    });
    expect(headers['x-amz-security-token']).toBe('TOKEN');
    expect(headers.authorization).toContain('SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,');
  });
});

describe('Azure Shared Key', () => {
  it('signs a request over the canonical form the service documents', () => {
    // The string to sign, worked out by hand from "Authorize with Shared Key":
    // verb, eleven standard headers (empty here), the x-ms- headers sorted,
    // then /account/path and each query parameter, lower-cased and sorted.
    const url = new URL('https://myaccount.blob.core.windows.net/mycontainer?restype=container&comp=list&prefix=a%20b');
    const headers = { 'x-ms-date': 'Fri, 26 Jun 2015 23:39:12 GMT', 'x-ms-version': '2015-02-21' };
    const key = Buffer.from('c2VjcmV0', 'base64');
    const expected = createHmac('sha256', key)
      .update(
        'GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Fri, 26 Jun 2015 23:39:12 GMT\nx-ms-version:2015-02-21\n' +
          '/myaccount/mycontainer\ncomp:list\nprefix:a b\nrestype:container',
      )
      .digest('base64');
    expect(sharedKeySignature('GET', url, headers, 'myaccount', key)).toBe(expected);
  });
});
