// Sensitive-content rules: compiled once, matched in linear time on normalised text, redacted whole or as a
// stream with bounded hold-back. The regex engine is injected (adapters/regex): core stays free of it.
import { createHash } from 'node:crypto';
import { ConfigError, type GatewayConfig } from './config.ts';
import {
  normalize,
  normalizedEndOf,
  normalizeText,
  originalEndOf,
  originalStartOf,
  segmentAt,
} from './content-normalize.ts';
import {
  type LinearPattern,
  type PatternEngine,
  type PatternSource,
  PatternSyntaxError,
  type SearchPoint,
  type TextSearch,
} from './content-patterns.ts';

export const FilterAction = { block: 'block', redact: 'redact' } as const;
export type FilterActionName = (typeof FilterAction)[keyof typeof FilterAction];
export const FilterScope = { request: 'request', response: 'response', both: 'both' } as const;
export type FilterScopeName = (typeof FilterScope)[keyof typeof FilterScope];

export interface CompiledRule {
  readonly name: string;
  readonly action: FilterActionName;
  readonly mask: string;
  readonly validate: 'luhn' | undefined;
  /** Keyword rules: a keyword must not be part of a longer word. */
  readonly wholeWords: boolean;
}

/** The rules of one side (request or response) as one pattern. */
export interface RuleSet {
  readonly rules: readonly CompiledRule[];
  readonly pattern: LinearPattern;
  /**
   * Normalised UTF-16 units a decision needs past a match's start: the longest match (2 units per code
   * point) plus one code point of look-ahead (`\b`, `$`, word boundaries). Finite only when every rule is bounded.
   */
  readonly lookAhead: number;
}

export interface ContentFilters {
  readonly request: RuleSet | undefined;
  readonly response: RuleSet | undefined;
  /** Changes whenever the response rules change: part of cache keys, so no answer filtered otherwise is served. */
  readonly responseFingerprint: string;
}

export type FilterConfig = GatewayConfig['filters'];

/** True when some enabled rule exists: only then is the regex engine loaded. */
export const hasContentRules = (filters: FilterConfig): boolean => filters.rules.some((rule) => rule.enabled);

/** RE2 syntax for a literal. */
const quote = (text: string): string => text.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');

/**
 * Compiles the enabled rules into a request-side and a response-side set. Throws ConfigError naming each rule
 * that does not compile, matches empty text, or (response side) can match unboundedly long text, which a
 * stream redactor could not hold back.
 */
export const compileContentFilters = (filters: FilterConfig, engine: PatternEngine): ContentFilters => {
  const problems: string[] = [];
  const build = (side: 'request' | 'response'): RuleSet | undefined => {
    const chosen = filters.rules
      .map((rule, index) => ({ rule, index }))
      .filter(({ rule }) => rule.enabled && (rule.scope === side || rule.scope === FilterScope.both));
    if (chosen.length === 0) return undefined;
    const sources = chosen.map(({ rule }): PatternSource => {
      if (rule.keywords !== undefined) {
        const words = rule.keywords.map((word) => quote(normalizeText(word).text));
        return { regex: words.join('|'), ignoreCase: rule.ignoreCase ?? true };
      }
      return { regex: rule.pattern ?? '', ignoreCase: rule.ignoreCase ?? false };
    });
    let pattern: LinearPattern;
    try {
      pattern = engine.compile(sources);
    } catch (error) {
      if (!(error instanceof PatternSyntaxError)) throw error;
      const at = chosen[error.index];
      const field = at?.rule.keywords === undefined ? 'pattern' : 'keywords';
      problems.push(
        `\`filters.rules.${at?.index}.${field}\`: ${error.message}, got: ${JSON.stringify(at?.rule.keywords ?? at?.rule.pattern)}`,
      );
      return undefined;
    }
    let longest = 0;
    pattern.maxMatchCodePoints.forEach((max, i) => {
      if (max === undefined) {
        if (side === 'response') {
          const at = chosen[i]!;
          problems.push(
            `\`filters.rules.${at.index}.pattern\`: a response rule must match text of bounded length (a stream is held back by that much), so use a bounded repeat such as {1,64} instead of * or +, got: ${JSON.stringify(at.rule.pattern)}`,
          );
        }
      } else longest = Math.max(longest, max);
    });
    return {
      rules: chosen.map(({ rule }) => ({
        name: rule.name,
        action: rule.action,
        mask: rule.mask ?? filters.mask,
        validate: rule.validate,
        wholeWords: rule.keywords !== undefined && rule.wholeWords,
      })),
      pattern,
      lookAhead: 2 * longest + 2,
    };
  };
  const request = build('request');
  const response = build('response');
  if (problems.length > 0) throw new ConfigError(problems);
  return { request, response, responseFingerprint: responseRulesFingerprint(filters) };
};

/** A digest of the enabled response rules ('' for none): what cache keys carry of them. */
export const responseRulesFingerprint = (filters: FilterConfig): string => {
  const rules = filters.rules.filter(
    (rule) => rule.enabled && (rule.scope === FilterScope.response || rule.scope === FilterScope.both),
  );
  if (rules.length === 0) return '';
  return createHash('sha256')
    .update(JSON.stringify([filters.mask, rules]))
    .digest('hex')
    .slice(0, 16);
};

// --- Matching ------------------------------------------------------------------------------------------------

const WORD = /[\p{L}\p{N}]/u;
const isWordAt = (text: string, index: number): boolean => {
  const point = text.codePointAt(index);
  return point !== undefined && WORD.test(String.fromCodePoint(point));
};
const isWordBefore = (text: string, index: number): boolean => {
  if (index <= 0) return false;
  const low = text.charCodeAt(index - 1);
  const start = low >= 0xdc00 && low <= 0xdfff && index >= 2 ? index - 2 : index - 1;
  return isWordAt(text, start);
};

/** The Luhn checksum over the digits of a match, which must number 13 to 19 (payment card numbers). */
export const passesLuhn = (text: string): boolean => {
  const digits = text.replace(/\D/g, '');
  if (digits.length < 13 || digits.length > 19) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i += 1) {
    let digit = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
};

const accepts = (rule: CompiledRule, text: string, start: number, end: number): boolean => {
  if (rule.validate === 'luhn' && !passesLuhn(text.slice(start, end))) return false;
  if (rule.wholeWords) {
    if (isWordAt(text, start) && isWordBefore(text, start)) return false;
    if (isWordBefore(text, end) && isWordAt(text, end)) return false;
  }
  return true;
};

interface Hit {
  readonly start: number;
  readonly end: number;
  readonly rule: CompiledRule;
}

/**
 * The next accepted match starting at or after `from`, if it starts before `before`. A match its rule's check
 * refuses (Luhn, word boundary) is skipped and the search goes on one code point later, so the result depends
 * only on the text.
 */
const nextHit = (
  rules: RuleSet,
  search: TextSearch,
  text: string,
  from: number,
  before = Number.POSITIVE_INFINITY,
): Hit | undefined => {
  let position = from;
  for (;;) {
    const match = search.next(position, before);
    if (match === undefined) return undefined;
    const rule = rules.rules[match.alternative]!;
    if (accepts(rule, text, match.start, match.end)) return { start: match.start, end: match.end, rule };
    const point = text.codePointAt(match.start) ?? 0;
    position = match.start + (point > 0xffff ? 2 : 1);
    if (position > text.length) return undefined;
  }
};

/** What rules did to a text: counts by rule, and the first blocking rule if any. */
export interface RuleHits {
  readonly redacted: Map<string, number>;
  blockedBy: string | undefined;
}

export const emptyHits = (): RuleHits => ({ redacted: new Map(), blockedBy: undefined });

const note = (hits: RuleHits, rule: CompiledRule) => {
  if (rule.action === FilterAction.block) hits.blockedBy ??= rule.name;
  else hits.redacted.set(rule.name, (hits.redacted.get(rule.name) ?? 0) + 1);
};

/**
 * Applies the rules to a whole text: each match (in original text, whole segments) becomes its rule's mask.
 * A blocking match stops the scan: `hits.blockedBy` names its rule and the text is not to be used.
 */
export const redactText = (rules: RuleSet, original: string, hits: RuleHits = emptyHits()): string => {
  // Most texts hold no match: the maps back to the original are made only once one is found.
  const text = normalize(original, false).text;
  const search = rules.pattern.searcher(text);
  let hit = nextHit(rules, search, text, 0);
  if (hit === undefined) return original;
  const normalized = normalizeText(original);
  let out = '';
  let copied = 0;
  while (hit !== undefined) {
    note(hits, hit.rule);
    if (hit.rule.action === FilterAction.block) return original;
    const start = originalStartOf(normalized, hit.start);
    out += original.slice(copied, start) + hit.rule.mask;
    copied = originalEndOf(normalized, hit.end - 1);
    hit = nextHit(rules, search, text, normalizedEndOf(normalized, hit.end - 1));
  }
  return copied === 0 ? original : out + original.slice(copied);
};

/**
 * Redacts a text that arrives in pieces. Each `push` returns what can be sent now: all but the last
 * `lookAhead` normalised units (and the segment still open), minus masked matches. `end` returns the rest.
 * The concatenation of everything returned equals redactText of the whole text.
 */
export interface StreamRedactor {
  push(piece: string): string;
  end(): string;
  /** The text held back (not yet returned). */
  readonly held: string;
}

/** The last code point of `text.slice(0, end)` (both halves of a surrogate pair), or '' when that is empty. */
const lastPointBefore = (text: string, end: number): string => {
  if (end <= 0) return '';
  const low = text.charCodeAt(end - 1);
  return text.slice(end - (low >= 0xdc00 && low <= 0xdfff && end >= 2 ? 2 : 1), end);
};

export const createStreamRedactor = (rules: RuleSet, hits: RuleHits): StreamRedactor => {
  let pending = '';
  /** The last emitted code point, normalised: matching sees it before `pending` (for `\b` and word checks). */
  let context = '';
  let blocked = false;
  /** Where the last search stood at the end of the text this one repeats (its stable part), moved to this one. */
  let resume: SearchPoint | undefined;

  const release = (final: boolean): string => {
    if (blocked || pending === '') return '';
    const normalized = normalizeText(pending);
    const text = context + normalized.text;
    const offset = context.length;
    // The open segment at the end may still grow (combining marks, a surrogate's second half): not final.
    let stableEnd = normalized.text.length;
    if (!final && normalized.normalizedStarts !== undefined) {
      const starts = normalized.normalizedStarts;
      let open = starts.length - 2;
      const last = pending.charCodeAt(pending.length - 1);
      if (last >= 0xd800 && last <= 0xdbff && open > 0) open -= 1;
      stableEnd = starts[Math.max(0, open)]!;
    } else if (!final) {
      stableEnd = normalized.text.length - 1;
    }
    const limit = final ? normalized.text.length : stableEnd - rules.lookAhead;
    // Everything before the open segment is read again by the next search, after the new piece: this search
    // notes where it stands there, and the next goes on from that point instead of reading that text again.
    const search = rules.pattern.searcher(text, { record: final ? undefined : offset + stableEnd, resume });
    resume = undefined;
    let out = '';
    let copied = 0;
    let position = offset;
    for (;;) {
      // A match starting at the limit or later waits for the next piece: the search need not look at it.
      const hit = nextHit(rules, search, text, position, offset + limit);
      if (hit === undefined || hit.start - offset >= limit) break;
      note(hits, hit.rule);
      if (hit.rule.action === FilterAction.block) {
        blocked = true;
        pending = '';
        return '';
      }
      const start = originalStartOf(normalized, hit.start - offset);
      out += pending.slice(copied, start) + hit.rule.mask;
      copied = originalEndOf(normalized, hit.end - 1 - offset);
      position = normalizedEndOf(normalized, hit.end - 1 - offset) + offset;
    }
    if (final) {
      out += pending.slice(copied);
      pending = '';
      return out;
    }
    // Before the limit no match can start any more: send that much, cut where a segment starts. (A masked
    // match may reach past the limit: then the cut is where it ends.)
    const cutUnit = Math.max(limit, position - offset);
    if (cutUnit <= 0) {
      resume = search.recorded;
      return out;
    }
    let cut = copied;
    let sentUnits = position - offset;
    if (cutUnit < normalized.text.length) {
      if (normalized.normalizedStarts === undefined) {
        cut = cutUnit;
        sentUnits = cutUnit;
      } else {
        const segment = segmentAt(normalized, cutUnit);
        cut = normalized.originalStarts![segment]!;
        sentUnits = normalized.normalizedStarts[segment]!;
      }
    }
    out += pending.slice(copied, cut);
    if (sentUnits > 0) context = lastPointBefore(normalized.text, sentUnits);
    pending = pending.slice(cut);
    // The next text is the new context, then this one's normalised units from sentUnits (their segments are
    // the same: the cut is at a segment's start) up to the stable end, then what the next piece changes.
    const point = search.recorded;
    if (point !== undefined && sentUnits <= stableEnd) {
      resume = { state: point.state, at: point.at - (offset + sentUnits - context.length) };
    }
    return out;
  };

  return {
    push(piece: string): string {
      if (blocked) return '';
      pending += piece;
      return release(false);
    },
    end(): string {
      return release(true);
    },
    get held() {
      return pending;
    },
  };
};
