import { describe, expect, it } from "vitest";
import { anchoringCost, measureAnchorFees, measureLogWrites } from "./anchoring";

describe("anchoring cost model", () => {
  it("spreads one anchor per interval over the receipts of that interval", () => {
    // 1 receipt/s, an anchor every 300 s: 300 receipts per anchor, 3334 anchors per 1M.
    const c = anchoringCost({ feePerAnchorNano: 6_000_000n, receiptsPerSecond: 1, intervalSeconds: 300, maxReceipts: 100_000 });
    expect(c).toEqual({
      receiptsPerAnchor: 300,
      anchorsPerMillionReceipts: 3334,
      tonPerMillionReceipts: 3334 * 0.006,
      anchorsPerDay: 288,
      tonPerDay: 288 * 0.006,
      proofHashes: 9,
      proofBytes: 9 * 32 + 12,
    });
  });

  it("anchors early when maxReceipts wait, so a high rate costs more anchors per day, not bigger batches", () => {
    const c = anchoringCost({ feePerAnchorNano: 6_000_000n, receiptsPerSecond: 1000, intervalSeconds: 300, maxReceipts: 100_000 });
    expect(c.receiptsPerAnchor).toBe(100_000);
    expect(c.anchorsPerMillionReceipts).toBe(10);
    expect(c.anchorsPerDay).toBe(864);
    expect(c.proofHashes).toBe(17); // ceil(log2 100000)
  });

  it("measures a positive fee per anchor in the sandbox, at least the anchor contract's own gas", async () => {
    const m = await measureAnchorFees({ anchors: 2 });
    expect(m.anchorGas).toBeGreaterThan(1000);
    expect(m.feePerAnchorNano).toBeGreaterThanOrEqual(m.walletTxFeeNano + m.anchorTxFeeNano);
    expect(m.anchorTxFeeNano).toBeGreaterThanOrEqual(BigInt(m.anchorGas) * 400n); // basechain: 400 nanoTON per gas
  });

  it("counts what the receipt and movement logs add per job: two inbox puts inside the transactions, and the anchorer's movement-inbox delete and chunks", async () => {
    const w = await measureLogWrites(50);
    // the hold's movement entry + the receipt entry carrying the settlement's movement, each < 1 KB, transactional (x2)
    expect(w.hotPathWru).toBe(4);
    // the receipt entry sits in the time-windowed log for good: no index put, no receipt delete; what
    // is left per job is this flow's hold movement entry's delete (a hold with a ledger item, as before
    // issue 12; the coordinator's own hold rides in the receipt entry), plus chunks and the record
    expect(w.anchorerWru).toBeGreaterThanOrEqual(1);
    expect(w.anchorerWru).toBeLessThan(2);
  });
});
