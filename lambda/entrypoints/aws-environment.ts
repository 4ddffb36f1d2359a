// What the Lambda entry points read from their environment: the config document and required settings.
import configDocument from '../../config/gateway.json' with { type: 'json' };
import { type GatewayConfig, parseGatewayConfig } from '../core/config.ts';

/** A setting the stack must provide; a missing one fails the cold start with its name. */
export const requiredEnv = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

/** The config bundled into the function (`config/gateway.json`), or the `GATEWAY_CONFIG` environment variable. */
export const loadGatewayConfig = (): GatewayConfig =>
  parseGatewayConfig(process.env.GATEWAY_CONFIG ? JSON.parse(process.env.GATEWAY_CONFIG) : configDocument);
