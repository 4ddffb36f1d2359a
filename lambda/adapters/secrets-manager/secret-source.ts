// SecretSource over AWS Secrets Manager, with a TTL cache so a warm function does not call it per request.
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretSource } from '../../ports.ts';

export interface SecretsManagerSourceOptions {
  /** Secret name (as config names it) → SecretId (ARN or name). @default - the name is the SecretId */
  readonly secretIds?: Readonly<Record<string, string>>;
  /** How long a value read is reused. @default 300_000 (5 minutes) */
  readonly ttlMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

interface Cached {
  readonly value: string;
  readonly readAt: number;
}

/**
 * Reads each secret's SecretString (trimmed). `fresh: true` skips the cache, e.g. after an upstream 401.
 * Concurrent gets of one secret share a single call; a fresh get joins a call already in flight too, since
 * that call is itself a read from Secrets Manager. Failures are not cached.
 */
export const secretsManagerSource = (
  client: SecretsManagerClient,
  options: SecretsManagerSourceOptions = {},
): SecretSource => {
  const ttlMs = options.ttlMs ?? 5 * 60 * 1000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, Cached>();
  const inFlight = new Map<string, Promise<string>>();

  const read = async (name: string): Promise<string> => {
    const secretId = options.secretIds?.[name] ?? name;
    let secretString: string | undefined;
    try {
      ({ SecretString: secretString } = await client.send(new GetSecretValueCommand({ SecretId: secretId })));
    } catch (error) {
      // By name rather than instanceof: a bundle may hold more than one copy of the SDK's error classes.
      if (error instanceof Error && error.name === 'ResourceNotFoundException') {
        throw new Error(`secret ${name} does not exist in Secrets Manager (SecretId ${secretId})`, {
          cause: error,
        });
      }
      const reason = error instanceof Error ? error.name : 'unknown error';
      throw new Error(`secret ${name} could not be read from Secrets Manager: ${reason}`, { cause: error });
    }
    const value = secretString?.trim();
    if (!value) throw new Error(`secret ${name} has no SecretString value in Secrets Manager`);
    return value;
  };

  return {
    get(name, getOptions) {
      const cached = cache.get(name);
      if (!getOptions?.fresh && cached !== undefined && now() - cached.readAt < ttlMs) {
        return Promise.resolve(cached.value);
      }
      const pending = inFlight.get(name);
      if (pending !== undefined) return pending;
      const startedAt = now();
      const call = read(name)
        .then((value) => {
          cache.set(name, { value, readAt: startedAt });
          return value;
        })
        .finally(() => inFlight.delete(name));
      inFlight.set(name, call);
      return call;
    },
  };
};
