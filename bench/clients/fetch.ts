// Candidate upstream client: the runtime's global fetch (Node's built-in copy of undici; nothing to bundle).
import type { BenchClient } from './types.ts';

export const createClient = (origin: string): BenchClient => ({
  post: async (path, body) => {
    const response = await fetch(`${origin}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const bytes = (await response.arrayBuffer()).byteLength;
    return { status: response.status, bytes };
  },
  close: async () => {},
});
