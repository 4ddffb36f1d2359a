// The local gateway exactly as `npm start` runs it (lambda/entrypoints/local/app.ts): its SQLite store in
// BENCH_STATE_DIR, the bench's routes, tiers and content rules as its config file, and its JSON log lines appended
// to <state dir>/gateway.log as stdout redirected to a file would take them (one synchronous write each).
import { closeSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalApp } from '../lambda/entrypoints/local/app.ts';
import { serveFromChild } from './child.ts';
import { BENCH_GATEWAY_KEY, benchGatewayConfig } from './shared.ts';

const upstreamOrigin = process.env.BENCH_UPSTREAM_ORIGIN;
const stateDir = process.env.BENCH_STATE_DIR;
if (upstreamOrigin === undefined || stateDir === undefined)
  throw new Error('BENCH_UPSTREAM_ORIGIN and BENCH_STATE_DIR are required');
const configFile = join(stateDir, 'config.json');
writeFileSync(configFile, JSON.stringify(benchGatewayConfig(upstreamOrigin)));
const logFile = join(stateDir, 'gateway.log');
const log = openSync(logFile, 'a');
let logLines = 0;
const app = await createLocalApp(
  {
    PATH: process.env.PATH,
    GATEWAY_STATE_DIR: stateDir,
    GATEWAY_CONFIG_FILE: configFile,
    // The bench's key, as the dev tenant's (tier default, with a budget: every request takes a hold).
    GATEWAY_DEV_KEY: BENCH_GATEWAY_KEY,
    LOG_LEVEL: process.env.BENCH_GATEWAY_LOG_LEVEL ?? 'info',
  },
  {
    writeLog: (line) => {
      logLines += 1;
      writeSync(log, line);
    },
  },
);
process.on('exit', () => closeSync(log));
serveFromChild(app.server, () => ({
  logLines,
  logBytes: statSync(logFile).size,
  usageRecords: app.store.ledger.count(),
}));
