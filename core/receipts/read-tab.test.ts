/**
 * Review, session 22 (fixed): a completed job under a tab has its receipt logged only at the tab's close;
 * until then the proof route says 404 receipt_not_logged ("settled before the receipt log
 * existed: its receipt is in no anchor"), which `cocoon receipts verify --wait` treats as a final
 * API error (exit 2), instead of 409 receipt_not_anchored_yet.
 */
import { describe, expect, it } from "vitest";
import { tabSlotJobId } from "../ids";
import { openTab } from "../jobs/tabs";
import { jobIdempotencyKey, submitJob } from "../jobs/submit";
import { postResult } from "../jobs/results";
import { makeJobWorld, seal } from "../jobs/testing";
import { receiptProof } from "./read";

describe("receipt proof of a job under a tab", () => {
  it("a completed tab job whose receipt waits for the tab's close is 'not anchored yet', not 'in no anchor'", async () => {
    const w = makeJobWorld();
    const wk = await w.worker();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, { slots: 2, slotCost: "1000000", ttlSeconds: 300 }, "tab-key-1");
    const { header, quote, prepared } = await w.sealedJob(r, { candidates: 1 });
    const h = { ...header, jobId: tabSlotJobId(view.tab.tabId, 0) };
    const envelope = seal(
      h,
      prepared.candidates.map((c) => ({ workerId: c.workerId, hpkePublicKey: c.hpkePublicKey })),
    );
    await submitJob(w.deps, r.id, envelope, jobIdempotencyKey(h.jobId), quote, { tab: { tab: view.tab, slot: 0 } });
    await postResult(w.deps, wk.id, w.completed(wk, envelope));

    const answer = await receiptProof(w.deps, r.id, h.jobId).then(
      () => ({ status: 200, code: "ok" }),
      (e: { status?: number; code?: string }) => ({ status: e.status, code: e.code }),
    );

    expect(answer).toEqual({ status: 409, code: "receipt_not_anchored_yet" });
  });
});
