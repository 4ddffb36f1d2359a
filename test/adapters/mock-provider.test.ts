// The built-in mock provider behind the real gateway, driven by the official OpenAI SDK: every endpoint it answers,
// in the API's wire format, with the usage the gateway meters.
import OpenAI, { toFile } from 'openai';
import { createMockProvider, MOCK_BASE_URL, withMockProvider } from '../../lambda/adapters/upstream/mock.ts';
import { createNodeHttpUpstream } from '../../lambda/adapters/upstream/node-http.ts';
import type { GatewayConfigInput } from '../../lambda/core/config.ts';
import { localConfig, PRICES } from '../../lambda/entrypoints/local/defaults.ts';
import { type GatewayHarness, readText, startGateway, TEST_KEY } from '../fixtures/gateway-harness.ts';
import { rejectionOf, usageRecordOf } from '../fixtures/sdk-local-gateway.ts';

/** The mock's answer to a prompt: it quotes the prompt, one output token per word. */
const replyTo = (prompt: string) =>
  `This is the gateway's mock provider. You said: "${prompt}". Set OPENAI_API_KEY to talk to a real model.`;
const PROMPT = 'Hello there';
const REPLY = replyTo(PROMPT);
/** Words of REPLY: the output tokens the mock reports for it. */
const REPLY_TOKENS = 18;
/** Words of PROMPT + 3. */
const PROMPT_TOKENS = 5;
const RESPONSE_ID = /^resp_[0-9a-f]{48}$/;
const MESSAGE_ID = /^msg_[0-9a-f]{48}$/;

/** The local defaults (every route to the mock), with prices for the GPT image, speech and transcription models. */
const config = (): GatewayConfigInput => {
  const defaults = localConfig({});
  expect(defaults.routes?.[0]?.targets[0]?.baseUrl).toBe(MOCK_BASE_URL);
  return {
    ...defaults,
    prices: {
      ...PRICES,
      'gpt-image-1': { input: 5, output: 40 },
      'gpt-4o-mini-tts': { input: 0.6, output: 12 },
      'gpt-4o-transcribe': { input: 2.5, output: 10 },
    },
  };
};

/** Server-sent events as they came over the wire: each frame's `event:` name (if any) and parsed data. */
const framesOf = (text: string): { event: string | undefined; data: Record<string, unknown> }[] =>
  text
    .split('\n\n')
    .filter((frame) => frame.trim() !== '')
    .map((frame) => {
      const event = /^event: (.*)$/m.exec(frame)?.[1];
      const data = /^data: (.*)$/m.exec(frame)?.[1] ?? '';
      return { event, data: JSON.parse(data) as Record<string, unknown> };
    });

const RESPONSE_EVENTS = (deltas: number, last = 'response.completed') => [
  'response.created',
  'response.in_progress',
  'response.output_item.added',
  'response.content_part.added',
  ...Array.from({ length: deltas }, () => 'response.output_text.delta'),
  'response.output_text.done',
  'response.content_part.done',
  'response.output_item.done',
  last,
];

describe('mock provider, through the gateway, with the OpenAI SDK', () => {
  const upstream = createNodeHttpUpstream();
  let harness: GatewayHarness;
  let client: OpenAI;

  beforeAll(async () => {
    harness = await startGateway(config(), { upstream: withMockProvider(upstream) });
    client = new OpenAI({ apiKey: TEST_KEY, baseURL: `${harness.baseUrl}/v1`, maxRetries: 0 });
  });
  afterAll(async () => {
    await harness.close();
    upstream.close();
  });

  describe('responses', () => {
    it('answers with a completed Response: the text, output_text, usage, and a new id on every call', async () => {
      // Act
      const { data: response, request_id } = await client.responses
        .create({ model: 'gpt-4o-mini', input: PROMPT })
        .withResponse();
      const again = await client.responses.create({ model: 'gpt-4o-mini', input: PROMPT });

      // Assess
      expect(response).toEqual(
        expect.objectContaining({
          id: expect.stringMatching(RESPONSE_ID),
          object: 'response',
          status: 'completed',
          model: 'gpt-4o-mini',
          created_at: expect.any(Number),
          error: null,
          incomplete_details: null,
          instructions: null,
          store: true,
          tools: [],
          tool_choice: 'auto',
          parallel_tool_calls: true,
        }),
      );
      expect(response.output).toEqual([
        {
          id: expect.stringMatching(MESSAGE_ID),
          type: 'message',
          role: 'assistant',
          status: 'completed',
          content: [{ type: 'output_text', text: REPLY, annotations: [] }],
        },
      ]);
      expect(response.output_text).toBe(REPLY);
      expect(response.usage).toEqual({
        input_tokens: PROMPT_TOKENS,
        input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
        output_tokens: REPLY_TOKENS,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: PROMPT_TOKENS + REPLY_TOKENS,
      });
      expect(again.output_text).toBe(REPLY);
      expect(again.id).not.toBe(response.id);
      expect(again.output[0]?.id).not.toBe(response.output[0]?.id);
      const record = await usageRecordOf(harness.ledger, request_id!);
      expect(record).toEqual(
        expect.objectContaining({
          endpoint: '/v1/responses',
          model: 'gpt-4o-mini',
          outcome: 'complete',
          exact: true,
          usage: {
            inputTokens: PROMPT_TOKENS,
            cachedInputTokens: 0,
            outputTokens: REPLY_TOKENS,
            reasoningTokens: 0,
          },
        }),
      );
    });

    it('reads the last user message of an input list, and counts the instructions as input', async () => {
      // Act
      const response = await client.responses.create({
        model: 'gpt-4o-mini',
        instructions: 'Answer in one short line.',
        input: [
          { role: 'user', content: 'First question' },
          { role: 'assistant', content: 'First answer' },
          {
            type: 'message',
            role: 'user',
            content: [{ type: 'input_text', text: 'Second question please' }],
          },
        ],
      });

      // Assess
      expect(response.output_text).toBe(replyTo('Second question please'));
      expect(response.instructions).toBe('Answer in one short line.');
      // 5 words of instructions + 3 of the last user message + 3.
      expect(response.usage?.input_tokens).toBe(11);
      expect(response.usage?.output_tokens).toBe(19);
      expect(response.usage?.total_tokens).toBe(30);
    });

    it('streams the Response event by event, in order, with sequence numbers and usage at the end', async () => {
      // Act
      const { data: stream, request_id } = await client.responses
        .create({ model: 'gpt-4o-mini', input: PROMPT, stream: true })
        .withResponse();
      const events: OpenAI.Responses.ResponseStreamEvent[] = [];
      for await (const event of stream) events.push(event);

      // Assess
      expect(events.map((event) => event.type)).toEqual(RESPONSE_EVENTS(REPLY_TOKENS));
      expect(events.map((event) => event.sequence_number)).toEqual(events.map((_, i) => i));
      const deltas = events.filter((event) => event.type === 'response.output_text.delta');
      expect(deltas.map((event) => event.delta).join('')).toBe(REPLY);
      expect(deltas[0]?.delta).toBe('This ');
      const created = events[0] as OpenAI.Responses.ResponseCreatedEvent;
      expect(created.response).toEqual(
        expect.objectContaining({ status: 'in_progress', output: [], usage: null }),
      );
      const done = events.find((event) => event.type === 'response.output_text.done');
      expect(done).toEqual(expect.objectContaining({ text: REPLY, output_index: 0, content_index: 0 }));
      const completed = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
      expect(completed.response.id).toMatch(RESPONSE_ID);
      expect(completed.response.id).toBe(created.response.id);
      expect(completed.response.status).toBe('completed');
      expect(completed.response.output[0]).toEqual({
        id: deltas[0]?.item_id,
        type: 'message',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: REPLY, annotations: [] }],
      });
      expect(completed.response.usage).toEqual(
        expect.objectContaining({ input_tokens: PROMPT_TOKENS, output_tokens: REPLY_TOKENS }),
      );
      const record = await usageRecordOf(harness.ledger, request_id!);
      expect(record.outcome).toBe('complete');
      expect(record.exact).toBe(true);
      expect(record.usage).toEqual({
        inputTokens: PROMPT_TOKENS,
        cachedInputTokens: 0,
        outputTokens: REPLY_TOKENS,
        reasoningTokens: 0,
      });
    });

    it('frames the stream as `event: <type>` and `data: <json>`, without [DONE]', async () => {
      // Act
      const response = await harness.post('/v1/responses', {
        model: 'gpt-4o-mini',
        input: 'Hi',
        stream: true,
      });
      const text = await readText(response);

      // Assess
      expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const frames = framesOf(text);
      expect(frames.map((frame) => frame.event)).toEqual(RESPONSE_EVENTS(17));
      for (const frame of frames) expect(frame.data.type).toBe(frame.event);
      expect(text).not.toContain('[DONE]');
    });

    it('responses.stream() accumulates the final Response', async () => {
      // Prepare
      const deltas: string[] = [];

      // Act
      const stream = client.responses.stream({ model: 'gpt-4o-mini', input: PROMPT });
      stream.on('response.output_text.delta', (event) => deltas.push(event.delta));
      const final = await stream.finalResponse();

      // Assess
      expect(final.status).toBe('completed');
      expect(final.output_text).toBe(REPLY);
      expect(final.id).toMatch(RESPONSE_ID);
      expect(deltas).toHaveLength(REPLY_TOKENS);
      expect(final.usage?.total_tokens).toBe(PROMPT_TOKENS + REPLY_TOKENS);
    });

    it('stops at max_output_tokens: an incomplete Response with that many output tokens', async () => {
      // Act
      const whole = await client.responses.create({
        model: 'gpt-4o-mini',
        input: PROMPT,
        max_output_tokens: 16,
      });
      const stream = client.responses.stream({ model: 'gpt-4o-mini', input: PROMPT, max_output_tokens: 16 });
      const types: string[] = [];
      stream.on('event', (event) => types.push(event.type));
      const streamed = await stream.finalResponse();

      // Assess
      for (const response of [whole, streamed]) {
        expect(response.status).toBe('incomplete');
        expect(response.incomplete_details).toEqual({ reason: 'max_output_tokens' });
        expect(response.output_text).toBe(
          'This is the gateway\'s mock provider. You said: "Hello there". Set OPENAI_API_KEY to talk to a ',
        );
        expect(response.output[0]).toEqual(
          expect.objectContaining({ type: 'message', status: 'incomplete' }),
        );
        expect(response.usage?.output_tokens).toBe(16);
      }
      expect(types.at(-1)).toBe('response.incomplete');
    });

    it('keeps a stored Response: retrieve it, list its input items, delete it', async () => {
      // Prepare
      const created = await client.responses.create({ model: 'gpt-4o-mini', input: PROMPT });

      // Act
      const retrieved = await client.responses.retrieve(created.id);
      const items = await client.responses.inputItems.list(created.id);
      const deleted = await client.responses.delete(created.id);
      const afterDelete = await rejectionOf(client.responses.retrieve(created.id));

      // Assess
      expect(retrieved.id).toBe(created.id);
      expect(retrieved.output_text).toBe(REPLY);
      expect(retrieved.usage).toEqual(created.usage);
      expect(items.data).toEqual([
        {
          id: expect.stringMatching(MESSAGE_ID),
          type: 'message',
          role: 'user',
          status: 'completed',
          content: [{ type: 'input_text', text: PROMPT }],
        },
      ]);
      expect(deleted as unknown).toEqual({ id: created.id, object: 'response', deleted: true });
      expect(afterDelete).toBeInstanceOf(OpenAI.NotFoundError);
    });

    it('does not keep a Response sent with store: false', async () => {
      // Prepare
      const created = await client.responses.create({ model: 'gpt-4o-mini', input: PROMPT, store: false });

      // Act
      const error = await rejectionOf(client.responses.retrieve(created.id));

      // Assess
      expect(created).toEqual(expect.objectContaining({ store: false }));
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    });
  });

  describe('chat completions and completions', () => {
    it('chat: the message carries refusal and annotations, and max_tokens cuts the answer with finish_reason length', async () => {
      // Act
      const whole = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: PROMPT }],
      });
      const cut = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: PROMPT }],
        max_completion_tokens: 4,
      });

      // Assess
      expect(whole.choices[0]?.message).toEqual({
        role: 'assistant',
        content: REPLY,
        refusal: null,
        annotations: [],
      });
      expect(whole.choices[0]?.finish_reason).toBe('stop');
      expect(cut.choices[0]?.message.content).toBe("This is the gateway's ");
      expect(cut.choices[0]?.finish_reason).toBe('length');
      expect(cut.usage).toEqual({ prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 });
    });

    it('completions: 16 tokens unless max_tokens says otherwise, streamed or not', async () => {
      // Act
      const { data: short, request_id } = await client.completions
        .create({ model: 'gpt-4o-mini', prompt: PROMPT })
        .withResponse();
      const long = await client.completions.create({ model: 'gpt-4o-mini', prompt: PROMPT, max_tokens: 100 });
      const stream = await client.completions.create({
        model: 'gpt-4o-mini',
        prompt: PROMPT,
        max_tokens: 100,
        stream: true,
      });
      const pieces: string[] = [];
      for await (const chunk of stream) pieces.push(chunk.choices[0]?.text ?? '');

      // Assess
      expect(short.object).toBe('text_completion');
      expect(short.choices[0]?.finish_reason).toBe('length');
      expect(short.usage).toEqual({ prompt_tokens: 5, completion_tokens: 16, total_tokens: 21 });
      expect(long.choices[0]?.text).toBe(REPLY);
      expect(long.choices[0]?.finish_reason).toBe('stop');
      expect(pieces.join('')).toBe(REPLY);
      const record = await usageRecordOf(harness.ledger, request_id!);
      expect(record.usage.outputTokens).toBe(16);
    });
  });

  describe('embeddings', () => {
    it('answers base64 (the SDK default) and floats with the same vector, and counts token-id inputs', async () => {
      // Act
      const decoded = await client.embeddings.create({
        model: 'text-embedding-3-small',
        input: 'hello world',
      });
      const floats = await client.embeddings.create({
        model: 'text-embedding-3-small',
        input: 'hello world',
        encoding_format: 'float',
      });
      const raw = await harness.post('/v1/embeddings', {
        model: 'text-embedding-3-small',
        input: 'hello world',
        encoding_format: 'base64',
      });
      const tokenIds = await client.embeddings.create({ model: 'text-embedding-3-small', input: [1, 2, 3] });
      const tokenLists = await client.embeddings.create({
        model: 'text-embedding-3-small',
        input: [[1, 2], [3]],
      });

      // Assess
      const base64 = ((await raw.json()) as { data: { embedding: unknown }[] }).data[0]?.embedding;
      expect(typeof base64).toBe('string');
      const vector = floats.data[0]!.embedding;
      expect(vector).toHaveLength(16);
      decoded.data[0]!.embedding.forEach((x, i) => {
        expect(x).toBeCloseTo(vector[i]!, 6);
      });
      expect(tokenIds.data).toHaveLength(1);
      expect(tokenIds.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
      expect(tokenLists.data.map((entry) => entry.index)).toEqual([0, 1]);
      expect(tokenLists.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
    });
  });

  describe('moderations', () => {
    const CATEGORIES = [
      'harassment',
      'harassment/threatening',
      'hate',
      'hate/threatening',
      'illicit',
      'illicit/violent',
      'self-harm',
      'self-harm/instructions',
      'self-harm/intent',
      'sexual',
      'sexual/minors',
      'violence',
      'violence/graphic',
    ];

    it('answers one unflagged result per input string, every category present', async () => {
      // Act
      const single = await client.moderations.create({ model: 'omni-moderation-latest', input: 'hello' });
      const several = await client.moderations.create({
        model: 'omni-moderation-latest',
        input: ['hello', 'world'],
      });

      // Assess
      expect(single.model).toBe('omni-moderation-latest');
      expect(single.id).toMatch(/^modr-/);
      const [result] = single.results;
      expect(result?.flagged).toBe(false);
      expect(Object.keys(result!.categories).sort()).toEqual([...CATEGORIES].sort());
      expect(Object.values(result!.categories).every((flag) => flag === false)).toBe(true);
      expect(Object.keys(result!.category_scores).sort()).toEqual([...CATEGORIES].sort());
      for (const score of Object.values(result!.category_scores)) {
        expect(score).toBeGreaterThan(0);
        expect(score).toBeLessThan(0.01);
      }
      expect(result?.category_applied_input_types.violence).toEqual(['text']);
      expect(several.results).toHaveLength(2);
      expect(several.results[0]).toEqual(result);
    });

    it('answers one result for text and image parts, with image categories applied to both', async () => {
      // Act
      const moderation = await client.moderations.create({
        model: 'omni-moderation-latest',
        input: [
          { type: 'text', text: 'look at this' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
        ],
      });

      // Assess
      expect(moderation.results).toHaveLength(1);
      const applied = moderation.results[0]!.category_applied_input_types;
      expect(applied.violence).toEqual(['text', 'image']);
      expect(applied.hate).toEqual(['text']);
    });
  });

  describe('images', () => {
    const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

    it('DALL·E answers data: URLs unless asked for base64; dall-e-3 revises the prompt', async () => {
      // Act
      const urls = await client.images.generate({ model: 'dall-e-2', prompt: 'a red fox', n: 2 });
      const b64 = await client.images.generate({
        model: 'dall-e-3',
        prompt: 'a red fox',
        response_format: 'b64_json',
      });

      // Assess
      expect(urls.created).toEqual(expect.any(Number));
      expect(urls.data).toHaveLength(2);
      const url = urls.data?.[0]?.url ?? '';
      expect(url).toMatch(/^data:image\/png;base64,/);
      expect(Buffer.from(url.slice(url.indexOf(',') + 1), 'base64').subarray(0, 8)).toEqual(PNG);
      expect(urls.usage).toBeUndefined();
      expect(b64.data?.[0]?.revised_prompt).toBe('a red fox');
      expect(Buffer.from(b64.data?.[0]?.b64_json ?? '', 'base64').subarray(0, 8)).toEqual(PNG);
    });

    it('GPT image models answer base64 in the asked format, with token usage the gateway records', async () => {
      // Act
      const { data: webp, request_id } = await client.images
        .generate({ model: 'gpt-image-1', prompt: 'a red fox', output_format: 'webp' })
        .withResponse();
      const jpeg = await client.images.generate({
        model: 'gpt-image-1',
        prompt: 'a red fox',
        output_format: 'jpeg',
      });

      // Assess
      const image = Buffer.from(webp.data?.[0]?.b64_json ?? '', 'base64');
      expect(image.toString('latin1', 0, 4)).toBe('RIFF');
      expect(image.toString('latin1', 8, 12)).toBe('WEBP');
      expect(webp.output_format).toBe('webp');
      expect(webp.usage).toEqual({
        input_tokens: 3,
        input_tokens_details: { text_tokens: 3, image_tokens: 0 },
        output_tokens: 1,
        output_tokens_details: { text_tokens: 0, image_tokens: 1 },
        total_tokens: 4,
      });
      expect(Buffer.from(jpeg.data?.[0]?.b64_json ?? '', 'base64').subarray(0, 3)).toEqual(
        Buffer.from([0xff, 0xd8, 0xff]),
      );
      const record = await usageRecordOf(harness.ledger, request_id!);
      expect(record.usage).toEqual({
        inputTokens: 3,
        cachedInputTokens: 0,
        outputTokens: 1,
        reasoningTokens: 0,
      });
    });

    it('streams partial images, then the completed image with usage', async () => {
      // Act
      const stream = await client.images.generate({
        model: 'gpt-image-1',
        prompt: 'a red fox',
        stream: true,
        partial_images: 2,
      });
      const events: OpenAI.Images.ImageGenStreamEvent[] = [];
      for await (const event of stream) events.push(event);

      // Assess
      expect(events.map((event) => event.type)).toEqual([
        'image_generation.partial_image',
        'image_generation.partial_image',
        'image_generation.completed',
      ]);
      expect(
        events.map((event) => ('partial_image_index' in event ? event.partial_image_index : null)),
      ).toEqual([0, 1, null]);
      const completed = events[2] as OpenAI.Images.ImageGenCompletedEvent;
      expect(Buffer.from(completed.b64_json, 'base64').subarray(0, 8)).toEqual(PNG);
      expect(completed.output_format).toBe('png');
      expect(completed.usage).toEqual({
        input_tokens: 3,
        input_tokens_details: { text_tokens: 3, image_tokens: 0 },
        output_tokens: 1,
        total_tokens: 4,
      });
    });
  });

  describe('audio', () => {
    const speechBytes = async (format: OpenAI.Audio.SpeechCreateParams['response_format']) => {
      const response = await client.audio.speech.create({
        model: 'tts-1',
        voice: 'alloy',
        input: 'Hello there',
        response_format: format,
      });
      return { type: response.headers.get('content-type'), bytes: Buffer.from(await response.arrayBuffer()) };
    };

    it('speech: a quarter second of 24 kHz mono silence as WAV and raw PCM', async () => {
      // Act
      const wav = await speechBytes('wav');
      const pcm = await speechBytes('pcm');

      // Assess
      expect(wav.type).toBe('audio/wav');
      const { bytes } = wav;
      expect(bytes.toString('latin1', 0, 4)).toBe('RIFF');
      expect(bytes.readUInt32LE(4)).toBe(bytes.length - 8);
      expect(bytes.toString('latin1', 8, 16)).toBe('WAVEfmt ');
      expect(bytes.readUInt16LE(20)).toBe(1); // PCM
      expect(bytes.readUInt16LE(22)).toBe(1); // mono
      expect(bytes.readUInt32LE(24)).toBe(24_000);
      expect(bytes.readUInt16LE(34)).toBe(16);
      expect(bytes.toString('latin1', 36, 40)).toBe('data');
      expect(bytes.readUInt32LE(40) / (24_000 * 2)).toBe(0.25);
      expect(pcm.type).toBe('audio/pcm');
      expect(pcm.bytes).toEqual(Buffer.alloc(12_000));
    });

    it('speech: mp3 by default, and opus, aac and flac, each with its content type and signature', async () => {
      // Act
      const mp3 = await speechBytes(undefined);
      const opus = await speechBytes('opus');
      const aac = await speechBytes('aac');
      const flac = await speechBytes('flac');

      // Assess
      expect(mp3.type).toBe('audio/mpeg');
      expect([mp3.bytes[0], mp3.bytes[1]! & 0xe0]).toEqual([0xff, 0xe0]); // MPEG frame sync
      expect(opus.type).toBe('audio/opus');
      expect(opus.bytes.toString('latin1', 0, 4)).toBe('OggS');
      expect(opus.bytes.toString('latin1', 28, 36)).toBe('OpusHead');
      expect(aac.type).toBe('audio/aac');
      expect([aac.bytes[0], aac.bytes[1]! & 0xf6]).toEqual([0xff, 0xf0]); // ADTS sync
      expect(flac.type).toBe('audio/flac');
      expect(flac.bytes.toString('latin1', 0, 4)).toBe('fLaC');
    });

    it('speech with stream_format sse: the same audio in deltas, then usage the gateway records', async () => {
      // Prepare
      const whole = await speechBytes('mp3');

      // Act
      const { data: response, request_id } = await client.audio.speech
        .create({ model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'Hello there', stream_format: 'sse' })
        .withResponse();
      const frames = framesOf(await response.text());

      // Assess
      expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(frames.map((frame) => frame.data.type)).toEqual([
        'speech.audio.delta',
        'speech.audio.delta',
        'speech.audio.done',
      ]);
      const audio = Buffer.concat(
        frames.slice(0, -1).map((frame) => Buffer.from(String(frame.data.audio), 'base64')),
      );
      expect(audio).toEqual(whole.bytes);
      expect(frames.at(-1)?.data.usage).toEqual({ input_tokens: 2, output_tokens: 2, total_tokens: 4 });
      const record = await usageRecordOf(harness.ledger, request_id!);
      expect(record.usage).toEqual({
        inputTokens: 2,
        cachedInputTokens: 0,
        outputTokens: 2,
        reasoningTokens: 0,
      });
    });

    describe('transcriptions', () => {
      let wav: Buffer;
      const upload = () => toFile(wav, 'hello.wav', { type: 'audio/wav' });
      const HEARD = `This is the gateway's mock provider. It heard 12044 bytes of audio in "hello.wav". Set OPENAI_API_KEY to transcribe it.`;

      beforeAll(async () => {
        wav = (await speechBytes('wav')).bytes;
      });

      it('whisper-1: the text and the duration of a WAV upload', async () => {
        // Act
        const transcription = await client.audio.transcriptions.create({
          model: 'whisper-1',
          file: await upload(),
        });

        // Assess
        expect(transcription).toEqual({ text: HEARD, usage: { type: 'duration', seconds: 1 } });
      });

      it('gpt-4o-transcribe: token usage (10 audio tokens a second, plus the prompt), recorded by the gateway', async () => {
        // Act
        const { data: transcription, request_id } = await client.audio.transcriptions
          .create({ model: 'gpt-4o-transcribe', file: await upload(), prompt: 'A greeting' })
          .withResponse();

        // Assess
        expect(transcription.text).toBe(HEARD);
        expect(transcription.usage).toEqual({
          type: 'tokens',
          input_tokens: 5,
          input_token_details: { text_tokens: 2, audio_tokens: 3 },
          output_tokens: 19,
          total_tokens: 24,
        });
        const record = await usageRecordOf(harness.ledger, request_id!);
        expect(record.usage).toEqual({
          inputTokens: 5,
          cachedInputTokens: 0,
          outputTokens: 19,
          reasoningTokens: 0,
        });
      });

      it('text, srt, vtt and verbose_json formats', async () => {
        // Act
        const text = await client.audio.transcriptions.create({
          model: 'whisper-1',
          file: await upload(),
          response_format: 'text',
        });
        const srt = await client.audio.transcriptions.create({
          model: 'whisper-1',
          file: await upload(),
          response_format: 'srt',
        });
        const vtt = await client.audio.transcriptions.create({
          model: 'whisper-1',
          file: await upload(),
          response_format: 'vtt',
        });
        const verbose = await client.audio.transcriptions.create({
          model: 'whisper-1',
          file: await upload(),
          response_format: 'verbose_json',
          timestamp_granularities: ['word'],
        });

        // Assess
        expect(text).toBe(HEARD);
        expect(srt).toBe(`1\n00:00:00,000 --> 00:00:00,250\n${HEARD}\n\n`);
        expect(vtt).toBe(`WEBVTT\n\n00:00:00.000 --> 00:00:00.250\n${HEARD}\n\n`);
        expect(verbose).toEqual(
          expect.objectContaining({ task: 'transcribe', duration: 0.25, text: HEARD, language: 'english' }),
        );
        expect(verbose.segments?.[0]).toEqual(
          expect.objectContaining({ id: 0, start: 0, end: 0.25, text: HEARD }),
        );
        expect(verbose.words).toHaveLength(19);
        expect(verbose.words?.[0]).toEqual({ word: 'This', start: 0, end: 0.013 });
        expect(verbose.words?.at(-1)?.end).toBe(0.25);
      });

      it('streams the text word by word, then the whole text with usage', async () => {
        // Act
        const stream = await client.audio.transcriptions.create({
          model: 'gpt-4o-transcribe',
          file: await upload(),
          stream: true,
        });
        const events: OpenAI.Audio.TranscriptionStreamEvent[] = [];
        for await (const event of stream) events.push(event);

        // Assess
        const deltas = events.filter((event) => event.type === 'transcript.text.delta');
        expect(deltas).toHaveLength(19);
        expect(deltas.map((event) => event.delta).join('')).toBe(HEARD);
        expect(events.at(-1)).toEqual({
          type: 'transcript.text.done',
          text: HEARD,
          usage: {
            type: 'tokens',
            input_tokens: 3,
            input_token_details: { text_tokens: 0, audio_tokens: 3 },
            output_tokens: 19,
            total_tokens: 22,
          },
        });
      });
    });
  });
});

describe('mock provider, on its own', () => {
  const call = (
    provider: ReturnType<typeof createMockProvider>,
    method: string,
    path: string,
    body?: unknown,
  ) =>
    provider.send({
      url: `${MOCK_BASE_URL}${path}`,
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : new TextEncoder().encode(JSON.stringify(body)),
      connectTimeoutMs: 1_000,
      firstByteTimeoutMs: 1_000,
      signal: new AbortController().signal,
    });

  it('spaces the events of a streamed Response chunkDelayMs apart', async () => {
    // Prepare
    const provider = createMockProvider({ chunkDelayMs: 20 });

    // Act
    const started = performance.now();
    const responses = await call(provider, 'POST', '/responses', { model: 'm', input: 'Hi', stream: true });
    const text = await new Response(responses.body as ReadableStream<Uint8Array>).text();
    const elapsed = performance.now() - started;

    // Assess: 25 events, 24 pauses between them and one before the end.
    expect(framesOf(text)).toHaveLength(25);
    expect(elapsed).toBeGreaterThanOrEqual(25 * 20 - 10);
  });

  it('answers an endpoint it does not implement with a 400 naming it', async () => {
    // Act
    const response = await call(createMockProvider(), 'POST', '/batches', {});

    // Assess
    expect(response.status).toBe(400);
    expect(await new Response(response.body as ReadableStream<Uint8Array>).json()).toEqual({
      error: {
        message: 'The mock provider does not implement POST /batches.',
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    });
  });
});
