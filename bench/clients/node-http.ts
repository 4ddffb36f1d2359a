// Candidate upstream client: node:http with a keep-alive Agent (what lambda/adapters/upstream/node-http.ts uses).
import http from 'node:http';
import type { BenchClient } from './types.ts';

export const createClient = (origin: string): BenchClient => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, scheduling: 'lifo' });
  const url = new URL(origin);
  return {
    post: (path, body) =>
      new Promise((resolve, reject) => {
        const request = http.request(
          {
            host: url.hostname,
            port: url.port,
            path,
            method: 'POST',
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
            agent,
          },
          (response) => {
            const parts: Buffer[] = [];
            response.on('data', (part: Buffer) => parts.push(part));
            response.on('end', () =>
              resolve({ status: response.statusCode ?? 0, bytes: Buffer.concat(parts).byteLength }),
            );
            response.on('error', reject);
          },
        );
        request.on('error', reject);
        request.end(body);
      }),
    close: async () => agent.destroy(),
  };
};
