// API Gateway (REST) REQUEST authorizer: turns a gateway key into an IAM policy, context and usage-plan key.
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { GatewayError } from '../../core/errors.ts';
import { type KeyVerifier, keyIdOf, type VerifiedKey } from '../../core/keys.ts';
import type { Logger } from '../../ports.ts';

export interface AuthorizerOptions {
  readonly verify: KeyVerifier['verify'];
  readonly logger: Logger;
}

/** What the gateway function finds in `requestContext.authorizer` (API Gateway allows flat scalars only). */
export interface AuthorizerContext {
  readonly [name: string]: string | number;
  readonly tenantId: string;
  readonly keyId: string;
  readonly tier: string;
  /** JSON array of the key's model allowlist; '' when the key may use every model of its tier. */
  readonly models: string;
}

/** Why a Deny was returned; API Gateway answers it with 403 and exposes it as `$context.authorizer.code`. */
export interface DenyContext {
  readonly [name: string]: string;
  readonly code: string;
  readonly message: string;
}

/** The message API Gateway recognises to answer 401; anything else thrown becomes a 500. */
export const UNAUTHORIZED = 'Unauthorized';

const BEARER = /^bearer[ \t]+(\S+)[ \t]*$/i;
const API_KEY = /^\S+$/;

type AuthorizerHeaders = APIGatewayRequestAuthorizerEvent['headers'];

/** A header's value, whatever the case of its name, trimmed; '' counts as absent, as for an identity source. */
const headerOf = (headers: AuthorizerHeaders, lowerCaseName: string): string | undefined => {
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.toLowerCase() === lowerCaseName && value !== undefined) return value.trim() || undefined;
  }
  return undefined;
};

/**
 * The gateway key: from `Authorization: Bearer <key>` (the OpenAI SDKs, Anthropic's current SDK and Claude Code's
 * ANTHROPIC_AUTH_TOKEN), else from `x-api-key: <key>` (Claude Code's ANTHROPIC_API_KEY, older Anthropic SDKs).
 * x-api-key counts only when there is no Authorization header: one that holds anything but a Bearer key is refused,
 * not passed over. The cached authorizer keys its decision on the Authorization header and the client IP alone,
 * so the key it verified must come from that header, or a decision made for one request's x-api-key would be
 * reused for another request with the same Authorization value and none or another x-api-key.
 */
export const gatewayKeyOf = (headers: AuthorizerHeaders): string | undefined => {
  const authorization = headerOf(headers, 'authorization');
  if (authorization !== undefined) return BEARER.exec(authorization)?.[1];
  const apiKey = headerOf(headers, 'x-api-key');
  return apiKey !== undefined && API_KEY.test(apiKey) ? apiKey : undefined;
};

/**
 * Every method and path of the stage the request came to. API Gateway caches the result per identity
 * source, so a policy naming only this method ARN would deny the caller's next, different path.
 */
export const stageWildcardOf = (methodArn: string): string => {
  // arn:<partition>:execute-api:<region>:<account>:<apiId>/<stage>/<method>/<path…>
  const parts = methodArn.split(':');
  const [apiId, stage] = (parts[5] ?? '').split('/');
  if (parts.length !== 6 || parts[2] !== 'execute-api' || !apiId || !stage) {
    throw new Error(`methodArn is not an execute-api method ARN, got: ${JSON.stringify(methodArn)}`);
  }
  return `${parts.slice(0, 5).join(':')}:${apiId}/${stage}/*/*`;
};

const policy = (
  effect: 'Allow' | 'Deny',
  resource: string,
): APIGatewayAuthorizerResult['policyDocument'] => ({
  Version: '2012-10-17',
  Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }],
});

/** Misconfiguration or a failing store: API Gateway answers 500 and the detail stays in the log. */
const failed = (logger: Logger, principalId: string, error: unknown): never => {
  logger.error('authorizer failed', {
    principalId,
    error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
  });
  throw new Error('Authorizer failed; see its log', { cause: error });
};

export const createAuthorizer = ({ verify, logger }: AuthorizerOptions) => {
  const deny = (principalId: string, resource: string, context: DenyContext): APIGatewayAuthorizerResult => {
    logger.info('gateway key denied', { principalId, ...context });
    return { principalId, policyDocument: policy('Deny', resource), context };
  };

  return async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
    const presented = gatewayKeyOf(event.headers);
    if (presented === undefined) throw new Error(UNAUTHORIZED);
    const principalId = keyIdOf(presented) ?? 'unknown';
    let resource: string;
    try {
      resource = stageWildcardOf(event.methodArn);
    } catch (error) {
      return failed(logger, principalId, error);
    }
    let verified: VerifiedKey;
    try {
      verified = await verify(presented, event.requestContext?.identity?.sourceIp);
    } catch (error) {
      if (error instanceof GatewayError && error.status === 401) {
        logger.info('gateway key refused', { principalId, code: error.code, message: error.message });
        throw new Error(UNAUTHORIZED);
      }
      if (error instanceof GatewayError && error.status === 403) {
        return deny(principalId, resource, { code: error.code ?? 'forbidden', message: error.message });
      }
      return failed(logger, principalId, error);
    }
    const { principal, tenant } = verified;
    if (!tenant.usagePlanKeyValue) {
      // A usage plan cannot meter or throttle a tenant without an API key: refuse rather than let it through.
      logger.error('tenant has no usage-plan API key', { tenantId: tenant.tenantId, keyId: principal.keyId });
      return deny(principal.keyId, resource, {
        code: 'usage_plan_key_missing',
        message: `The tenant '${tenant.tenantId}' has no usage plan key.`,
      });
    }
    const context: AuthorizerContext = {
      tenantId: principal.tenantId,
      keyId: principal.keyId,
      tier: principal.tier,
      models: principal.models === undefined ? '' : JSON.stringify(principal.models),
      ...(principal.monthlyBudgetMicroUsd === undefined
        ? {}
        : { monthlyBudgetMicroUsd: principal.monthlyBudgetMicroUsd }),
    };
    return {
      principalId: principal.keyId,
      policyDocument: policy('Allow', resource),
      context,
      usageIdentifierKey: tenant.usagePlanKeyValue,
    };
  };
};
