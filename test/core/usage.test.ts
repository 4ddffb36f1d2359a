import { usageFromJsonTail, usageFromOpenAI } from '../../lambda/core/usage.ts';

describe('usageFromOpenAI', () => {
  it.each([
    [
      'chat completions with details',
      {
        prompt_tokens: 10,
        completion_tokens: 5,
        prompt_tokens_details: { cached_tokens: 4 },
        completion_tokens_details: { reasoning_tokens: 2 },
      },
      { inputTokens: 10, cachedInputTokens: 4, outputTokens: 5, reasoningTokens: 2 },
    ],
    [
      'embeddings',
      { prompt_tokens: 8, total_tokens: 8 },
      { inputTokens: 8, cachedInputTokens: 0, outputTokens: 0, reasoningTokens: 0 },
    ],
    [
      'the Responses API',
      {
        input_tokens: 3,
        output_tokens: 4,
        input_tokens_details: { cached_tokens: 1 },
        output_tokens_details: { reasoning_tokens: 2 },
      },
      { inputTokens: 3, cachedInputTokens: 1, outputTokens: 4, reasoningTokens: 2 },
    ],
    [
      'nonsense counts as zero',
      { prompt_tokens: -3, completion_tokens: 'x' },
      { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, reasoningTokens: 0 },
    ],
  ])('reads %s', (_name, usage, expected) => {
    expect(usageFromOpenAI(usage)).toEqual(expected);
  });

  it.each([[null], [undefined], [{}], ['usage']])('finds nothing in %j', (usage) => {
    expect(usageFromOpenAI(usage)).toBeUndefined();
  });
});

describe('usageFromJsonTail', () => {
  const completion = {
    id: 'c',
    choices: [{ message: { content: 'He wrote "usage": {"prompt_tokens": 999} in his notes' } }],
    usage: {
      prompt_tokens: 12,
      completion_tokens: 3,
      total_tokens: 15,
      prompt_tokens_details: { cached_tokens: 2 },
    },
    system_fingerprint: 'fp',
  };

  it('takes the real usage object, not text that looks like one inside a string', () => {
    expect(usageFromJsonTail(JSON.stringify(completion))).toEqual({
      inputTokens: 12,
      cachedInputTokens: 2,
      outputTokens: 3,
      reasoningTokens: 0,
    });
  });

  it('works on the tail of a body whose beginning was cut off', () => {
    const text = JSON.stringify({
      data: [{ embedding: Array.from({ length: 5000 }, () => 0.123456) }],
      usage: { prompt_tokens: 7, total_tokens: 7 },
    });
    expect(usageFromJsonTail(text.slice(-200))).toEqual({
      inputTokens: 7,
      cachedInputTokens: 0,
      outputTokens: 0,
      reasoningTokens: 0,
    });
  });

  it.each([['{"id":"x","choices":[]}'], ['"usage": null}'], ['"usage": 5, "x": {"usage": "none"}']])(
    'returns undefined when %j has no usage object',
    (tail) => {
      expect(usageFromJsonTail(tail)).toBeUndefined();
    },
  );

  it('skips a candidate that is not an object and finds an earlier real one', () => {
    expect(usageFromJsonTail('{"usage":{"prompt_tokens":4},"meta":{"usage":null}}')).toEqual({
      inputTokens: 4,
      cachedInputTokens: 0,
      outputTokens: 0,
      reasoningTokens: 0,
    });
  });
});
