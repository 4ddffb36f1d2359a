// Stage: the budget hold. Before anything goes upstream, the request's worst-case cost is held against the
// tenant's monthly budget in one atomic conditional write; refused, the request is a 429 insufficient_quota. The
// store unreachable fails closed (503): without the hold, concurrent requests could overspend.
import type { BudgetHold, BudgetStore, Principal } from '../../ports.ts';
import type { PriceConfig } from '../config.ts';
import type { GatewayContext } from '../context.ts';
import { budgetUnavailable, insufficientQuota } from '../errors.ts';
import { fileHoldTokens, fileInputOf } from '../file-inputs.ts';
import { maxOutputTokens, promptTokens, TokenShape, type TokenShapeName } from '../metering.ts';
import type { OwnedRecords } from '../owned-ids.ts';
import { billingMonthOf, budgetResetAt, formatUsd, worstCaseCost } from '../pricing.ts';
import type { RequestState } from '../state.ts';

/** Holds the worst-case cost of the request (`raw`: its body as sent) against the tenant's budget. */
export const reserveBudget = async (
  g: GatewayContext,
  state: RequestState,
  principal: Principal,
  raw: Uint8Array,
): Promise<void> => {
  const price = state.price;
  if (principal.monthlyBudgetMicroUsd === undefined || price === undefined) return;
  const { input, output } = holdTokens(g, state.tokenShape, state.json, raw, price, state.records);
  const amount = worstCaseCost(input, output, price);
  if (amount === 0) return;
  await placeHold(g, state, principal, amount);
};

/**
 * The most tokens a request can take in and give out, for its hold: its prompt as the tokenizer counts it (with
 * the budget's margin), and its output cap. `records`: the tenant's objects its body names (file inputs).
 */
export const holdTokens = (
  g: GatewayContext,
  shape: TokenShapeName,
  json: Record<string, unknown> | undefined,
  raw: Uint8Array,
  price: PriceConfig | undefined,
  records: OwnedRecords,
): { readonly input: number; readonly output: number } => {
  const { budgets } = g.config;
  let withMargin: number;
  if (shape === TokenShape.other || json === undefined) {
    // Images, audio, moderations: no tokenizer estimate of the input, so every byte of the body counts as a
    // token (never fewer than the real count for text; far more for audio), and the output at its cap.
    withMargin = raw.byteLength;
  } else {
    const contextWindow = price?.maxInputTokens ?? budgets.defaultMaxInputTokens;
    const input = promptTokens(shape, json, g.deps.tokens, {
      imageTokens: price?.imageInputTokens ?? budgets.defaultImageInputTokens,
      fileTokens: (part) => fileHoldTokens(fileInputOf(part, records), contextWindow),
    });
    withMargin = Math.ceil((input * (100 + budgets.inputMarginPercent)) / 100);
    // A Responses request can continue a stored conversation the gateway never sees: its whole context.
    if (
      shape === TokenShape.responses &&
      (json.previous_response_id != null || json.conversation != null || json.prompt != null)
    ) {
      withMargin += contextWindow;
    }
  }
  return {
    input: withMargin,
    output: maxOutputTokens(shape, json ?? {}, price, budgets.defaultMaxOutputTokens),
  };
};

/** One atomic conditional write of `amount` against the tenant's budget, for the request. */
export const placeHold = (
  g: GatewayContext,
  state: RequestState,
  principal: Principal,
  amount: number,
): Promise<void> =>
  // Chained rather than awaited: one suspended frame (the store call's) per request instead of three.
  reserveHold(
    g,
    principal,
    { requestId: state.requestId, month: billingMonthOf(state.startedAt), amountMicroUsd: amount },
    () => `this request may cost up to ${formatUsd(amount)} for model '${state.model ?? 'none'}'`,
  ).then(() => {
    state.reservedMicroUsd = amount;
  });

/**
 * One atomic conditional write of a hold against the tenant's budget: a 429 `insufficient_quota` when it does not
 * fit (its message says what `what()` may cost, built only then, not for every admitted request), a 503 when the
 * store cannot be reached (without the hold, concurrent requests could overspend).
 */
export const reserveHold = async (
  g: GatewayContext,
  principal: Principal,
  hold: Pick<BudgetHold, 'requestId' | 'month' | 'amountMicroUsd' | 'lasting'>,
  what: () => string,
): Promise<void> => {
  const limit = principal.monthlyBudgetMicroUsd ?? 0;
  const { month } = hold;
  let result: Awaited<ReturnType<BudgetStore['reserve']>>;
  try {
    result = await g.deps.budgets.reserve({ ...hold, tenantId: principal.tenantId, limitMicroUsd: limit });
  } catch (error) {
    throw budgetUnavailable(error);
  }
  if (!result.admitted) {
    throw insufficientQuota(
      `Tenant '${principal.tenantId}' has reached its monthly budget of ${formatUsd(limit)} for ${month} ` +
        `(${formatUsd(result.committedMicroUsd)} spent or held by requests in flight; ${what()}). ` +
        `The budget resets at ${budgetResetAt(month).toISOString()}.`,
    );
  }
};
