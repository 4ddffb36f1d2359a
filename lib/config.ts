// The deployment config: the project's config document (config/gateway.json) as the stack reads it.
// The runtime part (routes, tiers, prices, …) is validated by the same parser the function uses; the
// deployment part (usage plans, allowlist, cache, alarms, …) is validated here. Both fail synth with
// every problem as `field`: message, got: value.
import { isIP } from 'node:net';
import { RE2JS } from 're2js';
import * as v from 'valibot';
import { re2jsEngine } from '../lambda/adapters/regex/re2js.ts';
import {
  ConfigError,
  describeIssue,
  type GatewayConfig,
  GatewayConfigSchema,
  parseGatewayConfig,
  positiveInt,
} from '../lambda/core/config.ts';
import { compileContentFilters } from '../lambda/core/content-rules.ts';
import { isCidr } from '../lambda/core/keys.ts';
import { WafBodyRules } from './constructs/waf.ts';
import {
  CACHE_ECPU_PER_SECOND,
  CACHE_STORAGE_GB,
  LAMBDA_MEMORY_MB,
  WAF_RATE_LIMIT,
} from './service-limits.ts';

const positiveNumber = (what: string) =>
  v.pipe(v.number(`${what} must be a number`), v.minValue(0.000001, `${what} must be above 0`));

/** An integer within AWS's bounds for the setting, with one message for every way of missing them. */
const intWithin = (what: string, { min, max }: { readonly min: number; readonly max: number }, unit = '') => {
  const message = `${what} must be an integer from ${min} to ${max}${unit}`;
  return v.pipe(
    v.number(`${what} must be a number`),
    v.check((n) => Number.isInteger(n) && n >= min && n <= max, message),
  );
};

export const CacheMode = { publicIam: 'public-iam', vpc: 'vpc', off: 'off' } as const;
export type CacheModeName = (typeof CacheMode)[keyof typeof CacheMode];

const UsagePlanSchema = v.object({
  /** Steady-state requests per second for the tier's keys (API Gateway token bucket). */
  rateLimit: v.optional(positiveNumber('rateLimit'), 50),
  burstLimit: v.optional(positiveInt('burstLimit'), 100),
  /** Requests per period; left out: no quota (budgets limit spend). */
  quota: v.optional(
    v.object({
      limit: positiveInt('limit'),
      period: v.picklist(['DAY', 'WEEK', 'MONTH'], 'period must be DAY, WEEK or MONTH'),
    }),
  ),
});

const DeploymentSchema = v.object({
  tiers: v.optional(v.record(v.string(), v.object({ usagePlan: v.optional(UsagePlanSchema, {}) })), {
    default: { usagePlan: {} },
  }),
  /** CIDRs (IPv4 and IPv6) allowed through WAF; empty: every address passes. */
  allowlist: v.optional(
    v.array(
      v.pipe(
        v.string('allowlist entries must be strings'),
        v.check(isCidr, 'allowlist entries must be IPv4 or IPv6 CIDRs (e.g. 203.0.113.0/24, 2001:db8::/32)'),
      ),
      'allowlist must be an array of CIDRs',
    ),
    [],
  ),
  cache: v.optional(
    v.object({
      mode: v.optional(
        v.picklist(Object.values(CacheMode), `mode must be one of ${Object.values(CacheMode).join(', ')}`),
        CacheMode.publicIam,
      ),
      maxDataStorageGb: v.optional(intWithin('maxDataStorageGb', CACHE_STORAGE_GB, ' (GB)'), 1),
      maxEcpuPerSecond: v.optional(intWithin('maxEcpuPerSecond', CACHE_ECPU_PER_SECOND), 5_000),
    }),
    {},
  ),
  function: v.optional(
    v.object({
      memoryMb: v.optional(intWithin('memoryMb', LAMBDA_MEMORY_MB, ' (MB)'), 1024),
      reservedConcurrency: v.optional(positiveInt('reservedConcurrency')),
    }),
    {},
  ),
  functionUrl: v.optional(
    v.object({ auth: v.optional(v.picklist(['iam', 'none'], 'auth must be "iam" or "none"'), 'iam') }),
    {},
  ),
  edge: v.optional(
    v.object({
      /** How long API Gateway reuses an authorizer decision per key and client IP; 0 turns caching off. */
      authorizerCacheTtlSeconds: v.optional(
        v.pipe(
          v.number('authorizerCacheTtlSeconds must be a number'),
          v.integer('authorizerCacheTtlSeconds must be an integer'),
          v.minValue(0, 'authorizerCacheTtlSeconds must be at least 0'),
          v.maxValue(3600, 'authorizerCacheTtlSeconds must be at most 3600'),
        ),
        300,
      ),
      /** WAF rate-based rule: requests per client IP per 5 minutes. */
      wafRateLimitPer5Minutes: v.optional(intWithin('wafRateLimitPer5Minutes', WAF_RATE_LIMIT), 2_000),
      /**
       * What WAF does when a content rule of its common rule set (cross-site scripting, file inclusion, EC2
       * metadata) matches a request body: `count` lets it through and records it, `block` refuses it. Prompts
       * about code routinely contain `<script>` or `../`; the gateway's own filters judge prompt content.
       */
      wafBodyRules: v.optional(
        v.picklist(Object.values(WafBodyRules), 'wafBodyRules must be "count" or "block"'),
        WafBodyRules.count,
      ),
    }),
    {},
  ),
  alarms: v.optional(
    v.object({
      email: v.optional(
        v.pipe(v.string('email must be a string'), v.email('email must be an email address')),
      ),
      latencyP99Ms: v.optional(positiveInt('latencyP99Ms'), 30_000),
    }),
    {},
  ),
});

export type Deployment = v.InferOutput<typeof DeploymentSchema>;
export type UsagePlanConfig = Deployment['tiers'][string]['usagePlan'];

export interface StackConfig {
  readonly gateway: GatewayConfig;
  readonly deployment: Deployment;
  /** Distinct secret names of the routes' targets: one Secrets Manager secret each. */
  readonly upstreamSecretNames: readonly string[];
  /** The models (ids, inference profiles or ARNs) the bedrock targets call, by region: the function may invoke these. */
  readonly bedrockModels: ReadonlyArray<{ readonly region: string; readonly model: string }>;
  /** The document as given, minified: compiled into the functions, which parse it themselves at cold start. */
  readonly document: string;
}

/** What unknownFields reads of a valibot schema: its kind and the schemas it holds. */
interface SchemaShape {
  readonly type: string;
  readonly entries?: Readonly<Record<string, SchemaShape>>;
  readonly wrapped?: SchemaShape;
  readonly options?: readonly SchemaShape[];
  readonly item?: SchemaShape;
  readonly value?: SchemaShape;
}

// Schemas that can never accept an object or an array: left out where the document has one.
const SCALAR_TYPES = new Set([
  'string',
  'number',
  'boolean',
  'bigint',
  'picklist',
  'literal',
  'enum',
  'null',
  'undefined',
  'date',
]);

/** The schemas a value must match, with optional/nullable wrappers removed and unions spread into their options. */
const alternatives = (schema: SchemaShape): SchemaShape[] => {
  if (schema.wrapped !== undefined) return alternatives(schema.wrapped);
  if (['union', 'variant', 'intersect'].includes(schema.type) && schema.options !== undefined)
    return schema.options.flatMap(alternatives);
  return [schema];
};

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Edits (insert, delete, replace, swap two neighbours) from a to b, for "did you mean": names are short. */
const editDistance = (a: string, b: string): number => {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => d[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      let best = Math.min(
        at(i - 1, j) + 1,
        at(i, j - 1) + 1,
        at(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
};

const unknownField = (at: string, field: string, known: readonly string[], value: unknown): string => {
  const [closest] = known
    .map((name) => ({ name, distance: editDistance(field.toLowerCase(), name.toLowerCase()) }))
    .filter(({ distance }) => distance <= Math.max(1, Math.floor(field.length / 3)))
    .sort((a, b) => a.distance - b.distance);
  const hint =
    closest === undefined ? `known fields: ${known.join(', ')}` : `did you mean \`${closest.name}\`?`;
  return `\`${at}\`: unknown field (${hint}), got: ${JSON.stringify(value) ?? String(value)}`;
};

/**
 * Fields of the document that none of the schemas reads: a typo such as `alarmz` would otherwise drop its
 * settings silently. The runtime and the deployment schema share objects (the top level, `tiers.<name>`,
 * `cache`), so neither can be strict on its own: a field is known when any schema reading that object
 * names it. Derived from the schemas, so a field added to either is accepted without a change here.
 */
const unknownFields = (
  value: unknown,
  schemas: readonly SchemaShape[],
  path: readonly string[] = [],
): string[] => {
  const candidates = schemas.flatMap(alternatives);
  if (Array.isArray(value)) {
    const items = candidates.flatMap((schema) =>
      schema.type === 'array' && schema.item ? [schema.item] : [],
    );
    return items.length === 0
      ? []
      : value.flatMap((item, i) => unknownFields(item, items, [...path, String(i)]));
  }
  if (!isPlainObject(value)) return [];
  const holders = candidates.filter((schema) => !SCALAR_TYPES.has(schema.type));
  const objects = holders.filter((schema) => schema.type === 'object');
  const records = holders.filter((schema) => schema.type === 'record');
  // Only plain objects close their set of fields; a record, a loose or strict object (which reports its own
  // unknown fields) or an unknown kind of schema leaves the fields alone.
  const known =
    objects.length > 0 && objects.length === holders.length
      ? [...new Set(objects.flatMap((schema) => Object.keys(schema.entries ?? {})))].sort()
      : undefined;
  return Object.entries(value).flatMap(([field, child]) => {
    const at = [...path, field];
    if (known !== undefined && !known.includes(field))
      return [unknownField(at.join('.'), field, known, child)];
    const inner = [
      ...objects.flatMap((schema) => {
        const entry = schema.entries?.[field];
        return entry === undefined ? [] : [entry];
      }),
      ...records.flatMap((schema) => (schema.value === undefined ? [] : [schema.value])),
    ];
    return unknownFields(child, inner, at);
  });
};

const DOCUMENT_SCHEMAS = [GatewayConfigSchema, DeploymentSchema] as unknown as readonly SchemaShape[];

/** Parses the whole document; throws one ConfigError listing the runtime and deployment problems together. */
/**
 * Content rules compile with the engine the function uses: a pattern RE2 cannot run (look-around,
 * back-references, bad syntax) fails synth. Disabled rules are checked too, so enabling one cannot break a
 * deployed function.
 */
const contentRuleProblems = (gateway: GatewayConfig): string[] => {
  const filters = {
    ...gateway.filters,
    rules: gateway.filters.rules.map((rule) => ({ ...rule, enabled: true })),
  };
  try {
    compileContentFilters(filters, re2jsEngine(RE2JS));
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
};

export const parseStackConfig = (document: unknown): StackConfig => {
  const problems: string[] = [];
  let gateway: GatewayConfig | undefined;
  try {
    gateway = parseGatewayConfig(document);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  const result = v.safeParse(DeploymentSchema, document);
  if (!result.success) problems.push(...result.issues.map(describeIssue));
  problems.push(...unknownFields(document, DOCUMENT_SCHEMAS));
  if (gateway !== undefined && result.success) {
    const planned = result.output.tiers;
    for (const tier of Object.keys(gateway.tiers)) {
      if (planned[tier] === undefined) planned[tier] = { usagePlan: v.parse(UsagePlanSchema, {}) };
    }
    for (const [tier, { usagePlan }] of Object.entries(planned)) {
      if (usagePlan.burstLimit < usagePlan.rateLimit) {
        problems.push(
          `\`tiers.${tier}.usagePlan.burstLimit\`: burstLimit must be at least rateLimit (${usagePlan.rateLimit}), got: ${usagePlan.burstLimit}`,
        );
      }
    }
    problems.push(...contentRuleProblems(gateway));
    result.output.allowlist.forEach((cidr, i) => {
      // A bare address is a host: make that explicit for WAF, which wants a prefix length.
      if (!cidr.includes('/')) result.output.allowlist[i] = `${cidr}/${isIP(cidr) === 6 ? 128 : 32}`;
    });
  }
  if (problems.length > 0 || gateway === undefined || !result.success) throw new ConfigError(problems);
  const upstreamSecretNames = [
    ...new Set(
      gateway.routes.flatMap((route) =>
        route.targets.flatMap((target) => (target.secretName === undefined ? [] : [target.secretName])),
      ),
    ),
  ].sort();
  const bedrockModels: Array<{ region: string; model: string }> = [];
  gateway.routes.forEach((route, r) => {
    route.targets.forEach((target, t) => {
      if (target.provider !== 'bedrock') return;
      // A prefix route passes on whatever model the client names: the function could not be granted it.
      const model = target.model ?? (route.match === 'exact' ? route.model : undefined);
      if (model === undefined)
        problems.push(
          `\`routes.${r}.targets.${t}.model\`: a bedrock target on a prefix route needs the model id (or inference profile) it calls, got: undefined`,
        );
      else if (!bedrockModels.some((known) => known.region === target.region && known.model === model))
        bedrockModels.push({ region: target.region, model });
    });
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    gateway,
    deployment: result.output,
    upstreamSecretNames,
    bedrockModels,
    document: JSON.stringify(document),
  };
};
