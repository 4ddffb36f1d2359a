// A fake OpenAI-compatible provider: fixed chat completions (plain or SSE) and embeddings, fast and predictable.
import http from 'node:http';
import { encodeEventStreamMessage } from '../lambda/core/upstream/event-stream.ts';
import { serveFromChild } from './child.ts';
import { BENCH_EMBEDDING_MODEL, BENCH_MODEL, STREAM_CHUNKS, STREAM_GAP_MS } from './shared.ts';

const CREATED = 1_760_000_000;
const MODEL = BENCH_MODEL;
const usage = { prompt_tokens: 12, completion_tokens: STREAM_CHUNKS, total_tokens: 12 + STREAM_CHUNKS };

const completion = Buffer.from(
  JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created: CREATED,
    model: MODEL,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: 'Hello! How can I help you today?', refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: {
      ...usage,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
    },
    system_fingerprint: 'fp_bench',
  }),
);

const embedding = Buffer.from(
  JSON.stringify({
    object: 'list',
    data: [{ object: 'embedding', index: 0, embedding: Array.from({ length: 16 }, (_, i) => i / 16) }],
    model: BENCH_EMBEDDING_MODEL,
    usage: { prompt_tokens: 5, total_tokens: 5 },
  }),
);

const sseEvent = (payload: unknown) => Buffer.from(`data: ${JSON.stringify(payload)}\n\n`);
const chunk = (delta: Record<string, unknown>, finishReason: string | null) =>
  sseEvent({
    id: 'chatcmpl-bench',
    object: 'chat.completion.chunk',
    created: CREATED,
    model: MODEL,
    system_fingerprint: 'fp_bench',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  });
const streamChunks = Array.from({ length: STREAM_CHUNKS }, (_, i) =>
  i === 0
    ? chunk({ role: 'assistant', content: '' }, null)
    : i === STREAM_CHUNKS - 1
      ? chunk({}, 'stop')
      : chunk({ content: ` token${i}` }, null),
);
const usageChunk = sseEvent({
  id: 'chatcmpl-bench',
  object: 'chat.completion.chunk',
  created: CREATED,
  model: MODEL,
  system_fingerprint: 'fp_bench',
  choices: [],
  usage,
});
const done = Buffer.from('data: [DONE]\n\n');

const sendJson = (res: http.ServerResponse, status: number, body: Buffer) => {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.byteLength });
  res.end(body);
};

const stream = (res: http.ServerResponse, includeUsage: boolean) => {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  let next = 0;
  let timer: NodeJS.Timeout | undefined;
  res.on('close', () => clearTimeout(timer));
  const tick = () => {
    if (res.destroyed) return;
    if (next < streamChunks.length) {
      res.write(streamChunks[next]);
      next += 1;
      timer = setTimeout(tick, STREAM_GAP_MS);
      return;
    }
    if (includeUsage) res.write(usageChunk);
    res.end(done);
  };
  tick();
};

// Bedrock's ConverseStream for the same answer, in the AWS event stream framing: messageStart, a text delta per
// content chunk, messageStop, then metadata (usage); events 2 ms apart as the OpenAI stream's chunks are. Through
// the gateway's translation the client gets the same 20 chunks and [DONE] as from the OpenAI stream.
const bedrockEvent = (type: string, payload: unknown) =>
  encodeEventStreamMessage(
    { ':event-type': type, ':content-type': 'application/json', ':message-type': 'event' },
    Buffer.from(JSON.stringify(payload)),
  );
const bedrockEvents = [
  bedrockEvent('messageStart', { role: 'assistant' }),
  ...Array.from({ length: STREAM_CHUNKS - 2 }, (_, i) =>
    bedrockEvent('contentBlockDelta', { contentBlockIndex: 0, delta: { text: ` token${i + 1}` } }),
  ),
  bedrockEvent('messageStop', { stopReason: 'end_turn' }),
];
const bedrockMetadata = bedrockEvent('metadata', {
  usage: { inputTokens: 12, outputTokens: STREAM_CHUNKS, totalTokens: 12 + STREAM_CHUNKS },
  metrics: { latencyMs: 40 },
});

const converseStream = (res: http.ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
  let next = 0;
  let timer: NodeJS.Timeout | undefined;
  res.on('close', () => clearTimeout(timer));
  const tick = () => {
    if (res.destroyed) return;
    if (next < bedrockEvents.length) {
      res.write(bedrockEvents[next]);
      next += 1;
      timer = setTimeout(tick, STREAM_GAP_MS);
      return;
    }
    res.end(bedrockMetadata);
  };
  tick();
};

const notFound = Buffer.from(
  JSON.stringify({ error: { message: 'not found', type: 'invalid_request_error' } }),
);

const server = http.createServer((req, res) => {
  const parts: Buffer[] = [];
  req.on('data', (part: Buffer) => parts.push(part));
  req.on('end', () => {
    if (req.method !== 'POST') return sendJson(res, 404, notFound);
    if (req.url === '/v1/embeddings') return sendJson(res, 200, embedding);
    if (req.url?.startsWith('/model/') && req.url.endsWith('/converse-stream')) return converseStream(res);
    if (req.url !== '/v1/chat/completions') return sendJson(res, 404, notFound);
    let body: { stream?: unknown; stream_options?: { include_usage?: unknown } };
    try {
      body = JSON.parse(Buffer.concat(parts).toString('utf8'));
    } catch {
      return sendJson(res, 400, notFound);
    }
    if (body.stream === true) return stream(res, body.stream_options?.include_usage === true);
    sendJson(res, 200, completion);
  });
});

serveFromChild(server);
