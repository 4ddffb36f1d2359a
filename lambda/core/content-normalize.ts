// Text as content rules see it, and the way back: each segment in NFKC without default-ignorable code points,
// with maps from every normalised unit to the original text, so that a match redacts what the client wrote.

/**
 * Text as rules see it: each segment (a code point and the combining marks after it) in NFKC, with
 * default-ignorable code points (zero-width spaces and joiners, soft hyphens, …) removed, so `ｐａｓｓ`,
 * `pa\u200bss` and `pa\u0073s` all read `pass`. Every normalised unit maps back to its original segment.
 */
export interface NormalizedText {
  readonly text: string;
  /** Per segment, in order: where it starts in the original and in `text`; one extra entry for the end. */
  readonly originalStarts: readonly number[] | undefined;
  readonly normalizedStarts: readonly number[] | undefined;
}

const NON_ASCII = /[\u0080-\uffff]/g;
/** A segment at a given index (sticky): a code point and the combining marks after it, or marks alone. */
const SEGMENT = /\P{M}\p{M}*|\p{M}+/uy;
const MARK = /\p{M}/uy;
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;

/** A segment's NFKC less its default-ignorable code points. Short segments recur (é, ü, ｐ, emoji): remembered. */
const segmentCache = new Map<string, string>();
const normalizeSegment = (segment: string): string => {
  let out = segmentCache.get(segment);
  if (out === undefined) {
    out = segment.normalize('NFKC').replace(IGNORABLE, '');
    if (segment.length <= 8) {
      if (segmentCache.size >= 4096) segmentCache.clear();
      segmentCache.set(segment, out);
    }
  }
  return out;
};

/** normalizeText, with the maps back to the original only when `withMaps`. */
export const normalize = (original: string, withMaps: boolean): NormalizedText => {
  // ASCII is its own NFKC and holds no default-ignorable code point: the common case costs one test.
  NON_ASCII.lastIndex = 0;
  if (!NON_ASCII.test(original))
    return { text: original, originalStarts: undefined, normalizedStarts: undefined };
  const originalStarts: number[] | undefined = withMaps ? [] : undefined;
  const normalizedStarts: number[] | undefined = withMaps ? [] : undefined;
  let text = '';
  let at = 0;
  while (at < original.length) {
    // A run of ASCII characters, each a segment of its own that normalises to itself, is copied as it is; but
    // the character just before a combining mark starts a segment with it.
    NON_ASCII.lastIndex = at;
    let runEnd = NON_ASCII.test(original) ? NON_ASCII.lastIndex - 1 : original.length;
    if (runEnd > at && runEnd < original.length) {
      MARK.lastIndex = runEnd;
      if (MARK.test(original)) runEnd -= 1;
    }
    if (withMaps) {
      for (let i = at; i < runEnd; i += 1) {
        originalStarts!.push(i);
        normalizedStarts!.push(text.length + i - at);
      }
    }
    text += original.slice(at, runEnd);
    at = runEnd;
    if (at === original.length) break;
    // Then one segment that holds more than ASCII, normalised on its own.
    SEGMENT.lastIndex = at;
    const segment = SEGMENT.exec(original)![0];
    originalStarts?.push(at);
    normalizedStarts?.push(text.length);
    text += normalizeSegment(segment);
    at += segment.length;
  }
  originalStarts?.push(original.length);
  normalizedStarts?.push(text.length);
  return { text, originalStarts, normalizedStarts };
};

export const normalizeText = (original: string): NormalizedText => normalize(original, true);

/** The segment holding normalised unit `unit` (the last segment starting at or before it). */
export const segmentAt = (normalized: NormalizedText, unit: number): number => {
  const starts = normalized.normalizedStarts!;
  let low = 0;
  let high = starts.length - 2;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (starts[mid]! <= unit) low = mid;
    else high = mid - 1;
  }
  // For a unit inside the text this is the segment that holds it: a segment that normalised to nothing shares
  // its start with the next one, and the search takes the last of those.
  return low;
};

/** Original index where the segment holding normalised unit `unit` starts. */
export const originalStartOf = (normalized: NormalizedText, unit: number): number =>
  normalized.originalStarts === undefined ? unit : normalized.originalStarts[segmentAt(normalized, unit)]!;
/** Original index where the segment holding normalised unit `unit` ends. */
export const originalEndOf = (normalized: NormalizedText, unit: number): number =>
  normalized.originalStarts === undefined
    ? unit + 1
    : normalized.originalStarts[segmentAt(normalized, unit) + 1]!;
/** Normalised index where the segment holding unit `unit` ends. */
export const normalizedEndOf = (normalized: NormalizedText, unit: number): number =>
  normalized.normalizedStarts === undefined
    ? unit + 1
    : normalized.normalizedStarts[segmentAt(normalized, unit) + 1]!;
