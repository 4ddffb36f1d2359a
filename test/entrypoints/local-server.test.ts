// The local entry point's node:http server against raw sockets: malformed requests, idle keep-alive, slow headers.
import { once } from 'node:events';
import type { Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import vm from 'node:vm';
import { createMockProvider } from '../../lambda/adapters/upstream/mock.ts';
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import { localConfig } from '../../lambda/entrypoints/local/defaults.ts';
import { createLocalServer, type LocalServerOptions } from '../../lambda/entrypoints/local/server.ts';
import type { Upstream } from '../../lambda/ports.ts';
import { listenLocally, memoryGateway, readText, TEST_KEY } from '../fixtures/gateway-harness.ts';

/** How long a test waits for an answer that may never come (the unchanged server hangs instead). */
const ANSWER_WAIT_MS = 3_000;

// ---------------------------------------------------------------------------------------------------------
// Unhandled rejections: jest gives each test file a copy of `process`, whose events never fire; the real
// process object (the one Node reports unhandled rejections to) is the main context's global.
const realProcess = vm.runInThisContext('process') as NodeJS.Process;
const rejections: unknown[] = [];
const recordRejection = (reason: unknown) => {
  rejections.push(reason);
};
beforeAll(() => {
  realProcess.on('unhandledRejection', recordRejection);
});
beforeEach(() => {
  rejections.length = 0;
});
afterAll(() => {
  realProcess.off('unhandledRejection', recordRejection);
});

// ---------------------------------------------------------------------------------------------------------
// A gateway served by createLocalServer on 127.0.0.1, answering chat from the built-in mock provider.
interface LocalServer {
  readonly server: Server;
  readonly port: number;
  readonly origin: string;
  close(): Promise<void>;
}

const serve = async (
  options?: LocalServerOptions,
  upstream: Upstream = createMockProvider({ chunkDelayMs: 0 }),
): Promise<LocalServer> => {
  const { gateway } = memoryGateway(parseGatewayConfig(localConfig({})), { upstream });
  let server: Server;
  let origin: string;
  if (options === undefined) {
    // The defaults, exactly as the shared test fixture (and `npm start`) serve the gateway.
    ({ server, origin } = await listenLocally(gateway));
  } else {
    server = createLocalServer(gateway, options);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  return {
    server,
    port: (server.address() as AddressInfo).port,
    origin,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
};

// ---------------------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client on node:net, so that a test can send what no HTTP client library would.
interface RawResponse {
  readonly statusLine: string;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** The chunked body's data and the length of its encoding, or undefined while the last chunk has not arrived. */
const dechunk = (text: string): { data: string; length: number } | undefined => {
  let data = '';
  let at = 0;
  for (;;) {
    const lineEnd = text.indexOf('\r\n', at);
    if (lineEnd === -1) return undefined;
    const size = Number.parseInt(text.slice(at, lineEnd), 16);
    if (Number.isNaN(size)) return undefined;
    if (size === 0) {
      // The last chunk, then (no trailers) the empty line.
      const end = text.indexOf('\r\n\r\n', lineEnd);
      return end === -1 ? undefined : { data, length: end + 4 };
    }
    if (text.length < lineEnd + 2 + size + 2) return undefined;
    data += text.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
};

/** The first complete response in `text` and its length, or undefined while it is incomplete. */
const parseResponse = (
  text: string,
  closed: boolean,
): { response: RawResponse; length: number } | undefined => {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd === -1) return undefined;
  const [statusLine = '', ...lines] = text.slice(0, headEnd).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = Number(statusLine.split(' ')[1]);
  const rest = text.slice(headEnd + 4);
  if (headers['transfer-encoding'] === 'chunked') {
    const chunks = dechunk(rest);
    if (chunks === undefined) return undefined;
    return {
      response: { statusLine, status, headers, body: chunks.data },
      length: headEnd + 4 + chunks.length,
    };
  }
  if (headers['content-length'] !== undefined) {
    const size = Number(headers['content-length']);
    if (rest.length < size) return undefined;
    return {
      response: { statusLine, status, headers, body: rest.slice(0, size) },
      length: headEnd + 4 + size,
    };
  }
  // Neither length nor chunks: the body ends when the connection does.
  return closed ? { response: { statusLine, status, headers, body: rest }, length: text.length } : undefined;
};

class RawConnection {
  private received = '';
  private closed = false;
  private readonly changed = new Set<() => void>();

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.received += chunk;
      this.notify();
    });
    // A reset after the answer must not hide the answer: the test asserts on what was received.
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
  }

  static async open(port: number): Promise<RawConnection> {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    return new RawConnection(socket);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Everything received and not yet consumed as a response. */
  get text(): string {
    return this.received;
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Half-closes: the client sends FIN but can still read the answer. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** The next complete response; undefined if none arrives within `waitMs` or before the connection closes. */
  response(waitMs = ANSWER_WAIT_MS): Promise<RawResponse | undefined> {
    return this.until(() => {
      const parsed = parseResponse(this.received, this.closed);
      if (parsed !== undefined) {
        this.received = this.received.slice(parsed.length);
        return { value: parsed.response };
      }
      return this.closed ? { value: undefined } : undefined;
    }, waitMs);
  }

  /** True once the server has closed the connection, false if it is still open after `waitMs`. */
  async whenClosed(waitMs: number): Promise<boolean> {
    return (await this.until(() => (this.closed ? { value: true } : undefined), waitMs)) ?? false;
  }

  private notify(): void {
    for (const check of [...this.changed]) check();
  }

  private until<T>(settle: () => { value: T } | undefined, waitMs: number): Promise<T | undefined> {
    return new Promise((resolve) => {
      const check = () => {
        const settled = settle();
        if (settled === undefined) return;
        finish(settled.value);
      };
      const finish = (value: T | undefined) => {
        clearTimeout(timer);
        this.changed.delete(check);
        resolve(value);
      };
      const timer = setTimeout(() => finish(undefined), waitMs);
      this.changed.add(check);
      check();
    });
  }
}

/** Sends `request` on a new connection and returns the first answer (undefined if none came). */
const exchange = async (
  port: number,
  request: string | Buffer,
  { halfClose = false }: { halfClose?: boolean } = {},
): Promise<RawResponse | undefined> => {
  const connection = await RawConnection.open(port);
  try {
    connection.write(request);
    if (halfClose) connection.end();
    return await connection.response();
  } finally {
    connection.destroy();
  }
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An answer the server wrote itself: an OpenAI error body with a request id. */
const expectOpenAIError = (response: RawResponse | undefined, status: number, code?: string) => {
  expect(response?.statusLine).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
  expect(response?.headers['content-type']).toMatch(/^application\/json/);
  expect(response?.headers['x-request-id']).toMatch(/^\S+$/);
  expect(JSON.parse(response?.body ?? 'null')).toEqual({
    error: {
      message: expect.stringMatching(/\S/),
      type: 'invalid_request_error',
      param: null,
      code: code ?? expect.stringMatching(/^[a-z_]+$/),
    },
  });
};

const expectHealthy = (response: RawResponse | undefined) => {
  expect(response?.status).toBe(200);
  expect(JSON.parse(response?.body ?? 'null')).toEqual({ status: 'ok' });
};

/** The process lived: a NEW connection still gets GET /health, and nothing was left as an unhandled rejection. */
const expectServerAlive = async (port: number) => {
  // Let a rejection from the request just served reach the process first.
  await sleep(20);
  expectHealthy(await exchange(port, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'));
  expect(rejections).toEqual([]);
};

const CHAT_BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });
const chatRequest = (extraHeaders = '') =>
  'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
  `Authorization: Bearer ${TEST_KEY}\r\nContent-Type: application/json\r\n` +
  `Content-Length: ${Buffer.byteLength(CHAT_BODY)}\r\n${extraHeaders}\r\n${CHAT_BODY}`;

// ---------------------------------------------------------------------------------------------------------
describe('local server: requests the core can serve despite an odd request line or Host', () => {
  let local: LocalServer;
  beforeAll(async () => {
    local = await serve();
  });
  afterAll(async () => {
    await local.close();
  });

  it.each([
    [
      'a Host header that is not a valid authority (Host: a b)',
      'GET /health HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n',
      200,
    ],
    ['an HTTP/1.0 request without a Host header', 'GET /health HTTP/1.0\r\n\r\n', 200],
    [
      'an absolute-form target, by its path and query rather than its authority',
      'GET http://elsewhere.example:9/health?probe=1 HTTP/1.1\r\nHost: elsewhere.example\r\nConnection: close\r\n\r\n',
      200,
    ],
    [
      'an HTTP/1.1 request without a Host header (an OpenAI error)',
      'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n',
      400,
    ],
  ])('answers %s', async (_name, request, status) => {
    // Act
    const response = await exchange(local.port, request);

    // Assess
    if (status === 200) expectHealthy(response);
    else expectOpenAIError(response, status);
    await expectServerAlive(local.port);
  });
});

describe('local server: requests it refuses get an OpenAI error and the process lives', () => {
  let local: LocalServer;
  beforeAll(async () => {
    local = await serve();
  });
  afterAll(async () => {
    await local.close();
  });

  it('answers OPTIONS * (asterisk-form) with 400', async () => {
    // Prepare
    const request = 'OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n';

    // Act
    const response = await exchange(local.port, request);

    // Assess
    expectOpenAIError(response, 400, 'invalid_request_target');
    await expectServerAlive(local.port);
  });

  it.each([
    ['a port out of range', 'http://127.0.0.1:99999/health'],
    ['an unclosed IPv6 literal', 'http://[::1/health'],
    ['an invalid host', 'http://%zz/health'],
    ['a scheme other than http(s)', 'ftp://127.0.0.1/health'],
  ])(
    'answers a target that Node accepts but that is not a usable URL (%s) with 400',
    async (_name, target) => {
      // Prepare
      const request = `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;

      // Act
      const response = await exchange(local.port, request);

      // Assess
      expectOpenAIError(response, 400, 'invalid_request_target');
      await expectServerAlive(local.port);
    },
  );

  it.each([
    ['TRACE', 'TRACE /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'],
    ['CONNECT', 'CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n'],
  ])('answers a method a web Request cannot carry (%s) with 501', async (_name, request) => {
    // Act
    const response = await exchange(local.port, request);

    // Assess
    expect(response?.status).toBe(501);
    expect(response?.headers['x-request-id']).toMatch(/^\S+$/);
    expect(JSON.parse(response?.body ?? 'null')).toEqual({
      error: {
        message: expect.stringMatching(/\S/),
        type: 'invalid_request_error',
        param: null,
        code: 'unsupported_method',
      },
    });
    await expectServerAlive(local.port);
  });

  it.each([
    ['a request line with no target', 'GET HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'],
    ['a target that is neither a path nor a URL', 'GET abc HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'],
    ['a space inside the target', 'GET /he alth HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'],
    ['binary garbage', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03])],
  ])('answers a request Node cannot parse (%s) with 400', async (_name, request) => {
    // Act
    const response = await exchange(local.port, request);

    // Assess
    expectOpenAIError(response, 400);
    await expectServerAlive(local.port);
  });

  it('answers a header over 16 KB (Node’s default maxHeaderSize) with 431', async () => {
    // Prepare
    const request = `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Large: ${'a'.repeat(17 * 1024)}\r\n\r\n`;

    // Act
    const response = await exchange(local.port, request);

    // Assess
    expectOpenAIError(response, 431, 'request_header_fields_too_large');
    await expectServerAlive(local.port);
  });

  it.each([
    ['a control character in a value', 'X-Bad: a\u0001b'],
    ['a DEL in a header name', 'X-B\u007fad: a'],
  ])('answers a header with an invalid character (%s) with 400', async (_name, header) => {
    // Prepare
    const request = `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n${header}\r\n\r\n`;

    // Act
    const response = await exchange(local.port, request);

    // Assess
    expectOpenAIError(response, 400);
    await expectServerAlive(local.port);
  });

  it('answers a body-bearing request whose client stops sending mid-body (half-close) with 400', async () => {
    // Prepare: the headers promise 1000 bytes, the client sends 10 and then its FIN.
    const request =
      'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
      `Authorization: Bearer ${TEST_KEY}\r\nContent-Length: 1000\r\n\r\n{"model":`;

    // Act
    const response = await exchange(local.port, request, { halfClose: true });

    // Assess
    expectOpenAIError(response, 400);
    await expectServerAlive(local.port);
  });

  it('lives on when a client drops the connection mid-body', async () => {
    // Prepare
    const connection = await RawConnection.open(local.port);
    connection.write(
      'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
        `Authorization: Bearer ${TEST_KEY}\r\nContent-Length: 1000\r\n\r\n{"model":`,
    );
    await sleep(50);

    // Act
    connection.destroy();

    // Assess: nothing was sent back before the client left, and the server still serves others.
    expect(connection.text).toBe('');
    await expectServerAlive(local.port);
  });

  it('lives on when a client drops the connection in the middle of a streamed answer', async () => {
    // Prepare: a stream of ~25 chunks, 20 ms apart.
    const streaming = await serve(undefined, createMockProvider({ chunkDelayMs: 20 }));
    const body = JSON.stringify({ ...JSON.parse(CHAT_BODY), stream: true });
    const connection = await RawConnection.open(streaming.port);
    try {
      connection.write(
        'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
          `Authorization: Bearer ${TEST_KEY}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      await sleep(100);

      // Act
      connection.destroy();

      // Assess
      expect(connection.text).toMatch(/^HTTP\/1\.1 200 /);
      expect(connection.text).toContain('data: ');
      await expectServerAlive(streaming.port);
    } finally {
      await streaming.close();
    }
  });
});

describe('local server: keep-alive', () => {
  let local: LocalServer;
  beforeAll(async () => {
    local = await serve();
  });
  afterAll(async () => {
    await local.close();
  });

  // Node 20.20 closes an idle connection 1 s after the keepAliveTimeout it announces (an internal buffer):
  // with the old 5 s default the socket is gone at 6 s, so the connection here idles for 6.5 s.
  it('answers a POST on a connection left idle for 6.5 s (past Node’s default keepAliveTimeout of 5 s)', async () => {
    // Prepare: one request on the connection, then idle time, as a pooled client socket would sit.
    const connection = await RawConnection.open(local.port);
    try {
      connection.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      const first = await connection.response();
      expectHealthy(first);
      await sleep(6_500);
      expect(connection.isClosed).toBe(false);

      // Act
      connection.write(chatRequest());
      const second = await connection.response();

      // Assess
      expect(second?.status).toBe(200);
      const completion = JSON.parse(second?.body ?? 'null') as {
        object?: string;
        choices?: { message?: { content?: string } }[];
      };
      expect(completion.object).toBe('chat.completion');
      expect(completion.choices?.[0]?.message?.content).toContain('mock provider');
      expect(connection.isClosed).toBe(false);
      // Node announces the idle timeout, so that clients that honour the hint close first.
      expect(first?.headers['keep-alive']).toBe('timeout=65');
    } finally {
      connection.destroy();
    }
  }, 15_000);
});

describe('local server: timeouts', () => {
  it('cuts off a client that sends part of its headers and stalls, with a 408', async () => {
    // Prepare
    const local = await serve({ headersTimeout: 500, connectionsCheckingInterval: 100 });
    const connection = await RawConnection.open(local.port);
    try {
      const started = performance.now();

      // Act
      connection.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
      const closed = await connection.whenClosed(5_000);

      // Assess: closed within headersTimeout + connectionsCheckingInterval (and a generous margin).
      const elapsed = performance.now() - started;
      expect(closed).toBe(true);
      expect(elapsed).toBeLessThan(500 + 100 + 1_500);
      expectOpenAIError(await connection.response(0), 408, 'request_timeout');
      await expectServerAlive(local.port);
    } finally {
      connection.destroy();
      await local.close();
    }
  });

  it('does not cut off a streamed answer that lasts longer than requestTimeout', async () => {
    // Prepare: the request is received at once; the answer streams ~25 chunks 50 ms apart (> 1 s).
    const local = await serve(
      { headersTimeout: 200, requestTimeout: 300, connectionsCheckingInterval: 50 },
      createMockProvider({ chunkDelayMs: 50 }),
    );
    try {
      const started = performance.now();

      // Act
      const response = await fetch(`${local.origin}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...JSON.parse(CHAT_BODY), stream: true }),
      });
      const text = await readText(response);

      // Assess
      expect(response.status).toBe(200);
      expect(performance.now() - started).toBeGreaterThan(300);
      expect(text).toContain('"finish_reason":"stop"');
      expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
      await expectServerAlive(local.port);
    } finally {
      await local.close();
    }
  });
});
