import { GatewayError } from '../../lambda/core/errors.ts';
import { headersOf } from '../../lambda/core/exchange.ts';
import { bearerToken, bodyWithinLimit, mediaType, parseRetryAfter } from '../../lambda/core/http.ts';

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-29T12:00:00Z');
  it.each([
    ['2', 2_000],
    ['0.5', 500],
    ['Sun, 29 Nov 2026 12:00:05 GMT', 5_000],
    ['Sun, 29 Nov 2026 11:00:00 GMT', 0],
    ['', undefined],
    ['soon', undefined],
    [undefined, undefined],
  ])('reads %j as %j ms', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});

describe('bodyWithinLimit', () => {
  const body = new TextEncoder().encode('abcdef');

  it('passes a body within the limit, and reads no body as an empty one', () => {
    expect(bodyWithinLimit(headersOf({}), body, 6)).toBe(body);
    expect(bodyWithinLimit(headersOf({}), undefined, 6)).toEqual(new Uint8Array(0));
  });

  it('refuses a body past the limit, by its size or by its Content-Length (then it was never read)', () => {
    expect(() => bodyWithinLimit(headersOf({}), body, 5)).toThrow(GatewayError);
    expect(() => bodyWithinLimit(headersOf({}), body, 5)).toThrow(expect.objectContaining({ status: 413 }));
    expect(() => bodyWithinLimit(headersOf({ 'content-length': '7' }), undefined, 6)).toThrow(
      expect.objectContaining({ status: 413, code: 'request_too_large' }),
    );
  });
});

describe('header helpers', () => {
  it.each([
    [{ authorization: 'Bearer sk-gw-1' }, 'sk-gw-1'],
    [{ authorization: 'bearer   sk-gw-2 ' }, 'sk-gw-2'],
    [{ authorization: 'Basic abc' }, undefined],
    // A Function URL with IAM auth: Authorization is the SigV4 signature, the key is in x-api-key
    [
      {
        authorization:
          'AWS4-HMAC-SHA256 Credential=AKIA/20261129/eu-west-1/lambda/aws4_request, Signature=ab',
        'x-api-key': 'sk-gw-4',
      },
      'sk-gw-4',
    ],
    [{ authorization: 'Bearer sk-gw-5', 'x-api-key': 'sk-gw-6' }, 'sk-gw-5'],
    [{ 'x-api-key': 'sk-gw-3' }, 'sk-gw-3'],
    [{}, undefined],
  ])('reads the key from %j', (headers, expected) => {
    expect(bearerToken(headersOf(headers))).toBe(expected);
  });

  it('reads the media type without parameters', () => {
    expect(mediaType('Application/JSON; charset=utf-8')).toBe('application/json');
    expect(mediaType(null)).toBeNull();
  });
});
