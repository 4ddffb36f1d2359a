// Stands in for @aws-sdk/credential-provider-node in the Lambda bundles (esbuild alias, lib/constructs/bundling.ts
// and scripts/bundle.ts). Lambda hands its role's credentials to the function in environment variables, the
// first link of the SDK's default chain; the rest of the chain (profiles, SSO, web identity, container and
// instance metadata) never runs there and is ~100 KB of bundle and cold-start parse time.
import { fromEnv } from '@aws-sdk/credential-provider-env';

type Init = Parameters<typeof fromEnv>[0];

/** The SDK clients' default credentials: the Lambda role's, from the environment. */
export const defaultProvider = (init: Init = {}) => fromEnv(init);

/** Re-exported by the real module; environment credentials carry their own expiry, nothing to add. */
export const credentialsWillNeedRefresh = (): boolean => false;
export const credentialsTreatedAsExpired = (): boolean => false;
