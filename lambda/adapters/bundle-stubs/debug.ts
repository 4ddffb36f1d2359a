// Stands in for the `debug` package in the Lambda bundles (esbuild alias: scripts/bundle.ts BUNDLE_STUB_ALIASES,
// lib/constructs/bundling.ts). Its one user there is iovalkey, whose debug lines print only when the DEBUG
// environment variable names an `ioredis:*` namespace, and only to stderr; the gateway reads none of them and
// neither the stack nor the Lambda service sets DEBUG, so the real package (with ms, supports-color and has-flag,
// ~10 KB of bundle) never prints there. Every debugger made here is disabled, as the real ones are without DEBUG.
// The local entry point runs on node_modules, where DEBUG=ioredis:* still works.

type Log = (...args: unknown[]) => void;

export interface Debugger {
  (...args: unknown[]): void;
  readonly namespace: string;
  /** iovalkey formats and prints nothing unless this is true. */
  enabled: boolean;
  log: Log;
  extend(namespace: string, delimiter?: string): Debugger;
  destroy(): boolean;
}

const noop: Log = () => {};

/** `debug(namespace)`: a debugger that never prints. */
export default function createDebug(namespace: string): Debugger {
  return Object.assign((..._args: unknown[]) => {}, {
    namespace,
    enabled: false,
    log: noop,
    extend: (sub: string, delimiter = ':') => createDebug(`${namespace}${delimiter}${sub}`),
    destroy: () => false,
  });
}
