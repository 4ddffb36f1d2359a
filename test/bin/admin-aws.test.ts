// The admin CLI end to end on a "deployed stack" in a moto server: CloudFormation outputs, DynamoDB tables,
// the pepper in Secrets Manager, and tenants' API keys in API Gateway usage plans.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  APIGatewayClient,
  CreateRestApiCommand,
  CreateUsagePlanCommand,
  GetApiKeyCommand,
  GetApiKeysCommand,
  GetUsagePlanKeysCommand,
} from '@aws-sdk/client-api-gateway';
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  createGatewayTables,
  DynamoBudgetStore,
  DynamoKeyStore,
  type DynamoTables,
  DynamoUsageLedger,
} from '../../lambda/adapters/dynamodb/index.ts';
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import { hashKey } from '../../lambda/core/keys.ts';
import { costOf, priceFor } from '../../lambda/core/pricing.ts';
import type { TokenUsage, UsageRecord } from '../../lambda/ports.ts';
import { StackOutput } from '../../lib/stack-outputs.ts';
import { ADMIN_TEST_CONFIG, CLI_TIMEOUT_MS, KEY_FORMAT, runCli } from '../fixtures/admin-cli.ts';
import { dynamoClientFor, type MotoServer, startMotoServer } from '../fixtures/moto-server.ts';
import { aRecord, unstoredRecordLines } from '../fixtures/usage-records.ts';

const REGION = 'us-east-1';
const STACK = 'LlmGateway-test';

/** The shared test config, plus a tier that has no usage plan in the stack. */
const CONFIG = { ...ADMIN_TEST_CONFIG, tiers: { ...ADMIN_TEST_CONFIG.tiers, enterprise: {} } };

/**
 * What the proxy does with a request: pass it on, refuse it with an AWS error, or pass it on and then answer
 * an AWS error instead of moto's answer (a write that landed but reported a failure).
 */
type Fault = 'pass' | 'refuse' | 'lose-answer';

/**
 * A pass-through proxy to moto that fails the requests `fault` picks, so a test can make one step fail after
 * the steps before it have really happened. `failing` returning true means 'refuse'.
 */
const startFaultProxy = async (
  target: string,
  failing: (request: IncomingMessage) => boolean | Fault,
): Promise<{ endpoint: string; close(): Promise<void> }> => {
  const upstream = new URL(target);
  const server: Server = createServer((incoming, outgoing) => {
    const picked = failing(incoming);
    const fault: Fault = picked === true ? 'refuse' : picked === false ? 'pass' : picked;
    const answerError = () => {
      outgoing.writeHead(fault === 'refuse' ? 400 : 500, {
        'content-type': 'application/x-amz-json-1.0',
        'x-amzn-errortype': fault === 'refuse' ? 'AccessDeniedException' : 'InternalServerError',
      });
      outgoing.end(
        JSON.stringify(
          fault === 'refuse'
            ? { __type: 'AccessDeniedException', message: 'Injected failure: access denied' }
            : { __type: 'InternalServerError', message: 'Injected failure: the answer was lost' },
        ),
      );
    };
    if (fault === 'refuse') {
      incoming.resume();
      answerError();
      return;
    }
    const forwarded = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
      },
      (response) => {
        if (fault === 'lose-answer') {
          response.resume();
          response.on('end', answerError);
          return;
        }
        outgoing.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(outgoing);
      },
    );
    forwarded.on('error', () => outgoing.destroy());
    incoming.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
};

let moto: MotoServer;
let dir: string;
let dynamo: DynamoDBClient;
let apiGateway: APIGatewayClient;
let pepper: string;
let usagePlans: Record<string, string>;
const tables: DynamoTables = { keys: 'gw-keys', usage: 'gw-usage', budgets: 'gw-budgets' };

const awsEnv = (endpoint: string) => ({
  AWS_ENDPOINT_URL: endpoint,
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
});
const cli = (...args: string[]) =>
  runCli(
    ['--stack', STACK, '--region', REGION, '--config', join(dir, 'config.json'), ...args],
    awsEnv(moto.endpoint),
  );

const apiKeyNames = async (): Promise<string[]> =>
  ((await apiGateway.send(new GetApiKeysCommand({}))).items ?? []).map((key) => key.name ?? '').sort();

const createStack = async (name: string, outputs: Record<string, string>) => {
  const cfn = new CloudFormationClient(clientConfig());
  await cfn.send(
    new CreateStackCommand({
      StackName: name,
      TemplateBody: JSON.stringify({
        Resources: { Placeholder: { Type: 'AWS::SNS::Topic' } },
        Outputs: Object.fromEntries(Object.entries(outputs).map(([key, value]) => [key, { Value: value }])),
      }),
    }),
  );
  cfn.destroy();
};
const clientConfig = () => ({
  region: REGION,
  endpoint: moto.endpoint,
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
});

let stackOutputs: Record<string, string>;

beforeAll(async () => {
  moto = await startMotoServer();
  dir = mkdtempSync(join(tmpdir(), 'admin-aws-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(CONFIG));
  dynamo = dynamoClientFor(moto.endpoint);
  await createGatewayTables(dynamo, tables);

  pepper = randomBytes(32).toString('base64url');
  const secrets = new SecretsManagerClient(clientConfig());
  const { ARN: pepperArn } = await secrets.send(
    new CreateSecretCommand({ Name: 'gateway-key-pepper', SecretString: pepper }),
  );
  secrets.destroy();

  apiGateway = new APIGatewayClient(clientConfig());
  const { id: restApiId } = await apiGateway.send(new CreateRestApiCommand({ name: 'llm-gateway' }));
  usagePlans = {};
  for (const tier of ['default', 'pro']) {
    const { id } = await apiGateway.send(new CreateUsagePlanCommand({ name: `llm-gateway-${tier}` }));
    usagePlans[tier] = id ?? '';
  }

  stackOutputs = {
    [StackOutput.KeysTableName]: tables.keys,
    [StackOutput.UsageTableName]: tables.usage,
    [StackOutput.BudgetsTableName]: tables.budgets,
    [StackOutput.KeyPepperSecretArn]: pepperArn ?? '',
    [StackOutput.UsagePlanIds]: JSON.stringify(usagePlans),
    [StackOutput.RestApiId]: restApiId ?? '',
  };
  await createStack(STACK, stackOutputs);
}, 120_000);

afterAll(async () => {
  dynamo?.destroy();
  apiGateway?.destroy();
  await moto?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('gateway-admin --stack', () => {
  let keyId: string;
  let firstKey: string;

  it(
    'creates a tenant with an API key in the usage plan of its tier',
    async () => {
      // Act
      const created = await cli('tenants', 'create', 'acme', '--tier', 'pro', '--budget-usd', '2000.5');

      // Assess
      expect(created.stderr).toBe('');
      expect(created.code).toBe(0);
      const apiKeyId = /^API Gateway API key: (\S+)$/m.exec(created.stdout)?.[1] ?? '';
      expect(created.stdout).toBe(
        `Created tenant acme (tier pro, budget $2000.50/month).\nAPI Gateway API key: ${apiKeyId}\n`,
      );
      const planKeys = await apiGateway.send(new GetUsagePlanKeysCommand({ usagePlanId: usagePlans.pro }));
      expect(planKeys.items?.map((key) => [key.id, key.type, key.name])).toEqual([
        [apiKeyId, 'API_KEY', 'llm-gateway-acme'],
      ]);
      const otherPlan = await apiGateway.send(
        new GetUsagePlanKeysCommand({ usagePlanId: usagePlans.default }),
      );
      expect(otherPlan.items ?? []).toEqual([]);
      const apiKey = await apiGateway.send(new GetApiKeyCommand({ apiKey: apiKeyId, includeValue: true }));
      expect(apiKey.enabled).toBe(true);
      const tenant = await new DynamoKeyStore(dynamo, tables).getTenant('acme');
      expect(tenant).toMatchObject({
        tenantId: 'acme',
        tier: 'pro',
        status: 'active',
        monthlyBudgetMicroUsd: 2_000_500_000,
        usagePlanKeyId: apiKeyId,
        usagePlanKeyValue: apiKey.value,
      });
    },
    CLI_TIMEOUT_MS,
  );

  it(
    'shows and lists the tenant, without the API key value',
    async () => {
      // Act
      const shown = await cli('tenants', 'show', 'acme', '--json');
      const listed = await cli('tenants', 'list');

      // Assess
      const parsed = JSON.parse(shown.stdout);
      expect(parsed.tenant).toMatchObject({ tenantId: 'acme', usagePlanKeyId: expect.any(String) });
      expect(parsed.tenant.usagePlanKeyValue).toBeUndefined();
      expect(parsed.budget).toMatchObject({ limitMicroUsd: 2_000_500_000, state: { spentMicroUsd: 0 } });
      expect(listed.stdout).toMatch(/\nacme\s+acme\s+pro\s+active\s+\$2000\.50\s/);
    },
    CLI_TIMEOUT_MS,
  );

  it(
    'creates a key, stored as its HMAC with the pepper from Secrets Manager',
    async () => {
      // Act
      const created = await cli('keys', 'create', '--tenant', 'acme', '--name', 'ci', '--models', 'gpt-4o');

      // Assess
      expect(created.code).toBe(0);
      firstKey = /^ {2}(sk-gw-\S+)$/m.exec(created.stdout)?.[1] ?? '';
      keyId = firstKey.slice(6, 22);
      expect(firstKey).toMatch(KEY_FORMAT);
      expect(created.stdout).toContain('This key will not be shown again: store it now.');
      const stored = await new DynamoKeyStore(dynamo, tables).getKey(keyId);
      expect(stored).toMatchObject({
        keyId,
        tenantId: 'acme',
        name: 'ci',
        status: 'active',
        models: ['gpt-4o'],
        secretHash: hashKey(pepper, firstKey),
      });
    },
    CLI_TIMEOUT_MS,
  );

  it(
    'lists, rotates and revokes the key',
    async () => {
      // Act
      const listed = await cli('keys', 'list', '--tenant', 'acme');
      const rotated = await cli('keys', 'rotate', keyId, '--grace-hours', '1');
      const afterRotation = await new DynamoKeyStore(dynamo, tables).getKey(keyId);
      const revoked = await cli('keys', 'revoke', keyId);
      const afterRevocation = await new DynamoKeyStore(dynamo, tables).getKey(keyId);

      // Assess
      expect(listed.stdout).toContain(`${keyId}  ${firstKey.slice(0, 14)}…  ci    active`);
      expect(listed.stdout).not.toContain(firstKey);
      expect(rotated.code).toBe(0);
      const newKey = /^ {2}(sk-gw-\S+)$/m.exec(rotated.stdout)?.[1] ?? '';
      expect(newKey.slice(0, 22)).toBe(firstKey.slice(0, 22));
      expect(afterRotation).toMatchObject({
        secretHash: hashKey(pepper, newKey),
        previousSecretHash: hashKey(pepper, firstKey),
      });
      expect(revoked.code).toBe(0);
      expect(afterRevocation?.status).toBe('revoked');
    },
    CLI_TIMEOUT_MS,
  );

  describe('usage and invoice of records the gateway wrote to DynamoDB', () => {
    const prices = parseGatewayConfig(CONFIG).prices;
    const record = (requestId: string, model: string, usage: TokenUsage): UsageRecord =>
      aRecord({
        requestId,
        keyId,
        endpoint: 'chat.completions',
        model,
        targetId: 'mock',
        usage,
        exact: requestId !== 'r2',
        costMicroUsd: costOf(usage, priceFor(model, prices)),
        month: '2025-05',
        startedAt: Date.UTC(2025, 4, 10),
        latencyMs: 100,
        ttfbMs: 10,
      });

    /**
     * Worked by hand (per 1M tokens: gpt-4o $2.50 in, $1.25 cached in, $10 out; gpt-4o-mini $0.15 in, $0.60 out):
     *   r1 gpt-4o       60M × 2.50 + 40M cached × 1.25 + 50M × 10      = $700.000000
     *   r2 gpt-4o       20M × 2.50 + 30M × 10                          = $350.000000  (estimated)
     *   r3 gpt-4o-mini  1,234,567 × 0.15 + 307M × 0.60 = 184.38518505  → $184.385186  (rounded up)
     *   list subtotal                                                    $1234.385186
     *   band $500–$1000, 10% off $500.000000                              -$50.000000
     *   band above $1000, 20% off $234.385186 = 46.8770372                -$46.877037  (rounded down)
     *   usage after discounts                                            $1137.508149
     *   commitment $1000 → overage $137.508149, unused $0, total         $1137.508149
     * and, at no cost: r4 refused (a 429 of the budget), r5 timed out before any answer.
     */
    beforeAll(async () => {
      const ledger = new DynamoUsageLedger(dynamo, tables);
      await ledger.record(
        record('r1', 'gpt-4o', {
          inputTokens: 100e6,
          cachedInputTokens: 40e6,
          outputTokens: 50e6,
          reasoningTokens: 0,
        }),
      );
      await ledger.record(
        record('r2', 'gpt-4o', {
          inputTokens: 20e6,
          cachedInputTokens: 0,
          outputTokens: 30e6,
          reasoningTokens: 0,
        }),
      );
      await ledger.record(
        record('r3', 'gpt-4o-mini', {
          inputTokens: 1_234_567,
          cachedInputTokens: 0,
          outputTokens: 307e6,
          reasoningTokens: 7e6,
        }),
      );
      const noTokens = { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, reasoningTokens: 0 };
      await ledger.record({ ...record('r4', 'gpt-4o', noTokens), status: 429, outcome: 'rejected' });
      await ledger.record({ ...record('r5', 'gpt-4o-mini', noTokens), status: 504, outcome: 'timeout' });
    });

    it(
      'shows the month by model',
      async () => {
        // Act
        const usage = await cli('usage', '--tenant', 'acme', '--month', '2025-05');

        // Assess
        expect(usage.code).toBe(0);
        expect(usage.stdout).toContain(
          [
            'MODEL        REQUESTS  REFUSED  FAILED  ABORTED      INPUT    CACHED     OUTPUT  REASONING          COST  ESTIMATED',
            'gpt-4o              3        1       0        0  120000000  40000000   80000000          0      $1050.00          1',
            'gpt-4o-mini         2        0       1        0    1234567         0  307000000    7000000   $184.385186          0',
            'TOTAL               5        1       1        0  121234567  40000000  387000000    7000000  $1234.385186          1',
          ].join('\n'),
        );
        expect(usage.stdout).toContain('Budget 2025-05: $1234.385186 spent of $2000.50 limit');
      },
      CLI_TIMEOUT_MS,
    );

    it(
      'bills the month as worked out by hand, to the micro-dollar',
      async () => {
        // Act
        const invoice = await cli('invoice', '--tenant', 'acme', '--month', '2025-05', '--json');

        // Assess
        expect(invoice.code).toBe(0);
        expect(JSON.parse(invoice.stdout)).toMatchObject({
          lines: [
            {
              model: 'gpt-4o',
              usage: { requests: 3, refusedRequests: 1, failedRequests: 0, abortedRequests: 0 },
            },
            {
              model: 'gpt-4o-mini',
              usage: { requests: 2, refusedRequests: 0, failedRequests: 1, abortedRequests: 0 },
            },
          ],
          listMicroUsd: 1_234_385_186,
          bands: [
            { amountMicroUsd: 500_000_000, discountMicroUsd: 50_000_000 },
            { amountMicroUsd: 234_385_186, discountMicroUsd: 46_877_037 },
          ],
          discountMicroUsd: 96_877_037,
          usageMicroUsd: 1_137_508_149,
          commitmentMicroUsd: 1_000_000_000,
          overageMicroUsd: 137_508_149,
          unusedCommitmentMicroUsd: 0,
          totalMicroUsd: 1_137_508_149,
        });
      },
      CLI_TIMEOUT_MS,
    );
  });

  describe('usage replay of records the gateway could not store', () => {
    const month = '2025-07';
    const replayed = (requestId: string, costMicroUsd: number) =>
      aRecord({
        requestId,
        keyId,
        month,
        startedAt: Date.UTC(2025, 6, 3),
        costMicroUsd,
        reservedMicroUsd: 0,
      });
    let logFile: string;

    beforeAll(async () => {
      // r-held's request placed its hold, then DynamoDB refused its record: the hold is still committed.
      await new DynamoBudgetStore(dynamo, tables).reserve({
        tenantId: 'acme',
        month,
        requestId: 'r-held',
        amountMicroUsd: 40_000,
        limitMicroUsd: 5_000_000_000,
      });
      const lines = await unstoredRecordLines([replayed('r-held', 12_000), replayed('r-plain', 3_000)]);
      logFile = join(dir, 'gateway.log');
      writeFileSync(
        logFile,
        ['{"level":"INFO","message":"request","timestamp":"2025-07-03T00:00:00.000Z"}', ...lines].join('\n'),
      );
    });

    it(
      "writes the logged records into the stack's ledger once, however often it runs, and releases the hold",
      async () => {
        // Act
        const first = await cli('usage', 'replay', '--file', logFile);
        const second = await cli('usage', 'replay', '--file', logFile);

        // Assess
        expect(first).toEqual({
          code: 0,
          stdout: `Replayed 2 usage record(s) from ${logFile}: 2 recorded, 0 already stored (1 other line(s) skipped).\n`,
          stderr: '',
        });
        expect(second.stdout).toBe(
          `Replayed 2 usage record(s) from ${logFile}: 0 recorded, 2 already stored (1 other line(s) skipped).\n`,
        );
        const usage = await new DynamoUsageLedger(dynamo, tables).monthlyUsage('acme', month);
        expect(usage.total).toMatchObject({ requests: 2, costMicroUsd: 15_000 });
        expect(await new DynamoBudgetStore(dynamo, tables).budget('acme', month)).toEqual({
          spentMicroUsd: 15_000,
          committedMicroUsd: 15_000,
        });
      },
      CLI_TIMEOUT_MS,
    );
  });

  describe('when a step fails', () => {
    it(
      'deletes the API key again when the tenant cannot be stored, and exits 1',
      async () => {
        // Prepare: DynamoDB refuses every PutItem; everything else reaches moto.
        const proxy = await startFaultProxy(
          moto.endpoint,
          (incoming) => incoming.headers['x-amz-target'] === 'DynamoDB_20120810.PutItem',
        );

        // Act
        const result = await runCli(
          [
            '--stack',
            STACK,
            '--region',
            REGION,
            '--config',
            join(dir, 'config.json'),
            'tenants',
            'create',
            'beta',
            '--tier',
            'pro',
          ],
          awsEnv(proxy.endpoint),
        );
        await proxy.close();

        // Assess
        expect(result).toEqual({
          code: 1,
          stdout: '',
          stderr: 'gateway-admin: AccessDeniedException: Injected failure: access denied\n',
        });
        expect(await apiKeyNames()).toEqual(['llm-gateway-acme']);
        expect(await new DynamoKeyStore(dynamo, tables).getTenant('beta')).toBeUndefined();
      },
      CLI_TIMEOUT_MS,
    );

    it(
      'deletes the API key again when it cannot be attached to the usage plan',
      async () => {
        // Prepare: API Gateway refuses to add keys to usage plans.
        const proxy = await startFaultProxy(
          moto.endpoint,
          (incoming) => incoming.method === 'POST' && /^\/usageplans\/[^/]+\/keys$/.test(incoming.url ?? ''),
        );

        // Act
        const result = await runCli(
          [
            '--stack',
            STACK,
            '--region',
            REGION,
            '--config',
            join(dir, 'config.json'),
            'tenants',
            'create',
            'gamma',
            '--tier',
            'pro',
          ],
          awsEnv(proxy.endpoint),
        );
        await proxy.close();

        // Assess
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(
          new RegExp(
            `^gateway-admin: Could not attach the API key of tenant 'gamma' to the usage plan ${usagePlans.pro}: `,
          ),
        );
        expect(await apiKeyNames()).toEqual(['llm-gateway-acme']);
        expect(await new DynamoKeyStore(dynamo, tables).getTenant('gamma')).toBeUndefined();
      },
      CLI_TIMEOUT_MS,
    );

    it.each([
      [
        'a tier without a usage plan',
        ['tenants', 'create', 'delta', '--tier', 'enterprise'],
        "The tier 'enterprise' has no usage plan in the stack (usage plans: default, pro).",
      ],
      ['an existing tenant', ['tenants', 'create', 'acme', '--tier', 'pro'], "Tenant 'acme' already exists."],
    ])(
      'creates no API key for %s',
      async (_name, args, message) => {
        // Act
        const result = await cli(...args);

        // Assess
        expect(result).toEqual({ code: 1, stdout: '', stderr: `gateway-admin: ${message}\n` });
        expect(await apiKeyNames()).toEqual(['llm-gateway-acme']);
      },
      CLI_TIMEOUT_MS,
    );

    const createThrough = async (endpoint: string, tenantId: string) =>
      runCli(
        [
          '--stack',
          STACK,
          '--region',
          REGION,
          '--config',
          join(dir, 'config.json'),
          'tenants',
          'create',
          tenantId,
          '--tier',
          'pro',
        ],
        awsEnv(endpoint),
      );

    it(
      'keeps the API key when the tenant write landed although it reported an error, and succeeds',
      async () => {
        // Prepare: every PutItem reaches moto, but its answer is replaced by a 500 (the SDK's retries then find
        // the item there and are refused as "already exists"; their answers are lost too).
        const proxy = await startFaultProxy(moto.endpoint, (incoming) =>
          incoming.headers['x-amz-target'] === 'DynamoDB_20120810.PutItem' ? 'lose-answer' : 'pass',
        );

        // Act
        const result = await createThrough(proxy.endpoint, 'zeta');
        await proxy.close();

        // Assess
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        const tenant = await new DynamoKeyStore(dynamo, tables).getTenant('zeta');
        expect(result.stdout).toBe(
          `Created tenant zeta (tier pro).\nAPI Gateway API key: ${tenant?.usagePlanKeyId}\n`,
        );
        const planKeys = await apiGateway.send(new GetUsagePlanKeysCommand({ usagePlanId: usagePlans.pro }));
        expect(planKeys.items?.map((key) => key.id)).toContain(tenant?.usagePlanKeyId);
      },
      CLI_TIMEOUT_MS,
    );

    it(
      'keeps the API key and says what to check when the tenant cannot be read back after a failed write',
      async () => {
        // Prepare: the PutItem lands but its answer is lost; every GetItem after it is refused.
        let written = false;
        const proxy = await startFaultProxy(moto.endpoint, (incoming) => {
          const target = incoming.headers['x-amz-target'];
          if (target === 'DynamoDB_20120810.PutItem') {
            written = true;
            return 'lose-answer';
          }
          return target === 'DynamoDB_20120810.GetItem' && written ? 'refuse' : 'pass';
        });

        // Act
        const result = await createThrough(proxy.endpoint, 'eta');
        await proxy.close();

        // Assess
        const tenant = await new DynamoKeyStore(dynamo, tables).getTenant('eta');
        const apiKeyId = tenant?.usagePlanKeyId ?? '';
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(/^gateway-admin: Creating tenant 'eta' failed \(InternalServerError: /);
        expect(result.stderr).toContain(
          `and reading it back failed too (AccessDeniedException: Injected failure: access denied), so its API key ${apiKeyId} was kept: if 'tenants show eta' finds no tenant, delete that API key by hand.\n`,
        );
        const { items = [] } = await apiGateway.send(new GetApiKeysCommand({}));
        expect(items.map((key) => key.id)).toContain(apiKeyId);
      },
      CLI_TIMEOUT_MS,
    );

    it(
      'names the stack when it does not exist, and the output it lacks',
      async () => {
        // Prepare
        const { [StackOutput.KeyPepperSecretArn]: _left, ...partial } = stackOutputs;
        await createStack('LlmGateway-partial', partial);

        // Act
        const missing = await runCli(
          ['--stack', 'LlmGateway-nope', '--region', REGION, 'tenants', 'list'],
          awsEnv(moto.endpoint),
        );
        const incomplete = await runCli(
          ['--stack', 'LlmGateway-partial', '--region', REGION, 'tenants', 'list'],
          awsEnv(moto.endpoint),
        );

        // Assess
        expect(missing.code).toBe(1);
        expect(missing.stderr).toBe(
          "gateway-admin: Could not read the stack 'LlmGateway-nope': Stack with id LlmGateway-nope does not exist\n",
        );
        expect(incomplete).toEqual({
          code: 1,
          stdout: '',
          stderr:
            "gateway-admin: The stack 'LlmGateway-partial' has no output 'KeyPepperSecretArn': is it a gateway stack, deployed with this version?\n",
        });
      },
      CLI_TIMEOUT_MS,
    );
  });
});
