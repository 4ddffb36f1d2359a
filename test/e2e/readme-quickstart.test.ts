// The README's quickstart, run as a new user copies it: `npm start`, then the second terminal's commands and
// the SDK example, in order. Only the port and the state folder differ (a free port, a temporary folder), so
// that the test runs beside a developer's own `npm start`.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const README_PORT = '8787';

/** The fenced code blocks of the README's Quickstart section, in order. */
const quickstartBlocks = (): Array<{ readonly lang: string; readonly code: string }> => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((part) => part.startsWith('Quickstart'));
  if (section === undefined) throw new Error('README.md has no Quickstart section');
  return [...section.matchAll(/^```(\w+)\n([\s\S]*?)^```/gm)].map((match) => ({
    lang: match[1]!,
    code: match[2]!,
  }));
};

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(),
      );
    });
  });

const run = (script: string, cwd: string, env: Record<string, string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      'bash',
      ['-euo', 'pipefail', '-c', script],
      { cwd, env: { ...process.env, ...env }, timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1,
          stdout,
          stderr,
        }),
    );
  });

let dir: string;
let port: string;
let gateway: ChildProcess;
let gatewayOutput = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'quickstart-'));
  // The SDK example imports `openai`, installed with the project: the user runs it in the project folder.
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  port = String(await freePort());
  const [start] = quickstartBlocks();
  expect(start).toEqual({ lang: 'sh', code: 'npm install && npm start\n' });
  // `npm install` has run already (the suite runs from an installed checkout): the rest as written.
  gateway = spawn('npm', ['start'], {
    cwd: repoRoot,
    env: { ...process.env, PORT: port, GATEWAY_STATE_DIR: join(dir, '.gateway'), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: npm, tsx and the gateway stop together, as Ctrl+C stops them in a terminal.
    detached: true,
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`npm start did not listen within 60 s:\n${gatewayOutput}`)),
      60_000,
    );
    const onData = (chunk: Buffer) => {
      gatewayOutput += chunk.toString();
      if (gatewayOutput.includes('LLM gateway listening on')) {
        clearTimeout(timer);
        resolve();
      }
    };
    gateway.stdout?.on('data', onData);
    gateway.stderr?.on('data', onData);
    gateway.on('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${gatewayOutput}`)));
  });
}, 90_000);

afterAll(async () => {
  if (gateway.exitCode === null && gateway.pid !== undefined) {
    const exited = new Promise((resolve) => gateway.once('exit', resolve));
    process.kill(-gateway.pid, 'SIGTERM');
    await exited;
  }
  gateway.stdout?.destroy();
  gateway.stderr?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('the README quickstart', () => {
  it('prints the dev key it keeps in .gateway/dev-key', () => {
    const key = readFileSync(join(dir, '.gateway', 'dev-key'), 'utf8').trim();
    expect(key).toMatch(/^sk-gw-[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/);
    expect(gatewayOutput).toContain(key);
  });

  it('answers the second terminal’s curl, with the key taken as the README says', async () => {
    // Prepare
    const [, terminal] = quickstartBlocks();
    expect(terminal?.lang).toBe('sh');
    expect(terminal?.code).toContain('export GATEWAY_DEV_KEY=$(cat .gateway/dev-key)');

    // Act
    const result = await run(terminal!.code.replaceAll(README_PORT, port), dir, {});

    // Assess
    expect(result.stderr).not.toContain('error');
    expect(result.code).toBe(0);
    const answer = JSON.parse(result.stdout) as { choices: Array<{ message: { content: string } }> };
    expect(answer.choices[0]?.message.content).toContain('You said: "Hello"');
  }, 60_000);

  it('streams the SDK example, saved as hello.mjs and run with node in that terminal', async () => {
    // Prepare
    const [, terminal, example] = quickstartBlocks();
    expect(example?.lang).toBe('js');
    writeFileSync(join(dir, 'hello.mjs'), example!.code.replaceAll(README_PORT, port));
    const exportLine = terminal!.code.split('\n').find((line) => line.startsWith('export GATEWAY_DEV_KEY='))!;

    // Act
    const result = await run(`${exportLine}\nnode hello.mjs`, dir, {});

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      'This is the gateway\'s mock provider. You said: "Write a haiku about gateways". Set OPENAI_API_KEY to talk to a real model.\n',
    );
  }, 60_000);
});
