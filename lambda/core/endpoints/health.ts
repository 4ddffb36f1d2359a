// GET /health (and /v1/health, where API Gateway's stage puts every path): no key, no store, no upstream.
import { jsonResponse } from '../exchange.ts';
import type { RouteHandler, RouteSpec } from '../route-table.ts';
import { baseHeaders } from '../state.ts';

const health: RouteHandler = async (g, state) =>
  jsonResponse(200, { status: 'ok' }, baseHeaders(state, g.clock.now()));

export const HEALTH_PATH = '/health';
/** Behind API Gateway every path sits under the `v1` stage, health included. */
export const V1_HEALTH_PATH = '/v1/health';

export const healthRoutes: RouteSpec[] = [
  { path: HEALTH_PATH, methods: { GET: health, HEAD: health }, auth: false },
  { path: V1_HEALTH_PATH, methods: { GET: health, HEAD: health }, auth: false },
];
