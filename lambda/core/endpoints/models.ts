// GET /v1/models and /v1/models/{id}: the configured models the caller may use, and its tenant's fine-tuned ones.
import { OwnedKind, type Principal } from '../../ports.ts';
import type { GatewayContext } from '../context.ts';
import { modelNotFound } from '../errors.ts';
import { jsonResponse } from '../exchange.ts';
import type { RouteHandler } from '../route-table.ts';
import { baseHeaders } from '../state.ts';

interface ModelEntry {
  readonly id: string;
  readonly object: 'model';
  readonly created: number;
  readonly owned_by: 'gateway';
}

/** The tenant's fine-tuned models, as model objects (newest first). */
const ownedModels = async (
  g: GatewayContext,
  principal: Principal,
): Promise<Array<Record<string, unknown>>> => {
  const ownership = g.deps.ownership;
  if (ownership === undefined) return [];
  const models: Array<Record<string, unknown>> = [];
  let after: string | undefined;
  for (;;) {
    const page = await ownership.list(principal.tenantId, OwnedKind.model, { after, limit: 100 });
    for (const item of page.items) {
      const { base_model: _base, ...model } = item.object;
      models.push(model);
    }
    after = page.items.at(-1)?.id;
    if (!page.hasMore || after === undefined) return models;
  }
};

export const modelRoutes = (g: GatewayContext) => {
  const created = Math.floor(g.clock.now() / 1000);
  const configured: ModelEntry[] = g.routes.modelIds.map((id) => ({
    id,
    object: 'model',
    created,
    owned_by: 'gateway',
  }));
  const everyModel = { object: 'list', data: configured };

  const restricted = (principal: Principal) =>
    principal.models !== undefined || g.config.tiers[principal.tier]?.models !== undefined;

  const list: RouteHandler = async (_g, state) => {
    const principal = state.principal!;
    const limited = restricted(principal);
    const visible = limited ? configured.filter((entry) => g.mayUse(principal, entry.id)) : configured;
    const fineTuned = await ownedModels(g, principal);
    const body =
      fineTuned.length === 0 && !limited ? everyModel : { object: 'list', data: [...visible, ...fineTuned] };
    return jsonResponse(200, body, baseHeaders(state, g.clock.now()));
  };

  const retrieve: RouteHandler = async (_g, state, _request, params) => {
    const principal = state.principal!;
    const raw = params[0] ?? '';
    let id: string;
    try {
      id = decodeURIComponent(raw);
    } catch {
      id = raw; // a malformed escape names no model; it must not become a 500
    }
    let model: object | undefined;
    if (id.startsWith('ft:')) {
      const owned = await g.fineTuned.find(principal, id);
      if (owned !== undefined) {
        const { base_model: _base, ...shown } = owned.record.object;
        model = shown;
      }
    } else {
      model = configured.find((entry) => entry.id === id && g.mayUse(principal, entry.id));
    }
    if (model === undefined) throw modelNotFound(id, null);
    return jsonResponse(200, model, baseHeaders(state, g.clock.now()));
  };

  return [
    { path: '/v1/models', methods: { GET: list } },
    { path: '/v1/models/{id+}', methods: { GET: retrieve } },
  ];
};
