// The real clock: wall time with sub-millisecond precision, and abortable sleep.
import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../../ports.ts';

const origin = Date.now() - performance.now();

export const systemClock: Clock = {
  now: () => origin + performance.now(),
  sleep: async (ms, signal) => {
    await delay(ms, undefined, signal ? { signal } : undefined);
  },
};
