// The proxied endpoints of OpenAI's API the gateway serves, and what each needs: its body, where its tokens and
// texts are, how its streams end.
import { TextShape, type TextShapeName } from '../content-fields.ts';
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
  /** A stream of this endpoint ends with `data: [DONE]`; ending without it is a failure. */
  readonly streamEndsWithDone: boolean;
  /** Where the request's input and output tokens are, for budgets and estimates. */
  readonly tokens: TokenShapeName;
  /** Where the text is that content rules read, in the request and in the answer. */
  readonly text: TextShapeName;
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
