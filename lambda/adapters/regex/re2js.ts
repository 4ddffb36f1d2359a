// The PatternEngine of content rules on re2js, a pure-JS port of RE2: linear-time matching, no backtracking.
import type { RE2JS as RE2JSClass } from 're2js';
import {
  type LinearPattern,
  type PatternEngine,
  type PatternMatch,
  type PatternSource,
  PatternSyntaxError,
  type SearchOptions,
  type SearchPoint,
  type TextSearch,
} from '../../core/content-patterns.ts';
import {
  type ContentFilters,
  compileContentFilters,
  type FilterConfig,
  hasContentRules,
} from '../../core/content-rules.ts';

type Re2Js = typeof RE2JSClass;

/** re2js's compiled program (RE2's `Prog`): not part of its typed API, so the version is pinned exactly. */
interface Inst {
  readonly op: number;
  readonly out: number;
  readonly arg: number;
}
interface Prog {
  readonly inst: readonly Inst[];
  readonly start: number;
}
const Op = {
  alt: 1,
  altMatch: 2,
  fail: 5,
  match: 6,
  runeFirst: 8,
  runeLast: 11,
} as const;
const isRune = (op: number) => op >= Op.runeFirst && op <= Op.runeLast;
const successors = (inst: Inst): number[] => {
  if (inst.op === Op.match || inst.op === Op.fail) return [];
  if (inst.op === Op.alt || inst.op === Op.altMatch) return [inst.out, inst.arg];
  return [inst.out];
};

/**
 * The longest and shortest match of a program, in code points (each rune instruction reads one). The longest
 * is undefined when a loop that reads input can be repeated (`*`, `+`, `{n,}`): the match is unbounded.
 */
export const matchLengths = (prog: Prog): { longest: number | undefined; shortest: number } => {
  const { inst } = prog;
  // Longest: depth-first, iterative (programs of x{1000} have thousands of instructions), with loop detection.
  const longest = new Map<number, number>();
  const onPath = new Set<number>();
  const stack: Array<{ pc: number; next: number }> = [{ pc: prog.start, next: 0 }];
  onPath.add(prog.start);
  let unbounded = false;
  while (stack.length > 0 && !unbounded) {
    const frame = stack[stack.length - 1]!;
    const here = inst[frame.pc]!;
    const next = successors(here);
    if (frame.next < next.length) {
      const pc = next[frame.next]!;
      frame.next += 1;
      if (longest.has(pc)) continue;
      if (onPath.has(pc)) {
        unbounded = true;
        break;
      }
      onPath.add(pc);
      stack.push({ pc, next: 0 });
      continue;
    }
    let best = here.op === Op.match ? 0 : Number.NEGATIVE_INFINITY;
    for (const pc of next) best = Math.max(best, longest.get(pc) ?? Number.NEGATIVE_INFINITY);
    longest.set(frame.pc, best + (isRune(here.op) ? 1 : 0));
    onPath.delete(frame.pc);
    stack.pop();
  }
  // Shortest: 0-1 breadth-first search (a rune costs 1, every other step 0).
  const distance = new Map<number, number>([[prog.start, 0]]);
  const queue: number[] = [prog.start];
  let shortest = Number.POSITIVE_INFINITY;
  while (queue.length > 0) {
    const pc = queue.shift()!;
    const here = inst[pc]!;
    const d = distance.get(pc)!;
    if (here.op === Op.match) shortest = Math.min(shortest, d);
    const cost = isRune(here.op) ? 1 : 0;
    for (const nextPc of successors(here)) {
      if ((distance.get(nextPc) ?? Number.POSITIVE_INFINITY) <= d + cost) continue;
      distance.set(nextPc, d + cost);
      if (cost === 0) queue.unshift(nextPc);
      else queue.push(nextPc);
    }
  }
  const top = longest.get(prog.start);
  return {
    longest: unbounded || top === undefined || !Number.isFinite(top) ? undefined : top,
    shortest,
  };
};

// --- Searching -------------------------------------------------------------------------------------------------
// re2js finds a match's bounds by backtracking from every start position (or simulating the NFA on long texts),
// which costs far more per character than its lazy DFA; but its Matcher only runs the DFA to say yes or no, and
// from the start of the text. So the search below runs the DFA itself (as re2js's DFA.run does, only remembering
// where it first reaches a match), and asks for the bounds only when there is a match, from close to it.

/** re2js's RE2Flags.UNANCHORED and the DFA's end-of-text rune. */
const UNANCHORED = 0;
const END_TEXT = -1;

/** What the search uses of re2js's internals (RE2, its lazy DFA, a UTF-16 MachineInput): the version is pinned. */
interface DfaState {
  readonly isMatch: boolean;
  readonly next: (DfaState | null)[] | null;
}
interface Dfa {
  readonly failed: boolean;
  readonly latin1Class: Int32Array;
  readonly numClasses: number;
  runeClass(rune: number): number;
  start(input: MachineInput, pos: number): DfaState | null;
  stepOrReset(
    state: DfaState,
    cls: number,
    rune: number,
    anchor: number,
    pos: number,
    search: { resetPos: number },
  ): DfaState | null;
}
interface Re2 {
  readonly dfa: Dfa;
  executeEngine(input: MachineInput, pos: number, anchor: number, ncap: number): number[] | null;
}
type MachineInput = object;
type MachineInputClass = new (text: string) => MachineInput;

/** re2js's MachineUTF16Input, which it does not export: taken from the input its own match() makes. */
const machineInputClassOf = (RE2JS: Re2Js): MachineInputClass => {
  const probe = RE2JS.compile('x').re2() as unknown as Re2 & { match(text: string): boolean };
  let found: MachineInputClass | undefined;
  Object.defineProperty(probe, 'executeEngine', {
    value: (input: MachineInput) => {
      found = input.constructor as MachineInputClass;
      return null;
    },
  });
  probe.match('');
  if (found === undefined) throw new Error('re2js: no MachineInput found (is re2js the pinned version?)');
  return found;
};

/** A scan's start: the DFA state at an index of the text (a SearchPoint's state). */
interface Resume {
  readonly at: number;
  readonly state: DfaState;
}

/**
 * Where the earliest-ending match starting at or after `from` ends (UTF-16 index); -1 when there is none;
 * undefined when the DFA gives up (its memory budget), and the caller must search without it. This is re2js's
 * DFA.run for an unanchored search, stopping at the first match state; it starts from `resume` when that
 * stands at or after `from` (the threads it carries from before `from` can only add matches, which the search
 * for the bounds then rules out), and records the state at the search's `recordAt` if it gets there.
 */
const earliestMatchEnd = (dfa: Dfa, search: Re2jsSearch, from: number): number | undefined => {
  const { text, input, resume } = search;
  // A state is worth recording only in a scan from where the searches of this text begin: a later text that
  // goes on from it is searched from there or later, and must not miss threads started before.
  const recordAt = from <= search.firstFrom ? search.recordAt : -1;
  if (dfa.failed) return undefined;
  let state: DfaState;
  let at: number;
  if (resume !== undefined && resume.at >= from && resume.at <= text.length) {
    state = resume.state;
    at = resume.at;
  } else {
    const first = dfa.start(input, from);
    if (first === null) return undefined;
    state = first;
    at = from;
  }
  const latin1Class = dfa.latin1Class;
  /** re2js's record of where the DFA last reset its cache (it gives up when that happens too often). */
  let progress: { resetPos: number } | undefined;
  const end = text.length;
  while (at < end) {
    if (at === recordAt) search.recorded = { at, state };
    let rune = text.charCodeAt(at);
    let width = 1;
    if (rune >= 0xd800 && rune <= 0xdbff && at + 1 < end) {
      const low = text.charCodeAt(at + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        rune = (rune - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
        width = 2;
      }
    }
    const cls = rune <= 0xff ? latin1Class[rune]! : dfa.runeClass(rune);
    let next: DfaState | null = state.next === null ? null : (state.next[cls] ?? null);
    if (next === null) {
      progress ??= { resetPos: -1 };
      next = dfa.stepOrReset(state, cls, rune, UNANCHORED, at, progress);
      if (next === null) return undefined;
    }
    state = next;
    // A state is a match state when the one before it held a match: a match ends where this rune starts.
    if (state.isMatch) return at;
    at += width;
  }
  if (at === recordAt) search.recorded = { at, state };
  // The end of the text: a step of its own (class numClasses), cached like the others.
  let last: DfaState | null = state.next === null ? null : (state.next[dfa.numClasses] ?? null);
  if (last === null) {
    progress ??= { resetPos: -1 };
    last = dfa.stepOrReset(state, dfa.numClasses, END_TEXT, UNANCHORED, at, progress);
    if (last === null) return undefined;
  }
  return last.isMatch ? end : -1;
};

/** What every search of one compiled pattern shares. */
interface CompiledPattern {
  readonly re2: Re2;
  /** Capture slots: 2 per group, the whole match's included. */
  readonly ncap: number;
  /** Per source, the group that holds it. */
  readonly groupOf: readonly number[];
  /** The longest match in UTF-16 units (2 per code point), when every source has one. */
  readonly longestUnits: number | undefined;
}

class Re2jsSearch implements TextSearch {
  recorded: SearchPoint | undefined = undefined;
  readonly resume: Resume | undefined;
  readonly recordAt: number;
  /** The first index searched from (the lowest, for the stream redactor): only its scan records. */
  firstFrom = Number.POSITIVE_INFINITY;
  /** No match starts at or after this index: what a search that found none proved. */
  private clearFrom: number;

  constructor(
    private readonly pattern: CompiledPattern,
    readonly text: string,
    readonly input: MachineInput,
    options: SearchOptions | undefined,
  ) {
    this.resume = options?.resume as Resume | undefined;
    this.recordAt = options?.record ?? -1;
    this.clearFrom = text.length + 1;
  }

  next(from: number, before = Number.POSITIVE_INFINITY): PatternMatch | undefined {
    if (from >= this.clearFrom) return undefined;
    if (from < this.firstFrom) this.firstFrom = from;
    const { re2, ncap, groupOf, longestUnits } = this.pattern;
    const text = this.text;
    // Texts no rule matches (nearly all) end here, after one DFA step per character.
    const end = earliestMatchEnd(re2.dfa, this, from);
    if (end === -1) {
      this.clearFrom = from;
      return undefined;
    }
    // The leftmost match starts at or after `from` and some match starting there ends at or after `end`; no
    // match is longer than longestUnits, so it starts at end - longestUnits or later: searching from there (or
    // the start of the surrogate pair there) finds the same match, and its groups, without reading the text
    // before.
    let start = from;
    if (end !== undefined && longestUnits !== undefined && end - longestUnits > from) {
      start = end - longestUnits;
      const unit = text.charCodeAt(start);
      const previous = text.charCodeAt(start - 1);
      if (unit >= 0xdc00 && unit <= 0xdfff && previous >= 0xd800 && previous <= 0xdbff) start -= 1;
    }
    // A match that cannot start before `before` is not wanted.
    if (start >= before) return undefined;
    const groups = re2.executeEngine(this.input, start, UNANCHORED, ncap);
    if (groups === null) {
      this.clearFrom = from;
      return undefined;
    }
    if (groups[0]! >= before) return undefined;
    const alternative = groupOf.findIndex((g) => groups[2 * g]! >= 0);
    return { start: groups[0]!, end: groups[1]!, alternative };
  }
}

const programOf = (compiled: RE2JSClass): Prog => (compiled.re2() as unknown as { prog: Prog }).prog;

/** The PatternEngine over an already loaded re2js (see loadRe2jsEngine). */
export const re2jsEngine = (RE2JS: Re2Js): PatternEngine => {
  const MachineInput = machineInputClassOf(RE2JS);
  return {
    compile(sources: readonly PatternSource[]): LinearPattern {
      const flagsOf = (source: PatternSource) => (source.ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
      const groupOf: number[] = [];
      const maxMatchCodePoints: (number | undefined)[] = [];
      let group = 1;
      sources.forEach((source, index) => {
        let alone: RE2JSClass;
        try {
          alone = RE2JS.compile(source.regex, flagsOf(source));
        } catch (error) {
          throw new PatternSyntaxError(index, error instanceof Error ? error.message : String(error));
        }
        if (Object.keys(alone.namedGroups()).length > 0) {
          throw new PatternSyntaxError(index, 'named groups (?P<name>…) are not supported here: use (?:…)');
        }
        const lengths = matchLengths(programOf(alone));
        if (lengths.shortest === 0) throw new PatternSyntaxError(index, 'the pattern matches empty text');
        groupOf.push(group);
        group += 1 + alone.groupCount();
        maxMatchCodePoints.push(lengths.longest);
      });
      // One alternation, each source in a group of its own: one pass over the text finds the leftmost match of
      // any of them, and the group that took part says which.
      const combined = RE2JS.compile(
        sources.map((source) => `(${source.ignoreCase ? '(?i:' : '(?:'}${source.regex}))`).join('|'),
      );
      const re2 = combined.re2() as unknown as Re2;
      const ncap = 2 * (1 + combined.groupCount());
      // The longest match in UTF-16 units (2 per code point), when every source has one.
      const longestUnits = maxMatchCodePoints.every((max) => max !== undefined)
        ? 2 * Math.max(...maxMatchCodePoints)
        : undefined;
      const compiled: CompiledPattern = { re2, ncap, groupOf, longestUnits };
      return {
        maxMatchCodePoints,
        searcher: (text: string, options?: SearchOptions): TextSearch =>
          new Re2jsSearch(compiled, text, new MachineInput(text), options),
      };
    },
  };
};

/** Imports re2js (150 KB minified) only when content rules are configured: it stays out of the bundle. */
export const loadRe2jsEngine = async (): Promise<PatternEngine> => re2jsEngine((await import('re2js')).RE2JS);

/** The config's content rules compiled, or undefined when none is enabled (re2js is then never loaded). */
export const loadContentFilters = async (filters: FilterConfig): Promise<ContentFilters | undefined> =>
  hasContentRules(filters) ? compileContentFilters(filters, await loadRe2jsEngine()) : undefined;
