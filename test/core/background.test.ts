// Background work (usage records, cache stores): drain waits for all of it, including work added while it waits.
import { createBackgroundWork } from '../../lambda/core/background.ts';

/** A promise and the functions that settle it. */
const deferred = () => {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
};

/** Whether `promise` has settled after every queued callback has run. */
const settled = async (promise: Promise<void>) => {
  let done = false;
  promise.then(() => {
    done = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  return done;
};

describe('createBackgroundWork', () => {
  it('drains at once when nothing is pending', async () => {
    expect(await settled(createBackgroundWork().drain())).toBe(true);
  });

  it('waits for every piece of work, and for work added while it waits', async () => {
    const work = createBackgroundWork();
    const first = deferred();
    const second = deferred();
    work.add(first.promise);
    const drained = work.drain();
    work.add(second.promise);
    first.resolve();
    expect(await settled(drained)).toBe(false);
    second.resolve();
    expect(await settled(drained)).toBe(true);
  });

  it('counts work that rejects as done, and serves every waiting drain', async () => {
    const work = createBackgroundWork();
    const failing = deferred();
    work.add(failing.promise);
    const drains = [work.drain(), work.drain()];
    failing.reject(new Error('handled elsewhere'));
    expect(await Promise.all(drains.map(settled))).toEqual([true, true]);
    // Drained once, it drains again for new work.
    const later = deferred();
    work.add(later.promise);
    const again = work.drain();
    expect(await settled(again)).toBe(false);
    later.resolve();
    expect(await settled(again)).toBe(true);
  });
});
