import { ModelsResponse } from "../../events/api";
import { listModels } from "../../core/workers";
import { lambdaRegistryDeps } from "../deps-registry";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

const spec = {
  method: "GET",
  path: "/v1/models",
  summary:
    "Models with the counts per tier of the workers matching could choose now (live, and on the policy registry's allow-lists where one is configured), min/median/max price per token, and what every such worker of the model can do (capabilities); on AWS a listing up to 10 s old",
  auth: "none",
  response: ModelsResponse,
} as const;

export const route = defineRoute(spec, ({ deps }) => listModels(deps));

/**
 * How old a listing a Lambda container may answer with. The route is public and reads every
 * offer of every model (at 100k workers, tens of MB a call): answered fresh each time, anyone
 * could make the coordinator read the whole offers table as often as they like. One listing per
 * container per 10 s bounds that, and a model's workers change by heartbeats of minutes anyway.
 * The local network (one process, which also registers the workers) answers fresh.
 */
export const MODEL_LISTING_TTL_MS = 10_000;

/** `read`'s answer, read again only when the last one is `ttlMs` old (or failed); concurrent callers share one read. */
export function cachedFor<T>(ttlMs: number, read: () => Promise<T>, now: () => number = Date.now): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    const t = now();
    if (last && t - last.at < ttlMs && t >= last.at) return last.value;
    const entry = { at: t, value: read() };
    last = entry;
    entry.value.catch(() => last === entry && (last = undefined));
    return entry.value;
  };
}

// issue 15: counts only what matching could choose, so it reads the policy registry as matching does (functions/deps-registry.ts).
const listing = cachedFor(MODEL_LISTING_TTL_MS, async () => listModels(await lambdaRegistryDeps()));
export const handler = lambdaHandler(
  defineRoute(spec, () => listing()),
  lambdaRegistryDeps,
);
