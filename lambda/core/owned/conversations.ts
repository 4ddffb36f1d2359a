// Stored responses and conversations: only the tenant's own, sent to the upstream that holds them; the ids their
// bodies name are checked like a proxied request's, and the item ids their answers show are recorded as the
// tenant's so that later requests may name them.
import { OwnedKind } from '../../ports.ts';
import { IdShape, type IdShapeName, idsInRequest } from '../body-ids.ts';
import type { TargetConfig } from '../config.ts';
import { jsonResponse } from '../exchange.ts';
import { ANSWER_OBJECT_LIFETIME_MS, targetsHolding } from '../owned-ids.ts';
import type { RouteSpec } from '../route-table.ts';
import { type Json, type OwnedCall, type OwnedCommon, type OwnedHandler, route } from './common.ts';

const search = (query: URLSearchParams): string => {
  const text = query.toString();
  return text === '' ? '' : `?${text}`;
};

export const conversationRoutes = (o: OwnedCommon): RouteSpec[] => {
  const { g } = o;

  /** Records item ids an answer shows the tenant (in an object it owns), so that later requests may name them. */
  const recordItems = async (call: OwnedCall, target: TargetConfig, items: unknown, expires: boolean) => {
    if (!Array.isArray(items)) return;
    const now = g.clock.now();
    const writes = items.flatMap((item) => {
      if (typeof item !== 'object' || item === null) return [];
      const { id, type } = item as Json;
      if (typeof id !== 'string' || id === '') return [];
      const record = o.newRecord(
        call,
        OwnedKind.item,
        target,
        { id, ...(typeof type === 'string' ? { type } : {}) },
        expires ? { expiresAt: now + ANSWER_OBJECT_LIFETIME_MS } : {},
      );
      return [
        g.ownedIds.record(record).catch((error: unknown) =>
          g.logger.error('an item id was not recorded', {
            requestId: call.requestId,
            id,
            error: String(error),
          }),
        ),
      ];
    });
    await Promise.all(writes);
  };

  /**
   * The ids a JSON body names, checked (404 for one the tenant does not own), and the target to send it to: the
   * one holding `holder` (the object in the path), on whose account the named objects must also be.
   */
  const checkBodyIds = async (
    call: OwnedCall,
    shape: IdShapeName,
    body: Json,
    holder: TargetConfig | undefined,
  ): Promise<TargetConfig> => {
    const records = await g.ownedIds.check(call.principal, idsInRequest(shape, body));
    if (records.size === 0) return holder ?? o.newObjectsTarget();
    // A new conversation goes where the objects it names are.
    const candidate = holder ?? o.targetOf(records.values().next().value!);
    return targetsHolding([candidate], records, g.targets.target, 'conversations')[0]!;
  };

  const listInputItems: OwnedHandler = async (call, id) => {
    const response = await o.owned(call.principal, OwnedKind.response, id);
    const target = o.targetOf(response);
    const exchanged = await o.exchange(call, target, {
      method: 'GET',
      path: `/responses/${encodeURIComponent(response.id)}/input_items${search(call.query)}`,
    });
    if (!exchanged.ok) return exchanged.response;
    await recordItems(call, target, exchanged.object.data, true);
    return jsonResponse(exchanged.status, exchanged.object, call.headers());
  };

  const createConversation: OwnedHandler = async (call) => {
    const { bytes, body } = o.readJson(call);
    const target = await checkBodyIds(call, IdShape.conversation, body, undefined);
    const created = await o.createOwned(
      call,
      OwnedKind.conversation,
      target,
      { path: '/conversations', headers: { 'content-type': 'application/json' }, body: bytes },
      (newId) => ({ method: 'DELETE', path: `/conversations/${encodeURIComponent(newId)}` }),
    );
    if (!created.ok) return created.response;
    return jsonResponse(created.status, created.record.object, call.headers());
  };

  /** A POST with a JSON body to an owned conversation (update, add items): its ids checked, its items recorded. */
  const conversationPost =
    (suffix: string, shape: IdShapeName): OwnedHandler =>
    async (call, id) => {
      const conversation = await o.owned(call.principal, OwnedKind.conversation, id);
      const { bytes, body } = o.readJson(call);
      const target = await checkBodyIds(call, shape, body, o.targetOf(conversation));
      const exchanged = await o.exchange(call, target, {
        method: 'POST',
        path: `/conversations/${encodeURIComponent(conversation.id)}${suffix}${search(call.query)}`,
        headers: { 'content-type': 'application/json' },
        body: bytes,
      });
      if (!exchanged.ok) return exchanged.response;
      if (suffix === '/items') await recordItems(call, target, exchanged.object.data, false);
      return jsonResponse(exchanged.status, exchanged.object, call.headers());
    };

  /** A GET (list or one item) or DELETE of an owned conversation's items; the items it shows are recorded. */
  const conversationItems =
    (method: 'GET' | 'DELETE'): OwnedHandler =>
    async (call, id, itemId) => {
      const conversation = await o.owned(call.principal, OwnedKind.conversation, id);
      const target = o.targetOf(conversation);
      const item = itemId === undefined ? '' : `/${encodeURIComponent(itemId)}`;
      const exchanged = await o.exchange(call, target, {
        method,
        path: `/conversations/${encodeURIComponent(conversation.id)}/items${item}${search(call.query)}`,
      });
      if (!exchanged.ok) return exchanged.response;
      if (method === 'GET') {
        // A list, or the one item asked for: either way items of the tenant's conversation.
        const items = itemId === undefined ? exchanged.object.data : [exchanged.object];
        await recordItems(call, target, items, false);
      }
      return jsonResponse(exchanged.status, exchanged.object, call.headers());
    };

  return [
    // Parts of the Responses API this gateway does not serve (not a response id's 405).
    { path: '/v1/responses/input_tokens', methods: {}, notServed: true },
    { path: '/v1/responses/compact', methods: {}, notServed: true },
    {
      path: '/v1/responses/{id}',
      methods: {
        GET: route(o.passThrough(OwnedKind.response, '')),
        DELETE: route(o.deleteOwned(OwnedKind.response)),
      },
    },
    {
      path: '/v1/responses/{id}/cancel',
      methods: { POST: route(o.passThrough(OwnedKind.response, '/cancel', 'POST')) },
    },
    { path: '/v1/responses/{id}/input_items', methods: { GET: route(listInputItems) } },
    { path: '/v1/conversations', methods: { POST: route(createConversation) } },
    {
      path: '/v1/conversations/{id}',
      methods: {
        GET: route(o.passThrough(OwnedKind.conversation, '')),
        POST: route(conversationPost('', IdShape.other)),
        DELETE: route(o.deleteOwned(OwnedKind.conversation)),
      },
    },
    {
      path: '/v1/conversations/{id}/items',
      methods: {
        GET: route(conversationItems('GET')),
        POST: route(conversationPost('/items', IdShape.conversation)),
      },
    },
    {
      path: '/v1/conversations/{id}/items/{item}',
      methods: { GET: route(conversationItems('GET')), DELETE: route(conversationItems('DELETE')) },
    },
  ];
};
