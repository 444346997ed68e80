/**
 * core/jobs/submit.ts retries and refusals not covered elsewhere (issue 14, mutation-checked):
 * a retry under the SDK's key is answered from the job item even after the quote expired (it
 * is not re-validated); an envelope that wraps no key is refused before anything is written;
 * the envelope is written once, in the commit, where it is stored at all (never where writes are billed);
 * a job id whose job item is gone (archived after its quote expired) is refused as expired under
 * the SDK's key; a replay whose job item is gone answers "submitted".
 */
import { describe, expect, it } from "vitest";
import { CocoonError } from "../errors";
import { envelopeKey, jobKey } from "./items";
import { submitJob } from "./submit";
import { isHoldCommit, makeJobWorld, type JobWorld } from "./testing";

async function refusal(p: Promise<unknown>) {
  const e = await p.then(
    () => undefined,
    (x) => x,
  );
  expect(e).toBeInstanceOf(CocoonError);
  return { status: e.status, code: e.code, message: e.message };
}

async function world() {
  const w = makeJobWorld();
  await w.worker();
  const r = await w.requester();
  return { w, r, ...(await w.sealedJob(r)) };
}

/** What a DynamoDB TTL does to a finished job's items: gone, while its ledger entries stay. */
async function expireJobItems(w: JobWorld, jobId: string) {
  await w.store.transact([
    { op: "delete", table: "jobs", key: jobKey(jobId) },
    { op: "delete", table: "jobs", key: envelopeKey(jobId) },
  ]);
}

describe("submitJob under the SDK's key (submit-<jobId>)", () => {
  it("a retry after the quote expired is answered from the job item, replayed", async () => {
    const { w, r, envelope, header, quote } = await world();
    const key = `submit-${header.jobId}`;
    await submitJob(w.deps, r.id, envelope, key, quote);
    w.advance(w.deps.config.quoteTtlSeconds * 1000 + 1);
    expect(await submitJob(w.deps, r.id, envelope, key, quote)).toEqual({ jobId: header.jobId, status: "assigned", replayed: true });
  });

  it("a job id whose job item is gone (archived once its quote expired) is refused as expired, and nothing more is held", async () => {
    // Prepare: the job item records the job's hold (issue 12), so what guards the id once it is
    // gone is the quote: a submit needs an unexpired one, and the job item outlives it
    const { w, r, envelope, header, quote } = await world();
    const key = `submit-${header.jobId}`;
    await submitJob(w.deps, r.id, envelope, key, quote);
    w.advance(w.deps.config.quoteTtlSeconds * 1000 + 1);
    await expireJobItems(w, header.jobId);
    const before = await w.balance(r.id);
    // Act
    const again = await refusal(submitJob(w.deps, r.id, envelope, key, quote));
    // Assess
    expect(again).toMatchObject({ status: 410, code: "quote_expired" });
    expect(await w.balance(r.id)).toEqual(before);
  });
});

describe("submitJob under a key of the caller's own", () => {
  it("a replay whose job item is gone answers status submitted", async () => {
    const { w, r, envelope, header, quote } = await world();
    await submitJob(w.deps, r.id, envelope, "my-own-key-0001", quote);
    await expireJobItems(w, header.jobId);
    expect(await submitJob(w.deps, r.id, envelope, "my-own-key-0001", quote)).toEqual({
      jobId: header.jobId,
      status: "submitted",
      replayed: true,
    });
  });
});

describe("submitJob: what is written", () => {
  it("an envelope that wraps no key is 400, and nothing is written or held", async () => {
    const { w, r, envelope, quote } = await world();
    const writes = w.transacts.length;
    const e = await refusal(submitJob(w.deps, r.id, { ...envelope, keys: [] }, "my-own-key-0002", quote));
    expect(e).toMatchObject({ status: 400, message: "envelope.keys must wrap the data key for distinct candidates of the quote only" });
    expect(w.transacts.length).toBe(writes);
    expect((await w.balance(r.id)).held).toBe(0n);
  });

  it("the envelope is written once, in the commit that creates the job", async () => {
    // Prepare
    const { w, r, envelope, header, quote } = await world();
    const from = w.transacts.length;
    // Act
    await submitJob(w.deps, r.id, envelope, "my-own-key-0003", quote);
    // Assess
    const envelopePuts = w.transacts
      .slice(from)
      .map((ops, i) => ({ i, n: ops.filter((op) => op.op === "put" && op.table === "jobs" && op.item.sk === "envelope").length }))
      .filter((t) => t.n > 0);
    const commit = w.transacts.slice(from).findIndex((ops) => isHoldCommit(ops, header.jobId));
    expect(commit).toBeGreaterThanOrEqual(0);
    expect(envelopePuts).toEqual([{ i: commit, n: 1 }]);
  });

  it("where writes are billed (DynamoDB) the envelope is never written: its lease check carries it", async () => {
    // Prepare
    const w = makeJobWorld({ billedWrites: true });
    await w.worker();
    const r = await w.requester();
    const { envelope, header, quote } = await w.sealedJob(r);
    const from = w.transacts.length;
    const checks: unknown[] = [];
    const send = w.deps.queues.send.bind(w.deps.queues);
    w.deps.queues.send = async (queue, body, opts) => {
      if (queue === "matching") checks.push(body);
      return send(queue, body, opts);
    };
    // Act
    await submitJob(w.deps, r.id, envelope, "my-own-key-0004", quote);
    // Assess
    const envelopePuts = w.transacts.slice(from).flatMap((ops) => ops.filter((op) => op.op === "put" && op.item.sk === "envelope"));
    expect(envelopePuts).toEqual([]);
    expect(await w.store.get("jobs", envelopeKey(header.jobId))).toBeUndefined();
    expect(checks).toEqual([{ type: "lease", jobId: header.jobId, attempt: 0, envelope }]);
  });
});
