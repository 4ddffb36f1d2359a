// Reads back the usage records that the gateway logged because the ledger refused them (`usage record not stored`).
import * as v from 'valibot';
import { isBillingMonth } from '../../lambda/core/pricing.ts';
import { RequestOutcome, type UsageRecord } from '../../lambda/ports.ts';

/** The message of the log line that carries an unstored record (lambda/core/ledger-writer.ts). */
export const NOT_STORED_MESSAGE = 'usage record not stored';

const count = v.pipe(v.number(), v.integer(), v.minValue(0));
const text = v.pipe(v.string(), v.minLength(1));
const finite = v.pipe(v.number(), v.finite());

/** A UsageRecord as JSON. Unknown fields are dropped, so nothing but a record's fields reaches the ledger. */
const UsageRecordSchema = v.object({
  requestId: text,
  tenantId: text,
  keyId: v.string(),
  tier: v.string(),
  endpoint: v.string(),
  model: text,
  targetId: v.optional(v.string()),
  status: v.pipe(v.number(), v.integer()),
  outcome: v.picklist(Object.values(RequestOutcome)),
  usage: v.object({
    inputTokens: count,
    cachedInputTokens: count,
    outputTokens: count,
    reasoningTokens: count,
  }),
  exact: v.boolean(),
  cacheHit: v.boolean(),
  costMicroUsd: count,
  reservedMicroUsd: count,
  month: v.pipe(
    v.string(),
    v.check(isBillingMonth, (issue) => `must be YYYY-MM, got: ${String(issue.input)}`),
  ),
  startedAt: finite,
  latencyMs: finite,
  ttfbMs: v.optional(finite),
});

export interface LoggedRecords {
  /** The records found, with the (1-based) line each came from. */
  readonly records: ReadonlyArray<{ readonly line: number; readonly record: UsageRecord }>;
  /** Lines that carry the message but no usable record: what is wrong with each. */
  readonly invalid: ReadonlyArray<{ readonly line: number; readonly reason: string }>;
  /** Non-blank lines that are not a `usage record not stored` entry (other log lines). */
  readonly skipped: number;
}

/** The JSON object on a line: the whole line, or from its first `{` (CloudWatch's text format prefixes a line). */
const jsonOf = (line: string): unknown => {
  const start = line.indexOf('{');
  if (start < 0) return undefined;
  try {
    return JSON.parse(line.slice(start));
  } catch {
    return undefined;
  }
};

const issuesText = (issues: readonly v.BaseIssue<unknown>[]): string =>
  issues
    .map((issue) => {
      const path = v.getDotPath(issue);
      return path === null ? issue.message : `${path}: ${issue.message}`;
    })
    .join('; ');

/** Picks the unstored usage records out of log lines (JSON lines as the gateway writes them, one entry a line). */
export const loggedUsageRecords = (logText: string): LoggedRecords => {
  const records: Array<{ line: number; record: UsageRecord }> = [];
  const invalid: Array<{ line: number; reason: string }> = [];
  let skipped = 0;
  logText.split(/\r?\n/).forEach((content, index) => {
    if (content.trim() === '') return;
    const line = index + 1;
    const entry = jsonOf(content);
    if (
      typeof entry !== 'object' ||
      entry === null ||
      !('message' in entry) ||
      entry.message !== NOT_STORED_MESSAGE
    ) {
      skipped += 1;
      return;
    }
    const parsed = v.safeParse(UsageRecordSchema, (entry as { usageRecord?: unknown }).usageRecord);
    if (!parsed.success) {
      invalid.push({ line, reason: `not a usage record (${issuesText(parsed.issues)})` });
      return;
    }
    const { targetId, ttfbMs, ...rest } = parsed.output;
    records.push({ line, record: { ...rest, targetId, ttfbMs } });
  });
  return { records, invalid, skipped };
};
