// Lists of a tenant's objects (files, fine-tuning jobs), built from its ownership records, never from the
// upstream's: no list can show another tenant's object.
import type { OwnedKindName, OwnedObject, OwnershipStore, Principal } from '../../ports.ts';
import { invalidRequest } from '../errors.ts';

/** What a list takes after the store: whose, which kind, the query (`limit`, `order`, `after`), bounds, a filter. */
export type PageArgs = [
  principal: Principal,
  kind: OwnedKindName,
  query: URLSearchParams,
  options: { readonly defaultLimit: number; readonly maxLimit: number; readonly order: boolean },
  keep?: (object: OwnedObject) => boolean,
];

/** Lists the tenant's objects, newest first by default, filtered, from the ownership records. */
export const listPage = async (
  store: OwnershipStore,
  principal: Principal,
  kind: OwnedKindName,
  query: URLSearchParams,
  options: { readonly defaultLimit: number; readonly maxLimit: number; readonly order: boolean },
  keep: (object: OwnedObject) => boolean = () => true,
): Promise<{ data: unknown[]; hasMore: boolean }> => {
  const rawLimit = query.get('limit');
  const limit = rawLimit === null ? options.defaultLimit : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > options.maxLimit) {
    throw invalidRequest(
      `'limit' must be an integer from 1 to ${options.maxLimit}, got: ${JSON.stringify(rawLimit)}.`,
      'limit',
    );
  }
  const order = options.order ? (query.get('order') ?? 'desc') : 'desc';
  if (order !== 'asc' && order !== 'desc')
    throw invalidRequest(`'order' must be "asc" or "desc", got: ${JSON.stringify(order)}.`, 'order');
  const after = query.get('after') ?? undefined;
  const matched: OwnedObject[] = [];
  // Newest first from the store; `asc` needs them all (a tenant's files, not everyone's).
  const want = order === 'asc' ? Number.POSITIVE_INFINITY : limit + 1;
  let cursor = order === 'asc' ? undefined : after;
  for (;;) {
    const batch = await store.list(principal.tenantId, kind, { after: cursor, limit: 100 });
    for (const item of batch.items) if (keep(item)) matched.push(item);
    const last = batch.items.at(-1);
    if (!batch.hasMore || matched.length >= want || last === undefined) break;
    cursor = last.id;
  }
  let items = matched;
  if (order === 'asc') {
    items = matched.reverse();
    if (after !== undefined) {
      const at = items.findIndex((item) => item.id === after);
      items = at === -1 ? [] : items.slice(at + 1);
    }
  }
  return { data: items.slice(0, limit).map((item) => item.object), hasMore: items.length > limit };
};

/** A page as OpenAI's cursor lists send it: its first and last ids, and whether more follow. */
export const cursorList = (page: { data: unknown[]; hasMore: boolean }) => {
  const first = page.data[0] as { id?: unknown } | undefined;
  const last = page.data.at(-1) as { id?: unknown } | undefined;
  return {
    object: 'list',
    data: page.data,
    first_id: first?.id ?? null,
    last_id: last?.id ?? null,
    has_more: page.hasMore,
  };
};
