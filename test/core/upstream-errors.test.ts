// Upstream refusals of the client's request are passed on without what they echo of the gateway's account.
import { redactSecrets, redactUpstreamError } from '../../lambda/core/upstream-errors.ts';

describe('redactSecrets', () => {
  it.each([
    ['an OpenAI project key', 'bad key sk-proj-AbC123_xyz-987', 'bad key sk-[redacted]'],
    [
      'a masked key as OpenAI prints it',
      'Incorrect API key provided: sk-proj-****abcd.',
      'Incorrect API key provided: sk-[redacted].',
    ],
    ['an organisation and a project', 'org-AbCdEf0123 in proj_Zy01234', 'org-[redacted] in proj_[redacted]'],
    ['a bearer token', 'got Authorization: Bearer abc.def-ghi', 'got Authorization: Bearer [redacted]'],
    ['an AWS access key id', 'as AKIAABCDEFGHIJKLMNOP', 'as [redacted]'],
    ['a 32-character hex key', 'key 0123456789abcdef0123456789abcdef!', 'key [redacted]!'],
  ])('redacts %s', (_name, text, expected) => {
    expect(redactSecrets(text)).toBe(expected);
  });

  it.each([
    'The model `gpt-4o-mini-2024-07-18` does not exist or you do not have access to it.',
    'No such File object: file-AbCdEfGhIjKlMnOpQrStUvWx',
    "Previous response with id 'resp_68af0123456789abcdef0123456789abcdef0123456789ab' not found.",
    "Invalid 'messages[0].content': string too long. Expected a string with maximum length 1048576.",
  ])('leaves an ordinary message alone: %s', (text) => {
    expect(redactSecrets(text)).toBe(text);
  });
});

describe('redactUpstreamError', () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  const text = (body: Uint8Array) => new TextDecoder().decode(body);

  it('keeps a JSON error’s shape and redacts each string in it', () => {
    const body = {
      error: {
        message: 'org-AbCdEf0123 said no',
        type: 'invalid_request_error',
        param: 'model',
        code: null,
        n: 3,
      },
    };
    expect(JSON.parse(text(redactUpstreamError(bytes(JSON.stringify(body)))))).toEqual({
      error: {
        message: 'org-[redacted] said no',
        type: 'invalid_request_error',
        param: 'model',
        code: null,
        n: 3,
      },
    });
  });

  it('redacts a body that is not JSON as text', () => {
    expect(text(redactUpstreamError(bytes('<html>key sk-abcdef123456</html>')))).toBe(
      '<html>key sk-[redacted]</html>',
    );
  });
});
