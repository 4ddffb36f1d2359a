// Upstream error answers that are about the client's request (400, 404, 409, 413, 415, 422) are passed on so
// the client learns what to fix, but never with what they may echo of the gateway's own account: provider keys,
// organisation and project ids, bearer tokens, access key ids.

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** The largest upstream error body read; the rest is dropped (an error message is short). */
export const MAX_UPSTREAM_ERROR_BYTES = 64 * 1024;

const SECRET_SHAPES: ReadonlyArray<readonly [RegExp, string]> = [
  // OpenAI and compatible keys (sk-…, sk-proj-…), and the gateway's own key shape.
  [/\bsk-[A-Za-z0-9_*-]{4,}/g, 'sk-[redacted]'],
  [/\borg-[A-Za-z0-9]{4,}/g, 'org-[redacted]'],
  [/\bproj_[A-Za-z0-9]{4,}/g, 'proj_[redacted]'],
  [/\b(Bearer|Basic)\s+[^\s"',;)]+/gi, '$1 [redacted]'],
  [/\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b/g, '[redacted]'],
  // Azure OpenAI keys are 32 (or 84) hex or base62 characters: long opaque runs are redacted whatever they are.
  // Ids (resp_…, file-…) and model names are left alone: their `_` or `-` separators end a run.
  [/\b[A-Za-z0-9+/]{32,}={0,2}/g, '[redacted]'],
];

/** `text` with every key-shaped or account-identifying string replaced. */
export const redactSecrets = (text: string): string => {
  let out = text;
  for (const [pattern, replacement] of SECRET_SHAPES) out = out.replace(pattern, replacement);
  return out;
};

const redactValue = (value: unknown): unknown => {
  if (typeof value === 'string') return redactSecrets(value);
  if (Array.isArray(value)) return value.map(redactValue);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) out[key] = redactValue(inner);
    return out;
  }
  return value;
};

/**
 * An upstream error body as the client may see it: JSON keeps its shape with every string redacted, any other
 * text is redacted as text.
 */
export const redactUpstreamError = (body: Uint8Array): Uint8Array => {
  const text = decoder.decode(body);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return encoder.encode(redactSecrets(text));
  }
  return encoder.encode(JSON.stringify(redactValue(parsed)));
};
