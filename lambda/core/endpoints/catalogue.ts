// The proxied endpoints the gateway serves (OpenAI's API, and Anthropic's Messages as a second front door), and
// what each needs: its body, where its tokens and texts are, how its streams end, whose wire format it speaks.
import { TextShape, type TextShapeName } from '../content-fields.ts';
import { ClientApi, type ClientApiName } from '../error-bodies.ts';
import { TokenShape, type TokenShapeName } from '../metering.ts';

export const BodyKind = { json: 'json', multipart: 'multipart', none: 'none' } as const;
export type BodyKindName = (typeof BodyKind)[keyof typeof BodyKind];

export interface Endpoint {
  /** Path after `/v1`, as sent upstream. */
  readonly upstreamPath: string;
  readonly method: 'GET' | 'POST';
  readonly body: BodyKindName;
  /** Streams of this endpoint can be asked for a final usage chunk (`stream_options.include_usage`). */
  readonly streamUsageOption: boolean;
  /** A stream of this endpoint ends with a marker (`data: [DONE]`, Anthropic's `message_stop`); ending without it is a failure. */
  readonly streamEndsWithDone: boolean;
  /** Where the request's input and output tokens are, for budgets and estimates. */
  readonly tokens: TokenShapeName;
  /** Where the text is that content rules read, in the request and in the answer. */
  readonly text: TextShapeName;
  /** The API whose wire format its requests, answers, streams and errors take. */
  readonly api: ClientApiName;
}

const proxied = (
  path: string,
  body: BodyKindName,
  text: TextShapeName,
  tokens: TokenShapeName = TokenShape.other,
  streamUsageOption = false,
  streamEndsWithDone = false,
) =>
  ({
    upstreamPath: path,
    method: 'POST',
    body,
    text,
    tokens,
    streamUsageOption,
    streamEndsWithDone,
    api: ClientApi.openai,
  }) as const;

export const PROXIED_ENDPOINTS: ReadonlyMap<string, Endpoint> = new Map<string, Endpoint>([
  [
    '/v1/chat/completions',
    proxied('/chat/completions', BodyKind.json, TextShape.chat, TokenShape.chat, true, true),
  ],
  [
    '/v1/completions',
    proxied('/completions', BodyKind.json, TextShape.completions, TokenShape.completions, true, true),
  ],
  ['/v1/embeddings', proxied('/embeddings', BodyKind.json, TextShape.embeddings, TokenShape.embeddings)],
  ['/v1/responses', proxied('/responses', BodyKind.json, TextShape.responses, TokenShape.responses)],
  ['/v1/moderations', proxied('/moderations', BodyKind.json, TextShape.moderations)],
  ['/v1/images/generations', proxied('/images/generations', BodyKind.json, TextShape.prompt)],
  ['/v1/audio/speech', proxied('/audio/speech', BodyKind.json, TextShape.speech)],
  ['/v1/audio/transcriptions', proxied('/audio/transcriptions', BodyKind.multipart, TextShape.none)],
]);

/**
 * Anthropic's Messages API (`POST /v1/messages`): its streams end with a `message_stop` event (not `[DONE]`), and
 * every stream reports its usage (there is no option to ask for it).
 */
export const MESSAGES_ENDPOINT: Endpoint = {
  upstreamPath: '/messages',
  method: 'POST',
  body: BodyKind.json,
  text: TextShape.messages,
  tokens: TokenShape.messages,
  streamUsageOption: false,
  streamEndsWithDone: true,
  api: ClientApi.anthropic,
};
