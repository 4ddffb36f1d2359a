// The bundled Lambda function under AWS's own runtime interface client (aws-lambda-ric on Node 24), streaming
// to a fake Runtime API on loopback: SSE events leave the runtime as the upstream sends them, not in a burst at
// the end (runtime client issues #94 and #102), with flush padding off and on. bench/lambda-runtime.ts prints
// the same measurement as a table. Needs the RIC built: `bash scripts/install-test-services.sh`.
import { ricSupported } from '../fixtures/lambda-ric.ts';
import {
  EVENT_SOURCES,
  type EventSource,
  PADDING_OFF,
  PADDING_ON,
  type PaddingSetting,
  percentile,
  type StreamTimingHarness,
  startStreamTimingHarness,
  type TimedInvocation,
} from './harness.ts';

const EVENTS = 20;
const GAP_MS = 50;
const SETTINGS: readonly PaddingSetting[] = [PADDING_OFF, PADDING_ON];

// The RIC's native addon builds on Linux only (its install skips macOS): elsewhere say so and skip. On Linux
// a missing build fails beforeAll with the command that installs it.
const describeWhereRicBuilds = ricSupported() ? describe : describe.skip;
if (!ricSupported()) {
  console.warn(
    `test/lambda-runtime skipped: aws-lambda-ric builds only on Linux x64/arm64, not ${process.platform}/${process.arch}.`,
  );
}

describeWhereRicBuilds('the bundled function under aws-lambda-ric, streaming 20 events 50 ms apart', () => {
  let harness: StreamTimingHarness | undefined;
  const runs = new Map<PaddingSetting, TimedInvocation[]>();

  beforeAll(async () => {
    harness = await startStreamTimingHarness({ events: EVENTS, gapMs: GAP_MS });
    for (const padding of SETTINGS) runs.set(padding, await harness.run(padding, EVENT_SOURCES));
  }, 90_000);

  afterAll(async () => {
    await harness?.close();
  }, 30_000);

  const invocation = (padding: PaddingSetting, source: EventSource): TimedInvocation => {
    const found = runs.get(padding)?.find((run) => run.source === source);
    if (found === undefined) throw new Error(`no ${source} invocation with ${padding.label}`);
    return found;
  };

  describe.each(SETTINGS)('$label', (padding) => {
    it.each(EVENT_SOURCES)(
      '%s: the runtime streams the HTTP response prelude, then every event',
      (source) => {
        // Arrange
        const { result, events, unmatched, output } = invocation(padding, source);

        // Assess
        expect({ mode: result.mode, contentType: result.headers['content-type'] }).toEqual({
          mode: 'streaming',
          contentType: 'application/vnd.awslambda.http-integration-response',
        });
        expect(result.prelude?.statusCode).toBe(200);
        expect(result.prelude?.headers?.['content-type']).toMatch(/^text\/event-stream/);
        // Error trailers are declared up front but only sent when the handler fails.
        expect(result.trailers).toEqual({});
        expect(unmatched).toEqual([]);
        expect(events.map((event) => (event.index >= 0 ? event.index : event.kind))).toEqual([
          ...Array.from({ length: EVENTS }, (_, i) => i),
          'finish',
          '[DONE]',
        ]);
        // Padding (an SSE comment) rides on the first write when on, and never appears when off.
        if (padding.flushPaddingBytes > 0) expect(result.comments).toBeGreaterThanOrEqual(1);
        else expect(result.comments).toBe(0);
        expect(output).not.toMatch(/Invoke Error|"level":"ERROR"/);
      },
    );

    it.each(EVENT_SOURCES)(
      '%s: events reach the Runtime API spread over time, not in a burst at the end',
      (source) => {
        // Arrange
        const { events, firstSentAt, lastSentAt } = invocation(padding, source);
        const content = events.filter((event) => event.index >= 0);
        const first = content[0]!;
        const last = content.at(-1)!;
        const delays = content.map((event) => event.delayMs);

        // Assess: relations and generous bounds, not tight timings (a loaded machine delays everything a bit).
        // The first event is out long before the upstream writes the last (19 gaps of 50 ms later).
        expect(first.arrivedAt).toBeLessThan(lastSentAt);
        // Arrivals span most of the time the upstream took to send them; a burst would span ~0 ms.
        expect(last.arrivedAt - first.arrivedAt).toBeGreaterThan((lastSentAt - firstSentAt) / 2);
        // Most events came in a body piece of their own.
        expect(new Set(content.map((event) => event.chunk)).size).toBeGreaterThanOrEqual(EVENTS / 2);
        // Most events arrive before the upstream writes the next one, and the typical delay is a fraction of a gap.
        expect(delays.filter((delay) => delay < GAP_MS).length).toBeGreaterThanOrEqual((EVENTS * 3) / 4);
        expect(percentile(delays, 50)).toBeLessThan(GAP_MS / 2);
      },
    );
  });
});
