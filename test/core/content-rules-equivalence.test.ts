// The fast search (a DFA pass first, the bounds searched from near the match, faster normalisation) gives
// exactly what the search as first written gave (test/fixtures/content-rules-reference.ts): the same text out,
// the same hits, the same text released by a stream at every push, over generated rules and texts.
import fc from 'fast-check';
import { RE2JS } from 're2js';
import { normalizeText } from '../../lambda/core/content-normalize.ts';
import {
  compileContentFilters,
  createStreamRedactor,
  emptyHits,
  type RuleHits,
  type RuleSet,
  redactText,
} from '../../lambda/core/content-rules.ts';
import { configWithRules, engine, type RuleInput } from '../fixtures/content-rules.ts';
import * as reference from '../fixtures/content-rules-reference.ts';

const referenceEngine = reference.re2jsEngine(RE2JS);

interface Pair {
  readonly fast: RuleSet;
  readonly slow: reference.RuleSet;
}

/** The rules compiled both ways, request side and response side. */
const compileBoth = (rules: readonly RuleInput[]): { request?: Pair; response?: Pair } => {
  const { filters } = configWithRules(rules);
  const fast = compileContentFilters(filters, engine);
  const slow = reference.compileContentFilters(filters, referenceEngine);
  return {
    ...(fast.request && { request: { fast: fast.request, slow: slow.request! } }),
    ...(fast.response && { response: { fast: fast.response, slow: slow.response! } }),
  };
};

const hitsOf = (hits: RuleHits | reference.RuleHits) => ({
  redacted: [...hits.redacted],
  blockedBy: hits.blockedBy,
});

const expectSameRedaction = (pair: Pair, text: string) => {
  const fastHits = emptyHits();
  const slowHits = reference.emptyHits();
  const fast = redactText(pair.fast, text, fastHits);
  const slow = reference.redactText(pair.slow, text, slowHits);
  expect({ text: fast, hits: hitsOf(fastHits) }).toEqual({ text: slow, hits: hitsOf(slowHits) });
};

/** Every push releases the same text, and the hits agree after each. */
const expectSameStream = (pair: Pair, pieces: readonly string[]) => {
  const fastHits = emptyHits();
  const slowHits = reference.emptyHits();
  const fast = createStreamRedactor(pair.fast, fastHits);
  const slow = reference.createStreamRedactor(pair.slow, slowHits);
  for (const piece of pieces) {
    expect([fast.push(piece), fast.held, hitsOf(fastHits)]).toEqual([
      slow.push(piece),
      slow.held,
      hitsOf(slowHits),
    ]);
  }
  expect([fast.end(), hitsOf(fastHits)]).toEqual([slow.end(), hitsOf(slowHits)]);
};

// --- Generated rules -------------------------------------------------------------------------------------------

/** Words for keyword rules: ASCII, accented, ligatures, ß (which folds), digits, phrases. */
const WORDS = [
  'pass',
  'password',
  'api key',
  'café',
  'ﬁle',
  'straße',
  'key',
  'A1',
  'tok',
  'σς',
  'x',
  'Kelvin',
];

/** Bounded patterns, with and without required literals, anchors, word boundaries, classes, non-ASCII. */
const BOUNDED = [
  'sk-[a-z0-9]{4,8}',
  '\\bAKIA[0-9A-Z]{4}\\b',
  '\\b\\d{3,5}\\b',
  '\\b(?:\\d[ -]?){4,7}\\d\\b',
  '[a-c]{2,4}',
  'ab|cd|ef',
  'a(?:b|)c',
  'a.c',
  '^ab',
  'ab$',
  '(?m)^x.',
  '(?m)y$',
  '\\Bb\\B',
  '\\bpass\\b',
  '(?i)token',
  '(?i:k)ey',
  'é|e\\x{301}',
  '😀{1,3}',
  '\\p{Greek}{2}',
  '[^a-z ]{2}',
  '(?s)a.{0,3}b',
  '\\x{200b}',
  '(a)(b)?c',
  '\\d{2}-\\d{2}',
  // digits enough to pass a Luhn check, or fail it and pass it one digit later
  '\\d{13,16}',
  '\\b(?:\\d ?){13,16}',
];
/** Unbounded patterns: request rules only. */
const UNBOUNDED = ['x+y', 'a[^z]*z', '(?:a|b)*abb', '\\d+\\.\\d+', '(?i)q\\w+'];

const ruleFor = (index: number, scope: 'request' | 'both', unbounded: boolean) =>
  fc
    .oneof(
      fc.record({
        keywords: fc.uniqueArray(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 4 }),
        ignoreCase: fc.option(fc.boolean(), { nil: undefined }),
        wholeWords: fc.boolean(),
      }),
      fc.record({
        pattern: fc.constantFrom(...(unbounded ? [...BOUNDED, ...UNBOUNDED] : BOUNDED)),
        ignoreCase: fc.option(fc.boolean(), { nil: undefined }),
        validate: fc.option(fc.constant('luhn' as const), { nil: undefined, freq: 3 }),
      }),
    )
    .chain((shape) =>
      fc
        .record({
          action: fc.constantFrom('redact', 'redact', 'block'),
          mask: fc.constantFrom('#', '<x>', ''),
        })
        .map(
          ({ action, mask }): RuleInput => ({
            name: `r${index}`,
            ...shape,
            action: action as 'redact' | 'block',
            scope,
            ...(mask === '' ? {} : { mask }),
          }),
        ),
    );

const ruleSets = fc
  .boolean()
  .chain((unbounded) =>
    fc
      .integer({ min: 1, max: 4 })
      .chain((n) =>
        fc.tuple(
          ...Array.from({ length: n }, (_, i) => ruleFor(i, unbounded ? 'request' : 'both', unbounded)),
        ),
      ),
  );

// --- Generated texts -------------------------------------------------------------------------------------------

/** Pieces of the rules' literals, digits and separators, marks, zero-width and wide characters. */
const FRAGMENTS = [
  ...WORDS,
  ...WORDS.map((word) => word.slice(0, 2)),
  ...WORDS.map((word) => word.toUpperCase()),
  'sk-',
  'AKIA',
  'abc',
  'ab',
  'c',
  'y',
  'z',
  'q',
  '0',
  '4111111111111111',
  '4111 1111 1111 1111',
  '4111',
  '1111',
  '12',
  '7',
  ' ',
  '-',
  '.',
  '\n',
  '_',
  '\u0301',
  'e\u0301',
  '\u200b',
  '\u00ad',
  '\u200d',
  'ｐａｓｓ',
  '４１',
  'ﬁ',
  '𝐩',
  '😀',
  'αβ',
  'ς',
  'K',
  'ſ',
  '\ud83d',
  '\ude00',
];
const fragmentTexts = fc
  .array(fc.constantFrom(...FRAGMENTS), { maxLength: 30 })
  .map((pieces) => pieces.join(''));
const digitTexts = fc
  .array(fc.oneof(fc.integer({ min: 0, max: 9 }).map(String), fc.constantFrom(' ', '-', 'x', '')), {
    maxLength: 40,
  })
  .map((pieces) => pieces.join(''));
const anyTexts = fc.oneof(
  fragmentTexts,
  fragmentTexts,
  digitTexts,
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc
    .array(fc.oneof(fragmentTexts, fc.string({ unit: 'binary', maxLength: 4 })), { maxLength: 4 })
    .map((parts) => parts.join('')),
);

/** Splits a text at random UTF-16 indices (surrogate pairs and combining sequences included). */
const split = (text: string, cuts: readonly number[]): string[] => {
  const points = [...new Set(cuts.map((cut) => cut % (text.length + 1)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let last = 0;
  for (const point of points) {
    pieces.push(text.slice(last, point));
    last = point;
  }
  pieces.push(text.slice(last));
  return pieces;
};

describe('the fast search gives what the search as first written gave', () => {
  it('redacts whole texts the same, with the same hits', () => {
    fc.assert(
      fc.property(ruleSets, fc.array(anyTexts, { minLength: 1, maxLength: 5 }), (rules, texts) => {
        const sides = compileBoth(rules);
        for (const pair of [sides.request, sides.response]) {
          if (pair === undefined) continue;
          for (const text of texts) expectSameRedaction(pair, text);
        }
      }),
      { numRuns: 3_000, seed: 20261206 },
    );
  });

  it('streams the same: the same text released at every push, the same text held back', () => {
    fc.assert(
      fc.property(
        ruleSets.filter((rules) => rules.every((rule) => rule.scope === 'both')),
        anyTexts,
        fc.array(fc.nat(), { maxLength: 20 }),
        (rules, text, cuts) => {
          expectSameStream(compileBoth(rules).response!, split(text, cuts));
        },
      ),
      { numRuns: 3_000, seed: 7 },
    );
  });

  it('the seed rules of config/gateway.json, on texts near their matches', () => {
    const sides = compileBoth([
      {
        name: 'secret-words',
        keywords: ['password', 'passwd', 'private key', 'secret key', 'api key', 'access token'],
        action: 'block',
        scope: 'request',
      },
      {
        name: 'card-number',
        pattern: '\\b(?:\\d[ -]?){12,18}\\d\\b',
        validate: 'luhn',
        action: 'redact',
        scope: 'both',
        mask: '[CARD]',
      },
      {
        name: 'cloud-access-keys',
        pattern: '\\b(?:(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\\b|AIza[0-9A-Za-z_-]{35})',
        action: 'redact',
        scope: 'both',
      },
    ]);
    const near = fc
      .array(
        fc.oneof(
          fc.constantFrom(
            '4111 1111 1111 1111',
            '4111111111111111',
            '378282246310005',
            '6011-1111-1111-1117',
          ),
          fc.constantFrom('AKIAIOSFODNN7EXAMPLE', 'ASIAIOSFODNN7EXAMPL', `AIza${'x'.repeat(35)}`, 'password'),
          fc.constantFrom(
            '4111',
            '1111',
            ' ',
            '-',
            '4',
            '0',
            'AKIA',
            'AIza',
            'IOSFODNN7EXAMPLE',
            'pass',
            'word',
          ),
          fc.constantFrom(
            'api',
            ' key',
            'private',
            'x',
            '.',
            '\n',
            '\u200b',
            'ｐａｓｓ',
            '４',
            '😀',
            'e\u0301',
          ),
          fc.stringMatching(/^[0-9A-Za-z_-]{1,40}$/),
        ),
        { maxLength: 30 },
      )
      .map((pieces) => pieces.join(''));
    fc.assert(
      fc.property(near, fc.array(fc.nat(), { maxLength: 20 }), (text, cuts) => {
        expectSameRedaction(sides.request!, text);
        expectSameRedaction(sides.response!, text);
        expectSameStream(sides.response!, split(text, cuts));
      }),
      { numRuns: 3_000, seed: 11 },
    );
  });

  it('also where the DFA runs out of memory and the search goes on without it', () => {
    // (a|b)*a(a|b){20}c needs a DFA state per run of 21 letters seen: on 60,000 random letters re2js's lazy DFA
    // exceeds its memory budget, starts over, and gives up
    const sides = compileBoth([
      { name: 'big', pattern: '(?:a|b)*a(?:a|b){20}c', action: 'redact', scope: 'request', mask: '#' },
      { name: 'small', keywords: ['zz'], action: 'redact', scope: 'request', mask: '+' },
    ]);
    let state = 2463534242;
    const randomBit = () => {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      return state & 1;
    };
    for (const tail of ['', `a${'b'.repeat(20)}c`, ' zz ', 'c']) {
      let text = '';
      while (text.length < 60_000) text += randomBit() === 1 ? 'a' : 'b';
      expectSameRedaction(sides.request!, text + tail);
    }
  });

  it('finds a match from near its end whatever the code points before it (exhaustive over a small alphabet)', () => {
    // The bounds are searched from the earliest match end less the longest match (2 units per code point): with
    // matches all of surrogate pairs that bound is tight, and it may land inside a pair, which only negated
    // classes or `.` could read as a code point of its own.
    const sets = [
      [{ name: 'n', pattern: '[^a😁]{3}', action: 'redact', scope: 'both', mask: '#' }],
      [{ name: 'e', pattern: '😀{3}', action: 'redact', scope: 'both', mask: '#' }],
      [{ name: 'd', pattern: '.{2}b', action: 'redact', scope: 'both', mask: '#' }],
      [
        { name: 'w', pattern: '\\b[^ ]{2}\\b', action: 'redact', scope: 'both', mask: '#' },
        { name: 'k', keywords: ['a😀'], wholeWords: false, action: 'redact', scope: 'both', mask: '+' },
      ],
    ] satisfies RuleInput[][];
    const alphabet = ['😀', '😁', 'a', 'b', ' '];
    const texts = [''];
    for (let length = 1; length <= 5; length += 1) {
      for (const text of texts.filter((t) => [...t].length === length - 1)) {
        for (const point of alphabet) texts.push(text + point);
      }
    }
    for (const rules of sets) {
      const pair = compileBoth(rules).response!;
      for (const text of texts) expectSameRedaction(pair, text);
    }
  });

  it('normalises text as before: the same text and the same maps back to the original', () => {
    const texts = fc.oneof(
      anyTexts,
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc
        .array(
          fc.oneof(fc.string({ maxLength: 5 }), fc.constantFrom('\u1100\u1161', 'x\u0301\u0302', '\u0301')),
          {
            maxLength: 10,
          },
        )
        .map((parts) => parts.join('')),
    );
    fc.assert(
      fc.property(texts, (text) => {
        expect(normalizeText(text)).toEqual(reference.normalizeText(text));
      }),
      { numRuns: 20_000, seed: 5 },
    );
  });
});
