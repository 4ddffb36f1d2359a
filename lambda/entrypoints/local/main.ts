// `npm start`: the gateway on http://127.0.0.1:8787/v1 with in-memory adapters and embedded defaults.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { envSecretSource } from '../../adapters/env/secrets.ts';
import { MemoryKeyStore, MemoryMetrics, MemoryUsageLedger } from '../../adapters/memory/index.ts';
import { systemClock } from '../../adapters/system/clock.ts';
import { isLogLevel, jsonLogger } from '../../adapters/system/json-logger.ts';
import { withMockProvider } from '../../adapters/upstream/mock.ts';
import { createNodeHttpUpstream } from '../../adapters/upstream/node-http.ts';
import { ConfigError, parseGatewayConfig } from '../../core/config.ts';
import { createGateway } from '../../core/pipeline.ts';
import { localConfig } from './defaults.ts';
import { createLocalServer } from './server.ts';

const env = process.env;
const port = Number(env.PORT ?? 8787);
const host = env.HOST ?? '127.0.0.1';
const level = env.LOG_LEVEL ?? 'info';
const logger = jsonLogger((line) => process.stdout.write(line), isLogLevel(level) ? level : 'info');

let config: ReturnType<typeof parseGatewayConfig>;
try {
  config = parseGatewayConfig(
    env.GATEWAY_CONFIG_FILE ? JSON.parse(readFileSync(env.GATEWAY_CONFIG_FILE, 'utf8')) : localConfig(env),
  );
} catch (error) {
  process.stderr.write(`${error instanceof ConfigError ? error.message : String(error)}\n`);
  process.exit(1);
}

const devKey = env.GATEWAY_DEV_KEY ?? `sk-gw-dev-${randomBytes(24).toString('base64url')}`;
const keys = new MemoryKeyStore([[devKey, { tenantId: 'dev', keyId: 'dev' }]]);
const ledger = new MemoryUsageLedger(10_000);
const gateway = createGateway({
  config,
  keys,
  secrets: envSecretSource(env),
  upstream: withMockProvider(createNodeHttpUpstream()),
  ledger,
  metrics: new MemoryMetrics(),
  logger,
  clock: systemClock,
});

const server = createLocalServer(gateway);
server.listen(port, host, () => {
  const upstream = env.OPENAI_API_KEY
    ? `OpenAI at ${env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1'}`
    : 'the built-in mock provider';
  process.stderr.write(
    [
      `LLM gateway listening on http://${host}:${port}/v1 (upstream: ${upstream})`,
      `Dev key: ${devKey}`,
      `Try: curl http://${host}:${port}/v1/chat/completions -H "Authorization: Bearer ${devKey}" -H "Content-Type: application/json" -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'`,
      '',
    ].join('\n'),
  );
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
