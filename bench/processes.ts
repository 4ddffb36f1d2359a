// The parent side of the bench's child processes: start, ask for CPU usage, run to completion, and always stop.
import { type ChildProcess, spawn } from 'node:child_process';
import type { ChildMessage, ChildStats } from './child.ts';
import { PROBE_MARKER } from './shared.ts';

export interface CpuSample {
  /** user + system, µs. */
  readonly micros: number;
}

const running = new Set<ChildProcess>();

/** Last resort: whatever happens to the parent, no child outlives it. */
const killAll = () => {
  for (const child of running) child.kill('SIGKILL');
};
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}

const untilExit = (child: ChildProcess, timeoutMs: number): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });

/** A long-running server child (fake upstream, minimal proxy, gateway) that talks over IPC. */
export class ServerChild {
  private nextId = 0;
  private readonly waiting = new Map<number, (message: ChildMessage) => void>();
  private exitedEarly: string | undefined;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'ready') return;
      const resolve = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      resolve?.(message);
    });
  }

  static start(
    name: string,
    file: string,
    env: Readonly<Record<string, string>> = {},
    nodeArgs: readonly string[] = [],
  ): Promise<ServerChild> {
    const child = spawn(process.execPath, [...nodeArgs, file], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    running.add(child);
    child.once('exit', () => running.delete(child));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start within 10 s`)), 10_000);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})`));
      });
      child.on('message', (message: ChildMessage) => {
        if (message.type !== 'ready') return;
        clearTimeout(timer);
        const server = new ServerChild(name, child, message.port);
        child.once('exit', (code, signal) => {
          server.exitedEarly = `${name} exited during the bench (code ${code}, signal ${signal})`;
          for (const pending of server.waiting.values()) pending({ type: 'cpu', id: -1, user: 0, system: 0 });
        });
        resolve(server);
      });
    });
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Throws when the child died: every number measured through it would be meaningless. */
  assertAlive(): void {
    if (this.exitedEarly !== undefined) throw new Error(this.exitedEarly);
  }

  private ask(type: 'cpu' | 'stats' | 'profile', file?: string): Promise<ChildMessage> {
    this.assertAlive();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not answer '${type}'`)), 5_000);
      this.waiting.set(id, (message) => {
        clearTimeout(timer);
        resolve(message);
      });
      this.child.send(file === undefined ? { type, id } : { type, id, file });
    });
  }

  async cpu(): Promise<CpuSample> {
    const message = await this.ask('cpu');
    this.assertAlive();
    return message.type === 'cpu' ? { micros: message.user + message.system } : { micros: 0 };
  }

  /** Starts the child's CPU profiler; `stopProfile` writes what it recorded since. */
  async startProfile(): Promise<void> {
    await this.ask('profile');
  }

  async stopProfile(file: string): Promise<void> {
    await this.ask('profile', file);
  }

  async stats(): Promise<ChildStats> {
    const message = await this.ask('stats');
    return message.type === 'stats' ? message.stats : {};
  }

  /** SIGTERM (the child exits normally, so `--cpu-prof` gets written), then SIGKILL after a grace period. */
  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    await untilExit(this.child, 5_000);
  }
}

export interface OneShotResult<T> {
  /** process.hrtime.bigint() just before spawn. */
  readonly spawnedAtNs: bigint;
  readonly exitedAtNs: bigint;
  readonly result: T;
}

/** Runs `node <argv>` to completion in a fresh process and returns the JSON it printed after PROBE_MARKER. */
export const runOnce = <T>(
  argv: readonly string[],
  env: Readonly<Record<string, string>> = {},
  timeoutMs = 60_000,
): Promise<OneShotResult<T>> =>
  new Promise((resolve, reject) => {
    const spawnedAtNs = process.hrtime.bigint();
    const child = spawn(process.execPath, argv, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const exitedAtNs = process.hrtime.bigint();
      clearTimeout(timer);
      running.delete(child);
      const line = stdout.split('\n').find((candidate) => candidate.startsWith(PROBE_MARKER));
      if (code !== 0 || line === undefined) {
        reject(
          new Error(
            `node ${argv.join(' ')} failed (code ${code}, signal ${signal}):\n${stderr.slice(-2000)}${stdout.slice(-1000)}`,
          ),
        );
        return;
      }
      resolve({ spawnedAtNs, exitedAtNs, result: JSON.parse(line.slice(PROBE_MARKER.length)) as T });
    });
  });
