// `npx tsx bench/lambda-runtime.ts`: when do the SSE events of a streamed chat completion leave the real
// Lambda runtime interface client? Runs the bundled function under aws-lambda-ric (Node 24) against a fake
// Runtime API on loopback (test/lambda-runtime/harness.ts), with a fake upstream streaming 20 chunk events
// 50 ms apart, and prints a markdown table of the delay from the upstream's write of each event to its
// arrival at the Runtime API: per event source (REST v1, Function URL) and padding setting.
//
// Needs moto and the RIC: `bash scripts/install-test-services.sh`. RIC_BENCH_ROUNDS (default 5) sets the
// invocations per event source and padding setting; RIC_BENCH_DETAIL=1 also prints one response's framing.
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { LAMBDA_NODE_MAJOR, RIC_VERSION } from '../test/fixtures/lambda-ric.ts';
import {
  EVENT_KINDS,
  EVENT_SOURCES,
  type EventKind,
  PADDING_EVERY_WRITE,
  PADDING_OFF,
  PADDING_ON,
  type PaddingSetting,
  percentile,
  startStreamTimingHarness,
  type TimedInvocation,
} from '../test/lambda-runtime/harness.ts';

export interface LambdaRuntimeBench {
  readonly markdown: string;
  readonly invocations: readonly TimedInvocation[];
}

const ms = (value: number) => (value < 10 ? value.toFixed(1) : value.toFixed(0));

const cell = (invocations: readonly TimedInvocation[], kind: EventKind): string => {
  const delays = invocations.flatMap((invocation) =>
    invocation.events.filter((event) => event.kind === kind).map((event) => event.delayMs),
  );
  return delays.length === 0 ? '—' : `${ms(percentile(delays, 50))} / ${ms(Math.max(...delays))}`;
};

/** Body pieces the Runtime API read per response, and how many of the content events shared a piece. */
const pieces = (invocations: readonly TimedInvocation[]): string => {
  const counts = invocations.map((invocation) => invocation.result.chunks.length);
  const shared = invocations.map((invocation) => {
    const content = invocation.events.filter((event) => event.index >= 0);
    return content.length - new Set(content.map((event) => event.chunk)).size;
  });
  return `${percentile(counts, 50)} / ${Math.max(...shared)}`;
};

/** From the arrival of [DONE] to the end of the response (the runtime's terminating chunk). */
const endLag = (invocations: readonly TimedInvocation[]): string => {
  const lags = invocations.flatMap((invocation) => {
    const done = invocation.events.find((event) => event.kind === '[DONE]');
    return done === undefined ? [] : [invocation.result.endedAt - done.arrivedAt];
  });
  return lags.length === 0 ? '—' : `${ms(percentile(lags, 50))} / ${ms(Math.max(...lags))}`;
};

/** Time from the last content event's upstream write to the first content event's arrival: > 0 is no burst. */
const lead = (invocations: readonly TimedInvocation[]): string => {
  const leads = invocations.map((invocation) => {
    const first = invocation.events.find((event) => event.kind === 'first content');
    return first === undefined ? Number.NaN : invocation.lastSentAt - first.arrivedAt;
  });
  return ms(Math.min(...leads));
};

export const runLambdaRuntimeBench = async (rounds: number): Promise<LambdaRuntimeBench> => {
  const started = performance.now();
  const harness = await startStreamTimingHarness();
  const settings: readonly PaddingSetting[] = [PADDING_OFF, PADDING_ON, PADDING_EVERY_WRITE];
  const invocations: TimedInvocation[] = [];
  try {
    for (const padding of settings) {
      const sources = Array.from({ length: rounds }, () => EVENT_SOURCES).flat();
      invocations.push(...(await harness.run(padding, sources)));
    }
  } finally {
    await harness.close();
  }
  for (const invocation of invocations) {
    if (invocation.result.mode !== 'streaming' || invocation.result.prelude?.statusCode !== 200) {
      throw new Error(
        `${invocation.source} (${invocation.padding.label}) was not a streamed 200: ${invocation.result.mode}, ` +
          `${JSON.stringify(invocation.result.prelude)} ${invocation.result.body.toString('utf8').slice(0, 300)}\n${invocation.output}`,
      );
    }
    if (invocation.events.length !== harness.events + 2) {
      throw new Error(
        `${invocation.source} (${invocation.padding.label}) delivered ${invocation.events.length} of ` +
          `${harness.events + 2} events (unmatched: ${JSON.stringify(invocation.unmatched)})`,
      );
    }
  }
  const header = [
    'padding',
    'event source',
    ...EVENT_KINDS,
    'response end after [DONE]',
    'first content ahead of last upstream write (min)',
    'body pieces per response (p50) / content events sharing a piece (max)',
  ];
  const rows = settings.flatMap((padding) =>
    EVENT_SOURCES.map((source) => {
      const group = invocations.filter(
        (invocation) => invocation.padding === padding && invocation.source === source,
      );
      return [
        padding.label,
        source,
        ...EVENT_KINDS.map((kind) => cell(group, kind)),
        endLag(group),
        lead(group),
        pieces(group),
      ];
    }),
  );
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  const markdown = [
    `aws-lambda-ric ${RIC_VERSION} on Node ${process.versions.node.split('.')[0] === String(LAMBDA_NODE_MAJOR) ? process.version : `${LAMBDA_NODE_MAJOR} (.cache/node24)`}, ` +
      `${harness.events} content events ${harness.gapMs} ms apart, ${rounds} invocations per row ` +
      `(${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores; run took ` +
      `${((performance.now() - started) / 1000).toFixed(0)} s). Delay of each event from the fake upstream's ` +
      'write to its arrival at the fake Runtime API, p50 / max in ms.',
    '',
    line(header),
    line(header.map((_, i) => (i < 2 ? '---' : '---:'))),
    ...rows.map(line),
  ].join('\n');
  return { markdown, invocations };
};

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const rounds = Math.max(1, Number(process.env.RIC_BENCH_ROUNDS ?? 5) || 5);
  const { markdown, invocations } = await runLambdaRuntimeBench(rounds);
  process.stdout.write(`${markdown}\n`);
  if (process.env.RIC_BENCH_DETAIL === '1') {
    for (const invocation of invocations.slice(0, 2)) {
      const { result } = invocation;
      process.stdout.write(
        `\n${invocation.source}, ${invocation.padding.label}: request headers ${JSON.stringify(result.headers)}\n` +
          `  trailers ${JSON.stringify(result.trailers)}; prelude ${JSON.stringify(result.prelude)}\n` +
          `  HTTP chunk sizes ${JSON.stringify(result.httpChunks)}\n` +
          `  socket reads ${result.reads.length}: ${JSON.stringify(result.reads.map((read) => read.bytes))}\n` +
          `  delays ${invocation.events.map((event) => `${event.kind === 'content' ? event.index : event.kind}:${ms(event.delayMs)}`).join(' ')}\n`,
      );
    }
  }
}
