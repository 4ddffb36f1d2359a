// Request limits checked before a body is parsed (charset, UTF-8, nesting, array sizes) and after (n and
// output-token caps per tier and model). Each refusal is a 4xx that names the limit and the value.
import type { GatewayConfig, TierConfig } from './config.ts';
import { aboveConfiguredMaximum, invalidRequest, unsupportedMediaType } from './errors.ts';
import { TokenShape, type TokenShapeName } from './metering.ts';

const fatalDecoder = new TextDecoder('utf-8', { fatal: true });

/** A JSON body's charset must be UTF-8 (RFC 8259 §8.1): any other declared charset is refused. */
export const checkJsonCharset = (contentType: string | null): void => {
  if (contentType === null) return;
  const match = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType);
  const charset = match?.[1]?.toLowerCase();
  if (charset === undefined || charset === 'utf-8' || charset === 'utf8') return;
  throw unsupportedMediaType(contentType, 'application/json in UTF-8 (charset=utf-8, or no charset)');
};

/** The body as text; bytes that are not UTF-8 are refused rather than silently replaced. */
export const decodeUtf8 = (body: Uint8Array): string => {
  try {
    return fatalDecoder.decode(body);
  } catch {
    throw invalidRequest('The request body is not valid UTF-8. Send JSON encoded as UTF-8.');
  }
};

/** Per open level of the document being checked; one buffer for every request (checks run synchronously). */
let commaCounts = new Int32Array(65);

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;

/**
 * Refuses JSON that nests deeper than `maxDepth` or has an array of more than `maxArrayLength` elements,
 * by one pass over the bytes before parsing (deep documents would exhaust the stack of whatever walks them,
 * huge arrays the CPU). Malformed JSON passes through to the parser, which reports it.
 */
export const checkJsonShape = (body: Uint8Array, limits: GatewayConfig['limits']): void => {
  const { maxJsonDepth, maxArrayLength } = limits;
  // Per open level: -1 for an object, else the commas seen in that array.
  if (commaCounts.length < maxJsonDepth + 1) commaCounts = new Int32Array(maxJsonDepth + 1);
  const commas = commaCounts;
  let depth = 0;
  const length = body.length;
  for (let i = 0; i < length; i += 1) {
    const byte = body[i]!;
    if (byte === QUOTE) {
      // Jump to the closing quote: one not preceded by an odd number of backslashes.
      let end = i;
      for (;;) {
        end = body.indexOf(QUOTE, end + 1);
        if (end === -1) return;
        let slashes = 0;
        while (body[end - 1 - slashes] === BACKSLASH) slashes += 1;
        if (slashes % 2 === 0) break;
      }
      i = end;
    } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      depth += 1;
      if (depth > maxJsonDepth) {
        throw invalidRequest(
          `The JSON body nests arrays and objects deeper than ${maxJsonDepth} levels (\`limits.maxJsonDepth\`).`,
          null,
          'json_too_deep',
        );
      }
      commas[depth] = byte === OPEN_ARRAY ? 0 : -1;
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
      if (depth > 0) depth -= 1;
    } else if (byte === COMMA && depth > 0 && commas[depth]! >= 0) {
      commas[depth] = commas[depth]! + 1;
      if (commas[depth]! >= maxArrayLength) {
        throw invalidRequest(
          `An array in the JSON body has more than ${maxArrayLength} elements (\`limits.maxArrayLength\`).`,
          null,
          'array_too_long',
        );
      }
    }
  }
};

/** The largest body a tier's keys may send. */
export const maxBodyBytesFor = (config: GatewayConfig, tier: TierConfig | undefined): number =>
  tier?.maxBodyBytes ?? config.limits.maxBodyBytes;

/** The largest body any tier (or a file upload) may send: entry points that read bodies themselves stop there. */
export const largestBodyLimit = (config: GatewayConfig): number =>
  Math.max(
    config.limits.maxBodyBytes,
    config.fineTuning.maxFileBytes,
    ...Object.values(config.tiers).map((tier) => tier.maxBodyBytes ?? 0),
  );

/** A tier's output-token cap for a model: one number, or by model (exact, then the longest `prefix*`). */
const outputCapFor = (tier: TierConfig | undefined, model: string): number | undefined => {
  const cap = tier?.maxOutputTokens;
  if (cap === undefined || typeof cap === 'number') return cap;
  if (cap[model] !== undefined) return cap[model];
  let best: { length: number; cap: number } | undefined;
  for (const [name, value] of Object.entries(cap)) {
    if (!name.endsWith('*')) continue;
    const prefix = name.slice(0, -1);
    if (model.startsWith(prefix) && (best === undefined || prefix.length > best.length))
      best = { length: prefix.length, cap: value };
  }
  return best?.cap;
};

/** The output-token fields of each endpoint, and the one the gateway sets when a request names none. */
const OUTPUT_FIELDS: Partial<
  Record<TokenShapeName, { readonly fields: readonly string[]; readonly set: string }>
> = {
  [TokenShape.chat]: { fields: ['max_completion_tokens', 'max_tokens'], set: 'max_completion_tokens' },
  [TokenShape.completions]: { fields: ['max_tokens'], set: 'max_tokens' },
  [TokenShape.messages]: { fields: ['max_tokens'], set: 'max_tokens' },
  [TokenShape.responses]: { fields: ['max_output_tokens'], set: 'max_output_tokens' },
};

const checkPositiveInteger = (body: Record<string, unknown>, param: string): number | undefined => {
  const value = body[param];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw invalidRequest(`\`${param}\` must be a positive integer, got: ${JSON.stringify(value)}.`, param);
  }
  return value;
};

/**
 * Checks `n`, `best_of` and the output-token fields against the tier's caps, and sets the cap on a request
 * that asks for no limit, so that a cap holds whatever the client sends. True when the body was changed.
 */
export const enforceParameterLimits = (input: {
  readonly config: GatewayConfig;
  readonly tierName: string;
  readonly tier: TierConfig | undefined;
  readonly shape: TokenShapeName;
  readonly model: string;
  readonly body: Record<string, unknown>;
}): boolean => {
  const { body, tier, tierName, model } = input;
  const maxN = tier?.maxN ?? input.config.limits.maxN;
  for (const param of ['n', 'best_of']) {
    const value = checkPositiveInteger(body, param);
    if (value !== undefined && value > maxN)
      throw aboveConfiguredMaximum(param, maxN, value, `for tier '${tierName}'`);
  }
  const output = OUTPUT_FIELDS[input.shape];
  if (output === undefined) return false;
  const cap = outputCapFor(tier, model);
  let asked = false;
  for (const param of output.fields) {
    const value = checkPositiveInteger(body, param);
    if (value === undefined) continue;
    asked = true;
    if (cap !== undefined && value > cap)
      throw aboveConfiguredMaximum(param, cap, value, `for model '${model}' on tier '${tierName}'`);
  }
  if (asked || cap === undefined) return false;
  body[output.set] = cap;
  return true;
};
