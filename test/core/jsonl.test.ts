// JSONL bodies read a line at a time: whatever the chunking (a character split across chunks, a line across
// many), the lines come out whole and in order, and a mapped body ends after its last line.
import fc from 'fast-check';
import { eachLine, mapLines } from '../../lambda/core/jsonl.ts';
import type { UpstreamBody } from '../../lambda/ports.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A body that hands out `bytes` in chunks cut at `cuts`. */
const bodyOf = (bytes: Uint8Array, cuts: readonly number[]): UpstreamBody => {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((x, y) => x - y);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const point of [...points, bytes.length]) {
    if (point > from) chunks.push(bytes.slice(from, point));
    from = Math.max(from, point);
  }
  return new Response(
    new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(next);
      },
    }),
  ).body!;
};

const TEXT = '{"a":"é€😀"}\n{"b":2}\n\n{"c":"last, without a line break"}';

describe('eachLine', () => {
  it('gives every line whole and in order, however the body is cut', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(200), { maxLength: 12 }), async (cuts) => {
        // Act
        const lines: string[] = [];
        await eachLine(bodyOf(encoder.encode(TEXT), cuts), (line) => lines.push(line));

        // Assess
        expect(lines).toEqual(TEXT.split('\n'));
      }),
    );
  });
});

describe('mapLines', () => {
  it('maps every line as it arrives, ends each with a line break, and ends after the last line', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(200), { maxLength: 12 }), async (cuts) => {
        // Prepare
        const events: string[] = [];
        const source = mapLines(
          bodyOf(encoder.encode(`${TEXT}\n`), cuts),
          (line) => {
            events.push(`map ${line}`);
            return line.toUpperCase();
          },
          () => events.push('end'),
        );

        // Act
        let out = '';
        for (let result = await source.read(); !result.done; result = await source.read())
          out += decoder.decode(result.value);

        // Assess
        expect(out).toBe(`${TEXT.toUpperCase()}\n`);
        expect(events.at(-1)).toBe('end');
        expect(events.filter((event) => event === 'end')).toHaveLength(1);
      }),
    );
  });
});
