import { readFileSync } from 'node:fs';
import { createSseRelay, formatSseError, formatSseEvent } from '../../lambda/core/sse.ts';
import type { TokenUsage } from '../../lambda/ports.ts';

const fixture = (name: string) =>
  readFileSync(new URL(`../fixtures/streams/${name}`, import.meta.url), 'utf8');
const chatStream = fixture('openai-chat-include-usage.sse');
const responsesStream = fixture('openai-responses.sse');

/** Feeds `text` to a relay in pieces of `size` characters, as a network would split it. */
const relayInPieces = (text: string, size: number, dropUsageChunk: boolean) => {
  const usages: TokenUsage[] = [];
  const relay = createSseRelay({ dropUsageChunk, onUsage: (usage) => usages.push(usage) });
  const writes: string[] = [];
  for (let i = 0; i < text.length; i += size) {
    const out = relay.push(text.slice(i, i + size));
    if (out !== '') writes.push(out);
  }
  return { output: writes.join(''), writes, usages, sawDone: relay.sawDone };
};

describe('createSseRelay', () => {
  it.each([1, 7, 64, 100_000])(
    'passes a recorded OpenAI stream through unchanged when split every %i characters',
    (size) => {
      const { output, usages, sawDone } = relayInPieces(chatStream, size, false);
      expect(output).toBe(chatStream);
      expect(sawDone).toBe(true);
      expect(usages).toEqual([{ inputTokens: 9, cachedInputTokens: 0, outputTokens: 9, reasoningTokens: 0 }]);
    },
  );

  it('drops only the usage chunk the gateway asked for, and still reports the usage', () => {
    const { output, usages } = relayInPieces(chatStream, 13, true);
    const events = output.split('\n\n').filter(Boolean);
    expect(events).toHaveLength(chatStream.split('\n\n').filter(Boolean).length - 1);
    expect(output).not.toContain('"prompt_tokens"');
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(usages).toHaveLength(1);
  });

  it('emits whole events only, never a partial one', () => {
    const { writes } = relayInPieces(chatStream, 5, false);
    for (const write of writes) expect(write.endsWith('\n\n')).toBe(true);
  });

  it('keeps named events and reads usage from a Responses API stream', () => {
    const { output, usages, sawDone } = relayInPieces(responsesStream, 31, false);
    expect(output).toBe(responsesStream);
    expect(sawDone).toBe(false);
    expect(usages).toEqual([{ inputTokens: 12, cachedInputTokens: 4, outputTokens: 6, reasoningTokens: 1 }]);
  });

  it('normalises CRLF framing and drops upstream comments', () => {
    const { output } = relayInPieces(': keep-alive\r\n\r\ndata: {"a":1}\r\n\r\n', 3, false);
    expect(output).toBe('data: {"a":1}\n\n');
  });
});

describe('formatSseEvent', () => {
  it('splits multi-line data into several data lines', () => {
    expect(formatSseEvent({ event: 'x', id: '7', data: 'line one\nline two' })).toBe(
      'event: x\nid: 7\ndata: line one\ndata: line two\n\n',
    );
  });
});

describe('formatSseError', () => {
  it('writes an error event whose data is the OpenAI error body', () => {
    const text = formatSseError({
      error: { message: 'm', type: 'server_error', param: null, code: 'upstream_error' },
    });
    expect(text).toBe(
      'event: error\ndata: {"error":{"message":"m","type":"server_error","param":null,"code":"upstream_error"}}\n\n',
    );
  });
});
