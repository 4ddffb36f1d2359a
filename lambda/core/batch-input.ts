// A batch input file, read line by line when it is uploaded: each line is a request the gateway would serve
// (its endpoint one batches run, its body valid for it, its model routable and allowed for the key and tier,
// every id it names the tenant's, the tier's caps and the request content rules applied), and what leaves is the
// file the upstream can run: each model renamed to the target's, each text as the rules left it. A bad line is a
// 400 naming it. All lines name one endpoint, one model and so one target; what they hold is summed for the
// budget of a batch of the file.
import type { BatchInput, Principal } from '../ports.ts';
import { idsInRequest } from './body-ids.ts';
import type { TargetConfig } from './config.ts';
import type { GatewayContext } from './context.ts';
import { type Endpoint, PROXIED_ENDPOINTS } from './endpoints/catalogue.ts';
import {
  backgroundRefused,
  badBatchFile,
  badBatchLine,
  GatewayError,
  invalidRequest,
  modelNotFound,
} from './errors.ts';
import { checkJsonShape, decodeUtf8, enforceParameterLimits, maxBodyBytesFor } from './limits.ts';
import { TokenShape } from './metering.ts';
import { NO_RECORDS, targetsHolding } from './owned-ids.ts';
import { priceFor } from './pricing.ts';
import { checkModelName, checkRequestFields } from './request-fields.ts';
import { holdTokens } from './stages/budget.ts';
import { applyRequestRules } from './stages/content.ts';
import { findRoute, idShapeOf, requireAllowed } from './stages/resolve-model.ts';
import type { RequestState } from './state.ts';

type Json = Record<string, unknown>;

/** The endpoints a batch line may call: those whose usage a batch reports and the gateway prices. */
export const BATCH_ENDPOINTS: ReadonlySet<string> = new Set([
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/responses',
]);
/** OpenAI's limit on the requests of one batch. */
export const MAX_BATCH_LINES = 50_000;
/** The providers that run batches. */
const BATCH_PROVIDERS: ReadonlySet<string> = new Set(['openai', 'azure-openai']);
const LINE_FIELDS: ReadonlySet<string> = new Set(['custom_id', 'method', 'url', 'body']);
const encoder = new TextEncoder();

export interface CheckedBatchInput {
  /** The file as the upstream gets it: one line per request, models renamed, texts as the rules left them. */
  readonly content: Uint8Array;
  /** What the gateway keeps of it: a batch of it holds and meters by this. */
  readonly input: BatchInput;
  /** The target every line routes to: the file goes there, and so does a batch of it. */
  readonly target: TargetConfig;
}

/** The endpoint as a batch line on a target names it: Azure OpenAI's batches take paths without `/v1`. */
export const batchUrlFor = (target: TargetConfig, endpoint: string): string =>
  target.provider === 'azure-openai' ? endpoint.slice('/v1'.length) : endpoint;

interface Line {
  readonly customId: string;
  readonly endpoint: string;
  readonly body: Json;
  readonly bytes: Uint8Array;
}

/** A line's own fields: a JSON object with a custom_id, POST, a batch endpoint and a body (within the limits). */
const readLine = (g: GatewayContext, principal: Principal, text: string): Line => {
  const bytes = encoder.encode(text);
  checkJsonShape(bytes, g.config.limits);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw invalidRequest('it is not JSON: each line must be one JSON object.', null, 'invalid_json', error);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw invalidRequest('it is not a JSON object.', null, 'invalid_json');
  const line = parsed as Json;
  for (const field of Object.keys(line))
    if (!LINE_FIELDS.has(field))
      throw invalidRequest(
        `unknown field '${field}': a line has custom_id, method, url and body.`,
        field,
        'unknown_parameter',
      );
  const { custom_id: customId, method, url, body } = line;
  if (typeof customId !== 'string' || customId === '')
    throw invalidRequest("'custom_id' must be a non-empty string.", 'custom_id');
  if (method !== 'POST')
    throw invalidRequest(`'method' must be "POST", got: ${JSON.stringify(method)}.`, 'method');
  if (typeof url !== 'string' || !BATCH_ENDPOINTS.has(url))
    throw invalidRequest(
      `'url' must be one of ${[...BATCH_ENDPOINTS].join(', ')}, got: ${JSON.stringify(url)}.`,
      'url',
    );
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalidRequest("'body' must be the request's JSON object.", 'body');
  const bodyBytes = encoder.encode(JSON.stringify(body));
  const limit = maxBodyBytesFor(g.config, g.config.tiers[principal.tier]);
  if (bodyBytes.byteLength > limit)
    throw invalidRequest(`its body is ${bodyBytes.byteLength} bytes, over this gateway's ${limit}.`, 'body');
  return { customId, endpoint: url, body: body as Json, bytes: bodyBytes };
};

/** Checks every line of a batch input file and returns what goes upstream, or throws the first bad line's 400. */
export const checkBatchInput = async (
  g: GatewayContext,
  state: RequestState,
  principal: Principal,
  file: Uint8Array,
): Promise<CheckedBatchInput> => {
  let text: string;
  try {
    text = decodeUtf8(file);
  } catch {
    throw badBatchFile('The batch input file is not UTF-8 text: it must be JSONL, one JSON object per line.');
  }
  const rows = text.split('\n');
  if (rows.at(-1) === '') rows.pop();
  if (rows.length === 0)
    throw badBatchFile('The batch input file has no lines: it must hold at least one request.');
  if (rows.length > MAX_BATCH_LINES)
    throw badBatchFile(
      `The batch input file has ${rows.length} lines: a batch holds at most ${MAX_BATCH_LINES} requests.`,
    );

  const seen = new Set<string>();
  const out: string[] = [];
  let first: { endpoint: string; model: string; target: TargetConfig; upstreamModel: string } | undefined;
  let inputTokens = 0;
  let outputTokens = 0;
  for (const [index, row] of rows.entries()) {
    const number = index + 1;
    let customId: string | undefined;
    try {
      const line = readLine(g, principal, row.endsWith('\r') ? row.slice(0, -1) : row);
      customId = line.customId;
      if (seen.has(customId))
        throw invalidRequest(
          `custom_id ${JSON.stringify(customId)} is on an earlier line: each must be unique.`,
        );
      seen.add(customId);
      if (first !== undefined && line.endpoint !== first.endpoint)
        throw invalidRequest(
          `its url is ${line.endpoint}, and line 1's is ${first.endpoint}: every line of a batch calls one endpoint.`,
          'url',
        );
      const endpoint = PROXIED_ENDPOINTS.get(line.endpoint) as Endpoint;
      const checked = await checkLine(g, state, principal, endpoint, line, first?.model);
      first ??= { endpoint: line.endpoint, ...checked };
      if (checked.target.id !== first.target.id)
        throw invalidRequest(
          `its model routes to target '${checked.target.id}', and line 1's to '${first.target.id}': every line of a batch goes to one upstream.`,
          'model',
        );
      inputTokens += checked.tokens.input;
      outputTokens += checked.tokens.output;
      out.push(
        JSON.stringify({
          custom_id: customId,
          method: 'POST',
          url: batchUrlFor(checked.target, line.endpoint),
          body: { ...line.body, model: checked.upstreamModel },
        }),
      );
    } catch (error) {
      if (error instanceof GatewayError && error.status < 500) throw badBatchLine(number, customId, error);
      throw error;
    }
  }
  const { endpoint, model, target, upstreamModel } = first!;
  return {
    content: encoder.encode(`${out.join('\n')}\n`),
    input: { endpoint, model, upstreamModel, lines: rows.length, inputTokens, outputTokens },
    target,
  };
};

/** One line's request as the gateway would check it if it came alone; `model`: the model of line 1. */
const checkLine = async (
  g: GatewayContext,
  state: RequestState,
  principal: Principal,
  endpoint: Endpoint,
  line: Line,
  model: string | undefined,
) => {
  const { body } = line;
  const asked = body.model;
  if (typeof asked !== 'string' || asked === '')
    throw invalidRequest('You must provide a model parameter.', 'model');
  checkModelName(asked);
  if (model !== undefined && asked !== model)
    throw invalidRequest(
      `its model is '${asked}', and line 1's is '${model}': every line of a batch names one model.`,
      'model',
    );
  if (body.stream === true)
    throw invalidRequest(
      'a batch request cannot stream: leave `stream` out.',
      'stream',
      'unsupported_parameter',
    );
  if (endpoint.tokens === TokenShape.responses && body.background === true) throw backgroundRefused();
  checkRequestFields(endpoint.tokens, endpoint.upstreamPath, body);
  const { route, baseModel } = await findRoute(g, principal, asked);
  if (route === undefined) throw modelNotFound(asked);
  requireAllowed(g, principal, asked, baseModel);
  // Every id the body names is the tenant's (404 otherwise), and on the upstream that runs the batch.
  const ids = idsInRequest(idShapeOf(endpoint), body);
  const records = ids.length > 0 ? await g.ownedIds.check(principal, ids) : NO_RECORDS;
  const target = targetsHolding(route.targets, records, g.targets.target, asked).find((candidate) =>
    BATCH_PROVIDERS.has(candidate.provider),
  );
  if (target === undefined)
    throw invalidRequest(
      `the model '${asked}' is not routed to an OpenAI or Azure OpenAI target, where batches run.`,
      'model',
      'unsupported_model',
    );
  enforceParameterLimits({
    config: g.config,
    tierName: principal.tier,
    tier: g.config.tiers[principal.tier],
    shape: endpoint.tokens,
    model: asked,
    body,
  });
  applyRequestRules(g, state, endpoint.text, body);
  const tokens = holdTokens(
    g,
    endpoint.tokens,
    body,
    line.bytes,
    priceFor(asked, g.config.prices, baseModel),
    records,
  );
  return { model: asked, target, upstreamModel: target.model ?? asked, tokens };
};
