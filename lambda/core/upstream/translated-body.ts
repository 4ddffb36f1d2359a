// A translated answer read whole: the upstream's body is read on the first read and given back translated, once.
import type { UpstreamBody, UpstreamBodyReader } from '../../ports.ts';
import { readToEnd } from '../http.ts';

/** A body that reads the whole upstream answer on its first read and gives back its translation, once. */
export const translatedWhole = (
  upstream: UpstreamBody,
  translate: (bytes: Uint8Array) => Uint8Array,
): UpstreamBody => {
  const reader = upstream.getReader();
  let done = false;
  const bodyReader: UpstreamBodyReader = {
    read: async () => {
      if (done) return { done: true };
      done = true;
      return {
        done: false,
        value: translate(await readToEnd(reader, 16 * 1024 * 1024, () => new Error('too large'))),
      };
    },
    cancel: (reason) => reader.cancel(reason),
  };
  return { getReader: () => bodyReader, cancel: (reason?: unknown) => reader.cancel(reason) };
};
