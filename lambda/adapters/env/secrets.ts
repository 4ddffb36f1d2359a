// SecretSource over environment variables: secret `openai-api-key` is read from OPENAI_API_KEY.
import type { SecretSource } from '../../ports.ts';

export const envNameOf = (secretName: string): string => secretName.toUpperCase().replace(/[^A-Z0-9]/g, '_');

export const envSecretSource = (env: Readonly<Record<string, string | undefined>>): SecretSource => ({
  async get(name) {
    const variable = envNameOf(name);
    const value = env[variable];
    if (value === undefined || value === '') throw new Error(`secret ${name} is not set: export ${variable}`);
    return value;
  },
});
