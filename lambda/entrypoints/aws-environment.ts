// What the Lambda entry points read from their environment: the config document and required settings.
import configDocument from '../../config/gateway.json' with { type: 'json' };
import { type GatewayConfig, parseGatewayConfig } from '../core/config.ts';

/** A setting the stack must provide; a missing one fails the cold start with its name. */
export const requiredEnv = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

/**
 * The deployment's config document, which the stack compiles into the bundle (esbuild `define`, from the file
 * `cdk deploy -c config=…` chose); undefined where nothing defined it (tests, tsx).
 */
declare const __GATEWAY_CONFIG__: string | undefined;

/**
 * The `GATEWAY_CONFIG` environment variable, else the config the stack compiled into the bundle, else the
 * repository's config/gateway.json. A bundle with a compiled config drops the last (dead code).
 */
export const loadGatewayConfig = (): GatewayConfig =>
  parseGatewayConfig(
    process.env.GATEWAY_CONFIG
      ? JSON.parse(process.env.GATEWAY_CONFIG)
      : typeof __GATEWAY_CONFIG__ === 'string'
        ? JSON.parse(__GATEWAY_CONFIG__)
        : configDocument,
  );
