// The caller as the REST API's authorizer passed it, and the client address, read from Lambda events.
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import { principalFromAuthorizer, toGatewayRequest } from '../../lambda/entrypoints/lambda/events.ts';
import type { Principal } from '../../lambda/ports.ts';
import { functionUrlEvent, restEvent } from '../fixtures/lambda-events.ts';

/** What the authorizer puts in its context, plus the fields API Gateway adds itself. */
const CONTEXT = {
  tenantId: 'acme',
  keyId: 'aaaaaaaaaaaaaaaa',
  tier: 'pro',
  models: '["gpt-4o-mini","o3*"]',
  monthlyBudgetMicroUsd: '50000000',
  principalId: 'aaaaaaaaaaaaaaaa',
  integrationLatency: 12,
};
const PRINCIPAL: Principal = {
  tenantId: 'acme',
  keyId: 'aaaaaaaaaaaaaaaa',
  tier: 'pro',
  models: ['gpt-4o-mini', 'o3*'],
  monthlyBudgetMicroUsd: 50_000_000,
};

describe('principalFromAuthorizer', () => {
  it.each<[string, Record<string, unknown> | null | undefined, Principal | undefined]>([
    ['a full context (budget as a numeric string)', CONTEXT, PRINCIPAL],
    ['a budget as a number', { ...CONTEXT, monthlyBudgetMicroUsd: 50_000_000 }, PRINCIPAL],
    ['a budget of 0', { ...CONTEXT, monthlyBudgetMicroUsd: '0' }, { ...PRINCIPAL, monthlyBudgetMicroUsd: 0 }],
    [
      'no budget',
      { ...CONTEXT, monthlyBudgetMicroUsd: undefined },
      { ...PRINCIPAL, monthlyBudgetMicroUsd: undefined },
    ],
    [
      'an empty budget',
      { ...CONTEXT, monthlyBudgetMicroUsd: '' },
      { ...PRINCIPAL, monthlyBudgetMicroUsd: undefined },
    ],
    [
      'a budget that is not a number',
      { ...CONTEXT, monthlyBudgetMicroUsd: 'lots' },
      { ...PRINCIPAL, monthlyBudgetMicroUsd: undefined },
    ],
    ["models '' (every model)", { ...CONTEXT, models: '' }, { ...PRINCIPAL, models: undefined }],
    ['no models field', { ...CONTEXT, models: undefined }, { ...PRINCIPAL, models: undefined }],
    ["models '[]' (no model)", { ...CONTEXT, models: '[]' }, { ...PRINCIPAL, models: [] }],
    ['no tenantId', { ...CONTEXT, tenantId: undefined }, undefined],
    ['no keyId', { ...CONTEXT, keyId: undefined }, undefined],
    ['no tier', { ...CONTEXT, tier: undefined }, undefined],
    ['a tenantId that is not a string', { ...CONTEXT, tenantId: 42 }, undefined],
    ['only what API Gateway adds', { principalId: 'x', integrationLatency: 3 }, undefined],
    ['an empty context', {}, undefined],
    ['a null authorizer', null, undefined],
    ['no authorizer', undefined, undefined],
  ])('%s', (_name, authorizer, expected) => {
    // Act
    const principal = principalFromAuthorizer(authorizer);

    // Assess
    expect(principal).toStrictEqual(expected);
  });
});

/** A REST (v1) event as API Gateway sends it after the authorizer allowed the key. */
const authorizedRestEvent = (
  authorizer: Record<string, unknown> | null | undefined,
  sourceIp: string | null = '203.0.113.7',
): APIGatewayProxyEvent => {
  const event = restEvent({
    path: '/chat/completions',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  return {
    ...event,
    requestContext: {
      ...event.requestContext,
      authorizer,
      identity: { ...event.requestContext.identity, sourceIp: sourceIp as string },
    },
  };
};

/** A Function URL (v2) event; `extra` goes into its requestContext, as a client cannot but a test can. */
const urlEvent = (sourceIp: string, extra: Record<string, unknown> = {}): APIGatewayProxyEventV2 => {
  const event = functionUrlEvent({ rawPath: '/v1/chat/completions', body: '{}' });
  return {
    ...event,
    requestContext: {
      ...event.requestContext,
      http: { ...event.requestContext.http, sourceIp },
      ...extra,
    },
  } as APIGatewayProxyEventV2;
};

describe('toGatewayRequest: client address and principal', () => {
  it.each<[string, APIGatewayProxyEvent | APIGatewayProxyEventV2, string | undefined, Principal | undefined]>(
    [
      ['a REST event with an authorizer context', authorizedRestEvent(CONTEXT), '203.0.113.7', PRINCIPAL],
      ['a REST event over IPv6', authorizedRestEvent(CONTEXT, '2001:db8::7'), '2001:db8::7', PRINCIPAL],
      ['a REST event without an authorizer', authorizedRestEvent(undefined), '203.0.113.7', undefined],
      ['a REST event with a null authorizer', authorizedRestEvent(null), '203.0.113.7', undefined],
      [
        'a REST event whose authorizer context lacks the tenant',
        authorizedRestEvent({ ...CONTEXT, tenantId: undefined }),
        '203.0.113.7',
        undefined,
      ],
      ['a REST event without a source address', authorizedRestEvent(CONTEXT, null), undefined, PRINCIPAL],
      ['a Function URL event', urlEvent('198.51.100.4'), '198.51.100.4', undefined],
      [
        'a Function URL event carrying authorizer fields',
        urlEvent('198.51.100.4', { authorizer: CONTEXT }),
        '198.51.100.4',
        undefined,
      ],
      [
        'a Function URL event carrying an HTTP API style lambda authorizer',
        urlEvent('198.51.100.4', { authorizer: { lambda: CONTEXT } }),
        '198.51.100.4',
        undefined,
      ],
    ],
  )('%s', (_name, event, clientIp, principal) => {
    // Act
    const input = toGatewayRequest(event);

    // Assess
    expect(input.clientIp).toBe(clientIp);
    expect(input.principal).toStrictEqual(principal);
    expect(input.path).toBe('/v1/chat/completions');
  });
});
