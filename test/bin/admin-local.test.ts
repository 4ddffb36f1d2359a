// The admin CLI end to end in local mode: the real `gateway-admin` process on a temporary state directory.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalStore } from '../../lambda/adapters/sqlite/local-store.ts';
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import { hashKey } from '../../lambda/core/keys.ts';
import { billingMonthOf, costOf, EMPTY_ROLLUP, priceFor } from '../../lambda/core/pricing.ts';
import { RequestOutcome, type TokenUsage, type UsageRecord } from '../../lambda/ports.ts';
import { CLI_TIMEOUT_MS, ADMIN_TEST_CONFIG as CONFIG, KEY_FORMAT, runCli } from '../fixtures/admin-cli.ts';
import { aRecord, unstoredRecordLines } from '../fixtures/usage-records.ts';

let dir: string;
let stateDir: string;
const cli = (...args: string[]) =>
  runCli(['--state-dir', stateDir, '--config', join(dir, 'config.json'), ...args]);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'admin-local-'));
  stateDir = join(dir, 'state');
  writeFileSync(join(dir, 'config.json'), JSON.stringify(CONFIG));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Every byte the local store wrote: its database file and its write-ahead log. */
const stateText = () =>
  ['gateway.db', 'gateway.db-wal']
    .map((file) => {
      try {
        return readFileSync(join(stateDir, file), 'latin1');
      } catch {
        return '';
      }
    })
    .join('');
const pepper = () => readFileSync(join(stateDir, 'pepper'), 'utf8');
const printedKey = (stdout: string): string => {
  const key = /^ {2}(sk-gw-\S+)$/m.exec(stdout)?.[1];
  if (key === undefined) throw new Error(`no key in the output:\n${stdout}`);
  return key;
};
const hmac = (key: string) => hashKey(pepper(), key);

describe('gateway-admin, local mode', () => {
  let keyId: string;
  let firstKey: string;

  it('prints its usage with --help, and fails with exit 2 without a command', async () => {
    // Act
    const help = await cli('--help');
    const none = await cli();

    // Assess
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: gateway-admin \[--stack <name> \[--region <r>\]\]/);
    expect(help.stdout).toContain(
      '  usage --tenant <id> [--month YYYY-MM]        (default: the current month, UTC)\n',
    );
    expect(help.stdout).toContain(
      '  invoice --tenant <id> [--month YYYY-MM]      (default: the current month, UTC)\n',
    );
    expect(none).toEqual({
      code: 2,
      stdout: '',
      stderr: "gateway-admin: No command given.\nRun 'gateway-admin --help' for usage.\n",
    });
  });

  it(
    'creates a tenant and lists it',
    async () => {
      // Act
      const created = await cli(
        'tenants',
        'create',
        'acme',
        '--tier',
        'pro',
        '--name',
        'Acme Inc',
        '--budget-usd',
        '2000.5',
      );
      const listed = await cli('tenants', 'list');
      const json = await cli('--json', 'tenants', 'list');

      // Assess
      expect(created).toEqual({
        code: 0,
        stdout: 'Created tenant acme (tier pro, budget $2000.50/month).\n',
        stderr: '',
      });
      expect(listed.stdout).toMatch(
        /^TENANT\s+NAME\s+TIER\s+STATUS\s+BUDGET\s+CREATED\nacme\s+Acme Inc\s+pro\s+active\s+\$2000\.50\s+\d{4}-/,
      );
      expect(JSON.parse(json.stdout)).toEqual([
        expect.objectContaining({
          tenantId: 'acme',
          name: 'Acme Inc',
          tier: 'pro',
          monthlyBudgetMicroUsd: 2_000_500_000,
        }),
      ]);
    },
    CLI_TIMEOUT_MS,
  );

  it(
    'creates a key, shows it once, and stores only its hash',
    async () => {
      // Act
      const created = await cli(
        'keys',
        'create',
        '--tenant',
        'acme',
        '--name',
        'ci',
        '--models',
        'gpt-4o,gpt-4o-mini',
        '--cidrs',
        '10.0.0.0/8,2001:db8::/32',
        '--expires',
        '2099-01-31',
      );

      // Assess
      expect(created.code).toBe(0);
      firstKey = printedKey(created.stdout);
      keyId = firstKey.slice(6, 22);
      expect(firstKey).toMatch(KEY_FORMAT);
      expect(created.stdout).toBe(
        `Created key ${keyId} for tenant acme:\n\n  ${firstKey}\n\nThis key will not be shown again: store it now.\n`,
      );
      expect(stateText()).toContain(hmac(firstKey));
      expect(stateText()).not.toContain(firstKey.slice(23));
    },
    CLI_TIMEOUT_MS,
  );

  it(
    'lists keys by their display prefix, never the key nor its hash',
    async () => {
      // Act
      const listed = await cli('keys', 'list', '--tenant', 'acme');
      const json = await cli('keys', 'list', '--tenant', 'acme', '--json');

      // Assess
      expect(listed.code).toBe(0);
      expect(listed.stdout).toContain(`${keyId}  ${firstKey.slice(0, 14)}…  ci`);
      expect(listed.stdout).toContain('2099-01-31T00:00:00Z  gpt-4o,gpt-4o-mini  10.0.0.0/8,2001:db8::/32');
      expect(listed.stdout).not.toContain(firstKey);
      expect(JSON.parse(json.stdout)).toEqual([
        {
          keyId,
          tenantId: 'acme',
          displayPrefix: `${firstKey.slice(0, 14)}…`,
          name: 'ci',
          status: 'active',
          expiresAt: Date.UTC(2099, 0, 31),
          models: ['gpt-4o', 'gpt-4o-mini'],
          cidrs: ['10.0.0.0/8', '2001:db8::/32'],
          createdAt: expect.any(Number),
        },
      ]);
    },
    CLI_TIMEOUT_MS,
  );

  it(
    'rotates a key: a new secret for the same id, the old one valid for the grace period',
    async () => {
      // Prepare
      const before = Date.now();

      // Act
      const rotated = await cli('keys', 'rotate', keyId, '--grace-hours', '2');

      // Assess
      expect(rotated.code).toBe(0);
      const newKey = printedKey(rotated.stdout);
      expect(newKey).toMatch(KEY_FORMAT);
      expect(newKey.slice(6, 22)).toBe(keyId);
      expect(newKey).not.toBe(firstKey);
      expect(rotated.stdout).toContain(
        'This key will not be shown again: store it now.\nThe previous key stays valid until ',
      );
      const store = openLocalStore(stateDir);
      const stored = (await store.keys.getKey(keyId))!;
      store.close();
      expect(stored.secretHash).toBe(hmac(newKey));
      expect(stored.previousSecretHash).toBe(hmac(firstKey));
      expect(stored.previousValidUntil! - before).toBeGreaterThanOrEqual(2 * 3_600_000);
      expect(stored.previousValidUntil! - Date.now()).toBeLessThanOrEqual(2 * 3_600_000);
    },
    CLI_TIMEOUT_MS,
  );

  it(
    'revokes a key, after which it cannot be rotated',
    async () => {
      // Act
      const revoked = await cli('keys', 'revoke', keyId);
      const rotateRevoked = await cli('keys', 'rotate', keyId);
      const json = await cli('--json', 'keys', 'list', '--tenant', 'acme');

      // Assess
      expect(revoked.code).toBe(0);
      expect(revoked.stdout).toMatch(new RegExp(`^Revoked key ${keyId} \\(sk-gw-[a-z0-9]{8}…\\) at \\d{4}-`));
      expect(rotateRevoked).toEqual({
        code: 1,
        stdout: '',
        stderr: `gateway-admin: Key '${keyId}' is revoked: create a new key instead.\n`,
      });
      expect(JSON.parse(json.stdout)[0]).toMatchObject({
        keyId,
        status: 'revoked',
        revokedAt: expect.any(Number),
      });
    },
    CLI_TIMEOUT_MS,
  );

  const USAGE_HINT = "\nRun 'gateway-admin --help' for usage.\n";
  it.each([
    ['an unknown command', ['frobnicate'], 2, `Unknown command 'frobnicate'.${USAGE_HINT}`],
    [
      'a command group alone',
      ['keys'],
      2,
      `'keys' needs a subcommand: create, list, rotate, revoke.${USAGE_HINT}`,
    ],
    ['an unknown option', ['tenants', 'list', '--verbose'], 2, `Unknown option '--verbose'.${USAGE_HINT}`],
    [
      "another command's option",
      ['keys', 'list', '--tenant', 'acme', '--tier', 'pro'],
      2,
      `Unknown option '--tier'. Options of 'keys list': --tenant.${USAGE_HINT}`,
    ],
    [
      'a missing --tenant',
      ['keys', 'list'],
      2,
      `Missing --tenant: gateway-admin keys list --tenant <id>${USAGE_HINT}`,
    ],
    [
      'an option without its value',
      ['keys', 'list', '--tenant'],
      2,
      `Option '--tenant <value>' argument missing${USAGE_HINT}`,
    ],
    [
      'a missing tenant id',
      ['tenants', 'create', '--tier', 'pro'],
      2,
      `Missing <id>: gateway-admin tenants create <id> --tier <t> [--name N] [--budget-usd X]${USAGE_HINT}`,
    ],
    [
      'a bad month',
      ['invoice', '--tenant', 'acme', '--month', '2025-13'],
      2,
      `--month must be YYYY-MM, got: 2025-13${USAGE_HINT}`,
    ],
    [
      'a bad expiry date',
      ['keys', 'create', '--tenant', 'acme', '--expires', 'tomorrow'],
      2,
      `--expires must be an ISO date such as 2026-01-31 or 2026-01-31T12:00:00Z, got: tomorrow${USAGE_HINT}`,
    ],
    [
      'an unknown tier',
      ['tenants', 'create', 'beta', '--tier', 'gold'],
      1,
      "Unknown tier 'gold'. Tiers in the config: default, pro.\n",
    ],
    [
      'a bad tenant id',
      ['tenants', 'create', 'Beta!', '--tier', 'pro'],
      1,
      'The tenant id must be 1 to 63 lowercase letters, digits and "-", starting with a letter or digit, got: Beta!\n',
    ],
    [
      'a budget finer than the micro-dollar',
      ['tenants', 'create', 'beta', '--tier', 'pro', '--budget-usd', '1.0000001'],
      1,
      'The budget must be a non-negative amount in USD with at most 6 decimals, got: 1.0000001\n',
    ],
    [
      'an existing tenant',
      ['tenants', 'create', 'acme', '--tier', 'pro'],
      1,
      "Tenant 'acme' already exists.\n",
    ],
    ['an unknown tenant', ['keys', 'create', '--tenant', 'nobody'], 1, "Unknown tenant 'nobody'.\n"],
    [
      'a bad CIDR',
      ['keys', 'create', '--tenant', 'acme', '--cidrs', '10.0.0.0/33'],
      1,
      "'10.0.0.0/33' is not a CIDR block: write it like 10.0.0.0/8, 203.0.113.7 or 2001:db8::/32.\n",
    ],
    [
      'an expiry in the past',
      ['keys', 'create', '--tenant', 'acme', '--expires', '2001-01-01'],
      1,
      'The expiry must be in the future, got: 2001-01-01T00:00:00.000Z\n',
    ],
    ['an unknown key', ['keys', 'revoke', 'nosuchkey0000000'], 1, "Unknown key 'nosuchkey0000000'.\n"],
  ])(
    'refuses %s with a clear message',
    async (_name, args, code, message) => {
      // Act
      const result = await cli(...args);

      // Assess
      expect(result).toEqual({ code, stdout: '', stderr: `gateway-admin: ${message}` });
    },
    CLI_TIMEOUT_MS,
  );

  it(
    'left nothing behind from the refused commands',
    async () => {
      // Act
      const tenants = JSON.parse((await cli('--json', 'tenants', 'list')).stdout);
      const keys = JSON.parse((await cli('--json', 'keys', 'list', '--tenant', 'acme')).stdout);

      // Assess
      expect(tenants.map((t: { tenantId: string }) => t.tenantId)).toEqual(['acme']);
      expect(keys).toHaveLength(1);
    },
    CLI_TIMEOUT_MS,
  );

  describe('usage and invoice of records written by the gateway', () => {
    const prices = parseGatewayConfig(CONFIG).prices;
    const record = (
      requestId: string,
      model: string,
      usage: TokenUsage,
      month = '2025-05',
      overrides: Partial<UsageRecord> = {},
    ): UsageRecord =>
      aRecord({
        requestId,
        keyId,
        endpoint: 'chat.completions',
        model,
        targetId: 'mock',
        usage,
        exact: requestId !== 'r2',
        costMicroUsd: costOf(usage, priceFor(model, prices)),
        month: month,
        startedAt: Date.UTC(2025, Number(month.slice(5)) - 1, 10),
        latencyMs: 100,
        ttfbMs: 10,
        ...overrides,
      });
    const NO_TOKENS: TokenUsage = {
      inputTokens: 0,
      cachedInputTokens: 0,
      outputTokens: 0,
      reasoningTokens: 0,
    };
    /**
     * Worked by hand (prices per 1M tokens: gpt-4o $2.50 in, $1.25 cached in, $10 out; gpt-4o-mini $0.15 in, $0.60 out):
     *   r1 gpt-4o       60M × 2.50 + 40M cached × 1.25 + 50M × 10      = $700.000000
     *   r2 gpt-4o       20M × 2.50 + 30M × 10                          = $350.000000  (estimated)
     *   r3 gpt-4o-mini  1,234,567 × 0.15 + 307M × 0.60 = 184.38518505  → $184.385186  (rounded up)
     *   list subtotal                                                    $1234.385186
     *   band $500–$1000, 10% off $500.000000                              -$50.000000
     *   band above $1000, 20% off $234.385186 = 46.8770372                -$46.877037  (rounded down)
     *   usage after discounts                                            $1137.508149
     *   commitment $1000 → overage $137.508149, unused $0, total         $1137.508149
     * and, at no cost: r5 refused (a 429 of the budget), r6 failed (a 502), r7 left by its client before any
     * upstream had it.
     */
    const records = [
      record('r1', 'gpt-4o', {
        inputTokens: 100e6,
        cachedInputTokens: 40e6,
        outputTokens: 50e6,
        reasoningTokens: 0,
      }),
      record('r2', 'gpt-4o', {
        inputTokens: 20e6,
        cachedInputTokens: 0,
        outputTokens: 30e6,
        reasoningTokens: 0,
      }),
      record('r3', 'gpt-4o-mini', {
        inputTokens: 1_234_567,
        cachedInputTokens: 0,
        outputTokens: 307e6,
        reasoningTokens: 7e6,
      }),
      record('r5', 'gpt-4o', NO_TOKENS, '2025-05', { status: 429, outcome: RequestOutcome.rejected }),
      record('r6', 'gpt-4o-mini', NO_TOKENS, '2025-05', {
        status: 502,
        outcome: RequestOutcome.upstreamError,
      }),
      record('r7', 'gpt-4o', NO_TOKENS, '2025-05', { status: 499, outcome: RequestOutcome.clientAbort }),
      // Another month: in neither figure below.
      record(
        'r4',
        'gpt-4o',
        { inputTokens: 1e6, cachedInputTokens: 0, outputTokens: 0, reasoningTokens: 0 },
        '2025-04',
      ),
    ];

    beforeAll(async () => {
      const store = openLocalStore(stateDir);
      for (const r of records) await store.ledger.record(r);
    });

    it('priced the records as worked out by hand', () => {
      expect(records.map((r) => r.costMicroUsd)).toEqual([
        700_000_000, 350_000_000, 184_385_186, 0, 0, 0, 2_500_000,
      ]);
    });

    it(
      'shows the month by model, with the budget',
      async () => {
        // Act
        const text = await cli('usage', '--tenant', 'acme', '--month', '2025-05');
        const json = await cli('usage', '--tenant', 'acme', '--month', '2025-05', '--json');

        // Assess
        expect(text.code).toBe(0);
        expect(text.stdout).toBe(
          [
            'Usage of tenant acme in 2025-05',
            '',
            'MODEL        REQUESTS  REFUSED  FAILED  ABORTED      INPUT    CACHED     OUTPUT  REASONING          COST  ESTIMATED',
            'gpt-4o              4        1       0        1  120000000  40000000   80000000          0      $1050.00          1',
            'gpt-4o-mini         2        0       1        0    1234567         0  307000000    7000000   $184.385186          0',
            'TOTAL               6        1       1        1  121234567  40000000  387000000    7000000  $1234.385186          1',
            '',
            'Budget 2025-05: $1234.385186 spent of $2000.50 limit ($0.00 held by requests in flight); resets 2025-06-01T00:00:00Z',
            '',
          ].join('\n'),
        );
        const parsed = JSON.parse(json.stdout);
        expect(parsed.total).toMatchObject({
          requests: 6,
          refusedRequests: 1,
          failedRequests: 1,
          abortedRequests: 1,
          costMicroUsd: 1_234_385_186,
          estimatedRequests: 1,
        });
        expect(parsed.byModel['gpt-4o-mini']).toMatchObject({
          requests: 2,
          refusedRequests: 0,
          failedRequests: 1,
          abortedRequests: 0,
          reasoningTokens: 7e6,
        });
        expect(parsed.budget).toMatchObject({
          month: '2025-05',
          state: { spentMicroUsd: 1_234_385_186, committedMicroUsd: 1_234_385_186 },
          limitMicroUsd: 2_000_500_000,
        });
      },
      CLI_TIMEOUT_MS,
    );

    it(
      'bills the month as worked out by hand, to the micro-dollar',
      async () => {
        // Act
        const text = await cli('invoice', '--tenant', 'acme', '--month', '2025-05');
        const json = await cli('invoice', '--tenant', 'acme', '--month', '2025-05', '--json');

        // Assess
        expect(text.code).toBe(0);
        expect(text.stdout).toBe(
          [
            'Invoice of tenant acme for 2025-05 (tier pro)',
            '',
            'MODEL        REQUESTS  REFUSED  FAILED  ABORTED      INPUT    CACHED     OUTPUT  REASONING          COST  ESTIMATED',
            'gpt-4o              4        1       0        1  120000000  40000000   80000000          0      $1050.00          1',
            'gpt-4o-mini         2        0       1        0    1234567         0  307000000    7000000   $184.385186          0',
            'TOTAL               6        1       1        1  121234567  40000000  387000000    7000000  $1234.385186          1',
            '',
            'List subtotal                                     $1234.385186',
            'Volume band $500.00 to $1000.00: 10% off $500.00       -$50.00',
            'Volume band above $1000.00: 20% off $234.385186    -$46.877037',
            'Usage after discounts                             $1137.508149',
            'Commitment                                            $1000.00',
            'Overage                                            $137.508149',
            'Unused commitment                                        $0.00',
            'Total                                             $1137.508149',
            '',
          ].join('\n'),
        );
        expect(JSON.parse(json.stdout)).toMatchObject({
          tenantId: 'acme',
          month: '2025-05',
          tier: 'pro',
          lines: [
            {
              model: 'gpt-4o',
              usage: { requests: 4, refusedRequests: 1, failedRequests: 0, abortedRequests: 1 },
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

    it(
      'bills the commitment for a month without usage',
      async () => {
        // Act
        const json = await cli('invoice', '--tenant', 'acme', '--month', '2025-06', '--json');

        // Assess
        expect(JSON.parse(json.stdout)).toMatchObject({
          lines: [],
          listMicroUsd: 0,
          totalMicroUsd: 1_000_000_000,
        });
      },
      CLI_TIMEOUT_MS,
    );

    it(
      'prints a stored model name with control characters escaped, so it cannot forge a line of the invoice',
      async () => {
        // Prepare: a row stored before the gateway refused such names (it does now, with a 400).
        const store = openLocalStore(stateDir);
        const forged = 'gpt-4o\u001b[2K\rTOTAL  $0.00\n\u202eevil';
        await store.ledger.record(
          record(
            'r-forged',
            forged,
            { inputTokens: 1, cachedInputTokens: 0, outputTokens: 0, reasoningTokens: 0 },
            '2024-01',
          ),
        );

        // Act
        const text = await cli('invoice', '--tenant', 'acme', '--month', '2024-01');

        // Assess
        expect(text.code).toBe(0);
        expect(text.stdout).toContain('gpt-4o\\u001b[2K\\u000dTOTAL  $0.00\\u000a\\u202eevil');
        expect([...text.stdout].filter((char) => char < ' ' && char !== '\n')).toEqual([]);
        expect(text.stdout).not.toContain('\u202e');
        // One table line per model, and the heading, total and summary lines: no line the name added.
        expect(text.stdout.split('\n').filter((line) => line.startsWith('TOTAL'))).toHaveLength(1);
      },
      CLI_TIMEOUT_MS,
    );

    it(
      'shows and bills the current month (UTC) without --month, as with it',
      async () => {
        // Prepare: a request of this month, refused.
        const before = billingMonthOf(Date.now());
        await openLocalStore(stateDir).ledger.record(
          record('r-now', 'gpt-4o-mini', NO_TOKENS, before, {
            status: 403,
            outcome: RequestOutcome.rejected,
            startedAt: Date.now(),
          }),
        );

        // Act
        const usage = await cli('usage', '--tenant', 'acme');
        const usageJson = await cli('--json', 'usage', '--tenant', 'acme');
        const invoice = await cli('invoice', '--tenant', 'acme');
        const invoiceJson = await cli('--json', 'invoice', '--tenant', 'acme');
        const after = billingMonthOf(Date.now());

        // Assess: the month they chose is the current one (either side of a month's end while the test ran).
        const month: string = JSON.parse(invoiceJson.stdout).month;
        expect([before, after]).toContain(month);
        expect(JSON.parse(usageJson.stdout).month).toBe(month);
        expect(usage.stdout.startsWith(`Usage of tenant acme in ${month}\n`)).toBe(true);
        expect(invoice.stdout.startsWith(`Invoice of tenant acme for ${month} (tier pro)\n`)).toBe(true);
        expect([usage, usageJson, invoice, invoiceJson]).toEqual([
          await cli('usage', '--tenant', 'acme', '--month', month),
          await cli('--json', 'usage', '--tenant', 'acme', '--month', month),
          await cli('invoice', '--tenant', 'acme', '--month', month),
          await cli('--json', 'invoice', '--tenant', 'acme', '--month', month),
        ]);
        if (month === before) {
          expect(JSON.parse(invoiceJson.stdout).lines).toEqual([
            {
              model: 'gpt-4o-mini',
              usage: { ...EMPTY_ROLLUP, requests: 1, refusedRequests: 1 },
              costMicroUsd: 0,
            },
          ]);
        }
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
      // r-held's request placed its hold, then its record was refused: the hold is still committed.
      const store = openLocalStore(stateDir);
      await store.budgets.reserve({
        tenantId: 'acme',
        month,
        requestId: 'r-held',
        amountMicroUsd: 40_000,
        limitMicroUsd: 5_000_000_000,
      });
      const [held = '', plain = ''] = await unstoredRecordLines([
        replayed('r-held', 12_000),
        replayed('r-plain', 3_000),
      ]);
      logFile = join(dir, 'gateway.log');
      writeFileSync(
        logFile,
        [
          '{"level":"INFO","message":"request","timestamp":"2025-07-03T00:00:00.000Z","status":200}',
          held,
          'not a JSON line',
          // As CloudWatch prints a line of the text log format: a prefix before the JSON.
          `2025-07-03T00:00:01.000Z\t6f1c0e52-1111-4222-8333-944445555666\tERROR\t${plain}`,
          '',
        ].join('\n'),
      );
    });

    it(
      'writes the logged records into the ledger and releases the hold they left behind',
      async () => {
        // Act
        const result = await cli('usage', 'replay', '--file', logFile);
        const usage = JSON.parse((await cli('--json', 'usage', '--tenant', 'acme', '--month', month)).stdout);

        // Assess
        expect(result).toEqual({
          code: 0,
          stdout: `Replayed 2 usage record(s) from ${logFile}: 2 recorded, 0 already stored (2 other line(s) skipped).\n`,
          stderr: '',
        });
        expect(usage.total).toMatchObject({ requests: 2, costMicroUsd: 15_000 });
        expect(usage.budget.state).toEqual({ spentMicroUsd: 15_000, committedMicroUsd: 15_000 });
      },
      CLI_TIMEOUT_MS,
    );

    it(
      'counts nothing twice when the same log is replayed again',
      async () => {
        // Act
        const again = await cli('--json', 'usage', 'replay', '--file', logFile);
        const usage = JSON.parse((await cli('--json', 'usage', '--tenant', 'acme', '--month', month)).stdout);

        // Assess
        expect(again.code).toBe(0);
        expect(JSON.parse(again.stdout)).toEqual({ recorded: 0, duplicates: 2, skipped: 2 });
        expect(usage.total).toMatchObject({ requests: 2, costMicroUsd: 15_000 });
        expect(usage.budget.state).toEqual({ spentMicroUsd: 15_000, committedMicroUsd: 15_000 });
      },
      CLI_TIMEOUT_MS,
    );

    it(
      'replays what it can, names the lines it could not, and exits 1',
      async () => {
        // Prepare
        const [good = '', stranger = ''] = await unstoredRecordLines([
          replayed('r-late', 500),
          aRecord({ requestId: 'r-stranger', tenantId: 'nobody', month }),
        ]);
        const broken = good.replace('"costMicroUsd":500', '"costMicroUsd":-5').replace('r-late', 'r-broken');
        const file = join(dir, 'mixed.log');
        writeFileSync(file, [good, broken, stranger].join('\n'));

        // Act
        const result = await cli('usage', 'replay', '--file', file);
        const usage = JSON.parse((await cli('--json', 'usage', '--tenant', 'acme', '--month', month)).stdout);

        // Assess
        expect(result).toEqual({
          code: 1,
          stdout: '',
          stderr:
            `gateway-admin: Replayed 2 usage record(s) from ${file}: 1 recorded, 0 already stored, 2 not replayed (0 other line(s) skipped).\n` +
            '  line 2: not a usage record (costMicroUsd: Invalid value: Expected >=0 but received -5)\n' +
            "  line 3: unknown tenant 'nobody'\n" +
            'Fix or remove those lines and run it again: stored records are not counted twice.\n',
        });
        expect(usage.total).toMatchObject({ requests: 3, costMicroUsd: 15_500 });
      },
      CLI_TIMEOUT_MS,
    );

    it.each([
      ['without --file', ['usage', 'replay'], 2, 'Missing --file: gateway-admin usage replay --file <path>'],
      [
        'a missing file',
        ['usage', 'replay', '--file', '/nonexistent/gateway.log'],
        1,
        'Could not read the log file /nonexistent/gateway.log: ',
      ],
    ])(
      'refuses %s',
      async (_case, args, code, message) => {
        // Act
        const result = await cli(...args);

        // Assess
        expect(result.code).toBe(code);
        expect(result.stderr.startsWith(`gateway-admin: ${message}`)).toBe(true);
      },
      CLI_TIMEOUT_MS,
    );
  });
});
