/**
 * The anchoring Lambda and the watcher's anchor check, with the chain mocked by @ton/sandbox
 * behind the same adapters toncenter sits behind (a provider factory and an opener): the real
 * ReceiptAnchor contract and a real wallet v5r1 with signed external messages.
 */
import { describe, expect, it } from "vitest";
import { Blockchain } from "@ton/sandbox";
import { toNano } from "@ton/core";
import { AnchorContract } from "../../contracts/anchor";
import { collectingAlerts } from "../../core/chain/dedup";
import { makeWorker } from "../../core/crypto/testing";
import { newJobId } from "../../core/ids";
import { appendReceiptOp, StoreAnchorLog, withMovementLog } from "../../core/receipts/log";
import { verifyProofAgainstChain } from "../../core/receipts/proof";
import { indexed, signedReceipt } from "../../core/receipts/testing";
import { createMemoryStore } from "../../local/memory-store";
import { anchorWallet, ChainAnchorReader, WalletAnchorPoster } from "../../ton/anchor";
import { AnchorEnv, makeAnchorHandler } from "./anchor";
import { makeChainWatcherHandler } from "./chain-watcher";
import { SCRIPTED_VAULT } from "../../core/chain/fixtures";

const NOW = 1_750_000_000;
const quietLog = { info: () => undefined, warn: () => undefined, error: () => undefined };
const worker = makeWorker();

async function world() {
  const blockchain = await Blockchain.create();
  blockchain.now = NOW;
  const funder = await blockchain.treasury("funder");
  const w = anchorWallet(Buffer.alloc(32, 5));
  await funder.send({ to: w.wallet.address, value: toNano("10"), bounce: false });
  const anchor = blockchain.openContract(await AnchorContract.createFromConfig({ coordinator: w.wallet.address }));
  await anchor.sendDeploy(funder.getSender(), toNano("0.5"));
  const chain = {
    provider: (a: Parameters<Blockchain["provider"]>[0], i?: Parameters<Blockchain["provider"]>[1]) => blockchain.provider(a, i),
    open: (x: typeof w.wallet) => blockchain.openContract(x),
  };
  let now = NOW * 1000;
  const clock = { now: () => now };
  const store = withMovementLog(createMemoryStore({ clock }));
  const reader = new ChainAnchorReader(chain, anchor.address);
  const handler = makeAnchorHandler({
    store,
    clock,
    log: quietLog,
    reader,
    poster: new WalletAnchorPoster(chain, w, anchor.address),
    intervalSeconds: 300,
  });
  const settle = async () => {
    const jobId = newJobId(now);
    await store.transact([appendReceiptOp(jobId, signedReceipt(worker, jobId), now)]);
    return jobId;
  };
  const advance = (s: number) => {
    now += s * 1000;
    blockchain.now = (blockchain.now ?? NOW) + s;
  };
  return { blockchain, store, reader, handler, settle, advance, clock, anchor };
}

describe("anchoring Lambda (chain mocked by the sandbox)", () => {
  it("cuts and posts a batch through the wallet; its receipts prove against the contract's getter; nothing more until the interval passes", async () => {
    // Prepare
    const w = await world();
    const jobs = [await w.settle(), await w.settle(), await w.settle()];

    // Act
    const first = await w.handler();
    await w.settle();
    w.advance(60);
    const early = await w.handler();
    w.advance(300);
    const due = await w.handler();

    // Assess
    expect(first).toMatchObject({ prepared: 1, sent: [1] });
    expect(early).toMatchObject({ idle: "not_due", chainSeqno: 1 });
    expect(due).toMatchObject({ prepared: 2, sent: [2] });
    const log = new StoreAnchorLog(w.store);
    const latest = await w.reader.latest();
    expect(latest).toMatchObject({ seqno: 2, lastSeq: 4 });
    for (const jobId of jobs)
      expect(verifyProofAgainstChain({ jobId, ...(await log.proof((await indexed(log, jobId))!)) }, latest).ok).toBe(true);
  });

  it("the environment names the contract, the wallet seed and toncenter; a bad seed fails the cold start", () => {
    const ok = {
      COCOON_TON_ENDPOINT: "https://toncenter.com/api/v2/jsonRPC",
      COCOON_ANCHOR_ADDRESS: "0:" + "a".repeat(64),
      COCOON_ANCHOR_SEED: "b".repeat(64),
    };
    expect(AnchorEnv.parse(ok).COCOON_ANCHOR_INTERVAL_SECONDS).toBe(300);
    expect(AnchorEnv.safeParse({ ...ok, COCOON_ANCHOR_SEED: "xyz" }).success).toBe(false);
  });
});

describe("the chain watcher Lambda checks the anchors (issue 15)", () => {
  it("quiet while the chain matches the log; anchor.mismatch when the log was restored from before the anchors", async () => {
    // Prepare
    const w = await world();
    await w.settle();
    await w.handler();
    const noVault = { getVaultTransactions: async () => ({ txs: [], cursor: null }), getVaultBalance: async () => 10n ** 12n } as never;
    const alerts = collectingAlerts();
    const watch = (store: typeof w.store) =>
      makeChainWatcherHandler({
        store,
        clock: w.clock,
        log: quietLog,
        reader: noVault,
        vault: SCRIPTED_VAULT,
        alerts,
        anchorReader: w.reader,
      })();

    // Act
    const matching = await watch(w.store);
    const restored = await watch(withMovementLog(createMemoryStore({ clock: w.clock })));

    // Assess
    expect(matching.anchors).toMatchObject({ chainSeqno: 1, coordinatorSeqno: 1, mismatch: false });
    expect(restored.anchors).toMatchObject({ chainSeqno: 1, coordinatorSeqno: 0, mismatch: true });
    expect(alerts.raised.filter((a) => a.key.startsWith("anchor."))).toMatchObject([{ key: "anchor.mismatch", severity: "critical" }]);
  });
});
