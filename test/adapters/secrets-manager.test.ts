// The Secrets Manager SecretSource against a real Secrets Manager API (moto server on 127.0.0.1).
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { secretsManagerSource } from '../../lambda/adapters/secrets-manager/secret-source.ts';
import { type MotoServer, startMotoServer } from '../fixtures/moto-server.ts';

let moto: MotoServer;
let client: SecretsManagerClient;
let secretNumber = 0;

const newClient = () =>
  new SecretsManagerClient({
    endpoint: moto.endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });

beforeAll(async () => {
  moto = await startMotoServer();
  client = newClient();
}, 40_000); // longer than the fixture's own start timeout, so its message (how to install) is what shows

afterAll(async () => {
  client?.destroy();
  await moto?.stop();
});

/** A secret with a name no other test uses (the server keeps its state for the whole file). */
const createSecret = async (value: string) => {
  const name = `test/secret-${++secretNumber}`;
  const created = await client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  return { name, arn: created.ARN ?? '' };
};
const putSecret = (name: string, value: string) =>
  client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));

/** Counts the calls the SDK client makes, so a test can see what came from the cache. */
const countCalls = (counted: SecretsManagerClient) => {
  const calls = { count: 0 };
  counted.middlewareStack.add(
    (next) => async (args) => {
      calls.count += 1;
      return next(args);
    },
    { step: 'initialize' },
  );
  return calls;
};

describe('secretsManagerSource', () => {
  it('reads the SecretString, trimmed', async () => {
    // Prepare
    const { name } = await createSecret('  sk-upstream-1\n');
    const secrets = secretsManagerSource(client);

    // Act
    const value = await secrets.get(name);

    // Assess
    expect(value).toBe('sk-upstream-1');
  });

  it('reads a secret by the SecretId its name maps to', async () => {
    // Prepare
    const { arn } = await createSecret('pepper-value');
    const secrets = secretsManagerSource(client, { secretIds: { 'gateway-key-pepper': arn } });

    // Act
    const value = await secrets.get('gateway-key-pepper');

    // Assess
    expect(value).toBe('pepper-value');
  });

  it('serves the cached value within the TTL, and the new one when asked for a fresh read', async () => {
    // Prepare
    const { name } = await createSecret('old-value');
    const secrets = secretsManagerSource(client, { ttlMs: 60_000 });
    await secrets.get(name);
    await putSecret(name, 'new-value');

    // Act
    const cached = await secrets.get(name);
    const fresh = await secrets.get(name, { fresh: true });
    const afterFresh = await secrets.get(name);

    // Assess
    expect([cached, fresh, afterFresh]).toEqual(['old-value', 'new-value', 'new-value']);
  });

  it('reads the secret again once the TTL has passed', async () => {
    // Prepare
    const { name } = await createSecret('old-value');
    let now = 1_000_000;
    const secrets = secretsManagerSource(client, { ttlMs: 1_000, now: () => now });
    await secrets.get(name);
    await putSecret(name, 'new-value');

    // Act
    now += 999;
    const justBefore = await secrets.get(name);
    now += 1;
    const atExpiry = await secrets.get(name);

    // Assess
    expect([justBefore, atExpiry]).toEqual(['old-value', 'new-value']);
  });

  it('shares one call between concurrent gets of the same secret', async () => {
    // Prepare
    const { name } = await createSecret('shared-value');
    const counted = newClient();
    const calls = countCalls(counted);
    const secrets = secretsManagerSource(counted);

    // Act
    const values = await Promise.all([
      secrets.get(name),
      secrets.get(name),
      secrets.get(name, { fresh: true }),
    ]);

    // Assess
    expect(values).toEqual(['shared-value', 'shared-value', 'shared-value']);
    expect(calls.count).toBe(1);
    counted.destroy();
  });

  it('rejects a missing secret with its name, and does not remember the failure', async () => {
    // Prepare
    const name = `test/missing-${++secretNumber}`;
    const secrets = secretsManagerSource(client);

    // Act
    const missing = secrets.get(name);

    // Assess
    await expect(missing).rejects.toThrow(
      `secret ${name} does not exist in Secrets Manager (SecretId ${name})`,
    );
    await client.send(new CreateSecretCommand({ Name: name, SecretString: 'created-later' }));
    await expect(secrets.get(name)).resolves.toBe('created-later');
  });

  it('rejects a secret that holds only binary data, without showing it', async () => {
    // Prepare
    const name = `test/binary-${++secretNumber}`;
    await client.send(new CreateSecretCommand({ Name: name, SecretBinary: Buffer.from('binary-secret') }));
    const secrets = secretsManagerSource(client);

    // Act
    const result = secrets.get(name);

    // Assess
    await expect(result).rejects.toMatchObject({
      message: `secret ${name} has no SecretString value in Secrets Manager`,
    });
  });
});
