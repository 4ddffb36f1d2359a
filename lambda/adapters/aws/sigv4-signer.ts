// RequestSigner with SigV4 (@smithy/signature-v4, already in the bundle for the Valkey IAM token) and the AWS SDK's
// default credentials: in the Lambda bundle that is its role's, from the environment (lambda-credentials.ts).
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { RequestSigner } from '../../ports.ts';

export const sigV4Signer = (
  credentials: AwsCredentialIdentityProvider = defaultProvider(),
): RequestSigner => {
  const signers = new Map<string, SignatureV4>();
  const signerFor = (service: string, region: string): SignatureV4 => {
    const key = `${service} ${region}`;
    let signer = signers.get(key);
    if (signer === undefined) {
      signer = new SignatureV4({ service, region, credentials, sha256: Hash.bind(null, 'sha256') });
      signers.set(key, signer);
    }
    return signer;
  };
  return {
    async sign(request, { service, region }) {
      const url = new URL(request.url);
      const query: Record<string, string> = {};
      for (const [name, value] of url.searchParams) query[name] = value;
      const signed = await signerFor(service, region).sign(
        new HttpRequest({
          method: request.method,
          protocol: url.protocol,
          hostname: url.hostname,
          ...(url.port === '' ? {} : { port: Number(url.port) }),
          path: url.pathname,
          query,
          headers: { ...request.headers, host: url.host },
          ...(request.body === undefined ? {} : { body: request.body }),
        }),
      );
      // Everything the signer added (and host, which Node sets itself from the URL).
      const added: Record<string, string> = {};
      for (const [name, value] of Object.entries(signed.headers))
        if (name !== 'host' && request.headers[name] === undefined) added[name] = String(value);
      return added;
    },
  };
};
