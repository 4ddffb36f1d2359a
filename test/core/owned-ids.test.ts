// Ownership of the ids a request names and an answer creates: checks, what they remember, and where they send.
import { MemoryLogger, MemoryMetrics, MemoryOwnershipStore } from '../../lambda/adapters/memory/index.ts';
import {
  AnswerShape,
  createAnswerRecorder,
  idsInChatAnswer,
  idsInResponse,
} from '../../lambda/core/answer-ids.ts';
import { IdKind } from '../../lambda/core/body-ids.ts';
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import { createOwnedIds, targetsHolding } from '../../lambda/core/owned-ids.ts';
import { OwnedKind, type OwnedObject, type OwnershipStore, type Principal } from '../../lambda/ports.ts';
import { FakeClock } from '../fixtures/fake-clock.ts';

const A: Principal = { tenantId: 'a', keyId: 'akey', tier: 'default' };
const B: Principal = { tenantId: 'b', keyId: 'bkey', tier: 'default' };
const owned = (
  kind: OwnedObject['kind'],
  id: string,
  tenantId: string,
  extra: Partial<OwnedObject> = {},
): OwnedObject => ({
  kind,
  id,
  tenantId,
  keyId: `${tenantId}key`,
  targetId: 'east',
  createdAt: 0,
  version: 1,
  object: { id },
  ...extra,
});

const setup = (store: OwnershipStore | undefined = new MemoryOwnershipStore()) => {
  const clock = new FakeClock(1_000_000);
  const logger = new MemoryLogger();
  const metrics = new MemoryMetrics();
  return { clock, logger, metrics, store, ids: createOwnedIds({ ownership: store, clock, logger, metrics }) };
};

describe('OwnedIds.check', () => {
  it('gives the tenant’s records of the ids, each read once', async () => {
    // Prepare
    const { store, ids } = setup();
    await store!.create(owned(OwnedKind.file, 'file-1', 'a'));
    await store!.create(owned(OwnedKind.response, 'resp_1', 'a'));

    // Act
    const records = await ids.check(A, [
      { kind: IdKind.file, id: 'file-1', param: 'x' },
      { kind: IdKind.response, id: 'resp_1', param: 'previous_response_id' },
      { kind: IdKind.file, id: 'file-1', param: 'y' },
    ]);

    // Assess
    expect([...records.keys()]).toEqual(['file#file-1', 'response#resp_1']);
  });

  it.each([
    ['another tenant’s file', IdKind.file, 'file-b', 'input[0].file_id', 'No such File object: file-b.'],
    [
      'another tenant’s response',
      IdKind.response,
      'resp_b',
      'previous_response_id',
      "Previous response with id 'resp_b' not found.",
    ],
    ['an unknown item', IdKind.item, 'msg_x', 'input[1].id', "Item with id 'msg_x' not found."],
    ['an expired item', IdKind.item, 'msg_old', 'input[2].id', "Item with id 'msg_old' not found."],
    [
      'a vector store',
      IdKind.vectorStore,
      'vs_1',
      'tools[0].vector_store_ids[0]',
      "Vector store with id 'vs_1' not found: this gateway does not serve vector stores.",
    ],
  ])('refuses %s with a 404 naming the field', async (_name, kind, id, param, message) => {
    // Prepare
    const { store, ids } = setup();
    await store!.create(owned(OwnedKind.file, 'file-b', 'b'));
    await store!.create(owned(OwnedKind.response, 'resp_b', 'b'));
    await store!.create(owned(OwnedKind.item, 'msg_old', 'a', { expiresAt: 999_999 }));

    // Act
    const thrown = await ids.check(A, [{ kind, id, param }]).catch((error: unknown) => error);

    // Assess
    expect(thrown).toMatchObject({ status: 404, param, message, code: null });
  });

  it('answers 503 when the records cannot be read, rather than let the id through', async () => {
    // Prepare
    const broken = new MemoryOwnershipStore();
    broken.get = async () => {
      throw new Error('table unavailable');
    };
    const { ids } = setup(broken);

    // Act
    const thrown = await ids
      .check(A, [{ kind: IdKind.file, id: 'file-1', param: 'x' }])
      .catch((e: unknown) => e);

    // Assess: the store's error is kept as the cause, which the request's log line shows
    expect(thrown).toMatchObject({ status: 503, code: 'ownership_unavailable' });
    expect((thrown as Error).cause).toMatchObject({ message: 'table unavailable' });
  });

  it('owns nothing without an ownership store', async () => {
    const { ids } = setup(undefined);
    await expect(ids.check(A, [{ kind: IdKind.file, id: 'file-1', param: 'x' }])).rejects.toMatchObject({
      status: 404,
    });
  });

  it('remembers what it recorded, so the next request finds it without a read; forgets it when told', async () => {
    // Prepare
    const store = new MemoryOwnershipStore();
    let reads = 0;
    const get = store.get.bind(store);
    store.get = async (kind, id) => {
      reads += 1;
      return get(kind, id);
    };
    const { ids } = setup(store);

    // Act
    await ids.record(owned(OwnedKind.response, 'resp_1', 'a'));
    await ids.check(A, [{ kind: IdKind.response, id: 'resp_1', param: 'p' }]);
    const readsAfterCheck = reads;
    ids.forget(OwnedKind.response, 'resp_1');
    await store.remove(OwnedKind.response, 'resp_1');
    const after = await ids
      .check(A, [{ kind: IdKind.response, id: 'resp_1', param: 'p' }])
      .catch((e: unknown) => e);

    // Assess
    expect(readsAfterCheck).toBe(0);
    expect(after).toMatchObject({ status: 404 });
  });

  it('keeps the first tenant’s record when another tenant’s answer names the same id, and logs it', async () => {
    // Prepare
    const { ids, store, logger } = setup();
    await ids.record(owned(OwnedKind.container, 'cntr_1', 'a'));

    // Act
    await ids.record(owned(OwnedKind.container, 'cntr_1', 'b'));

    // Assess
    expect((await store!.get(OwnedKind.container, 'cntr_1'))?.tenantId).toBe('a');
    await expect(ids.check(B, [{ kind: IdKind.container, id: 'cntr_1', param: 'c' }])).rejects.toMatchObject({
      status: 404,
    });
    expect(logger.lines.map((line) => line.message)).toContain(
      'an answer named an id recorded for another tenant',
    );
  });
});

describe('targetsHolding', () => {
  const config = parseGatewayConfig({
    routes: [
      {
        model: 'm',
        targets: [
          { id: 'east', provider: 'openai', baseUrl: 'https://east.example/v1', secretName: 'k1' },
          { id: 'east-2', provider: 'openai', baseUrl: 'https://east.example/v1/', secretName: 'k1' },
          { id: 'west', provider: 'openai', baseUrl: 'https://west.example/v1', secretName: 'k2' },
        ],
      },
      {
        model: 'n',
        targets: [{ id: 'north', provider: 'openai', baseUrl: 'https://north.example/v1', secretName: 'k3' }],
      },
    ],
  });
  const targets = config.routes[0]!.targets;
  const byId = (id: string) =>
    config.routes.flatMap((route) => route.targets).find((target) => target.id === id);
  const records = (...targetIds: string[]) =>
    new Map(
      targetIds.map((targetId, i) => [`file#f${i}`, owned(OwnedKind.file, `f${i}`, 'a', { targetId })]),
    );

  it('keeps every target of the account that holds the objects', () => {
    expect(targetsHolding(targets, records('east'), byId, 'm').map((t) => t.id)).toEqual(['east', 'east-2']);
  });

  it('keeps the route as it is when the request names nothing', () => {
    expect(targetsHolding(targets, new Map(), byId, 'm')).toBe(targets);
  });

  it('refuses objects on two accounts, and objects on an account that does not serve the model', () => {
    expect(() => targetsHolding(targets, records('east', 'west'), byId, 'm')).toThrow(
      expect.objectContaining({ status: 400, code: 'objects_on_different_upstreams' }),
    );
    expect(() => targetsHolding(targets, records('north'), byId, 'm')).toThrow(
      expect.objectContaining({ status: 400, code: 'objects_on_other_upstream' }),
    );
  });
});

describe('what answers create', () => {
  it('finds a response’s id, its items and the containers they ran in', () => {
    expect(
      idsInResponse({
        id: 'resp_1',
        object: 'response',
        output: [
          { type: 'reasoning', id: 'rs_1' },
          { type: 'code_interpreter_call', id: 'ci_1', container_id: 'cntr_1' },
          { type: 'message', id: 'msg_1' },
        ],
      }),
    ).toEqual([
      { kind: OwnedKind.response, id: 'resp_1' },
      { kind: OwnedKind.item, id: 'rs_1', type: 'reasoning' },
      { kind: OwnedKind.item, id: 'ci_1', type: 'code_interpreter_call' },
      { kind: OwnedKind.container, id: 'cntr_1' },
      { kind: OwnedKind.item, id: 'msg_1', type: 'message' },
    ]);
  });

  it('finds a chat answer’s audio, whole or streamed', () => {
    expect(idsInChatAnswer({ choices: [{ message: { audio: { id: 'audio_1' } } }] })).toEqual([
      { kind: OwnedKind.audio, id: 'audio_1' },
    ]);
    expect(idsInChatAnswer({ choices: [{ delta: { audio: { id: 'audio_2', data: 'AAA' } } }] })).toEqual([
      { kind: OwnedKind.audio, id: 'audio_2' },
    ]);
  });

  it('records a stream’s ids as they come, and holds its last event until they are written', async () => {
    // Prepare: writes that finish only when the test lets them.
    const store = new MemoryOwnershipStore();
    const releases: Array<() => void> = [];
    const create = store.create.bind(store);
    store.create = (object) =>
      new Promise<void>((resolve) => releases.push(() => void create(object).then(resolve)));
    const { ids, logger, metrics } = setup(store);
    const recorder = createAnswerRecorder(AnswerShape.responses, {
      owned: ids,
      principal: A,
      targetId: 'east',
      requestId: 'r',
      now: () => 5,
      logger,
      metrics,
    });
    const event = (data: unknown) => ({ data: JSON.stringify(data), event: undefined, id: undefined });

    // Act
    recorder.event(event({ type: 'response.created', response: { id: 'resp_1', output: [] } }));
    recorder.event(event({ type: 'response.output_text.delta', delta: 'hi' }));
    recorder.event(event({ type: 'response.output_item.added', item: { id: 'msg_1', type: 'message' } }));
    const beforeTheEnd = recorder.holding;
    recorder.event(
      event({
        type: 'response.completed',
        response: { id: 'resp_1', output: [{ id: 'msg_1', type: 'message' }] },
      }),
    );
    const atTheEnd = recorder.holding;
    const flushed = recorder.flush();
    for (const release of releases) release();
    await flushed;

    // Assess
    expect([beforeTheEnd, atTheEnd, recorder.holding]).toEqual([false, true, false]);
    expect(releases).toHaveLength(2);
    expect(await store.get(OwnedKind.response, 'resp_1')).toMatchObject({
      tenantId: 'a',
      targetId: 'east',
      expiresAt: 5 + 90 * 86_400_000,
    });
    expect(await store.get(OwnedKind.item, 'msg_1')).toMatchObject({
      tenantId: 'a',
      object: { id: 'msg_1', type: 'message' },
    });
  });

  it('lets the answer go when a record cannot be written, and says so', async () => {
    // Prepare
    const store = new MemoryOwnershipStore();
    store.create = async () => {
      throw new Error('throttled');
    };
    const { ids, logger, metrics } = setup(store);
    const recorder = createAnswerRecorder(AnswerShape.responses, {
      owned: ids,
      principal: A,
      targetId: 'east',
      requestId: 'r',
      now: () => 5,
      logger,
      metrics,
    });

    // Act
    recorder.answer({ id: 'resp_1', output: [] });
    await recorder.flush();

    // Assess
    expect(recorder.holding).toBe(false);
    expect(metrics.sum('OwnershipNotRecorded')).toBe(1);
    expect(logger.lines.map((line) => line.message)).toContain('an id the answer created was not recorded');
  });
});
