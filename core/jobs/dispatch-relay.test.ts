/**
 * issue 12: the worker's relay session rides in the dispatch (core/jobs/dispatch.ts), so that on
 * AWS the agent asks the coordinator nothing per job. Vended for a job submitted with a relay
 * channel, on a coordinator with a session vendor; started by submit alongside its hold; asked
 * again for the new attempt on a failover; a vendor that fails or hangs never holds the job.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { relaySenderName, type RelaySession } from "../../events/relay";
import type { MatchingMessage } from "../../events/queue";
import type { WriteOp } from "../ports";
import type { RelaySessionVendor } from "../relay-access";
import { handleMatchingMessage, RELAY_VEND_TIMEOUT_MS, workerRelayFor } from "./dispatch";
import { jobKey, type JobItem } from "./items";
import { pollJobs } from "./poll";
import { submitJob } from "./submit";
import { makeJobWorld, T0, type JobWorld, type TestWorker } from "./testing";

const CHANNEL = "chan-0001";
const SECRET = "secret-never-logged";

type WorkerJob = Parameters<RelaySessionVendor["forWorker"]>[0];

/** The session a vendor gives the worker at a job attempt: its credentials name the attempt (as the SQS vendor's session name does). */
const sessionFor = (job: WorkerJob): RelaySession => ({
  transport: "sqs",
  region: "us-east-1",
  queueUrl: `https://sqs.us-east-1.amazonaws.com/123456789012/cocoon-test-r-${job.requester}-${job.relayChannel}`,
  credentials: {
    accessKeyId: relaySenderName(job.jobId, job.attempt),
    secretAccessKey: SECRET,
    sessionToken: "token",
    expiration: T0 + 900_000,
  },
});

/** Factory: a vendor recording what it was asked; `forWorker` answers with sessionFor unless replaced. */
function fakeVendor(forWorker: RelaySessionVendor["forWorker"] = async (job) => sessionFor(job)) {
  const calls: Array<{ job: WorkerJob; workerId: string }> = [];
  const vendor: RelaySessionVendor = {
    forWorker: (job, workerId) => {
      calls.push({ job, workerId });
      return forWorker(job, workerId);
    },
    forRequester: () => Promise.reject(new Error("not used here")),
    forAccount: () => Promise.reject(new Error("not used here")),
  };
  return { vendor, calls };
}

/** `n` workers and a job sealed to them, submitted (with `channel` as its relay channel when given); `workers` in the order the job tries them. */
async function submittedWith(w: JobWorld, n: number, channel: string | undefined) {
  const all: TestWorker[] = [];
  for (let i = 0; i < n; i++) all.push(await w.worker());
  const r = await w.requester();
  const { envelope, header, quote } = await w.sealedJob(r, { candidates: n });
  await submitJob(w.deps, r.id, envelope, "key-00000001", quote, channel ? { relayChannel: channel } : {});
  const job = (await w.store.get<JobItem>("jobs", jobKey(header.jobId)))!;
  return { r, header, job, workers: job.candidates.map((c) => all.find((x) => x.id === c.workerId)!) };
}

const polledBy = async (w: JobWorld, workerId: string) => (await pollJobs(w.deps, workerId, 0)).jobs;

afterEach(() => {
  vi.useRealTimers();
});

describe("issue 12: the worker's relay session in the dispatch", () => {
  it("a job submitted with a channel, on a coordinator with a vendor: its dispatch carries the session of its first candidate at attempt 0, and no log holds its credentials", async () => {
    // Prepare
    const w = makeJobWorld();
    const { vendor, calls } = fakeVendor();
    w.deps.relaySessions = vendor;
    // Act
    const { r, header, workers } = await submittedWith(w, 2, CHANNEL);
    // Assess
    expect(calls).toEqual([{ job: { jobId: header.jobId, attempt: 0, requester: r.id, relayChannel: CHANNEL }, workerId: workers[0]!.id }]);
    const [dispatched] = await polledBy(w, workers[0]!.id);
    expect(dispatched?.relay).toEqual(sessionFor(calls[0]!.job));
    expect(JSON.stringify(w.logs)).not.toContain(SECRET);
  });

  it("no session rides without a channel (vendor never asked), nor without a vendor", async () => {
    // Prepare
    const noChannel = makeJobWorld();
    const { vendor, calls } = fakeVendor();
    noChannel.deps.relaySessions = vendor;
    const noVendor = makeJobWorld();
    // Act
    const a = await submittedWith(noChannel, 1, undefined);
    const b = await submittedWith(noVendor, 1, CHANNEL);
    // Assess
    expect(calls).toEqual([]);
    const [jobA] = await polledBy(noChannel, a.workers[0]!.id);
    const [jobB] = await polledBy(noVendor, b.workers[0]!.id);
    expect(jobA?.jobId).toBe(a.header.jobId);
    expect(jobA?.relay).toBeUndefined();
    expect(jobB?.jobId).toBe(b.header.jobId);
    expect(jobB?.relay).toBeUndefined();
  });

  it("a vendor that fails: the job is still dispatched (without a session, the agent asks the route) and the failure is logged", async () => {
    // Prepare
    const w = makeJobWorld();
    const { vendor, calls } = fakeVendor(() => Promise.reject(new Error("STS throttled")));
    w.deps.relaySessions = vendor;
    // Act
    const { header, workers } = await submittedWith(w, 1, CHANNEL);
    // Assess
    expect(calls).toHaveLength(1);
    const [dispatched] = await polledBy(w, workers[0]!.id);
    expect(dispatched?.jobId).toBe(header.jobId);
    expect(dispatched?.relay).toBeUndefined();
    expect(w.logs.filter((l) => l.level === "warn")).toEqual([
      {
        level: "warn",
        msg: "relay session not vended; the worker will ask for it",
        data: { jobId: header.jobId, attempt: 0, error: "Error: STS throttled" },
      },
    ]);
  });

  it("a vendor that does not answer: after RELAY_VEND_TIMEOUT_MS the dispatch goes without it, logged", async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const w = makeJobWorld();
    const { vendor } = fakeVendor(() => new Promise<RelaySession>(() => {}));
    w.deps.relaySessions = vendor;
    const job = { jobId: "job-hangs", attempt: 0, requester: "someone", relayChannel: CHANNEL, candidates: [{ workerId: "w1" }] };
    let outcome: RelaySession | undefined | "pending" = "pending";
    // Act
    const vended = workerRelayFor(w.deps, job as unknown as JobItem).then((s) => (outcome = s));
    await vi.advanceTimersByTimeAsync(RELAY_VEND_TIMEOUT_MS - 1);
    const before = outcome;
    await vi.advanceTimersByTimeAsync(1);
    await vended;
    // Assess
    expect(before).toBe("pending");
    expect(outcome).toBeUndefined();
    expect(w.logs.map((l) => [l.level, l.msg])).toEqual([["warn", "relay session not vended in time; the worker will ask for it"]]);
  });

  it("submit asks the vendor before its hold commits: the hold transaction is sent while the vendor's answer is still pending", async () => {
    // Prepare: a vendor whose answer the test releases; the store notes the vendor's state when the hold is sent
    const w = makeJobWorld();
    let release!: () => void;
    const answered = new Promise<void>((resolve) => (release = resolve));
    let vendorState: "not asked" | "pending" | "answered" = "not asked";
    const { vendor } = fakeVendor(async (job) => {
      vendorState = "pending";
      await answered;
      vendorState = "answered";
      return sessionFor(job);
    });
    w.deps.relaySessions = vendor;
    const atHold: string[] = [];
    const transact = w.store.transact.bind(w.store);
    w.store.transact = (ops: WriteOp[]) => {
      if (ops.some((op) => op.op === "put" && op.item.sk === "job")) atHold.push(vendorState);
      return transact(ops);
    };
    const workers = [await w.worker()];
    const r = await w.requester();
    const { envelope, header, quote } = await w.sealedJob(r);
    // Act
    const submit = submitJob(w.deps, r.id, envelope, "key-00000001", quote, { relayChannel: CHANNEL });
    await expect.poll(async () => (await w.store.get<JobItem>("jobs", jobKey(header.jobId)))?.status).toBe("assigned");
    const committedWhile = vendorState;
    release();
    await submit;
    // Assess
    expect(atHold).toEqual(["pending"]);
    expect(committedWhile).toBe("pending");
    const [dispatched] = await polledBy(w, workers[0]!.id);
    expect(dispatched?.relay?.transport).toBe("sqs");
  });

  it("a failover (the lease ran out) dispatches to the next candidate with a session for the NEW attempt", async () => {
    // Prepare
    const w = makeJobWorld();
    const { vendor, calls } = fakeVendor();
    w.deps.relaySessions = vendor;
    const { r, header, job, workers } = await submittedWith(w, 2, CHANNEL);
    w.advance(job.leaseUntil - w.clock.now());
    const lease: MatchingMessage = { type: "lease", jobId: header.jobId, attempt: 0 };
    // Act
    const outcome = await handleMatchingMessage(w.deps, lease);
    // Assess
    expect(outcome).toBe("advanced");
    expect(calls.at(-1)).toEqual({
      job: { jobId: header.jobId, attempt: 1, requester: r.id, relayChannel: CHANNEL },
      workerId: workers[1]!.id,
    });
    const [moved] = await polledBy(w, workers[1]!.id);
    expect(moved?.attempt).toBe(1);
    expect(moved?.relay?.transport === "sqs" && moved.relay.credentials.accessKeyId).toBe(relaySenderName(header.jobId, 1));
  });
});
