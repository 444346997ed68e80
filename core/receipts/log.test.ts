import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../local/memory-store";
import { collectingAlerts } from "../chain/dedup";
import { makeWorker } from "../crypto/testing";
import { newJobId } from "../ids";
import { applyMovement, faucetMovement, holdMovement, movementsOps, settleMovement, type Movement } from "../ledger";
import { ConditionFailedError, type Store, type WriteOp } from "../ports";
import { checkLedgerAgainstAnchors, type Anchor } from "./anchor";
import { checkAnchors, runAnchoring } from "./anchoring";
import {
  anchorChunkPk,
  appendReceiptOp,
  inboxPk,
  inboxPks,
  MOVEMENT_INBOX_PK,
  RECEIPT_INBOX_PK,
  StoreAnchorLog,
  withMovementLog,
} from "./log";
import { verifyProofAgainstChain } from "./proof";
import { fakeAnchorContract, indexed, signedReceipt, windowEntries } from "./testing";

// ---------------------------------------------------------------- factories
const T0 = Date.parse("2026-01-05T00:00:00Z");
const worker = makeWorker();

function world(o: { failOn?: (ops: WriteOp[]) => boolean } = {}) {
  const inner = createMemoryStore();
  let armed = o.failOn;
  const faulty: Store & Pick<typeof inner, "scan"> = {
    get: (t, k) => inner.get(t, k),
    query: (t, pk, q) => inner.query(t, pk, q),
    scan: (t) => inner.scan(t),
    async transact(ops) {
      if (armed?.(ops)) {
        armed = undefined;
        throw new Error("crash (injected)");
      }
      return inner.transact(ops);
    },
  };
  const store = withMovementLog(faulty);
  let now = T0;
  const clock = { now: () => now };
  return {
    store,
    inner,
    clock,
    advance: (ms: number) => (now += ms),
    log: new StoreAnchorLog(store, { chunk: 3, concurrency: 2 }),
    /** a settlement's transaction, reduced to what matters here: a movement and the receipt append */
    async settle(jobId = newJobId(now)) {
      const receipt = signedReceipt(worker, jobId);
      await applyMovement(store, holdMovement(jobId, "a", 10n, now), [appendReceiptOp(jobId, receipt, now)]);
      now += 1;
      return { jobId, receipt };
    },
  };
}

async function fund(w: ReturnType<typeof world>) {
  await applyMovement(w.store, faucetMovement(`f-${w.clock.now()}`, "a", 1_000n, w.clock.now()));
}

// ---------------------------------------------------------------- appending
describe("the movement log", () => {
  it("every ledger movement is appended to the inbox in its own transaction; a duplicate or refused one appends nothing", async () => {
    // Prepare
    const w = world();
    await fund(w);
    const m: Movement = holdMovement("job_x", "a", 10n, T0);

    // Act
    await applyMovement(w.store, m);
    const again = await applyMovement(w.store, m);
    const overdraft = applyMovement(w.store, holdMovement("job_y", "a", 10_000n, T0));

    // Assess
    expect(again).toBe("duplicate");
    await expect(overdraft).rejects.toThrow(/too little balance/);
    const inbox = (await Promise.all(inboxPks(MOVEMENT_INBOX_PK).map((pk) => w.inner.query("chain", pk)))).flat();
    expect(inbox.map((e) => e.sk).sort()).toEqual(["faucet:f-" + T0, "hold:job_x"].sort());
    expect(inbox.find((e) => e.sk === "hold:job_x")).toMatchObject({
      movement: { kind: "hold", postings: m.postings.map((p) => ({ ...p, delta: p.delta.toString() })) },
    });
  });

  it("the appended put comes last and has no condition: a caller's failing condition keeps its index", async () => {
    // Prepare
    const w = world();
    await fund(w);
    const stale: WriteOp = { op: "check", table: "jobs", key: { pk: "job_z", sk: "job" }, when: { kind: "exists" } };

    // Act
    const r = applyMovement(w.store, holdMovement("job_z", "a", 10n, T0), [stale]);

    // Assess
    await expect(r).rejects.toBeInstanceOf(ConditionFailedError);
    await expect(r).rejects.toMatchObject({ index: 0 });
    expect(await w.inner.get("chain", { pk: inboxPk(MOVEMENT_INBOX_PK, "hold:job_z"), sk: "hold:job_z" })).toBeUndefined();
  });
});

// ---------------------------------------------------------------- batches
describe("cutting batches", () => {
  it("gives each settled receipt and each movement the next sequence number, once, contiguous across batches, in settlement order", async () => {
    // Prepare
    const w = world();
    await fund(w);
    const first = [await w.settle(), await w.settle(), await w.settle(), await w.settle()];

    // Act
    const b1 = await w.log.prepareNext(w.clock.now());
    const second = [await w.settle(), await w.settle()];
    const b2 = await w.log.prepareNext(w.clock.now());
    const b3 = await w.log.prepareNext(w.clock.now());

    // Assess
    expect(b1).toMatchObject({ seqno: 1, firstSeq: 1, count: 4, ledgerSeqno: 5, status: "indexed", receiptChunks: 2, movementChunks: 2 });
    expect(b2).toMatchObject({ seqno: 2, firstSeq: 5, count: 2, ledgerSeqno: 7 });
    expect(b3).toBeNull(); // inboxes empty
    const seqs = await Promise.all([...first, ...second].map(async (s) => (await indexed(w.log, s.jobId))?.seq));
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
    for (const pk of [...inboxPks(RECEIPT_INBOX_PK), ...inboxPks(MOVEMENT_INBOX_PK)]) expect(await w.inner.query("chain", pk)).toEqual([]);
  });

  it("a crash after the batch is fixed but before it is indexed: the next run finishes it first; nothing is lost or numbered twice", async () => {
    // Prepare: the first inbox delete crashes the run
    const w = world({ failOn: (ops) => ops.length === 1 && ops[0]!.op === "delete" });
    await fund(w);
    const a = [await w.settle(), await w.settle()];
    await expect(w.log.prepareNext(w.clock.now())).rejects.toThrow(/crash/);
    expect((await w.log.latest())?.status).toBe("prepared");
    const b = await w.settle();

    // Act
    const next = await new StoreAnchorLog(w.store, { chunk: 3 }).prepareNext(w.clock.now());

    // Assess
    expect((await w.log.record(1))?.status).toBe("indexed");
    expect(next).toMatchObject({ seqno: 2, firstSeq: 3, count: 1 });
    expect((await indexed(w.log, b.jobId))?.seq).toBe(3);
    for (const [i, s] of a.entries()) expect(await indexed(w.log, s.jobId)).toMatchObject({ seq: i + 1, anchorSeqno: 1 });
  });

  it("a crash before the batch is fixed: the retry cuts the same seqno again, with everything the inbox holds by then", async () => {
    // Prepare: the transaction that fixes the batch (record + head) crashes once
    const w = world({ failOn: (ops) => ops.length === 2 && ops[0]!.op === "put" && ops[0]!.item.pk === "anchor:list" });
    await fund(w);
    await w.settle();
    await expect(w.log.prepareNext(w.clock.now())).rejects.toThrow(/crash/);
    await w.settle();

    // Act
    const r = await w.log.prepareNext(w.clock.now());

    // Assess
    expect(r).toMatchObject({ seqno: 1, firstSeq: 1, count: 2 });
    expect(await w.log.latestSeqno()).toBe(1);
  });

  it("the ledger replays against the batches: movement ids in log order reproduce every anchored ledger hash; an edited movement is caught", async () => {
    // Prepare
    const w = world();
    await fund(w);
    await w.settle();
    const b1 = (await w.log.prepareNext(w.clock.now()))!;
    await w.settle();
    const b2 = (await w.log.prepareNext(w.clock.now()))!;
    const replay = async () => {
      const ids = [...(await w.log.movementIds(1)), ...(await w.log.movementIds(2))];
      const entries = await Promise.all(
        ids.map(async (id, i) => {
          const { pk, sk: _sk, ...m } = (await w.inner.get("ledger", { pk: id, sk: "tx" }))!;
          return { seq: i + 1, movement: { id: pk, ...m } as unknown as Movement };
        }),
      );
      return checkLedgerAgainstAnchors([b1, b2] as Anchor[], entries);
    };

    // Act
    const honest = await replay();
    const [id] = await w.log.movementIds(2);
    await w.inner.transact([{ op: "update", table: "ledger", key: { pk: id!, sk: "tx" }, set: { at: 0 } }]);
    const edited = await replay();

    // Assess
    expect(honest).toEqual({ ok: true, checked: 2 });
    expect(edited).toMatchObject({ ok: false, anchorSeqno: 2, code: "ledger_fork" });
  });
});

// ---------------------------------------------------------------- a settlement's movement in its receipt's entry
describe("issue 12: a settlement's movement rides in its receipt's inbox entry (one item of < 1 KB, not two)", () => {
  /** A job held and settled as core/jobs does it: the settle movement and the receipt append in one transaction. */
  async function settleJob(w: ReturnType<typeof world>, cost = 7n) {
    const jobId = newJobId(w.clock.now());
    await applyMovement(w.store, holdMovement(jobId, "a", 10n, w.clock.now()));
    w.advance(1);
    const receipt = signedReceipt(worker, jobId);
    await applyMovement(w.store, settleMovement(jobId, "a", worker.workerId, 10n, cost, w.clock.now()), [
      appendReceiptOp(jobId, receipt, w.clock.now()),
    ]);
    w.advance(1);
    return jobId;
  }
  const ledgerEntries = async (w: ReturnType<typeof world>, ids: string[]) =>
    Promise.all(
      ids.map(async (id, i) => {
        const { pk, sk: _sk, ...m } = (await w.inner.get("ledger", { pk: id, sk: "tx" }))!;
        return { seq: i + 1, movement: { id: pk, ...m } as unknown as Movement };
      }),
    );

  it("no movement inbox entry of its own; the batch logs it, in order, and the ledger replays against the anchor", async () => {
    // Prepare
    const w = world();
    await fund(w);
    const jobs = [await settleJob(w), await settleJob(w, 0n), await settleJob(w, 10n)];

    // Act
    const mInbox = (await Promise.all(inboxPks(MOVEMENT_INBOX_PK).map((pk) => w.inner.query("chain", pk)))).flat();
    const rInbox = windowEntries(w.inner); // the receipts' time-windowed entries
    const b = (await w.log.prepareNext(w.clock.now()))!;
    const ids = await w.log.movementIds(1);

    // Assess
    expect(mInbox.map((e) => e.sk).filter((sk) => sk.startsWith("settle:"))).toEqual([]);
    expect(rInbox.map((e) => e.mid).sort()).toEqual(jobs.map((j) => `settle:${j}`).sort());
    expect(rInbox.every((e) => Array.isArray(e.ms))).toBe(true); // the short form: it rebuilt exactly
    expect(b).toMatchObject({ count: 3, ledgerSeqno: 7 });
    expect(ids).toEqual([`faucet:f-${T0}`, ...jobs.flatMap((j) => [`hold:${j}`, `settle:${j}`])]);
    expect(checkLedgerAgainstAnchors([b] as Anchor[], await ledgerEntries(w, ids))).toEqual({ ok: true, checked: 1 });
    for (const pk of [...inboxPks(RECEIPT_INBOX_PK), ...inboxPks(MOVEMENT_INBOX_PK)]) expect(await w.inner.query("chain", pk)).toEqual([]);
  });

  it("under tight limits a receipt and its movement go in the same batch, and each log stays a prefix in time", async () => {
    // Prepare
    const w = world();
    await fund(w);
    const jobs = [await settleJob(w), await settleJob(w), await settleJob(w)];
    const limits = { maxReceipts: 100, maxMovements: 4 };

    // Act
    const b1 = (await w.log.prepareNext(w.clock.now(), limits))!;
    const b2 = (await w.log.prepareNext(w.clock.now(), limits))!;
    const b3 = (await w.log.prepareNext(w.clock.now(), limits))!;
    const ids = [...(await w.log.movementIds(1)), ...(await w.log.movementIds(2)), ...(await w.log.movementIds(3))];

    // Assess: faucet, hold, settle, hold (4); settle, hold, settle (3): job 2's receipt goes with its settlement
    expect(ids).toEqual([`faucet:f-${T0}`, ...jobs.flatMap((j) => [`hold:${j}`, `settle:${j}`])]);
    expect([b1.count, b2.count, b3 === null ? 0 : b3.count]).toEqual([1, 2, 0]);
    expect(await indexed(w.log, jobs[1]!)).toMatchObject({ anchorSeqno: 2 });
    const entries = await ledgerEntries(w, ids);
    expect(checkLedgerAgainstAnchors([b1, b2] as Anchor[], entries)).toEqual({ ok: true, checked: 2 });
  });

  it("a batch of settlements in one transaction (core/jobs/settle.ts): each movement rides in its own job's receipt entry", async () => {
    // Prepare
    const w = world();
    await fund(w);
    const jobs = [newJobId(w.clock.now()), newJobId(w.clock.now() + 1)];
    for (const j of jobs) await applyMovement(w.store, holdMovement(j, "a", 10n, w.clock.now()));
    const now = w.clock.now() + 5;

    // Act
    await w.store.transact([
      ...movementsOps(jobs.map((j, i) => settleMovement(j, "a", worker.workerId, 10n, BigInt(3 + i), now))),
      ...jobs.map((j) => appendReceiptOp(j, signedReceipt(worker, j), now)),
    ]);
    const rInbox = windowEntries(w.inner); // the receipts' time-windowed entries
    const mInbox = (await Promise.all(inboxPks(MOVEMENT_INBOX_PK).map((pk) => w.inner.query("chain", pk)))).flat();
    const b = (await w.log.prepareNext(now + 1))!;

    // Assess
    expect(Object.fromEntries(rInbox.map((e) => [e.sk, e.mid]))).toEqual(Object.fromEntries(jobs.map((j) => [j, `settle:${j}`])));
    expect(rInbox.map((e) => (e.ms as string[])[2]).sort()).toEqual(["3", "4"]);
    expect(mInbox.some((e) => String(e.sk).startsWith("settle:"))).toBe(false);
    const ids = await w.log.movementIds(1);
    expect(ids.filter((id) => id.startsWith("settle:")).sort()).toEqual(jobs.map((j) => `settle:${j}`).sort());
    expect(checkLedgerAgainstAnchors([b] as Anchor[], await ledgerEntries(w, ids))).toEqual({ ok: true, checked: 1 });
  });

  it("a crash after the batch is fixed: the rerun deletes the shared entries and nothing else", async () => {
    // Prepare: the first inbox delete crashes the run
    const w = world({ failOn: (ops) => ops.length === 1 && ops[0]!.op === "delete" });
    await fund(w);
    await settleJob(w);
    await expect(w.log.prepareNext(w.clock.now())).rejects.toThrow(/crash/);

    // Act
    const next = await w.log.prepareNext(w.clock.now());

    // Assess
    expect(next).toBeNull();
    expect((await w.log.record(1))?.status).toBe("indexed");
    for (const pk of [...inboxPks(RECEIPT_INBOX_PK), ...inboxPks(MOVEMENT_INBOX_PK)]) expect(await w.inner.query("chain", pk)).toEqual([]);
  });
});

// ---------------------------------------------------------------- anchoring and proofs
describe("anchoring and inclusion proofs", () => {
  async function anchoredWorld(receipts: number) {
    const w = world();
    const chain = fakeAnchorContract({ time: T0 / 1000 });
    await fund(w);
    const settled = [];
    for (let i = 0; i < receipts; i++) settled.push(await w.settle());
    const run = () => runAnchoring({ log: w.log, reader: chain, poster: chain, now: w.clock.now, intervalSeconds: 5 });
    return { w, chain, settled, run };
  }
  const proofOf = async (w: ReturnType<typeof world>, jobId: string) => ({ jobId, ...(await w.log.proof((await indexed(w.log, jobId))!)) });

  it("every receipt of a batch proves against the contract's getter", async () => {
    // Prepare
    const { w, chain, settled, run } = await anchoredWorld(7);

    // Act
    const report = await run();

    // Assess
    expect(report).toMatchObject({ prepared: 1, sent: [1] });
    for (const s of settled)
      expect(verifyProofAgainstChain(await proofOf(w, s.jobId), await chain.latest())).toMatchObject({ ok: true, anchor: { seqno: 1 } });
  });

  it("a receipt of an older batch proves through the later anchors' history", async () => {
    // Prepare
    const { w, chain, settled, run } = await anchoredWorld(3);
    await run();
    chain.time += 10;
    w.advance(10_000);
    await w.settle();
    await run();

    // Act
    const v = verifyProofAgainstChain(await proofOf(w, settled[1]!.jobId), await chain.latest());

    // Assess
    expect((await chain.latest()).seqno).toBe(2);
    expect(v).toMatchObject({ ok: true, anchor: { seqno: 1 } });
  });

  it("an altered receipt, a dropped one, forged anchors, or a proof for another job do not verify", async () => {
    // Prepare
    const { w, chain, settled, run } = await anchoredWorld(5);
    await run();
    const latest = await chain.latest();
    const p = await proofOf(w, settled[2]!.jobId);

    // Act: alter the receipt (usage), drop a receipt from the stored batch, forge the anchor's root
    const altered = { ...p, receipt: { ...p.receipt, body: { ...p.receipt.body, usage: { promptTokens: 1, completionTokens: 1 } } } };
    const chunk = (await w.inner.get("chain", { pk: anchorChunkPk((await new StoreAnchorLog(w.inner).record(1))!), sk: "r#000000" }))!;
    const leaves = Buffer.from(chunk.leaves as string, "base64");
    await w.inner.transact([
      {
        op: "put",
        table: "chain",
        item: { ...chunk, leaves: Buffer.concat([leaves.subarray(32)]).toString("base64"), jobIds: (chunk.jobIds as string[]).slice(1) },
      },
    ]);
    const afterDrop = await w.log.proof((await indexed(w.log, settled[4]!.jobId))!).then(
      (q) => verifyProofAgainstChain({ jobId: settled[4]!.jobId, ...q }, latest),
      (e: Error) => ({ ok: false, code: e.message }),
    );
    const forged = { ...p, anchors: [{ ...p.anchors[0]!, root: "ab".repeat(32) }] };

    // Assess
    expect(verifyProofAgainstChain(altered, latest)).toMatchObject({ ok: false, code: "bad_receipt_signature" });
    expect(afterDrop.ok).toBe(false);
    expect(verifyProofAgainstChain(forged, latest)).toMatchObject({ ok: false, code: "history_mismatch" });
    expect(verifyProofAgainstChain({ ...p, jobId: settled[0]!.jobId }, latest)).toMatchObject({ ok: false, code: "receipt_mismatch" });
  });

  it("a receipt whose leaf was swapped for another worker-signed one fails the audit path", async () => {
    // Prepare
    const { w, chain, settled, run } = await anchoredWorld(4);
    await run();
    const p = await proofOf(w, settled[1]!.jobId);
    const other = signedReceipt(worker, settled[1]!.jobId, 1); // a validly signed receipt, other contents

    // Act
    const v = verifyProofAgainstChain({ ...p, receipt: other }, await chain.latest());

    // Assess
    expect(v).toMatchObject({ ok: false, code: "not_included" });
  });

  it("before the anchor lands the proof is 'not anchored yet', never a pass; a lost send is sent again after the resend delay", async () => {
    // Prepare
    const { w, chain, settled, run } = await anchoredWorld(2);
    chain.dropSends = true;
    await run();
    const p = await proofOf(w, settled[0]!.jobId);

    // Act
    const early = verifyProofAgainstChain(p, await chain.latest());
    chain.dropSends = false;
    const tooSoon = await run();
    w.advance(121_000);
    const resent = await run();

    // Assess
    expect(early).toMatchObject({ ok: false, code: "not_anchored_yet" });
    expect(tooSoon).toMatchObject({ idle: "in_flight", sent: [] });
    expect(resent).toMatchObject({ sent: [1] });
    expect(verifyProofAgainstChain(p, await chain.latest())).toMatchObject({ ok: true });
  });

  it("waits for the interval, and anchors nothing when nothing happened", async () => {
    // Prepare
    const { w, run } = await anchoredWorld(1);
    await run();

    // Act
    const soon = await run();
    w.advance(10_000);
    const idle = await run();
    await w.settle();
    const due = await run();

    // Assess
    expect(soon.idle).toBe("not_due");
    expect(idle.idle).toBe("nothing_to_anchor");
    expect(due).toMatchObject({ prepared: 2, sent: [2] });
  });
});

// ---------------------------------------------------------------- the watcher's check
describe("anchor alerts", () => {
  it("anchor.overdue when receipts wait longer than the bound; quiet while they are recent", async () => {
    // Prepare
    const w = world();
    const chain = fakeAnchorContract();
    const alerts = collectingAlerts();
    await fund(w);
    await w.settle();
    const check = () => checkAnchors({ log: w.log, reader: chain, alerts, now: w.clock.now, overdueSeconds: 60 });

    // Act
    const fresh = await check();
    w.advance(61_000);
    const late = await check();

    // Assess
    expect(fresh).toMatchObject({ overdue: false, mismatch: false });
    expect(late).toMatchObject({ overdue: true });
    expect(alerts.raised.map((a) => a.key)).toEqual(["anchor.overdue"]);
  });

  it("anchor.mismatch when the chain holds anchors the coordinator's log does not have (database restored from an older backup), or with other fields", async () => {
    // Prepare
    const w = world();
    const chain = fakeAnchorContract();
    await fund(w);
    await w.settle();
    await runAnchoring({ log: w.log, reader: chain, poster: chain, now: w.clock.now, intervalSeconds: 5 });
    const restored = new StoreAnchorLog(withMovementLog(createMemoryStore())); // an empty "backup"
    const a1 = collectingAlerts();
    const a2 = collectingAlerts();

    // Act
    const fromBackup = await checkAnchors({ log: restored, reader: chain, alerts: a1, now: w.clock.now, overdueSeconds: 60 });
    await w.inner.transact([{ op: "update", table: "chain", key: { pk: "anchor:list", sk: "0000000001" }, set: { count: 9 } }]);
    const edited = await checkAnchors({ log: w.log, reader: chain, alerts: a2, now: w.clock.now, overdueSeconds: 60 });
    const noPostOnTop = await runAnchoring({ log: restored, reader: chain, poster: chain, now: w.clock.now, intervalSeconds: 5 });

    // Assess
    expect(fromBackup.mismatch).toBe(true);
    expect(a1.raised).toMatchObject([{ key: "anchor.mismatch", severity: "critical" }]);
    expect(edited.mismatch).toBe(true);
    expect(a2.raised).toMatchObject([{ key: "anchor.mismatch", severity: "critical" }]);
    expect(noPostOnTop.idle).toBe("chain_disagrees");
  });
});
