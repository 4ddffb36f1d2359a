// The small interfaces the core needs from the outside world. Each has an in-memory twin in adapters/memory.

/** Wall clock and timers, injected so that core logic and tests control time. */
export interface Clock {
  /** Milliseconds since the epoch (may carry a fraction). */
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Who is calling: the result of authenticating a gateway key. */
export interface Principal {
  readonly tenantId: string;
  readonly keyId: string;
  /** The tenant's tier (config `tiers`): budget, prices and limits come from it. */
  readonly tier: string;
  /** Models this key may use; undefined: every model the tier allows. */
  readonly models?: readonly string[] | undefined;
  /** The tenant's monthly budget in micro-USD (tenant override, else the tier's); undefined: no budget. */
  readonly monthlyBudgetMicroUsd?: number | undefined;
}

export const KeyStatus = { active: 'active', revoked: 'revoked' } as const;
export type KeyStatusName = (typeof KeyStatus)[keyof typeof KeyStatus];
export const TenantStatus = { active: 'active', suspended: 'suspended' } as const;
export type TenantStatusName = (typeof TenantStatus)[keyof typeof TenantStatus];

/** A tenant: a team or customer that owns keys, has a tier and is billed. Times are ms since the epoch. */
export interface TenantRecord {
  readonly tenantId: string;
  readonly name: string;
  readonly tier: string;
  readonly status: TenantStatusName;
  /** Overrides the tier's monthly budget (micro-USD). */
  readonly monthlyBudgetMicroUsd?: number | undefined;
  /** The API Gateway API key of the tenant's usage plan (AWS only): its id, and the value the authorizer returns. */
  readonly usagePlanKeyId?: string | undefined;
  readonly usagePlanKeyValue?: string | undefined;
  readonly createdAt: number;
}

/** A gateway key as stored: never the key itself, only HMAC-SHA256(pepper, key) as hex. */
export interface KeyRecord {
  readonly keyId: string;
  readonly tenantId: string;
  /** What the key starts with, safe to show (`sk-gw-abcd1234…`). */
  readonly displayPrefix: string;
  readonly name?: string | undefined;
  readonly secretHash: string;
  /** After a rotation: the previous secret's hash, valid until `previousValidUntil`. */
  readonly previousSecretHash?: string | undefined;
  readonly previousValidUntil?: number | undefined;
  readonly status: KeyStatusName;
  readonly expiresAt?: number | undefined;
  readonly models?: readonly string[] | undefined;
  readonly cidrs?: readonly string[] | undefined;
  readonly createdAt: number;
  readonly rotatedAt?: number | undefined;
  readonly revokedAt?: number | undefined;
}

/** What the request path reads: a key by id and its tenant. */
export interface KeyStore {
  getKey(keyId: string): Promise<KeyRecord | undefined>;
  getTenant(tenantId: string): Promise<TenantRecord | undefined>;
}

/** A write that would overwrite or contradict what is stored (already exists, changed meanwhile, not found). */
export class StoreConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreConflictError';
  }
}

/** What the admin CLI changes. Every write is conditional: it never overwrites a record it did not expect. */
export interface KeyAdminStore extends KeyStore {
  /** Throws StoreConflictError when the tenant id exists. */
  createTenant(tenant: TenantRecord): Promise<void>;
  /** Replaces the tenant record; throws StoreConflictError when it does not exist. */
  updateTenant(tenant: TenantRecord): Promise<void>;
  /** Removes a tenant (used to undo a half-done create); no error when it does not exist. */
  deleteTenant(tenantId: string): Promise<void>;
  listTenants(): Promise<TenantRecord[]>;
  /** Throws StoreConflictError when the key id exists. */
  createKey(key: KeyRecord): Promise<void>;
  listKeys(tenantId: string): Promise<KeyRecord[]>;
  /**
   * Replaces the secret of an active key, keeping the old one valid until `previousValidUntil`.
   * Throws StoreConflictError when the key is missing, revoked, or its current hash is not `expectedSecretHash`.
   */
  rotateKey(
    keyId: string,
    change: {
      readonly expectedSecretHash: string;
      readonly secretHash: string;
      readonly previousValidUntil: number;
      readonly rotatedAt: number;
    },
  ): Promise<KeyRecord>;
  /** Marks a key revoked (idempotent); throws StoreConflictError when it does not exist. */
  revokeKey(keyId: string, revokedAt: number): Promise<KeyRecord>;
}

/** Upstream API keys and other secret values, by name. */
export interface SecretSource {
  get(name: string, options?: { readonly fresh?: boolean }): Promise<string>;
}

export interface UpstreamRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array | undefined;
  /** Give up when no connection is made within this time. */
  readonly connectTimeoutMs: number;
  /** Give up when the response headers have not arrived within this time after sending. */
  readonly firstByteTimeoutMs: number;
  readonly signal: AbortSignal;
}

/**
 * An upstream body: a web ReadableStream, or something lighter with the same reader shape (creating a
 * web stream costs ~25 µs per request on Node 20, ~6 µs on Node 24).
 */
export type UpstreamBody = ReadableStream<Uint8Array> | LightUpstreamBody;
export interface LightUpstreamBody {
  getReader(): UpstreamBodyReader;
  cancel(reason?: unknown): Promise<void>;
}
export interface UpstreamBodyReader {
  read(): Promise<{ done: false; value: Uint8Array } | { done: true; value?: undefined }>;
  /**
   * What `read()` would give at once, without a wait: a chunk already received, or the end already reached;
   * undefined when the next read would wait (or fail). Lets a whole answer that has already arrived be taken
   * without a timer or a promise per chunk. Optional: a reader without it is read with `read()`.
   */
  readNow?(): { done: false; value: Uint8Array } | { done: true; value?: undefined } | undefined;
  cancel(reason?: unknown): Promise<void>;
}

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The body as it arrives. Cancelling it releases the connection. */
  readonly body: UpstreamBody;
}

/** Why an upstream call failed before it produced a response. */
export const UpstreamFailure = {
  connect: 'connect',
  timeout: 'timeout',
  reset: 'reset',
  aborted: 'aborted',
} as const;
export type UpstreamFailureKind = (typeof UpstreamFailure)[keyof typeof UpstreamFailure];

export class UpstreamError extends Error {
  constructor(
    readonly kind: UpstreamFailureKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UpstreamError';
  }
}

/** A request about to be sent, as a signer sees it. */
export interface SignableRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array | undefined;
}

/**
 * Signs requests to AWS services (SigV4) with the runtime's credentials: in Lambda its role's, locally the AWS
 * SDK's default chain. Returns the headers to add (authorization, x-amz-date, x-amz-security-token, …).
 */
export interface RequestSigner {
  sign(
    request: SignableRequest,
    scope: { readonly service: string; readonly region: string },
  ): Promise<Record<string, string>>;
}

/** Sends one HTTP request to a provider. Rejects with UpstreamError when no response arrives. */
export interface Upstream {
  send(request: UpstreamRequest): Promise<UpstreamResponse>;
}

/** How a request ended, from the gateway's point of view. */
export const RequestOutcome = {
  complete: 'complete',
  clientAbort: 'client_abort',
  upstreamError: 'upstream_error',
  timeout: 'timeout',
  rejected: 'rejected',
  /** A response content rule blocked the answer after the upstream produced (some of) it. */
  contentFiltered: 'content_filtered',
} as const;
export type RequestOutcomeKind = (typeof RequestOutcome)[keyof typeof RequestOutcome];

export interface TokenUsage {
  readonly inputTokens: number;
  readonly cachedInputTokens: number;
  readonly outputTokens: number;
  readonly reasoningTokens: number;
  /** Fine-tuning: tokens trained on (priced at the model's `training` price). @default 0 */
  readonly trainedTokens?: number | undefined;
  /**
   * Input tokens written to the provider's prompt cache (Anthropic, Bedrock), counted inside `inputTokens` and
   * priced at the model's `cacheWrite` price. @default 0
   */
  readonly cacheWriteTokens?: number | undefined;
}

/** One request's usage as the gateway saw it, priced: what metering stores. */
export interface UsageRecord {
  readonly requestId: string;
  readonly tenantId: string;
  readonly keyId: string;
  readonly tier: string;
  readonly endpoint: string;
  readonly model: string;
  readonly targetId: string | undefined;
  readonly status: number;
  readonly outcome: RequestOutcomeKind;
  /** Tokens as reported by the upstream, or estimated with the tokenizer (`exact: false`). */
  readonly usage: TokenUsage;
  /** False when the counts are the gateway's estimate (stream cut short, no usage reported). */
  readonly exact: boolean;
  readonly cacheHit: boolean;
  /** Cost at the catalogue price, rounded up to the micro-dollar. */
  readonly costMicroUsd: number;
  /**
   * What the gateway believes the budget held for this request (for logs and audits). The ledger releases what
   * the hold itself holds, which differs when a reservation failed ambiguously (its write landed, the call threw).
   */
  readonly reservedMicroUsd: number;
  /** The billing month, `YYYY-MM` (UTC), of `startedAt`. */
  readonly month: string;
  readonly startedAt: number;
  readonly latencyMs: number;
  readonly ttfbMs: number | undefined;
  /**
   * The budget hold this record releases, when it is not the record's own request id (a batch's hold is placed
   * before the upstream names the batch). It must be in the record's month. @default requestId
   */
  readonly holdId?: string | undefined;
}

/** Monthly totals for a tenant, or a tenant and a model. All integers. */
export interface UsageRollup {
  /** Every request answered, whatever its outcome: the three counts below are parts of it. */
  readonly requests: number;
  /** Requests the gateway refused (outcome `rejected`: a 4xx of the gateway or passed on from the upstream). */
  readonly refusedRequests: number;
  /** Requests that failed on the gateway's or the upstream's side (outcomes `upstream_error` and `timeout`). */
  readonly failedRequests: number;
  /** Requests the client gave up on before the answer ended (outcome `client_abort`); billed for what was spent. */
  readonly abortedRequests: number;
  readonly inputTokens: number;
  readonly cachedInputTokens: number;
  readonly outputTokens: number;
  readonly reasoningTokens: number;
  readonly trainedTokens: number;
  readonly costMicroUsd: number;
  readonly cacheHits: number;
  readonly estimatedRequests: number;
}

export interface MonthlyUsage {
  readonly total: UsageRollup;
  readonly byModel: ReadonlyMap<string, UsageRollup>;
}

export interface UsageLedger {
  /**
   * Writes the record, adds it to the tenant's and the tenant×model monthly rollups, moves its cost into the
   * budget's spend and releases the request's hold (the amount stored in the hold, whatever the record's
   * `reservedMicroUsd` says; nothing when it has none), all at once. Idempotent by request id: a replay returns
   * 'duplicate' and changes nothing.
   */
  record(record: UsageRecord): Promise<'recorded' | 'duplicate'>;
  monthlyUsage(tenantId: string, month: string): Promise<MonthlyUsage>;
}

export interface BudgetHold {
  readonly tenantId: string;
  readonly month: string;
  readonly requestId: string;
  readonly amountMicroUsd: number;
  readonly limitMicroUsd: number;
  /**
   * Held until a usage record releases it, however long that takes (a batch's, for up to a day or more): stores
   * that release the holds of requests that died (the local store's upkeep) leave it alone. @default false
   */
  readonly lasting?: boolean | undefined;
}

/** The budget of a tenant for a month: spend of written records plus the holds of requests in flight. */
export interface BudgetState {
  readonly spentMicroUsd: number;
  readonly committedMicroUsd: number;
}

export interface BudgetStore {
  /**
   * Adds a hold of `amountMicroUsd` in one atomic conditional write, only when spend plus holds stays within
   * `limitMicroUsd`. Idempotent by request id. When refused, returns what was committed at that moment.
   */
  reserve(
    hold: BudgetHold,
  ): Promise<{ readonly admitted: true } | { readonly admitted: false; readonly committedMicroUsd: number }>;
  budget(tenantId: string, month: string): Promise<BudgetState>;
}

/**
 * The response cache: opaque string values with a time to live. Keys are built by the core and always
 * start with the tenant id. Implementations may throw; the core treats any error as a miss.
 */
export interface ResponseCache {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
}

/** What the gateway created upstream for a tenant, and remembers it owns. */
export const OwnedKind = {
  file: 'file',
  upload: 'upload',
  job: 'job',
  model: 'model',
  /** A Responses API answer (`resp_…`), stored upstream unless the request said `store: false`. */
  response: 'response',
  conversation: 'conversation',
  /** An item of a response or a conversation (`msg_…`, `rs_…`, `fc_…`, …), which later requests may name. */
  item: 'item',
  /** A code interpreter container a response created (`cntr_…`). */
  container: 'container',
  /** A chat completion's audio answer (`audio_…`), which a later assistant message may name. */
  audio: 'audio',
  /** A batch (`batch_…`): its input file's requests run upstream at the batch price. */
  batch: 'batch',
} as const;
export type OwnedKindName = (typeof OwnedKind)[keyof typeof OwnedKind];
/** Kinds a tenant lists (`GET /v1/files`, …): the stores keep a per-tenant index of these only. */
export const LISTED_KINDS: ReadonlySet<OwnedKindName> = new Set([
  OwnedKind.file,
  OwnedKind.upload,
  OwnedKind.job,
  OwnedKind.model,
  OwnedKind.batch,
]);

/** What the job tracker keeps of a fine-tuning job or a batch. */
export interface JobTracking {
  /**
   * The status as last recorded: a job's (validating_files, queued, running, succeeded, failed, cancelled), a
   * batch's (validating, in_progress, finalizing, completed, failed, expired, cancelling, cancelled).
   */
  readonly status: string;
  /** The status the last status-change event was published for; differs from `status` until one is. */
  readonly announcedStatus: string | undefined;
  /**
   * Its usage is in the ledger: a succeeded job's trained tokens (usage record `fine-tune#<jobId>`), an ended
   * batch's tokens (`batch#<batchId>`).
   */
  readonly metered: boolean;
  /** Nothing left to do: a final status, announced and (if billable) metered. The store stops listing it as due. */
  readonly done: boolean;
  /**
   * A tracker is publishing the event for this status until `until` (ms): others leave it alone meanwhile, and
   * take it over after, should that tracker have died.
   */
  readonly announcing?: { readonly status: string; readonly until: number } | undefined;
  /** When the tracker looks at the job next (ms since the epoch), and how long it waits after that. */
  readonly nextPollAt: number;
  readonly pollIntervalMs: number;
}

/**
 * A file, upload, fine-tuning job or fine-tuned model that the gateway created for a tenant: every use of its id
 * is checked against this record, and lists are built from these records, never from the upstream's lists.
 */
export interface OwnedObject {
  readonly kind: OwnedKindName;
  /** The upstream's id (`file-…`, `upload_…`, `ftjob-…`), or a fine-tuned model's name (`ft:…`). */
  readonly id: string;
  readonly tenantId: string;
  /** The key that created it (metering of a fine-tuning job names it). */
  readonly keyId: string;
  /** The config target (`routes[].targets[].id`) that holds it upstream. */
  readonly targetId: string;
  /** Ms since the epoch. */
  readonly createdAt: number;
  /** 1 when created; every update adds 1 and is conditional on the version before it. */
  readonly version: number;
  /** The upstream's object as last seen: what lists return. */
  readonly object: Readonly<Record<string, unknown>>;
  /** Uploads: the ids of the parts added through the gateway. */
  readonly parts?: readonly string[] | undefined;
  /** Jobs and batches: what the tracker needs. */
  readonly tracking?: JobTracking | undefined;
  /** Batch input files: what their lines ask, checked at upload. Batches: the same, copied from their file. */
  readonly batchInput?: BatchInput | undefined;
  /** Batches: the budget hold placed when the batch was created, released by its usage record. */
  readonly batchHold?: BatchHold | undefined;
  /** A batch's output or error file: which batch made it, and the endpoint its answers are of. */
  readonly batchResult?: { readonly batchId: string; readonly endpoint: string } | undefined;
  /**
   * Ms since the epoch after which the record no longer counts (the upstream has forgotten the object): readers
   * treat it as absent, and stores may delete it. @default - kept until removed
   */
  readonly expiresAt?: number | undefined;
}

/** What the gateway read in a batch input file when it was uploaded: every line checked, and what they hold. */
export interface BatchInput {
  /** The endpoint every line calls, as the client named it (`/v1/chat/completions`). */
  readonly endpoint: string;
  /** The model every line names, as the client named it (usage is recorded under it). */
  readonly model: string;
  /** The model the upstream was sent (the target's `model`, else the client's). */
  readonly upstreamModel: string;
  readonly lines: number;
  /** The lines' prompt tokens, with the budget's margin: a batch of the file holds them at its input price. */
  readonly inputTokens: number;
  /** The lines' output caps: a batch of the file holds them at its output price. */
  readonly outputTokens: number;
}

/** The budget hold of a batch: placed under `holdId` when it was created, in `month`. */
export interface BatchHold {
  /** The hold's request id in the budget store: `batch-hold#<request id of the create>`. */
  readonly holdId: string;
  readonly month: string;
  /** 0 when nothing was held (no budget, or a free model). */
  readonly amountMicroUsd: number;
}

export interface OwnedPage {
  readonly items: readonly OwnedObject[];
  readonly hasMore: boolean;
}

export interface OwnershipStore {
  /** Records a new object; throws StoreConflictError when one of that kind and id exists. */
  create(object: OwnedObject): Promise<void>;
  get(kind: OwnedKindName, id: string): Promise<OwnedObject | undefined>;
  /**
   * The tenant's objects of a kind, newest first (by createdAt, then id). `after` continues after that id,
   * which must be one of the tenant's (else the page is empty). Only LISTED_KINDS are listed.
   */
  list(
    tenantId: string,
    kind: OwnedKindName,
    page: { readonly after?: string | undefined; readonly limit: number },
  ): Promise<OwnedPage>;
  /**
   * Stores `object` (its object, parts and tracking) when the stored version is `object.version - 1`; false when
   * the record changed meanwhile or is gone. Tenant, kind, id and createdAt never change.
   */
  update(object: OwnedObject): Promise<boolean>;
  /** Removes the record; nothing happens when it does not exist. */
  remove(kind: OwnedKindName, id: string): Promise<void>;
  /**
   * Jobs and batches whose tracking is not done and whose next poll is at or before `now`, soonest first, at
   * most `limit`.
   */
  dueJobs(now: number, limit: number): Promise<OwnedObject[]>;
}

/** A fine-tuning job or a batch changed status: published so operators can hook notifications (EventBridge in AWS). */
export interface JobStatusChange {
  /** What changed: a fine-tuning job or a batch. @default OwnedKind.job */
  readonly kind?: typeof OwnedKind.job | typeof OwnedKind.batch | undefined;
  /** The job's or the batch's id. */
  readonly jobId: string;
  readonly tenantId: string;
  readonly targetId: string;
  readonly model: string;
  readonly status: string;
  readonly previousStatus: string | undefined;
  readonly fineTunedModel: string | undefined;
  readonly trainedTokens: number | undefined;
  /** Ms since the epoch, when the gateway saw the change. */
  readonly observedAt: number;
}

export interface JobEvents {
  /** Publishes one status change; rejects when it was not accepted (the tracker tries again later). */
  publish(change: JobStatusChange): Promise<void>;
}

/** Counts tokens the way the model's tokenizer does. */
export interface TokenCounter {
  /** Tokens in `text`. Before the tokenizer has loaded: an upper bound (never fewer than the real count). */
  count(text: string): number;
  /** Resolves once counts are exact rather than upper bounds. */
  ready(): Promise<void>;
}

export type MetricUnit = 'Count' | 'Milliseconds';
export interface MetricValue {
  readonly name: string;
  readonly value: number;
  readonly unit: MetricUnit;
}
/** One batch of values sharing dimensions; the EMF adapter writes one log line per batch. */
export interface MetricBatch {
  readonly dimensions: Readonly<Record<string, string>>;
  readonly values: readonly MetricValue[];
}
export interface Metrics {
  emit(batch: MetricBatch): void;
}

export type LogFields = Readonly<Record<string, unknown>>;
export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}
