// Ownership of the ids a request names and an answer creates: every id in a request body is checked against the
// tenant's records before the request leaves (404 for one it does not own, whoever does), and every id an answer
// creates (a response, its items, a container, an audio answer) is recorded for the tenant before the client
// could name it.
import {
  type Clock,
  type Logger,
  type Metrics,
  OwnedKind,
  type OwnedKindName,
  type OwnedObject,
  type OwnershipStore,
  type Principal,
  StoreConflictError,
} from '../ports.ts';
import { IdKind, type IdKindName, type IdReference } from './body-ids.ts';
import type { TargetConfig } from './config.ts';
import {
  type GatewayError,
  invalidRequest,
  objectNotFound,
  ownershipUnavailable,
  upstreamUnavailable,
} from './errors.ts';

/** Kinds the gateway records for tenants; the others (vector stores, skills, …) are never a tenant's. */
const RECORDED: Readonly<Partial<Record<IdKindName, OwnedKindName>>> = {
  [IdKind.file]: OwnedKind.file,
  [IdKind.response]: OwnedKind.response,
  [IdKind.conversation]: OwnedKind.conversation,
  [IdKind.item]: OwnedKind.item,
  [IdKind.container]: OwnedKind.container,
  [IdKind.audio]: OwnedKind.audio,
};

/** What the upstream calls each kind in its own 404s. */
const NOUN: Readonly<Record<IdKindName, string>> = {
  file: 'File',
  response: 'Response',
  conversation: 'Conversation',
  item: 'Item',
  container: 'Container',
  audio: 'Audio',
  vector_store: 'Vector store',
  skill: 'Skill',
  tunnel: 'MCP tunnel',
  prompt: 'Prompt',
  voice: 'Voice',
};

/** Kinds the gateway never creates, hence never lets a request name: why, for the 404's message. */
const NEVER_A_TENANTS: Readonly<Partial<Record<IdKindName, string>>> = {
  vector_store: 'this gateway does not serve vector stores',
  skill: 'this gateway does not serve skills',
  tunnel: 'this gateway does not serve MCP tunnels',
  prompt: 'this gateway does not serve prompt templates',
  voice: 'this gateway does not serve custom voices',
};

/**
 * How long a record of what an answer created counts: the upstream keeps stored responses at least 30 days and
 * containers and audio answers far less; past this the gateway refuses the id (as the upstream would).
 */
export const ANSWER_OBJECT_LIFETIME_MS = 90 * 24 * 60 * 60 * 1000;
/** Records are reused this long in memory: ownership never changes, and removal shows upstream as a 404. */
const REMEMBER_MS = 5 * 60_000;
const REMEMBERED_MAX = 50_000;

/** The 404 for an id the tenant does not own: the same whether it does not exist or is someone else's. */
export const idNotFound = (reference: IdReference): GatewayError => {
  const never = NEVER_A_TENANTS[reference.kind];
  const message =
    reference.kind === IdKind.file
      ? `No such File object: ${reference.id}.`
      : reference.param === 'previous_response_id'
        ? `Previous response with id '${reference.id}' not found.`
        : `${NOUN[reference.kind]} with id '${reference.id}' not found${never === undefined ? '' : `: ${never}`}.`;
  return objectNotFound(message, reference.param);
};

/** Ownership records by `<kind>#<id>`, as one check found them. */
export type OwnedRecords = ReadonlyMap<string, OwnedObject>;
const keyOf = (kind: string, id: string): string => `${kind}#${id}`;
export const NO_RECORDS: OwnedRecords = new Map();

export interface OwnedIdsDeps {
  readonly ownership: OwnershipStore | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export interface OwnedIds {
  /**
   * The tenant's records of every id in `references`; throws the 404 of the first it does not own (in body
   * order), or a 503 when the records cannot be read. Nothing is sent anywhere before this resolves.
   */
  check(principal: Principal, references: readonly IdReference[]): Promise<OwnedRecords>;
  /** A record the tenant's request just created, for later checks (and the store, when `store`). */
  record(object: OwnedObject): Promise<void>;
  /** Forgets what is remembered of an id (after a delete). */
  forget(kind: OwnedKindName, id: string): void;
}

export const createOwnedIds = (deps: OwnedIdsDeps): OwnedIds => {
  const { clock, logger } = deps;
  const remembered = new Map<string, { readonly record: OwnedObject; readonly until: number }>();

  const remember = (record: OwnedObject) => {
    if (remembered.size >= REMEMBERED_MAX) remembered.clear();
    remembered.set(keyOf(record.kind, record.id), { record, until: clock.now() + REMEMBER_MS });
  };

  const lookUp = async (kind: OwnedKindName, id: string): Promise<OwnedObject | undefined> => {
    const now = clock.now();
    const known = remembered.get(keyOf(kind, id));
    if (known !== undefined && known.until > now) return known.record;
    if (deps.ownership === undefined) return undefined;
    const record = await deps.ownership.get(kind, id);
    if (record !== undefined) remember(record);
    return record;
  };

  const counts = (record: OwnedObject | undefined, principal: Principal): record is OwnedObject =>
    record !== undefined &&
    record.tenantId === principal.tenantId &&
    (record.expiresAt === undefined || record.expiresAt > clock.now());

  return {
    async check(principal, references) {
      if (references.length === 0) return NO_RECORDS;
      const unique = new Map<string, IdReference>();
      for (const reference of references) {
        const key = keyOf(reference.kind, reference.id);
        if (!unique.has(key)) unique.set(key, reference);
      }
      const wanted = [...unique.values()];
      // The first foreign kind in body order is refused without reading anything.
      for (const reference of wanted) if (RECORDED[reference.kind] === undefined) throw idNotFound(reference);
      let records: Array<OwnedObject | undefined>;
      try {
        records = await Promise.all(
          wanted.map((reference) => lookUp(RECORDED[reference.kind]!, reference.id)),
        );
      } catch (error) {
        throw ownershipUnavailable(
          'The gateway could not check the ids in your request. Try again shortly.',
          error,
        );
      }
      const found = new Map<string, OwnedObject>();
      wanted.forEach((reference, i) => {
        const record = records[i];
        if (!counts(record, principal)) throw idNotFound(reference);
        found.set(keyOf(reference.kind, reference.id), record);
      });
      return found;
    },

    async record(object) {
      if (deps.ownership === undefined) return;
      try {
        await deps.ownership.create(object);
      } catch (error) {
        if (!(error instanceof StoreConflictError)) throw error;
        // Seen before (a container used by two responses, a record written by a retried request): the same
        // tenant's is fine; another tenant's would mean two tenants got the same upstream id.
        const existing = await deps.ownership.get(object.kind, object.id);
        if (existing !== undefined && existing.tenantId !== object.tenantId) {
          logger.error('an answer named an id recorded for another tenant', {
            kind: object.kind,
            id: object.id,
          });
          return;
        }
        if (existing !== undefined) remember(existing);
        return;
      }
      remember(object);
    },

    forget(kind, id) {
      remembered.delete(keyOf(kind, id));
    },
  };
};

/** The upstream account a target calls: objects created through one target exist for every target of its account. */
export const accountOf = (target: TargetConfig): string =>
  `${target.provider} ${target.baseUrl.replace(/\/+$/, '')} ${target.secretName ?? ''} ${target.apiVersion ?? ''}`;

/**
 * The targets of a route that can serve a request naming `records`: those on the account that holds them. A 400
 * when the records are on two accounts, or on one that no target of the route calls.
 */
export const targetsHolding = (
  targets: TargetConfig[],
  records: OwnedRecords,
  targetById: (id: string) => TargetConfig | undefined,
  model: string,
): TargetConfig[] => {
  if (records.size === 0) return targets;
  const accounts = new Set<string>();
  for (const record of records.values()) {
    const holder = targetById(record.targetId);
    if (holder === undefined)
      throw upstreamUnavailable('The upstream that holds an object you named is not configured.');
    accounts.add(accountOf(holder));
  }
  if (accounts.size > 1) {
    throw invalidRequest(
      'The ids in the request name objects held by different upstreams: one request can use the objects of one upstream only.',
      null,
      'objects_on_different_upstreams',
    );
  }
  const [account] = accounts;
  const holding = targets.filter((target) => accountOf(target) === account);
  if (holding.length === 0) {
    throw invalidRequest(
      `The objects named in the request are held by an upstream that does not serve the model '${model}'.`,
      'model',
      'objects_on_other_upstream',
    );
  }
  return holding;
};
