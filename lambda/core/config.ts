// The gateway's runtime configuration: schema, defaults and validation with messages that name field and value.
import * as v from 'valibot';
import { bodyBytes, name, nonNegativeInt, positiveInt } from './config-fields.ts';
import { ParsedPriceSchema, ParsedTierSchema } from './config-money.ts';

export { MAX_BODY_BYTES_CEILING, positiveInt } from './config-fields.ts';

export const Provider = {
  openai: 'openai',
  azureOpenai: 'azure-openai',
  openaiCompatible: 'openai-compatible',
  /** Anthropic's Messages API, behind OpenAI's chat completions (translated both ways). */
  anthropic: 'anthropic',
  /** Amazon Bedrock's runtime (Converse, InvokeModel), signed with the runtime's AWS credentials. */
  bedrock: 'bedrock',
} as const;
export type ProviderName = (typeof Provider)[keyof typeof Provider];

const TimeoutsSchema = v.object({
  connectMs: v.optional(positiveInt('connectMs'), 5_000),
  firstByteMs: v.optional(positiveInt('firstByteMs'), 300_000),
  idleMs: v.optional(positiveInt('idleMs'), 120_000),
});

const TargetSchema = v.pipe(
  v.object({
    id: v.pipe(
      name('id'),
      v.regex(/^[A-Za-z0-9._-]+$/, 'id must use only letters, digits, ".", "_" and "-"'),
    ),
    provider: v.picklist(
      Object.values(Provider),
      `provider must be one of ${Object.values(Provider).join(', ')}`,
    ),
    /** Required, except for bedrock: `https://bedrock-runtime.<region>.amazonaws.com` by default. */
    baseUrl: v.optional(
      v.pipe(v.string('baseUrl must be a string'), v.url('baseUrl must be an absolute URL')),
    ),
    /** A label in logs and metrics; for bedrock, the AWS region of the runtime endpoint (required). */
    region: v.optional(name('region'), 'default'),
    /** Upstream model name (or the Azure deployment name). Left out: the model the client asked for. */
    model: v.optional(name('model')),
    apiVersion: v.optional(name('apiVersion')),
    /** Name of the secret holding the provider API key. Left out: no key is sent (e.g. a private vLLM). */
    secretName: v.optional(name('secretName')),
    weight: v.optional(nonNegativeInt('weight'), 1),
    priority: v.optional(nonNegativeInt('priority'), 0),
    timeouts: v.optional(TimeoutsSchema, {}),
    /**
     * Translated providers (anthropic): the `max_tokens` sent when the client sets none, since their APIs require
     * one. @default 4096
     */
    maxTokens: v.optional(positiveInt('maxTokens')),
    /**
     * Anthropic: which parts of a request are marked for the provider's prompt cache (`cache_control`), since
     * OpenAI's request has no field for it. `system`: the system prompt; `tools`: the tool definitions.
     */
    /** Bedrock: the guardrail every Converse request of this target is checked with. */
    guardrail: v.optional(v.object({ id: name('guardrail.id'), version: name('guardrail.version') })),
    promptCaching: v.optional(
      v.object({
        system: v.optional(v.boolean('promptCaching.system must be true or false'), false),
        tools: v.optional(v.boolean('promptCaching.tools must be true or false'), false),
      }),
    ),
  }),
  // A bedrock target's endpoint follows from its region; any other target's baseUrl is checked as required below.
  v.transform((target) => ({
    ...target,
    baseUrl:
      target.baseUrl ??
      (target.provider === Provider.bedrock ? `https://bedrock-runtime.${target.region}.amazonaws.com` : ''),
  })),
);

const RouteSchema = v.object({
  model: name('model'),
  match: v.optional(v.picklist(['exact', 'prefix'], 'match must be "exact" or "prefix"'), 'exact'),
  /** false: answers of this route are never cached. */
  cache: v.optional(v.boolean('cache must be true or false'), true),
  targets: v.pipe(
    v.array(TargetSchema, 'targets must be an array'),
    v.minLength(1, 'targets must list at least one target'),
  ),
});

export const FilterActions = ['block', 'redact'] as const;
export const FilterScopes = ['request', 'response', 'both'] as const;

/** A sensitive-content rule: a regular expression (RE2 syntax) or a keyword list, and what to do on a match. */
const FilterRuleSchema = v.object({
  /** Named in errors, logs and the `ContentFiltered` metric. */
  name: v.pipe(
    name('name'),
    v.regex(/^[A-Za-z0-9._-]{1,64}$/, 'name must be 1 to 64 letters, digits, ".", "_" or "-"'),
  ),
  /** @default true */
  enabled: v.optional(v.boolean('enabled must be true or false'), true),
  /** RE2 syntax (no look-around, no back-references): matched in linear time. */
  pattern: v.optional(name('pattern')),
  /** Words or phrases, matched literally on normalised text. */
  keywords: v.optional(
    v.pipe(
      v.array(name('keywords entry'), 'keywords must be an array of strings'),
      v.minLength(1, 'keywords must list at least one keyword'),
    ),
  ),
  /** @default true for keywords, false for patterns */
  ignoreCase: v.optional(v.boolean('ignoreCase must be true or false')),
  /** Keywords only: a keyword inside a longer word (letters, digits) does not match. @default true */
  wholeWords: v.optional(v.boolean('wholeWords must be true or false'), true),
  /** `luhn`: a match counts only when its 13 to 19 digits pass the Luhn check (payment card numbers). */
  validate: v.optional(v.picklist(['luhn'], 'validate must be "luhn"')),
  action: v.picklist(FilterActions, 'action must be "block" or "redact"'),
  /** What the rule reads: the request's text, the answer's, or both. */
  scope: v.picklist(FilterScopes, 'scope must be "request", "response" or "both"'),
  /** What replaces a redacted match. @default filters.mask */
  mask: v.optional(v.string('mask must be a string')),
});

export const GatewayConfigSchema = v.object({
  routes: v.pipe(
    v.array(RouteSchema, 'routes must be an array'),
    v.minLength(1, 'routes must list at least one route'),
  ),
  limits: v.optional(
    v.object({
      /** Largest request body, for tiers that set none. */
      maxBodyBytes: v.optional(bodyBytes('maxBodyBytes'), 1024 * 1024),
      /** Deepest nesting of arrays and objects in a JSON body. */
      maxJsonDepth: v.optional(
        v.pipe(positiveInt('maxJsonDepth'), v.maxValue(1_000, 'maxJsonDepth must be at most 1000')),
        64,
      ),
      /** Most elements in any one array of a JSON body. */
      maxArrayLength: v.optional(positiveInt('maxArrayLength'), 10_000),
      /** Cap of `n` (and `best_of`) for tiers that set none. */
      maxN: v.optional(positiveInt('maxN'), 16),
    }),
    {},
  ),
  /** Files, uploads and fine-tuning jobs: where they go upstream, and how the job tracker polls. */
  fineTuning: v.optional(
    v.object({
      /**
       * The target (`routes[].targets[].id`) that files, uploads and new jobs go to.
       * @default - the first openai or azure-openai target in the routes
       */
      target: v.optional(name('target')),
      /** Largest body of `POST /v1/files` and of an upload part (Lambda's 6 MB invoke payload, base64 included). */
      maxFileBytes: v.optional(bodyBytes('maxFileBytes'), 4 * 1024 * 1024),
      /** First wait between two looks at an active job; it doubles while nothing changes. */
      pollIntervalMs: v.optional(positiveInt('pollIntervalMs'), 60_000),
      /** Longest wait between two looks at an active job. */
      maxPollIntervalMs: v.optional(positiveInt('maxPollIntervalMs'), 30 * 60_000),
    }),
    {},
  ),
  /** Sensitive-content rules, applied in order: at a position, the first rule that matches there decides. */
  filters: v.optional(
    v.object({
      /** What replaces a redacted match, for rules that set none. */
      mask: v.optional(v.string('mask must be a string'), '[REDACTED]'),
      rules: v.optional(v.array(FilterRuleSchema, 'rules must be an array'), []),
    }),
    {},
  ),
  retry: v.optional(
    v.object({
      /** Upstream attempts per request, first one included. */
      maxAttempts: v.optional(positiveInt('maxAttempts'), 3),
      /** Total time a request may wait for Retry-After before it gives up. */
      budgetMs: v.optional(nonNegativeInt('budgetMs'), 2_000),
    }),
    {},
  ),
  breaker: v.optional(
    v.object({
      failureThreshold: v.optional(positiveInt('failureThreshold'), 5),
      windowMs: v.optional(positiveInt('windowMs'), 30_000),
      cooldownMs: v.optional(positiveInt('cooldownMs'), 30_000),
    }),
    {},
  ),
  /** Tiers by name; a tenant has one. */
  tiers: v.optional(
    v.record(
      v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]+$/, 'tier names use letters, digits, "_" and "-"')),
      ParsedTierSchema,
      'tiers must be an object of tier name to tier',
    ),
    { default: {} },
  ),
  /**
   * The price catalogue, by public model name: an exact name, its family for a dated snapshot
   * (`gpt-4o-2024-08-06` → `gpt-4o`), or a trailing `*` matching a prefix. A model with no price is refused to
   * tenants with a budget, and metered at 0 for the others.
   */
  prices: v.optional(
    v.record(name('model'), ParsedPriceSchema, 'prices must be an object of model to price'),
    {},
  ),
  keys: v.optional(
    v.object({
      /** Secret holding the pepper of the key hashes: HMAC-SHA256(pepper, key). */
      pepperSecretName: v.optional(name('pepperSecretName'), 'gateway-key-pepper'),
      /** How long a verified key (and a refused one) is remembered; a revocation takes effect within it. */
      cacheTtlMs: v.optional(nonNegativeInt('cacheTtlMs'), 30_000),
      /** After a rotation, the previous secret keeps working this long. */
      rotationGraceMs: v.optional(nonNegativeInt('rotationGraceMs'), 24 * 60 * 60 * 1000),
    }),
    {},
  ),
  budgets: v.optional(
    v.object({
      /** Worst-case output for a request without max_tokens, when the price catalogue gives no cap. */
      defaultMaxOutputTokens: v.optional(positiveInt('defaultMaxOutputTokens'), 16_384),
      /** Added to the prompt estimate, for models whose tokenizer splits text finer than OpenAI's. */
      inputMarginPercent: v.optional(nonNegativeInt('inputMarginPercent'), 10),
      /** Input a Responses request may carry unseen (previous_response_id, conversation), when the price gives no maxInputTokens. */
      defaultMaxInputTokens: v.optional(positiveInt('defaultMaxInputTokens'), 128_000),
      /** Worst case of one image input, when the price gives no imageInputTokens (gpt-4o-mini, high detail). */
      defaultImageInputTokens: v.optional(positiveInt('defaultImageInputTokens'), 48_169),
    }),
    {},
  ),
  /** Response cache (the stack's part of this object: mode and usage limits, lib/config.ts). */
  cache: v.optional(
    v.object({
      defaultTtlSeconds: v.optional(positiveInt('defaultTtlSeconds'), 3_600),
      /** Caps a request's `Cache-Control: max-age`. */
      maxTtlSeconds: v.optional(positiveInt('maxTtlSeconds'), 86_400),
      /** Answers larger than this are not stored. */
      maxEntryBytes: v.optional(positiveInt('maxEntryBytes'), 1_048_576),
      /** Part of every key: raising it makes every stored answer unreachable (they expire on their own). */
      version: v.optional(nonNegativeInt('version'), 1),
    }),
    {},
  ),
  streaming: v.optional(
    v.object({
      /** An SSE comment is sent when the upstream has been silent this long. */
      heartbeatMs: v.optional(positiveInt('heartbeatMs'), 15_000),
      /**
       * Lambda only: pad an SSE event with a comment up to this many bytes when it is the first one or
       * follows an idle gap, to push it past write buffering in the Lambda runtime. 0 turns it off.
       */
      flushPaddingBytes: v.optional(nonNegativeInt('flushPaddingBytes'), 0),
      /** What counts as an idle gap for `flushPaddingBytes`. */
      flushPaddingAfterIdleMs: v.optional(nonNegativeInt('flushPaddingAfterIdleMs'), 100),
    }),
    {},
  ),
});

export type GatewayConfigInput = v.InferInput<typeof GatewayConfigSchema>;
export type GatewayConfig = v.InferOutput<typeof GatewayConfigSchema>;
export type RouteConfig = GatewayConfig['routes'][number];
export type TargetConfig = RouteConfig['targets'][number];
export type TierConfig = GatewayConfig['tiers'][string];
export type PriceConfig = GatewayConfig['prices'][string];

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid gateway config:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const show = (value: unknown): string => {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text;
};

/** A schema issue as `field`: message, got: value (a missing required key is said plainly). */
export const describeIssue = (issue: v.BaseIssue<unknown>): string => {
  // A missing required key is reported by its parent object.
  const missing = issue.type === 'object' && issue.input === undefined && issue.path !== undefined;
  // The value at the issue's path: a check forwarded to a field reports the whole object as its input.
  const last = issue.path?.at(-1);
  const got = last?.origin === 'value' ? last.value : issue.input;
  return `\`${v.getDotPath(issue) ?? '(root)'}\`: ${missing ? 'is required' : issue.message}, got: ${show(got)}`;
};

/** Parses and checks a config document. Throws ConfigError listing every problem as `field: message, got: value`. */
export const parseGatewayConfig = (input: unknown): GatewayConfig => {
  const result = v.safeParse(GatewayConfigSchema, input);
  if (!result.success) {
    throw new ConfigError(result.issues.map(describeIssue));
  }
  const config = result.output;
  const problems: string[] = [];
  const seen = new Set<string>();
  config.routes.forEach((route, r) => {
    route.targets.forEach((target, t) => {
      const at = `routes.${r}.targets.${t}`;
      if (seen.has(target.id))
        problems.push(`\`${at}.id\`: target ids must be unique, got: ${show(target.id)}`);
      seen.add(target.id);
      if (target.baseUrl === '')
        problems.push(`\`${at}.baseUrl\`: is required for ${target.provider} targets, got: undefined`);
      if (target.provider === Provider.bedrock && !/^[a-z]{2}(-[a-z]+)+-\d$/.test(target.region))
        problems.push(
          `\`${at}.region\`: bedrock targets need the AWS region of their runtime endpoint (such as us-east-1), got: ${show(target.region)}`,
        );
      if (target.provider === Provider.azureOpenai) {
        if (target.apiVersion === undefined)
          problems.push(`\`${at}.apiVersion\`: is required for azure-openai targets, got: undefined`);
        if (target.model === undefined)
          problems.push(
            `\`${at}.model\`: the deployment name is required for azure-openai targets, got: undefined`,
          );
      }
    });
    if (route.targets.every((target) => target.weight === 0)) {
      problems.push(`\`routes.${r}.targets\`: at least one target needs a weight above 0, got: all 0`);
    }
  });
  for (const [tierName, tier] of Object.entries(config.tiers)) {
    let previous = -1;
    tier.volumeDiscounts.forEach((band, b) => {
      if (band.aboveMicroUsd <= previous)
        problems.push(
          `\`tiers.${tierName}.volumeDiscounts.${b}.aboveUsd\`: bands must be in increasing order, got: ${show(band.aboveMicroUsd / 1e6)}`,
        );
      previous = band.aboveMicroUsd;
    });
  }
  const target = config.fineTuning.target;
  const targets = config.routes.flatMap((route) => route.targets);
  if (target !== undefined && !targets.some((candidate) => candidate.id === target)) {
    problems.push(
      `\`fineTuning.target\`: must be the id of a target in the routes (${targets.map((t) => t.id).join(', ')}), got: ${show(target)}`,
    );
  }
  if (config.fineTuning.maxPollIntervalMs < config.fineTuning.pollIntervalMs) {
    problems.push(
      `\`fineTuning.maxPollIntervalMs\`: must be at least pollIntervalMs (${config.fineTuning.pollIntervalMs}), got: ${config.fineTuning.maxPollIntervalMs}`,
    );
  }
  const ruleNames = new Set<string>();
  config.filters.rules.forEach((rule, r) => {
    const at = `filters.rules.${r}`;
    if (ruleNames.has(rule.name))
      problems.push(`\`${at}.name\`: rule names must be unique, got: ${show(rule.name)}`);
    ruleNames.add(rule.name);
    if ((rule.pattern === undefined) === (rule.keywords === undefined)) {
      problems.push(
        `\`${at}\`: a rule needs either \`pattern\` or \`keywords\` (not both), got: ${rule.pattern === undefined ? 'neither' : 'both'}`,
      );
    }
    if (rule.validate !== undefined && rule.keywords !== undefined)
      problems.push(`\`${at}.validate\`: only pattern rules can be validated, got: ${show(rule.validate)}`);
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
};
