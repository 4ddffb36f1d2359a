// JSONL bodies from the upstream (a batch's result files), read a line at a time as they arrive: never more than
// one chunk and one line in memory, however large the file.
import type { UpstreamBody } from '../ports.ts';
import { upstreamError } from './errors.ts';
import type { BodySource, ReadResult } from './exchange.ts';

/** The longest line the gateway reads: one answer of a batch, far above what a model writes. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;
const encoder = new TextEncoder();

/** Splits decoded text into complete lines, keeping the unfinished last one. */
const lineSplitter = () => {
  const decoder = new TextDecoder();
  let pending = '';
  return {
    /** The complete lines in `chunk` (with what was pending before it); at the end (no chunk), the rest. */
    push(chunk: Uint8Array | undefined): string[] {
      pending += chunk === undefined ? decoder.decode() : decoder.decode(chunk, { stream: true });
      const lines = pending.split('\n');
      pending = chunk === undefined ? '' : (lines.pop() ?? '');
      if (pending.length > MAX_LINE_BYTES)
        throw upstreamError('The upstream returned a result line longer than the gateway reads.');
      if (chunk === undefined && lines.at(-1) === '') lines.pop();
      return lines;
    },
  };
};

/** Calls `visit` with each line of `body` (without its line break), in order, as the body arrives. */
export const eachLine = async (body: UpstreamBody, visit: (line: string) => void): Promise<void> => {
  const reader = body.getReader();
  const split = lineSplitter();
  try {
    for (;;) {
      const result = await reader.read();
      for (const line of split.push(result.done ? undefined : result.value)) visit(line);
      if (result.done) return;
    }
  } catch (error) {
    await reader.cancel(error).catch(() => {});
    throw error;
  }
};

/**
 * A response body of `body`'s lines, each passed through `map` as it arrives (read only as fast as the client
 * reads). `end` runs once the last line has been mapped.
 */
export const mapLines = (body: UpstreamBody, map: (line: string) => string, end: () => void): BodySource => {
  const reader = body.getReader();
  const split = lineSplitter();
  let finished = false;
  return {
    read: async (): Promise<ReadResult> => {
      while (!finished) {
        const result = await reader.read();
        const lines = split.push(result.done ? undefined : result.value);
        const out = lines.length === 0 ? undefined : encoder.encode(`${lines.map(map).join('\n')}\n`);
        if (result.done) {
          finished = true;
          end();
        }
        if (out !== undefined) return { done: false, value: out };
      }
      return { done: true };
    },
    cancel: (reason) => reader.cancel(reason),
  };
};
