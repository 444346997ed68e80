import type { Usage } from "../events/common";

/**
 * Price of a job in integer nanoTON:
 *   pricePerToken = ceil(modelBase × workerPriceBps / 10_000)
 *   cost          = ceil(pricePerToken × (prompt × promptBps + completion × completionBps) / 10_000)
 * Rounding always goes up by at most one nanoTON, so a quote computed on the maxima is
 * never below the cost of any usage within them.
 */
export interface PricingConfig {
  /** Base price per token for each model, nanoTON; models not listed use defaultBasePerToken. */
  basePerToken: Record<string, bigint>;
  defaultBasePerToken: bigint;
  promptBps: number;
  completionBps: number;
}

export const DEFAULT_PRICING: PricingConfig = {
  basePerToken: {},
  defaultBasePerToken: 100n, // 100 nanoTON per token = 0.1 TON per million completion tokens
  promptBps: 2_500, // prompt tokens cost a quarter of completion tokens
  completionBps: 10_000,
};

const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

export function pricePerToken(cfg: PricingConfig, model: string, workerPriceBps: number): bigint {
  // Own keys only: a model named like an Object.prototype member ("constructor", "toString")
  // would otherwise read an inherited function and fail as a 500 (issue 14, found by the fuzz).
  const base = Object.hasOwn(cfg.basePerToken, model) ? cfg.basePerToken[model]! : cfg.defaultBasePerToken;
  return pricePerTokenFromBase(base, workerPriceBps);
}

/** ceil(base × workerPriceBps / 10_000): a worker's price from a model's base price (config or policy registry). */
export function pricePerTokenFromBase(base: bigint, workerPriceBps: number): bigint {
  return ceilDiv(base * BigInt(workerPriceBps), 10_000n);
}

export function jobCost(cfg: PricingConfig, price: bigint, usage: Usage): bigint {
  const weighted = BigInt(usage.promptTokens) * BigInt(cfg.promptBps) + BigInt(usage.completionTokens) * BigInt(cfg.completionBps);
  return ceilDiv(price * weighted, 10_000n);
}

/** The hold for a job: the cost of the maxima at the dearest candidate's price. */
export function maxJobCost(cfg: PricingConfig, prices: bigint[], maxPromptTokens: number, maxTokens: number): bigint {
  let max = 0n;
  for (const p of prices) {
    const c = jobCost(cfg, p, { promptTokens: maxPromptTokens, completionTokens: maxTokens });
    if (c > max) max = c;
  }
  return max;
}
