// Candidate upstream client: undici 7 `request()` with its own Agent (bundled from node_modules).
import { Agent, request } from 'undici';
import type { BenchClient } from './types.ts';

export const createClient = (origin: string): BenchClient => {
  const dispatcher = new Agent({ keepAliveTimeout: 60_000, connections: 256 });
  return {
    post: async (path, body) => {
      const response = await request(`${origin}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        dispatcher,
      });
      const bytes = (await response.body.arrayBuffer()).byteLength;
      return { status: response.statusCode, bytes };
    },
    close: () => dispatcher.close(),
  };
};
