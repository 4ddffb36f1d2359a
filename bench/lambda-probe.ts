// Cold-start probe, run in a fresh `node` process: stub the Lambda runtime globals, import the bundled
// handler, invoke it once, and print when each step happened (process.hrtime, comparable across processes).
// The parent sets the env the Lambda entry requires (tables, pepper secret, AWS_ENDPOINT_URL of a moto server).
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { BENCH_GATEWAY_KEY, BENCH_MODEL, PROBE_MARKER } from './shared.ts';

const scriptStartNs = process.hrtime.bigint();

export interface ProbeResult {
  readonly scriptStartNs: string;
  readonly importStartNs: string;
  readonly importEndNs: string;
  readonly firstByteNs: string;
  /** When the handler's promise settled: after the body and middy's requestEnd (usage writes drained). */
  readonly endNs: string;
  readonly statusCode: number;
  readonly bodyBytes: number;
  readonly body: string;
}

const [bundlePath, kind] = process.argv.slice(2);
if (bundlePath === undefined || (kind !== 'health' && kind !== 'chat')) {
  throw new Error('usage: lambda-probe.mjs <bundle> health|chat');
}

// What the Lambda Node runtime provides: streamifyResponse marks the handler, HttpResponseStream.from writes
// the status/headers prelude. The prelude is kept aside so that only body bytes count as "first byte".
let prelude: { statusCode?: number } | undefined;
(globalThis as Record<string, unknown>).awslambda = {
  streamifyResponse: <T>(handler: T): T => handler,
  HttpResponseStream: {
    from: (stream: Writable, metadata: { statusCode?: number }) => {
      prelude = metadata;
      return stream;
    },
  },
};

const chatBody = JSON.stringify({ model: BENCH_MODEL, messages: [{ role: 'user', content: 'Hello' }] });
const now = new Date();
const event = {
  version: '2.0',
  routeKey: '$default',
  rawPath: kind === 'health' ? '/health' : '/v1/chat/completions',
  rawQueryString: '',
  headers: {
    host: 'abcdefghij.lambda-url.eu-west-1.on.aws',
    'user-agent': 'bench',
    ...(kind === 'chat'
      ? { 'content-type': 'application/json', authorization: `Bearer ${BENCH_GATEWAY_KEY}` }
      : {}),
  },
  requestContext: {
    accountId: 'anonymous',
    apiId: 'abcdefghij',
    domainName: 'abcdefghij.lambda-url.eu-west-1.on.aws',
    domainPrefix: 'abcdefghij',
    http: {
      method: kind === 'health' ? 'GET' : 'POST',
      path: kind === 'health' ? '/health' : '/v1/chat/completions',
      protocol: 'HTTP/1.1',
      sourceIp: '127.0.0.1',
      userAgent: 'bench',
    },
    requestId: 'bench-cold-start',
    routeKey: '$default',
    stage: '$default',
    time: now.toUTCString(),
    timeEpoch: now.getTime(),
  },
  body: kind === 'chat' ? chatBody : undefined,
  isBase64Encoded: false,
};
const context = {
  functionName: 'llm-gateway-bench',
  awsRequestId: 'bench-cold-start',
  getRemainingTimeInMillis: () => 30_000,
};

const chunks: Buffer[] = [];
let firstByteNs: bigint | undefined;
const responseStream = new Writable({
  write(chunk: Buffer | string, _encoding, callback) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (bytes.byteLength > 0) {
      firstByteNs ??= process.hrtime.bigint();
      chunks.push(bytes);
    }
    callback();
  },
});

const importStartNs = process.hrtime.bigint();
const { handler } = (await import(pathToFileURL(bundlePath).href)) as {
  handler: (event: unknown, stream: Writable, context: unknown) => Promise<void>;
};
const importEndNs = process.hrtime.bigint();
await handler(event, responseStream, context);
const endNs = process.hrtime.bigint();

const body = Buffer.concat(chunks).toString('utf8');
const result: ProbeResult = {
  scriptStartNs: String(scriptStartNs),
  importStartNs: String(importStartNs),
  importEndNs: String(importEndNs),
  firstByteNs: String(firstByteNs ?? endNs),
  endNs: String(endNs),
  statusCode: prelude?.statusCode ?? 0,
  bodyBytes: Buffer.byteLength(body),
  body: body.slice(0, 300),
};
process.stdout.write(`\n${PROBE_MARKER}${JSON.stringify(result)}\n`, () => process.exit(0));
