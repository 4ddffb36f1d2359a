// What the gateway created upstream for tenants, in the local database: the object as JSON, with the columns its
// lookups, lists (newest first) and the job tracker's due list need.
import type { OwnedKindName, OwnedObject, OwnedPage, OwnershipStore } from '../../ports.ts';
import { StoreConflictError } from '../../ports.ts';
import type { Database } from './database.ts';

/** A job's next poll while its tracking is not done; NULL otherwise (not due). */
const dueAt = (object: OwnedObject): number | null =>
  object.tracking === undefined || object.tracking.done ? null : object.tracking.nextPollAt;

/** An object as stored: JSON drops `announcedStatus` when it is undefined, and it is a key every tracking has. */
const revive = (text: string): OwnedObject => {
  const object = JSON.parse(text) as OwnedObject;
  const tracking = object.tracking;
  return tracking === undefined
    ? object
    : { ...object, tracking: { ...tracking, announcedStatus: tracking.announcedStatus } };
};

const parse = (rows: unknown[]): OwnedObject[] =>
  rows.map((row) => revive((row as { object: string }).object));

export class SqliteOwnershipStore implements OwnershipStore {
  constructor(private readonly db: Database) {}

  async create(object: OwnedObject): Promise<void> {
    if (!this.insert(object)) throw new StoreConflictError(`${object.kind} ${object.id} is already recorded`);
  }

  /** Records `object` now; false when one of its kind and id exists (the state.json import uses it too). */
  insert(object: OwnedObject): boolean {
    const { changes } = this.db
      .statement(
        `INSERT INTO owned (kind, id, tenant_id, created_at, version, due_at, object) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT DO NOTHING`,
      )
      .run(
        object.kind,
        object.id,
        object.tenantId,
        object.createdAt,
        object.version,
        dueAt(object),
        JSON.stringify(object),
      );
    return changes !== 0;
  }

  async get(kind: OwnedKindName, id: string): Promise<OwnedObject | undefined> {
    return this.stored(kind, id);
  }

  async list(
    tenantId: string,
    kind: OwnedKindName,
    page: { readonly after?: string | undefined; readonly limit: number },
  ): Promise<OwnedPage> {
    const limit = Math.max(0, Math.floor(page.limit));
    let rows: unknown[];
    if (page.after === undefined) {
      rows = this.db
        .statement(
          'SELECT object FROM owned WHERE tenant_id = ? AND kind = ? ORDER BY created_at DESC, id DESC LIMIT ?',
        )
        .all(tenantId, kind, limit + 1);
    } else {
      // The cursor must be one of the tenant's own objects of that kind.
      const cursor = this.db
        .statement('SELECT created_at FROM owned WHERE kind = ? AND id = ? AND tenant_id = ?')
        .get(kind, page.after, tenantId) as { created_at: number } | undefined;
      if (cursor === undefined) return { items: [], hasMore: false };
      rows = this.db
        .statement(
          `SELECT object FROM owned WHERE tenant_id = ? AND kind = ?
           AND (created_at < ? OR (created_at = ? AND id < ?)) ORDER BY created_at DESC, id DESC LIMIT ?`,
        )
        .all(tenantId, kind, cursor.created_at, cursor.created_at, page.after, limit + 1);
    }
    const items = parse(rows);
    return { items: items.slice(0, limit), hasMore: items.length > limit };
  }

  async update(object: OwnedObject): Promise<boolean> {
    return this.db.transaction(() => {
      const stored = this.stored(object.kind, object.id);
      if (stored === undefined || stored.version !== object.version - 1) return false;
      const kept: OwnedObject = {
        ...object,
        tenantId: stored.tenantId,
        createdAt: stored.createdAt,
        keyId: stored.keyId,
        targetId: stored.targetId,
      };
      this.db
        .statement('UPDATE owned SET version = ?, due_at = ?, object = ? WHERE kind = ? AND id = ?')
        .run(kept.version, dueAt(kept), JSON.stringify(kept), kept.kind, kept.id);
      return true;
    });
  }

  async remove(kind: OwnedKindName, id: string): Promise<void> {
    this.db.statement('DELETE FROM owned WHERE kind = ? AND id = ?').run(kind, id);
  }

  async dueJobs(now: number, limit: number): Promise<OwnedObject[]> {
    return parse(
      this.db
        .statement(
          'SELECT object FROM owned WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at LIMIT ?',
        )
        .all(now, Math.max(0, Math.floor(limit))),
    );
  }

  private stored(kind: OwnedKindName, id: string): OwnedObject | undefined {
    const row = this.db.statement('SELECT object FROM owned WHERE kind = ? AND id = ?').get(kind, id) as
      | { object: string }
      | undefined;
    return row === undefined ? undefined : revive(row.object);
  }
}
