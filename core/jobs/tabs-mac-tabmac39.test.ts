/**
 * A tab (./tabs.ts) and a quote (./quote.ts) are MAC'd for the deployment that made them
 * (tokenDomain: config.deployment). A submit checks a tab's MAC, never a stored tab item, so
 * before this a tab opened on a dev stage that shares COCOON_QUOTE_KEY with prod was accepted on
 * prod: its jobs ran against a hold that prod never took, and no close there ever paid their
 * workers. Two worlds here share the quote key (DEFAULT_CORE_CONFIG's, one per process) and
 * differ only in their deployment, as two stages of one account do in their table names.
 */
import { describe, expect, it } from "vitest";
import type { Tab } from "../../events/api";
import { tabSlotJobId } from "../ids";
import { applyMovement, faucetMovement } from "../ledger";
import { jobKey, type JobItem } from "./items";
import { jobIdempotencyKey, submitJob } from "./submit";
import { openTab } from "./tabs";
import { FUNDS, ledgerDiscrepancies, makeJobWorld, refusal, seal, type JobWorld } from "./testing";

const SLOT_COST = 1_000_000n;
type Requester = Awaited<ReturnType<JobWorld["requester"]>>;

/** A world named `deployment` with one live worker and `r` funded in it (r made here when not given). */
async function stage(deployment: string, r?: Requester) {
  const w = makeJobWorld();
  w.deps.config = { ...w.deps.config, deployment };
  await w.worker();
  if (!r) return { w, r: await w.requester() };
  await applyMovement(w.store, faucetMovement(`t-${r.id}`, r.id, FUNDS, w.clock.now()));
  return { w, r };
}

/** Submit slot 0 of `tab` at `w`, under a quote `w` prepared; the job's id and the refusal, if any. */
async function submitUnder(w: JobWorld, r: Requester, tab: Tab) {
  const { header, quote, prepared } = await w.sealedJob(r);
  const h = { ...header, jobId: tabSlotJobId(tab.tabId, 0) };
  const envelope = seal(
    h,
    prepared.candidates.map((c) => ({ workerId: c.workerId, hpkePublicKey: c.hpkePublicKey })),
  );
  const refused = await refusal(submitJob(w.deps, r.id, envelope, jobIdempotencyKey(h.jobId), quote, { tab: { tab, slot: 0 } }));
  return { jobId: h.jobId, refused };
}

const jobAt = (w: JobWorld, jobId: string) => w.store.get<JobItem>("jobs", jobKey(jobId));

describe("a tab names the deployment that opened it", () => {
  it("a tab opened on another deployment under the same quote key is 403 bad_tab and writes nothing; under its own it is accepted", async () => {
    // Prepare: the same requester on dev and prod, which share the quote key; a tab opened on dev
    const dev = await stage("dev-cocoon-Cocoon-DataTable-9Z8Y7X");
    const prod = await stage("prod-cocoon-Cocoon-DataTable-1X2Y3Z", dev.r);
    expect(prod.w.deps.config.quoteKey).toBe(dev.w.deps.config.quoteKey);
    const { view } = await openTab(dev.w.deps, dev.r.id, { slots: 4, slotCost: SLOT_COST.toString(), ttlSeconds: 300 }, "tab-key-1");
    const before = await prod.w.balance(dev.r.id);
    // Act
    const onProd = await submitUnder(prod.w, dev.r, view.tab);
    const onDev = await submitUnder(dev.w, dev.r, view.tab);
    // Assess: prod refused it before any write (no job, no hold, the ledger as it was); dev ran it on the tab
    expect(onProd.refused).toMatchObject({ status: 403, code: "bad_tab", message: expect.stringContaining("another deployment") });
    expect(await jobAt(prod.w, onProd.jobId)).toBeUndefined();
    expect(await prod.w.balance(dev.r.id)).toEqual(before);
    expect(ledgerDiscrepancies(prod.w.store)).toEqual([]);
    expect(onDev.refused).toBeUndefined();
    expect(await jobAt(dev.w, onDev.jobId)).toMatchObject({ tab: view.tab.tabId, slot: 0 });
  });

  it("a quote prepared on another deployment under the same quote key is 403 bad_quote; a tab and quote of prod's own are accepted there", async () => {
    // Prepare
    const dev = await stage("dev-cocoon-Cocoon-DataTable-9Z8Y7X");
    const prod = await stage("prod-cocoon-Cocoon-DataTable-1X2Y3Z", dev.r);
    const { view } = await openTab(prod.w.deps, dev.r.id, { slots: 4, slotCost: SLOT_COST.toString(), ttlSeconds: 300 }, "tab-key-1");
    const devJob = await dev.w.sealedJob(dev.r);
    // Act
    const devQuote = await refusal(submitJob(prod.w.deps, dev.r.id, devJob.envelope, "key-00000001", devJob.quote));
    const own = await submitUnder(prod.w, dev.r, view.tab);
    // Assess
    expect(devQuote).toMatchObject({ status: 403, code: "bad_quote" });
    expect(await jobAt(prod.w, devJob.header.jobId)).toBeUndefined();
    expect(own.refused).toBeUndefined();
    expect(await jobAt(prod.w, own.jobId)).toMatchObject({ tab: view.tab.tabId, slot: 0 });
  });
});
