/**
 * Where the SDK and the agent read the policy registry from (issue 15): toncenter on a real
 * network (the registry address is the reader's own setting, not the coordinator's word), or,
 * against the local default, its sandbox through the dev chain route. Either feeds a
 * PolicyCache (core/policy-registry.ts), which refuses readings older than its bound.
 */
import type { ApiClient } from "../api-client/api";
import { API } from "../api-client/routes";
import { DEFAULT_POLICY_CACHE, PolicyCache, policyFromBody, type PolicySource } from "../core/policy-registry";

/** The local default's registry, read by its dev chain route. */
export const devPolicySource = (api: ApiClient): PolicySource => ({
  async read() {
    const s = await api.request(API.devPolicy);
    return { version: s.version, updatedAt: s.updatedAt, readAt: s.readAt, policy: policyFromBody(s.policy) };
  },
});

/** The registry at `registry` through toncenter, with the chain time of each read. */
export async function toncenterPolicySource(o: { endpoint: string; apiKey?: string; registry: string }): Promise<PolicySource> {
  const { toncenterPolicySource: fromAdapter } = await import("../ton/registry");
  return fromAdapter({ address: o.registry, endpoint: o.endpoint, ...(o.apiKey ? { apiKey: o.apiKey } : {}) });
}

/** A cache with the AWS defaults (one read a minute, nothing older than 10 minutes) unless told otherwise. */
export const policyCache = (source: PolicySource, o: { refreshSeconds?: number; maxAgeSeconds?: number; now?: () => number } = {}) =>
  new PolicyCache(source, {
    refreshSeconds: o.refreshSeconds ?? DEFAULT_POLICY_CACHE.refreshSeconds,
    maxAgeSeconds: o.maxAgeSeconds ?? DEFAULT_POLICY_CACHE.maxAgeSeconds,
    now: o.now ?? Date.now,
  });
