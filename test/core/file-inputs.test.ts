// What a file input can cost: its size for text, the context window for documents whose size bounds nothing.
import { fileEstimateTokens, fileHoldTokens, fileInputOf } from '../../lambda/core/file-inputs.ts';
import { OwnedKind, type OwnedObject } from '../../lambda/ports.ts';

const fileRecord = (id: string, bytes: number, filename: string): OwnedObject => ({
  kind: OwnedKind.file,
  id,
  tenantId: 't',
  keyId: 'k',
  targetId: 'openai',
  createdAt: 0,
  version: 1,
  object: { id, object: 'file', bytes, filename, purpose: 'user_data' },
});
const records = new Map([
  ['file#file-txt', fileRecord('file-txt', 120_000, 'notes.md')],
  ['file#file-pdf', fileRecord('file-pdf', 900, 'deck.pdf')],
]);
const base64 = (bytes: number) => Buffer.alloc(bytes, 7).toString('base64');

describe('fileInputOf', () => {
  it.each([
    [
      'an owned text file, by its stored size',
      { type: 'file', file: { file_id: 'file-txt' } },
      { bytes: 120_000, text: true },
    ],
    ['an owned PDF', { type: 'input_file', file_id: 'file-pdf' }, { bytes: 900, text: false }],
    [
      'an id it has no record of (never asked: ids are checked first)',
      { type: 'input_file', file_id: 'file-x' },
      { bytes: undefined, text: false },
    ],
    [
      'inline data, by its decoded size and media type',
      { type: 'input_file', file_data: `data:text/plain;base64,${base64(3_000)}` },
      { bytes: 3_000, text: true },
    ],
    [
      'inline PDF data',
      { type: 'file', file: { filename: 'a.pdf', file_data: `data:application/pdf;base64,${base64(10)}` } },
      { bytes: 10, text: false },
    ],
    [
      'bare base64, typed by its file name',
      { type: 'file', file: { filename: 'a.csv', file_data: base64(31) } },
      { bytes: 31, text: true },
    ],
    [
      'a URL the provider fetches: unknown size',
      { type: 'input_file', file_url: 'https://example.com/a.pdf' },
      { bytes: undefined, text: false },
    ],
  ])('reads %s', (_name, part, expected) => {
    expect(fileInputOf(part, records)).toEqual(expected);
  });
});

describe('fileHoldTokens and fileEstimateTokens', () => {
  it.each([
    ['text holds its size', { bytes: 5_000, text: true }, 5_000, 1_250],
    ['text holds at most the context window', { bytes: 500_000, text: true }, 128_000, 125_000],
    ['a PDF holds the context window, however small', { bytes: 900, text: false }, 128_000, 225],
    ['a URL holds the context window and estimates nothing', { bytes: undefined, text: false }, 128_000, 0],
  ])('%s', (_name, input, hold, estimate) => {
    expect(fileHoldTokens(input, 128_000)).toBe(hold);
    expect(fileEstimateTokens(input)).toBe(estimate);
  });
});
