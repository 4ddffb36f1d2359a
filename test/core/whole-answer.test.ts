// A JSON answer read whole: the bytes and how the read ended (complete, failed, silent), and the settlement's
// view of it (usage from the parsed answer, an estimate when there is none, the capture for the cache).

import { readAnswer, wholeAnswerEnd } from '../../lambda/core/whole-answer.ts';
import { RequestOutcome, type UpstreamBody } from '../../lambda/ports.ts';

const encoder = new TextEncoder();

/** A body of `parts`, then an end, an error, or silence. */
const bodyOf = (parts: readonly string[], then: 'end' | 'fail' | 'silence' = 'end'): UpstreamBody =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (const part of parts) controller.enqueue(encoder.encode(part));
      if (then === 'end') controller.close();
      if (then === 'fail') controller.error(new Error('connection reset'));
    },
  });

const read = (body: UpstreamBody, idleTimeoutMs = 1_000) => {
  const aborted: string[] = [];
  return {
    aborted,
    result: readAnswer({
      upstream: body,
      idleTimeoutMs,
      now: () => 42,
      abortUpstream: (reason) => aborted.push(reason),
    }),
  };
};

const ANSWER = JSON.stringify({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
});

describe('readAnswer', () => {
  it('joins the chunks of an answer and notes when its first byte came', async () => {
    // Act
    const { result } = read(bodyOf([ANSWER.slice(0, 20), ANSWER.slice(20)]));
    const answer = await result;

    // Assess
    expect(new TextDecoder().decode(answer.bytes)).toBe(ANSWER);
    expect(answer).toMatchObject({ outcome: RequestOutcome.complete, firstByteAt: 42 });
  });

  it('reports an upstream that fails part way, with no bytes', async () => {
    const answer = await read(bodyOf(['{"id":'], 'fail')).result;
    expect(answer).toMatchObject({ bytes: undefined, outcome: RequestOutcome.upstreamError });
  });

  it('cuts off an upstream silent for the idle timeout, and stops it', async () => {
    // Act
    const { result, aborted } = read(bodyOf(['{"id":'], 'silence'), 30);
    const answer = await result;

    // Assess
    expect(answer).toMatchObject({ bytes: undefined, outcome: RequestOutcome.timeout });
    expect(aborted).toEqual(['idle timeout']);
  });
});

/** A body whose reader has `readNow`: `ready` parts are there at once, `later` ones only through `read()`. */
const readyBody = (ready: readonly string[], later: readonly string[], ended: boolean) => {
  const now = ready.map((part) => encoder.encode(part));
  const rest = later.map((part) => encoder.encode(part));
  let reads = 0;
  const reader = {
    readNow: () => {
      const value = now.shift();
      if (value !== undefined) return { done: false as const, value };
      return ended && rest.length === 0 ? { done: true as const } : undefined;
    },
    read: async () => {
      reads += 1;
      const value = now.shift() ?? rest.shift();
      return value === undefined ? { done: true as const } : { done: false as const, value };
    },
    cancel: async () => {},
  };
  return { body: { getReader: () => reader, cancel: async () => {} }, reads: () => reads };
};

describe('readAnswer with a reader that has readNow', () => {
  it('takes an answer that has already arrived whole without a read or an idle timer', async () => {
    // Prepare: an idle timeout of 0 would cut off any read that waited
    const ready = readyBody([ANSWER.slice(0, 20), ANSWER.slice(20)], [], true);

    // Act
    const { result, aborted } = read(ready.body, 0);
    const answer = await result;

    // Assess
    expect(new TextDecoder().decode(answer.bytes)).toBe(ANSWER);
    expect(answer).toMatchObject({ outcome: RequestOutcome.complete, firstByteAt: 42 });
    expect(ready.reads()).toBe(0);
    expect(aborted).toEqual([]);
  });

  it('reads on, with the idle timer, what has not arrived yet, keeping the order of the chunks', async () => {
    const ready = readyBody([ANSWER.slice(0, 10)], [ANSWER.slice(10, 30), ANSWER.slice(30)], false);
    const answer = await read(ready.body).result;
    expect(new TextDecoder().decode(answer.bytes)).toBe(ANSWER);
    expect(answer.outcome).toBe(RequestOutcome.complete);
    expect(ready.reads()).toBe(3);
  });
});

describe('wholeAnswerEnd', () => {
  it('takes the usage of the parsed answer, and captures it for the cache within the size given', async () => {
    // Prepare
    const answer = await read(bodyOf([ANSWER])).result;

    // Act
    const end = wholeAnswerEnd(answer, JSON.parse(ANSWER), 10_000);
    const tooBig = wholeAnswerEnd(answer, JSON.parse(ANSWER), 10);

    // Assess
    expect(end.usage).toMatchObject({ inputTokens: 5, outputTokens: 2 });
    expect(end.captured).toEqual({ json: ANSWER });
    expect(tooBig.captured).toBeUndefined();
  });

  it('takes the usage of a Responses answer, and estimates the output of an answer without usage', async () => {
    // Prepare
    const responses = {
      id: 'resp_1',
      object: 'response',
      response: { usage: { input_tokens: 3, output_tokens: 4 } },
    };
    const plain = await read(bodyOf(['{"text":"four words right here"}'])).result;

    // Act
    const fromResponse = wholeAnswerEnd(plain, responses, undefined);
    const estimated = wholeAnswerEnd(plain, { text: 'four words right here' }, undefined);

    // Assess
    expect(fromResponse.usage).toMatchObject({ inputTokens: 3, outputTokens: 4 });
    expect(estimated.usage).toBeUndefined();
    expect(estimated.estimateOutputTokens?.((text) => text.split(' ').length)).toBe(4);
  });
});
