// The node:http upstream adapter against a fake upstream on loopback.
import { createNodeHttpUpstream } from '../../lambda/adapters/upstream/node-http.ts';
import { type UpstreamBodyReader, UpstreamError } from '../../lambda/ports.ts';
import {
  type FakeUpstream,
  replyChat,
  sleep,
  startFakeUpstream,
  streamChat,
} from '../fixtures/fake-upstream.ts';

const upstreamClient = createNodeHttpUpstream();
let fake: FakeUpstream;

beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(async () => {
  upstreamClient.close();
  await fake.close();
});

const send = (
  url: string,
  timeouts: { connectMs?: number; firstByteMs?: number } = {},
  signal = new AbortController().signal,
) =>
  upstreamClient.send({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: new TextEncoder().encode('{"model":"m","stream":true}'),
    connectTimeoutMs: timeouts.connectMs ?? 1_000,
    firstByteTimeoutMs: timeouts.firstByteMs ?? 1_000,
    signal,
  });

const readAll = async (body: Awaited<ReturnType<typeof send>>['body']) => {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  for (;;) {
    const result = await reader.read();
    if (result.done) return Buffer.concat(chunks).toString();
    chunks.push(result.value);
  }
};

describe('createNodeHttpUpstream', () => {
  it('returns status, lower-case headers and the whole body', async () => {
    fake.setBehaviour(replyChat('adapter'));
    const response = await send(`${fake.baseUrl}/chat/completions`);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    expect(JSON.parse(await readAll(response.body)).choices[0].message.content).toBe('adapter');
    expect(fake.requests.at(-1)?.headers['content-length']).toBe('27');
  });

  it('sends each request to its own URL: path and query as given, a URL’s credentials as Basic auth', async () => {
    // Prepare: the same origin under two paths, and once with credentials in the URL
    fake.setBehaviour(replyChat('adapter'));
    const origin = new URL(fake.baseUrl);
    const withCredentials = `${origin.protocol}//us%40er:p%3Ass@${origin.host}${origin.pathname}/embeddings?x=1`;

    // Act
    await readAll((await send(`${fake.baseUrl}/chat/completions?api-version=1`)).body);
    await readAll((await send(`${fake.baseUrl}/completions`)).body);
    await readAll((await send(withCredentials)).body);

    // Assess
    const seen = fake.requests.slice(-3);
    expect(seen.map((request) => request.path)).toEqual([
      `${origin.pathname}/chat/completions?api-version=1`,
      `${origin.pathname}/completions`,
      `${origin.pathname}/embeddings?x=1`,
    ]);
    expect(seen[0]?.headers.authorization).toBeUndefined();
    expect(seen[2]?.headers.authorization).toBe(`Basic ${Buffer.from('us@er:p:ss').toString('base64')}`);
    // Host as node:http writes it (the URL's host: name and port), once, on every request.
    expect(seen.map((request) => request.headers.host)).toEqual([origin.host, origin.host, origin.host]);
  });

  it("lets a request's own authorization stand over a URL's credentials", async () => {
    // Prepare
    fake.setBehaviour(replyChat('adapter'));
    const origin = new URL(fake.baseUrl);
    const withCredentials = `${origin.protocol}//user:pass@${origin.host}${origin.pathname}/chat/completions`;

    // Act
    const response = await upstreamClient.send({
      url: withCredentials,
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-own' },
      body: new TextEncoder().encode('{"model":"m"}'),
      connectTimeoutMs: 1_000,
      firstByteTimeoutMs: 1_000,
      signal: new AbortController().signal,
    });
    await readAll(response.body);

    // Assess: a server keeps the first of repeated authorization headers, so this would be Basic if both went
    expect(fake.requests.at(-1)?.headers.authorization).toBe('Bearer sk-own');
  });

  it('delivers every chunk of a stream that is read slowly (chunks wait, none is lost)', async () => {
    fake.setBehaviour(streamChat({ pieces: Array.from({ length: 30 }, (_, i) => `p${i} `) }));
    const response = await send(`${fake.baseUrl}/chat/completions`);
    const reader = response.body.getReader();
    let text = '';
    for (;;) {
      await sleep(2);
      const result = await reader.read();
      if (result.done) break;
      text += Buffer.from(result.value).toString();
    }
    for (let i = 0; i < 30; i++) expect(text).toContain(`"content":"p${i} "`);
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it('gives what has arrived without a wait (readNow), and undefined until more comes', async () => {
    // Prepare: a JSON answer, then a stream whose pieces come 30 ms apart
    fake.setBehaviour(replyChat('ready'));
    const whole = await send(`${fake.baseUrl}/chat/completions`);
    const wholeReader = whole.body.getReader() as UpstreamBodyReader;
    await sleep(20);
    fake.setBehaviour(streamChat({ pieces: ['a', 'b'], gapMs: 30 }));
    const streamed = await send(`${fake.baseUrl}/chat/completions`);
    const streamReader = streamed.body.getReader() as UpstreamBodyReader;

    // Act: take the JSON answer by readNow alone; and the stream's first piece, then ask again at once
    const chunks: Uint8Array[] = [];
    let end: unknown;
    for (let ready = wholeReader.readNow?.(); ready !== undefined; ready = wholeReader.readNow?.()) {
      if (ready.done) {
        end = ready;
        break;
      }
      chunks.push(ready.value);
    }
    const first = await streamReader.read();
    const next = streamReader.readNow?.();

    // Assess
    expect(end).toEqual({ done: true, value: undefined });
    expect(JSON.parse(Buffer.concat(chunks).toString()).choices[0].message.content).toBe('ready');
    expect(first.done).toBe(false);
    expect(next).toBeUndefined();
    expect(await readAll(streamed.body)).toContain('data: [DONE]');
  });

  it('rejects a read with a reset when the upstream drops the connection mid-body', async () => {
    fake.setBehaviour(streamChat({ pieces: ['a', 'b', 'c'], gapMs: 20, resetAfter: 1 }));
    const response = await send(`${fake.baseUrl}/chat/completions`);
    await expect(readAll(response.body)).rejects.toMatchObject({ name: 'UpstreamError', kind: 'reset' });
  });

  it('cancelling the body closes the upstream connection', async () => {
    fake.setBehaviour(streamChat({ pieces: Array.from({ length: 100 }, () => 'x'), gapMs: 20 }));
    const response = await send(`${fake.baseUrl}/chat/completions`);
    await response.body.getReader().read();
    await response.body.cancel();
    expect(await fake.requests.at(-1)?.abortedByGateway).toBe(true);
  });

  it('sends once more on a fresh socket when a kept-alive socket turns out to be closed', async () => {
    // Prepare: the upstream drops any connection that already served a request, as one whose idle
    // keep-alive timeout ran out would
    const served = new WeakSet<object>();
    fake.setBehaviour((request, response) => {
      const socket = response.socket!;
      if (served.has(socket)) {
        socket.destroy();
        return;
      }
      served.add(socket);
      return replyChat('fresh socket')(request, response);
    });
    const before = fake.requests.length;
    // Act
    const first = await send(`${fake.baseUrl}/chat/completions`);
    await readAll(first.body);
    const second = await send(`${fake.baseUrl}/chat/completions`);
    // Assess
    expect(second.status).toBe(200);
    expect(JSON.parse(await readAll(second.body)).choices[0].message.content).toBe('fresh socket');
    expect(fake.requests.length - before).toBe(3);
  });

  it('fails with kind "connect" when nothing listens', async () => {
    const error = await send('http://127.0.0.1:1/v1/chat/completions').catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).kind).toBe('connect');
  });

  it('fails with kind "timeout" when the headers come later than the first-byte timeout', async () => {
    fake.setBehaviour(streamChat({ pieces: ['late'], firstByteDelayMs: 500 }));
    const error = await send(`${fake.baseUrl}/chat/completions`, { firstByteMs: 100 }).catch(
      (thrown: unknown) => thrown,
    );
    expect((error as UpstreamError).kind).toBe('timeout');
    expect(await fake.requests.at(-1)?.abortedByGateway).toBe(true);
  });

  it('fails with kind "aborted" when the gateway aborts before the answer', async () => {
    fake.setBehaviour(streamChat({ pieces: ['late'], firstByteDelayMs: 500 }));
    const controller = new AbortController();
    const pending = send(`${fake.baseUrl}/chat/completions`, {}, controller.signal);
    await sleep(50);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ kind: 'aborted' });
  });
});
