// Stands in for `@smithy/core/event-streams` in the Lambda bundles (esbuild alias: scripts/bundle.ts
// BUNDLE_STUB_ALIASES, lib/constructs/bundling.ts). The SDK's HTTP protocols import it lazily, only to
// (de)serialize an operation with an event-stream input or output; the bundled clients (DynamoDB, EventBridge,
// Secrets Manager) have none, so it never loads, yet esbuild bundles a dynamic import's target: ~15 KB. Bedrock's
// event streams are decoded by the gateway's own code, not the SDK. test/infra/bundling.test.ts checks that the
// bundles hold no other SDK client, and that the event-stream code stays out.

const unsupported = (): never => {
  throw new Error(
    'SDK event streams are not in this bundle (lambda/adapters/bundle-stubs/smithy-event-streams.ts): ' +
      'remove the alias in scripts/bundle.ts and lib/constructs/bundling.ts to use an event-stream operation',
  );
};

/** What HttpProtocol asks for a marshaller when the client config has none. */
export const eventStreamSerdeProvider = (_serdeContext: unknown): never => unsupported();

export class EventStreamSerde {
  constructor(_options: unknown) {
    unsupported();
  }
}
