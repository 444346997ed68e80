/**
 * The cost model's batched variant (issue 12): results posted in batches by the real agent's
 * AgentApi (agent/runtime.ts), which coalesces the results that finish while a post is in
 * flight. bench/cost.ts measureJob({ inFlight }) drives it; this file holds what that run needs
 * beyond the sequential one, kept pure where it can be:
 *
 * - lockstep(): an engine whose jobs finish together, in groups of the jobs in flight on its
 *   worker (a GPU serving concurrent requests that end at once): the agent then posts the first
 *   result alone (nothing in flight) and the group's others in one batch. This is batching's
 *   best case for that many jobs in flight; results that finish spread out batch only with
 *   those that finished while a post was in flight.
 * - isolation(): each result post runs alone (after the one before and a quiet spell, holding
 *   other requests and the job notifications back until it ends), so its Lambda time is measured
 *   without the host's concurrency (2 shared cores) in it.
 * - batchedJob(): the measured counts of the concurrent run with every other route's handler
 *   time taken from the sequential run (the same work a request, measured one at a time).
 */
import type { Engine, EngineRequest } from "../agent/engines/engine";
import type { MeasuredJob } from "./cost";
import { mulberry32 } from "../core/mulberry32";

/** The route of a worker's result post, lone or batch (functions/http/post-result.ts). */
export const RESULT_ROUTE = "POST /v1/agent/results";
/** The result route of posts that carried `n` results: the batched run prices each size as its own route. */
export const resultRoute = (n: number) => `${RESULT_ROUTE} (${n} result${n === 1 ? "" : "s"})`;
/** A running job's lease extension (agent/runtime.ts keepLease). */
export const LEASE_ROUTE = "POST /v1/agent/lease";
export const isResultRoute = (route: string) => route === RESULT_ROUTE || route.startsWith(`${RESULT_ROUTE} (`);

/** How many results a result post's answer speaks for: a batch answers { results: [...] }, a lone post one ResultResponse. */
export function resultsInAnswer(body: string): number {
  const parsed = JSON.parse(body) as { results?: unknown };
  return Array.isArray(parsed.results) ? parsed.results.length : 1;
}

/**
 * Engines that hold each job until `group` of them are held (or none came for `quietMs`), then
 * let them all run: a worker's jobs in flight finish together. One gate per engine (per worker).
 */
export function lockstep(inner: Engine, group: number, quietMs = 300): Engine {
  let held: Array<() => void> = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const release = () => {
    clearTimeout(timer);
    timer = undefined;
    const go = held;
    held = [];
    go.forEach((f) => f());
  };
  const gate = () =>
    new Promise<void>((resolve) => {
      held.push(resolve);
      if (held.length >= group) return release();
      clearTimeout(timer);
      timer = setTimeout(release, quietMs);
    });
  const stream = inner.stream?.bind(inner);
  return {
    ...inner,
    name: inner.name,
    models: () => inner.models(),
    async generate(req: EngineRequest) {
      await gate();
      return inner.generate(req);
    },
    ...(stream
      ? {
          async *stream(req: EngineRequest) {
            await gate();
            yield* stream(req);
          },
        }
      : {}),
  };
}

/**
 * Requests run alone: `alone` queues each after the one before it; from its turn on, `after`
 * holds back anything else (other requests, the job notifications its settlement sends) until it
 * has ended, and it starts only after `quietMs` more, so that what was already running settles.
 * Counts are unchanged; only when work happens moves.
 */
export function isolation(quietMs = 150) {
  let tail: Promise<void> = Promise.resolve();
  let busy: Promise<void> | undefined;
  return {
    /** `start` runs the request and resolves when it ended. */
    alone(start: () => Promise<void>) {
      tail = tail.then(async () => {
        let ended = () => {};
        const turn = new Promise<void>((r) => (ended = r));
        busy = turn;
        try {
          await new Promise((r) => setTimeout(r, quietMs));
          await start();
        } finally {
          if (busy === turn) busy = undefined;
          ended();
        }
      });
    },
    after(f: () => void) {
      if (busy) void busy.then(f);
      else f();
    },
  };
}

/** Results per result post in a measured run: its jobs over its result posts. */
export function resultsPerPost(m: MeasuredJob): number {
  const posts = [...m.routes].filter(([route]) => isResultRoute(route)).reduce((n, [, r]) => n + r.invocations, 0);
  return posts > 0 ? m.jobs / posts : 0;
}

/**
 * The batched run priced: its counts (units, requests, bytes, AWS round trips) as measured, its
 * result posts' handler times as measured alone (isolation), and every other route's handler
 * time from the sequential run, whose requests ran one at a time (in the batched run they ran
 * side by side on the host's cores, which would bill the host's contention as Lambda time).
 */
export function batchedJob(sequential: MeasuredJob, batched: MeasuredJob): MeasuredJob {
  const routes: MeasuredJob["routes"] = new Map();
  for (const [route, r] of batched.routes) {
    // a job held in its lockstep group past half its (bench-short) lease has it extended: the
    // sequential run's jobs never are, nor are the workload's engine times priced with leases
    if (route === LEASE_ROUTE) continue;
    const alone = isResultRoute(route) ? r : (sequential.routes.get(route) ?? r);
    routes.set(route, { ...r, ownMs: [...alone.ownMs] });
  }
  return { ...batched, routes };
}

/** DynamoDB units of one kind of item a result post touches: per result, or once a post. */
export interface ResultItemUnits {
  /** operation, table and item kind (CostMeter.items without the route) */
  kind: string;
  per: "result" | "post";
  /** units of one operation on it */
  wru: number;
  rru: number;
}

/**
 * What a result post's DynamoDB units are made of, from a batched run's items: an item kind
 * operated on once a post (the worker's summary read, its balance update) is per post; one
 * operated on once per result it carried (the job read and update, the reply, the requester's
 * balance when the batch's jobs are different requesters', the receipt's inbox entry) is per
 * result.
 */
export function resultItemUnits(m: MeasuredJob): ResultItemUnits[] {
  const results = [...m.routes].filter(([route]) => isResultRoute(route));
  const posts = results.reduce((n, [, r]) => n + r.invocations, 0);
  const kinds = new Map<string, { wru: number; rru: number; ops: number }>();
  for (const [key, v] of m.items) {
    const [route, kind] = key.split(" | ") as [string, string];
    if (!isResultRoute(route)) continue;
    const k = kinds.get(kind) ?? { wru: 0, rru: 0, ops: 0 };
    kinds.set(kind, { wru: k.wru + v.wru, rru: k.rru + v.rru, ops: k.ops + v.ops });
  }
  return [...kinds].map(([kind, k]) => ({
    kind,
    // A kind operated on once a post (not once a result) in a run whose posts carried more than one result.
    per: k.ops === posts && posts < m.jobs ? "post" : "result",
    wru: k.wru / k.ops,
    rru: k.rru / k.ops,
  }));
}

/** DynamoDB units per result of a post that carries `n` results: each result's own, and its share of the post's. */
export function unitsPerResult(items: readonly ResultItemUnits[], n: number): { wru: number; rru: number } {
  const share = (i: ResultItemUnits) => (i.per === "post" ? 1 / n : 1);
  return {
    wru: items.reduce((a, i) => a + i.wru * share(i), 0),
    rru: items.reduce((a, i) => a + i.rru * share(i), 0),
  };
}

/**
 * Results per post when a worker's results finish spread out (at random, `perSecond` on
 * average) instead of in lockstep: the AgentApi's rule (agent/runtime.ts) played out over
 * `results` results, seeded. A result is posted at once when no post is in flight; those that
 * finish while one is go together (at most `max`) when it is answered, `postSeconds` after it was
 * sent. A batch needs two results to finish within one post's round trip.
 */
export function spreadResultsPerPost(o: { perSecond: number; postSeconds: number; results?: number; max?: number; seed?: number }): number {
  const rnd = mulberry32(o.seed ?? 12);
  const max = o.max ?? 16;
  let at = 0;
  let answeredAt = -Infinity; // when the post in flight is answered
  let waiting = 0;
  let posts = 0;
  for (let i = 0; i < (o.results ?? 100_000); i++) {
    at += -Math.log(1 - rnd()) / o.perSecond;
    // the posts answered before this result finished, each sending what waited for it
    while (waiting > 0 && answeredAt <= at) {
      waiting -= Math.min(max, waiting);
      posts++;
      answeredAt += o.postSeconds;
    }
    if (answeredAt > at) waiting++;
    else {
      posts++;
      answeredAt = at + o.postSeconds;
    }
  }
  return (o.results ?? 100_000) / (posts + Math.ceil(waiting / max));
}
