// Where content rules read: every text field of each endpoint's request and answer, and streamed answers.
import {
  redactAnswer,
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
  ])('%s', (_name, shape, body, expected) => {
    const hits = emptyHits();
    expect(redactAnswer(shape, answerRules, body, hits)).toBe(true);
    expect(body).toEqual(expected);
    expect(hits.redacted.get('secret')).toBeGreaterThan(0);
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

describe('request rules', () => {
  it('exist only on the sides their scope names', () => {
    expect(requestRules.rules.map((rule) => rule.name)).toEqual(['secret', 'stop']);
    const responseOnly = compileRules([{ name: 'r', keywords: ['x'], action: 'redact', scope: 'response' }]);
    expect(responseOnly.request).toBeUndefined();
    expect(responseOnly.response?.rules.map((rule) => rule.name)).toEqual(['r']);
    expect(responseOnly.responseFingerprint).toMatch(/^[0-9a-f]{16}$/);
  });
});
