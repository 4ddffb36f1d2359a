// The child-process side of the bench: listen on a random loopback port, then answer the parent over IPC.
import { writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { Session } from 'node:inspector/promises';

export type ChildStats = Readonly<Record<string, number>>;

export type ParentMessage =
  | { readonly type: 'cpu'; readonly id: number }
  | { readonly type: 'stats'; readonly id: number }
  /** Starts the V8 CPU profiler, or stops it and writes the profile to `file` (a phase's profile, no start-up). */
  | { readonly type: 'profile'; readonly id: number; readonly file?: string };

export type ChildMessage =
  | { readonly type: 'ready'; readonly port: number }
  | { readonly type: 'cpu'; readonly id: number; readonly user: number; readonly system: number }
  | { readonly type: 'stats'; readonly id: number; readonly stats: ChildStats }
  | { readonly type: 'profile'; readonly id: number };

/** Idle keep-alive sockets must outlive the pauses between bench phases, or a reused socket races its close. */
export const BENCH_KEEP_ALIVE_MS = 120_000;

const send = (message: ChildMessage) => process.send?.(message);

/**
 * Starts `server` on 127.0.0.1:0 and reports its port. The parent asks for `process.cpuUsage()` around each
 * phase, so the CPU a server spends is measured in its own process. SIGTERM and a lost parent end the process
 * normally, which lets `--cpu-prof` write its profile.
 */
export const serveFromChild = (server: Server, stats: () => ChildStats = () => ({})): void => {
  if (process.send === undefined)
    throw new Error('start this file from bench/run.ts: it needs an IPC channel');
  server.keepAliveTimeout = BENCH_KEEP_ALIVE_MS;
  server.headersTimeout = BENCH_KEEP_ALIVE_MS + 1_000;
  let profiler: Session | undefined;
  const profile = async (file: string | undefined): Promise<void> => {
    if (file === undefined) {
      profiler = new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.start');
      return;
    }
    const session = profiler;
    profiler = undefined;
    if (session === undefined) return;
    const { profile: written } = await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(written));
    session.disconnect();
  };
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'profile') {
      void profile(message.file).then(() => send({ type: 'profile', id: message.id }));
    } else if (message.type === 'cpu') {
      const { user, system } = process.cpuUsage();
      send({ type: 'cpu', id: message.id, user, system });
    } else if (message.type === 'stats') {
      send({ type: 'stats', id: message.id, stats: stats() });
    }
  });
  const exit = () => process.exit(0);
  process.on('disconnect', exit);
  process.on('SIGTERM', exit);
  process.on('SIGINT', exit);
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
    send({ type: 'ready', port: address.port });
  });
};
