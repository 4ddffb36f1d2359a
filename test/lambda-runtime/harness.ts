// Runs the bundled Lambda function under AWS's runtime interface client (aws-lambda-ric, Node 24) against a
// fake Runtime API, with DynamoDB and Secrets Manager from moto and a fake upstream that streams chat chunks
// at a fixed pace, and times every SSE event from the moment the upstream wrote it to the moment it reached
// the Runtime API. Shared by test/lambda-runtime/ric-streaming.test.ts and bench/lambda-runtime.ts.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import {
  createGatewayTables,
  DynamoKeyStore,
  type DynamoTables,
} from '../../lambda/adapters/dynamodb/index.ts';
import { displayPrefixOf, hashKey, keyIdOf } from '../../lambda/core/keys.ts';
import { EnvVar } from '../../lambda/environment.ts';
import {
  type FakeRuntimeApi,
  type InvocationResult,
  startFakeRuntimeApi,
} from '../fixtures/fake-runtime-api.ts';
import {
  type Behaviour,
  chunkEvent,
  type FakeUpstream,
  finishEvent,
  sleep,
  startFakeUpstream,
  usageEvent,
} from '../fixtures/fake-upstream.ts';
import { functionUrlEvent, restEvent } from '../fixtures/lambda-events.ts';
import {
  bundleLambdaForRic,
  findRic,
  type LambdaBundle,
  type RicInstall,
  startRic,
} from '../fixtures/lambda-ric.ts';
import { type MotoServer, startMotoServer } from '../fixtures/moto-server.ts';
import { TEST_PEPPER, testKey } from '../fixtures/tenants.ts';

export const MODEL = 'gpt-4o-mini';
const TENANT_ID = 'ric-stream';
const GATEWAY_KEY = testKey('ric-stream');
const TABLES: DynamoTables = { keys: 'ric-keys', usage: 'ric-usage', budgets: 'ric-budgets' };
const PEPPER_SECRET_ID = 'ric-gateway-key-pepper';
const REGION = 'eu-west-1';
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;

/** How the request reaches the function: API Gateway REST (payload v1) or a Function URL (payload v2). */
export type EventSource = 'REST v1' | 'Function URL';
export const EVENT_SOURCES: readonly EventSource[] = ['REST v1', 'Function URL'];

export interface PaddingSetting {
  readonly label: string;
  /** `streaming.flushPaddingBytes`; 0 turns padding off. */
  readonly flushPaddingBytes: number;
  /** `streaming.flushPaddingAfterIdleMs`; the config's default (100) when absent. */
  readonly flushPaddingAfterIdleMs?: number;
}

export const PADDING_OFF: PaddingSetting = { label: 'padding off', flushPaddingBytes: 0 };
/** What turning padding on in the config gives: the first write, and any after 100 ms of silence, padded. */
export const PADDING_ON: PaddingSetting = { label: 'padding 4096 B', flushPaddingBytes: 4096 };
/** Every write padded (an idle gap of 0 ms): the most the mitigation can do. */
export const PADDING_EVERY_WRITE: PaddingSetting = {
  label: 'padding 4096 B, every write',
  flushPaddingBytes: 4096,
  flushPaddingAfterIdleMs: 0,
};

export type EventKind = 'first content' | 'content' | 'finish' | '[DONE]';
export const EVENT_KINDS: readonly EventKind[] = ['first content', 'content', 'finish', '[DONE]'];

export interface TimedEvent {
  readonly kind: EventKind;
  /** The content event's position in the upstream stream (0-based); -1 for finish and [DONE]. */
  readonly index: number;
  /** performance.now() when the fake upstream wrote the event. */
  readonly sentAt: number;
  /** performance.now() when the piece of the response body that completed it reached the Runtime API. */
  readonly arrivedAt: number;
  readonly delayMs: number;
  /** Which body piece (as the Runtime API read it) carried it. */
  readonly chunk: number;
}

export interface TimedInvocation {
  readonly source: EventSource;
  readonly padding: PaddingSetting;
  readonly result: InvocationResult;
  readonly events: readonly TimedEvent[];
  /** SSE events of the response that match nothing the upstream sent. */
  readonly unmatched: readonly string[];
  /** When the upstream wrote its first and its last content event. */
  readonly firstSentAt: number;
  readonly lastSentAt: number;
  /** The tail of the runtime's stdout and stderr (the function's logs) when the response ended. */
  readonly output: string;
}

export interface StreamTimingOptions {
  /** Content events the upstream streams. @default 20 */
  readonly events?: number;
  /** Pause between two content events. @default 50 */
  readonly gapMs?: number;
}

export interface StreamTimingHarness {
  readonly events: number;
  readonly gapMs: number;
  /** Starts the RIC with this padding, invokes it once per source (in order), stops it. */
  run(padding: PaddingSetting, sources: readonly EventSource[]): Promise<TimedInvocation[]>;
  close(): Promise<void>;
}

const pieceOf = (index: number) => `piece-${String(index).padStart(3, '0')}`;

/** The fake upstream's stream, recording when it wrote each event (finish, usage and [DONE] go together). */
const timedStream =
  (events: number, gapMs: number, sent: Map<string, number>): Behaviour =>
  async (request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    for (let i = 0; i < events; i++) {
      if (i > 0) await sleep(gapMs);
      if (response.destroyed) return;
      sent.set(pieceOf(i), performance.now());
      response.write(chunkEvent(pieceOf(i)));
    }
    sent.set('finish', performance.now());
    response.write(finishEvent);
    const options = request.json?.stream_options as { include_usage?: boolean } | undefined;
    if (options?.include_usage) response.write(usageEvent);
    sent.set('[DONE]', performance.now());
    response.end('data: [DONE]\n\n');
  };

const chatBody = JSON.stringify({
  model: MODEL,
  messages: [{ role: 'user', content: 'Hello' }],
  stream: true,
});

const eventFor = (source: EventSource, keyId: string): APIGatewayProxyEvent | APIGatewayProxyEventV2 => {
  const headers = {
    'content-type': 'application/json',
    authorization: `Bearer ${GATEWAY_KEY}`,
    'user-agent': 'ric-harness',
  };
  if (source === 'Function URL') {
    return functionUrlEvent({
      rawPath: '/v1/chat/completions',
      headers: { ...headers, host: 'urlid.lambda-url.eu-west-1.on.aws' },
      body: chatBody,
    });
  }
  // Behind the REST API the authorizer has verified the key and passes the caller in its context.
  const event = restEvent({
    path: '/chat/completions',
    headers: { ...headers, host: 'abc123.execute-api.eu-west-1.amazonaws.com' },
    body: chatBody,
  });
  return {
    ...event,
    requestContext: {
      ...event.requestContext,
      authorizer: { principalId: keyId, tenantId: TENANT_ID, keyId, tier: 'default', models: '' },
    },
  };
};

/** Matches the response's SSE events to what the upstream sent and when. */
export const timeEvents = (
  result: InvocationResult,
  sent: ReadonlyMap<string, number>,
): { events: TimedEvent[]; unmatched: string[] } => {
  const events: TimedEvent[] = [];
  const unmatched: string[] = [];
  for (const arrived of result.events) {
    let key: string | undefined;
    let kind: EventKind | undefined;
    let index = -1;
    if (arrived.data === '[DONE]') {
      key = '[DONE]';
      kind = '[DONE]';
    } else {
      try {
        const chunk = JSON.parse(arrived.data) as {
          choices?: Array<{ delta?: { content?: string }; finish_reason?: string | null }>;
        };
        const choice = chunk.choices?.[0];
        const content = choice?.delta?.content;
        const match = content === undefined ? null : /^piece-(\d{3})$/.exec(content);
        if (match) {
          index = Number(match[1]);
          key = content;
          kind = index === 0 ? 'first content' : 'content';
        } else if (choice?.finish_reason) {
          key = 'finish';
          kind = 'finish';
        }
      } catch {
        // not JSON: left unmatched
      }
    }
    const sentAt = key === undefined ? undefined : sent.get(key);
    if (kind === undefined || sentAt === undefined) {
      unmatched.push(arrived.data);
      continue;
    }
    events.push({
      kind,
      index,
      sentAt,
      arrivedAt: arrived.at,
      delayMs: arrived.at - sentAt,
      chunk: arrived.chunk,
    });
  }
  return { events, unmatched };
};

interface AwsSide {
  readonly moto: MotoServer;
  readonly keyId: string;
  readonly env: Readonly<Record<string, string>>;
}

/** moto with the gateway's tables, the key pepper and one tenant with one key (as bench/lambda-aws.ts does). */
const startAws = async (): Promise<AwsSide> => {
  const moto = await startMotoServer();
  const options = { region: REGION, endpoint: moto.endpoint, credentials: CREDENTIALS, maxAttempts: 2 };
  const dynamodb = new DynamoDBClient(options);
  const secrets = new SecretsManagerClient(options);
  try {
    await createGatewayTables(dynamodb, TABLES);
    await secrets.send(new CreateSecretCommand({ Name: PEPPER_SECRET_ID, SecretString: TEST_PEPPER }));
    const keys = new DynamoKeyStore(dynamodb, TABLES);
    const keyId = keyIdOf(GATEWAY_KEY) ?? '';
    await keys.createTenant({
      tenantId: TENANT_ID,
      name: TENANT_ID,
      tier: 'default',
      status: 'active',
      createdAt: 0,
    });
    await keys.createKey({
      keyId,
      tenantId: TENANT_ID,
      displayPrefix: displayPrefixOf(GATEWAY_KEY),
      secretHash: hashKey(TEST_PEPPER, GATEWAY_KEY),
      status: 'active',
      createdAt: 0,
    });
    return {
      moto,
      keyId,
      env: {
        // What the stack sets (lambda/environment.ts), then what Lambda sets, pointed at moto.
        [EnvVar.KEYS_TABLE]: TABLES.keys,
        [EnvVar.USAGE_TABLE]: TABLES.usage,
        [EnvVar.BUDGETS_TABLE]: TABLES.budgets,
        [EnvVar.PEPPER_SECRET_ID]: PEPPER_SECRET_ID,
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
        AWS_REGION: REGION,
        AWS_DEFAULT_REGION: REGION,
      },
    };
  } catch (error) {
    await moto.stop();
    throw error;
  } finally {
    dynamodb.destroy();
    secrets.destroy();
  }
};

const gatewayConfig = (upstream: FakeUpstream, padding: PaddingSetting) => ({
  routes: [
    { model: MODEL, targets: [{ id: 'fake', provider: 'openai-compatible', baseUrl: upstream.baseUrl }] },
  ],
  tiers: { default: { monthlyBudgetUsd: 1_000 } },
  prices: { [MODEL]: { input: 0.15, cachedInput: 0.075, output: 0.6 } },
  streaming: {
    flushPaddingBytes: padding.flushPaddingBytes,
    ...(padding.flushPaddingAfterIdleMs === undefined
      ? {}
      : { flushPaddingAfterIdleMs: padding.flushPaddingAfterIdleMs }),
  },
});

/**
 * Starts everything but the RIC. Throws the RIC's install hint first, before any work, when it is missing.
 */
export const startStreamTimingHarness = async (
  options: StreamTimingOptions = {},
): Promise<StreamTimingHarness> => {
  const events = options.events ?? 20;
  const gapMs = options.gapMs ?? 50;
  const install: RicInstall = findRic();
  const cleanups: Array<() => Promise<void> | void> = [];
  const close = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  };
  try {
    const bundle: LambdaBundle = await bundleLambdaForRic();
    cleanups.push(() => bundle.remove());
    const aws = await startAws();
    cleanups.push(() => aws.moto.stop());
    const upstream = await startFakeUpstream();
    cleanups.push(() => upstream.close());
    const runtimeApi: FakeRuntimeApi = await startFakeRuntimeApi();
    cleanups.push(() => runtimeApi.close());

    const run = async (padding: PaddingSetting, sources: readonly EventSource[]) => {
      const ric = startRic({
        install,
        bundle,
        runtimeApi: runtimeApi.address,
        env: {
          ...aws.env,
          [EnvVar.GATEWAY_CONFIG]: JSON.stringify(gatewayConfig(upstream, padding)),
          POWERTOOLS_LOG_LEVEL: 'WARN',
        },
      });
      // A runtime that dies (init error, crash) fails the invocation at once, with its output.
      let stopping = false;
      ric.exited.then((how) => {
        if (stopping) return;
        runtimeApi.failPending(
          new Error(
            `the runtime interface client exited (${how}) during the invocation.\n` +
              `${runtimeApi.initErrors.map((body) => `init error: ${body}\n`).join('')}${ric.output()}`,
          ),
        );
      });
      try {
        const timed: TimedInvocation[] = [];
        for (const source of sources) {
          const sent = new Map<string, number>();
          upstream.setBehaviour(timedStream(events, gapMs, sent));
          const result = await runtimeApi.invoke(eventFor(source, aws.keyId));
          const { events: matched, unmatched } = timeEvents(result, sent);
          timed.push({
            source,
            padding,
            result,
            events: matched,
            unmatched,
            firstSentAt: sent.get(pieceOf(0)) ?? Number.NaN,
            lastSentAt: sent.get(pieceOf(events - 1)) ?? Number.NaN,
            output: ric.output(),
          });
        }
        return timed;
      } finally {
        stopping = true;
        await ric.stop();
      }
    };
    return { events, gapMs, run, close };
  } catch (error) {
    await close();
    throw error;
  }
};

/** Percentile (nearest rank) of a non-empty list. */
export const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return (
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN
  );
};
