// Optional mitigation for response-stream writes that the Lambda runtime holds back (runtime client
// issues #94 and #102): pad the first SSE write, and any write after an idle gap, with an SSE comment.
import { Transform } from 'node:stream';

export interface FlushPaddingOptions {
  /** Pad a write up to this many bytes. */
  readonly bytes: number;
  /** A write after this much silence is padded too. */
  readonly afterIdleMs: number;
  readonly now: () => number;
}

/** Comment lines are ignored by SSE clients, so padding changes no event. */
export const padding = (missing: number): Buffer => {
  const size = Math.max(missing, 4);
  const pad = Buffer.alloc(size, 0x20);
  pad.write(':', 0);
  pad.write('\n\n', size - 2);
  return pad;
};

export const flushPadding = (options: FlushPaddingOptions): Transform => {
  let lastWriteAt: number | undefined;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const now = options.now();
      const idle = lastWriteAt === undefined || now - lastWriteAt >= options.afterIdleMs;
      lastWriteAt = now;
      if (idle && chunk.byteLength < options.bytes) {
        callback(null, Buffer.concat([chunk, padding(options.bytes - chunk.byteLength)]));
        return;
      }
      callback(null, chunk);
    },
  });
};
