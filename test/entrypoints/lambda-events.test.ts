import { toGatewayRequest } from '../../lambda/entrypoints/lambda/events.ts';
import { functionUrlEvent, restEvent } from '../fixtures/lambda-events.ts';

const CHAT_BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Grüße 👋' }] });

describe('toGatewayRequest with a REST API (v1) event', () => {
  it('puts the stage in front of the path, so /chat/completions on stage v1 is /v1/chat/completions', async () => {
    // Prepare
    const event = restEvent({
      path: '/chat/completions',
      headers: { Host: 'api.example.com', 'Content-Type': 'application/json' },
      body: CHAT_BODY,
    });

    // Act
    const request = toGatewayRequest(event);

    // Assess
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/v1/chat/completions');
    expect(request.query).toBe('');
    expect(Buffer.from(request.body!).toString('utf8')).toBe(CHAT_BODY);
  });

  it('keeps every value of a repeated header and of a repeated query parameter', () => {
    // Prepare
    const event = restEvent({
      method: 'GET',
      path: '/models',
      headers: { Accept: 'text/event-stream', 'X-Trace': 'b' },
      multiValueHeaders: { Accept: ['application/json', 'text/event-stream'], 'X-Trace': ['a', 'b'] },
      query: { tag: ['one', 'two'], q: ['a b&c'] },
    });

    // Act
    const request = toGatewayRequest(event);

    // Assess
    expect(request.headers.get('accept')).toBe('application/json, text/event-stream');
    expect(request.headers.get('x-trace')).toBe('a, b');
    expect(request.path).toBe('/v1/models');
    const query = new URLSearchParams(request.query);
    expect(query.getAll('tag')).toEqual(['one', 'two']);
    expect(query.get('q')).toBe('a b&c');
  });

  it('takes single-value headers that are missing from multiValueHeaders, by lower-case name', () => {
    // Prepare
    const event = restEvent({
      path: '/embeddings',
      headers: { Authorization: 'Bearer sk-gw-1', 'Content-Type': 'application/json' },
      multiValueHeaders: { 'Content-Type': ['application/json'] },
      body: '{}',
    });

    // Act
    const request = toGatewayRequest(event);

    // Assess
    expect(request.headers.get('authorization')).toBe('Bearer sk-gw-1');
    expect(request.headers.get('content-type')).toBe('application/json');
    expect(request.headers.get('Content-Type')).toBeUndefined();
  });

  it('drops a trailing slash from the path', () => {
    // Prepare
    const event = restEvent({ method: 'GET', path: '/models/', domainName: 'gw.example.org' });

    // Act
    const request = toGatewayRequest(event);

    // Assess
    expect(request.path).toBe('/v1/models');
  });

  it('decodes a base64 body to the original bytes', async () => {
    // Prepare
    const bytes = Buffer.from(CHAT_BODY, 'utf8');
    const event = restEvent({
      path: '/chat/completions',
      headers: { 'content-type': 'application/json' },
      body: bytes.toString('base64'),
      isBase64Encoded: true,
    });

    // Act
    const { body } = toGatewayRequest(event);

    // Assess
    expect(Buffer.from(body!)).toEqual(bytes);
  });

  it('drops a body sent with GET', async () => {
    // Prepare
    const event = restEvent({ method: 'GET', path: '/models', body: 'ignored' });

    // Act
    const { body } = toGatewayRequest(event);

    // Assess
    expect(body).toBeUndefined();
  });
});

describe('toGatewayRequest with a Function URL (v2) event', () => {
  it('uses rawPath, rawQueryString and the method from requestContext.http', async () => {
    // Prepare
    const event = functionUrlEvent({
      rawPath: '/v1/chat/completions',
      rawQueryString: 'api-version=2024-10-21&x=%2Fy',
      headers: { host: 'urlid.lambda-url.eu-west-1.on.aws', 'content-type': 'application/json' },
      body: CHAT_BODY,
    });

    // Act
    const request = toGatewayRequest(event);

    // Assess
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/v1/chat/completions');
    expect(request.query).toBe('api-version=2024-10-21&x=%2Fy');
    expect(request.headers.get('content-type')).toBe('application/json');
    expect(Buffer.from(request.body!).toString('utf8')).toBe(CHAT_BODY);
  });

  it('joins the cookies array into one Cookie header', () => {
    // Prepare
    const event = functionUrlEvent({ method: 'GET', rawPath: '/v1/models', cookies: ['a=1', 'b=two'] });

    // Act
    const request = toGatewayRequest(event);

    // Assess
    expect(request.headers.get('cookie')).toBe('a=1; b=two');
  });

  it('reads an empty query when rawQueryString is empty', () => {
    // Prepare
    const event = functionUrlEvent({ method: 'GET', rawPath: '/v1/models', domainName: 'fn.example.org' });

    // Act
    const request = toGatewayRequest(event);

    // Assess
    expect(request.path).toBe('/v1/models');
    expect(request.query).toBe('');
  });

  it('decodes a base64 body to the original bytes', async () => {
    // Prepare
    const bytes = Buffer.from([0x7b, 0x7d, 0x00, 0xff, 0x80]);
    const event = functionUrlEvent({
      rawPath: '/v1/audio/transcriptions',
      headers: { 'content-type': 'multipart/form-data; boundary=x' },
      body: bytes.toString('base64'),
      isBase64Encoded: true,
    });

    // Act
    const { body } = toGatewayRequest(event);

    // Assess
    expect(Buffer.from(body!)).toEqual(bytes);
  });
});

describe('toGatewayRequest with header values outside Latin-1', () => {
  it('keeps a header value outside Latin-1 as its UTF-8 bytes, as node:http would', () => {
    // Prepare
    const event = functionUrlEvent({
      method: 'GET',
      rawPath: '/v1/models',
      headers: { 'x-title': 'Zażółć app' },
    });
    // Act
    const request = toGatewayRequest(event);
    // Assess
    expect(Buffer.from(request.headers.get('x-title')!, 'latin1').toString('utf8')).toBe('Zażółć app');
  });
});
