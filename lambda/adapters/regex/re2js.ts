// The PatternEngine of content rules on re2js, a pure-JS port of RE2: linear-time matching, no backtracking.
import type { RE2JS as RE2JSClass } from 're2js';
import {
  type ContentFilters,
  compileContentFilters,
  type FilterConfig,
  hasContentRules,
  type LinearPattern,
  type PatternEngine,
  type PatternMatch,
  type PatternSource,
  PatternSyntaxError,
} from '../../core/content-rules.ts';

type Re2 = typeof RE2JSClass;

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

const programOf = (compiled: RE2JSClass): Prog => (compiled.re2() as unknown as { prog: Prog }).prog;

/** The PatternEngine over an already loaded re2js (see loadRe2jsEngine). */
export const re2jsEngine = (RE2JS: Re2): PatternEngine => ({
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
    return {
      maxMatchCodePoints,
      searcher(text: string) {
        const matcher = combined.matcher(text);
        return (from: number): PatternMatch | undefined => {
          if (!matcher.find(from)) return undefined;
          const alternative = groupOf.findIndex((g) => matcher.start(g) >= 0);
          return { start: matcher.start(), end: matcher.end(), alternative };
        };
      },
    };
  },
});

/** Imports re2js (150 KB minified) only when content rules are configured: it stays out of the bundle. */
export const loadRe2jsEngine = async (): Promise<PatternEngine> => re2jsEngine((await import('re2js')).RE2JS);

/** The config's content rules compiled, or undefined when none is enabled (re2js is then never loaded). */
export const loadContentFilters = async (filters: FilterConfig): Promise<ContentFilters | undefined> =>
  hasContentRules(filters) ? compileContentFilters(filters, await loadRe2jsEngine()) : undefined;
