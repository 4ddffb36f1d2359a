// The load generator: a closed loop of keep-alive node:http requests, timing each one from send to last byte.
import http from 'node:http';
import { STREAM_CHUNKS } from './shared.ts';

export interface LoadTarget {
  readonly name: string;
  readonly origin: string;
  readonly host: string;
  readonly port: number;
  /** Sent with every request (the gateway key; harmless for the others). */
  readonly headers: Readonly<Record<string, string>>;
  readonly agent: http.Agent;
}

export interface RequestSpec {
  readonly path: string;
  readonly body: string;
  readonly stream: boolean;
}

export interface LoadResult {
  readonly requests: number;
  readonly wallMs: number;
  /** Send to last byte, ms. */
  readonly latencyMs: Float64Array;
  /** Send to first body byte, ms (streams only). */
  readonly ttfbMs: Float64Array;
  /** The gateway's own `x-gateway-overhead-ms` header, when present. */
  readonly reportedOverheadMs: number[];
  /** Socket reads that delivered body bytes, per request: a proxy holding chunks back shows fewer. */
  readonly reads: Float64Array;
  /** Body size of the last response. */
  readonly bodyBytes: number;
  /** Responses by their `x-gateway-cache` header (`none` without one): proves which path was measured. */
  readonly cacheStatuses: Readonly<Record<string, number>>;
  readonly failures: string[];
}

export const createTarget = (
  name: string,
  origin: string,
  headers: Record<string, string> = {},
): LoadTarget => {
  const url = new URL(origin);
  return {
    name,
    origin,
    host: url.hostname,
    port: Number(url.port),
    headers,
    agent: new http.Agent({ keepAlive: true, maxSockets: 64, scheduling: 'lifo' }),
  };
};

const DATA_PREFIX = 'data: ';
/** What every stream must deliver to the client: the content chunks and `[DONE]`, no usage chunk. */
const EXPECTED_DATA_EVENTS = STREAM_CHUNKS + 1;

const countEvents = (text: string): number => {
  let count = 0;
  for (let at = text.indexOf(DATA_PREFIX); at !== -1; at = text.indexOf(DATA_PREFIX, at + 1)) count += 1;
  return count;
};

interface OneResult {
  readonly latencyMs: number;
  readonly ttfbMs: number;
  readonly reads: number;
  readonly bodyBytes: number;
  readonly reportedOverheadMs: number | undefined;
  readonly cacheStatus: string;
  readonly failure: string | undefined;
}

const send = (target: LoadTarget, spec: RequestSpec, payload: Buffer): Promise<OneResult> =>
  new Promise((resolve) => {
    const start = process.hrtime.bigint();
    let firstByte: bigint | undefined;
    const fail = (failure: string) =>
      resolve({
        latencyMs: Number(process.hrtime.bigint() - start) / 1e6,
        ttfbMs: 0,
        reads: 0,
        bodyBytes: 0,
        reportedOverheadMs: undefined,
        cacheStatus: 'none',
        failure,
      });
    const request = http.request(
      {
        host: target.host,
        port: target.port,
        method: 'POST',
        path: spec.path,
        agent: target.agent,
        headers: {
          ...target.headers,
          'content-type': 'application/json',
          'content-length': payload.byteLength,
        },
      },
      (response) => {
        const parts: Buffer[] = [];
        response.on('data', (part: Buffer) => {
          firstByte ??= process.hrtime.bigint();
          parts.push(part);
        });
        response.on('error', (error) => fail(`${target.name}: response error ${error.message}`));
        response.on('end', () => {
          const end = process.hrtime.bigint();
          const body = Buffer.concat(parts);
          const text = body.toString('utf8');
          let failure: string | undefined;
          if (response.statusCode !== 200) {
            failure = `${target.name}: status ${response.statusCode}: ${text.slice(0, 200)}`;
          } else if (spec.stream) {
            const events = countEvents(text);
            if (events !== EXPECTED_DATA_EVENTS || !text.endsWith('data: [DONE]\n\n')) {
              failure = `${target.name}: stream had ${events} data events (want ${EXPECTED_DATA_EVENTS}) or no [DONE]`;
            }
          } else if (!text.includes('"usage"')) {
            failure = `${target.name}: body without usage: ${text.slice(0, 200)}`;
          }
          const overhead = response.headers['x-gateway-overhead-ms'];
          const cacheStatus = response.headers['x-gateway-cache'];
          resolve({
            latencyMs: Number(end - start) / 1e6,
            ttfbMs: Number((firstByte ?? end) - start) / 1e6,
            reads: parts.length,
            bodyBytes: body.byteLength,
            reportedOverheadMs: typeof overhead === 'string' ? Number(overhead) : undefined,
            cacheStatus: typeof cacheStatus === 'string' ? cacheStatus : 'none',
            failure,
          });
        });
      },
    );
    request.on('error', (error) => fail(`${target.name}: request error ${error.message}`));
    request.end(payload);
  });

/** `requests` requests, at most `concurrency` in flight at any time. */
export const runLoad = async (
  target: LoadTarget,
  spec: RequestSpec,
  requests: number,
  concurrency: number,
): Promise<LoadResult> => {
  const payload = Buffer.from(spec.body);
  const latencyMs = new Float64Array(requests);
  const ttfbMs = new Float64Array(requests);
  const reads = new Float64Array(requests);
  const reportedOverheadMs: number[] = [];
  const failures: string[] = [];
  const cacheStatuses: Record<string, number> = {};
  let bodyBytes = 0;
  let issued = 0;
  const worker = async () => {
    while (issued < requests) {
      const index = issued++;
      const result = await send(target, spec, payload);
      latencyMs[index] = result.latencyMs;
      ttfbMs[index] = result.ttfbMs;
      reads[index] = result.reads;
      bodyBytes = result.bodyBytes;
      cacheStatuses[result.cacheStatus] = (cacheStatuses[result.cacheStatus] ?? 0) + 1;
      if (result.reportedOverheadMs !== undefined) reportedOverheadMs.push(result.reportedOverheadMs);
      if (result.failure !== undefined) failures.push(result.failure);
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.min(concurrency, requests) }, worker));
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  return {
    requests,
    wallMs,
    latencyMs,
    ttfbMs,
    reportedOverheadMs,
    reads,
    bodyBytes,
    cacheStatuses,
    failures,
  };
};

/** Throws on the first failed request: a wrong answer makes every figure of its phase meaningless. */
export const expectOk = (result: LoadResult, what: string): void => {
  if (result.failures.length > 0) {
    throw new Error(`${what}: ${result.failures.length} failed request(s), first: ${result.failures[0]}`);
  }
};

/** Throws unless every response in `result` carried `x-gateway-cache: <status>`. */
export const expectCacheStatus = (result: LoadResult, status: string, what: string): void => {
  if ((result.cacheStatuses[status] ?? 0) !== result.requests) {
    throw new Error(
      `${what}: every response should say x-gateway-cache: ${status}, got ${JSON.stringify(result.cacheStatuses)}`,
    );
  }
};
