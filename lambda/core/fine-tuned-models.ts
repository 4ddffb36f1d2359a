// Fine-tuned models (`ft:…`) by name: each is its tenant's, routed to the target that trained it, never by the
// config's routes. Looked up in the ownership records and kept a while: ownership never changes, so a hit is
// reused for longer than a miss.
import { type Clock, OwnedKind, type OwnedObject, type OwnershipStore, type Principal } from '../ports.ts';
import type { RouteConfig } from './config.ts';
import type { TargetClient } from './upstream/client.ts';

export interface FineTunedModel {
  readonly record: OwnedObject;
  /** A route of one target: the one that trained it. */
  readonly route: RouteConfig;
  /** The model it was trained from, for allowlists and prices. */
  readonly baseModel: string | undefined;
}

export interface FineTunedModels {
  /** The caller's tenant's fine-tuned model of this name; undefined when it does not own it, whoever does. */
  find(principal: Principal, name: string): Promise<FineTunedModel | undefined>;
}

const HIT_MS = 5 * 60_000;
const MISS_MS = 5_000;
const REMEMBERED_MAX = 10_000;

export const createFineTunedModels = (deps: {
  readonly ownership: OwnershipStore | undefined;
  readonly targets: TargetClient;
  readonly clock: Clock;
}): FineTunedModels => {
  const { ownership } = deps;
  const known = new Map<string, { model: FineTunedModel | undefined; until: number }>();

  const lookUp = async (name: string): Promise<FineTunedModel | undefined> => {
    const record = await ownership?.get(OwnedKind.model, name);
    const target = record === undefined ? undefined : deps.targets.target(record.targetId);
    if (record === undefined || target === undefined) return undefined;
    const { model: _upstreamModel, ...trained } = target;
    return {
      record,
      route: { model: name, match: 'exact', cache: true, targets: [{ ...trained, weight: 1, priority: 0 }] },
      baseModel: typeof record.object.base_model === 'string' ? record.object.base_model : undefined,
    };
  };

  return {
    async find(principal, name) {
      if (ownership === undefined) return undefined;
      const now = deps.clock.now();
      let cached = known.get(name);
      if (cached === undefined || cached.until <= now) {
        const model = await lookUp(name);
        cached = { model, until: now + (model === undefined ? MISS_MS : HIT_MS) };
        if (known.size > REMEMBERED_MAX) known.clear();
        known.set(name, cached);
      }
      return cached.model?.record.tenantId === principal.tenantId ? cached.model : undefined;
    },
  };
};
