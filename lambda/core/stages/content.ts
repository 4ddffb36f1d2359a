// Stage: the request's content rules, over every text the model will read (a block refuses the request, a
// redaction rewrites it), and the one report of what rules did to either side of a request (never the text).

import { rewriteRequestTexts, type TextShapeName } from '../content-fields.ts';
import { emptyHits, type RuleHits, redactText } from '../content-rules.ts';
import type { GatewayContext } from '../context.ts';
import { contentFiltered } from '../errors.ts';
import type { RequestState } from '../state.ts';

/** Counts and logs what content rules did to one side of a request; never the text they matched. */
export const reportHits = (
  g: GatewayContext,
  state: RequestState,
  side: 'request' | 'response',
  hits: RuleHits,
) => {
  const report = (rule: string, action: 'block' | 'redact', matches: number) => {
    g.logger.warn('content filtered', {
      requestId: state.requestId,
      tenantId: state.principal?.tenantId,
      side,
      rule,
      action,
      matches,
    });
    g.metrics.emit({
      dimensions: { rule },
      values: [
        { name: action === 'block' ? 'ContentBlocked' : 'ContentRedacted', value: matches, unit: 'Count' },
      ],
    });
  };
  for (const [rule, matches] of hits.redacted) report(rule, 'redact', matches);
  if (hits.blockedBy !== undefined) report(hits.blockedBy, 'block', 1);
};

/** Request rules over every text the model will read; a block refuses the request. True when text changed. */
export const applyRequestRules = (
  g: GatewayContext,
  state: RequestState,
  shape: TextShapeName,
  json: Record<string, unknown>,
): boolean => {
  const rules = g.filters?.request;
  if (rules === undefined) return false;
  const hits = emptyHits();
  let blockedIn: string | undefined;
  const changed = rewriteRequestTexts(shape, json, (text, path) => {
    if (hits.blockedBy !== undefined) return text;
    const out = redactText(rules, text, hits);
    if (hits.blockedBy !== undefined) blockedIn = path;
    return out;
  });
  reportHits(g, state, 'request', hits);
  if (hits.blockedBy !== undefined) throw contentFiltered(hits.blockedBy, 'request', blockedIn);
  return changed;
};
