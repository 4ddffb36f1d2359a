// What every stage of every request shares, built once per gateway: the ports, the config, and the services
// made from them (key verifier, upstream client, circuit breakers, ownership checks, usage writer, …).
import type {
  BudgetStore,
  Clock,
  JobEvents,
  KeyStore,
  Logger,
  Metrics,
  OwnershipStore,
  Principal,
  RequestSigner,
  ResponseCache,
  SecretSource,
  TokenCounter,
  Upstream,
  UsageLedger,
} from '../ports.ts';
import { type BackgroundWork, createBackgroundWork } from './background.ts';
import type { GatewayConfig } from './config.ts';
import { type ContentFilters, hasContentRules } from './content-rules.ts';
import { createFineTunedModels, type FineTunedModels } from './fine-tuned-models.ts';
import { createJobObserver, type JobObserver } from './jobs.ts';
import { createKeyVerifier, type KeyVerifier, modelAllowed } from './keys.ts';
import { createUsageWriter } from './ledger-writer.ts';
import { createOwnedIds, type OwnedIds } from './owned-ids.ts';
import { CircuitBreakers, createRouteTable, type RouteTable } from './routing.ts';
import { createTelemetry, type Telemetry } from './telemetry.ts';
import { createTargetClient, type TargetClient } from './upstream/client.ts';
import { createFailover, type Failover } from './upstream/failover.ts';

export interface GatewayDeps {
  readonly config: GatewayConfig;
  readonly keys: KeyStore;
  readonly budgets: BudgetStore;
  readonly tokens: TokenCounter;
  /** The response cache; left out, no request is cached (`x-gateway-cache: bypass`). */
  readonly cache?: ResponseCache | undefined;
  /** The config's content rules, compiled (compileContentFilters); required when the config enables any. */
  readonly filters?: ContentFilters | undefined;
  /** Ownership of files, uploads, jobs, responses, conversations; left out, those routes answer 503. */
  readonly ownership?: OwnershipStore | undefined;
  /** Where fine-tuning status changes go. @default - a log line per change */
  readonly jobEvents?: JobEvents | undefined;
  readonly secrets: SecretSource;
  readonly upstream: Upstream;
  /** Signs requests to AWS services (bedrock targets). @default - bedrock targets answer 502 */
  readonly signer?: RequestSigner | undefined;
  readonly ledger: UsageLedger;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock: Clock;
  /** [0, 1); injected so that weighted choice is testable. */
  readonly random?: () => number;
  readonly newRequestId?: () => string;
}

export interface GatewayContext {
  readonly deps: GatewayDeps;
  readonly config: GatewayConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly filters: ContentFilters | undefined;
  readonly newRequestId: () => string;
  /** Model name → route, for the config's routes. */
  readonly routes: RouteTable;
  readonly breakers: CircuitBreakers;
  readonly verifier: KeyVerifier;
  readonly targets: TargetClient;
  readonly failover: Failover;
  readonly ownedIds: OwnedIds;
  /** Looks at fine-tuning jobs (records, meters, announces); undefined without an ownership store. */
  readonly observer: JobObserver | undefined;
  readonly usageWriter: ReturnType<typeof createUsageWriter>;
  /** Cache stores, after their responses. */
  readonly cacheWrites: BackgroundWork;
  /** Settles each request once: its log line, metrics and usage record. */
  readonly telemetry: Telemetry;
  /** Tenants' fine-tuned models by name. */
  readonly fineTuned: FineTunedModels;
  /** The key's and the tier's model allowlists. */
  mayUse(principal: Principal, model: string): boolean;
}

export const createContext = (deps: GatewayDeps): GatewayContext => {
  const { config, clock, logger } = deps;
  if (hasContentRules(config.filters) && deps.filters === undefined) {
    // Never serve with rules configured but not applied.
    throw new Error(
      'the config enables content rules: pass them compiled as deps.filters (compileContentFilters)',
    );
  }
  const random = deps.random ?? Math.random;
  const breakers = new CircuitBreakers(config.breaker, clock);
  const targets = createTargetClient({
    config,
    secrets: deps.secrets,
    upstream: deps.upstream,
    signer: deps.signer,
  });
  const jobEvents: JobEvents = deps.jobEvents ?? {
    publish: async (change) =>
      logger.info(change.kind === 'batch' ? 'batch status changed' : 'fine-tuning job status changed', {
        ...change,
      }),
  };
  const usageWriter = createUsageWriter({ ledger: deps.ledger, logger, metrics: deps.metrics, clock });
  return {
    deps,
    config,
    clock,
    logger,
    metrics: deps.metrics,
    filters: deps.filters,
    newRequestId: deps.newRequestId ?? (() => crypto.randomUUID()),
    routes: createRouteTable(config.routes),
    breakers,
    verifier: createKeyVerifier({
      store: deps.keys,
      secrets: deps.secrets,
      pepperSecretName: config.keys.pepperSecretName,
      tiers: config.tiers,
      clock,
      cacheTtlMs: config.keys.cacheTtlMs,
    }),
    targets,
    failover: createFailover({
      client: targets,
      breakers,
      clock,
      random,
      logger,
      metrics: deps.metrics,
      retry: config.retry,
      cooldownMs: config.breaker.cooldownMs,
    }),
    ownedIds: createOwnedIds({ ownership: deps.ownership, clock, logger, metrics: deps.metrics }),
    observer:
      deps.ownership === undefined
        ? undefined
        : createJobObserver({
            config,
            ownership: deps.ownership,
            ledger: deps.ledger,
            events: jobEvents,
            keys: deps.keys,
            clock,
            logger,
            targets,
          }),
    usageWriter,
    cacheWrites: createBackgroundWork(),
    telemetry: createTelemetry({ deps, clock, logger, metrics: deps.metrics, usageWriter }),
    fineTuned: createFineTunedModels({ ownership: deps.ownership, targets, clock }),
    mayUse: (principal, model) =>
      modelAllowed(model, principal.models) && modelAllowed(model, config.tiers[principal.tier]?.models),
  };
};
