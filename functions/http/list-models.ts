import { ModelsResponse } from "../../events/api";
import type { CoreDeps } from "../../core/deps";
import { listModels, offersVersion } from "../../core/workers";
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

/**
 * The local network's listing is read again after LOCAL_MODEL_LISTING_TTL_MS or once this
 * process wrote an offer (a registration, a heartbeat, a worker leaving: core/workers.ts
 * offersVersion), whichever comes first. Unauthenticated and reading every offer, it would
 * otherwise let a flood of calls read the offers table once each; now they share one read per
 * second between offer writes, and what the listing shows still changes as soon as a worker
 * joins or leaves. What only time changes (a worker whose heartbeats stopped) shows within the TTL.
 */
export const LOCAL_MODEL_LISTING_TTL_MS = 1_000;
const localListings = new WeakMap<CoreDeps, () => ReturnType<typeof listModels>>();
function localListing(deps: CoreDeps) {
  let listing = localListings.get(deps);
  if (!listing) {
    listing = cachedFor(
      LOCAL_MODEL_LISTING_TTL_MS,
      () => listModels(deps),
      () => deps.clock.now(),
      () => offersVersion(deps.store),
    );
    localListings.set(deps, listing);
  }
  return listing();
}

export const route = defineRoute(spec, ({ deps }) => localListing(deps));

/**
 * How old a listing a Lambda container may answer with. The route is public and reads every
 * offer of every model (at 100k workers, tens of MB a call): answered fresh each time, anyone
 * could make the coordinator read the whole offers table as often as they like. One listing per
 * container per 10 s bounds that, and a model's workers change by heartbeats of minutes anyway.
 * The local network (one process, which also registers the workers) caches for less and
 * reads again after any offer write: see localListing.
 */
export const MODEL_LISTING_TTL_MS = 10_000;

/**
 * `read`'s answer, read again only when the last one is `ttlMs` old (or failed), or `version`
 * differs from what it was when the last read began; concurrent callers share one read.
 */
export function cachedFor<T>(
  ttlMs: number,
  read: () => Promise<T>,
  now: () => number = Date.now,
  version: () => unknown = () => undefined,
): () => Promise<T> {
  let last: { at: number; version: unknown; value: Promise<T> } | undefined;
  return () => {
    const t = now();
    const v = version();
    if (last && t - last.at < ttlMs && t >= last.at && last.version === v) return last.value;
    const entry = { at: t, version: v, value: read() };
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
