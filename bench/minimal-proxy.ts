// The yardstick: the least a Node reverse proxy can do — pipe the request up and the response back.
import http from 'node:http';
import { serveFromChild } from './child.ts';

const upstream = new URL(process.env.BENCH_UPSTREAM_ORIGIN ?? 'http://127.0.0.1:1');
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

const endToEnd = (headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders => {
  const kept: http.OutgoingHttpHeaders = {};
  for (const name in headers) if (!HOP_BY_HOP.has(name)) kept[name] = headers[name];
  return kept;
};

const server = http.createServer((req, res) => {
  const outgoing = http.request(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: endToEnd(req.headers),
      agent,
    },
    (incoming) => {
      res.writeHead(incoming.statusCode ?? 502, endToEnd(incoming.headers));
      incoming.pipe(res);
    },
  );
  outgoing.on('error', () => res.destroy());
  req.pipe(outgoing);
});

serveFromChild(server);
