// What a file input (a chat `file` part, a Responses `input_file`) can cost: the provider bills the whole
// document, which the body names by id or carries inline, so its size (not its JSON) is what a budget holds.
import { OwnedKind } from '../ports.ts';
import type { OwnedRecords } from './owned-ids.ts';

type Json = Record<string, unknown>;

/** A file input as the budget sees it: its size and whether its bytes bound its tokens. */
export interface FileInput {
  /** Bytes of the document; undefined when the gateway cannot know (a URL the provider fetches). */
  readonly bytes: number | undefined;
  /** Plain text: each token is at least one byte, so the size bounds the tokens. */
  readonly text: boolean;
}

/**
 * Plain-text formats, by extension: the model reads their bytes as text. Anything else (PDF, whose pages are
 * also read as images; zipped office formats, which expand) has no bound in its size.
 */
const TEXT_EXTENSIONS: ReadonlySet<string> = new Set(
  'txt md markdown json jsonl csv tsv html htm xml yaml yml py js mjs ts tsx jsx java c cc cpp h hpp cs go rb rs php sh css sql tex log rst ini toml'.split(
    ' ',
  ),
);

const isTextName = (filename: unknown): boolean => {
  if (typeof filename !== 'string') return false;
  const dot = filename.lastIndexOf('.');
  return dot !== -1 && TEXT_EXTENSIONS.has(filename.slice(dot + 1).toLowerCase());
};

const isTextMediaType = (mediaType: string): boolean =>
  mediaType.startsWith('text/') || mediaType === 'application/json' || mediaType === 'application/xml';

/** Bytes of base64 data (a bare string or a data URL), without decoding it. */
const decodedSize = (data: string): { readonly bytes: number; readonly mediaType: string | undefined } => {
  let payload = data;
  let mediaType: string | undefined;
  if (data.startsWith('data:')) {
    const comma = data.indexOf(',');
    mediaType = data
      .slice(5, comma === -1 ? 5 : comma)
      .split(';', 1)[0]
      ?.toLowerCase();
    payload = comma === -1 ? '' : data.slice(comma + 1);
  }
  let length = payload.length;
  while (length > 0 && payload.charCodeAt(length - 1) === 0x3d /* = */) length -= 1;
  return { bytes: Math.floor((length * 3) / 4), mediaType };
};

/**
 * A file part's size and kind: an owned file by its stored size and name, inline data by its decoded size.
 * `records` holds the tenant's files the request names (checked before this is asked).
 */
export const fileInputOf = (part: Json, records: OwnedRecords): FileInput => {
  // Chat nests the file under `file`; the Responses API puts its fields on the part itself.
  const file =
    part.type === 'file' && typeof part.file === 'object' && part.file !== null ? (part.file as Json) : part;
  if (typeof file.file_id === 'string') {
    const object = records.get(`${OwnedKind.file}#${file.file_id}`)?.object;
    const bytes = typeof object?.bytes === 'number' && object.bytes >= 0 ? object.bytes : undefined;
    return { bytes, text: isTextName(object?.filename) };
  }
  if (typeof file.file_data === 'string') {
    const { bytes, mediaType } = decodedSize(file.file_data);
    const text = mediaType === undefined ? isTextName(file.filename) : isTextMediaType(mediaType);
    return { bytes, text };
  }
  return { bytes: undefined, text: false };
};

/**
 * What a budget holds for a file input: its size for plain text (at most the context window), and the whole
 * context window for anything else, whose tokens its size does not bound. The context window bounds every
 * request's input.
 */
export const fileHoldTokens = (input: FileInput, contextWindow: number): number =>
  input.text && input.bytes !== undefined ? Math.min(input.bytes, contextWindow) : contextWindow;

/** Typical text is about 4 bytes a token: the estimate of a file input when no usage came back. */
const BYTES_PER_TOKEN = 4;

/** The estimate of what a file input cost, for a request cut short before the upstream reported usage. */
export const fileEstimateTokens = (input: FileInput): number =>
  input.bytes === undefined ? 0 : Math.ceil(input.bytes / BYTES_PER_TOKEN);
