// The AWS event stream codec: messages decoded whole however the bytes are split, checksums enforced.
import fc from 'fast-check';
import {
  createEventStreamDecoder,
  EventStreamError,
  encodeEventStreamMessage,
} from '../../lambda/core/upstream/event-stream.ts';

const text = new TextEncoder();
const message = (type: string, payload: string) =>
  encodeEventStreamMessage({ ':event-type': type, ':message-type': 'event' }, text.encode(payload));

describe('the event stream decoder', () => {
  it('gives each message out once its last byte has come, whatever the split', () => {
    const messages = [
      message('messageStart', '{"role":"assistant"}'),
      message('contentBlockDelta', '{"delta":{"text":"é✓"}}'),
      message('metadata', '{}'),
    ];
    const all = Buffer.concat(messages);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: all.byteLength - 1 }), { maxLength: 12 }), (cuts) => {
        // Prepare: the bytes cut at random points
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const pieces = [0, ...points].map((start, i) => all.subarray(start, points[i] ?? all.byteLength));
        const decoder = createEventStreamDecoder();

        // Act
        const decoded = pieces.flatMap((piece) => decoder.push(piece));

        // Assess
        expect(decoded.map((m) => m.headers[':event-type'])).toEqual([
          'messageStart',
          'contentBlockDelta',
          'metadata',
        ]);
        expect(new TextDecoder().decode(decoded[1]!.payload)).toBe('{"delta":{"text":"é✓"}}');
        expect(decoder.pending).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a message whose bytes were changed, in the prelude or after it', () => {
    // Prepare
    const whole = message('messageStart', '{"role":"assistant"}');
    const inPrelude = Uint8Array.from(whole);
    inPrelude[3] = (inPrelude[3] ?? 0) ^ 1;
    const inPayload = Uint8Array.from(whole);
    inPayload[whole.byteLength - 6] = (inPayload[whole.byteLength - 6] ?? 0) ^ 1;

    // Act and assess
    expect(() => createEventStreamDecoder().push(inPrelude)).toThrow(EventStreamError);
    expect(() => createEventStreamDecoder().push(inPayload)).toThrow('message checksum mismatch');
  });

  it('waits for the rest of a message cut short, and says how much it holds', () => {
    // Prepare
    const whole = message('messageStop', '{"stopReason":"end_turn"}');
    const decoder = createEventStreamDecoder();

    // Act
    const decoded = decoder.push(whole.subarray(0, whole.byteLength - 1));

    // Assess
    expect(decoded).toEqual([]);
    expect(decoder.pending).toBe(whole.byteLength - 1);
  });
});
