// The Messages front door in its native form: a recorded Claude Code-style turn replayed through the local gateway
// (createLocalApp) to a fake Anthropic API, byte for byte apart from the documented header changes; Claude on
// Bedrock through InvokeModel; and budget holds on this surface.
import Anthropic from '@anthropic-ai/sdk';
import {
  CLAUDE_CODE_ANSWER,
  CLAUDE_CODE_BODY,
  CLAUDE_CODE_HEADERS,
  CLAUDE_CODE_MODEL,
  CLAUDE_CODE_USAGE,
} from '../fixtures/claude-code-session.ts';
import { type FakeAnthropic, replyText, startFakeAnthropic } from '../fixtures/fake-anthropic.ts';
import { claudeWith, type FakeBedrock, startFakeBedrock } from '../fixtures/fake-bedrock.ts';
import { type RunningLocalApp, startLocalApp } from '../fixtures/local-app.ts';

const ANTHROPIC_KEY = 'sk-ant-upstream-key';
const BEDROCK_CLAUDE = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const PRICE = { input: 3, cachedInput: 0.3, cacheWrite: 3.75, output: 15, maxOutputTokens: 64_000 };
const savedEnv = { ...process.env };
let claude: FakeAnthropic;
let bedrock: FakeBedrock;
let running: RunningLocalApp;
let origin: string;
let devKey: string;

beforeAll(async () => {
  claude = await startFakeAnthropic();
  bedrock = await startFakeBedrock();
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'AKIAGATEWAYTEST',
    AWS_SECRET_ACCESS_KEY: 'gateway-test-secret',
  });
  delete process.env.AWS_PROFILE;
  running = await startLocalApp(
    {
      routes: [
        {
          model: CLAUDE_CODE_MODEL,
          targets: [
            { id: 'claude', provider: 'anthropic', baseUrl: claude.baseUrl, secretName: 'anthropic-api-key' },
          ],
        },
        {
          model: 'claude-bedrock',
          targets: [
            {
              id: 'bedrock',
              provider: 'bedrock',
              region: 'us-east-1',
              baseUrl: bedrock.baseUrl,
              model: BEDROCK_CLAUDE,
            },
          ],
        },
      ],
      // Enough for small requests, not for the worst case of a Claude Code turn (32,000 output tokens).
      tiers: { default: { monthlyBudgetUsd: 0.1 } },
      prices: { [CLAUDE_CODE_MODEL]: PRICE, 'claude-bedrock': PRICE },
    },
    { ANTHROPIC_API_KEY: ANTHROPIC_KEY },
  );
  origin = running.client.baseURL.replace(/\/v1$/, '');
  devKey = String(running.client.apiKey);
});

afterAll(async () => {
  await running.close();
  await claude.close();
  await bedrock.close();
  process.env = savedEnv;
});

beforeEach(() => {
  claude.setBehaviour(replyText('Hello from the fake Claude.'));
});

const sdk = () => new Anthropic({ authToken: devKey, apiKey: null, baseURL: origin, maxRetries: 0 });

describe('a Claude Code turn replayed through the gateway to Anthropic', () => {
  it('passes the request and the streamed answer byte for byte, changes only the documented headers, and meters the cache tokens', async () => {
    // Prepare: the fake answers with the recorded bytes, as they were framed
    claude.setBehaviour((_request, response) => {
      response.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'request-id': 'req_upstream',
      });
      for (const piece of CLAUDE_CODE_ANSWER) response.write(piece);
      response.end();
    });
    // A budget that holds the turn's worst case (32,000 output tokens) for this test only.
    const budgeted = await startLocalAppLike({ monthlyBudgetUsd: 100 });

    try {
      // Act: Claude Code with ANTHROPIC_API_KEY set to the gateway key sends it as x-api-key
      const response = await fetch(`${budgeted.origin}/v1/messages`, {
        method: 'POST',
        headers: { ...CLAUDE_CODE_HEADERS, 'x-api-key': budgeted.key },
        body: CLAUDE_CODE_BODY,
      });
      const received = await response.text();

      // Assess: the answer's bytes, as Anthropic sent them
      expect(response.status).toBe(200);
      expect(received).toBe(CLAUDE_CODE_ANSWER.join(''));
      expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(response.headers.get('request-id')).toBe(response.headers.get('x-request-id'));
      // The request's bytes, as Claude Code sent them
      const sent = claude.requests.at(-1)!;
      expect(sent.raw).toBe(CLAUDE_CODE_BODY);
      // Headers: the version and betas pass; the upstream key replaces the gateway key; the rest stays here
      expect(sent.headers['anthropic-version']).toBe(CLAUDE_CODE_HEADERS['anthropic-version']);
      expect(sent.headers['anthropic-beta']).toBe(CLAUDE_CODE_HEADERS['anthropic-beta']);
      expect(sent.headers['x-api-key']).toBe(ANTHROPIC_KEY);
      expect(sent.headers['user-agent']).toBe('llm-gateway');
      for (const name of [
        'authorization',
        'x-app',
        'x-stainless-os',
        'anthropic-dangerous-direct-browser-access',
      ])
        expect(sent.headers[name]).toBeUndefined();
      // Metered exactly: cache reads and writes at their prices
      const record = budgeted.recordOf(response.headers.get('x-request-id'));
      const { input_tokens, cache_read_input_tokens, cache_creation_input_tokens, output_tokens } =
        CLAUDE_CODE_USAGE;
      expect(record).toMatchObject({
        targetId: 'claude',
        exact: true,
        outcome: 'complete',
        usage: {
          inputTokens: input_tokens + cache_read_input_tokens + cache_creation_input_tokens,
          cachedInputTokens: cache_read_input_tokens,
          cacheWriteTokens: cache_creation_input_tokens,
          outputTokens: output_tokens,
        },
      });
      expect(record?.costMicroUsd).toBe(
        Math.ceil(
          input_tokens * PRICE.input +
            cache_read_input_tokens * PRICE.cachedInput +
            cache_creation_input_tokens * PRICE.cacheWrite +
            output_tokens * PRICE.output,
        ),
      );
    } finally {
      await budgeted.close();
    }
  });
});

describe('budget holds on the Messages surface', () => {
  it('refuses a request whose worst case the budget cannot hold, before anything goes upstream', async () => {
    // Prepare
    const before = claude.requests.length;

    // Act: $0.10 cannot hold 32,000 output tokens at $15 per million
    const error = await sdk()
      .messages.create({
        model: CLAUDE_CODE_MODEL,
        max_tokens: 32_000,
        messages: [{ role: 'user', content: 'Hi' }],
        stream: true,
      })
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(Anthropic.RateLimitError);
    expect((error as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: 'error',
      error: { type: 'rate_limit_error' },
    });
    expect(claude.requests.length).toBe(before);
  });

  it('lets a request through whose worst case fits, and charges what it used', async () => {
    // Act
    const { data, response } = await sdk()
      .messages.create({
        model: CLAUDE_CODE_MODEL,
        max_tokens: 100,
        messages: [{ role: 'user', content: 'Hi' }],
      })
      .withResponse();

    // Assess
    expect(data.content).toEqual([{ type: 'text', text: 'Hello from the fake Claude.' }]);
    const record = running.recordOf(response.headers.get('x-request-id'));
    expect(record).toMatchObject({ exact: true, usage: { inputTokens: 21, outputTokens: 9 } });
    expect(record?.costMicroUsd).toBe(Math.ceil(21 * PRICE.input + 9 * PRICE.output));
  });
});

describe('Claude on Bedrock: InvokeModel with the Messages body', () => {
  it('answers a message from InvokeModel, and meters it', async () => {
    // Prepare
    bedrock.queue(claudeWith({ text: 'Hello from Claude on Bedrock.' }));

    // Act
    const { data, response } = await sdk()
      .messages.create({
        model: 'claude-bedrock',
        max_tokens: 100,
        messages: [{ role: 'user', content: 'Hi' }],
      })
      .withResponse();

    // Assess
    expect(data).toMatchObject({
      type: 'message',
      model: 'claude-bedrock',
      content: [{ type: 'text', text: 'Hello from Claude on Bedrock.' }],
    });
    const sent = bedrock.requests.at(-1)!;
    expect(sent.action).toBe('invoke');
    expect(sent.modelId).toBe(BEDROCK_CLAUDE);
    expect(sent.body).toMatchObject({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 100 });
    expect(sent.body).not.toHaveProperty('model');
    expect(running.recordOf(response.headers.get('x-request-id'))).toMatchObject({
      targetId: 'bedrock',
      exact: true,
    });
  });

  it('streams the chunks of InvokeModelWithResponseStream as Anthropic’s events', async () => {
    // Prepare
    bedrock.queue(claudeWith({ text: 'Hello from Claude on Bedrock.' }));

    // Act
    const stream = sdk().messages.stream(
      { model: 'claude-bedrock', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] },
      { headers: { 'anthropic-beta': 'interleaved-thinking-2025-05-14' } },
    );
    const message = await stream.finalMessage();
    const { response } = await stream.withResponse();

    // Assess
    expect(message.content).toEqual([{ type: 'text', text: 'Hello from Claude on Bedrock.' }]);
    const sent = bedrock.requests.at(-1)!;
    expect(sent.action).toBe('invoke-with-response-stream');
    expect(sent.body).toMatchObject({ anthropic_beta: ['interleaved-thinking-2025-05-14'] });
    const record = running.recordOf(response.headers.get('x-request-id'));
    expect(record).toMatchObject({ targetId: 'bedrock', exact: true, outcome: 'complete' });
    expect(record?.usage.outputTokens).toBeGreaterThan(0);
  });
});

/** Another local gateway on the same fakes, with a tier budget of its own. */
const startLocalAppLike = async (tier: { monthlyBudgetUsd: number }) => {
  const other = await startLocalApp(
    {
      routes: [
        {
          model: CLAUDE_CODE_MODEL,
          targets: [
            { id: 'claude', provider: 'anthropic', baseUrl: claude.baseUrl, secretName: 'anthropic-api-key' },
          ],
        },
      ],
      tiers: { default: tier },
      prices: { [CLAUDE_CODE_MODEL]: PRICE },
    },
    { ANTHROPIC_API_KEY: ANTHROPIC_KEY },
  );
  return {
    origin: other.client.baseURL.replace(/\/v1$/, ''),
    key: String(other.client.apiKey),
    recordOf: other.recordOf,
    close: other.close,
  };
};
