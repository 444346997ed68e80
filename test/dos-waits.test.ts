/**
 * Session 23 review (resource exhaustion), the leads: a long-poll whose client hangs up is let go
 * at once (the core's waits take the request's signal), and thousands of abandoned waiters on
 * one topic or queue cost linear time to remove. On 127.0.0.1, with counts of waiters observed.
 */
import { connect, type Socket } from "node:net";
import type { Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { challengeTopic, createChallenge } from "../core/challenges";
import { b64u } from "../core/crypto/encoding";
import type { SigningKeyPair } from "../core/crypto/keys";
import { signRequest } from "../core/crypto/request-auth";
import { jobTopic } from "../core/jobs/items";
import { makeJobWorld } from "../core/jobs/testing";
import { createMemoryRelay } from "../core/relay-memory";
import type { CoreDeps } from "../core/deps";
import { httpRelayRoutes, routes } from "../functions/http/routes";
import { startHttpServer } from "../local/http-server";
import { createLocalNotifier, type LocalNotifier } from "../local/notifier";
import { createLocalQueues } from "../local/queues";

// ---------------------------------------------------------------- factories

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

/** Polls `value` every 20 ms until it equals `want` or `ms` pass; returns what it saw last. */
async function settlesTo(value: () => number, want: number, ms: number): Promise<number> {
  for (const until = Date.now() + ms; value() !== want && Date.now() < until;) await new Promise((r) => setTimeout(r, 20));
  return value();
}

/**
 * Factory: the coordinator's routes on 127.0.0.1 over a job world on the real clock, with a job
 * that will not finish (its worker never answers), an idle second worker, and an open challenge.
 */
async function servedWorld() {
  const w = makeJobWorld();
  w.clock.now = () => Date.now();
  const { r, header } = await w.submitted(1);
  const idle = await w.worker();
  const challenge = await createChallenge(w.deps, r.id, { workerId: idle.id, nonce: b64u.encode(new Uint8Array(32).fill(7)) });
  // the challenge's queue message taken, so the idle worker's poll waits
  await w.queues.receive(`worker-${idle.id}`, { max: 10, waitSeconds: 0, visibilitySeconds: 600 });
  const deps: CoreDeps = { ...w.deps, relay: createMemoryRelay() } as CoreDeps;
  const { server, url } = await startHttpServer({ routes: [...routes, ...httpRelayRoutes], deps, port: 0 });
  servers.push(server);
  const notifier = w.deps.notifier as LocalNotifier;
  return {
    w,
    r,
    jobId: header.jobId,
    idle,
    challengeId: challenge.challengeId,
    notifier,
    url,
    waitedJobId: undefined as string | undefined,
  };
}

/**
 * Sends a signed request from `key` over a raw socket (a GET, or a POST of `post` under an
 * Idempotency-Key); `hangUp` closes it without reading the answer.
 */
function askRaw(url: string, key: SigningKeyPair, target: string, post?: string) {
  const u = new URL(url);
  const method = post === undefined ? "GET" : "POST";
  const idempotencyKey = post === undefined ? undefined : "key-hangs-up-01";
  const auth = signRequest(key, { method, path: target, body: post ?? "", host: u.host, idempotencyKey });
  const head = [`${method} ${target} HTTP/1.1`, "host: a", `x-cocoon-auth: ${auth}`];
  if (post !== undefined)
    head.push(`idempotency-key: ${idempotencyKey}`, "content-type: application/json", `content-length: ${Buffer.byteLength(post)}`);
  const s = connect(Number(u.port), "127.0.0.1", () => s.write(`${head.join("\r\n")}\r\n\r\n${post ?? ""}`));
  s.on("error", () => {});
  sockets.push(s);
  return { hangUp: () => s.destroy() };
}

type World = Awaited<ReturnType<typeof servedWorld>>;

/** Each long-poll route: who asks, what, and the waiters it holds while it waits. */
const LONG_POLLS: Array<{
  route: string;
  ask(x: World): Promise<{ key: SigningKeyPair; target: string; post?: string }>;
  waiters(x: World): number;
}> = [
  {
    route: "POST /v1/jobs?wait= (a submit that waits for its answer)",
    ask: async (x) => {
      // a second job of the same requester, to the worker that never answers
      const { envelope, quote, header } = await x.w.sealedJob(x.r);
      x.waitedJobId = header.jobId;
      return { key: x.r, target: "/v1/jobs?wait=20", post: JSON.stringify({ envelope, quote }) };
    },
    waiters: (x) => (x.waitedJobId ? x.notifier.pending(jobTopic(x.waitedJobId)) : 0),
  },
  {
    route: "GET /v1/jobs/{id}?wait=",
    ask: async (x) => ({ key: x.r, target: `/v1/jobs/${x.jobId}?wait=20` }),
    waiters: (x) => x.notifier.pending(jobTopic(x.jobId)),
  },
  {
    route: "GET /v1/jobs/{id}/chunks?wait=",
    ask: async (x) => ({ key: x.r, target: `/v1/jobs/${x.jobId}/chunks?from=0&wait=20` }),
    waiters: (x) => x.notifier.pending(jobTopic(x.jobId)),
  },
  {
    route: "GET /v1/agent/jobs?wait=",
    ask: async (x) => ({ key: x.idle.signing, target: "/v1/agent/jobs?wait=20" }),
    waiters: (x) => x.w.queues.stats(`worker-${x.idle.id}`).waiting,
  },
  {
    route: "GET /v1/attestations/{id}?wait=",
    ask: async (x) => ({ key: x.r, target: `/v1/attestations/${x.challengeId}?wait=20` }),
    waiters: (x) => x.notifier.pending(challengeTopic(x.challengeId)),
  },
];

// ---------------------------------------------------------------- tests

describe("session 23 leads: a long-poll whose client hangs up is let go at once", () => {
  it.each(LONG_POLLS)("$route: the waiter (listener, timer) goes when the client does, not 20 s later", async (p) => {
    // Prepare: a long-poll of 20 s, seen waiting
    const x = await servedWorld();
    const { key, target, post } = await p.ask(x);
    const client = askRaw(x.url, key, target, post);
    const waitingBefore = await settlesTo(() => p.waiters(x), 1, 3_000);
    // Act: the client goes away
    client.hangUp();
    const left = await settlesTo(() => p.waiters(x), 0, 2_000);
    // Assess: on the old code the waiter stayed until its 20 s ran out
    expect(waitingBefore).toBe(1);
    expect(left).toBe(0);
  });
});

/** Waits made by `make`, each with its own signal, all aborted oldest first (the order that made the old structures scan the most). */
type Abandoned = (signals: AbortSignal[]) => { settled: Promise<unknown>; left(): number };

/**
 * CPU microseconds (user + system) per waiter to abort `n` waits on one topic or queue, the best
 * of two runs (a run disturbed by the other tests' work counts less). Only the aborts are timed.
 */
async function abortCostPerWaiter(n: number, make: Abandoned): Promise<{ us: number; left: number }> {
  let best = Infinity;
  let left = -1;
  for (let run = 0; run < 2; run++) {
    const stops = Array.from({ length: n }, () => new AbortController());
    const waits = make(stops.map((s) => s.signal));
    const before = process.cpuUsage();
    for (const s of stops) s.abort();
    await waits.settled;
    const d = process.cpuUsage(before);
    best = Math.min(best, (d.user + d.system) / n);
    left = waits.left();
  }
  return { us: best, left };
}

/**
 * A removal in O(1) costs about the same per waiter at 80,000 waiters on one topic as at 10,000 (1.05–1.13 measured; the bound leaves room for a loaded machine); one
 * that scans the others (the old EventEmitter, the old array) costs several times more per
 * waiter, growing with the count. A ratio, not a time bound: the machine's speed cancels out.
 */
const FEW = 10_000;
const MANY = 80_000;
const MAX_GROWTH = 3;

describe("session 23 leads: removing abandoned waiters costs the same per waiter however many wait on one topic", () => {
  it("notifier: 80,000 waits on one job that all abort cost per waiter under three times what 10,000 do", async () => {
    // Prepare: waits on one topic
    const onOneJob: Abandoned = (signals) => {
      const notifier = createLocalNotifier();
      const settled = Promise.all(signals.map((s) => notifier.wait("job:one", 60_000, s)));
      return { settled, left: () => notifier.pending() };
    };
    await abortCostPerWaiter(FEW, onOneJob); // warm-up
    // Act
    const few = await abortCostPerWaiter(FEW, onOneJob);
    const many = await abortCostPerWaiter(MANY, onOneJob);
    // Assess: the old emitter cost about 20 times more per waiter at 80,000 (each removal scanned the rest)
    expect(few.left).toBe(0);
    expect(many.left).toBe(0);
    expect(many.us / few.us).toBeLessThan(MAX_GROWTH);
  });

  it("queues: 80,000 long-polls on one queue that all abort cost per waiter under three times what 10,000 do", async () => {
    // Prepare: long-polls on one worker's queue
    const onOneQueue: Abandoned = (signals) => {
      const queues = createLocalQueues();
      const settled = Promise.all(
        signals.map((signal) => queues.receive("worker-one", { max: 1, waitSeconds: 20, visibilitySeconds: 30, signal })),
      );
      return { settled, left: () => queues.stats("worker-one").waiting };
    };
    await abortCostPerWaiter(FEW, onOneQueue); // warm-up
    // Act
    const few = await abortCostPerWaiter(FEW, onOneQueue);
    const many = await abortCostPerWaiter(MANY, onOneQueue);
    // Assess: the old array was searched and spliced per removal
    expect(few.left).toBe(0);
    expect(many.left).toBe(0);
    expect(many.us / few.us).toBeLessThan(MAX_GROWTH);
  });
});
