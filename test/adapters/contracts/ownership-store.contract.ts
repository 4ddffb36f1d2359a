// What every OwnershipStore must do: run by memory-contracts.test.ts and dynamodb-contracts.test.ts.
import {
  type JobTracking,
  OwnedKind,
  type OwnedObject,
  type OwnershipStore,
  StoreConflictError,
} from '../../../lambda/ports.ts';

export interface OwnershipStoreFixture {
  readonly store: OwnershipStore;
  readonly teardown?: () => Promise<void>;
}

export const anOwned = (overrides: Partial<OwnedObject> = {}): OwnedObject => ({
  kind: OwnedKind.file,
  id: 'file-1',
  tenantId: 'acme',
  keyId: 'acmekey000000000',
  targetId: 'openai',
  createdAt: 1_000,
  version: 1,
  object: {
    id: overrides.id ?? 'file-1',
    object: 'file',
    bytes: 3,
    filename: 'a.jsonl',
    purpose: 'fine-tune',
  },
  ...overrides,
});

export const aTracking = (overrides: Partial<JobTracking> = {}): JobTracking => ({
  status: 'validating_files',
  announcedStatus: undefined,
  metered: false,
  done: false,
  nextPollAt: 5_000,
  pollIntervalMs: 60_000,
  ...overrides,
});

const aJob = (id: string, tracking: Partial<JobTracking> = {}, overrides: Partial<OwnedObject> = {}) =>
  anOwned({
    kind: OwnedKind.job,
    id,
    object: { id, object: 'fine_tuning.job', status: tracking.status ?? 'validating_files' },
    tracking: aTracking(tracking),
    ...overrides,
  });

export function describeOwnershipStoreContract(
  name: string,
  setup: () => Promise<OwnershipStoreFixture>,
): void {
  describe(`OwnershipStore contract: ${name}`, () => {
    let fixture: OwnershipStoreFixture;
    let store: OwnershipStore;

    beforeEach(async () => {
      fixture = await setup();
      store = fixture.store;
    });

    afterEach(async () => {
      await fixture.teardown?.();
    });

    it('gives back what it recorded, by kind and id', async () => {
      // Prepare
      const upload = anOwned({ kind: OwnedKind.upload, id: 'upload_1', parts: ['part_a', 'part_b'] });
      const job = aJob('ftjob-1', { announcing: { status: 'queued', until: 9 } });

      // Act
      await store.create(anOwned());
      await store.create(upload);
      await store.create(job);

      // Assess
      expect(await store.get(OwnedKind.file, 'file-1')).toStrictEqual(anOwned());
      expect(await store.get(OwnedKind.upload, 'upload_1')).toStrictEqual(upload);
      expect(await store.get(OwnedKind.job, 'ftjob-1')).toStrictEqual(job);
      expect(await store.get(OwnedKind.upload, 'file-1')).toBeUndefined();
      expect(await store.get(OwnedKind.file, 'file-unknown')).toBeUndefined();
    });

    it('refuses to record the same kind and id twice, whoever asks', async () => {
      // Prepare
      await store.create(anOwned());

      // Act / Assess
      await expect(store.create(anOwned({ tenantId: 'globex' }))).rejects.toThrow(StoreConflictError);
      expect((await store.get(OwnedKind.file, 'file-1'))?.tenantId).toBe('acme');
      // the same id of another kind is another object
      await store.create(anOwned({ kind: OwnedKind.model, id: 'file-1' }));
    });

    it("lists a tenant's objects of a kind newest first, and no one else's", async () => {
      // Prepare: acme's three files, a job, and globex's file in between
      await store.create(anOwned({ id: 'file-a', createdAt: 1_000 }));
      await store.create(anOwned({ id: 'file-c', createdAt: 3_000 }));
      await store.create(anOwned({ id: 'file-b', createdAt: 2_000 }));
      await store.create(anOwned({ id: 'file-g', tenantId: 'globex', createdAt: 2_500 }));
      await store.create(aJob('ftjob-1'));

      // Act
      const page = await store.list('acme', OwnedKind.file, { limit: 10 });

      // Assess
      expect(page.items.map((item) => item.id)).toStrictEqual(['file-c', 'file-b', 'file-a']);
      expect(page.hasMore).toBe(false);
      expect(
        (await store.list('globex', OwnedKind.file, { limit: 10 })).items.map((i) => i.id),
      ).toStrictEqual(['file-g']);
      expect((await store.list('acme', OwnedKind.job, { limit: 10 })).items.map((i) => i.id)).toStrictEqual([
        'ftjob-1',
      ]);
      expect((await store.list('initech', OwnedKind.file, { limit: 10 })).items).toStrictEqual([]);
    });

    it('pages with a limit and continues after an id; objects created at the same time are ordered by id', async () => {
      // Prepare
      for (const id of ['f1', 'f2', 'f3', 'f4', 'f5']) await store.create(anOwned({ id, createdAt: 7_000 }));

      // Act
      const first = await store.list('acme', OwnedKind.file, { limit: 2 });
      const second = await store.list('acme', OwnedKind.file, { after: 'f4', limit: 2 });
      const last = await store.list('acme', OwnedKind.file, { after: 'f2', limit: 2 });

      // Assess
      expect(first).toMatchObject({ hasMore: true });
      expect(first.items.map((item) => item.id)).toStrictEqual(['f5', 'f4']);
      expect(second.items.map((item) => item.id)).toStrictEqual(['f3', 'f2']);
      expect(second.hasMore).toBe(true);
      expect(last.items.map((item) => item.id)).toStrictEqual(['f1']);
      expect(last.hasMore).toBe(false);
    });

    it("gives an empty page after an id that is not the tenant's", async () => {
      await store.create(anOwned({ id: 'file-a' }));
      await store.create(anOwned({ id: 'file-g', tenantId: 'globex' }));
      expect(await store.list('acme', OwnedKind.file, { after: 'file-g', limit: 5 })).toStrictEqual({
        items: [],
        hasMore: false,
      });
      expect(await store.list('acme', OwnedKind.file, { after: 'file-unknown', limit: 5 })).toStrictEqual({
        items: [],
        hasMore: false,
      });
    });

    it('updates only from the version it was read at, and keeps who owns it', async () => {
      // Prepare
      await store.create(anOwned({ kind: OwnedKind.upload, id: 'upload_1', parts: [] }));
      const stored = (await store.get(OwnedKind.upload, 'upload_1'))!;

      // Act
      const first = await store.update({
        ...stored,
        version: 2,
        parts: ['part_a'],
        object: { status: 'pending' },
      });
      const stale = await store.update({ ...stored, version: 2, parts: ['part_b'] });
      const skipped = await store.update({ ...stored, version: 4, parts: ['part_c'] });
      const takeover = await store.update({
        ...stored,
        version: 3,
        tenantId: 'globex',
        parts: ['part_a', 'x'],
      });

      // Assess
      expect([first, stale, skipped, takeover]).toStrictEqual([true, false, false, true]);
      const after = await store.get(OwnedKind.upload, 'upload_1');
      expect(after?.version).toBe(3);
      expect(after?.parts).toStrictEqual(['part_a', 'x']);
      expect(after?.tenantId).toBe('acme');
      expect(after?.object).toStrictEqual(stored.object);
      expect(await store.update(anOwned({ id: 'file-missing', version: 2 }))).toBe(false);
    });

    it('lets exactly one of two updates from the same version win', async () => {
      // Prepare
      await store.create(aJob('ftjob-1'));
      const stored = (await store.get(OwnedKind.job, 'ftjob-1'))!;

      // Act
      const results = await Promise.all(
        ['queued', 'running'].map((status) =>
          store.update({ ...stored, version: 2, tracking: aTracking({ status }) }),
        ),
      );

      // Assess
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await store.get(OwnedKind.job, 'ftjob-1'))?.version).toBe(2);
    });

    it('removes a record and its place in the list; removing twice is fine', async () => {
      // Prepare
      await store.create(anOwned({ id: 'file-a', createdAt: 1 }));
      await store.create(anOwned({ id: 'file-b', createdAt: 2 }));

      // Act
      await store.remove(OwnedKind.file, 'file-a');
      await store.remove(OwnedKind.file, 'file-a');
      await store.remove(OwnedKind.file, 'file-never');

      // Assess
      expect(await store.get(OwnedKind.file, 'file-a')).toBeUndefined();
      expect((await store.list('acme', OwnedKind.file, { limit: 10 })).items.map((i) => i.id)).toStrictEqual([
        'file-b',
      ]);
      // and the id can be recorded again
      await store.create(anOwned({ id: 'file-a', createdAt: 3 }));
    });

    it('lists due jobs that are not done, soonest first, across tenants, up to a limit', async () => {
      // Prepare
      await store.create(aJob('ftjob-late', { nextPollAt: 9_000 }));
      await store.create(aJob('ftjob-soon', { nextPollAt: 2_000 }, { tenantId: 'globex' }));
      await store.create(aJob('ftjob-mid', { nextPollAt: 4_000 }));
      await store.create(aJob('ftjob-done', { nextPollAt: 1_000, status: 'succeeded', done: true }));
      await store.create(anOwned({ id: 'file-a' }));

      // Act
      const due = await store.dueJobs(5_000, 10);
      const one = await store.dueJobs(5_000, 1);

      // Assess
      expect(due.map((job) => job.id)).toStrictEqual(['ftjob-soon', 'ftjob-mid']);
      expect(one.map((job) => job.id)).toStrictEqual(['ftjob-soon']);
      expect(await store.dueJobs(1_500, 10)).toStrictEqual([]);
    });

    it('follows updates in what is due: a new poll time, and done', async () => {
      // Prepare
      await store.create(aJob('ftjob-1', { nextPollAt: 1_000 }));
      await store.create(aJob('ftjob-2', { nextPollAt: 1_000 }));
      const one = (await store.get(OwnedKind.job, 'ftjob-1'))!;
      const two = (await store.get(OwnedKind.job, 'ftjob-2'))!;

      // Act
      await store.update({ ...one, version: 2, tracking: aTracking({ nextPollAt: 50_000 }) });
      await store.update({
        ...two,
        version: 2,
        tracking: aTracking({ nextPollAt: 1_000, status: 'failed', done: true }),
      });

      // Assess
      expect(await store.dueJobs(10_000, 10)).toStrictEqual([]);
      expect((await store.dueJobs(60_000, 10)).map((job) => job.id)).toStrictEqual(['ftjob-1']);
      await store.remove(OwnedKind.job, 'ftjob-1');
      expect(await store.dueJobs(60_000, 10)).toStrictEqual([]);
    });

    it('records what an answer created (a response, its items) with an expiry, once, and removes it', async () => {
      // Prepare
      const response = anOwned({
        kind: OwnedKind.response,
        id: 'resp_1',
        object: { id: 'resp_1' },
        expiresAt: 1_000 + 90 * 86_400_000,
      });
      const item = anOwned({ kind: OwnedKind.item, id: 'msg_1', object: { id: 'msg_1', type: 'message' } });

      // Act
      await store.create(response);
      await store.create(item);
      const again = await store.create({ ...item, tenantId: 'intruder' }).catch((error: unknown) => error);

      // Assess
      expect(await store.get(OwnedKind.response, 'resp_1')).toStrictEqual(response);
      expect(await store.get(OwnedKind.item, 'msg_1')).toStrictEqual(item);
      expect(again).toBeInstanceOf(StoreConflictError);
      expect((await store.get(OwnedKind.item, 'msg_1'))?.tenantId).toBe('acme');
      // An item id and a file id may be equal strings: the kind keeps them apart.
      expect(await store.get(OwnedKind.file, 'msg_1')).toBeUndefined();
      await store.remove(OwnedKind.response, 'resp_1');
      expect(await store.get(OwnedKind.response, 'resp_1')).toBeUndefined();
    });
  });
}
