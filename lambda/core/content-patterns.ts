// The port to the regex engine content rules run on (lambda/adapters/regex implements it): several RE2-syntax
// sources compiled into one linear-time pattern, searched leftmost-first, resumable across a stream's pushes.

/** One pattern to compile: RE2 syntax. */
export interface PatternSource {
  readonly regex: string;
  readonly ignoreCase: boolean;
}

export interface PatternMatch {
  readonly start: number;
  readonly end: number;
  /** Index of the source (rule) that matched. */
  readonly alternative: number;
}

/**
 * Where the search of a text stood at an index: the engine's state there (opaque here), which a search of a
 * later text repeating that text can go on from instead of reading it again (a stream's held-back text).
 */
export interface SearchPoint {
  /** The index it stands at, in the text it is given with. */
  readonly at: number;
  readonly state: unknown;
}

/** The search of one text. */
export interface TextSearch {
  /**
   * The leftmost-first match of any source starting at or after `from` (UTF-16 index), or undefined when there
   * is none or it starts at `before` or later (then the search may stop sooner).
   */
  next(from: number, before?: number): PatternMatch | undefined;
  /**
   * Where the search stood at the index `record` named, if the search from the first index it was given (the
   * lowest) read past it: a point a later text searched from there or later can go on from.
   */
  readonly recorded: SearchPoint | undefined;
}

export interface SearchOptions {
  /** An index to record the search's point at (see TextSearch.recorded). */
  readonly record?: number | undefined;
  /**
   * A point recorded in an earlier text, its `at` moved to the index of this text where the recorded index now
   * is. The caller vouches that this text repeats the earlier one up to there, from one code point before where
   * this text's searches start, and that they start no earlier than the earlier text's did (same positions).
   */
  readonly resume?: SearchPoint | undefined;
}

/** Several sources compiled into one linear-time pattern. */
export interface LinearPattern {
  /** Searches one text. */
  searcher(text: string, options?: SearchOptions): TextSearch;
  /** Per source: its longest match in code points; undefined when unbounded (`\d+`). */
  readonly maxMatchCodePoints: readonly (number | undefined)[];
}

export interface PatternEngine {
  /** Throws PatternSyntaxError naming the source it could not compile. */
  compile(sources: readonly PatternSource[]): LinearPattern;
}

export class PatternSyntaxError extends Error {
  constructor(
    readonly index: number,
    message: string,
  ) {
    super(message);
    this.name = 'PatternSyntaxError';
  }
}
