/**
 * Test factories for cancelling jobs from the requester's side (client/sdk-cancel.test.ts, the
 * proxy's disconnect tests): a client whose coordinator is stubbed at ApiClient.request, by route,
 * recording every request and every cancel outcome. Imported by tests only.
 */
import { expect } from "vitest";
import { API, ApiError } from "../api-client/api";
import type { ApiRoute } from "../api-client/routes";
import { generateSigningKey } from "../core/crypto/keys";
import { newJobId } from "../core/ids";
import type { Candidate, CancelJobResponse, Quote } from "../events/api";
import { CocoonClient } from "./sdk";
import { devCandidate, MODEL, T0 } from "./sdk-stub-testing";

export type Handler = (o: { params?: Record<string, string>; body?: unknown; signal?: AbortSignal }) => Promise<unknown>;

/** What POST /v1/jobs/prepare answers for `requester`: `cands` at 100 nanoTON a token. */
export function prepared(requester: string, cands: Candidate[]) {
  const quote: Quote = {
    v: 1,
    requester,
    model: MODEL,
    maxTokens: 256,
    maxPromptTokens: 1024,
    maxCost: "1000000",
    candidates: cands.map((c) => ({ workerId: c.workerId, hpkePublicKey: c.hpkePublicKey, pricePerToken: "100", tier: c.tier })),
    promptBps: 2_500,
    completionBps: 10_000,
    expiresAt: T0 + 60_000,
    mac: "AAAA",
  };
  return {
    jobId: newJobId(T0),
    model: MODEL,
    maxTokens: 256,
    maxPromptTokens: 1024,
    maxCost: "1000000",
    candidates: cands,
    quoteExpiresAt: quote.expiresAt,
    quote,
  };
}

/** A request that answers only when its signal aborts (with the abort, as fetch does): a job the network is still working on. */
export const pending: Handler = ({ signal }) =>
  new Promise((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason as Error), { once: true }));

const cancelAnswer = (jobId: string, cancelled = true): CancelJobResponse => ({
  jobId,
  status: "assigned",
  cancelled,
  ...(cancelled ? { cancelledAt: T0 } : {}),
});

/**
 * A client on T0 whose coordinator is `routes` (by route; the relay answers 404: no relay, the
 * job's answer comes with its submit), every request and every cancel outcome recorded. `now`:
 * its clock (T0 always, unless given); `reconnectMs`: CocoonClientOptions.reconnectMs.
 */
export function cancelRig(
  routes: Map<ApiRoute, Handler> = new Map(),
  o: { tabs?: boolean; now?: () => number; reconnectMs?: number } = {},
) {
  const key = generateSigningKey();
  const outcomes: Array<{ jobId: string; ok: boolean; error?: unknown }> = [];
  const c = new CocoonClient({
    apiUrl: "http://127.0.0.1:9",
    key,
    allowDev: true,
    now: o.now ?? (() => T0),
    ...(o.reconnectMs !== undefined ? { reconnectMs: o.reconnectMs } : {}),
    ...(o.tabs ? { tabs: { slots: 4 } } : {}),
    onCancel: (jobId, r) => outcomes.push({ jobId, ok: r.ok, ...(r.ok ? {} : { error: r.error }) }),
  });
  const sent: Array<{ route: ApiRoute; params?: Record<string, string>; body?: unknown }> = [];
  const submittedIds: string[] = [];
  const table = new Map<ApiRoute, Handler>([
    [API.relaySession, () => Promise.reject(new ApiError(404, "not_found", "no relay"))],
    [API.prepareJob, () => Promise.resolve(prepared(key.id, [devCandidate()]))],
    [API.submitJob, pending],
    [API.cancelJob, ({ params }) => Promise.resolve(cancelAnswer(params!.id!))],
    // a coordinator without POST /v1/jobs/{id}/void (the SDK then reads the job, as before it)
    [API.voidJob, () => Promise.reject(new ApiError(404, "not_found", "no such route"))],
    ...routes,
  ]);
  c.api.request = (async (route: ApiRoute, ro: Parameters<Handler>[0] = {}) => {
    sent.push({ route, ...(ro.params ? { params: ro.params } : {}), ...(ro.body ? { body: ro.body } : {}) });
    if (route === API.submitJob) submittedIds.push((ro.body as { envelope: { header: { jobId: string } } }).envelope.header.jobId);
    const h = table.get(route);
    if (!h) throw new Error(`stub: no answer for ${route.path}`);
    return h(ro);
  }) as typeof c.api.request;
  const cancels = () => sent.filter((s) => s.route === API.cancelJob).map((s) => s.params!.id);
  return { c, sent, cancels, submittedIds, outcomes, account: key.id };
}

/** Resolves once `f()` holds (a few macrotasks at most). */
export async function until(f: () => boolean) {
  for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 1));
  expect(f()).toBe(true);
}
