// Work that runs after a response (usage records, cache stores) and that Lambda must wait for before returning.

export interface BackgroundWork {
  /** Keeps `work` until it settles; it must not reject (handle its errors first). */
  add(work: Promise<void>): void;
  /** Resolves once everything added so far, and anything added meanwhile, has settled. */
  drain(): Promise<void>;
}

export const createBackgroundWork = (): BackgroundWork => {
  const pending = new Set<Promise<void>>();
  return {
    add(work) {
      const tracked: Promise<void> = work.finally(() => pending.delete(tracked));
      pending.add(tracked);
    },
    async drain() {
      while (pending.size > 0) await Promise.all(pending);
    },
  };
};
