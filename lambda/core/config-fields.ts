// The field types the config schema is built from, each with a message that names the field.
import * as v from 'valibot';

export const positiveInt = (what: string) =>
  v.pipe(
    v.number(`${what} must be a number`),
    v.integer(`${what} must be an integer`),
    v.minValue(1, `${what} must be at least 1`),
  );
export const nonNegativeInt = (what: string) =>
  v.pipe(
    v.number(`${what} must be a number`),
    v.integer(`${what} must be an integer`),
    v.minValue(0, `${what} must be at least 0`),
  );
export const name = (what: string) =>
  v.pipe(v.string(`${what} must be a string`), v.minLength(1, `${what} must not be empty`));

/** API Gateway refuses request bodies over 10 MiB, so no limit may be set above it. */
export const MAX_BODY_BYTES_CEILING = 10 * 1024 * 1024;
export const bodyBytes = (what: string) =>
  v.pipe(
    positiveInt(what),
    v.maxValue(
      MAX_BODY_BYTES_CEILING,
      `${what} must be at most ${MAX_BODY_BYTES_CEILING} (API Gateway's 10 MiB payload limit)`,
    ),
  );
