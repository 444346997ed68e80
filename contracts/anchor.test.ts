import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Address, beginCell, type Transaction } from "@ton/core";
import { findTransaction, flattenTransaction } from "@ton/test-utils";
import type { SendMessageResult } from "@ton/sandbox";
import { signReceipt } from "../core/crypto/receipt";
import { makeReceiptBody, makeWorker } from "../core/crypto/testing";
import {
  applyAnchor,
  buildAnchorBatch,
  GENESIS_HEAD,
  proveReceipt,
  replayAnchors,
  verifyReceiptProof,
  type Anchor,
} from "../core/receipts/anchor";
import * as Generated from "./build/ReceiptAnchor_ReceiptAnchor";
import { exitCodesOf, manifestOf, recordedGas, sha256Of } from "./artefacts-testing";
import { ANCHOR_MIN_VALUE, AnchorExit, headFromChain, type AnchorExitName, type AnchorOnChain } from "./anchor";
import { anchorFixture, nextAnchor, type AnchorFixture } from "./anchor-fixtures";

// ---------------------------------------------------------------- helpers
async function state(f: AnchorFixture): Promise<{ latest: AnchorOnChain; balance: bigint }> {
  return { latest: await f.anchor.getLatest(), balance: await f.anchor.getBalance() };
}

function anchorTx(f: AnchorFixture, res: SendMessageResult): Transaction {
  const tx = findTransaction(res.transactions, { to: f.anchor.address });
  if (!tx) throw new Error("no transaction on the anchor contract");
  return tx;
}

/** Posts `a` from the coordinator, expects success and advances the fixture's off-chain head. */
async function post(f: AnchorFixture, a: Anchor): Promise<SendMessageResult> {
  const res = await f.anchor.sendAnchor(f.coordinator.getSender(), a);
  expect(flattenTransaction(anchorTx(f, res)).success, `anchor ${a.seqno} accepted`).toBe(true);
  f.head = applyAnchor(f.head, a);
  return res;
}

async function expectRejectedUnchanged(
  f: AnchorFixture,
  act: () => Promise<SendMessageResult>,
  from: Address,
  name: AnchorExitName,
): Promise<SendMessageResult> {
  const before = await state(f);
  const res = await act();
  const flat = flattenTransaction(anchorTx(f, res));
  expect({ exitCode: flat.exitCode, aborted: flat.aborted }).toEqual({ exitCode: AnchorExit[name], aborted: true });
  expect(
    findTransaction(res.transactions, { from: f.anchor.address, to: from, inMessageBounced: true }),
    "value bounced back",
  ).toBeDefined();
  expect(await state(f)).toEqual(before);
  return res;
}

function gasOf(f: AnchorFixture, res: SendMessageResult): number {
  const d = anchorTx(f, res).description;
  if (d.type !== "generic" || d.computePhase.type !== "vm") throw new Error("anchor transaction did not run the VM");
  return Number(d.computePhase.gasUsed);
}

// ---------------------------------------------------------------- build artefacts
describe("anchor build artefacts", () => {
  it("the committed wrapper was built from the current anchor.tact (run npx tsx contracts/build.ts ReceiptAnchor)", () => {
    const manifest = manifestOf<{ sourceSha256: string; codeSha256: string }>("manifest-anchor.json");
    expect(manifest.sourceSha256).toBe(sha256Of("anchor.tact"));
    expect(manifest.codeSha256).toBe(sha256Of("build/ReceiptAnchor_ReceiptAnchor.code.boc"));
  });

  it("exit codes exported to TS agree with the contract constants", () => {
    expect(exitCodesOf(Generated)).toEqual(AnchorExit);
  });
});

// ---------------------------------------------------------------- behaviour
describe("receipt anchor", () => {
  let f: AnchorFixture;
  beforeEach(async () => {
    f = await anchorFixture();
  });

  it("deploys empty, owned by the coordinator's wallet", async () => {
    expect(findTransaction(f.deployTx, { to: f.anchor.address, deploy: true, success: true })).toBeDefined();
    const s = await f.anchor.getLatest();
    expect(headFromChain(s)).toEqual(GENESIS_HEAD);
    expect(s.postedAt).toBe(0);
    expect((await f.anchor.getCoordinator()).equals(f.coordinator.address)).toBe(true);
  });

  it("accepts anchors 1, 2, 3 (one without receipts); the chain's history equals the off-chain replay", async () => {
    // Prepare
    const posted: Anchor[] = [];
    // Act
    for (const o of [{ count: 5 }, { count: 0, movements: 2 }, { count: 8, movements: 0 }]) {
      const a = nextAnchor(f.head, o);
      await post(f, a);
      posted.push(a);
    }
    // Assess
    const s = await f.anchor.getLatest();
    expect(s).toEqual({ ...posted[2]!, lastSeq: 13, history: replayAnchors(posted).history, postedAt: f.blockchain.now });
    expect(headFromChain(s)).toEqual(f.head);
  });

  it("end to end: a real receipt batch anchored on chain; each receipt's proof verifies against the root read back from the chain", async () => {
    // Prepare
    const worker = makeWorker();
    const receipts = Array.from({ length: 6 }, (_, i) => ({
      seq: i + 1,
      receipt: signReceipt(makeReceiptBody(worker, { finishedAt: 1_764_000_000_000 + i }), worker.signing),
    }));
    const batch = buildAnchorBatch(GENESIS_HEAD, receipts, []);
    // Act
    await post(f, batch.anchor);
    const onChain = await f.anchor.getLatest();
    // Assess
    for (const e of receipts) expect(verifyReceiptProof(e.receipt, proveReceipt(batch, e.seq), onChain), `receipt ${e.seq}`).toBe(true);
    const altered = { ...receipts[2]!.receipt, body: { ...receipts[2]!.receipt.body, usage: { promptTokens: 1, completionTokens: 9999 } } };
    expect(verifyReceiptProof(altered, proveReceipt(batch, 3), onChain)).toBe(false);
  });

  it("the reserve pays the coordinator's gas when the value falls short, and only the coordinator's", async () => {
    // Prepare
    const b0 = await f.anchor.getBalance();
    // Act: the coordinator sends half the compute fee (enough gas to reach the sender check:
    // ANCHOR_MIN_VALUE); a stranger tries the same.
    const ok = await f.anchor.sendAnchor(f.coordinator.getSender(), nextAnchor(f.head), ANCHOR_MIN_VALUE);
    const b1 = await f.anchor.getBalance();
    const bad = await f.anchor.sendAnchor(f.stranger.getSender(), { ...nextAnchor(f.head), seqno: 2, firstSeq: 11 }, ANCHOR_MIN_VALUE);
    // Assess
    expect(flattenTransaction(anchorTx(f, ok)).success).toBe(true);
    expect(b1).toBeLessThan(b0); // the reserve covered the fee
    expect(flattenTransaction(anchorTx(f, bad)).exitCode).toBe(AnchorExit.ERR_NOT_COORDINATOR);
    expect(await f.anchor.getBalance()).toBeGreaterThanOrEqual(b1); // a stranger cannot spend it
    expect((await f.anchor.getLatest()).seqno).toBe(1);
  });

  describe("refusals (exit code by name, state unchanged, value bounced)", () => {
    beforeEach(async () => {
      await post(f, nextAnchor(f.head));
    });

    it("a stranger cannot post: ERR_NOT_COORDINATOR", async () => {
      await expectRejectedUnchanged(
        f,
        () => f.anchor.sendAnchor(f.stranger.getSender(), nextAnchor(f.head)),
        f.stranger.address,
        "ERR_NOT_COORDINATOR",
      );
    });

    it("a replayed anchor: ERR_ANCHOR_SEQNO", async () => {
      const a = nextAnchor(f.head);
      await post(f, a);
      await expectRejectedUnchanged(f, () => f.anchor.sendAnchor(f.coordinator.getSender(), a), f.coordinator.address, "ERR_ANCHOR_SEQNO");
    });

    it("a skipped seqno: ERR_ANCHOR_SEQNO", async () => {
      const a = { ...nextAnchor(f.head), seqno: f.head.seqno + 2 };
      await expectRejectedUnchanged(f, () => f.anchor.sendAnchor(f.coordinator.getSender(), a), f.coordinator.address, "ERR_ANCHOR_SEQNO");
    });

    it("a gap in the receipt range (a dropped batch): ERR_ANCHOR_RANGE", async () => {
      const a = { ...nextAnchor(f.head), firstSeq: f.head.lastSeq + 2 };
      await expectRejectedUnchanged(f, () => f.anchor.sendAnchor(f.coordinator.getSender(), a), f.coordinator.address, "ERR_ANCHOR_RANGE");
    });

    it("an overlapping receipt range (receipts re-anchored): ERR_ANCHOR_RANGE", async () => {
      const a = { ...nextAnchor(f.head), firstSeq: f.head.lastSeq };
      await expectRejectedUnchanged(f, () => f.anchor.sendAnchor(f.coordinator.getSender(), a), f.coordinator.address, "ERR_ANCHOR_RANGE");
    });

    it("a ledger restored from an older state: ERR_LEDGER_REWOUND", async () => {
      const a = { ...nextAnchor(f.head), ledgerSeqno: f.head.ledgerSeqno - 1 };
      await expectRejectedUnchanged(
        f,
        () => f.anchor.sendAnchor(f.coordinator.getSender(), a),
        f.coordinator.address,
        "ERR_LEDGER_REWOUND",
      );
    });

    it("a different ledger hash at the same ledger seqno (an edited ledger): ERR_LEDGER_FORK", async () => {
      const a = { ...nextAnchor(f.head, { movements: 0 }), ledgerHash: "ab".repeat(32) };
      await expectRejectedUnchanged(f, () => f.anchor.sendAnchor(f.coordinator.getSender(), a), f.coordinator.address, "ERR_LEDGER_FORK");
    });

    it("an unknown opcode bounces with Tact's invalid-message code 130, state unchanged", async () => {
      const before = await state(f);
      const res = await f.coordinator.send({
        to: f.anchor.address,
        value: 10_000_000n,
        body: beginCell().storeUint(0xdeadbeef, 32).endCell(),
      });
      expect(flattenTransaction(anchorTx(f, res)).exitCode).toBe(130);
      expect(await state(f)).toEqual(before);
    });
  });
});

// ---------------------------------------------------------------- gas table
describe("anchor gas table (contracts/anchor.gas.json; UPDATE_GAS=1 rewrites it)", () => {
  let measured: Record<string, number>;
  beforeAll(async () => {
    const f = await anchorFixture();
    measured = {};
    measured.deploy = gasOf(f, { transactions: f.deployTx } as SendMessageResult);
    measured.postFirst = gasOf(f, await post(f, nextAnchor(f.head)));
    measured.postNext = gasOf(f, await post(f, nextAnchor(f.head)));
    measured.postEmptyBatch = gasOf(f, await post(f, nextAnchor(f.head, { count: 0, movements: 0 })));
    measured.rejectedReplay = gasOf(
      f,
      await f.anchor.sendAnchor(f.coordinator.getSender(), { ...nextAnchor(f.head), seqno: f.head.seqno }),
    );
    measured.rejectedStranger = gasOf(f, await f.anchor.sendAnchor(f.stranger.getSender(), nextAnchor(f.head)));
    measured.topUp = gasOf(f, await f.anchor.sendTopUp(f.stranger.getSender(), 100_000_000n));
  });

  it("measured gas per operation equals the recorded table", () => {
    const recorded = recordedGas<{ ops: Record<string, number> }>(
      "anchor.gas.json",
      "gas units (compute phase of the anchor transaction)",
      measured,
    );
    expect(measured).toEqual(recorded.ops);
  });
});
