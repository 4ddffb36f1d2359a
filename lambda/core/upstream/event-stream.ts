// The AWS event stream framing (`application/vnd.amazon.eventstream`) that Bedrock's streaming APIs answer with:
// each message is a prelude (total length, headers length, CRC32 of both), headers, a payload and a CRC32 of it
// all. Decoded incrementally: a message is given out as soon as its last byte has arrived.
import { crc32 } from 'node:zlib';

export interface EventStreamMessage {
  readonly headers: Readonly<Record<string, string | number | boolean>>;
  readonly payload: Uint8Array;
}

const PRELUDE_BYTES = 12;
const CRC_BYTES = 4;
/** Far above any Bedrock event; a corrupt length must not make the decoder wait for gigabytes. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export class EventStreamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventStreamError';
  }
}

const decoder = new TextDecoder();

const readHeaders = (view: DataView, bytes: Uint8Array, start: number, end: number) => {
  const headers: Record<string, string | number | boolean> = {};
  let at = start;
  while (at < end) {
    const nameLength = view.getUint8(at);
    at += 1;
    const name = decoder.decode(bytes.subarray(at, at + nameLength));
    at += nameLength;
    const type = view.getUint8(at);
    at += 1;
    switch (type) {
      case 0:
      case 1:
        headers[name] = type === 0;
        break;
      case 2:
        headers[name] = view.getInt8(at);
        at += 1;
        break;
      case 3:
        headers[name] = view.getInt16(at);
        at += 2;
        break;
      case 4:
        headers[name] = view.getInt32(at);
        at += 4;
        break;
      case 5:
      case 8:
        headers[name] = Number(view.getBigInt64(at));
        at += 8;
        break;
      case 6:
      case 7: {
        const length = view.getUint16(at);
        at += 2;
        const value = bytes.subarray(at, at + length);
        headers[name] = type === 7 ? decoder.decode(value) : Buffer.from(value).toString('base64');
        at += length;
        break;
      }
      case 9:
        headers[name] = Buffer.from(bytes.subarray(at, at + 16)).toString('hex');
        at += 16;
        break;
      default:
        throw new EventStreamError(`unknown header type ${type}`);
    }
  }
  if (at !== end) throw new EventStreamError('headers overrun their length');
  return headers;
};

/** Decodes messages from chunks as they come; `push` returns the messages the chunk completed. */
export const createEventStreamDecoder = () => {
  let buffer: Uint8Array = new Uint8Array(0);
  return {
    push(chunk: Uint8Array): EventStreamMessage[] {
      buffer = buffer.byteLength === 0 ? chunk : Buffer.concat([buffer, chunk]);
      const messages: EventStreamMessage[] = [];
      while (buffer.byteLength >= PRELUDE_BYTES) {
        const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
        const total = view.getUint32(0);
        const headersLength = view.getUint32(4);
        if (crc32(buffer.subarray(0, 8)) !== view.getUint32(8))
          throw new EventStreamError('prelude checksum mismatch');
        if (total > MAX_MESSAGE_BYTES || total < PRELUDE_BYTES + headersLength + CRC_BYTES)
          throw new EventStreamError(`message length ${total} is not possible`);
        if (buffer.byteLength < total) break;
        if (crc32(buffer.subarray(0, total - CRC_BYTES)) !== view.getUint32(total - CRC_BYTES))
          throw new EventStreamError('message checksum mismatch');
        const headersEnd = PRELUDE_BYTES + headersLength;
        messages.push({
          headers: readHeaders(view, buffer, PRELUDE_BYTES, headersEnd),
          payload: buffer.slice(headersEnd, total - CRC_BYTES),
        });
        buffer = buffer.subarray(total);
      }
      return messages;
    },
    /** Bytes of a message not yet complete (a stream that ends with some was cut short). */
    get pending(): number {
      return buffer.byteLength;
    },
  };
};

const encoder = new TextEncoder();

/** One message with string headers: what the fakes and tests send. */
export const encodeEventStreamMessage = (
  headers: Readonly<Record<string, string>>,
  payload: Uint8Array,
): Uint8Array => {
  const headerParts = Object.entries(headers).map(([name, value]) => {
    const nameBytes = encoder.encode(name);
    const valueBytes = encoder.encode(value);
    const part = new Uint8Array(1 + nameBytes.byteLength + 1 + 2 + valueBytes.byteLength);
    const view = new DataView(part.buffer);
    part[0] = nameBytes.byteLength;
    part.set(nameBytes, 1);
    part[1 + nameBytes.byteLength] = 7;
    view.setUint16(2 + nameBytes.byteLength, valueBytes.byteLength);
    part.set(valueBytes, 4 + nameBytes.byteLength);
    return part;
  });
  const headersBytes = Buffer.concat(headerParts);
  const total = PRELUDE_BYTES + headersBytes.byteLength + payload.byteLength + CRC_BYTES;
  const message = new Uint8Array(total);
  const view = new DataView(message.buffer);
  view.setUint32(0, total);
  view.setUint32(4, headersBytes.byteLength);
  view.setUint32(8, crc32(message.subarray(0, 8)));
  message.set(headersBytes, PRELUDE_BYTES);
  message.set(payload, PRELUDE_BYTES + headersBytes.byteLength);
  view.setUint32(total - CRC_BYTES, crc32(message.subarray(0, total - CRC_BYTES)));
  return message;
};
