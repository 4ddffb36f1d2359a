import { GatewayError } from '../../lambda/core/errors.ts';
import { bearerToken, mediaType, parseRetryAfter, readBodyWithLimit } from '../../lambda/core/http.ts';

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

describe('readBodyWithLimit', () => {
  const streamOf = (...chunks: string[]) =>
    new Request('http://x/', {
      method: 'POST',
      body: new ReadableStream({
        start(controller) {
          for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);

  it('joins a body sent in pieces', async () => {
    expect(new TextDecoder().decode(await readBodyWithLimit(streamOf('ab', 'cd', 'e'), 5))).toBe('abcde');
  });

  it('refuses a streamed body as soon as it passes the limit', async () => {
    await expect(readBodyWithLimit(streamOf('abc', 'def'), 5)).rejects.toMatchObject({ status: 413 });
    await expect(readBodyWithLimit(streamOf('abc', 'def'), 5)).rejects.toBeInstanceOf(GatewayError);
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
    expect(bearerToken(new Headers(headers))).toBe(expected);
  });

  it('reads the media type without parameters', () => {
    expect(mediaType('Application/JSON; charset=utf-8')).toBe('application/json');
    expect(mediaType(null)).toBeNull();
  });
});
