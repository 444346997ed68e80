/**
 * Races and retries around one job's money and answer (issue 9 #6, #8, #11, #12), against
 * the real core over an in-memory store, with real agents registered over HTTP. The store
 * is in memory so concurrent calls interleave the same way on every run: each race below
 * loses on the code before the fix every time, not now and then.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKemKey, generateSigningKey, type KemKeyPair, type SigningKeyPair } from "../core/crypto/keys";
import { b64u } from "../core/crypto/encoding";
import { replyHash, requestHash, sealReply, sealRequest } from "../core/crypto/envelope";
import { signReceipt } from "../core/crypto/receipt";
import { applyMovement, faucetMovement, getBalance, requesterAccount, workerAccount } from "../core/ledger";
import { getJob, postResult, prepareJob, submitJob } from "../core/jobs";
import { ConditionFailedError, type WriteOp } from "../core/ports";
import { createMemoryStore, type MemoryStore } from "../local/memory-store";
import { startNetwork, type LocalNetwork } from "../local/network";
import { startAgent, type RunningAgent } from "../agent/runtime";
import { makeAttester } from "../agent/attest";
import { createBuiltinEngine } from "../agent/engines/builtin";
import type { Engine } from "../agent/engines/engine";
import type { JobSource } from "../agent/sources/job-source";
import type { Quote, ResultRequest } from "../events/api";
import type { EnvelopeHeader, RequestEnvelope } from "../events/envelope";
import { JobRefundedError } from "../client/sdk";
import { agentLogTo, MODEL, randomCanary, startTestNet } from "./helpers";
import { dirSources, expectNoCanary, lineSources, scanForCanary } from "./canary";
import { openLmdbStore } from "../local/store-lmdb";
import { isHoldCommit, isSettleCommit } from "../core/jobs/testing";

const FUNDS = 10_000_000_000n;

/** A worker whose keys the test holds; it registers and heartbeats but never takes a job itself. */
async function startHeldWorker(apiUrl: string): Promise<{ agent: RunningAgent; signingKey: SigningKeyPair; kemKey: KemKeyPair }> {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const never: JobSource = { next: (s) => new Promise((r) => setTimeout(() => r([]), Math.min(s, 1) * 1000)) };
  const agent = await startAgent({
    apiUrl,
    signingKey,
    kemKey,
    engine: createBuiltinEngine(),
    models: [{ model: MODEL, priceBps: 10_000 }],
    attest: makeAttester({ tier: "dev", signingKey, kemKey }),
    jobSource: never,
    heartbeatMs: 1000,
  });
  return { agent, signingKey, kemKey };
}

describe("one job, many posts (in-memory store, real agents)", () => {
  let net: LocalNetwork;
  let store: MemoryStore;
  let worker: Awaited<ReturnType<typeof startHeldWorker>>;
  beforeAll(async () => {
    store = createMemoryStore();
    net = await startNetwork({ store, chain: false });
    worker = await startHeldWorker(net.url);
  });
  afterAll(async () => {
    await worker?.agent.stop();
    await net?.stop();
  });

  /** A funded requester and a prepared, sealed job for the held worker. */
  async function sealedJob(): Promise<{ requester: SigningKeyPair; envelope: RequestEnvelope; header: EnvelopeHeader; quote: Quote }> {
    const requester = generateSigningKey();
    await applyMovement(store, faucetMovement(`t-${requester.id}`, requester.id, FUNDS, Date.now()));
    const p = await prepareJob(net.deps, requester.id, {
      model: MODEL,
      maxTokens: 32,
      maxPromptTokens: 200,
      tiers: ["dev"],
      candidates: 1,
    });
    expect(p.candidates.map((c) => c.workerId)).toEqual([worker.agent.workerId]);
    const header: EnvelopeHeader = {
      v: 1,
      jobId: p.jobId,
      requester: requester.id,
      model: p.model,
      maxTokens: p.maxTokens,
      maxPromptTokens: p.maxPromptTokens,
      maxCost: p.maxCost,
      replyKey: b64u.encode(generateKemKey().publicKey),
    };
    const envelope = sealRequest({
      header,
      plaintext: new TextEncoder().encode(JSON.stringify({ messages: [{ role: "user", content: "hi" }] })),
      recipients: p.candidates.map((c) => ({ workerId: c.workerId, hpkePublicKey: b64u.decode(c.hpkePublicKey) })),
    });
    return { requester, envelope, header, quote: p.quote };
  }

  /** What the held worker would post for the job: a sealed answer and its signed receipt. */
  function result(
    envelope: RequestEnvelope,
    text: string,
    usage = { promptTokens: 5, completionTokens: 7 },
  ): Extract<ResultRequest, { kind: "completed" }> {
    const h = envelope.header;
    const reply = sealReply(
      h,
      worker.agent.workerId,
      new TextEncoder().encode(JSON.stringify({ text, usage, engine: "test", finishReason: "stop" })),
    );
    const body = {
      v: 1 as const,
      jobId: h.jobId,
      workerId: worker.agent.workerId,
      model: h.model,
      requestHash: requestHash(envelope),
      replyHash: replyHash(reply),
      usage,
      measurement: worker.agent.measurement,
      finishedAt: Date.now(),
    };
    return { kind: "completed", jobId: h.jobId, attempt: 0, reply, receipt: signReceipt(body, worker.signingKey) };
  }

  const ledgerItem = (id: string) => store.get("ledger", { pk: id, sk: "tx" });

  it("issue 9 #6: five concurrent submits with one Idempotency-Key all get the same 202 and job; the money is held once", async () => {
    // Prepare
    const { requester, envelope, quote } = await sealedJob();
    // Act
    const all = await Promise.allSettled(
      Array.from({ length: 5 }, () => submitJob(net.deps, requester.id, envelope, "one-key-for-five", quote)),
    );
    // Assess
    expect(all.map((r) => (r.status === "fulfilled" ? r.value.jobId : `${(r.reason as { code?: string }).code}`))).toEqual(
      Array(5).fill(envelope.header.jobId),
    );
    expect(all.filter((r) => r.status === "fulfilled" && !r.value.replayed)).toHaveLength(1);
    const bal = await getBalance(store, requesterAccount(requester.id));
    expect(bal.held).toBe(BigInt(envelope.header.maxCost));
    expect(bal.available).toBe(FUNDS - BigInt(envelope.header.maxCost));
  });

  it("issue 9 #6: a hold whose commit was ambiguous and re-sent (it had landed) answers the same 202, and another key still gets 409 job_exists", async () => {
    // Prepare: the store commits the hold, then a re-send of the same transaction finds it there
    const { requester, envelope, quote } = await sealedJob();
    const transact = store.transact;
    let resent = 0;
    store.transact = async (ops: WriteOp[]) => {
      const isHold = isHoldCommit(ops, envelope.header.jobId);
      await transact(ops);
      if (isHold) {
        resent++;
        await transact(ops); // the re-send after a lost answer: ConditionFailedError(0)
      }
    };
    try {
      // Act
      const first = await submitJob(net.deps, requester.id, envelope, "ambiguous-key-1", quote);
      store.transact = transact;
      const other = await submitJob(net.deps, requester.id, envelope, "another-key-2", quote).catch((e) => e);
      // Assess
      expect(resent).toBe(1); // the commit was re-sent, and answered "already there"
      expect(first.jobId).toBe(envelope.header.jobId);
      expect(other).toMatchObject({ status: 409, code: "job_exists" });
      expect((await getBalance(store, requesterAccount(requester.id))).held).toBe(BigInt(envelope.header.maxCost));
    } finally {
      store.transact = transact;
    }
  });

  it("issue 9 #8: concurrent identical results settle once: exactly one says duplicate:false", async () => {
    // Prepare
    const { requester, envelope, quote } = await sealedJob();
    await submitJob(net.deps, requester.id, envelope, "dup-results-1", quote);
    const r = result(envelope, "the answer");
    // Act
    const posts = await Promise.all([postResult(net.deps, worker.agent.workerId, r), postResult(net.deps, worker.agent.workerId, r)]);
    // Assess
    expect(posts.map((p) => p.duplicate).sort()).toEqual([false, true]);
    expect(posts[0]!.cost).toBe(posts[1]!.cost);
    const bal = await getBalance(store, requesterAccount(requester.id));
    expect(bal).toMatchObject({ held: 0n, available: FUNDS - BigInt(posts[0]!.cost!) });
    const view = await getJob(net.deps, requester.id, envelope.header.jobId);
    expect(view.receipt).toEqual(r.receipt);
  });

  it("issue 9 #8: a re-post with the accepted signature but another reply and usage 0/0 is a 409 and changes nothing; an identical re-post is a duplicate", async () => {
    // Prepare: a completed, paid job
    const { requester, envelope, quote } = await sealedJob();
    await submitJob(net.deps, requester.id, envelope, "rewrite-1", quote);
    const accepted = result(envelope, "the paid answer");
    const first = await postResult(net.deps, worker.agent.workerId, accepted);
    const paid = (await getBalance(store, workerAccount(worker.agent.workerId))).available;
    const other = result(envelope, "a different answer", { promptTokens: 0, completionTokens: 0 });
    const forged = { ...other, receipt: { body: other.receipt.body, signature: accepted.receipt.signature } };
    // Act
    const rewrite = await postResult(net.deps, worker.agent.workerId, forged).catch((e) => e);
    const resigned = await postResult(net.deps, worker.agent.workerId, other).catch((e) => e);
    const identical = await postResult(net.deps, worker.agent.workerId, accepted);
    // Assess
    expect(first.duplicate).toBe(false);
    expect(rewrite).toMatchObject({ status: 409, code: "result_differs" });
    expect(resigned).toMatchObject({ status: 409, code: "result_differs" });
    expect(identical).toEqual({ status: "completed", cost: first.cost, settlement: first.settlement, duplicate: true });
    const view = await getJob(net.deps, requester.id, envelope.header.jobId);
    expect(view).toMatchObject({ status: "completed", cost: first.cost, reply: accepted.reply, receipt: accepted.receipt });
    expect((await getBalance(store, workerAccount(worker.agent.workerId))).available).toBe(paid);
    expect(store.scan("jobs").filter((i) => i.pk === envelope.header.jobId && i.sk.startsWith("reply#"))).toHaveLength(1);
  });

  it("issue 9 #11: a failure posted while the job is settling is a 409 with a code, and no money moves", async () => {
    // Prepare: the settlement lands between the failure report's read and its refund
    const { requester, envelope, quote } = await sealedJob();
    await submitJob(net.deps, requester.id, envelope, "settling-1", quote);
    const answer = result(envelope, "made it");
    let settled: Awaited<ReturnType<typeof postResult>> | undefined;
    const transact = store.transact;
    store.transact = async (ops: WriteOp[]) => {
      if (!settled && ops.some((op) => op.op === "put" && op.table === "ledger" && op.item.pk === `refund:${envelope.header.jobId}`)) {
        settled = await postResult(net.deps, worker.agent.workerId, answer);
      }
      return transact(ops);
    };
    try {
      // Act
      const failed = await postResult(net.deps, worker.agent.workerId, {
        kind: "failed",
        jobId: envelope.header.jobId,
        attempt: 0,
        code: "engine_error",
      }).catch((e) => e);
      // Assess
      expect(settled?.duplicate).toBe(false);
      expect(failed).toMatchObject({ status: 409, code: "stale_attempt" });
      expect(await ledgerItem(`refund:${envelope.header.jobId}`)).toBeUndefined();
      expect(await store.get("jobs", { pk: envelope.header.jobId, sk: "failure#0" })).toBeUndefined();
      expect(await getBalance(store, requesterAccount(requester.id))).toMatchObject({
        held: 0n,
        available: FUNDS - BigInt(settled!.cost!),
      });
      expect((await getJob(net.deps, requester.id, envelope.header.jobId)).status).toBe("completed");
    } finally {
      store.transact = transact;
    }
  });

  it("issue 9 #11: a result posted while the job is being refunded is a 409 stale_attempt; nothing is charged and no answer is left behind", async () => {
    // Prepare: the worker's own failure report refunds the job between the result's read and its settlement
    const { requester, envelope, quote } = await sealedJob();
    await submitJob(net.deps, requester.id, envelope, "refunding-1", quote);
    const answer = result(envelope, "too late");
    let refunded: Awaited<ReturnType<typeof postResult>> | undefined;
    const transact = store.transact;
    store.transact = async (ops: WriteOp[]) => {
      if (!refunded && isSettleCommit(ops, envelope.header.jobId)) {
        refunded = await postResult(net.deps, worker.agent.workerId, {
          kind: "failed",
          jobId: envelope.header.jobId,
          attempt: 0,
          code: "engine_error",
        });
      }
      return transact(ops);
    };
    try {
      // Act
      const late = await postResult(net.deps, worker.agent.workerId, answer).catch((e) => e);
      // Assess
      expect(refunded?.status).toBe("refunded");
      expect(late).toMatchObject({ status: 409, code: "stale_attempt" });
      expect(await ledgerItem(`settle:${envelope.header.jobId}`)).toBeUndefined();
      expect(await getBalance(store, requesterAccount(requester.id))).toMatchObject({ held: 0n, available: FUNDS });
      expect(store.scan("jobs").filter((i) => i.pk === envelope.header.jobId && i.sk.startsWith("reply#"))).toHaveLength(0);
    } finally {
      store.transact = transact;
    }
  });

  it("a failure report that loses to a concurrent refund is a 409 too (a ConditionFailedError is not swallowed into a 200)", async () => {
    // Prepare
    const { requester, envelope, quote } = await sealedJob();
    await submitJob(net.deps, requester.id, envelope, "double-fail-1", quote);
    const report = { kind: "failed" as const, jobId: envelope.header.jobId, attempt: 0, code: "engine_error" as const };
    // Act
    const both = await Promise.allSettled([
      postResult(net.deps, worker.agent.workerId, report),
      postResult(net.deps, worker.agent.workerId, report),
    ]);
    // Assess
    expect(both.map((r) => (r.status === "fulfilled" ? r.value.status : (r.reason as { code: string }).code)).sort()).toEqual([
      "refunded",
      "stale_attempt",
    ]);
    expect(await getBalance(store, requesterAccount(requester.id))).toMatchObject({ held: 0n, available: FUNDS });
    expect(both.some((r) => r.status === "rejected" && r.reason instanceof ConditionFailedError)).toBe(false);
  });
});

describe("a failing engine (issue 9 #12)", () => {
  it("issue 9 #12: the engine's error text reaches the requester sealed, and appears nowhere in the coordinator's store, queues or logs", async () => {
    // Prepare: the only worker's engine fails with a message that quotes the prompt
    const t = await startTestNet({ agents: [] });
    const signingKey = generateSigningKey();
    const kemKey = generateKemKey();
    const failing: Engine = {
      name: "failing",
      models: async () => [MODEL],
      generate: async (req) => {
        throw new Error(`cannot answer "${req.messages[0]!.content}"`);
      },
    };
    const agentLogs: string[] = [];
    const agent = await startAgent({
      apiUrl: t.net.url,
      signingKey,
      kemKey,
      engine: failing,
      models: [{ model: MODEL }],
      attest: makeAttester({ tier: "dev", signingKey, kemKey }),
      heartbeatMs: 1000,
      log: agentLogTo(agentLogs),
    });
    const canary = randomCanary();
    let err;
    let balance;
    try {
      const client = await t.client();
      // Act
      err = await client
        .ask({ model: MODEL, messages: [{ role: "user", content: `tell me ${canary}` }], maxTokens: 16, tiers: ["dev"], candidates: 1 })
        .catch((e) => e);
      balance = await client.balance();
    } finally {
      await agent.stop();
      await t.stop(); // flushes and closes the store before its files are read below
    }
    // Assess: the coordinator learnt a code only: no form of the canary (UTF-8, UTF-16, base64,
    // base64url, hex: test/canary.ts) in its logs, queue messages or store files, nor in the agent's log
    const sources = () => [
      ...lineSources("coordinator log", t.logs),
      ...lineSources("queue message", t.sent),
      ...lineSources("agent log", agentLogs),
      ...dirSources(t.net.dataDir),
    ];
    expect(agentLogs.some((l) => l.includes("job failed") && l.includes("engine_error"))).toBe(true);
    expectNoCanary(canary, sources());
    expect(t.logs.some((l) => l.includes("worker reported failure") && l.includes("engine_error"))).toBe(true);
    // positive control, same files and scan: the failure text written into the store in clear is found
    const reopened = await openLmdbStore(join(t.net.dataDir, "store"));
    await reopened.transact([
      { op: "put", table: "jobs", item: { pk: "canary-control", sk: "failure#0", message: `cannot answer "tell me ${canary}"` } },
    ]);
    await reopened.close();
    expect(scanForCanary(canary, sources()).map((h) => [h.source.endsWith("data.mdb"), h.encoding])).toContainEqual([true, "utf8"]);
    // ... while the requester learns what went wrong, in full, and got its money back
    expect(err).toBeInstanceOf(JobRefundedError);
    expect(err.code).toBe("job_failed");
    expect(err.failure).toMatchObject({ workerId: agent.workerId, code: "engine_error" });
    expect(err.failure.message).toContain(canary);
    expect(balance).toMatchObject({ available: String(FUNDS), held: "0" });
  });
});
