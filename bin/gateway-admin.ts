// `gateway-admin`: tenants, keys, usage and invoices of the gateway, on the local store or on a deployed stack.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openLocalStore } from '../lambda/adapters/sqlite/local-store.ts';
import { systemClock } from '../lambda/adapters/system/clock.ts';
import { ConfigError, type GatewayConfig, parseGatewayConfig } from '../lambda/core/config.ts';
import {
  billingMonthOf,
  EMPTY_ROLLUP,
  formatUsd,
  type Invoice,
  isBillingMonth,
} from '../lambda/core/pricing.ts';
import { localConfig } from '../lambda/entrypoints/local/defaults.ts';
import {
  type KeyRecord,
  type MonthlyUsage,
  StoreConflictError,
  type TenantRecord,
  type UsageRollup,
} from '../lambda/ports.ts';
import { loggedUsageRecords } from './admin/replay.ts';
import { type Admin, type AdminDeps, AdminError, type BudgetView, createAdmin } from './admin/service.ts';

const USAGE = `Usage: gateway-admin [--stack <name> [--region <r>]] [--state-dir <dir>] [--config <file>] [--json] <command> …

Without --stack it works on the local store in --state-dir (default: $GATEWAY_STATE_DIR or .gateway), the one
\`npm start\` uses. With --stack it works on a deployed stack, found from the stack's outputs.
The config (tiers, prices) is read from --config, else $GATEWAY_CONFIG_FILE, else config/gateway.json
(the file bundled into the function) with --stack, or the local defaults without it.

\`usage replay\` writes the usage records the gateway logged as 'usage record not stored' into the ledger;
running it again does not count a request twice.

In the usage and invoice tables REQUESTS counts every request the gateway answered; of those, REFUSED were
refused (a 4xx answer, not charged), FAILED failed upstream or timed out, ABORTED were left by the client.

Commands:
  tenants create <id> --tier <t> [--name N] [--budget-usd X]
  tenants list
  tenants show <id>
  keys create --tenant <id> [--name N] [--expires <ISO date>] [--models a,b] [--cidrs c1,c2]
  keys list --tenant <id>
  keys rotate <keyId> [--grace-hours H]
  keys revoke <keyId>
  usage --tenant <id> [--month YYYY-MM]        (default: the current month, UTC)
  usage replay --file <path>                   (the gateway's JSON log lines, '-' for stdin)
  invoice --tenant <id> [--month YYYY-MM]      (default: the current month, UTC)

Options:
  --stack <name>      CloudFormation stack of the gateway (AWS mode)
  --region <r>        its region (default: the AWS SDK's, e.g. $AWS_REGION)
  --state-dir <dir>   local store directory (local mode)
  --config <file>     gateway config JSON
  --json              print JSON instead of tables
  -h, --help          print this help

Exit codes: 0 done, 1 failed, 2 bad arguments.
`;

/** Bad arguments: exit code 2. */
class UsageError extends Error {}

const GLOBAL_OPTIONS = {
  stack: { type: 'string' },
  region: { type: 'string' },
  'state-dir': { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type StringOption = { readonly type: 'string' };
const text: StringOption = { type: 'string' };

interface CommandSpec {
  readonly positionals: readonly string[];
  readonly options: Readonly<Record<string, StringOption>>;
  readonly required: readonly string[];
}

const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  'tenants create': {
    positionals: ['<id>'],
    options: { tier: text, name: text, 'budget-usd': text },
    required: ['tier'],
  },
  'tenants list': { positionals: [], options: {}, required: [] },
  'tenants show': { positionals: ['<id>'], options: {}, required: [] },
  'keys create': {
    positionals: [],
    options: { tenant: text, name: text, expires: text, models: text, cidrs: text },
    required: ['tenant'],
  },
  'keys list': { positionals: [], options: { tenant: text }, required: ['tenant'] },
  'keys rotate': { positionals: ['<keyId>'], options: { 'grace-hours': text }, required: [] },
  'keys revoke': { positionals: ['<keyId>'], options: {}, required: [] },
  usage: { positionals: [], options: { tenant: text, month: text }, required: ['tenant'] },
  'usage replay': { positionals: [], options: { file: text }, required: ['file'] },
  invoice: { positionals: [], options: { tenant: text, month: text }, required: ['tenant'] },
};

type OptionsConfig = Readonly<
  Record<string, { readonly type: 'string' | 'boolean'; readonly short?: string }>
>;
const ALL_OPTIONS: OptionsConfig = Object.assign(
  {},
  GLOBAL_OPTIONS,
  ...Object.values(COMMANDS).map((command) => command.options),
);

const isParseArgsError = (error: unknown): error is Error =>
  error instanceof Error && String((error as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS');

/** parseArgs' message, without its hint about `--` (which misleads more than it helps here). */
const parseArgsMessage = (error: Error): string => {
  if ((error as NodeJS.ErrnoException).code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return error.message;
  return `Unknown option ${/'[^']*'/.exec(error.message)?.[0] ?? error.message}.`;
};

/** The command's line of USAGE. */
const usageOf = (name: string): string =>
  `gateway-admin ${
    USAGE.split('\n')
      .find((line) => line.startsWith(`  ${name} `) || line === `  ${name}`)
      ?.trim() ?? name
  }`;

interface ParsedCommand {
  readonly name: string;
  readonly args: readonly string[];
  readonly options: Readonly<Record<string, string | undefined>>;
  readonly global: {
    readonly stack?: string | undefined;
    readonly region?: string | undefined;
    readonly stateDir?: string | undefined;
    readonly config?: string | undefined;
    readonly json: boolean;
  };
}

/** Two passes: the first finds the command, the second rejects options that are not the command's. */
const parseCommand = (argv: readonly string[]): ParsedCommand | 'help' => {
  const parse = (options: OptionsConfig) => {
    try {
      return parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
    } catch (error) {
      if (isParseArgsError(error)) throw new UsageError(parseArgsMessage(error));
      throw error;
    }
  };
  const first = parse(ALL_OPTIONS);
  if (first.values.help === true) return 'help';
  const [group, sub] = first.positionals;
  if (group === undefined) throw new UsageError('No command given.');
  // `usage replay` is a subcommand of a group that is a command itself (`usage --tenant …`).
  const name =
    COMMANDS[group] !== undefined && COMMANDS[`${group} ${sub}`] === undefined
      ? group
      : `${group} ${sub ?? ''}`.trim();
  const spec = COMMANDS[name];
  if (spec === undefined) {
    const subcommands = Object.keys(COMMANDS).filter((command) => command.startsWith(`${group} `));
    if (sub === undefined && subcommands.length > 0) {
      throw new UsageError(
        `'${group}' needs a subcommand: ${subcommands.map((c) => c.split(' ')[1]).join(', ')}.`,
      );
    }
    throw new UsageError(`Unknown command '${name}'.`);
  }
  let second: ReturnType<typeof parse>;
  try {
    second = parse({ ...GLOBAL_OPTIONS, ...spec.options });
  } catch (error) {
    const allowed = Object.keys(spec.options).map((option) => `--${option}`);
    throw new UsageError(
      `${(error as Error).message} Options of '${name}': ${allowed.length > 0 ? allowed.join(', ') : 'none'}.`,
    );
  }
  const args = second.positionals.slice(name.split(' ').length);
  const values = second.values as Record<string, string | boolean | undefined>;
  if (args.length < spec.positionals.length) {
    throw new UsageError(`Missing ${spec.positionals[args.length]}: ${usageOf(name)}`);
  }
  if (args.length > spec.positionals.length)
    throw new UsageError(`Unexpected argument '${args[spec.positionals.length]}'.`);
  for (const option of spec.required) {
    if (values[option] === undefined) throw new UsageError(`Missing --${option}: ${usageOf(name)}`);
  }
  const str = (option: string) => {
    const value = values[option];
    return typeof value === 'string' ? value : undefined;
  };
  const options = Object.fromEntries(Object.keys(spec.options).map((option) => [option, str(option)]));
  if (values.stack === undefined && values.region !== undefined)
    throw new UsageError('--region needs --stack.');
  if (values.stack !== undefined && values['state-dir'] !== undefined) {
    throw new UsageError('--state-dir is for local mode; it cannot be used with --stack.');
  }
  return {
    name,
    args,
    options,
    global: {
      stack: str('stack'),
      region: str('region'),
      stateDir: str('state-dir'),
      config: str('config'),
      json: values.json === true,
    },
  };
};

/** The config the deployed function was built with: the project's config file, bundled into it. */
const DEPLOYED_CONFIG_FILE = fileURLToPath(new URL('../config/gateway.json', import.meta.url));

const loadConfig = (file: string | undefined, aws: boolean): GatewayConfig => {
  const path = file ?? (process.env.GATEWAY_CONFIG_FILE || (aws ? DEPLOYED_CONFIG_FILE : undefined));
  if (path === undefined || path === '') return parseGatewayConfig(localConfig(process.env));
  let input: unknown;
  try {
    input = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new AdminError(`Could not read the config file ${path}: ${(error as Error).message}`);
  }
  return parseGatewayConfig(input);
};

type Deps = Omit<AdminDeps, 'config' | 'clock'> & { close(): void };

const localDeps = (stateDir: string | undefined): Deps => {
  const dir = stateDir ?? (process.env.GATEWAY_STATE_DIR || '.gateway');
  const store = openLocalStore(dir, { pepper: process.env.GATEWAY_KEY_PEPPER });
  return { ...store, pepper: async () => store.pepper(), close: () => {} };
};

const awsDeps = async (stackName: string, region: string | undefined): Promise<Deps> => {
  // Loaded only on AWS: local mode does not pay for the SDK's start-up.
  const [{ APIGatewayClient }, { CloudFormationClient }, { DynamoDBClient }, { SecretsManagerClient }, aws] =
    await Promise.all([
      import('@aws-sdk/client-api-gateway'),
      import('@aws-sdk/client-cloudformation'),
      import('@aws-sdk/client-dynamodb'),
      import('@aws-sdk/client-secrets-manager'),
      import('./admin/aws.ts'),
    ]);
  const config = region === undefined ? {} : { region };
  const clients = {
    cloudFormation: new CloudFormationClient(config),
    dynamodb: new DynamoDBClient(config),
    secretsManager: new SecretsManagerClient(config),
    apiGateway: new APIGatewayClient(config),
  };
  const close = () => {
    for (const client of Object.values(clients)) client.destroy();
  };
  try {
    const stack = await aws.discoverStack(clients.cloudFormation, stackName);
    return {
      ...aws.awsStores(clients, stack),
      provisioner: aws.apiGatewayProvisioner(clients.apiGateway, stack.usagePlanIds),
      close,
    };
  } catch (error) {
    close();
    throw error;
  }
};

// ---- output ----

interface Column {
  readonly title: string;
  readonly right?: boolean;
}

/**
 * Control characters (C0, DEL, C1) and the invisible ones that reorder or hide text (bidi controls, zero-width
 * marks, line separators): escaped wherever the CLI prints a stored value, which may have come from a client.
 */
const unprintable = (code: number): boolean =>
  code < 0x20 ||
  (code >= 0x7f && code <= 0x9f) ||
  (code >= 0x200b && code <= 0x200f) ||
  code === 0x2028 ||
  code === 0x2029 ||
  (code >= 0x202a && code <= 0x202e) ||
  (code >= 0x2060 && code <= 0x2069) ||
  code === 0xfeff;

const escaped = (text: string, keepNewlines: boolean): string => {
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    out +=
      unprintable(code) && !(keepNewlines && code === 0x0a)
        ? `\\u${code.toString(16).padStart(4, '0')}`
        : char;
  }
  return out;
};

/** A stored value as one printable line: `gpt-4o\u001b[2K` rather than the terminal acting on it. */
const printable = (value: string): string => escaped(value, false);

/** The CLI's text output with every control character escaped but its own line breaks. */
const printableText = (text: string): string => escaped(text, true);

const table = (columns: readonly Column[], unsafeRows: ReadonlyArray<readonly string[]>): string => {
  const rows = unsafeRows.map((row) => row.map(printable));
  const widths = columns.map((column, i) =>
    Math.max(column.title.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (columns[i]?.right ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(columns.map((column) => column.title)), ...rows.map(line)].join('\n')}\n`;
};

const time = (ms: number | undefined): string =>
  ms === undefined ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** What is safe to print of a key record: never its hashes. */
const keyView = ({ secretHash: _s, previousSecretHash: _p, ...key }: KeyRecord) => key;
/** The API key value lets a caller past the usage plan: print only its id. */
const tenantView = ({ usagePlanKeyValue: _v, ...tenant }: TenantRecord) => tenant;

const budgetLine = (budget: BudgetView): string => {
  const limit = budget.limitMicroUsd === undefined ? 'no limit' : `${formatUsd(budget.limitMicroUsd)} limit`;
  const inFlight = budget.state.committedMicroUsd - budget.state.spentMicroUsd;
  return `Budget ${budget.month}: ${formatUsd(budget.state.spentMicroUsd)} spent of ${limit} (${formatUsd(inFlight)} held by requests in flight); resets ${time(Date.parse(budget.resetsAt))}\n`;
};

const TENANT_COLUMNS: Column[] = [
  { title: 'TENANT' },
  { title: 'NAME' },
  { title: 'TIER' },
  { title: 'STATUS' },
  { title: 'BUDGET', right: true },
  { title: 'CREATED' },
];
const tenantRow = (t: TenantRecord) => [
  t.tenantId,
  t.name,
  t.tier,
  t.status,
  t.monthlyBudgetMicroUsd === undefined ? 'tier' : formatUsd(t.monthlyBudgetMicroUsd),
  time(t.createdAt),
];

const KEY_COLUMNS: Column[] = [
  { title: 'KEY ID' },
  { title: 'PREFIX' },
  { title: 'NAME' },
  { title: 'STATUS' },
  { title: 'EXPIRES' },
  { title: 'MODELS' },
  { title: 'CIDRS' },
  { title: 'CREATED' },
  { title: 'PREVIOUS VALID UNTIL' },
];
const keyRow = (k: KeyRecord) => [
  k.keyId,
  k.displayPrefix,
  k.name ?? '',
  k.status,
  time(k.expiresAt),
  k.models?.join(',') ?? 'all',
  k.cidrs?.join(',') ?? 'any',
  time(k.createdAt),
  time(k.previousValidUntil),
];

const USAGE_COLUMNS: Column[] = [
  { title: 'MODEL' },
  ...[
    'REQUESTS',
    'REFUSED',
    'FAILED',
    'ABORTED',
    'INPUT',
    'CACHED',
    'OUTPUT',
    'REASONING',
    'COST',
    'ESTIMATED',
  ].map((title) => ({ title, right: true })),
];
const usageRow = (model: string, r: UsageRollup) => [
  model,
  String(r.requests),
  String(r.refusedRequests),
  String(r.failedRequests),
  String(r.abortedRequests),
  String(r.inputTokens),
  String(r.cachedInputTokens),
  String(r.outputTokens),
  String(r.reasoningTokens),
  formatUsd(r.costMicroUsd),
  String(r.estimatedRequests),
];
const usageJson = (usage: MonthlyUsage) => ({
  total: usage.total,
  byModel: Object.fromEntries(usage.byModel),
});

/** Counter by counter (every field of a rollup is one). */
const sumRollups = (rollups: readonly UsageRollup[]): UsageRollup => {
  const counters = Object.keys(EMPTY_ROLLUP) as Array<keyof UsageRollup>;
  return rollups.reduce(
    (sum, r) =>
      Object.fromEntries(counters.map((name) => [name, sum[name] + r[name]])) as unknown as UsageRollup,
    EMPTY_ROLLUP,
  );
};

const percent = (bps: number) => `${bps / 100}%`;

const invoiceText = (invoice: Invoice): string => {
  const lines = table(USAGE_COLUMNS, [
    ...invoice.lines.map((line) => usageRow(line.model, line.usage)),
    ...(invoice.lines.length === 0
      ? []
      : [usageRow('TOTAL', sumRollups(invoice.lines.map((line) => line.usage)))]),
  ]);
  const summary: string[][] = [['List subtotal', formatUsd(invoice.listMicroUsd)]];
  for (const band of invoice.bands) {
    const range =
      band.uptoMicroUsd === undefined
        ? `above ${formatUsd(band.aboveMicroUsd)}`
        : `${formatUsd(band.aboveMicroUsd)} to ${formatUsd(band.uptoMicroUsd)}`;
    summary.push([
      `Volume band ${range}: ${percent(band.percentOffBps)} off ${formatUsd(band.amountMicroUsd)}`,
      formatUsd(-band.discountMicroUsd),
    ]);
  }
  summary.push(
    ['Usage after discounts', formatUsd(invoice.usageMicroUsd)],
    ['Commitment', formatUsd(invoice.commitmentMicroUsd)],
    ['Overage', formatUsd(invoice.overageMicroUsd)],
    ['Unused commitment', formatUsd(invoice.unusedCommitmentMicroUsd)],
    ['Total', formatUsd(invoice.totalMicroUsd)],
  );
  const summaryText = table([{ title: '' }, { title: '', right: true }], summary).replace(/^\n/, '');
  return `Invoice of tenant ${invoice.tenantId} for ${invoice.month} (tier ${invoice.tier})\n\n${lines}\n${summaryText}`;
};

const newKeyText = (heading: string, key: string, after = ''): string =>
  `${heading}\n\n  ${key}\n\nThis key will not be shown again: store it now.${after}\n`;

/** Runs the command; returns what to print. */
const run = async (admin: Admin, command: ParsedCommand): Promise<{ json: unknown; text: string }> => {
  const { args, options } = command;
  const arg = (i: number) => args[i] ?? '';
  /** --month, or the current month (UTC). */
  const month = () => {
    const value = options.month ?? billingMonthOf(Date.now());
    if (!isBillingMonth(value)) throw new UsageError(`--month must be YYYY-MM, got: ${value}`);
    return value;
  };
  const list = (value: string | undefined) => value?.split(',').map((item) => item.trim());
  switch (command.name) {
    case 'tenants create': {
      const tenant = await admin.createTenant({
        tenantId: arg(0),
        tier: options.tier ?? '',
        name: options.name,
        monthlyBudgetUsd: options['budget-usd'],
      });
      const budget =
        tenant.monthlyBudgetMicroUsd === undefined
          ? ''
          : `, budget ${formatUsd(tenant.monthlyBudgetMicroUsd)}/month`;
      const apiKey =
        tenant.usagePlanKeyId === undefined ? '' : `API Gateway API key: ${tenant.usagePlanKeyId}\n`;
      return {
        json: tenantView(tenant),
        text: `Created tenant ${tenant.tenantId} (tier ${tenant.tier}${budget}).\n${apiKey}`,
      };
    }
    case 'tenants list': {
      const tenants = await admin.listTenants();
      return { json: tenants.map(tenantView), text: table(TENANT_COLUMNS, tenants.map(tenantRow)) };
    }
    case 'tenants show': {
      const shown = await admin.showTenant(arg(0));
      const { tenant } = shown;
      const apiKey = tenant.usagePlanKeyId === undefined ? '' : `API key:  ${tenant.usagePlanKeyId}\n`;
      return {
        json: { tenant: tenantView(tenant), keys: shown.keys.map(keyView), budget: shown.budget },
        text:
          `Tenant:   ${tenant.tenantId} (${tenant.name})\nTier:     ${tenant.tier}\nStatus:   ${tenant.status}\n` +
          `Created:  ${time(tenant.createdAt)}\n${apiKey}${budgetLine(shown.budget)}\nKeys:\n` +
          table(KEY_COLUMNS, shown.keys.map(keyRow)),
      };
    }
    case 'keys create': {
      let expiresAt: number | undefined;
      if (options.expires !== undefined) {
        expiresAt = Date.parse(options.expires);
        if (!/^\d{4}-\d{2}-\d{2}/.test(options.expires) || Number.isNaN(expiresAt)) {
          throw new UsageError(
            `--expires must be an ISO date such as 2026-01-31 or 2026-01-31T12:00:00Z, got: ${options.expires}`,
          );
        }
      }
      const created = await admin.createKey({
        tenantId: options.tenant ?? '',
        name: options.name,
        expiresAt,
        models: list(options.models),
        cidrs: list(options.cidrs),
      });
      return {
        json: { key: created.key, ...keyView(created.record) },
        text: newKeyText(
          `Created key ${created.record.keyId} for tenant ${created.record.tenantId}:`,
          created.key,
        ),
      };
    }
    case 'keys list': {
      const keys = await admin.listKeys(options.tenant ?? '');
      return { json: keys.map(keyView), text: table(KEY_COLUMNS, keys.map(keyRow)) };
    }
    case 'keys rotate': {
      let graceMs: number | undefined;
      if (options['grace-hours'] !== undefined) {
        const hours = Number(options['grace-hours']);
        if (options['grace-hours'].trim() === '' || !Number.isFinite(hours) || hours < 0) {
          throw new UsageError(`--grace-hours must be a number of hours ≥ 0, got: ${options['grace-hours']}`);
        }
        graceMs = hours * 3_600_000;
      }
      const rotated = await admin.rotateKey(arg(0), graceMs);
      return {
        json: { key: rotated.key, ...keyView(rotated.record) },
        text: newKeyText(
          `Rotated key ${rotated.record.keyId}; its new key:`,
          rotated.key,
          `\nThe previous key stays valid until ${time(rotated.record.previousValidUntil)}.`,
        ),
      };
    }
    case 'keys revoke': {
      const key = await admin.revokeKey(arg(0));
      return {
        json: keyView(key),
        text: `Revoked key ${key.keyId} (${key.displayPrefix}) at ${time(key.revokedAt)}.\n`,
      };
    }
    case 'usage': {
      const result = await admin.usage(options.tenant ?? '', month());
      const rows = [...result.usage.byModel.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([model, rollup]) => usageRow(model, rollup));
      return {
        json: {
          tenantId: result.tenantId,
          month: result.month,
          ...usageJson(result.usage),
          budget: result.budget,
        },
        text:
          `Usage of tenant ${result.tenantId} in ${result.month}\n\n` +
          table(USAGE_COLUMNS, [...rows, usageRow('TOTAL', result.usage.total)]) +
          `\n${budgetLine(result.budget)}`,
      };
    }
    case 'usage replay': {
      const file = options.file ?? '';
      let logText: string;
      try {
        logText = readFileSync(file === '-' ? 0 : file, 'utf8');
      } catch (error) {
        throw new AdminError(`Could not read the log file ${file}: ${(error as Error).message}`);
      }
      const logged = loggedUsageRecords(logText);
      const result = await admin.replayUsage(logged.records);
      const failures = [...logged.invalid, ...result.failed].sort((a, b) => a.line - b.line);
      const summary =
        `Replayed ${logged.records.length} usage record(s) from ${file === '-' ? 'stdin' : file}: ` +
        `${result.recorded} recorded, ${result.duplicates} already stored` +
        `${failures.length > 0 ? `, ${failures.length} not replayed` : ''}` +
        ` (${logged.skipped} other line(s) skipped).`;
      if (failures.length > 0) {
        const lines = failures.map((failure) => `  line ${failure.line}: ${failure.reason}`).join('\n');
        throw new AdminError(
          `${summary}\n${lines}\nFix or remove those lines and run it again: stored records are not counted twice.`,
        );
      }
      return {
        json: { recorded: result.recorded, duplicates: result.duplicates, skipped: logged.skipped },
        text: `${summary}\n`,
      };
    }
    case 'invoice': {
      const invoice = await admin.invoice(options.tenant ?? '', month());
      return { json: invoice, text: invoiceText(invoice) };
    }
    default:
      throw new UsageError(`Unknown command '${command.name}'.`);
  }
};

const main = async (argv: readonly string[]): Promise<number> => {
  let deps: Deps | undefined;
  try {
    const command = parseCommand(argv);
    if (command === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    const config = loadConfig(command.global.config, command.global.stack !== undefined);
    deps =
      command.global.stack === undefined
        ? localDeps(command.global.stateDir)
        : await awsDeps(command.global.stack, command.global.region);
    const output = await run(createAdmin({ ...deps, config, clock: systemClock }), command);
    process.stdout.write(
      command.global.json ? `${JSON.stringify(output.json, null, 2)}\n` : printableText(output.text),
    );
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`gateway-admin: ${error.message}\nRun 'gateway-admin --help' for usage.\n`);
      return 2;
    }
    const known =
      error instanceof AdminError || error instanceof StoreConflictError || error instanceof ConfigError;
    const message =
      error instanceof Error ? (known ? error.message : `${error.name}: ${error.message}`) : String(error);
    process.stderr.write(`gateway-admin: ${printableText(message)}\n`);
    return 1;
  } finally {
    deps?.close();
  }
};

process.exitCode = await main(process.argv.slice(2));
