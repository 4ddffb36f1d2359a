// Stage: who is asking. A caller the entry point already verified (the API Gateway authorizer ran the same check)
// is taken as it is; anyone else must show a gateway key, verified against the key store (cached briefly).
import type { Principal } from '../../ports.ts';
import type { GatewayContext } from '../context.ts';
import { unauthorized } from '../errors.ts';
import type { GatewayRequest } from '../exchange.ts';
import { bearerToken } from '../http.ts';

export const authenticate = async (g: GatewayContext, request: GatewayRequest): Promise<Principal> => {
  if (request.principal !== undefined) return request.principal;
  const key = bearerToken(request.headers);
  if (key === undefined) {
    throw unauthorized(
      "You didn't provide an API key. Send your gateway key as 'Authorization: Bearer <key>' (or the x-api-key header).",
    );
  }
  // Most requests come with a key verified moments ago: no store, no HMAC, no wait.
  const known = g.verifier.verifyCached(key, request.clientIp);
  return (known ?? (await g.verifier.verify(key, request.clientIp))).principal;
};
