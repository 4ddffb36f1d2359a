// Request limits: charset, UTF-8, JSON nesting and array sizes before parsing; n and output-token caps after.
import { parseGatewayConfig } from '../../lambda/core/config.ts';
import { GatewayError } from '../../lambda/core/errors.ts';
import {
  checkJsonCharset,
  checkJsonShape,
  decodeUtf8,
  enforceParameterLimits,
  largestBodyLimit,
  maxBodyBytesFor,
} from '../../lambda/core/limits.ts';
import { TokenShape, type TokenShapeName } from '../../lambda/core/metering.ts';

const config = parseGatewayConfig({
  routes: [
    { model: 'gpt-', match: 'prefix', targets: [{ id: 't', provider: 'openai', baseUrl: 'http://x' }] },
  ],
  limits: { maxJsonDepth: 4, maxArrayLength: 3, maxN: 4 },
  tiers: {
    default: {},
    small: { maxBodyBytes: 1_000, maxN: 2, maxOutputTokens: 500 },
    mixed: { maxOutputTokens: { 'gpt-4o': 100, 'gpt-*': 1_000, 'gpt-4o-*': 200 } },
  },
});
const encode = (text: string) => new TextEncoder().encode(text);

/** The GatewayError a call throws, as the client sees it. */
const refusal = (act: () => unknown) => {
  try {
    act();
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    return { status: error.status, code: error.code, param: error.param, message: error.message };
  }
  return undefined;
};

describe('checkJsonShape', () => {
  it.each([
    ['flat object', '{"a":1,"b":[1,2,3]}'],
    ['depth 4', '{"a":[{"b":[1]}]}'],
    ['brackets and commas inside strings', '{"a":"[[[[[[,,,,,]]","b":"\\\\\\"[[[["}'],
    ['three elements at every level', '[[1,2,3],[1,2,3],[1,2,3]]'],
    ['an object with many keys (objects are not arrays)', '{"a":1,"b":2,"c":3,"d":4,"e":5}'],
    ['truncated JSON (left to the parser)', '{"a":[1,2'],
  ])('accepts %s', (_name, json) => {
    expect(refusal(() => checkJsonShape(encode(json), config.limits))).toBeUndefined();
  });

  it.each([
    ['depth 5', '[[[[[1]]]]]', 'json_too_deep'],
    ['depth 5 of objects', '{"a":{"b":{"c":{"d":{"e":1}}}}}', 'json_too_deep'],
    ['four elements', '[1,2,3,4]', 'array_too_long'],
    ['four elements in a nested array', '{"a":[[1,2,3,{"b":[1,"x,y",3,4]}]]}', 'array_too_long'],
    ['an escaped quote does not end a string', '{"a":"\\"","b":[1,2,3,4]}', 'array_too_long'],
  ])('refuses %s', (_name, json, code) => {
    expect(refusal(() => checkJsonShape(encode(json), config.limits))?.code).toBe(code);
  });

  it('names the limit in its message', () => {
    expect(refusal(() => checkJsonShape(encode('[[[[[1]]]]]'), config.limits))).toEqual({
      status: 400,
      code: 'json_too_deep',
      param: null,
      message: 'The JSON body nests arrays and objects deeper than 4 levels (`limits.maxJsonDepth`).',
    });
    expect(refusal(() => checkJsonShape(encode('[1,2,3,4]'), config.limits))?.message).toBe(
      'An array in the JSON body has more than 3 elements (`limits.maxArrayLength`).',
    );
  });

  it('refuses 100,000 levels of nesting without recursing', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(refusal(() => checkJsonShape(encode(deep), config.limits))?.code).toBe('json_too_deep');
  });
});

describe('checkJsonCharset and decodeUtf8', () => {
  it.each([
    [null],
    ['application/json'],
    ['application/json; charset=utf-8'],
    ['application/json;charset=UTF-8'],
    ['application/json; charset="utf-8"'],
    ['application/json; charset=utf8'],
  ])('accepts %p', (contentType) => {
    expect(refusal(() => checkJsonCharset(contentType))).toBeUndefined();
  });

  it.each([['application/json; charset=iso-8859-1'], ['application/json; charset=utf-16']])(
    'refuses %p',
    (contentType) => {
      expect(refusal(() => checkJsonCharset(contentType))).toEqual({
        status: 415,
        code: 'unsupported_media_type',
        param: null,
        message: `Unsupported content type ${JSON.stringify(contentType)}: this endpoint expects application/json in UTF-8 (charset=utf-8, or no charset).`,
      });
    },
  );

  it('refuses bytes that are not UTF-8 instead of replacing them', () => {
    // Prepare: Latin-1 é (0xe9) is not valid UTF-8 on its own
    const latin1 = Uint8Array.from([0x7b, 0x22, 0xe9, 0x22, 0x3a, 0x31, 0x7d]);

    // Act / Assess
    expect(refusal(() => decodeUtf8(latin1))).toEqual({
      status: 400,
      code: null,
      param: null,
      message: 'The request body is not valid UTF-8. Send JSON encoded as UTF-8.',
    });
    expect(decodeUtf8(encode('{"é":1}'))).toBe('{"é":1}');
  });
});

describe('body size limits', () => {
  it('come from the tier, else limits.maxBodyBytes; entry points read up to the largest', () => {
    expect(maxBodyBytesFor(config, config.tiers.small)).toBe(1_000);
    expect(maxBodyBytesFor(config, config.tiers.default)).toBe(1024 * 1024);
    expect(maxBodyBytesFor(config, undefined)).toBe(1024 * 1024);
    // POST /v1/files takes up to fineTuning.maxFileBytes (4 MiB by default)
    expect(largestBodyLimit(config)).toBe(4 * 1024 * 1024);
  });

  it('cannot be set above API Gateway’s 10 MiB', () => {
    expect(() =>
      parseGatewayConfig({
        routes: [{ model: 'm', targets: [{ id: 't', provider: 'openai', baseUrl: 'http://x' }] }],
        tiers: { big: { maxBodyBytes: 20_000_000 } },
      }),
    ).toThrow(
      "`tiers.big.maxBodyBytes`: maxBodyBytes must be at most 10485760 (API Gateway's 10 MiB payload limit), got: 20000000",
    );
  });
});

describe('enforceParameterLimits', () => {
  const enforce = (tierName: string, shape: TokenShapeName, model: string, body: Record<string, unknown>) =>
    enforceParameterLimits({ config, tierName, tier: config.tiers[tierName], shape, model, body });

  it.each([
    [
      'n over the tier cap',
      'small',
      TokenShape.chat,
      { n: 3 },
      'n',
      "`n` must be at most 2 for tier 'small', got: 3.",
    ],
    [
      'n over the default cap',
      'default',
      TokenShape.chat,
      { n: 5 },
      'n',
      "`n` must be at most 4 for tier 'default', got: 5.",
    ],
    [
      'best_of over the cap',
      'small',
      TokenShape.completions,
      { best_of: 3 },
      'best_of',
      "`best_of` must be at most 2 for tier 'small', got: 3.",
    ],
    [
      'max_tokens over the tier cap',
      'small',
      TokenShape.chat,
      { max_tokens: 501 },
      'max_tokens',
      "`max_tokens` must be at most 500 for model 'gpt-4o' on tier 'small', got: 501.",
    ],
    [
      'max_completion_tokens over the cap',
      'small',
      TokenShape.chat,
      { max_completion_tokens: 9_999 },
      'max_completion_tokens',
      "`max_completion_tokens` must be at most 500 for model 'gpt-4o' on tier 'small', got: 9999.",
    ],
    [
      'max_output_tokens (Responses) over the cap',
      'small',
      TokenShape.responses,
      { max_output_tokens: 501 },
      'max_output_tokens',
      "`max_output_tokens` must be at most 500 for model 'gpt-4o' on tier 'small', got: 501.",
    ],
    [
      'a model cap (exact name)',
      'mixed',
      TokenShape.chat,
      { max_tokens: 101 },
      'max_tokens',
      "`max_tokens` must be at most 100 for model 'gpt-4o' on tier 'mixed', got: 101.",
    ],
    [
      'n that is not an integer',
      'default',
      TokenShape.chat,
      { n: '2' },
      'n',
      '`n` must be a positive integer, got: "2".',
    ],
    [
      'max_tokens of 0',
      'default',
      TokenShape.chat,
      { max_tokens: 0 },
      'max_tokens',
      '`max_tokens` must be a positive integer, got: 0.',
    ],
  ] as const)('refuses %s', (_name, tier, shape, body, param, message) => {
    expect(refusal(() => enforce(tier, shape, 'gpt-4o', { ...body }))).toEqual({
      status: 400,
      code: message.includes('positive integer') ? null : 'integer_above_max_value',
      param,
      message,
    });
  });

  it.each([
    ['the longest prefix wins', 'gpt-4o-mini', 200],
    ['a shorter prefix', 'gpt-3.5', 1_000],
  ])('finds the cap by model: %s', (_name, model, cap) => {
    expect(refusal(() => enforce('mixed', TokenShape.chat, model, { max_tokens: cap }))).toBeUndefined();
    expect(refusal(() => enforce('mixed', TokenShape.chat, model, { max_tokens: cap + 1 }))?.code).toBe(
      'integer_above_max_value',
    );
  });

  it.each([
    ['chat', TokenShape.chat, 'max_completion_tokens'],
    ['completions', TokenShape.completions, 'max_tokens'],
    ['responses', TokenShape.responses, 'max_output_tokens'],
  ] as const)('sets the cap on a %s request that asks for no limit', (_name, shape, field) => {
    // Prepare
    const body: Record<string, unknown> = { model: 'gpt-4o' };

    // Act
    const changed = enforce('small', shape, 'gpt-4o', body);

    // Assess
    expect(changed).toBe(true);
    expect(body[field]).toBe(500);
  });

  it('leaves a request within the caps, and one on a tier without caps, as it is', () => {
    const within: Record<string, unknown> = { max_tokens: 500, n: 2 };
    expect(enforce('small', TokenShape.chat, 'gpt-4o', within)).toBe(false);
    expect(within).toEqual({ max_tokens: 500, n: 2 });
    const free: Record<string, unknown> = {};
    expect(enforce('default', TokenShape.chat, 'gpt-4o', free)).toBe(false);
    expect(free).toEqual({});
    expect(enforce('small', TokenShape.embeddings, 'gpt-4o', free)).toBe(false);
  });
});
