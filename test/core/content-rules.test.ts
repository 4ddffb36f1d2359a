// Content rules: matching on normalised text, redaction whole and streamed, compile errors, and linear time.
import fc from 'fast-check';
import { RE2JS } from 're2js';
import { matchLengths } from '../../lambda/adapters/regex/re2js.ts';
import { ConfigError } from '../../lambda/core/config.ts';
import { normalizeText } from '../../lambda/core/content-normalize.ts';
import {
  compileContentFilters,
  createStreamRedactor,
  emptyHits,
  passesLuhn,
  type RuleSet,
  redactText,
} from '../../lambda/core/content-rules.ts';
import { compileRules, configWithRules, engine, type RuleInput } from '../fixtures/content-rules.ts';

const SEED_LIKE: RuleInput[] = [
  { name: 'secret-words', keywords: ['password', 'api key', 'private key'], action: 'redact', scope: 'both' },
  {
    name: 'card-number',
    pattern: '\\b(?:\\d[ -]?){12,18}\\d\\b',
    validate: 'luhn',
    action: 'redact',
    scope: 'both',
    mask: '[CARD]',
  },
  { name: 'aws-key', pattern: '\\b(?:AKIA|ASIA)[0-9A-Z]{16}\\b', action: 'redact', scope: 'both' },
];

const responseRules = (): RuleSet => compileRules(SEED_LIKE).response!;

describe('redactText', () => {
  it.each([
    ['a keyword in any case', 'my Password is hunter2', 'my [REDACTED] is hunter2', ['secret-words']],
    ['a phrase', 'here is my API key: x', 'here is my [REDACTED]: x', ['secret-words']],
    ['not inside a longer word', 'passwords and mypassword', 'passwords and mypassword', []],
    ['next to punctuation and underscores', '(password)_x', '([REDACTED])_x', ['secret-words']],
    ['a card number that passes Luhn', 'card 4111 1111 1111 1111.', 'card [CARD].', ['card-number']],
    ['not one that fails Luhn', 'card 4111 1111 1111 1112.', 'card 4111 1111 1111 1112.', []],
    ['a card number with dashes', '4111-1111-1111-1111', '[CARD]', ['card-number']],
    ['an AWS access key id', 'key AKIAIOSFODNN7EXAMPLE ok', 'key [REDACTED] ok', ['aws-key']],
    [
      'two matches of two rules',
      'password 4111111111111111',
      '[REDACTED] [CARD]',
      ['secret-words', 'card-number'],
    ],
    ['nothing', 'hello world', 'hello world', []],
  ])('%s', (_name, text, expected, rules) => {
    // Act
    const hits = emptyHits();
    const out = redactText(responseRules(), text, hits);

    // Assess
    expect(out).toBe(expected);
    expect([...hits.redacted.keys()]).toEqual(rules);
    expect(hits.blockedBy).toBeUndefined();
  });

  // Evasions that NFKC (and dropping default-ignorable code points) undo; the mask covers the original text.
  it.each([
    ['fullwidth letters', 'my ｐａｓｓｗｏｒｄ!', 'my [REDACTED]!'],
    ['mathematical bold letters', 'my 𝐩𝐚𝐬𝐬𝐰𝐨𝐫𝐝!', 'my [REDACTED]!'],
    ['a zero-width space inside', 'my pass\u200bword!', 'my [REDACTED]!'],
    ['a soft hyphen inside', 'my pass\u00adword!', 'my [REDACTED]!'],
    ['a zero-width joiner inside', 'my pa\u200dssword!', 'my [REDACTED]!'],
    ['circled letters', 'my ⓟⓐⓢⓢⓦⓞⓡⓓ!', 'my [REDACTED]!'],
    ['fullwidth digits of a card number', '４１１１ １１１１ １１１１ １１１１', '[CARD]'],
    ['an ideographic space in a phrase', 'api\u3000key', '[REDACTED]'],
  ])('%s', (_name, text, expected) => {
    expect(redactText(responseRules(), text)).toBe(expected);
  });

  it('matches a keyword written with a combining accent, and the accent goes with the mask', () => {
    // Prepare: the keyword is 'café'; the text writes its é as e + U+0301 (NFKC composes them)
    const rules = compileRules([{ name: 'cafe', keywords: ['café'], action: 'redact', scope: 'request' }]);

    // Act / Assess
    expect(redactText(rules.request!, 'un cafe\u0301 noir')).toBe('un [REDACTED] noir');
    expect(redactText(rules.request!, 'un café noir')).toBe('un [REDACTED] noir');
    expect(redactText(rules.request!, 'un cafe noir')).toBe('un cafe noir');
  });

  it('reports the blocking rule and stops', () => {
    // Prepare
    const rules = compileRules([
      { name: 'words', keywords: ['secret'], action: 'redact', scope: 'request' },
      { name: 'stop', keywords: ['forbidden'], action: 'block', scope: 'request' },
    ]).request!;
    const hits = emptyHits();

    // Act
    redactText(rules, 'a secret and a ｆｏｒｂｉｄｄｅｎ word', hits);

    // Assess
    expect(hits.blockedBy).toBe('stop');
    expect(hits.redacted.get('words')).toBe(1);
  });

  it('is case-sensitive for patterns unless ignoreCase is set, and case-insensitive for keywords unless it is off', () => {
    const rules = compileRules([
      { name: 'p', pattern: 'token-[0-9]{3}', action: 'redact', scope: 'request' },
      { name: 'pi', pattern: 'code-[0-9]{3}', ignoreCase: true, action: 'redact', scope: 'request' },
      { name: 'k', keywords: ['Exact'], ignoreCase: false, action: 'redact', scope: 'request' },
    ]).request!;
    expect(redactText(rules, 'token-123 TOKEN-123 CODE-123 Exact exact')).toBe(
      '[REDACTED] TOKEN-123 [REDACTED] [REDACTED] exact',
    );
  });

  it('matches keywords inside words when wholeWords is off', () => {
    const rules = compileRules([
      { name: 'k', keywords: ['pass'], wholeWords: false, action: 'redact', scope: 'request' },
    ]).request!;
    expect(redactText(rules, 'passport bypass')).toBe('[REDACTED]port by[REDACTED]');
  });
});

describe('passesLuhn', () => {
  it.each([
    ['4111111111111111', true],
    ['4111111111111112', false],
    ['378282246310005', true], // 15 digits (Amex test number)
    ['6011 1111 1111 1117', true],
    ['411111111111', false], // 12 digits: too short for a card
    ['00000000000000000000', false], // 20 digits: too long
  ])('%s → %p', (digits, expected) => {
    expect(passesLuhn(digits)).toBe(expected);
  });
});

describe('normalizeText', () => {
  it('leaves ASCII as it is, without a map', () => {
    expect(normalizeText('plain text')).toEqual({
      text: 'plain text',
      originalStarts: undefined,
      normalizedStarts: undefined,
    });
  });

  it('maps every segment back to the original', () => {
    // Act: 'ﬁ' (one code unit) becomes 'fi'; the ZWSP becomes nothing; 'e' + U+0301 becomes 'é'
    const normalized = normalizeText('ﬁ\u200be\u0301x');

    // Assess
    expect(normalized.text).toBe('fi\u00e9x');
    expect(normalized.originalStarts).toEqual([0, 1, 2, 4, 5]);
    expect(normalized.normalizedStarts).toEqual([0, 2, 2, 3, 4]);
  });
});

describe('compile errors name the rule field and value', () => {
  const compileError = (rules: Parameters<typeof compileRules>[0]): string[] => {
    try {
      compileRules(rules);
    } catch (error) {
      if (error instanceof ConfigError) return [...error.problems];
      throw error;
    }
    throw new Error('expected a ConfigError');
  };

  it.each([
    [
      'unbalanced parenthesis',
      { name: 'r', pattern: '(abc', action: 'block', scope: 'request' },
      '`filters.rules.0.pattern`: error parsing regexp: missing closing ): `(abc`, got: "(abc"',
    ],
    [
      'look-ahead (not linear-time)',
      { name: 'r', pattern: 'a(?=b)', action: 'block', scope: 'request' },
      '`filters.rules.0.pattern`: error parsing regexp: invalid or unsupported Perl syntax: `(?=`, got: "a(?=b)"',
    ],
    [
      'a back-reference',
      { name: 'r', pattern: '(a)\\1', action: 'block', scope: 'request' },
      '`filters.rules.0.pattern`: error parsing regexp: invalid escape sequence: `\\1`, got: "(a)\\\\1"',
    ],
    [
      'a pattern that matches empty text',
      { name: 'r', pattern: 'a*', action: 'redact', scope: 'request' },
      '`filters.rules.0.pattern`: the pattern matches empty text, got: "a*"',
    ],
    [
      'named groups',
      { name: 'r', pattern: '(?P<x>a)', action: 'redact', scope: 'request' },
      '`filters.rules.0.pattern`: named groups (?P<name>…) are not supported here: use (?:…), got: "(?P<x>a)"',
    ],
    [
      'an unbounded response rule',
      { name: 'r', pattern: 'sk-[a-z]+', action: 'redact', scope: 'response' },
      '`filters.rules.0.pattern`: a response rule must match text of bounded length (a stream is held back by that much), so use a bounded repeat such as {1,64} instead of * or +, got: "sk-[a-z]+"',
    ],
  ] as const)('%s', (_name, rule, message) => {
    expect(compileError([rule])).toEqual([message]);
  });

  it('accepts an unbounded pattern on the request side only', () => {
    expect(
      compileRules([{ name: 'r', pattern: 'sk-[a-z]+', action: 'redact', scope: 'request' }]).request,
    ).toBeDefined();
  });

  it.each([
    [
      'neither pattern nor keywords',
      [{ name: 'r', action: 'block', scope: 'request' }],
      '`filters.rules.0`: a rule needs either `pattern` or `keywords` (not both), got: neither',
    ],
    [
      'both',
      [{ name: 'r', pattern: 'x', keywords: ['y'], action: 'block', scope: 'request' }],
      '`filters.rules.0`: a rule needs either `pattern` or `keywords` (not both), got: both',
    ],
    [
      'a duplicate name',
      [
        { name: 'r', pattern: 'x', action: 'block', scope: 'request' },
        { name: 'r', pattern: 'y', action: 'block', scope: 'request' },
      ],
      '`filters.rules.1.name`: rule names must be unique, got: "r"',
    ],
    [
      'validate on keywords',
      [{ name: 'r', keywords: ['x'], validate: 'luhn', action: 'block', scope: 'request' }],
      '`filters.rules.0.validate`: only pattern rules can be validated, got: "luhn"',
    ],
    [
      'an unknown action',
      [{ name: 'r', pattern: 'x', action: 'drop', scope: 'request' }],
      '`filters.rules.0.action`: action must be "block" or "redact", got: "drop"',
    ],
    [
      'an unknown scope',
      [{ name: 'r', pattern: 'x', action: 'block', scope: 'everything' }],
      '`filters.rules.0.scope`: scope must be "request", "response" or "both", got: "everything"',
    ],
  ])('config: %s', (_name, rules, message) => {
    expect(() => configWithRules(rules as never)).toThrow(
      expect.objectContaining({ problems: [message] }) as unknown as Error,
    );
  });

  it('compiles nothing (and needs no engine) when every rule is disabled', () => {
    const config = configWithRules([
      { name: 'r', pattern: '(', enabled: false, action: 'block', scope: 'both' },
    ]);
    expect(compileContentFilters(config.filters, engine)).toEqual({
      request: undefined,
      response: undefined,
      responseFingerprint: '',
    });
  });
});

describe('matchLengths of compiled programs', () => {
  it.each([
    ['abc', 3, 3],
    ['a|bcd', 3, 1],
    ['x{2,5}', 5, 2],
    ['(?:ab){1,3}c?', 7, 2],
    ['\\bAKIA[0-9A-Z]{16}\\b', 20, 20],
    ['a+', undefined, 1],
    ['(?:a|b)*c', undefined, 1],
    ['a?', 1, 0],
  ])('%s: longest %p, shortest %p', (pattern, longest, shortest) => {
    const prog = (RE2JS.compile(pattern).re2() as unknown as { prog: never }).prog;
    expect(matchLengths(prog)).toEqual({ longest, shortest });
  });
});

// --- The stream redactor: the same output as redacting the whole text, whatever the chunk boundaries -----------

/** Texts built from pieces that make rules match, nearly match, and straddle chunk boundaries. */
const textPiece = fc.constantFrom(
  'pass',
  'word',
  'password',
  'Password',
  'ｐａｓｓ',
  'ｗｏｒｄ',
  '\u200b',
  '\u00ad',
  'api',
  ' ',
  'key',
  'private',
  '4111',
  '1111',
  '-',
  '4',
  '1',
  '7',
  'AKIA',
  'IOSFODNN7EXAMPLE',
  'e\u0301',
  '\u0301',
  'ﬁ',
  '𝐩',
  '😀',
  '.',
  'x',
  '\n',
);
const texts = fc.array(textPiece, { maxLength: 40 }).map((pieces) => pieces.join(''));

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

describe('createStreamRedactor', () => {
  it('gives the same text as redacting the whole text at once, for any chunk boundaries', () => {
    const rules = responseRules();
    fc.assert(
      fc.property(texts, fc.array(fc.nat(), { maxLength: 20 }), (text, cuts) => {
        // Act
        const streamHits = emptyHits();
        const redactor = createStreamRedactor(rules, streamHits);
        let streamed = '';
        for (const piece of split(text, cuts)) {
          streamed += redactor.push(piece);
          // Hold-back stays bounded: the look-ahead plus the segment still open (at most two here).
          expect(normalizeText(redactor.held).text.length).toBeLessThanOrEqual(rules.lookAhead + 6);
        }
        streamed += redactor.end();
        const wholeHits = emptyHits();
        const whole = redactText(rules, text, wholeHits);

        // Assess
        expect(streamed).toBe(whole);
        expect(streamHits.redacted).toEqual(wholeHits.redacted);
      }),
      { numRuns: 2_000, seed: 20261202 },
    );
  });

  it('holds the same over a small alphabet where matches of the longest rule are frequent', () => {
    // Prepare: rules whose matches are common in this alphabet, one of them over surrogate pairs
    const rules = compileRules([
      { name: 'abc', pattern: 'ab{1,8}c', action: 'redact', scope: 'response', mask: '<abc>' },
      { name: 'digits', pattern: '\\b[12]{3,5}\\b', action: 'redact', scope: 'response', mask: '#' },
      { name: 'cab', keywords: ['cab'], action: 'redact', scope: 'response', mask: '<cab>' },
      // the longest rule in code points, and 2 UTF-16 units each
      { name: 'smiles', pattern: '😀{2,12}', action: 'redact', scope: 'response', mask: ':)' },
    ]).response!;
    const small = fc
      .array(
        fc.oneof(
          fc.constantFrom('a', 'b', 'c', '1', '2', ' ', '\u0301', '\u200b', 'ａ', '𝐛', '😀', 'cab'),
          // runs up to and past the longest match of each rule
          fc.integer({ min: 1, max: 10 }).map((n) => `a${'b'.repeat(n)}`),
          fc.integer({ min: 1, max: 7 }).map((n) => '1'.repeat(n)),
          fc.integer({ min: 1, max: 14 }).map((n) => '😀'.repeat(n)),
        ),
        { maxLength: 30 },
      )
      .map((pieces) => pieces.join(''));
    fc.assert(
      fc.property(small, fc.array(fc.nat(), { maxLength: 30 }), (text, cuts) => {
        const redactor = createStreamRedactor(rules, emptyHits());
        let streamed = '';
        for (const piece of split(text, cuts)) streamed += redactor.push(piece);
        streamed += redactor.end();
        expect(streamed).toBe(redactText(rules, text));
      }),
      { numRuns: 3_000, seed: 42 },
    );
  });

  it('also with a block rule: the stream is blocked exactly when the whole text is', () => {
    const rules = compileRules([
      {
        name: 'card',
        pattern: '\\b(?:\\d[ -]?){12,18}\\d\\b',
        validate: 'luhn',
        action: 'block',
        scope: 'response',
      },
      { name: 'words', keywords: ['password'], action: 'redact', scope: 'response' },
    ]).response!;
    fc.assert(
      fc.property(texts, fc.array(fc.nat(), { maxLength: 20 }), (text, cuts) => {
        const streamHits = emptyHits();
        const redactor = createStreamRedactor(rules, streamHits);
        for (const piece of split(text, cuts)) redactor.push(piece);
        redactor.end();
        const wholeHits = emptyHits();
        redactText(rules, text, wholeHits);
        expect(streamHits.blockedBy).toBe(wholeHits.blockedBy);
      }),
      { numRuns: 1_000, seed: 7 },
    );
  });

  it('sends text at once when no rule could match it, holding back only the look-ahead', () => {
    // Prepare: the longest match is a card number, 18 digits with separators and one more: 37 code points,
    // so 2 × 37 + 2 = 76 units of look-ahead
    const rules = responseRules();
    const redactor = createStreamRedactor(rules, emptyHits());
    const text = 'x'.repeat(100);

    // Act
    const sent = redactor.push(text);

    // Assess
    expect(rules.lookAhead).toBe(76);
    expect(sent.length).toBe(100 - rules.lookAhead - 1);
    expect(sent + redactor.end()).toBe(text);
  });

  it('holds a match split across pieces and masks it whole', () => {
    const redactor = createStreamRedactor(responseRules(), emptyHits());
    const out = [redactor.push('my pass'), redactor.push('word is x'), redactor.end()];
    expect(out.join('')).toBe('my [REDACTED] is x');
    expect(out[0]).not.toContain('pass');
  });
});

// --- Linear time: a pattern that is catastrophic for backtracking engines -----------------------------------

describe('ReDoS', () => {
  // (a+)+$ against "aaaa…a!" makes a backtracking engine try every way of splitting the a's between the two
  // loops: 2^n paths before it fails. RE2 reads each input position a bounded number of times.
  it('reads the input a constant number of times per character as the input grows (operation count)', () => {
    const pattern = RE2JS.compile('(a+)+$');
    const readsFor = (n: number): number => {
      const bytes = [...Buffer.from(`${'a'.repeat(n)}!`)];
      let reads = 0;
      const counted = new Proxy(bytes, {
        get(target, property, receiver) {
          if (typeof property === 'string' && /^\d+$/.test(property)) reads += 1;
          return Reflect.get(target, property, receiver);
        },
      });
      expect(pattern.matcher(counted).find()).toBe(false);
      return reads;
    };

    // Act
    const counts = [1_000, 2_000, 4_000, 8_000].map((n) => readsFor(n) / n);

    // Assess: reads per input byte stay the same (a backtracking engine's would double with every a)
    const [first] = counts;
    for (const perByte of counts) expect(perByte).toBeCloseTo(first!, 1);
    expect(first).toBeLessThan(10);
  });

  it('filters a 200,000-character adversarial text with the catastrophic pattern as a rule', () => {
    // Prepare
    const rules = compileRules([{ name: 'evil', pattern: '(a+)+$', action: 'block', scope: 'request' }]);
    const hits = emptyHits();

    // Act: would not finish in a backtracking engine (2^200000 paths); the jest timeout is the backstop
    const out = redactText(rules.request!, `${'a'.repeat(200_000)}!`, hits);

    // Assess
    expect(out.length).toBe(200_001);
    expect(hits.blockedBy).toBeUndefined();
    // and the same pattern does match where it should
    redactText(rules.request!, 'aaaa', hits);
    expect(hits.blockedBy).toBe('evil');
  });
});
