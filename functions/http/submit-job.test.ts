/**
 * POST /v1/jobs with a renewal (SubmitRequest.renew): the renewal's fair-share contest and the
 * submit's own candidate order read the same workers' earnings (their balance items) in the same
 * request. Each is read once a request (issue 12: 7 reads a job became 4 in bench/cost.ts), and
 * never kept for the next request, whose order must see what was earned meanwhile.
 */
import { describe, expect, it } from "vitest";
import { SubmitRequest, type PrepareResponse } from "../../events/api";
import type { SigningKeyPair } from "../../core/crypto/keys";
import { jobIdempotencyKey } from "../../core/jobs";
import { jobKey, type JobItem } from "../../core/jobs/items";
import { headerOf, makeJobWorld, MODEL, seal, type JobWorld } from "../../core/jobs/testing";
import { workerAccount } from "../../core/ledger";
import type { Key, TableName } from "../../core/ports";
import { route } from "./submit-job";

const renew = { model: MODEL, maxTokens: 32, maxPromptTokens: 200, tiers: ["dev" as const], candidates: 3 };

/** Factory: four live equal workers (one more than a quote names, so the renewal holds a contest) and a funded requester. */
async function world() {
  const w = makeJobWorld();
  const workers = [];
  for (let i = 0; i < 4; i++) workers.push(await w.worker());
  return { w, workers, requester: await w.requester() };
}

/** Submits a job under quote `p` with its keys in `order` (the SDK's choice), renewing the quote: its answer, the job's candidate order, and the balance items it read (their keys). */
async function submitUnder(w: JobWorld, who: SigningKeyPair, p: PrepareResponse, order: string[]) {
  const header = headerOf(p, who.id);
  const byId = new Map(p.candidates.map((c) => [c.workerId, c]));
  const envelope = seal(
    header,
    order.map((id) => byId.get(id)!),
  );
  const reads: string[] = [];
  const inner = w.store.get.bind(w.store);
  w.store.get = (async (table: TableName, key: Key, o?: { eventual?: boolean }) => {
    if (table === "accounts" && key.pk.startsWith("wrk:")) reads.push(key.pk);
    return inner(table, key, o);
  }) as typeof w.store.get;
  try {
    const answer = (await route.run({
      deps: w.deps,
      caller: who.id,
      body: SubmitRequest.parse({ envelope, quote: p.quote, renew }),
      query: { wait: 0 },
      headers: { "idempotency-key": jobIdempotencyKey(p.jobId) },
      params: {},
    })) as { jobId: string; next?: PrepareResponse };
    const job = (await inner<JobItem>("jobs", jobKey(p.jobId)))!;
    return { answer, order: job.candidates.map((c) => c.workerId), reads };
  } finally {
    w.store.get = inner;
  }
}

describe("POST /v1/jobs renewing its quote: one read of each worker's earnings a request", () => {
  it("the renewal's contest (all 4 workers) and the submit's order (its 3 candidates) share their reads: 4, not 7, one per worker", async () => {
    // Prepare
    const { w, requester } = await world();
    const { prepared } = await w.sealedJob(requester, { candidates: 3 });
    // Act
    const r = await submitUnder(
      w,
      requester,
      prepared,
      prepared.candidates.map((c) => c.workerId),
    );
    // Assess: the job was submitted and the quote renewed, each worker's balance read once
    expect(r.answer.jobId).toBe(prepared.jobId);
    expect(r.answer.next?.candidates).toHaveLength(3);
    expect(r.order).toHaveLength(3);
    expect(r.reads).toHaveLength(4);
    expect(new Set(r.reads).size).toBe(4);
  });

  it("reads are never kept for the next request: the next submit reads again and orders by what its first candidate earned meanwhile", async () => {
    // Prepare: a first submit renews the quote; then the worker the SDK would try first earns
    const { w, requester } = await world();
    const { prepared } = await w.sealedJob(requester, { candidates: 3 });
    const first = await submitUnder(
      w,
      requester,
      prepared,
      prepared.candidates.map((c) => c.workerId),
    );
    const next = first.answer.next!;
    const ids = next.candidates.map((c) => c.workerId);
    await w.store.transact([
      { op: "update", table: "accounts", key: { pk: workerAccount(ids[0]!), sk: "balance" }, add: { completionTokens: 10_000 } },
    ]);
    // Act: the job after, under the renewed quote, its keys in the quote's order
    const second = await submitUnder(w, requester, next, ids);
    // Assess: read again (a reading kept from the first request would be 0 reads and rank the earner first, as tied)
    expect(second.order).toEqual([ids[1], ids[2], ids[0]]);
    expect(second.reads).toHaveLength(4);
  });
});
