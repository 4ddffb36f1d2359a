// Changing an ownership record safely: a conditional update on its version, read again after a conflict.
import type { OwnedObject, OwnershipStore } from '../ports.ts';

/**
 * Applies `change` to the latest stored `record` (a conditional update on its version), reading it again and
 * re-applying `change` when something else updated it meanwhile. `change` returns undefined when there is
 * nothing to write. Throws when the record is gone or kept changing for `attempts` tries.
 */
export const updateOwned = async (
  store: OwnershipStore,
  record: OwnedObject,
  change: (current: OwnedObject) => Partial<OwnedObject> | undefined,
  attempts: number,
): Promise<{ readonly record: OwnedObject; readonly changed: boolean }> => {
  let current = record;
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    const fields = change(current);
    if (fields === undefined) return { record: current, changed: false };
    const next: OwnedObject = { ...current, ...fields, version: current.version + 1 };
    if (await store.update(next)) return { record: next, changed: true };
    const reread = await store.get(record.kind, record.id);
    if (reread === undefined) throw new Error(`${record.kind} ${record.id} is no longer recorded`);
    current = reread;
  }
  throw new Error(`${record.kind} ${record.id} kept changing while it was being updated`);
};
