// Work that runs after a response (usage records, cache stores) and that Lambda must wait for before returning.

export interface BackgroundWork {
  /** Keeps `work` until it settles; it must not reject (handle its errors first). */
  add(work: Promise<void>): void;
  /** Resolves once everything added so far, and anything added meanwhile, has settled. */
  drain(): Promise<void>;
}

export const createBackgroundWork = (): BackgroundWork => {
  // A count, not a set of promises: every request adds one, and a `finally` chain per request costs two promises.
  let pending = 0;
  let drained: Array<() => void> = [];
  const done = () => {
    pending -= 1;
    if (pending > 0 || drained.length === 0) return;
    const waiting = drained;
    drained = [];
    for (const resolve of waiting) resolve();
  };
  return {
    add(work) {
      pending += 1;
      work.then(done, done);
    },
    drain: () => (pending === 0 ? Promise.resolve() : new Promise<void>((resolve) => drained.push(resolve))),
  };
};
