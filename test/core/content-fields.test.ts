// Where content rules read: every text field of each endpoint's request and answer, and streamed answers.
import {
  answersHaveText,
  redactAnswer,
  rewriteAnswerTexts,
  rewriteRequestTexts,
  TextShape,
  type TextShapeName,
} from '../../lambda/core/content-fields.ts';
import { emptyHits } from '../../lambda/core/content-rules.ts';
import { createStreamFilter, type SseEvent } from '../../lambda/core/content-stream.ts';
import { compileRules } from '../fixtures/content-rules.ts';

const rules = compileRules([
  { name: 'secret', keywords: ['secret'], action: 'redact', scope: 'both', mask: '***' },
  { name: 'stop', keywords: ['forbidden'], action: 'block', scope: 'both' },
]);
const requestRules = rules.request!;
const answerRules = rules.response!;

/** The paths of the fields a rewrite visits, with every text masked. */
const visit = (shape: TextShapeName, body: Record<string, unknown>) => {
  const paths: string[] = [];
  rewriteRequestTexts(shape, body, (text, path) => {
    paths.push(path);
    return text.replaceAll('secret', '***');
  });
  return paths;
};

describe('rewriteRequestTexts reads the text the model reads', () => {
  it.each([
    [
      'chat: string content, content parts, refusals, tool call arguments',
      TextShape.chat,
      {
        messages: [
          { role: 'system', content: 'secret system' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'a secret part' },
              { type: 'image_url', image_url: { url: 'https://x/secret.png' } },
            ],
          },
          {
            role: 'assistant',
            content: null,
            refusal: 'secret refusal',
            tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"q":"secret"}' } }],
          },
          { role: 'tool', tool_call_id: 'c', content: 'secret result' },
          { role: 'assistant', function_call: { name: 'g', arguments: '{"secret":1}' } },
        ],
      },
      [
        'messages.0.content',
        'messages.1.content.0.text',
        'messages.2.refusal',
        'messages.2.tool_calls.0.function.arguments',
        'messages.3.content',
        'messages.4.function_call.arguments',
      ],
    ],
    [
      'completions: prompt and suffix',
      TextShape.completions,
      { prompt: 'secret', suffix: 'secret' },
      ['prompt', 'suffix'],
    ],
    [
      'completions: a list of prompts',
      TextShape.completions,
      { prompt: ['a', 'secret'] },
      ['prompt.0', 'prompt.1'],
    ],
    ['completions: token ids are not text', TextShape.completions, { prompt: [1, 2, 3] }, []],
    ['embeddings: one input', TextShape.embeddings, { input: 'secret' }, ['input']],
    ['embeddings: many inputs', TextShape.embeddings, { input: ['secret', 'x'] }, ['input.0', 'input.1']],
    [
      'responses: instructions and input items (messages, parts, tool calls and outputs)',
      TextShape.responses,
      {
        instructions: 'secret',
        input: [
          { role: 'user', content: 'secret' },
          { role: 'user', content: [{ type: 'input_text', text: 'secret' }] },
          { type: 'function_call', call_id: 'c', name: 'f', arguments: '{"secret":true}' },
          { type: 'function_call_output', call_id: 'c', output: 'secret' },
        ],
      },
      ['instructions', 'input.0.content', 'input.1.content.0.text', 'input.2.arguments', 'input.3.output'],
    ],
    ['responses: a string input', TextShape.responses, { input: 'secret' }, ['input']],
    ['moderations: strings', TextShape.moderations, { input: ['secret'] }, ['input.0']],
    [
      'moderations: parts',
      TextShape.moderations,
      {
        input: [
          { type: 'text', text: 'secret' },
          { type: 'image_url', image_url: { url: 'u' } },
        ],
      },
      ['input.0.text'],
    ],
    [
      'messages: system string, string content, text blocks, tool results (string and blocks)',
      TextShape.messages,
      {
        system: 'secret system',
        messages: [
          { role: 'user', content: 'a secret' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'a secret part' },
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'secret' } },
            ],
          },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'secret thoughts', signature: 'sig' },
              { type: 'text', text: 'calling' },
              { type: 'tool_use', id: 'toolu_1', name: 'f', input: { q: 'secret' } },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 'toolu_1', content: 'secret result' },
              {
                type: 'tool_result',
                tool_use_id: 'toolu_2',
                content: [
                  { type: 'text', text: 'secret block' },
                  { type: 'image', source: { type: 'url', url: 'https://x/secret.png' } },
                ],
              },
            ],
          },
        ],
      },
      [
        'system',
        'messages.0.content',
        'messages.1.content.0.text',
        'messages.2.content.1.text',
        'messages.3.content.0.content',
        'messages.3.content.1.content.0.text',
      ],
    ],
    [
      'messages: system as text blocks',
      TextShape.messages,
      {
        system: [
          { type: 'text', text: 'secret rules' },
          { type: 'text', text: 'more', cache_control: { type: 'ephemeral' } },
        ],
        messages: [],
      },
      ['system.0.text', 'system.1.text'],
    ],
    ['images: the prompt', TextShape.prompt, { prompt: 'secret' }, ['prompt']],
    [
      'speech: input and instructions',
      TextShape.speech,
      { input: 'secret', instructions: 'secret' },
      ['input', 'instructions'],
    ],
  ])('%s', (_name, shape, body, paths) => {
    // Act
    const copy = structuredClone(body) as Record<string, unknown>;
    const seen = visit(shape, copy);

    // Assess
    expect(seen).toEqual(paths);
    // every visited field was rewritten in place
    for (const path of paths) {
      const value = path.split('.').reduce<unknown>((at, key) => (at as Record<string, unknown>)[key], copy);
      expect(value).not.toContain('secret');
    }
  });

  it('leaves what is not text alone (image URLs, names, roles)', () => {
    const body = {
      messages: [
        {
          role: 'user',
          name: 'secret',
          content: [{ type: 'image_url', image_url: { url: 'https://x/secret.png' } }],
        },
      ],
    };
    const copy = structuredClone(body);
    rewriteRequestTexts(TextShape.chat, copy, () => 'changed');
    expect(copy).toEqual(body);
  });
});

describe('redactAnswer', () => {
  it.each([
    [
      'chat',
      TextShape.chat,
      {
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: 'the secret is out',
              tool_calls: [
                { id: 't', type: 'function', function: { name: 'f', arguments: '{"a":"secret"}' } },
              ],
            },
          },
        ],
      },
      {
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: 'the *** is out',
              tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{"a":"***"}' } }],
            },
          },
        ],
      },
    ],
    [
      'completions',
      TextShape.completions,
      { choices: [{ index: 0, text: 'a secret' }] },
      { choices: [{ index: 0, text: 'a ***' }] },
    ],
    [
      'responses',
      TextShape.responses,
      {
        output: [
          { type: 'message', content: [{ type: 'output_text', text: 'a secret' }] },
          { type: 'function_call', arguments: '{"secret":1}' },
        ],
        output_text: 'a secret',
      },
      {
        output: [
          { type: 'message', content: [{ type: 'output_text', text: 'a ***' }] },
          { type: 'function_call', arguments: '{"***":1}' },
        ],
        output_text: 'a ***',
      },
    ],
    [
      'messages: text and thinking blocks',
      TextShape.messages,
      {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'the secret is near', signature: 'sig' },
          { type: 'text', text: 'a secret' },
          { type: 'tool_use', id: 'toolu_1', name: 'f', input: { q: 'x' } },
        ],
        stop_reason: 'end_turn',
      },
      {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'the *** is near', signature: 'sig' },
          { type: 'text', text: 'a ***' },
          { type: 'tool_use', id: 'toolu_1', name: 'f', input: { q: 'x' } },
        ],
        stop_reason: 'end_turn',
      },
    ],
  ])('%s', (_name, shape, body, expected) => {
    const hits = emptyHits();
    expect(redactAnswer(shape, answerRules, body, hits)).toBe(true);
    expect(body).toEqual(expected);
    expect(hits.redacted.get('secret')).toBeGreaterThan(0);
  });

  it('visits a Messages answer at content.i.text and content.i.thinking', () => {
    // Prepare
    const body = {
      content: [
        { type: 'thinking', thinking: 'hmm', signature: 'sig' },
        { type: 'text', text: 'hi' },
      ],
    };
    const paths: string[] = [];

    // Act
    rewriteAnswerTexts(TextShape.messages, body, (text, path) => {
      paths.push(path);
      return text;
    });

    // Assess
    expect(paths).toEqual(['content.0.thinking', 'content.1.text']);
    expect(answersHaveText(TextShape.messages)).toBe(true);
  });

  it('reports a block', () => {
    const hits = emptyHits();
    redactAnswer(
      TextShape.chat,
      answerRules,
      { choices: [{ message: { content: 'a forbidden word' } }] },
      hits,
    );
    expect(hits.blockedBy).toBe('stop');
  });
});

// --- Streams --------------------------------------------------------------------------------------------

const chunk = (delta: Record<string, unknown>, finish: string | null = null, index = 0) => ({
  data: JSON.stringify({
    id: 'c1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'gpt-test',
    choices: [{ index, delta, finish_reason: finish }],
  }),
});
const deltas = (events: readonly SseEvent[]) =>
  events.map((event) => JSON.parse(event.data) as { choices: Array<{ delta: Record<string, unknown> }> });
const contentOf = (events: readonly SseEvent[]) =>
  deltas(events)
    .flatMap((payload) => payload.choices.map((choice) => choice.delta.content ?? ''))
    .join('');

describe('createStreamFilter', () => {
  it('redacts chat content split over chunks, releasing the rest with the finishing chunk', () => {
    // Prepare
    const hits = emptyHits();
    const filter = createStreamFilter(TextShape.chat, answerRules, hits)!;

    // Act
    const out = [
      ...filter.event(chunk({ role: 'assistant', content: '' })),
      ...filter.event(chunk({ content: 'the sec' })),
      ...filter.event(chunk({ content: 'ret is out' })),
      ...filter.event(chunk({}, 'stop')),
      ...filter.finish(),
    ];

    // Assess: one event out per event in, and the text adds up to the redacted whole
    expect(out).toHaveLength(4);
    expect(contentOf(out)).toBe('the *** is out');
    expect(contentOf(out.slice(0, 3))).not.toContain('sec');
    expect(hits.redacted.get('secret')).toBe(1);
  });

  it('redacts tool call arguments per tool call, and each choice on its own', () => {
    const filter = createStreamFilter(TextShape.chat, answerRules, emptyHits())!;
    const tool = (index: number, args: string) => ({
      tool_calls: [{ index, function: { arguments: args } }],
    });
    const out = [
      ...filter.event(chunk(tool(0, '{"a":"sec'))),
      ...filter.event(chunk(tool(1, '{"b":"secret'))),
      ...filter.event(chunk({ content: 'secret' }, null, 1)),
      ...filter.event(chunk(tool(0, 'ret"}'))),
      ...filter.event(chunk({}, 'tool_calls')),
      ...filter.event(chunk({}, 'stop', 1)),
    ];
    const args = new Map<number, string>();
    for (const payload of deltas(out)) {
      for (const choice of payload.choices) {
        const calls = (choice.delta.tool_calls ?? []) as Array<{
          index: number;
          function: { arguments: string };
        }>;
        for (const call of calls)
          args.set(call.index, (args.get(call.index) ?? '') + call.function.arguments);
      }
    }
    expect(args.get(0)).toBe('{"a":"***"}');
    expect(args.get(1)).toBe('{"b":"***');
    expect(contentOf(out)).toBe('***');
  });

  it('sends what is held in one more chunk when the stream ends without a finish reason', () => {
    const filter = createStreamFilter(TextShape.chat, answerRules, emptyHits())!;
    const out = [...filter.event(chunk({ content: 'ends with a secret' })), ...filter.finish()];
    expect(out).toHaveLength(2);
    expect(contentOf(out)).toBe('ends with a ***');
    expect(JSON.parse(out[1]!.data)).toMatchObject({
      id: 'c1',
      object: 'chat.completion.chunk',
      model: 'gpt-test',
    });
  });

  it('redacts legacy completions text', () => {
    const filter = createStreamFilter(TextShape.completions, answerRules, emptyHits())!;
    const text = (value: string, finish: string | null = null) => ({
      data: JSON.stringify({
        id: 'x',
        object: 'text_completion',
        choices: [{ index: 0, text: value, finish_reason: finish }],
      }),
    });
    const out = [...filter.event(text('a se')), ...filter.event(text('cret', 'length'))];
    expect(
      out
        .map((event) => (JSON.parse(event.data) as { choices: [{ text: string }] }).choices[0].text)
        .join(''),
    ).toBe('a ***');
  });

  it('blocks: the filter reports the rule and sends nothing more', () => {
    const hits = emptyHits();
    const filter = createStreamFilter(TextShape.chat, answerRules, hits)!;
    filter.event(chunk({ content: 'this is forbi' }));
    const out = filter.event(chunk({ content: 'dden text and more' }));
    expect(out).toEqual([]);
    expect(filter.blockedBy).toBe('stop');
  });

  it('passes events that are not choices (usage, errors) through unchanged', () => {
    const filter = createStreamFilter(TextShape.chat, answerRules, emptyHits())!;
    const event = { data: 'not json' };
    expect(filter.event(event)).toEqual([event]);
  });

  it('redacts Responses API deltas, sends held text before the done event, and redacts done events whole', () => {
    // Prepare
    const filter = createStreamFilter(TextShape.responses, answerRules, emptyHits())!;
    const event = (type: string, fields: Record<string, unknown>) => ({
      event: type,
      data: JSON.stringify({ type, item_id: 'm1', output_index: 0, content_index: 0, ...fields }),
    });

    // Act
    const out = [
      ...filter.event(event('response.output_text.delta', { delta: 'a sec', sequence_number: 1 })),
      ...filter.event(event('response.output_text.delta', { delta: 'ret here', sequence_number: 2 })),
      ...filter.event(event('response.output_text.done', { text: 'a secret here', sequence_number: 3 })),
      ...filter.event({
        event: 'response.completed',
        data: JSON.stringify({
          type: 'response.completed',
          response: {
            output: [{ type: 'message', content: [{ type: 'output_text', text: 'a secret here' }] }],
          },
        }),
      }),
    ];

    // Assess
    const payloads = out.map((e) => JSON.parse(e.data) as Record<string, unknown>);
    const streamed = payloads
      .filter((p) => p.type === 'response.output_text.delta')
      .map((p) => p.delta)
      .join('');
    expect(streamed).toBe('a *** here');
    expect(out.map((e) => e.event)).toEqual([
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.completed',
    ]);
    expect(payloads[3]?.text).toBe('a *** here');
    expect(JSON.stringify(payloads[4])).not.toContain('secret');
  });

  it('has nothing to filter on endpoints whose answers carry no text', () => {
    expect(createStreamFilter(TextShape.embeddings, answerRules, emptyHits())).toBeUndefined();
  });
});

// --- Anthropic Messages streams -----------------------------------------------------------------------------

/** An Anthropic SSE event: the event name, and data with the same `type`. */
const messagesEvent = (type: string, fields: Record<string, unknown> = {}): SseEvent => ({
  event: type,
  data: JSON.stringify({ type, ...fields }),
});
const textDelta = (index: number, text: string) =>
  messagesEvent('content_block_delta', { index, delta: { type: 'text_delta', text } });
const blockStart = (index: number, block: Record<string, unknown>) =>
  messagesEvent('content_block_start', { index, content_block: block });
const blockStop = (index: number) => messagesEvent('content_block_stop', { index });
interface MessagesPayload {
  type: string;
  index?: number;
  delta?: { type?: string; text?: string; thinking?: string };
}
const payloadsOf = (events: readonly SseEvent[]) => events.map((e) => JSON.parse(e.data) as MessagesPayload);
/** The text (or thinking) each block index streamed, joined. */
const blockTexts = (events: readonly SseEvent[]) => {
  const texts = new Map<number, string>();
  for (const payload of payloadsOf(events)) {
    if (payload.type !== 'content_block_delta' || payload.index === undefined) continue;
    const piece = payload.delta?.text ?? payload.delta?.thinking ?? '';
    texts.set(payload.index, (texts.get(payload.index) ?? '') + piece);
  }
  return texts;
};

describe('createStreamFilter: Anthropic Messages events', () => {
  it('redacts a match split over two deltas of one block, passing unchanged events as they came', () => {
    // Prepare
    const hits = emptyHits();
    const filter = createStreamFilter(TextShape.messages, answerRules, hits)!;
    const start = messagesEvent('message_start', {
      message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], usage: { input_tokens: 5 } },
    });
    const opening = blockStart(0, { type: 'text', text: '' });
    const ping = messagesEvent('ping');

    // Act
    const out = [
      ...filter.event(start),
      ...filter.event(opening),
      ...filter.event(ping),
      ...filter.event(textDelta(0, 'A long opening sentence, then the sec')),
      ...filter.event(textDelta(0, 'ret is out, and more words follow it')),
      ...filter.event(blockStop(0)),
      ...filter.event(messagesEvent('message_delta', { delta: { stop_reason: 'end_turn' }, usage: {} })),
      ...filter.event(messagesEvent('message_stop')),
      ...filter.finish(),
    ];

    // Assess: the text adds up to the redacted whole, and nothing of the match leaked before it was decided
    expect(blockTexts(out).get(0)).toBe(
      'A long opening sentence, then the *** is out, and more words follow it',
    );
    expect(out.slice(0, 3)).toEqual([start, opening, ping]);
    expect(out[0]).toBe(start);
    expect(out.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(blockTexts(out.slice(0, 4)).get(0)).not.toContain('sec');
    expect(blockTexts(out.slice(0, 5)).get(0)).toContain('***');
    expect(hits.redacted.get('secret')).toBe(1);
  });

  it('sends nothing for a delta whose text is all held, and releases it just before the block stops', () => {
    // Prepare
    const filter = createStreamFilter(TextShape.messages, answerRules, emptyHits())!;
    const stop = blockStop(0);

    // Act
    const held = filter.event(textDelta(0, 'sec'));
    const atStop = filter.event(stop);

    // Assess
    expect(held).toEqual([]);
    expect(atStop).toHaveLength(2);
    expect(atStop[0]).toEqual({
      event: 'content_block_delta',
      data: JSON.stringify({
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text: 'sec' },
      }),
    });
    expect(atStop[1]).toBe(stop);
    expect(filter.finish()).toEqual([]);
  });

  it('gives each block its own redactor: text and thinking, interleaved', () => {
    // Prepare
    const filter = createStreamFilter(TextShape.messages, answerRules, emptyHits())!;
    const thinking = (text: string) =>
      messagesEvent('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: text } });

    // Act: the thinking block's "sec" and the text block's "ret" must not make a match together
    const out = [
      ...filter.event(blockStart(0, { type: 'thinking', thinking: '' })),
      ...filter.event(thinking('a sec')),
      ...filter.event(blockStart(1, { type: 'text', text: '' })),
      ...filter.event(textDelta(1, 'ret secr')),
      ...filter.event(thinking('ret')),
      ...filter.event(
        messagesEvent('content_block_delta', {
          index: 0,
          delta: { type: 'signature_delta', signature: 'sig' },
        }),
      ),
      ...filter.event(blockStop(0)),
      ...filter.event(textDelta(1, 'et')),
      ...filter.event(blockStop(1)),
    ];

    // Assess
    const texts = blockTexts(out);
    expect(texts.get(0)).toBe('a ***');
    expect(texts.get(1)).toBe('ret ***');
    const released = payloadsOf(out).filter((p) => p.type === 'content_block_delta' && p.delta?.thinking);
    expect(released.every((p) => p.delta?.type === 'thinking_delta')).toBe(true);
  });

  it('returns deltas for the blocks still open when the stream ends', () => {
    // Prepare
    const filter = createStreamFilter(TextShape.messages, answerRules, emptyHits())!;

    // Act
    const out = [
      ...filter.event(textDelta(0, 'ends with a sec')),
      ...filter.event(blockStop(0)),
      ...filter.event(textDelta(1, 'and a secr')),
      ...filter.event(textDelta(2, 'then se')),
    ];
    const rest = filter.finish();

    // Assess
    expect(payloadsOf(rest).map((p) => p.index)).toEqual([1, 2]);
    expect(rest.every((e) => e.event === 'content_block_delta')).toBe(true);
    const texts = blockTexts([...out, ...rest]);
    expect(texts.get(0)).toBe('ends with a sec');
    expect(texts.get(1)).toBe('and a secr');
    expect(texts.get(2)).toBe('then se');
  });

  it('blocks: the filter reports the rule and sends nothing more', () => {
    // Prepare
    const hits = emptyHits();
    const filter = createStreamFilter(TextShape.messages, answerRules, hits)!;

    // Act
    filter.event(textDelta(0, 'this is forbi'));
    const out = filter.event(textDelta(0, 'dden text and more'));

    // Assess
    expect(out).toEqual([]);
    expect(filter.blockedBy).toBe('stop');
    expect(filter.event(blockStop(0))).toEqual([]);
    expect(filter.finish()).toEqual([]);
  });

  it('passes tool input, errors and what is not JSON through unchanged', () => {
    // Prepare
    const filter = createStreamFilter(TextShape.messages, answerRules, emptyHits())!;
    const events = [
      blockStart(0, { type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }),
      messagesEvent('content_block_delta', {
        index: 0,
        delta: { type: 'input_json_delta', partial_json: '{"q":"x"}' },
      }),
      messagesEvent('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }),
      { event: 'ping', data: 'not json' },
    ];

    // Act
    const out = events.flatMap((event) => filter.event(event));

    // Assess
    expect(out).toHaveLength(events.length);
    out.forEach((event, i) => {
      expect(event).toBe(events[i]);
    });
  });
});

describe('request rules', () => {
  it('exist only on the sides their scope names', () => {
    expect(requestRules.rules.map((rule) => rule.name)).toEqual(['secret', 'stop']);
    const responseOnly = compileRules([{ name: 'r', keywords: ['x'], action: 'redact', scope: 'response' }]);
    expect(responseOnly.request).toBeUndefined();
    expect(responseOnly.response?.rules.map((rule) => rule.name)).toEqual(['r']);
    expect(responseOnly.responseFingerprint).toMatch(/^[0-9a-f]{16}$/);
  });
});
