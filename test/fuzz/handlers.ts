/**
 * A fuzz that reaches the handlers (issue 14). Scenarios of signed requests against every
 * route of the coordinator (the dev chain routes too, over an in-process stand-in of the
 * sandbox), run in process through the real router, middleware and core on the memory store
 * (test/route-world.ts), with time virtual (waits and long-polls advance the clock instead of
 * sleeping) so 100k requests take minutes, not hours.
 *
 * Bodies are built two ways, both from the zod schemas in events/ (./arbitrary.ts):
 *  - from the state a scenario built (a prepared job → its sealed submit, a submitted job → the
 *    candidate's signed result, an earned balance → a voucher, ...), valid end to end, then
 *    varied: a leaf replaced by another value of its own schema (another id, amount, attempt,
 *    signature), a character flipped, an id taken from another object;
 *  - for every route, straight from its body, query and header schemas;
 *  - either way, one command in eight (FuzzOptions.hostile) gets boundary and hostile values
 *    instead (./hostile.ts): numbers past uint32 / 2^53 / 2^64, strings past their max length
 *    and hundreds of KB long, unicode edge cases, workchains past int8, JSON nested up to
 *    100,000 deep, oversize arrays, __proto__ keys; in its body, its query or its path.
 * The dev chain routes run against one in-process TON sandbox (the real registry and vault
 * contracts, see sharedSandbox), not a stand-in that takes any number.
 * A worker's result (completed, or a failure report with or without a sealed reply) goes, three
 * times in four, to a job now assigned to that worker at its current attempt (one is submitted out
 * of band when the scenario has none open), so that results are accepted often (about one post in
 * six) and what only an accepted result reaches (the settlement, a failure's stored reply) meets
 * the valid and hostile draws alike.
 * Orderings: each scenario is a random sequence of commands, some run concurrently; clock jumps
 * and queue drains (lease checks) come in between; signed requests are replayed and forged.
 *
 * After every request: no 5xx; a 4xx carries {error:{code,message}} with a machine code; a 2xx
 * body matches the route's response schema; nothing hangs. After every scenario: no error was
 * logged; every movement balances; the ledger sums to zero; no internal account is negative;
 * each requester's held equals the maximum cost of its open jobs. A failure throws with the
 * fast-check seed and path that replay it.
 */
import fc from "fast-check";
import { z } from "zod";
import { createHash } from "node:crypto";
import { generateSigningKey, type SigningKeyPair } from "../../core/crypto/keys";
import { b64u } from "../../core/crypto/encoding";
import { createDevAttestation } from "../../core/attestation/dev";
import { StoreChainLedger } from "../../core/chain/store-ledger";
import { createMemoryRelay } from "../../core/relay-memory";
import { handleMatchingMessage } from "../../core/jobs/dispatch";
import { submitJob } from "../../core/jobs/submit";
import { jobMovementRecords, type JobItem } from "../../core/jobs/items";
import type { TabItem } from "../../core/jobs/tabs";
import { seal, MODEL } from "../../core/jobs/testing";
import type { Route } from "../../functions/http/middleware";
import { httpRelayRoutes } from "../../functions/http/routes";
import { route as openapiRoute } from "../../functions/http/openapi";
import type { DevChain } from "../../functions/http/dev-wallet";
import type { EnvelopeHeader, RequestEnvelope } from "../../events/envelope";
import { ErrorBody } from "../../events/common";
import {
  ChallengeAnswerRequest,
  ChallengeRequest,
  FailureReply,
  FaucetRequest,
  HeartbeatRequest,
  LeaseRequest,
  PrepareRequest,
  RegisterWorkerRequest,
  ResultRequest,
  SubmitRequest,
} from "../../events/api";
import { DevRedeemRequest, VoucherRequest } from "../../events/money";
import { DevPolicyProposeRequest, DevPolicyVoteRequest } from "../../events/receipts";
import { DevWithdrawRequest, WithdrawRequest } from "../../events/withdrawals";
import { AgentRelaySessionRequest, RelayPublishRequest } from "../../events/relay";
import { arbitraryFor, leaves, setAt } from "./arbitrary";
import { bodyText, hostileBody, hostilePathParam, hostileQuery } from "./hostile";
import { makeRouteWorld, VAULT, type Answer, type RouteWorld } from "../route-world";
import { seedRegistryPolicy } from "../../core/policy-registry";
import { startLocalChain, type LocalChain } from "../../local/chain";
import { devContractsFor, startLocalContracts } from "../../local/contracts";
import type { DevContracts } from "../../functions/http/dev-contracts";
import { sandboxPayouts } from "../../local/network";

export interface RouteStats {
  sent: number;
  /** passed auth and validation: the route's own function ran */
  reached: number;
  statuses: Record<string, number>;
  codes: Record<string, number>;
}

export interface FuzzReport {
  seed: number;
  scenarios: number;
  requests: number;
  ms: number;
  routes: Record<string, RouteStats>;
  /** keepGoing: every 5xx met, with the case that replays it (`--seed <seed> --path <path>`) */
  failures?: Array<{ route: string; cause: string; seed: number; path: string; hostile: number; message: string }>;
}

export interface FuzzOptions {
  /** about this many requests in all (scenarios are drawn until it is reached) */
  cases: number;
  seed?: number;
  /** commands per scenario, at most */
  maxCommands?: number;
  /** progress lines (the CLI prints them) */
  progress?: (line: string) => void;
  /** Replay one failing case: the path fast-check printed (with the chunk's seed as `seed`). */
  path?: string;
  /** Positive controls: break each scenario's world on purpose (the fuzz must then fail). */
  sabotage?: (w: RouteWorld) => void;
  /**
   * Share of commands whose body, query or path gets boundary and hostile values (./hostile.ts)
   * instead of schema-shaped ones; default 0.125 (the schema-shaped coverage stays).
   */
  hostile?: number;
  /** Count every 5xx (with its replay) and go on, instead of throwing at the first; other failures still throw. */
  keepGoing?: boolean;
}

/** Longest a single request may take (real time; waits are virtual). */
const HANG_MS = 15_000;
/** Longest a whole scenario may take. */
const SCENARIO_HANG_MS = 120_000;
const KEYS = ["idem-key-aaaa", "idem-key-bbbb", "idem-key-cccc"];
const ADDRESSES = ["0:" + "a".repeat(64), "0:" + "b".repeat(64), "-1:" + "c".repeat(64), "0:" + "f".repeat(64)];

/**
 * One in-process relay for every scenario of a run: a relay's sweep timer is never cleared, so a
 * relay per scenario kept every scenario's chunks alive (about 1 GB after 8k scenarios, and the
 * run stalled). Job ids never repeat across scenarios; the LRU bound keeps it small.
 */
const sharedRelay = createMemoryRelay({ maxJobs: 256 });

class FuzzFailure extends Error {
  override readonly name = "FuzzFailure";
}

// ---------------------------------------------------------------- the world of one scenario

/**
 * One in-process TON sandbox for every scenario of a run (about 0.5 s to start, in memory,
 * nothing on the network): the dev routes reach the real registry contracts (local/contracts.ts
 * devContractsFor) and a dev redeem or withdrawal is parsed and sent to the real vault as the
 * local network does (local/network.ts devChainFor), so what the contracts cannot take (a
 * number past uint32, a workchain past int8, an owner the sandbox lacks) meets the real code.
 * Its clock and keys are fixed: a run replays.
 */
let sandbox: Promise<{ chain: LocalChain; contracts: DevContracts }> | undefined;
function sharedSandbox(w: RouteWorld) {
  return (sandbox ??= (async () => {
    const chain = await startLocalChain({ now: 1_760_000_000, coordinatorSeed: Buffer.alloc(32, 14) });
    const contracts = await startLocalContracts(chain, {
      seed: seedRegistryPolicy({
        attestation: w.deps.policy,
        pricing: w.deps.config.pricing,
        coordinatorKey: Buffer.from(chain.coordinator.publicKey).toString("hex"),
        devImage: true,
      }),
    });
    return { chain, contracts: devContractsFor(contracts) };
  })());
}

/**
 * The local sandbox the dev chain routes drive: deposits credit the scenario's ledger as the
 * watcher would (a stand-in); redeems and withdrawals go to the shared sandbox's vault.
 */
function fakeDevChain(w: RouteWorld, chain: LocalChain): DevChain {
  const ledger = new StoreChainLedger(w.store);
  let tx = 0;
  const hash = () => createHash("sha256").update(`tx${++tx}`).digest("hex");
  const addressOf = (owner: string) => `0:${createHash("sha256").update(owner).digest("hex")}`;
  return {
    vault: VAULT,
    minDeposit: 1_000_000n,
    async walletOf(owner) {
      return { address: addressOf(owner), balance: 5_000_000_000n };
    },
    async deposit(account, amount) {
      const txHash = hash();
      if (amount % 7n === 3n) return { txHash, success: false, error: "ERR_LOW_VALUE" }; // the vault refuses some
      await ledger.creditDeposit(txHash, account, amount, w.clock.now());
      return { txHash, success: true };
    },
    // as local/network.ts devChainFor: the adapters' parse (a 400 when it refuses), then the real vault
    ...sandboxPayouts(chain, (owner) => `wallet:${owner}`),
    async vaultBalance() {
      return 10_000_000_000n;
    },
    async sync() {},
  };
}

interface Actor {
  key: SigningKeyPair;
  kind: "requester" | "worker" | "stranger";
}

interface Scenario {
  w: RouteWorld;
  stats: Record<string, RouteStats>;
  requesters: Actor[];
  workers: Array<Actor & { worker: Awaited<ReturnType<RouteWorld["worker"]>> }>;
  stranger: Actor;
  prepared: Array<{ who: SigningKeyPair; p: any }>;
  jobs: Array<{ who: SigningKeyPair; envelope: RequestEnvelope; header: EnvelopeHeader; quote: unknown }>;
  withdrawals: any[];
  vouchers: any[];
  challenges: string[];
  /** signed requests sent so far, for replays and forgeries */
  sentRequests: Array<ReturnType<RouteWorld["request"]>>;
  /** ids seen, for swapping between objects */
  ids: string[];
  requests: number;
  /** per mille of commands drawn hostile */
  hostile: number;
  /** keepGoing: told of every 5xx instead of throwing */
  on5xx?: (route: string, cause: string, message: string) => void;
  had5xx?: boolean;
}

async function newScenario(
  stats: Record<string, RouteStats>,
  sabotage: ((w: RouteWorld) => void) | undefined,
  hostile: number,
): Promise<Scenario> {
  const reached = (r: Route): Route => ({
    spec: r.spec,
    run: (input) => {
      stat(stats, r).reached++;
      return r.run(input);
    },
  });
  const w = makeRouteWorld({ wrap: reached, extraRoutes: [...httpRelayRoutes, openapiRoute] });
  const deps = w.deps as typeof w.deps & { relay: unknown; devChain: DevChain; devContracts: DevContracts };
  const sb = await sharedSandbox(w);
  deps.relay = sharedRelay;
  deps.devChain = fakeDevChain(w, sb.chain);
  deps.devContracts = sb.contracts;
  deps.config = { ...deps.config, maxWaitSeconds: 2 };
  // Virtual time: a wait advances the clock by what it would have waited, at once.
  deps.notifier = { notify() {}, wait: async (_topic, ms) => void w.advance(Math.max(0, ms)) };
  const receive = w.queues.receive.bind(w.queues);
  w.queues.receive = (async (q: Parameters<typeof receive>[0], opts: Parameters<typeof receive>[1]) => {
    const got = await receive(q, { ...opts, waitSeconds: 0 });
    if (got.length === 0 && opts.waitSeconds > 0) w.advance(opts.waitSeconds * 1000);
    return got;
  }) as typeof w.queues.receive;

  if (TRACE) process.stderr.write("setup: requesters and workers\n");
  const requesters = [await w.requester(), await w.requester(3_000_000_000n)].map((key) => ({ key, kind: "requester" as const }));
  const workers = [];
  for (let i = 0; i < 2; i++) {
    const worker = await w.worker(10_000 + i * 2_000);
    workers.push({ key: worker.signing, kind: "worker" as const, worker });
  }
  const stranger = { key: generateSigningKey(), kind: "stranger" as const };
  // A deployment that pays its operator: the stranger's key is the operator's (POST /v1/operator/voucher
  // answers it 409 nothing_earned or a voucher, everyone else 403; unconfigured it would be a 503 on every call).
  deps.operatorKeyId = stranger.key.id;
  sabotage?.(w);
  if (TRACE) process.stderr.write("setup: the settled job\n");
  // One job already settled: worker 0 has earnings (vouchers can succeed) and the job list is not empty.
  const first = await w.sealedJob(requesters[0]!.key);
  await w.call(
    requesters[0]!.key,
    "POST",
    "/v1/jobs",
    { envelope: first.envelope, quote: first.quote },
    { idempotencyKey: "seed-job-0001" },
  );
  const assigned = jobItem(w, first.header.jobId)?.candidates[0]?.workerId;
  const earner = workers.find((x) => x.key.id === assigned) ?? workers[0]!;
  await w.call(earner.key, "POST", "/v1/agent/results", w.completed(earner.worker, first.envelope));
  return {
    w,
    stats,
    requesters,
    workers,
    stranger,
    prepared: [],
    jobs: [{ who: requesters[0]!.key, envelope: first.envelope, header: first.header, quote: first.quote }],
    withdrawals: [],
    vouchers: [],
    challenges: [],
    sentRequests: [],
    ids: [...requesters, ...workers, stranger].map((a) => a.key.id),
    requests: 0,
    hostile,
  };
}

function stat(stats: Record<string, RouteStats>, r: Route): RouteStats {
  const k = `${r.spec.method} ${r.spec.path}`;
  return (stats[k] ??= { sent: 0, reached: 0, statuses: {}, codes: {} });
}

// ---------------------------------------------------------------- drawing from a seed

/** One value of `arb`, fixed by `seed` (so a failing case replays). */
const draw = <T>(arb: fc.Arbitrary<T>, seed: number): T => fc.sample(arb, { seed, numRuns: 1 })[0]!;

const pick = <T>(xs: readonly T[], n: number): T | undefined => (xs.length ? xs[Math.abs(n) % xs.length] : undefined);

const B64U_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * A valid body, varied by `mode`: 0-2 as it is; 3-4 one leaf redrawn from its schema; 5 two
 * leaves; 6 one character of a string leaf replaced (a bit flip in a signature, id or
 * ciphertext); 7 a string leaf replaced by an id from elsewhere in the scenario.
 */
function vary<T>(s: Scenario, schema: z.ZodType, value: T, mode: number, seed: number, hostile = false): T {
  if (hostile) return hostileBody(schema, value, seed);
  const m = Math.abs(mode) % 8;
  if (m <= 2) return value;
  const ls = leaves(schema, value);
  if (ls.length === 0) return value;
  const at = (k: number) => ls[Math.abs(seed + k * 7919) % ls.length]!;
  const get = (path: Array<string | number>) => path.reduce<any>((v, k) => v?.[k], value);
  if (m <= 5) {
    let out = value;
    for (let k = 0; k < (m === 5 ? 2 : 1); k++) {
      const leaf = at(k);
      out = setAt(out, leaf.path, draw(arbitraryFor(leaf.schema), seed + k));
    }
    return out;
  }
  const strings = ls.filter((l) => typeof get(l.path) === "string");
  const leaf = pick(strings, seed);
  if (!leaf) return value;
  const old = get(leaf.path) as string;
  if (m === 6) {
    if (old.length === 0) return value;
    const i = Math.abs(seed) % old.length;
    const c = B64U_CHARS[(B64U_CHARS.indexOf(old[i]!) + 1 + (Math.abs(seed) % 63)) % 64]!;
    return setAt(value, leaf.path, old.slice(0, i) + c + old.slice(i + 1));
  }
  return setAt(value, leaf.path, pick(s.ids, seed) ?? old);
}

// ---------------------------------------------------------------- sending and checking

/** Runs `f` (one request) with a real-time limit: a handler that never answers is a failure, not a stuck run. */
async function timed<T>(what: string, f: () => Promise<T>, limitMs = HANG_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new FuzzFailure(`${what} did not answer within ${limitMs} ms`)), limitMs)),
  );
  try {
    return await Promise.race([f(), hang]);
  } finally {
    clearTimeout(timer);
  }
}

function routeOf(s: Scenario, method: string, path: string): Route | undefined {
  return s.w.routes.find((r) => r.spec.method === method && new RegExp(`^${r.spec.path.replace(/\{[^}]+\}/g, "[^/]+")}$`).test(path));
}

/** Sends one request and checks its answer; returns it. */
async function send(s: Scenario, req: ReturnType<RouteWorld["request"]>): Promise<Answer> {
  s.requests++;
  s.sentRequests.push(req);
  if (s.sentRequests.length > 50) s.sentRequests.shift();
  const route = routeOf(s, req.method, req.path);
  const what = `${req.method} ${req.path}${req.rawQuery ? `?${req.rawQuery}` : ""}`;
  const a = await timed(what, () => s.w.send(req));
  if (route) {
    const st = stat(s.stats, route);
    st.sent++;
    st.statuses[a.status] = (st.statuses[a.status] ?? 0) + 1;
    if (a.status >= 400 && a.json?.error?.code) st.codes[a.json.error.code] = (st.codes[a.json.error.code] ?? 0) + 1;
  }
  const fail = (why: string) => {
    // a 500's cause is only in the coordinator's log (the answer carries a reference): show it
    const logged = s.w.logs.filter((l) => l.level === "error").at(-1);
    return new FuzzFailure(
      `${what} → ${a.status}: ${why}\nanswer: ${a.text.slice(0, 600)}${logged ? `\nlogged: ${JSON.stringify(logged).slice(0, 800)}` : ""}\nbody sent: ${req.body.slice(0, 1500)}`,
    );
  };
  if (a.status >= 500) {
    if (!s.on5xx) throw fail("a 5xx");
    const logged = s.w.logs.filter((l) => l.level === "error").at(-1) as { data?: { error?: unknown } } | undefined;
    // grouped by the logged error with its numbers and ids taken out ("owner index 13" and "owner index 5" are one bug)
    const cause = String(logged?.data?.error ?? a.text)
      .split("\n")[0]!
      .replace(/\b(job|chl)_[0-9a-z]{26}\b/g, "$1_ID")
      .replace(/(?<!for )\b\d+\b/g, "N");
    s.had5xx = true;
    s.on5xx(route ? `${route.spec.method} ${route.spec.path}` : what, cause.slice(0, 200), fail("a 5xx").message);
    return a;
  }
  if (a.status >= 400) {
    const e = ErrorBody.safeParse(a.json);
    if (!e.success) throw fail("a 4xx without {error:{code,message}}");
    if (!/^[a-z][a-z0-9_]*$/.test(e.data.error.code)) throw fail(`the code ${JSON.stringify(e.data.error.code)} is not machine-readable`);
    if (e.data.error.message.trim() === "") throw fail("a 4xx without a message");
  } else if (route?.spec.response && a.status !== 204) {
    const r = route.spec.response.safeParse(a.json);
    if (!r.success)
      throw fail(
        `the ${a.status} does not match the route's response schema: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      );
  }
  return a;
}

const call = (
  s: Scenario,
  key: SigningKeyPair | undefined,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  o: Parameters<RouteWorld["request"]>[4] = {},
) => send(s, s.w.request(key, method, path, body, body === undefined || o.rawBody !== undefined ? o : { ...o, rawBody: bodyText(body) }));

/** Whether this command's body, query or path is drawn hostile (./hostile.ts). */
const hostile = (s: Scenario, c: Cmd) => c.h < s.hostile;

// ---------------------------------------------------------------- commands

export interface Cmd {
  kind: (typeof KINDS)[number];
  a: number;
  b: number;
  mode: number;
  seed: number;
  /** below the run's per mille: hostile values */
  h: number;
}

const KINDS = [
  "prepare",
  "submit",
  "result",
  "lease",
  "poll",
  "heartbeat",
  "getJob",
  "cancel",
  "account",
  "withdraw",
  "withdrawalStatus",
  "voucher",
  "faucet",
  "register",
  "challenge",
  "answer",
  "getChallenge",
  "relay",
  "dev",
  "schema",
  "forge",
  "drain",
  "advance",
  "models",
  "policy",
] as const;

/** Weights: the job and money flows most, the rest often enough to be reached in a short run. */
const WEIGHTS: Record<(typeof KINDS)[number], number> = {
  prepare: 8,
  submit: 8,
  result: 8,
  lease: 2,
  poll: 2,
  heartbeat: 1,
  getJob: 3,
  cancel: 2,
  account: 1,
  withdraw: 4,
  withdrawalStatus: 2,
  voucher: 3,
  faucet: 2,
  register: 2,
  challenge: 2,
  answer: 2,
  getChallenge: 1,
  relay: 3,
  dev: 4,
  schema: 16,
  forge: 4,
  drain: 3,
  advance: 2,
  models: 1,
  policy: 2,
};

const cmdArb: fc.Arbitrary<Cmd> = fc.record({
  kind: fc.oneof(...KINDS.map((k) => ({ arbitrary: fc.constant(k), weight: WEIGHTS[k] }))),
  a: fc.nat(1000),
  b: fc.nat(1000),
  mode: fc.nat(7),
  seed: fc.integer(),
  h: fc.nat(999),
});

type Step = Cmd | { kind: "concurrent"; cmds: Cmd[] };
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: cmdArb, weight: 9 },
  { arbitrary: fc.record({ kind: fc.constant("concurrent" as const), cmds: fc.array(cmdArb, { minLength: 2, maxLength: 4 }) }), weight: 1 },
);

/** A drawn dev redeem or withdrawal body made out to this world's vault, but one time in four. */
const forVault = (body: Record<string, Record<string, unknown>>, field: string, mode: number) =>
  mode % 4 === 3 ? body : { ...body, [field]: { ...body[field], vault: VAULT } };

const anyActor = (s: Scenario, n: number): SigningKeyPair => pick([...s.requesters, ...s.workers, s.stranger], n)!.key;
const requester = (s: Scenario, n: number) => (n % 10 === 9 ? s.stranger.key : pick(s.requesters, n)!.key);
const worker = (s: Scenario, n: number) => (n % 10 === 9 ? s.stranger.key : pick(s.workers, n)!.key);

type ScenarioJob = Scenario["jobs"][number];

/**
 * A job's item as the store holds it now, read with its scan, not its get: what the fuzz reads to
 * build a request stays out of a store a positive control breaks on purpose (only the fuzzed
 * requests meet it).
 */
const jobItem = (w: RouteWorld, jobId: string): JobItem | undefined =>
  w.store.scan<JobItem>("jobs").find((i) => i.pk === jobId && i.sk === "job");

/** The job items of the scenario now assigned to one of its own workers (a candidate the stranger took after registering cannot be answered). */
function assignedItems(s: Scenario): Map<string, JobItem> {
  // read with the store's scan (as jobItem)
  const open = new Map<string, JobItem>();
  for (const item of s.w.store.scan<JobItem>("jobs"))
    if (item.sk === "job" && item.status === "assigned" && s.workers.some((x) => x.key.id === item.candidates[item.attempt]?.workerId))
      open.set(item.pk as string, item);
  return open;
}

/** The `n`th of the scenario's jobs now assigned to one of its workers, with its item: where that worker's result at the job's attempt is accepted. */
function assignedJob(s: Scenario, n: number): { job: ScenarioJob; item: JobItem } | undefined {
  const open = assignedItems(s);
  return pick(
    s.jobs.flatMap((job) => (open.has(job.header.jobId) ? [{ job, item: open.get(job.header.jobId)! }] : [])),
    n,
  );
}

/**
 * A job submitted now for one of the requesters (out of band: prepared and submitted through the
 * core, as the scenario's first job, so the fuzzed requests keep their mix), sealed to one or two
 * of the workers: the scenario's generated jobs are rarely still open when a result is drawn
 * (most submits are varied, refused, or settled by then). Undefined when the core refuses (no
 * worker free, no funds left) or the store fails (a positive control breaks it on purpose): the
 * fuzzed requests meet either.
 */
async function freshJob(s: Scenario, c: Cmd): Promise<{ job: ScenarioJob; item: JobItem } | undefined> {
  const who = pick(s.requesters, c.a)!.key;
  let job: ScenarioJob;
  try {
    const { header, envelope, quote } = await s.w.sealedJob(who, {
      candidates: 1 + (c.b % 2),
      maxTokens: 16 + (c.b % 48),
      maxPromptTokens: 100 + (c.a % 400),
    });
    await submitJob(s.w.deps, who.id, envelope, `submit-${header.jobId}`, quote);
    job = { who, envelope, header, quote };
  } catch {
    return undefined;
  }
  s.jobs.push(job);
  s.ids.push(job.header.jobId);
  const item = assignedItems(s).get(job.header.jobId);
  return item && { job, item };
}

/** FUZZ_TRACE=1: each command on stderr as it starts (to find where a run hangs). */
const TRACE = process.env.FUZZ_TRACE === "1";

async function run(s: Scenario, c: Cmd): Promise<void> {
  const { w } = s;
  if (TRACE) process.stderr.write(`${JSON.stringify(c)}\n`);
  switch (c.kind) {
    case "prepare": {
      const who = requester(s, c.a);
      const valid = {
        model: MODEL,
        maxTokens: 1 + (c.b % 64),
        maxPromptTokens: 1 + ((c.b * 7) % 500),
        tiers: ["dev"],
        candidates: 1 + (c.a % 3),
      };
      const a = await call(s, who, "POST", "/v1/jobs/prepare", vary(s, PrepareRequest, valid, c.mode, c.seed, hostile(s, c)));
      if (a.status === 200) {
        s.prepared.push({ who, p: a.json });
        s.ids.push(a.json.jobId);
      }
      return;
    }
    case "submit": {
      const prep = pick(s.prepared, c.a);
      if (!prep) return;
      const { p, who } = prep;
      const header: EnvelopeHeader = {
        v: 1,
        jobId: p.jobId,
        requester: who.id,
        model: p.model,
        maxTokens: p.maxTokens,
        maxPromptTokens: p.maxPromptTokens,
        maxCost: p.maxCost,
        replyKey: b64u.encode(generateSigningKey().publicKey),
      };
      const envelope = seal(
        header,
        p.candidates.map((x: { workerId: string; hpkePublicKey: string }) => ({ workerId: x.workerId, hpkePublicKey: x.hpkePublicKey })),
      );
      const body = vary(s, SubmitRequest, { envelope, quote: p.quote }, c.mode, c.seed, hostile(s, c));
      const key = c.b % 4 === 0 ? pick(KEYS, c.b)! : `submit-${p.jobId}`;
      const a = await call(s, c.b % 17 === 0 ? requester(s, c.b) : who, "POST", "/v1/jobs", body, {
        idempotencyKey: key,
        ...(c.b % 5 === 0 ? { query: `wait=${c.b % 3}` } : {}),
      });
      if (a.status === 202)
        s.jobs.push({
          who,
          envelope: body.envelope as RequestEnvelope,
          header: (body.envelope as RequestEnvelope).header,
          quote: body.quote,
        });
      return;
    }
    case "result": {
      // three in four: a job now assigned to one of the scenario's workers (one is submitted for
      // the purpose when there is none), where a result can settle; else any job (mostly settled)
      const target = c.mode % 4 ? (assignedJob(s, c.a) ?? (await freshJob(s, c))) : undefined;
      const job = target?.job ?? pick(s.jobs, c.a);
      if (!job) return;
      const item = target?.item ?? jobItem(w, job.header.jobId);
      const assigned = item?.candidates[item.attempt]?.workerId;
      const by = c.b % 4 === 0 ? pick(s.workers, c.b)! : (s.workers.find((x) => x.key.id === assigned) ?? pick(s.workers, c.b)!);
      const attempt = item?.attempt ?? 0;
      // a third are failure reports; two in three of them carry a sealed error text (as an agent sends it: FailureReply)
      const reply = c.a % 3 ? { reply: draw(arbitraryFor(FailureReply), c.seed) } : {};
      const failed = (code: string) => ({ kind: "failed", jobId: job.header.jobId, attempt, code, ...reply });
      let body: unknown;
      if (c.b % 3 === 0) {
        body = failed(pick(["engine_error", "engine_unavailable", "bad_request", "limits_exceeded"], c.seed)!);
        // hostile, half the time only in the sealed reply: what the coordinator stores with the job as sent
        if (hostile(s, c) && reply.reply && c.mode % 2) {
          const sealed = hostileBody(FailureReply, reply.reply, c.seed);
          await call(s, by.key, "POST", "/v1/agent/results", { ...(body as object), reply: sealed });
          return;
        }
      } else {
        // usage within the header's limits, but one time in four past one of them (a 400)
        const h = job.header;
        const over = Math.floor(c.a / 10) % 4 === 0;
        const usage = {
          promptTokens: over && c.b % 2 ? h.maxPromptTokens + 1 + (c.a % 300) : c.a % (h.maxPromptTokens + 1),
          completionTokens: over && !(c.b % 2) ? h.maxTokens + 1 + (c.b % 80) : c.b % (h.maxTokens + 1),
        };
        try {
          body = w.completed(by.worker, job.envelope, { attempt, usage });
        } catch {
          // a varied envelope the worker cannot answer (say, a reply key that is not canonical base64url): what an agent reports
          body = failed("bad_request");
        }
      }
      await call(s, by.key, "POST", "/v1/agent/results", vary(s, ResultRequest, body, c.mode, c.seed, hostile(s, c)));
      return;
    }
    case "lease": {
      const job = pick(s.jobs, c.a);
      const item = job ? jobItem(w, job.header.jobId) : undefined;
      await call(
        s,
        worker(s, c.b),
        "POST",
        "/v1/agent/lease",
        vary(
          s,
          LeaseRequest,
          { jobId: job?.header.jobId ?? "job_" + "0".repeat(26), attempt: item?.attempt ?? 0 },
          c.mode,
          c.seed,
          hostile(s, c),
        ),
      );
      return;
    }
    case "poll":
      await call(s, worker(s, c.a), "GET", "/v1/agent/jobs", undefined, { query: `wait=${c.b % 3}` });
      return;
    case "heartbeat": {
      await call(
        s,
        worker(s, c.a),
        "POST",
        "/v1/agents/heartbeat",
        vary(s, HeartbeatRequest, draw(arbitraryFor(HeartbeatRequest), c.seed), 0, c.seed, hostile(s, c)),
      );
      return;
    }
    case "getJob": {
      const job = pick(s.jobs, c.a);
      const id = job && c.b % 4 !== 0 ? job.header.jobId : draw(arbitraryFor(z.string().regex(/^job_[0-9a-z]{26}$/)), c.seed);
      const who = job && c.b % 3 !== 0 ? job.who : anyActor(s, c.b);
      await call(s, who, "GET", `/v1/jobs/${id}`, undefined, c.mode % 2 ? { query: `wait=${c.b % 3}` } : {});
      return;
    }
    case "cancel": {
      // the owner's cancel of one of the scenario's jobs (running or ended), another account's, or of an unknown id: the
      // money invariants then hold with cancelled jobs failed over (never), refunded and settled
      const job = pick(s.jobs, c.a);
      const id = job && c.b % 4 !== 0 ? job.header.jobId : draw(arbitraryFor(z.string().regex(/^job_[0-9a-z]{26}$/)), c.seed);
      const who = job && c.b % 3 !== 0 ? job.who : anyActor(s, c.b);
      await call(s, who, "POST", `/v1/jobs/${id}/cancel`);
      return;
    }
    case "account":
      await call(s, anyActor(s, c.a), "GET", "/v1/account");
      return;
    case "withdraw": {
      const valid = { amount: String([1, 1_000, 1_000_000_000, 2_999_999_999, 10_000_000_001][c.b % 5]), to: pick(ADDRESSES, c.a)! };
      const a = await call(
        s,
        requester(s, c.a),
        "POST",
        "/v1/account/withdraw",
        vary(s, WithdrawRequest, valid, c.mode, c.seed, hostile(s, c)),
        {
          idempotencyKey: c.b % 3 === 0 ? pick(KEYS, c.a)! : `wd-${c.seed}`,
        },
      );
      if (a.status === 200) s.withdrawals.push(a.json);
      return;
    }
    case "withdrawalStatus": {
      const seq = c.b % 7 === 0 ? "x1" : String(c.b % 4);
      await call(s, requester(s, c.a), "GET", `/v1/account/withdrawals/${seq}`);
      return;
    }
    case "voucher": {
      const a = await call(
        s,
        worker(s, c.a),
        "POST",
        "/v1/agents/voucher",
        vary(s, VoucherRequest, { payoutAddress: pick(ADDRESSES, c.b)! }, c.mode, c.seed, hostile(s, c)),
      );
      if (a.status === 200) s.vouchers.push(a.json);
      return;
    }
    case "faucet": {
      await call(
        s,
        anyActor(s, c.a),
        "POST",
        "/v1/account/faucet",
        vary(s, FaucetRequest, { amount: String(1 + ((c.b * 1_000_003) % 5_000_000_000)) }, c.mode, c.seed, hostile(s, c)),
        c.b % 2 ? { idempotencyKey: pick(KEYS, c.b)! } : {},
      );
      return;
    }
    case "register": {
      const who = c.a % 3 === 0 ? s.stranger : pick(s.workers, c.a)!;
      const n = await call(s, who.key, "POST", "/v1/agents/nonce");
      if (n.status !== 200) return;
      const kem = generateSigningKey(); // any 32-byte public key will do as the HPKE key at registration
      const nonce = c.b % 6 === 0 ? b64u.encode(new Uint8Array(32)) : n.json.nonce;
      const attestation = createDevAttestation({
        hpkePublicKey: kem.publicKey,
        signingPublicKey: who.key.publicKey,
        nonce: b64u.decode(nonce),
        now: w.clock.now(),
      });
      await call(
        s,
        who.key,
        "POST",
        "/v1/agents",
        vary(
          s,
          RegisterWorkerRequest,
          { attestation, models: [{ model: MODEL, priceBps: 10_000 + c.b }], capacity: 1 + (c.a % 8) },
          c.mode,
          c.seed,
        ),
      );
      return;
    }
    case "challenge": {
      const a = await call(
        s,
        requester(s, c.a),
        "POST",
        "/v1/attestations",
        vary(
          s,
          ChallengeRequest,
          { workerId: worker(s, c.b).id, nonce: b64u.encode(new Uint8Array(32).fill(c.b % 256)) },
          c.mode,
          c.seed,
          hostile(s, c),
        ),
      );
      if (a.status === 200 || a.status === 201) {
        s.challenges.push(a.json.challengeId);
        s.ids.push(a.json.challengeId);
      }
      return;
    }
    case "answer": {
      const by = pick(s.workers, c.a)!;
      const challengeId = pick(s.challenges, c.b) ?? draw(arbitraryFor(z.string().regex(/^chl_[0-9a-z]{26}$/)), c.seed);
      const attestation = createDevAttestation({
        hpkePublicKey: by.worker.kem.publicKey,
        signingPublicKey: by.key.publicKey,
        nonce: new Uint8Array(32).fill(c.b % 256),
        now: w.clock.now(),
      });
      await call(
        s,
        by.key,
        "POST",
        "/v1/agent/attestations",
        vary(s, ChallengeAnswerRequest, { challengeId, attestation }, c.mode, c.seed, hostile(s, c)),
      );
      return;
    }
    case "getChallenge": {
      const id = pick(s.challenges, c.a) ?? "chl_" + "0".repeat(26);
      await call(s, requester(s, c.b), "GET", `/v1/attestations/${id}`, undefined, { query: `wait=${c.b % 3}` });
      return;
    }
    case "relay": {
      const job = pick(s.jobs, c.a);
      const id = job?.header.jobId ?? "job_" + "1".repeat(26);
      const item = job ? jobItem(w, id) : undefined;
      const assigned = s.workers.find((x) => x.key.id === item?.candidates[item.attempt]?.workerId)?.key ?? worker(s, c.b);
      switch (c.b % 4) {
        case 0:
          await call(s, job?.who ?? requester(s, c.b), "POST", `/v1/jobs/${id}/relay`);
          return;
        case 1:
          await call(
            s,
            assigned,
            "POST",
            `/v1/agent/jobs/${id}/relay`,
            vary(s, AgentRelaySessionRequest, { attempt: item?.attempt ?? 0 }, c.mode, c.seed, hostile(s, c)),
          );
          return;
        case 2: {
          const chunks = draw(arbitraryFor(RelayPublishRequest), c.seed) as { chunks: Array<Record<string, unknown>> };
          const body = { chunks: chunks.chunks.map((ch) => ({ ...ch, ...(c.mode % 2 ? { attempt: item?.attempt ?? 0 } : {}) })) };
          await call(s, assigned, "POST", `/v1/agent/jobs/${id}/chunks`, vary(s, RelayPublishRequest, body, 0, c.seed, hostile(s, c)));
          return;
        }
        default:
          await call(s, job?.who ?? requester(s, c.b), "GET", `/v1/jobs/${id}/chunks`, undefined, {
            query: `from=${c.a % 4}&wait=${c.mode % 3}`,
          });
          return;
      }
    }
    case "dev": {
      switch (c.b % 4) {
        case 0:
          await call(s, anyActor(s, c.a), "GET", "/v1/dev/wallet");
          return;
        case 1:
          await call(
            s,
            requester(s, c.a),
            "POST",
            "/v1/dev/wallet/deposit",
            vary(s, FaucetRequest, { amount: String(1_000_000 + Math.abs(c.seed) * 3) }, c.mode, c.seed, hostile(s, c)),
          );
          return;
        case 2: {
          // drawn, mostly for this vault (the route refuses another one before the chain sees it)
          const voucher = pick(s.vouchers, c.a) ?? forVault(draw(arbitraryFor(DevRedeemRequest), c.seed) as any, "voucher", c.mode);
          await call(
            s,
            worker(s, c.a),
            "POST",
            "/v1/dev/wallet/redeem",
            vary(s, DevRedeemRequest, "voucher" in voucher ? voucher : { voucher }, c.mode, c.seed, hostile(s, c)),
          );
          return;
        }
        default: {
          const withdrawal = pick(s.withdrawals, c.a);
          const body = withdrawal ? { withdrawal } : forVault(draw(arbitraryFor(DevWithdrawRequest), c.seed) as any, "withdrawal", c.mode);
          await call(
            s,
            requester(s, c.a),
            "POST",
            "/v1/dev/wallet/withdraw",
            vary(s, DevWithdrawRequest, body, c.mode, c.seed, hostile(s, c)),
          );
          return;
        }
      }
    }
    case "schema": {
      // Any route, body / query / headers straight from its schemas, path ids from the scenario or drawn.
      const r = pick(s.w.routes, c.a)!;
      const path = r.spec.path.replace(/\{([^}]+)\}/g, (_m, name: string) =>
        hostile(s, c) && c.b % 3 === 0
          ? hostilePathParam(c.seed, name === "seqno" ? "1" : "job_" + "3".repeat(26))
          : name === "seqno"
            ? String(c.b % 5)
            : c.mode % 2
              ? (pick(
                  s.ids.filter((i) => i.startsWith("job_") || i.startsWith("chl_")),
                  c.b,
                ) ?? "job_" + "2".repeat(26))
              : draw(fc.constantFrom("job_" + "3".repeat(26), "chl_" + "4".repeat(26), "x", "%20", "job_"), c.seed),
      );
      const drawn = r.spec.body ? draw(arbitraryFor(r.spec.body), c.seed) : undefined;
      const body = r.spec.body && hostile(s, c) && c.b % 3 !== 0 ? hostileBody(r.spec.body, drawn, c.seed) : drawn;
      const query = r.spec.query ? (draw(arbitraryFor(r.spec.query), c.seed + 1) as Record<string, unknown>) : undefined;
      const headers = r.spec.headers ? (draw(arbitraryFor(r.spec.headers), c.seed + 2) as Record<string, string | undefined>) : {};
      const qs =
        hostile(s, c) && c.b % 3 === 1
          ? hostileQuery(c.seed, Object.keys(query ?? { wait: 1 }))
          : query
            ? new URLSearchParams(
                Object.entries(query).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)] as [string, string]])),
              ).toString()
            : "";
      await call(s, r.spec.auth === "none" ? undefined : anyActor(s, c.b), r.spec.method, path, body, {
        ...(qs ? { query: qs } : {}),
        ...(headers["idempotency-key"] ? { idempotencyKey: headers["idempotency-key"] } : {}),
      });
      return;
    }
    case "forge": {
      const prev = pick(s.sentRequests, c.a);
      if (!prev) return;
      const auth = prev.headers["x-cocoon-auth"] ?? "";
      const forged = { ...prev, headers: { ...prev.headers } };
      switch (c.b % 7) {
        case 0: // the very same request again (a replay)
          break;
        case 1: // a flipped signature character
          forged.headers["x-cocoon-auth"] = auth.replace(/sig=(.)/, (_m, ch: string) => `sig=${ch === "A" ? "B" : "A"}`);
          break;
        case 2: // another body under the same signature
          forged.body = prev.body ? prev.body.replace(/\d/, (d) => String((Number(d) + 1) % 10)) : "{}";
          break;
        case 3: // the header of another request
          forged.headers["x-cocoon-auth"] = pick(s.sentRequests, c.seed)?.headers["x-cocoon-auth"] ?? auth;
          break;
        case 4: // the Idempotency-Key swapped or dropped
          if (c.mode % 2) forged.headers["idempotency-key"] = pick(KEYS, c.seed)!;
          else delete forged.headers["idempotency-key"];
          break;
        case 5: // no signature at all
          delete forged.headers["x-cocoon-auth"];
          break;
        default: // another deployment
          forged.host = "other.deployment.test";
      }
      await send(s, forged);
      return;
    }
    case "drain": {
      // What the matching consumer does: lease checks and matching messages, delivered now.
      const msgs = await w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
      for (const m of msgs) {
        await handleMatchingMessage(w.deps, JSON.parse(m.body));
        await w.queues.delete("matching", m.receiptHandle);
      }
      return;
    }
    case "advance":
      w.advance([1_000, 15_000, 61_000, 600_000][c.a % 4]!);
      return;
    case "policy": {
      // the sandbox registry's test owners (0..2) propose, approve and execute; ids of proposals that may exist
      const owner = c.a % 10 === 9 ? 3 + (c.a % 13) : c.a % 3;
      if (c.b % 3 === 0) {
        const drawn = draw(arbitraryFor(DevPolicyProposeRequest), c.seed) as Record<string, unknown>;
        await call(
          s,
          anyActor(s, c.a),
          "POST",
          "/v1/dev/chain/policy/propose",
          vary(s, DevPolicyProposeRequest, { ...drawn, owner }, c.mode, c.seed, hostile(s, c)),
        );
      } else {
        const op = c.b % 3 === 1 ? "approve" : "execute";
        await call(
          s,
          anyActor(s, c.a),
          "POST",
          `/v1/dev/chain/policy/${op}`,
          vary(s, DevPolicyVoteRequest, { owner, id: 1 + (c.b % 7) }, c.mode, c.seed, hostile(s, c)),
        );
      }
      return;
    }
    case "models":
      if (c.a % 3 === 2) await call(s, worker(s, c.b), "GET", "/v1/agents/me");
      else await call(s, undefined, "GET", c.a % 3 ? "/v1/models" : "/openapi.json");
      return;
  }
}

// ---------------------------------------------------------------- invariants

async function checkInvariants(s: Scenario): Promise<void> {
  const { store, logs } = s.w;
  const errors = logs.filter((l) => l.level === "error");
  if (errors.length && !s.had5xx) throw new FuzzFailure(`the coordinator logged an error: ${JSON.stringify(errors[0])}`);
  let total = 0n;
  for (const a of store.scan("accounts")) {
    const available = BigInt((a.available as bigint | string | number | undefined) ?? 0);
    const held = BigInt((a.held as bigint | string | number | undefined) ?? 0);
    total += available + held;
    if (!String(a.pk).startsWith("ext:") && (available < 0n || held < 0n))
      throw new FuzzFailure(`account ${a.pk} is negative: available ${available}, held ${held}`);
  }
  if (total !== 0n) throw new FuzzFailure(`the ledger does not sum to zero: ${total}`);
  for (const m of [...store.scan("ledger"), ...store.scan("jobs").flatMap(jobMovementRecords)]) {
    const sum = ((m.postings as Array<{ delta: string }>) ?? []).reduce((x, p) => x + BigInt(p.delta), 0n);
    if (sum !== 0n) throw new FuzzFailure(`movement ${m.pk} does not balance: ${sum}`);
  }
  const open = new Map<string, bigint>();
  for (const j of store.scan<JobItem>("jobs")) {
    // an open tab holds for its slots (core/jobs/tabs.ts); a job under a tab holds nothing of its own
    if (j.sk === "tab" && (j as unknown as TabItem).status === "open") {
      const t = j as unknown as TabItem;
      open.set(t.requester, (open.get(t.requester) ?? 0n) + BigInt(t.slots) * BigInt(t.slotCost));
    }
    if (j.sk !== "job" || j.tab !== undefined || (j.status !== "assigned" && j.status !== "submitted")) continue;
    open.set(j.requester, (open.get(j.requester) ?? 0n) + BigInt(j.maxCost));
  }
  for (const a of store.scan("accounts")) {
    const pk = String(a.pk);
    if (!pk.startsWith("req:")) continue;
    const held = BigInt((a.held as bigint | string | number | undefined) ?? 0);
    const expected = open.get(pk.slice(4)) ?? 0n;
    if (held !== expected) throw new FuzzFailure(`${pk} holds ${held}, its open jobs' maximum cost is ${expected} (open tabs included)`);
  }
}

// ---------------------------------------------------------------- the run

/** Runs scenarios until about `cases` requests were sent; throws FuzzFailure (with the replay seed) on the first violation. */
export async function fuzzHandlers(o: FuzzOptions): Promise<FuzzReport> {
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const started = Date.now();
  const stats: Record<string, RouteStats> = {};
  let requests = 0;
  let scenarios = 0;
  const maxCommands = o.maxCommands ?? 24;
  const hostilePerMille = Math.round(1000 * (o.hostile ?? 0.125));
  let lastProgress = Date.now();
  const failures: FuzzReport["failures"] = o.keepGoing ? [] : undefined;
  // the case that is running: fast-check's seed and path that replay it
  let chunkSeed = seed;
  let runIndex = 0;
  const property = fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: maxCommands }), async (steps) => {
    if (TRACE) process.stderr.write(`--- scenario ${scenarios}\n`);
    let at = "setup";
    let s: Scenario | undefined;
    try {
      // Every request has its own limit (timed); this catches a wait anywhere else (the setup, a drain, a store call).
      await timed(
        `a scenario of ${steps.length} steps`,
        async () => {
          s = await newScenario(stats, o.sabotage, hostilePerMille);
          const replay = { seed: chunkSeed, path: String(runIndex++), hostile: hostilePerMille / 1000 };
          if (failures) s.on5xx = (route, cause, message) => failures.push({ route, cause, ...replay, message });
          for (const step of steps) {
            at = JSON.stringify(step);
            if (step.kind === "concurrent") await Promise.all(step.cmds.map((c) => run(s!, c)));
            else await run(s!, step);
          }
          at = "the invariant checks";
          await checkInvariants(s!);
        },
        SCENARIO_HANG_MS,
      ).catch((e) => {
        if (e instanceof FuzzFailure && e.message.includes("did not answer")) throw new FuzzFailure(`${e.message}; last step: ${at}`);
        throw e;
      });
    } finally {
      s?.w.queues.close();
    }
    requests += s!.requests;
    scenarios++;
    if (o.progress && Date.now() - lastProgress > 10_000) {
      lastProgress = Date.now();
      o.progress(
        `${requests} requests, ${scenarios} scenarios, ${Math.round((Date.now() - started) / 1000)} s, heap ${Math.round(process.memoryUsage().heapUsed / 2 ** 20)} MB`,
      );
    }
  });
  // Chunks of scenarios, each under its own seed (seed, seed + 1, ...), until enough requests were sent.
  if (o.path !== undefined) {
    runIndex = Number(o.path.split(":")[0]);
    await fc.assert(property, { seed, path: o.path, numRuns: 1, endOnFailure: true, includeErrorInReport: true });
    return { seed, scenarios, requests, ms: Date.now() - started, routes: stats, ...(failures ? { failures } : {}) };
  }
  for (let chunk = 0; requests < o.cases; chunk++) {
    const left = o.cases - requests;
    chunkSeed = seed + chunk;
    runIndex = 0;
    await fc.assert(property, {
      seed: seed + chunk,
      numRuns: Math.max(1, Math.ceil(left / (maxCommands / 2 + 2))),
      endOnFailure: true,
      includeErrorInReport: true,
    });
  }
  return { seed, scenarios, requests, ms: Date.now() - started, routes: stats, ...(failures ? { failures } : {}) };
}

/** The per-route table the CLI prints. */
export function formatReport(r: FuzzReport): string {
  const rows = Object.entries(r.routes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([route, st]) => {
      const codes = Object.entries(st.codes)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4)
        .map(([c, n]) => `${c} ${n}`)
        .join(", ");
      const statuses = Object.entries(st.statuses)
        .map(([c, n]) => `${c}:${n}`)
        .join(" ");
      return `${route.padEnd(42)} sent ${String(st.sent).padStart(6)}  reached ${String(st.reached).padStart(6)}  ${statuses}  ${codes}`;
    });
  const groups = new Map<string, NonNullable<FuzzReport["failures"]>>();
  for (const f of r.failures ?? []) {
    const k = `${f.route}: ${f.cause}`;
    groups.set(k, [...(groups.get(k) ?? []), f]);
  }
  const found = [...groups].map(
    ([k, fs]) =>
      `  ${String(fs.length).padStart(5)}× ${k}\n         first: npm run fuzz -- --seed ${fs[0]!.seed} --path ${fs[0]!.path} --hostile ${fs[0]!.hostile}`,
  );
  return [
    `seed ${r.seed}: ${r.requests} requests in ${r.scenarios} scenarios, ${(r.ms / 1000).toFixed(1)} s`,
    ...rows,
    ...(r.failures ? [`5xx: ${r.failures.length}${found.length ? `, ${found.length} distinct (route: logged cause)` : ""}`, ...found] : []),
  ].join("\n");
}
