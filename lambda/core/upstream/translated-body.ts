// Bodies of translated answers: one read whole and given back translated (JSON, errors), and the base of the streams
// translated event by event into `chat.completion.chunk` events (Anthropic SSE, Bedrock ConverseStream).
import type { UpstreamBody, UpstreamBodyReader } from '../../ports.ts';
import { type ChunkReader, readToEnd } from '../http.ts';

/** A body that reads the whole upstream answer on its first read and gives back its translation, once. */
export const translatedWhole = (
  upstream: UpstreamBody,
  translate: (bytes: Uint8Array) => Uint8Array,
): UpstreamBody => {
  const reader = upstream.getReader();
  let done = false;
  const bodyReader: UpstreamBodyReader = {
    read: async () => {
      if (done) return { done: true };
      done = true;
      return {
        done: false,
        value: translate(await readToEnd(reader, 16 * 1024 * 1024, () => new Error('too large'))),
      };
    },
    cancel: (reason) => reader.cancel(reason),
  };
  return { getReader: () => bodyReader, cancel: (reason?: unknown) => reader.cancel(reason) };
};

const chunkEncoder = new TextEncoder();

/**
 * A provider's stream read as OpenAI `chat.completion.chunk` events: each `read()` returns the chunks of the
 * upstream bytes that arrived, reading again only when they completed no event that says something. A subclass
 * decodes its provider's framing in `feed` and calls `chunk`/`emit`, then `done()` after `[DONE]` or `fail()`: a
 * stream that ends any other way ends without `[DONE]`, and the relay sends the client an SSE error event.
 */
export abstract class TranslatedChunkStream implements UpstreamBodyReader {
  protected id = '';
  protected model = '';
  private readonly created = Math.floor(Date.now() / 1000);
  private out = '';
  /** Ended: by `[DONE]`, by an error event, or by the upstream ending first. */
  protected ended = false;

  constructor(protected readonly upstream: ChunkReader) {}

  /** Decodes bytes of the provider's stream. */
  protected abstract feed(bytes: Uint8Array): void;

  async read(): Promise<{ done: false; value: Uint8Array } | { done: true }> {
    while (this.out === '' && !this.ended) {
      const result = await this.upstream.read();
      if (result.done || result.value === undefined) {
        this.ended = true;
        break;
      }
      this.feed(result.value);
    }
    if (this.out === '') return { done: true };
    const value = chunkEncoder.encode(this.out);
    this.out = '';
    return { done: false, value };
  }

  cancel(reason?: unknown): Promise<void> {
    return this.upstream.cancel(reason);
  }

  protected chunk(delta: Record<string, unknown>, finish: string | null = null): void {
    this.emit({ choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] });
  }

  protected emit(fields: Record<string, unknown>): void {
    const chunk = {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      ...fields,
    };
    this.out += `data: ${JSON.stringify(chunk)}\n\n`;
  }

  /** The answer is complete: `[DONE]`, and nothing after it. */
  protected done(): void {
    this.out += 'data: [DONE]\n\n';
    this.ended = true;
  }

  /** The provider reported an error mid-stream: end without `[DONE]` and let go of the upstream. */
  protected fail(): void {
    this.ended = true;
    this.upstream.cancel().catch(() => {});
  }
}
