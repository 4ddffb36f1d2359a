// The local store as processes share it: the gateway (`npm start`'s entry point) serving 32 clients while the admin
// CLI creates tenants and keys and reads usage, and a gateway killed with SIGKILL under load, then started again.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { openLocalStore } from '../../lambda/adapters/sqlite/local-store.ts';
import { generateKey } from '../../lambda/core/keys.ts';
import { billingMonthOf } from '../../lambda/core/pricing.ts';
import { CLI_TIMEOUT_MS, KEY_FORMAT, runCli } from '../fixtures/admin-cli.ts';
import { type FakeUpstream, replyChat, startFakeUpstream, streamChat } from '../fixtures/fake-upstream.ts';
import { type LocalGatewayProcess, startLocalGatewayProcess } from '../fixtures/local-gateway-process.ts';

const CLIENTS = 32;

let dir: string;
let stateDir: string;
let configFile: string;
let upstream: FakeUpstream;
let gateway: LocalGatewayProcess | undefined;
const devKey = generateKey().key;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'local-processes-'));
  stateDir = join(dir, 'state');
  // Streams take ~40 ms, so that many requests are in flight (holding budget) at any moment.
  upstream = await startFakeUpstream((request, response) =>
    request.json?.stream === true
      ? streamChat({ pieces: ['one ', 'two ', 'three ', 'four ', 'five'], gapMs: 10 })(request, response)
      : replyChat('hello')(request, response),
  );
  configFile = join(dir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      routes: [
        {
          model: 'gpt-4o-mini',
          targets: [{ id: 'fake', provider: 'openai-compatible', baseUrl: upstream.baseUrl }],
        },
      ],
      tiers: { default: { monthlyBudgetUsd: 1_000 } },
      prices: { 'gpt-4o-mini': { input: 0.15, cachedInput: 0.075, output: 0.6 } },
    }),
  );
});

afterEach(async () => {
  await gateway?.kill();
  gateway = undefined;
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

const startGateway = () =>
  startLocalGatewayProcess({
    GATEWAY_STATE_DIR: stateDir,
    GATEWAY_CONFIG_FILE: configFile,
    GATEWAY_DEV_KEY: devKey,
  });
const cli = (...args: string[]) => runCli(['--state-dir', stateDir, '--config', configFile, ...args]);
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Hello' }] };

describe('the local store shared by processes', () => {
  it(
    'serves 32 clients while the admin CLI creates a tenant and a key and reads usage, and counts every request',
    async () => {
      // Prepare
      gateway = await startGateway();
      const client = new OpenAI({ apiKey: devKey, baseURL: `${gateway.origin}/v1`, maxRetries: 0 });
      const perClient = 20;

      // Act: the clients and the CLI at the same time
      const load = Promise.all(
        Array.from({ length: CLIENTS }, async (_, worker) => {
          for (let i = 0; i < perClient; i += 1) {
            if ((worker + i) % 4 === 0) {
              const stream = await client.chat.completions.create({ ...chat, stream: true });
              let text = '';
              for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
              expect(text).toBe('one two three four five');
            } else {
              const answer = await client.chat.completions.create(chat);
              expect(answer.choices[0]?.message.content).toBe('hello');
            }
          }
        }),
      );
      const admin = (async () => {
        const results = [await cli('tenants', 'create', 'acme', '--tier', 'default', '--name', 'Acme')];
        const created = await cli('keys', 'create', '--tenant', 'acme', '--name', 'ci');
        results.push(created);
        for (let i = 0; i < 3; i += 1) results.push(await cli('--json', 'usage', '--tenant', 'dev'));
        return { results, key: /^ {2}(sk-gw-\S+)$/m.exec(created.stdout)?.[1] ?? '' };
      })();
      const [, { results, key }] = await Promise.all([load, admin]);
      for (const result of results) expect(result).toMatchObject({ code: 0, stderr: '' });
      const acme = await new OpenAI({
        apiKey: key,
        baseURL: `${gateway.origin}/v1`,
        maxRetries: 0,
      }).chat.completions.create(chat);
      const usage = await cli('--json', 'usage', '--tenant', 'dev');

      // Assess
      expect(key).toMatch(KEY_FORMAT);
      expect(acme.choices[0]?.message.content).toBe('hello');
      const reads = results.slice(2).map((result) => JSON.parse(result.stdout).total.requests as number);
      expect(reads).toEqual([...reads].sort((a, b) => a - b)); // never goes back
      expect(JSON.parse(usage.stdout).total.requests).toBe(CLIENTS * perClient);
      const store = openLocalStore(stateDir);
      expect(store.ledger.count()).toBe(CLIENTS * perClient + 1);
      const budget = await store.budgets.budget('dev', billingMonthOf(Date.now()));
      expect(budget.spentMicroUsd).toBeGreaterThan(0);
      expect(budget.committedMicroUsd).toBe(budget.spentMicroUsd); // every hold settled
      store.close();
    },
    CLI_TIMEOUT_MS * 2,
  );

  it(
    'loses no usage record of an answer that completed when the gateway is killed under load, and the next start releases the holds the killed one left',
    async () => {
      // Prepare
      gateway = await startGateway();
      const origin = gateway.origin;
      const completed: string[] = [];
      let failed = 0;
      let stopping = false;
      const oneRequest = async (stream: boolean) => {
        const response = await fetch(`${origin}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${devKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ ...chat, stream }),
        });
        const body = await response.text(); // the whole answer, or a rejection when the connection dies
        if (response.status !== 200) throw new Error(`status ${response.status}: ${body}`);
        if (stream && !body.includes('data: [DONE]')) throw new Error('stream cut short');
        completed.push(response.headers.get('x-request-id') ?? '');
      };
      const load = Promise.all(
        Array.from({ length: CLIENTS }, async (_, worker) => {
          for (let i = 0; !stopping; i += 1) {
            try {
              await oneRequest((worker + i) % 2 === 0);
            } catch {
              failed += 1;
            }
          }
        }),
      );

      // Act: kill it once it has answered a few hundred requests, then start another on the same state
      while (completed.length < 300) await new Promise((resolve) => setTimeout(resolve, 10));
      await gateway.kill();
      stopping = true;
      await load;
      const afterKill = openLocalStore(stateDir);
      const month = billingMonthOf(Date.now());
      const left = await afterKill.budgets.budget('dev', month);
      const records = new Set(afterKill.ledger.records().map((record) => record.requestId));
      afterKill.close();
      gateway = await startGateway();
      const restarted = openLocalStore(stateDir);
      const settled = await restarted.budgets.budget('dev', month);
      restarted.close();

      // Assess
      expect(completed.length).toBeGreaterThanOrEqual(300);
      expect(failed).toBeGreaterThan(0); // requests were in flight when it died
      expect(completed.filter((id) => !records.has(id))).toEqual([]);
      expect(left.committedMicroUsd).toBeGreaterThan(left.spentMicroUsd); // holds of the requests it died in
      expect(settled).toEqual({ spentMicroUsd: left.spentMicroUsd, committedMicroUsd: left.spentMicroUsd });
    },
    CLI_TIMEOUT_MS,
  );
});
