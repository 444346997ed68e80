/**
 * Redrive of the matching dead-letter queue (./redrive.ts, issue 12): a check that failed five
 * deliveries comes back, so the hold it guards is not held for good; one that keeps failing is
 * left for the operator after MAX_REDRIVES trips.
 */
import { describe, expect, it } from "vitest";
import type { MatchingMessage } from "../../events/queue";
import { handleMatchingMessage } from "./dispatch";
import { jobKey, type JobItem } from "./items";
import { MAX_REDRIVES, redriveMatching } from "./redrive";
import type { Queues } from "../ports";
import { ledgerDiscrepancies, makeJobWorld, type JobWorld } from "./testing";

/** SQS's redrive policy on the matching queue (stacks/Cocoon.ts), as the local consumer applies it. */
const MAX_RECEIVES = 5;
const VISIBILITY_SECONDS = 30;

/**
 * The matching consumer's part for one visible message: deliver it (a failure leaves it to come
 * back after the visibility timeout), or, once received more than MAX_RECEIVES times, move it to
 * the DLQ. Returns what happened.
 */
async function consumeOnce(w: JobWorld): Promise<"handled" | "failed" | "dead-lettered" | "empty"> {
  const [m] = await w.queues.receive("matching", { max: 1, waitSeconds: 0, visibilitySeconds: VISIBILITY_SECONDS });
  if (!m) return "empty";
  if (m.receiveCount > MAX_RECEIVES) {
    await w.queues.send("matching-dlq", JSON.parse(m.body));
    await w.queues.delete("matching", m.receiptHandle);
    return "dead-lettered";
  }
  try {
    await handleMatchingMessage(w.deps, JSON.parse(m.body) as MatchingMessage);
    await w.queues.delete("matching", m.receiptHandle);
    return "handled";
  } catch {
    w.advance(VISIBILITY_SECONDS * 1000 + 1);
    return "failed";
  }
}

/**
 * `w`'s deps for a redrive run, its receives answered at once. The run long-polls the DLQ (1 s), and
 * an empty long-poll of the in-memory queues waits that second out in real time; nothing is sent
 * while a run runs here, so the wait could only find the queue as empty as it was: a second of
 * each run's end, and nothing the run does differently.
 */
const atOnce = (w: JobWorld): JobWorld["deps"] => ({
  ...w.deps,
  queues: Object.assign(Object.create(w.deps.queues) as JobWorld["deps"]["queues"], {
    receive: (queue: Parameters<Queues["receive"]>[0], o: Parameters<Queues["receive"]>[1]) =>
      w.deps.queues.receive(queue, { ...o, waitSeconds: 0 }),
  }),
});

/** A store whose reads of the jobs table fail while `down` (an outage, a throttling storm). */
function withJobsOutage(w: JobWorld) {
  const state = { down: false };
  const get = w.store.get.bind(w.store);
  w.store.get = ((table, key, o) => {
    if (state.down && table === "jobs") return Promise.reject(new Error("injected: the store is unavailable"));
    return get(table, key, o);
  }) as typeof w.store.get;
  return state;
}

/** An assigned job whose worker never answers, its lease run out and its check dead-lettered by an outage. */
async function jobWithDeadLetteredCheck() {
  const w = makeJobWorld();
  const outage = withJobsOutage(w);
  const { r, header } = await w.submitted(1);
  const job = (await w.store.get<JobItem>("jobs", jobKey(header.jobId)))!;
  w.advance(job.leaseUntil - w.clock.now() + 1000); // its check is delayed in whole seconds
  outage.down = true;
  const outcomes: string[] = [];
  for (let i = 0; i < MAX_RECEIVES + 1; i++) outcomes.push(await consumeOnce(w));
  outage.down = false;
  return { w, r, jobId: header.jobId, maxCost: BigInt(job.maxCost), outcomes };
}

const dlq = async (w: JobWorld) => {
  const ms = await w.queues.receive("matching-dlq", { max: 10, waitSeconds: 0, visibilitySeconds: 0 });
  return ms.map((m) => JSON.parse(m.body) as MatchingMessage);
};

describe("a check dead-lettered by an outage", () => {
  it("holds the job's money until a redrive sends it back; then the job is refunded and the books agree", async () => {
    // Prepare
    const { w, r, jobId, maxCost, outcomes } = await jobWithDeadLetteredCheck();
    expect(outcomes).toEqual(["failed", "failed", "failed", "failed", "failed", "dead-lettered"]);
    expect(await consumeOnce(w)).toBe("empty"); // nothing else would ever check this job
    expect((await w.balance(r.id)).held).toBe(maxCost);

    // Act
    const report = await redriveMatching(atOnce(w));
    const outcome = await consumeOnce(w);

    // Assess
    expect(report).toEqual({ redriven: 1, left: 0 });
    expect(outcome).toBe("handled");
    expect((await w.store.get<JobItem>("jobs", jobKey(jobId)))!.status).toBe("refunded");
    expect(await w.balance(r.id)).toEqual({ available: 10_000_000_000n, held: 0n });
    expect(await dlq(w)).toEqual([]);
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("the message sent back counts its trip; a copy redriven twice (a crash between send and delete) refunds once", async () => {
    const { w, r, jobId } = await jobWithDeadLetteredCheck();
    const [dead] = await dlq(w);
    await w.queues.send("matching-dlq", dead); // the same check twice in the DLQ, as after a redriver crash

    const report = await redriveMatching(atOnce(w));
    const sent = await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 0 });
    for (const m of sent) await handleMatchingMessage(w.deps, JSON.parse(m.body) as MatchingMessage);

    expect(report).toEqual({ redriven: 2, left: 0 });
    expect(sent.map((m) => JSON.parse(m.body) as MatchingMessage)).toEqual([
      { ...dead, redrives: 1 },
      { ...dead, redrives: 1 },
    ]);
    expect((await w.store.get<JobItem>("jobs", jobKey(jobId)))!.status).toBe("refunded");
    expect(await w.balance(r.id)).toEqual({ available: 10_000_000_000n, held: 0n });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });
});

describe("what a redrive leaves in the dead-letter queue", () => {
  it("a lease check left for the operator is logged without the sealed request it carries", async () => {
    // Prepare
    const w = makeJobWorld();
    const { header, envelope } = await w.submitted(1);
    const exhausted = { type: "lease", jobId: header.jobId, attempt: 0, envelope, redrives: MAX_REDRIVES };
    await w.queues.send("matching-dlq", exhausted);
    // Act
    const report = await redriveMatching(atOnce(w));
    // Assess
    expect(report).toEqual({ redriven: 0, left: 1 });
    expect(w.logs.filter((l) => l.level === "error")).toEqual([
      {
        level: "error",
        msg: "dead-lettered matching message left for the operator: it failed after every redrive",
        data: {
          messageId: expect.any(String) as unknown,
          redrives: MAX_REDRIVES,
          message: { type: "lease", jobId: header.jobId, attempt: 0, redrives: MAX_REDRIVES },
        },
      },
    ]);
  });

  it("a message back MAX_REDRIVES times already, and a body that is no matching message, stay for the operator (logged)", async () => {
    // Prepare
    const w = makeJobWorld();
    const exhausted = { type: "tab", tabId: "tab_00000000000000000000000001", redrives: MAX_REDRIVES };
    const lastTrip = { type: "tab", tabId: "tab_00000000000000000000000002", redrives: MAX_REDRIVES - 1 };
    await w.queues.send("matching-dlq", exhausted);
    await w.queues.send("matching-dlq", { type: "nonsense" });
    await w.queues.send("matching-dlq", lastTrip);

    // Act
    const report = await redriveMatching(atOnce(w));

    // Assess
    expect(report).toEqual({ redriven: 1, left: 2 });
    const sent = await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 0 });
    expect(sent.map((m) => JSON.parse(m.body) as unknown)).toEqual([{ ...lastTrip, redrives: MAX_REDRIVES }]);
    w.advance(301_000); // past the redrive's visibility timeout: the two left are still there
    expect(await dlq(w)).toEqual([exhausted, { type: "nonsense" }]);
    expect(w.logs.filter((l) => l.level === "error").map((l) => l.msg)).toEqual([
      "dead-lettered matching message left for the operator: it failed after every redrive",
      "dead-lettered matching message left: not a matching message",
    ]);
  });

  it("moves at most `limit` messages a run; the rest wait for the next", async () => {
    const w = makeJobWorld();
    for (let i = 0; i < 12; i++) await w.queues.send("matching-dlq", { type: "tab", tabId: `tab_${String(i).padStart(26, "0")}` });

    expect(await redriveMatching(atOnce(w), 5)).toEqual({ redriven: 5, left: 0 });
    expect(await redriveMatching(atOnce(w))).toEqual({ redriven: 7, left: 0 });
    expect(await redriveMatching(atOnce(w))).toEqual({ redriven: 0, left: 0 });
  });
});

describe("a redrive run's limit and its report", () => {
  it("counts the messages it leaves against the limit too", async () => {
    // Prepare: three unreadable bodies first, then six checks
    const w = makeJobWorld();
    for (let i = 0; i < 3; i++) await w.queues.send("matching-dlq", { type: "nonsense", i });
    for (let i = 0; i < 6; i++) await w.queues.send("matching-dlq", { type: "tab", tabId: `tab_${String(i).padStart(26, "0")}` });

    // Act
    const report = await redriveMatching(atOnce(w), 5);

    // Assess: five messages looked at in all
    expect(report).toEqual({ redriven: 2, left: 3 });
    const sent = await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 0 });
    expect(sent).toHaveLength(2);
  });

  it("a run's last receive asks only for what the limit has left, counting messages left too", async () => {
    // Prepare: three unreadable bodies, then twelve checks; a limit above one receive's ten
    const w = makeJobWorld();
    for (let i = 0; i < 3; i++) await w.queues.send("matching-dlq", { type: "nonsense", i });
    for (let i = 0; i < 12; i++) await w.queues.send("matching-dlq", { type: "tab", tabId: `tab_${String(i).padStart(26, "0")}` });

    // Act
    const report = await redriveMatching(atOnce(w), 12);

    // Assess: ten, then two: twelve looked at, three of them left
    expect(report).toEqual({ redriven: 9, left: 3 });
  });

  it("logs what it moved and left, naming each message left; a run that found nothing logs nothing", async () => {
    // Prepare
    const w = makeJobWorld();
    const exhausted = { type: "tab", tabId: "tab_00000000000000000000000001", redrives: MAX_REDRIVES };
    await w.queues.send("matching-dlq", exhausted);
    await w.queues.send("matching-dlq", { type: "tab", tabId: "tab_00000000000000000000000002" });

    // Act
    const first = await redriveMatching(atOnce(w));
    const logged = w.logs.length;
    const second = await redriveMatching(atOnce(w));

    // Assess
    expect(first).toEqual({ redriven: 1, left: 1 });
    expect(second).toEqual({ redriven: 0, left: 0 });
    const [left, summary] = w.logs.slice(0, logged).filter((l) => l.msg.startsWith("dead-lettered") || l.msg.startsWith("matching dead"));
    expect(left).toMatchObject({ level: "error", data: { redrives: MAX_REDRIVES, message: exhausted, messageId: expect.any(String) } });
    expect(summary).toEqual({ level: "info", msg: "matching dead-letter queue redriven", data: { redriven: 1, left: 1 } });
    expect(w.logs.slice(logged)).toEqual([]);
  });

  it("a body that is not JSON at all is left, logged with its message id", async () => {
    // Prepare: SQS can hold any text; the local queues only send JSON, so a queue that hands out one raw body
    const w = makeJobWorld();
    let handed = false;
    const deleted: string[] = [];
    const queues = {
      ...w.deps.queues,
      receive: async () => (handed ? [] : ((handed = true), [{ id: "m-raw", body: "{not json", receiptHandle: "h-raw", receiveCount: 1 }])),
      delete: async (_q: string, handle: string) => void deleted.push(handle),
    } as unknown as typeof w.deps.queues;

    // Act
    const report = await redriveMatching({ queues, log: w.deps.log });

    // Assess
    expect(report).toEqual({ redriven: 0, left: 1 });
    expect(deleted).toEqual([]);
    expect(w.logs.filter((l) => l.level === "error")).toEqual([
      { level: "error", msg: "dead-lettered matching message left: not a matching message", data: { messageId: "m-raw" } },
    ]);
  });
});
