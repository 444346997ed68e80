/**
 * Helpers the tabs tests share (core/jobs/tabs*.test.ts, void-tabs.test.ts): a tab slot's job,
 * sealed to its quote's candidates, its submit under the tab, and reads of the items a tab writes.
 */
import type { Tab, TabView } from "../../events/api";
import type { TabCloseMessage } from "../../events/queue";
import type { SigningKeyPair } from "../crypto/keys";
import { tabSlotJobId } from "../ids";
import type { WriteOp } from "../ports";
import { jobKey, type JobItem } from "./items";
import { jobIdempotencyKey, submitJob } from "./submit";
import { tabKey, type TabItem } from "./tabs";
import { seal, type JobWorld } from "./testing";

/** Slot `slot`'s job of `tab` (or `o.jobId`), sealed to its quote's candidates, not submitted. */
export async function slotJob(w: JobWorld, r: SigningKeyPair, tab: Tab, slot: number, o: { candidates?: number; jobId?: string } = {}) {
  const { header, quote, prepared } = await w.sealedJob(r, { candidates: o.candidates ?? 1 });
  const h = { ...header, jobId: o.jobId ?? tabSlotJobId(tab.tabId, slot) };
  const envelope = seal(
    h,
    prepared.candidates.map((c) => ({ workerId: c.workerId, hpkePublicKey: c.hpkePublicKey })),
  );
  return { envelope, quote, jobId: h.jobId, maxCost: h.maxCost, tab, slot };
}

/** slotJob, submitted under the tab. */
export async function submitSlot(w: JobWorld, r: SigningKeyPair, tab: Tab, slot: number, o: { candidates?: number } = {}) {
  const j = await slotJob(w, r, tab, slot, o);
  await submitJob(w.deps, r.id, j.envelope, jobIdempotencyKey(j.jobId), j.quote, { tab: { tab, slot } });
  return j;
}

export const jobItem = async (w: JobWorld, jobId: string) => (await w.store.get<JobItem>("jobs", jobKey(jobId)))!;
export const tabItem = async (w: JobWorld, tabId: string) => (await w.store.get<TabItem>("jobs", tabKey(tabId)))!;
export const closeCheck = (tabId: string): TabCloseMessage => ({ type: "tab", tabId });
/** Past the tab's expiry and the close's grace. */
export const pastClose = (w: JobWorld, view: TabView) => w.advance(view.closesAfter - w.clock.now() + 1);
/** Whether a commit is a tab's close (it moves the tab item). */
export const isTabCloseCommit = (ops: WriteOp[]) => ops.some((op) => op.op === "update" && op.table === "jobs" && op.key.sk === "tab");
