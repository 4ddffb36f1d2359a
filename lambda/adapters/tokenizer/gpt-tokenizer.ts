// TokenCounter over gpt-tokenizer's o200k_base encoding (the GPT-4o / 4.1 / o-series tokenizer), loaded lazily.
import type { TokenCounter } from '../../ports.ts';

type Encoding = { countTokens(text: string): number };

export interface GptTokenCounterOptions {
  readonly load?: () => Promise<Encoding>;
  /**
   * Start loading at once. Loading parses 2.4 MB of ranks on the one JS thread (~0.4 s) and holds up
   * whatever request is running, so the Lambda entry leaves it off and calls `ready()` after a response
   * has been sent. @default true
   */
  readonly eager?: boolean;
}

/** Counts of texts up to this long are remembered, at most this many (a few MB at most). */
const REMEMBERED_MAX_CHARS = 1_024;
const REMEMBERED_TEXTS = 2_048;

/**
 * Until the encoding is loaded, counts are UTF-8 byte lengths: a byte-level BPE token covers at least one
 * byte, so that is an upper bound and a budget never holds too little.
 */
export const createGptTokenCounter = (options: GptTokenCounterOptions = {}): TokenCounter => {
  const load = options.load ?? (() => import('gpt-tokenizer/encoding/o200k_base'));
  let encoding: Encoding | undefined;
  let loading: Promise<void> | undefined;
  const start = (): Promise<void> => {
    loading ??= load().then(
      (loaded) => {
        encoding = loaded;
      },
      (error: unknown) => {
        // Counting still works (as upper bounds); whoever waits on ready() is told.
        throw new Error(`the tokenizer could not be loaded: ${String(error)}`);
      },
    );
    return loading;
  };
  if (options.eager ?? true) start().catch(() => {});
  // Short texts recur (system prompts, instructions, tool descriptions): their counts are remembered.
  const counted = new Map<string, number>();
  const count = (text: string): number => {
    if (encoding === undefined) return Buffer.byteLength(text, 'utf8');
    if (text.length > REMEMBERED_MAX_CHARS) return encoding.countTokens(text);
    let tokens = counted.get(text);
    if (tokens === undefined) {
      tokens = encoding.countTokens(text);
      if (counted.size >= REMEMBERED_TEXTS) counted.clear();
      counted.set(text, tokens);
    }
    return tokens;
  };
  return { count, ready: start };
};
