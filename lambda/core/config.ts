// The gateway's runtime configuration: schema, defaults and validation with messages that name field and value.
import * as v from 'valibot';

export const Provider = {
  openai: 'openai',
  azureOpenai: 'azure-openai',
  openaiCompatible: 'openai-compatible',
} as const;
export type ProviderName = (typeof Provider)[keyof typeof Provider];

const positiveInt = (what: string) =>
  v.pipe(
    v.number(`${what} must be a number`),
    v.integer(`${what} must be an integer`),
    v.minValue(1, `${what} must be at least 1`),
  );
const nonNegativeInt = (what: string) =>
  v.pipe(
    v.number(`${what} must be a number`),
    v.integer(`${what} must be an integer`),
    v.minValue(0, `${what} must be at least 0`),
  );
const name = (what: string) =>
  v.pipe(v.string(`${what} must be a string`), v.minLength(1, `${what} must not be empty`));

const TimeoutsSchema = v.object({
  connectMs: v.optional(positiveInt('connectMs'), 5_000),
  firstByteMs: v.optional(positiveInt('firstByteMs'), 300_000),
  idleMs: v.optional(positiveInt('idleMs'), 120_000),
});

const TargetSchema = v.object({
  id: v.pipe(name('id'), v.regex(/^[A-Za-z0-9._-]+$/, 'id must use only letters, digits, ".", "_" and "-"')),
  provider: v.picklist(
    Object.values(Provider),
    `provider must be one of ${Object.values(Provider).join(', ')}`,
  ),
  baseUrl: v.pipe(v.string('baseUrl must be a string'), v.url('baseUrl must be an absolute URL')),
  region: v.optional(name('region'), 'default'),
  /** Upstream model name (or the Azure deployment name). Left out: the model the client asked for. */
  model: v.optional(name('model')),
  apiVersion: v.optional(name('apiVersion')),
  /** Name of the secret holding the provider API key. Left out: no key is sent (e.g. a private vLLM). */
  secretName: v.optional(name('secretName')),
  weight: v.optional(nonNegativeInt('weight'), 1),
  priority: v.optional(nonNegativeInt('priority'), 0),
  timeouts: v.optional(TimeoutsSchema, {}),
});

const RouteSchema = v.object({
  model: name('model'),
  match: v.optional(v.picklist(['exact', 'prefix'], 'match must be "exact" or "prefix"'), 'exact'),
  targets: v.pipe(
    v.array(TargetSchema, 'targets must be an array'),
    v.minLength(1, 'targets must list at least one target'),
  ),
});

export const GatewayConfigSchema = v.object({
  routes: v.pipe(
    v.array(RouteSchema, 'routes must be an array'),
    v.minLength(1, 'routes must list at least one route'),
  ),
  limits: v.optional(
    v.object({ maxBodyBytes: v.optional(positiveInt('maxBodyBytes'), 4 * 1024 * 1024) }),
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

/** Parses and checks a config document. Throws ConfigError listing every problem as `field: message, got: value`. */
export const parseGatewayConfig = (input: unknown): GatewayConfig => {
  const result = v.safeParse(GatewayConfigSchema, input);
  if (!result.success) {
    throw new ConfigError(
      result.issues.map((issue) => {
        // A missing required key is reported by its parent object; say it plainly.
        const missing = issue.type === 'object' && issue.input === undefined && issue.path !== undefined;
        return `\`${v.getDotPath(issue) ?? '(root)'}\`: ${missing ? 'is required' : issue.message}, got: ${show(issue.input)}`;
      }),
    );
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
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
};
