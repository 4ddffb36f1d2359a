// `npm start`: the gateway on http://127.0.0.1:8787/v1 with embedded defaults and its local store (app.ts).
import { ConfigError } from '../../core/config.ts';
import { createLocalApp, type LocalApp } from './app.ts';

const env = process.env;
const port = Number(env.PORT ?? 8787);
const host = env.HOST ?? '127.0.0.1';

let app: LocalApp;
try {
  app = await createLocalApp(env);
} catch (error) {
  process.stderr.write(
    `${error instanceof ConfigError || error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
}

const { server, devKey, store } = app;
server.listen(port, host, () => {
  // PORT=0 takes a free port: the banner says which.
  const address = server.address();
  const listening = typeof address === 'object' && address !== null ? address.port : port;
  const upstream = env.OPENAI_API_KEY
    ? `OpenAI at ${env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1'}`
    : 'the built-in mock provider';
  process.stderr.write(
    [
      `LLM gateway listening on http://${host}:${listening}/v1 (upstream: ${upstream})`,
      `Dev key (tenant "dev"): ${devKey}`,
      `State: ${store.file} (manage tenants and keys with: npm run admin -- --help)`,
      ...(store.imported === undefined
        ? []
        : [
            `Imported ${store.imported.file} (${store.imported.tenants} tenants, ${store.imported.keys} keys, ${store.imported.usageRecords} usage records) into it; that file is no longer read and is left as a backup.`,
          ]),
      `Try: curl http://${host}:${listening}/v1/chat/completions -H "Authorization: Bearer ${devKey}" -H "Content-Type: application/json" -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'`,
      '',
    ].join('\n'),
  );
});
const stop = () =>
  server.close(() => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
