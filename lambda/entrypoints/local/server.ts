// The local entry point's HTTP server: node:http in front of the core gateway, streaming both ways.

import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { asGatewayError } from '../../core/errors.ts';
import { errorResponse } from '../../core/http.ts';
import type { Gateway } from '../../core/pipeline.ts';

const toHeaders = (raw: readonly string[]): Headers => {
  const headers = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return headers;
};

const EMPTY = new Uint8Array(0);

/**
 * Reads a request body, keeping at most `limit + 1` bytes: enough for the core to refuse an oversized
 * body, never more in memory. A body declared too large is not read at all (the core refuses it by header).
 */
const readBody = (req: http.IncomingMessage, limit: number): Promise<Uint8Array> => {
  if (Number(req.headers['content-length']) > limit) {
    req.resume();
    return Promise.resolve(EMPTY);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    req.on('data', (chunk: Buffer) => {
      if (kept > limit) return;
      chunks.push(chunk);
      kept += chunk.byteLength;
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, kept)));
    req.on('error', reject);
  });
};

export const createLocalServer = (gateway: Gateway): http.Server =>
  http.createServer(async (req, res) => {
    const disconnected = new AbortController();
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    res.on('close', () => {
      if (res.writableFinished) return;
      // The client left before the response was complete: stop the upstream work.
      disconnected.abort();
      reader?.cancel().catch(() => {});
    });
    const method = req.method ?? 'GET';
    let body: Uint8Array | undefined;
    if (method !== 'GET' && method !== 'HEAD') {
      try {
        body = await readBody(req, gateway.maxBodyBytes);
      } catch {
        res.destroy();
        return;
      }
    }
    // The body travels beside the Request, not inside it: a web body stream costs more than the bytes.
    const request = new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/'}`, {
      method,
      headers: toHeaders(req.rawHeaders),
    });
    // The core turns every failure into a response; this guard only keeps a bug from killing the process.
    const response = await gateway
      .handle(request, {
        signal: disconnected.signal,
        body,
        ...(req.socket.remoteAddress === undefined ? {} : { clientIp: req.socket.remoteAddress }),
      })
      .catch((error: unknown) => errorResponse(asGatewayError(error), randomUUID(), {}));
    if (disconnected.signal.aborted) {
      await response.body?.cancel().catch(() => {});
      return;
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    res.writeHead(response.status, headers);
    if (response.body === null) {
      res.end();
      return;
    }
    reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!res.write(value)) await once(res, 'drain');
      }
      res.end();
    } catch {
      // The body failed after the status was sent: cutting the connection is the only honest signal left.
      res.destroy();
    }
  });
