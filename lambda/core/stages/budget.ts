// Stage: the budget hold. Before anything goes upstream, the request's worst-case cost is held against the
// tenant's monthly budget in one atomic conditional write; refused, the request is a 429 insufficient_quota. The
// store unreachable fails closed (503): without the hold, concurrent requests could overspend.
import type { BudgetStore, Principal } from '../../ports.ts';
import type { GatewayContext } from '../context.ts';
import { budgetUnavailable, insufficientQuota } from '../errors.ts';
import { fileHoldTokens, fileInputOf } from '../file-inputs.ts';
import { maxOutputTokens, promptTokens, TokenShape } from '../metering.ts';
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
  const { budgets } = g.config;
  const json = state.json;
  let withMargin: number;
  if (state.tokenShape === TokenShape.other || json === undefined) {
    // Images, audio, moderations: no tokenizer estimate of the input, so every byte of the body counts as a
    // token (never fewer than the real count for text; far more for audio), and the output at its cap.
    withMargin = raw.byteLength;
  } else {
    const contextWindow = price.maxInputTokens ?? budgets.defaultMaxInputTokens;
    const input = promptTokens(state.tokenShape, json, g.deps.tokens, {
      imageTokens: price.imageInputTokens ?? budgets.defaultImageInputTokens,
      fileTokens: (part) => fileHoldTokens(fileInputOf(part, state.records), contextWindow),
    });
    withMargin = Math.ceil((input * (100 + budgets.inputMarginPercent)) / 100);
    // A Responses request can continue a stored conversation the gateway never sees: its whole context.
    if (
      state.tokenShape === TokenShape.responses &&
      (json.previous_response_id != null || json.conversation != null || json.prompt != null)
    ) {
      withMargin += contextWindow;
    }
  }
  const output = maxOutputTokens(state.tokenShape, json ?? {}, price, budgets.defaultMaxOutputTokens);
  const amount = worstCaseCost(withMargin, output, price);
  if (amount === 0) return;
  await placeHold(g, state, principal, amount);
};

/** One atomic conditional write of `amount` against the tenant's budget. */
export const placeHold = async (
  g: GatewayContext,
  state: RequestState,
  principal: Principal,
  amount: number,
): Promise<void> => {
  const limit = principal.monthlyBudgetMicroUsd ?? 0;
  const month = billingMonthOf(state.startedAt);
  let result: Awaited<ReturnType<BudgetStore['reserve']>>;
  try {
    result = await g.deps.budgets.reserve({
      tenantId: principal.tenantId,
      month,
      requestId: state.requestId,
      amountMicroUsd: amount,
      limitMicroUsd: limit,
    });
  } catch (error) {
    throw budgetUnavailable(error);
  }
  if (!result.admitted) {
    throw insufficientQuota(
      `Tenant '${principal.tenantId}' has reached its monthly budget of ${formatUsd(limit)} for ${month} ` +
        `(${formatUsd(result.committedMicroUsd)} spent or held by requests in flight; this request may cost up to ${formatUsd(amount)} for model '${state.model ?? 'none'}'). ` +
        `The budget resets at ${budgetResetAt(month).toISOString()}.`,
    );
  }
  state.reservedMicroUsd = amount;
};
