// What the Lambda entry points read from their environment: the config document and required settings.
import configDocument from '../../config/gateway.json' with { type: 'json' };
import { type GatewayConfig, parseGatewayConfig } from '../core/config.ts';
import {
  EnvVar,
  type EnvVarName,
  type FunctionEnvContract,
  type LambdaEnvVarName,
  type OptionalEnvOf,
  type RequiredEnvOf,
} from '../environment.ts';

/** A setting the stack (or Lambda) must provide; a missing one fails the cold start with its name. */
export const requiredEnv = (name: EnvVarName | LambdaEnvVarName): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

/**
 * One function's environment, as its contract in lambda/environment.ts lists it (`FunctionEnv`): reading a
 * variable the contract does not list fails typecheck, so the contract the stack is tested against stays whole.
 */
export const environmentOf = <const C extends FunctionEnvContract>(_contract: C) => ({
  /** The variable's value; a missing or empty one fails the cold start with its name. */
  required: (name: RequiredEnvOf<C>): string => requiredEnv(name),
  /** The variable's value as the environment has it: undefined when unset. */
  optional: (name: OptionalEnvOf<C>): string | undefined => process.env[name],
});

/**
 * The deployment's config document, which the stack compiles into the bundle (esbuild `define`, from the file
 * `cdk deploy -c config=…` chose); undefined where nothing defined it (tests, tsx).
 */
declare const __GATEWAY_CONFIG__: string | undefined;

/**
 * The `GATEWAY_CONFIG` environment variable, else the config the stack compiled into the bundle, else the
 * repository's config/gateway.json. A bundle with a compiled config drops the last (dead code).
 */
export const loadGatewayConfig = (): GatewayConfig => {
  const fromEnvironment = process.env[EnvVar.GATEWAY_CONFIG];
  return parseGatewayConfig(
    fromEnvironment
      ? JSON.parse(fromEnvironment)
      : typeof __GATEWAY_CONFIG__ === 'string'
        ? JSON.parse(__GATEWAY_CONFIG__)
        : configDocument,
  );
};
