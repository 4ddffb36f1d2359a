// Anthropic Messages requests on Bedrock's InvokeModel: the request moved into Bedrock's form (path, version, betas)
// or refused naming the field, and the answer given back as Anthropic's JSON or SSE, event by event.
import fc from 'fast-check';
import { GatewayError } from '../../lambda/core/errors.ts';
import { fromInvokeMessages, toInvokeMessages } from '../../lambda/core/upstream/bedrock-messages.ts';
import { encodeEventStreamMessage } from '../../lambda/core/upstream/event-stream.ts';
import type { UpstreamBody, UpstreamBodyReader, UpstreamResponse } from '../../lambda/ports.ts';

const MODEL_ID = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const messagesBody = (extra: Record<string, unknown> = {}) => ({
  model: 'claude-sonnet-4-5',
  max_tokens: 256,
  messages: [{ role: 'user', content: 'Hi' }],
  ...extra,
});

const refusal = (body: Record<string, unknown>): GatewayError => {
  try {
    toInvokeMessages(body, MODEL_ID, undefined);
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('not refused');
};

describe('toInvokeMessages', () => {
  it('sends the body without model and stream, with the Bedrock version, to the model in the path', () => {
    // Act
    const request = toInvokeMessages(messagesBody({ temperature: 0.2 }), MODEL_ID, undefined);

    // Assess
    expect(request).toEqual({
      path: `/model/${encodeURIComponent(MODEL_ID)}/invoke`,
      body: {
        max_tokens: 256,
        messages: [{ role: 'user', content: 'Hi' }],
        temperature: 0.2,
        anthropic_version: 'bedrock-2023-05-31',
      },
      context: { stream: false, model: 'claude-sonnet-4-5' },
    });
  });

  it('streams with InvokeModelWithResponseStream, and escapes an inference profile ARN in the path', () => {
    // Prepare
    const arn = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123';

    // Act
    const request = toInvokeMessages(messagesBody({ stream: true }), arn, undefined);

    // Assess
    expect(request.path).toBe(
      '/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc123/invoke-with-response-stream',
    );
    expect(request.body).not.toHaveProperty('stream');
    expect(request.context).toEqual({ stream: true, model: 'claude-sonnet-4-5' });
  });

  it.each([
    ['no header', undefined, {}, undefined],
    ['an empty header', ' ', {}, undefined],
    [
      'a comma-separated header',
      'interleaved-thinking-2025-05-14, context-1m-2025-08-07,,',
      {},
      ['interleaved-thinking-2025-05-14', 'context-1m-2025-08-07'],
    ],
    [
      'a header and betas already in the body',
      'context-1m-2025-08-07,token-efficient-tools-2025-02-19',
      { anthropic_beta: ['context-1m-2025-08-07', 7] },
      ['context-1m-2025-08-07', 'token-efficient-tools-2025-02-19'],
    ],
  ])('puts the anthropic-beta header in the body as anthropic_beta: %s', (_case, header, extra, betas) => {
    // Act
    const { body } = toInvokeMessages(messagesBody(extra), MODEL_ID, header);

    // Assess
    expect(body.anthropic_beta).toEqual(betas);
  });

  it('replaces an anthropic_version the client sent, and names the target model when the body names none', () => {
    // Act
    const { body, context } = toInvokeMessages(
      { max_tokens: 8, messages: [], anthropic_version: '2023-06-01' },
      MODEL_ID,
      undefined,
    );

    // Assess
    expect(body.anthropic_version).toBe('bedrock-2023-05-31');
    expect(context.model).toBe(MODEL_ID);
  });

  const image = (type: string) => ({ type: 'image', source: { type, url: 'https://x/y.png', file_id: 'f' } });
  it.each([
    ['service_tier', { service_tier: 'auto' }, 'service_tier'],
    ['container', { container: 'container_1' }, 'container'],
    ['mcp_servers', { mcp_servers: [{ type: 'url', url: 'https://mcp', name: 'm' }] }, 'mcp_servers'],
    [
      'an image by URL',
      { messages: [{ role: 'user', content: [{ type: 'text', text: 'See' }, image('url')] }] },
      'messages[0].content[1].source.type',
    ],
    [
      'a document by file id',
      {
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello' },
          { role: 'user', content: [{ type: 'document', source: { type: 'file', file_id: 'file_1' } }] },
        ],
      },
      'messages[2].content[0].source.type',
    ],
    [
      'an image by URL in a tool result',
      {
        messages: [
          {
            role: 'user',
            content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [image('url')] }],
          },
        ],
      },
      'messages[0].content[0].content[0].source.type',
    ],
  ])('refuses what Bedrock does not take, naming the field: %s', (_case, extra, param) => {
    // Act
    const error = refusal(messagesBody(extra));

    // Assess
    expect(error.status).toBe(400);
    expect(error.param).toBe(param);
    expect(error.code).toBe('unsupported_parameter');
    expect(error.message).toContain(param);
  });

  it('passes base64 images and documents, text documents, and a null service_tier', () => {
    // Prepare
    const body = messagesBody({
      service_tier: null,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } },
            { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'Plain.' } },
          ],
        },
      ],
    });

    // Act
    const request = toInvokeMessages(body, MODEL_ID, undefined);

    // Assess
    expect(request.body.messages).toEqual(body.messages);
  });
});

/** A body whose reader hands out `chunks` one per read, counting reads and cancels. */
const bodyOf = (...chunks: Uint8Array[]) => {
  const calls = { reads: 0, cancels: 0 };
  const reader: UpstreamBodyReader = {
    read: async () => {
      calls.reads += 1;
      const value = chunks.shift();
      return value === undefined ? { done: true } : { done: false, value };
    },
    cancel: async () => {
      calls.cancels += 1;
    },
  };
  const body: UpstreamBody = { getReader: () => reader, cancel: reader.cancel };
  return { body, calls };
};

const readAll = async (body: UpstreamBody): Promise<string[]> => {
  const reader = body.getReader();
  const reads: string[] = [];
  for (;;) {
    const result = await reader.read();
    if (result.done) return reads;
    reads.push(decoder.decode(result.value));
  }
};

/** One Anthropic event as Bedrock frames it: a `chunk` whose payload carries the event's JSON in base64. */
const chunkFrame = (event: Record<string, unknown>) =>
  encodeEventStreamMessage(
    { ':event-type': 'chunk', ':content-type': 'application/json', ':message-type': 'event' },
    encoder.encode(
      JSON.stringify({ bytes: Buffer.from(JSON.stringify(event)).toString('base64'), p: 'abcdefgh' }),
    ),
  );
const exceptionFrame = (type: string) =>
  encodeEventStreamMessage(
    { ':exception-type': type, ':content-type': 'application/json', ':message-type': 'exception' },
    encoder.encode(JSON.stringify({ message: 'Too many requests.' })),
  );

const streamed = (body: UpstreamBody): UpstreamResponse =>
  fromInvokeMessages(
    {
      status: 200,
      headers: {
        'content-type': 'application/vnd.amazon.eventstream',
        'content-length': '999',
        'x-amzn-requestid': 'req-1',
      },
      body,
    },
    { stream: true, model: 'claude-sonnet-4-5' },
  );

const START = {
  type: 'message_start',
  message: {
    id: 'msg_bdrk_1',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5-20250929',
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 21, output_tokens: 1 },
  },
};
const BLOCK_START = { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } };
const delta = (text: string) => ({
  type: 'content_block_delta',
  index: 0,
  delta: { type: 'text_delta', text },
});
const MESSAGE_DELTA = {
  type: 'message_delta',
  delta: { stop_reason: 'end_turn', stop_sequence: null },
  usage: { output_tokens: 9 },
};
const STOP = {
  type: 'message_stop',
  'amazon-bedrock-invocationMetrics': { inputTokenCount: 21, outputTokenCount: 9, invocationLatency: 321 },
};
const EVENTS = [START, BLOCK_START, delta('Hé✓'), delta('llo'), { type: 'content_block_stop', index: 0 }];
const ALL = [...EVENTS, MESSAGE_DELTA, STOP];

/** The SSE Anthropic sends for the events above, to the byte. */
const EXPECTED_SSE = [
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_bdrk_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":21,"output_tokens":1}}}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hé✓"}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"llo"}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n',
].join('');

const errorSse = (type: string) =>
  `event: error\ndata: {"type":"error","error":{"type":"${type}","message":"The upstream provider failed while sending the response."}}\n\n`;

describe('fromInvokeMessages', () => {
  it("gives InvokeModel's message back as JSON naming the client's model", async () => {
    // Prepare
    const message = {
      id: 'msg_bdrk_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5-20250929',
      content: [{ type: 'text', text: 'Hello.' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 21, output_tokens: 9 },
    };
    const { body } = bodyOf(
      encoder.encode(JSON.stringify(message).slice(0, 20)),
      encoder.encode(JSON.stringify(message).slice(20)),
    );

    // Act
    const response = fromInvokeMessages(
      {
        status: 200,
        headers: { 'content-type': 'application/json', 'content-length': '180', 'x-amzn-requestid': 'req-1' },
        body,
      },
      { stream: false, model: 'claude-sonnet-4-5' },
    );
    const reads = await readAll(response.body);

    // Assess
    expect(response.headers).toEqual({ 'content-type': 'application/json', 'x-amzn-requestid': 'req-1' });
    expect(reads.join('')).toBe(JSON.stringify({ ...message, model: 'claude-sonnet-4-5' }));
  });

  it('fails the read of an answer that is not a JSON object, rather than make one up', async () => {
    // Prepare
    const response = fromInvokeMessages(
      {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: bodyOf(encoder.encode('[1]')).body,
      },
      { stream: false, model: 'm' },
    );

    // Act and assess
    await expect(response.body.getReader().read()).rejects.toThrow('not a JSON object');
  });

  it("passes Bedrock's errors unchanged", () => {
    // Prepare
    const error: UpstreamResponse = {
      status: 429,
      headers: { 'content-type': 'application/json', 'x-amzn-errortype': 'ThrottlingException:http://x' },
      body: bodyOf(encoder.encode('{"message":"Too many requests"}')).body,
    };

    // Act and assess
    expect(fromInvokeMessages(error, { stream: true, model: 'm' })).toBe(error);
  });

  it("sends each event as Anthropic's SSE, however the frames are split: the client's model, no Bedrock metrics", async () => {
    const all = Buffer.concat(ALL.map(chunkFrame));
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: all.byteLength - 1 }), { maxLength: 16 }),
        async (cuts) => {
          // Prepare: the bytes cut at random points, single bytes and frame boundaries included
          const points = [...new Set(cuts)].sort((a, b) => a - b);
          const pieces = [0, ...points].map((start, i) => all.subarray(start, points[i] ?? all.byteLength));
          const { body } = bodyOf(...pieces);

          // Act
          const response = streamed(body);
          const reads = await readAll(response.body);

          // Assess
          expect(reads.join('')).toBe(EXPECTED_SSE);
          expect(reads.every((read) => read.endsWith('\n\n'))).toBe(true);
          expect(response.headers).toEqual({
            'content-type': 'text/event-stream',
            'x-amzn-requestid': 'req-1',
          });
        },
      ),
      { numRuns: 150 },
    );
  });

  it('returns from a read as soon as an upstream read completed an event, with every event it completed', async () => {
    // Prepare: the first frame in two pieces, then the rest of the stream in one piece
    const first = chunkFrame(START);
    const { body, calls } = bodyOf(
      first.subarray(0, 7),
      first.subarray(7),
      Buffer.concat([...EVENTS.slice(1), MESSAGE_DELTA, STOP].map(chunkFrame)),
    );
    const reader = streamed(body).body.getReader();

    // Act
    const firstRead = await reader.read();
    const readsForFirst = calls.reads;
    const secondRead = await reader.read();
    const last = await reader.read();

    // Assess
    expect(readsForFirst).toBe(2);
    expect(decoder.decode(firstRead.value)).toMatch(/^event: message_start\n.*\n\n$/);
    expect(decoder.decode(secondRead.value).match(/^event: /gm)).toHaveLength(6);
    expect(last.done).toBe(true);
    // message_stop is the last event: nothing more is read.
    expect(calls.reads).toBe(3);
  });

  it('reads nothing ahead: the first event is returned while the next upstream read has not resolved', async () => {
    // Prepare: an upstream whose second read stays pending until the test lets it go
    let release: (value: { done: false; value: Uint8Array }) => void = () => {};
    let reads = 0;
    const upstream: UpstreamBodyReader = {
      read: () => {
        reads += 1;
        if (reads === 1) return Promise.resolve({ done: false, value: chunkFrame(START) });
        return new Promise((resolve) => {
          release = resolve;
        });
      },
      cancel: async () => {},
    };
    const reader = streamed({ getReader: () => upstream, cancel: upstream.cancel }).body.getReader();

    // Act
    const first = await reader.read();
    const readsAfterFirst = reads;
    const second = reader.read();
    release({ done: false, value: chunkFrame(BLOCK_START) });

    // Assess
    expect(decoder.decode(first.value)).toContain('event: message_start');
    expect(readsAfterFirst).toBe(1);
    expect(decoder.decode((await second).value)).toContain('event: content_block_start');
    expect(reads).toBe(2);
  });

  it.each([
    ['throttlingException', 'overloaded_error'],
    ['serviceUnavailableException', 'overloaded_error'],
    ['modelStreamErrorException', 'api_error'],
    ['internalServerException', 'api_error'],
    ['validationException', 'api_error'],
  ])(
    'ends the stream with an error event on a %s frame, and lets go of the upstream',
    async (exception, type) => {
      // Prepare: the exception arrives with the events before it, and bytes after it that must not be sent
      const { body, calls } = bodyOf(
        Buffer.concat([
          chunkFrame(START),
          chunkFrame(BLOCK_START),
          exceptionFrame(exception),
          chunkFrame(delta('x')),
        ]),
        chunkFrame(STOP),
      );

      // Act
      const reads = await readAll(streamed(body).body);

      // Assess
      expect(reads.join('')).toBe(`${EXPECTED_SSE.split('event: content_block_delta')[0]}${errorSse(type)}`);
      expect(calls.cancels).toBe(1);
      expect(calls.reads).toBe(1);
    },
  );

  it('just ends a stream that stops before message_stop: the relay reports it', async () => {
    // Prepare
    const { body } = bodyOf(...EVENTS.map(chunkFrame));

    // Act
    const reads = await readAll(streamed(body).body);

    // Assess
    expect(reads.join('')).toBe(EXPECTED_SSE.split('event: message_delta')[0]);
  });

  it('skips frames that carry no event, and passes cancel on to the upstream', async () => {
    // Prepare
    const other = encodeEventStreamMessage(
      { ':event-type': 'ping', ':message-type': 'event' },
      encoder.encode('{}'),
    );
    const { body, calls } = bodyOf(other, chunkFrame(START));
    const response = streamed(body);

    // Act
    const first = await response.body.getReader().read();
    await response.body.cancel('client left');

    // Assess
    expect(decoder.decode(first.value)).toMatch(/^event: message_start\n/);
    expect(calls.cancels).toBe(1);
  });
});
