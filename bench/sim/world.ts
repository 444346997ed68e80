/**
 * The discrete-event simulation of a Cocoon network at scale (issue 16), driving the REAL
 * coordinator code: core/workers (registration, heartbeats, matching), core/jobs (prepare,
 * submit, dispatch, leases, results, reads) and core/ledger (holds, settlements, refunds), over
 * the instrumented SimStore (./store.ts) and SimQueues (below), on a simulated clock. No HTTP,
 * no real time: an event runs one coordinator handler to completion, then the clock jumps.
 *
 * What is simulated around the real code (and so is a model, not a measurement):
 * - the requesters' SDK: a kept quote per requester and model reused until it nears expiry (as
 *   client/sdk.ts: maxima asked in powers of two, candidates rotated per job, dropped when a
 *   submit under it is refused or a job fails over), else a prepare; then a submit of an
 *   envelope sealed to the candidates in that order (ciphertext recycled from one real sealed
 *   envelope: the coordinator never opens it), then the wait for the answer;
 * - the agents: SQS long-poll delivery, an engine that takes prompt/4000 + completion/speed
 *   seconds, up to `capacity` jobs at once, a real receipt (see crypto-stub.ts for signatures),
 *   heartbeats with their load every `heartbeatSeconds`, churn: joins (real registrations with
 *   dev evidence), graceful leaves (offline heartbeat, in-flight jobs finish), crashes (silent;
 *   their jobs fail over when the lease runs out; half of them come back and re-register);
 * - network latency by region (one-way to the coordinator's region), the answer over the relay
 *   as built on AWS (issue 12: the submit not held, the final chunk ends the job; the SDK's
 *   reads in relay silence counted, not executed), the matching queue's consumer (receive +
 *   delete per message).
 */
import { randomBytes } from "node:crypto";
import type { AgentJob, PrepareResponse } from "../../events/api";
import type { EnvelopeHeader, ReplyEnvelope, RequestEnvelope } from "../../events/envelope";
import type { MatchingMessage } from "../../events/queue";
import { createDevAttestation, DEV_MEASUREMENT } from "../../core/attestation/dev";
import { localPolicy } from "../../core/attestation/policy";
import { DEFAULT_CORE_CONFIG, type CoreConfig } from "../../core/config";
import { newJobId } from "../../core/ids";
import { DEFAULT_PRICING, maxJobCost } from "../../core/pricing";
import { KEPT_QUOTE_MS, QUOTE_MARGIN_MS, quoteMaxima, RENEW_AFTER_MS } from "../../client/quote-keeping";
import { b64u, canonicalJson, sha256Hex } from "../../core/crypto/encoding";
import { replyHash, sealReply, sealRequest } from "../../core/crypto/envelope";
import { kemKeyFromPrivate, signingKeyFromSeed, type SigningKeyPair } from "../../core/crypto/keys";
import { signReceipt } from "../../core/crypto/receipt";
import type { CoreDeps } from "../../core/deps";
import { getJob, handleMatchingMessage, postResult, prepareJob, renewQuote, submitJob } from "../../core/jobs";
import { applyMovement, faucetMovement, workerAccount } from "../../core/ledger";
import type { QueueMessage, QueueName, Queues } from "../../core/ports";
import { inboxPk, MOVEMENT_INBOX_PK, RECEIPT_INBOX_PK, windowEntryKey, withMovementLog } from "../../core/receipts/log";
import { heartbeat, issueRegistrationNonce, registerWorker, type EarningsReads } from "../../core/workers";
import { Prng } from "../../test/sim/prng";
import { EventHeap } from "./stats";
import { ASSUME as COST_ASSUME } from "../cost";
import { jsonSize, SimStore } from "./store";

// ---------------------------------------------------------------- the population

export const REGIONS = [
  { name: "us-east", share: 0.35, oneWayMs: 5 },
  { name: "eu-west", share: 0.3, oneWayMs: 40 },
  { name: "ap-south", share: 0.2, oneWayMs: 100 },
  { name: "sa-east", share: 0.15, oneWayMs: 60 },
] as const;

/** Demand share of jobs and supply share of agents per model (the first is the popular one). */
export const MODELS = [
  { name: "llama-3.1-70b", share: 0.4 },
  { name: "llama-3.1-8b", share: 0.25 },
  { name: "qwen-2.5-32b", share: 0.15 },
  { name: "mistral-7b", share: 0.1 },
  { name: "deepseek-r1-14b", share: 0.07 },
  { name: "gemma-2-9b", share: 0.03 },
] as const;

const PRICES_BPS: Array<[number, number]> = [
  [8_000, 0.15],
  [9_000, 0.2],
  [10_000, 0.4],
  [11_000, 0.15],
  [12_000, 0.1],
];
const CAPACITY: Array<[number, number]> = [
  [1, 0.2],
  [2, 0.3],
  [4, 0.4],
  [8, 0.1],
];
const SPEED_TPS: Array<[number, number]> = [
  [40, 0.3],
  [60, 0.5],
  [90, 0.2],
];
const MAX_TOKENS: Array<[number, number]> = [
  [256, 0.3],
  [512, 0.4],
  [1024, 0.3],
];
const MAX_PROMPT_TOKENS = 4096;

/** The "equal agents" whose earnings are compared: same model, price, capacity and speed, one model each, up for the whole phase. */
export const EQUAL = { model: MODELS[0].name, priceBps: 10_000, capacity: 4, speed: 60 };

export interface SimOptions {
  agents: number;
  /** peak arrival rate, jobs/s (bursts reach it; between bursts `baseFraction` of it) */
  rate: number;
  minutes: number;
  seed: number;
  heartbeatSeconds: number;
  baseFraction: number;
  burstEverySeconds: number;
  burstSeconds: number;
  requesters: number;
  /** churn per minute, as fractions of the agents up */
  joinPerMinute: number;
  leavePerMinute: number;
  crashPerMinute: number;
  /** share of jobs whose agent reports a failure (engine error) instead of an answer */
  failureRate: number;
  /** share of jobs with a price cap at the base price (agents above 10,000 bps are excluded) */
  priceCapShare: number;
  log: (line: string) => void;
}

export const DEFAULT_OPTIONS: SimOptions = {
  agents: 100_000,
  rate: 1000,
  minutes: 10,
  seed: 1,
  // Agents report load with each heartbeat. The cloud default is 1,800 s (rare paid writes;
  // dead workers are caught by their leases), which leaves matching blind to load; 60 s is a
  // network that reports it. --heartbeat 1800 runs the cloud default, --heartbeat 30 the hot case.
  heartbeatSeconds: 60,
  baseFraction: 0.6,
  burstEverySeconds: 60,
  burstSeconds: 10,
  requesters: 5000,
  joinPerMinute: 0.005,
  leavePerMinute: 0.003,
  crashPerMinute: 0.002,
  failureRate: 0.002,
  priceCapShare: 0.2,
  log: () => {},
};

// ---------------------------------------------------------------- entities

type AgentState = "up" | "leaving" | "left" | "crashed";

interface Agent {
  idx: number;
  key: SigningKeyPair;
  id: string;
  models: string[];
  region: number;
  priceBps: number;
  capacity: number;
  speed: number;
  state: AgentState;
  /** bumped at each (re)start: events of an earlier life are ignored */
  epoch: number;
  inFlight: number;
  queue: AgentJob[];
  /** up (registered, never crashed or left) since the start of the phase */
  steady: boolean;
  equal: boolean;
  measurement: string;
}

interface Requester {
  key: SigningKeyPair;
  id: string;
  region: number;
  /**
   * The SDK's kept quotes (client/sdk.ts quoteFor), by what they were asked for: reused until
   * QUOTE_MARGIN_MS before they expire, for jobs within their maxima; dropped when a submit
   * under one is refused or a job of one had to fail over.
   */
  quotes: Map<string, KeptQuote>;
  /** the SDK's round-robin over a kept quote's candidates */
  turn: number;
}

const quoteKey = (job: Pick<JobTrack, "model" | "cap">) => `${job.model}|${job.cap}`;
/** The job no longer counts against its kept quote (client/sdk.ts release). */
const release = (job: JobTrack) => {
  if (job.keptEntry) job.keptEntry.inFlight--;
  delete job.keptEntry;
};
/** client/sdk.ts CachedQuote: usable until `until`, and while fewer of the requester's jobs are in flight under it than its candidates run. */
type KeptQuote = {
  prep: PrepareResponse;
  until: number;
  inFlight: number;
  capacity: number;
  /** what its prepare was asked (a renewal asks the same), and when it (or the submit that renewed it) answered */
  ask: ReturnType<Simulation["prepareAsk"]>;
  since: number;
  renewing?: boolean;
};

interface JobTrack {
  arrival: number;
  requester: Requester;
  model: string;
  maxTokens: number;
  promptTokens: number;
  completionTokens: number;
  cap: boolean;
  jobId?: string;
  submittedAt?: number;
  startedAt?: number;
  attemptsStarted: number;
  envelope?: RequestEnvelope;
  requestHash?: string;
  phase: "A" | "B";
  fail: boolean;
  /** submitted under a kept quote (no prepare of its own) */
  kept?: boolean;
  /** the quote it was submitted under */
  quote?: PrepareResponse["quote"];
  /** the kept quote it counts against until it finished */
  keptEntry?: KeptQuote;
  /** its submit carries the kept quote's renewal (client/sdk.ts renewalDue) */
  renews?: boolean;
}

type Ev =
  | { t: number; seq: number; k: "arrive" }
  | { t: number; seq: number; k: "prepare"; job: JobTrack }
  | { t: number; seq: number; k: "submit"; job: JobTrack; prep: PrepareResponse }
  | { t: number; seq: number; k: "renewed"; job: JobTrack; kept: KeptQuote; prep: PrepareResponse }
  | { t: number; seq: number; k: "deliver"; agent: Agent; msg: AgentJob }
  | { t: number; seq: number; k: "finish"; agent: Agent; epoch: number; msg: AgentJob; job: JobTrack | undefined }
  | { t: number; seq: number; k: "result"; agent: Agent; msg: AgentJob; job: JobTrack | undefined; failed: boolean }
  | { t: number; seq: number; k: "lease"; msg: MatchingMessage }
  | { t: number; seq: number; k: "heartbeat"; agent: Agent; epoch: number }
  | { t: number; seq: number; k: "tick" }
  | { t: number; seq: number; k: "rejoin"; agent: Agent };

/**
 * 1 in this many handler calls of a route has its CPU time measured (process.cpuUsage is a
 * system call, tens of µs on a loaded machine); matching decisions 1 in MATCH_CPU_SAMPLE.
 */
const CPU_SAMPLE = 16;
const MATCH_CPU_SAMPLE = 4;

type WithoutTime<E> = E extends unknown ? Omit<E, "t" | "seq"> : never;
type EvBody = WithoutTime<Ev>;

// ---------------------------------------------------------------- per-route meters (API, Lambda, SQS)

export interface RouteMeter {
  invocations: number;
  /** handler CPU, ms (process CPU time around the real core call) */
  cpuMs: number;
  sqs: number;
  /** simulated time the invocation held its Lambda waiting (submit ?wait), ms */
  waitMs: number;
  logBytes: number;
}

export interface PhaseResult {
  name: string;
  simSeconds: number;
  jobsArrived: number;
  jobsCompleted: number;
  jobsRefunded: number;
  jobsUnplaced: number;
  /** submitted under a kept quote (no prepare), and those refused (the SDK prepared afresh) */
  jobsKeptQuote: number;
  keptQuoteRefused: number;
  /** submits that carried their kept quote's renewal (SubmitRequest.renew) */
  quoteRenewals: number;
  jobsReassigned: number;
  jobsFailedReports: number;
  staleResults: number;
  matching: { cpuMs: number[]; wallMs: number[]; storeMs: number[]; queries: number; queryItems: number; decisions: number };
  ttaMs: number[];
  ttaFirstMs: number[];
  answerMs: number[];
  equalEarnings: number[];
  /** jobs settled to each equal agent (same order as equalEarnings) */
  equalJobs: number[];
  /** what each of those jobs paid (nanoTON), all equal agents' together: the floors' input */
  equalJobEarnings: number[];
  equalAgents: number;
  agentsUp: number;
  joins: number;
  leaves: number;
  crashes: number;
  rejoins: number;
  heartbeats: number;
  store: {
    routes: Record<string, import("./store").RouteCounts>;
    rru: number;
    wru: number;
    peakTotalWruPerSec: number;
    peakTotalRruPerSec: number;
  };
  partitions: ReturnType<SimStore["busiest"]>;
  routes: Record<string, RouteMeter>;
  offerPartitions: { count: number; maxItems: number };
  wallSeconds: number;
}

// ---------------------------------------------------------------- the simulation

export class Simulation {
  readonly store: SimStore;
  readonly deps: CoreDeps;
  readonly rnd: Prng;
  private heap!: EventHeap<Ev>;
  private seq = 0;
  now = Date.parse("2026-03-02T00:00:00Z");
  readonly agents: Agent[] = [];
  private readonly byId = new Map<string, Agent>();
  private requesters: Requester[] = [];
  private requesterCdf: number[] = [];
  private readonly tracks = new Map<string, JobTrack>();
  private keyPool: SigningKeyPair[] = [];
  private hpkePool: string[] = [];
  private replyKeyPool: string[] = [];
  private envelopeTpl!: RequestEnvelope;
  private replyTpl!: ReplyEnvelope;
  private replyTplHash!: string;
  private routes = new Map<string, RouteMeter>();
  private logBytes = 0;
  private phase: "A" | "B" = "A";
  private rate = 0;
  private phaseEnd = 0;
  private nextBurst = 0;
  private arrivalClock = 0;
  private burstUntil = 0;
  private cur!: PhaseResult;
  /** this phase's settlements to each equal agent, nanoTON each (read off the ledger around the real postResult) */
  private equalPaid = new Map<Agent, number[]>();

  constructor(readonly o: SimOptions) {
    this.rnd = new Prng(o.seed);
    const coreRandom = new Prng((o.seed ^ 0x5eed5eed) >>> 0);
    this.heap = new EventHeap<Ev>(this.now);
    this.store = new SimStore({ now: () => this.now });
    const config: CoreConfig = {
      ...DEFAULT_CORE_CONFIG,
      allowDevAttestation: true,
      heartbeatSeconds: o.heartbeatSeconds,
      // the cloud default's ratio (4,500 s for 1,800 s heartbeats)
      livenessMs: Math.round(2.5 * o.heartbeatSeconds * 1000),
      quoteKey: "5a".repeat(32),
    };
    const self = this;
    const queues: Queues = {
      async send(queue: QueueName, body: unknown, opts?: { delaySeconds?: number }) {
        self.sqs(Math.max(1, Math.ceil(jsonSize(body) / 65_536)));
        if (queue === "matching") {
          self.at(self.now + (opts?.delaySeconds ?? 0) * 1000 + 20, { k: "lease", msg: body as MatchingMessage });
          return;
        }
        const agent = self.byId.get(queue.slice("worker-".length));
        if (!agent) return;
        // An agent long-polls its own SQS queue from its region: the message arrives one way later.
        self.at(self.now + REGIONS[agent.region]!.oneWayMs + 10, { k: "deliver", agent, msg: body as AgentJob });
      },
      async receive(): Promise<QueueMessage[]> {
        self.sqs(1);
        return []; // agents take their messages from the simulation's delivery events
      },
      async delete() {
        self.sqs(1);
      },
      async ensure() {
        self.sqs(1); // CreateQueue at registration
      },
    };
    const log = (msg: string, data?: Record<string, unknown>) => {
      // CloudWatch bills ingested bytes: a JSON line of about this size per call.
      this.logBytes += 120 + msg.length + (data ? jsonSize(data) : 0);
    };
    this.deps = {
      store: withMovementLog(this.store),
      queues,
      notifier: { notify() {}, wait: async () => undefined },
      clock: { now: () => this.now },
      log: { info: log, warn: log, error: log },
      config,
      policy: localPolicy,
      // core's ids and matching samples from the seed too, so a run is reproducible
      random: { bytes: (n) => coreRandom.bytes(n) },
    };
  }

  // ------------------------------------------------------------ plumbing

  /** Schedules an event; times are whole milliseconds, like Date.now() (the core's schemas want integers). */
  private at(t: number, e: EvBody) {
    this.heap.push({ ...(e as object), t: Math.ceil(t), seq: this.seq++ } as Ev);
  }

  private route(name: string): RouteMeter {
    let r = this.routes.get(name);
    if (!r) this.routes.set(name, (r = { invocations: 0, cpuMs: 0, sqs: 0, waitMs: 0, logBytes: 0 }));
    return r;
  }
  private curRoute = "setup";
  private sqs(n: number) {
    this.route(this.curRoute).sqs += n;
  }

  /** Handler calls per route so far: 1 in CPU_SAMPLE is timed with process.cpuUsage (itself not free). */
  private calls = new Map<string, number>();

  /**
   * Runs one coordinator handler under a route's name: store and SQS traffic, CPU and log
   * bytes are charged to it. CPU: process time (not wall time, which this loaded machine
   * inflates) of 1 in MATCH_CPU_SAMPLE matching decisions and 1 in CPU_SAMPLE calls of other
   * routes, scaled up; the wall time of every call.
   */
  private async handler<T>(
    name: string,
    fn: () => Promise<T>,
    alwaysCpu = false,
  ): Promise<{ value?: T; error?: unknown; cpuMs: number; wallMs: number; storeMs: number }> {
    this.store.ctx = name;
    this.curRoute = name;
    const r = this.route(name);
    r.invocations++;
    const n = (this.calls.get(name) ?? 0) + 1;
    this.calls.set(name, n);
    const timed = n % (alwaysCpu ? MATCH_CPU_SAMPLE : CPU_SAMPLE) === 1;
    const logs0 = this.logBytes;
    const storeMs0 = this.store.routes.get(name)?.storeMs ?? 0;
    const c0 = timed ? process.cpuUsage() : undefined;
    const w0 = performance.now();
    let value: T | undefined;
    let error: unknown;
    try {
      value = await fn();
    } catch (e) {
      error = e;
    }
    const wallMs = performance.now() - w0;
    let cpuMs = NaN;
    if (c0) {
      const c = process.cpuUsage(c0);
      cpuMs = (c.user + c.system) / 1000;
      r.cpuMs += cpuMs * (alwaysCpu ? MATCH_CPU_SAMPLE : CPU_SAMPLE);
    }
    r.logBytes += this.logBytes - logs0;
    const storeMs = (this.store.routes.get(name)?.storeMs ?? 0) - storeMs0;
    this.store.ctx = "sim";
    this.curRoute = "sim";
    return { ...(error === undefined ? { value: value as T } : { error }), cpuMs, wallMs, storeMs };
  }

  // ------------------------------------------------------------ setup

  /** Keys, requesters, the envelope and reply templates, and the initial agents (registered through the real code). */
  async setup() {
    const o = this.o;
    const t = performance.now();
    const expectedJoins = Math.ceil(o.agents * o.joinPerMinute * o.minutes * 1.5) + 100;
    o.log(`generating ${o.agents + expectedJoins} Ed25519 worker keys and ${o.requesters} requester keys (real, node:crypto)`);
    for (let i = 0; i < o.agents + expectedJoins; i++) this.keyPool.push(newSigningKey());
    // HPKE keys: a pool shared by the agents (the simulated agents never open an envelope).
    for (let i = 0; i < 64; i++) this.hpkePool.push(b64u.encode(newKemKey().publicKey));
    for (let i = 0; i < 64; i++) this.replyKeyPool.push(b64u.encode(newKemKey().publicKey));
    // One real envelope and one real reply: their ciphertext is reused for every job.
    const kem = newKemKey();
    const tplHeader: EnvelopeHeader = {
      v: 1,
      jobId: "job_00000000000000000000000000",
      requester: "x",
      model: "m",
      maxTokens: 1,
      maxPromptTokens: 1,
      maxCost: "0",
      replyKey: b64u.encode(kem.publicKey),
    };
    const prompt = JSON.stringify({ messages: [{ role: "user", content: "x".repeat(1500) }] });
    this.envelopeTpl = sealRequest({
      header: tplHeader,
      plaintext: new TextEncoder().encode(prompt),
      recipients: [{ workerId: "w", hpkePublicKey: kem.publicKey }],
    });
    this.replyTpl = sealReply(
      tplHeader,
      "w",
      new TextEncoder().encode(
        JSON.stringify({ text: "y".repeat(1200), usage: { promptTokens: 1, completionTokens: 1 }, engine: "sim", finishReason: "stop" }),
      ),
    );
    this.replyTplHash = replyHash(this.replyTpl);

    // Requesters, funded from the dev faucet account (one ledger movement each), Zipf-like activity.
    let cum = 0;
    for (let i = 0; i < o.requesters; i++) {
      const key = newSigningKey();
      const r: Requester = { key, id: key.id, region: this.pickRegion(), quotes: new Map(), turn: 0 };
      this.requesters.push(r);
      await applyMovement(this.deps.store, faucetMovement(`sim-${i}`, r.id, 10n ** 17n, this.now));
      cum += 1 / Math.pow(i + 1, 0.8);
      this.requesterCdf.push(cum);
    }
    for (let i = 0; i < this.requesterCdf.length; i++) this.requesterCdf[i]! /= cum;
    o.log(
      `keys and requesters ready in ${((performance.now() - t) / 1000).toFixed(1)} s; registering ${o.agents} agents through core/workers`,
    );

    const t2 = performance.now();
    for (let i = 0; i < o.agents; i++) {
      const a = this.newAgent();
      await this.register(a, true);
      if (i % 20000 === 19999) o.log(`  ${i + 1} registered (${((performance.now() - t2) / 1000).toFixed(1)} s)`);
    }
    o.log(`agents registered in ${((performance.now() - t2) / 1000).toFixed(1)} s`);
  }

  private pickRegion(): number {
    return this.rnd.weighted(REGIONS.map((r, i) => [i, r.share] as const));
  }

  private newAgent(): Agent {
    const key = this.keyPool.pop() ?? newSigningKey();
    const m = this.rnd.weighted(MODELS.map((x, i) => [i, x.share] as const));
    const models = [MODELS[m]!.name as string];
    // One agent in ten also serves the next model of the list.
    if (this.rnd.chance(0.1)) models.push(MODELS[(m + 1) % MODELS.length]!.name);
    const a: Agent = {
      idx: this.agents.length,
      key,
      id: key.id,
      models,
      region: this.pickRegion(),
      priceBps: this.rnd.weighted(PRICES_BPS),
      capacity: this.rnd.weighted(CAPACITY),
      speed: this.rnd.weighted(SPEED_TPS),
      state: "up",
      epoch: 0,
      inFlight: 0,
      queue: [],
      steady: true,
      equal: false,
      measurement: DEV_MEASUREMENT,
    };
    a.equal =
      models.length === 1 &&
      models[0] === EQUAL.model &&
      a.priceBps === EQUAL.priceBps &&
      a.capacity === EQUAL.capacity &&
      a.speed === EQUAL.speed;
    this.agents.push(a);
    this.byId.set(a.id, a);
    return a;
  }

  /** The real registration: a nonce, dev evidence bound to it, registerWorker. */
  private async register(a: Agent, initial: boolean) {
    const res = await this.handler("register", async () => {
      const { nonce } = await issueRegistrationNonce(this.deps, a.id);
      const attestation = createDevAttestation({
        hpkePublicKey: b64u.decode(this.hpkePool[a.idx % this.hpkePool.length]!),
        signingPublicKey: a.key.publicKey,
        nonce: b64u.decode(nonce),
        now: this.now,
      });
      return registerWorker(this.deps, a.id, {
        attestation,
        models: a.models.map((model) => ({ model, priceBps: a.priceBps })),
        capacity: a.capacity,
      });
    });
    if (res.error) throw res.error;
    this.route("register").invocations++; // two API calls: the nonce and the registration
    a.state = "up";
    a.epoch++;
    a.inFlight = 0;
    a.queue = [];
    const H = this.o.heartbeatSeconds * 1000;
    this.at(this.now + (initial ? this.rnd.float() * H : H), { k: "heartbeat", agent: a, epoch: a.epoch });
  }

  // ------------------------------------------------------------ phases

  newPhase(name: string): PhaseResult {
    return {
      name,
      simSeconds: 0,
      jobsArrived: 0,
      jobsCompleted: 0,
      jobsRefunded: 0,
      jobsUnplaced: 0,
      jobsKeptQuote: 0,
      keptQuoteRefused: 0,
      quoteRenewals: 0,
      jobsReassigned: 0,
      jobsFailedReports: 0,
      staleResults: 0,
      matching: { cpuMs: [], wallMs: [], storeMs: [], queries: 0, queryItems: 0, decisions: 0 },
      ttaMs: [],
      ttaFirstMs: [],
      answerMs: [],
      equalEarnings: [],
      equalJobs: [],
      equalJobEarnings: [],
      equalAgents: 0,
      agentsUp: 0,
      joins: 0,
      leaves: 0,
      crashes: 0,
      rejoins: 0,
      heartbeats: 0,
      store: { routes: {}, rru: 0, wru: 0, peakTotalWruPerSec: 0, peakTotalRruPerSec: 0 },
      partitions: { byWrites: [], byReads: [] },
      routes: {},
      offerPartitions: { count: 0, maxItems: 0 },
      wallSeconds: 0,
    };
  }

  /**
   * Runs `minutes` of simulated time at peak rate `rate` and returns what it measured. Meters
   * start from zero; the network (agents, their state, in-flight jobs) carries over. Jobs
   * still in flight at the end are finished (no new arrivals) before earnings are read.
   */
  async runPhase(name: "A" | "B", rate: number, minutes: number): Promise<PhaseResult> {
    const wall0 = performance.now();
    this.phase = name;
    this.rate = rate;
    this.cur = this.newPhase(name);
    this.store.resetMeters();
    this.routes = new Map();
    this.calls = new Map();
    const start = this.now;
    this.phaseEnd = start + minutes * 60_000;
    this.nextBurst = start + this.o.burstEverySeconds * 1000 * (0.5 + this.rnd.float());
    this.burstUntil = 0;
    for (const a of this.agents) a.steady = a.state === "up";
    this.equalPaid = new Map();
    const earned0 = await this.equalEarnings();
    this.at(start, { k: "arrive" });
    this.at(start + 1000, { k: "tick" });
    let lastLog = performance.now();
    // Arrivals stop at phaseEnd; the drain runs until every job of the phase finished (leases included).
    const drainUntil = this.phaseEnd + 10 * 60_000;
    while (this.heap.size > 0) {
      const e = this.heap.peek()!;
      if (e.t > drainUntil) break;
      if (e.t >= this.phaseEnd && this.tracks.size === 0) break;
      this.heap.pop();
      this.now = Math.max(this.now, e.t);
      await this.dispatchEvent(e);
      if (performance.now() - lastLog > 15_000) {
        lastLog = performance.now();
        this.o.log(
          `  [${name}] sim ${((this.now - start) / 1000).toFixed(0)} s of ${minutes * 60}, wall ${((performance.now() - wall0) / 1000).toFixed(0)} s: ${this.cur.jobsArrived} jobs, ${this.cur.jobsCompleted} completed, ${this.tracks.size} in flight`,
        );
      }
    }
    this.cur.simSeconds = (Math.min(this.now, this.phaseEnd) - start) / 1000;
    const earned1 = await this.equalEarnings();
    for (const [id, v] of earned1) {
      const a = this.byId.get(id)!;
      if (!a.steady) continue;
      this.cur.equalEarnings.push(Number(v - (earned0.get(id) ?? 0n)));
      const paid = this.equalPaid.get(a) ?? [];
      this.cur.equalJobs.push(paid.length);
      for (const x of paid) this.cur.equalJobEarnings.push(x);
    }
    this.cur.equalAgents = this.cur.equalEarnings.length;
    this.cur.agentsUp = this.agents.filter((a) => a.state === "up").length;
    this.cur.store = {
      routes: Object.fromEntries(this.store.routes),
      rru: this.store.totals.rru,
      wru: this.store.totals.wru,
      peakTotalWruPerSec: this.store.peakTotalWruPerSec,
      peakTotalRruPerSec: this.store.peakTotalRruPerSec,
    };
    this.cur.partitions = this.store.busiest(6);
    this.cur.routes = Object.fromEntries(this.routes);
    const offerParts = this.store.partitionSizes("offers", "");
    this.cur.offerPartitions = { count: offerParts.length, maxItems: Math.max(0, ...offerParts) };
    this.cur.wallSeconds = (performance.now() - wall0) / 1000;
    return this.cur;
  }

  /** Earnings (nanoTON) of the equal agents, read from the real ledger (uncounted). */
  private async equalEarnings(): Promise<Map<string, bigint>> {
    const out = new Map<string, bigint>();
    for (const a of this.agents) {
      if (!a.equal) continue;
      const item = this.store.peekItem("accounts", { pk: workerAccount(a.id), sk: "balance" });
      out.set(a.id, item ? BigInt(item.available as bigint) : 0n);
    }
    return out;
  }

  private async dispatchEvent(e: Ev) {
    switch (e.k) {
      case "arrive":
        return this.onArrive();
      case "prepare":
        return this.onPrepare(e.job);
      case "submit":
        return this.onSubmit(e.job, e.prep);
      case "renewed":
        // the SDK keeps the renewed quote unless its kept one was dropped or replaced meanwhile (client/sdk.ts adoptRenewal)
        if (e.job.requester.quotes.get(quoteKey(e.job)) === e.kept) this.keep(e.job, e.kept.ask, e.prep);
        return;
      case "deliver":
        return this.onDeliver(e.agent, e.msg);
      case "finish":
        return this.onFinish(e.agent, e.epoch, e.msg, e.job);
      case "result":
        return this.onResult(e.agent, e.msg, e.job, e.failed);
      case "lease":
        return this.onLease(e.msg);
      case "heartbeat":
        return this.onHeartbeat(e.agent, e.epoch);
      case "tick":
        return this.onTick();
      case "rejoin":
        return this.onRejoin(e.agent);
    }
  }

  // ------------------------------------------------------------ arrivals

  private currentRate(): number {
    if (this.now >= this.burstUntil && this.now >= this.nextBurst) {
      this.burstUntil = this.now + this.o.burstSeconds * 1000;
      this.nextBurst = this.now + this.o.burstEverySeconds * 1000 * (0.5 + this.rnd.float());
    }
    return this.now < this.burstUntil ? this.rate : this.rate * this.o.baseFraction;
  }

  private onArrive() {
    if (this.now >= this.phaseEnd) return;
    const rate = this.currentRate();
    // Poisson arrivals at the current rate (the rate steps at burst edges), on a clock of their
    // own in fractions of a ms: events run at whole ms, and rounding each gap up would cut 1,000/s to ~670/s.
    this.arrivalClock = Math.max(this.arrivalClock, this.now - 1) + (-Math.log(1 - this.rnd.float()) / rate) * 1000;
    this.at(this.arrivalClock, { k: "arrive" });
    const u = this.rnd.float();
    let lo = 0;
    let hi = this.requesterCdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.requesterCdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    const requester = this.requesters[lo]!;
    const model = MODELS[this.rnd.weighted(MODELS.map((m, i) => [i, m.share] as const))]!.name;
    const maxTokens = this.rnd.weighted(MAX_TOKENS);
    const job: JobTrack = {
      arrival: this.now,
      requester,
      model,
      maxTokens,
      completionTokens: Math.ceil(maxTokens * (0.2 + 0.8 * this.rnd.float())),
      promptTokens: 50 + this.rnd.int(3000),
      cap: this.rnd.chance(this.o.priceCapShare),
      attemptsStarted: 0,
      phase: this.phase,
      fail: this.rnd.chance(this.o.failureRate),
    };
    this.cur.jobsArrived++;
    this.at(this.now + REGIONS[requester.region]!.oneWayMs, { k: "prepare", job });
  }

  /**
   * The SDK's step 1 (client/sdk.ts fromKeptQuote): under a kept quote, no request: a job id of
   * its own, this job's maxima, the candidates rotated per job, the hold at the dearest of them
   * by the quote's weights; it seals (~1 ms) and submits. Otherwise a prepare (below).
   */
  private fromKeptQuote(job: JobTrack): PrepareResponse | undefined {
    const kept = job.requester.quotes.get(quoteKey(job));
    if (!kept || kept.until - QUOTE_MARGIN_MS <= this.now || kept.inFlight >= kept.capacity || job.maxTokens > kept.prep.maxTokens)
      return undefined;
    kept.inFlight++;
    job.keptEntry = kept;
    if (!kept.prep.allLive && !kept.renewing && this.now - kept.since >= RENEW_AFTER_MS) kept.renewing = job.renews = true;
    const q = kept.prep;
    const start = job.requester.turn++ % q.candidates.length;
    const candidates = [...q.candidates.slice(start), ...q.candidates.slice(0, start)];
    const weights = { ...DEFAULT_PRICING, promptBps: q.quote.promptBps, completionBps: q.quote.completionBps };
    const maxCost = maxJobCost(
      weights,
      candidates.map((c) => BigInt(c.pricePerToken)),
      MAX_PROMPT_TOKENS,
      job.maxTokens,
    );
    return { ...q, jobId: newJobId(this.now, this.deps.random), maxTokens: job.maxTokens, maxCost: maxCost.toString(), candidates };
  }

  private async onPrepare(job: JobTrack) {
    const kept = this.fromKeptQuote(job);
    if (kept) {
      job.kept = true;
      this.cur.jobsKeptQuote++;
      this.at(this.now + 1, { k: "submit", job, prep: kept });
      return;
    }
    job.kept = false;
    const before = this.store.routes.get("prepare");
    const q0 = before?.queries ?? 0;
    const qi0 = before?.queryItems ?? 0;
    const ask = this.prepareAsk(job);
    const r = await this.handler("prepare", () => prepareJob(this.deps, job.requester.id, ask), true);
    const after = this.store.routes.get("prepare")!;
    const m = this.cur.matching;
    m.decisions++;
    m.queries += after.queries - q0;
    m.queryItems += after.queryItems - qi0;
    if (Number.isFinite(r.cpuMs)) m.cpuMs.push(r.cpuMs);
    m.wallMs.push(r.wallMs);
    m.storeMs.push(r.storeMs);
    if (r.error || !r.value) {
      this.cur.jobsUnplaced++;
      return;
    }
    // The answer goes back; the SDK keeps the quote, checks the candidates' evidence (cached verdicts) and seals (~1 ms).
    this.keep(job, ask, r.value);
    const ow = REGIONS[job.requester.region]!.oneWayMs;
    const first = this.fromKeptQuote(job) ?? r.value;
    this.at(this.now + 2 * ow + 1, { k: "submit", job, prep: first });
  }

  /** What the SDK asks a prepare (and a renewal) for this job's quote key. */
  private prepareAsk(job: JobTrack) {
    return {
      model: job.model,
      ...quoteMaxima({ maxTokens: job.maxTokens, maxPromptTokens: MAX_PROMPT_TOKENS }),
      tiers: ["dev" as const],
      candidates: 3,
      ...(job.cap ? { maxPricePerToken: 100n } : {}),
    };
  }

  /** The SDK keeps a quote (client/sdk.ts keptEntry). */
  private keep(job: JobTrack, ask: KeptQuote["ask"], prep: PrepareResponse) {
    job.requester.quotes.set(quoteKey(job), {
      prep,
      ask,
      until: Math.min(prep.quote.expiresAt, this.now + KEPT_QUOTE_MS),
      inFlight: 0,
      capacity: prep.candidates.reduce((n, c) => n + (c.capacity ?? 1), 0),
      since: this.now,
    });
  }

  private async onSubmit(job: JobTrack, prep: PrepareResponse) {
    const header: EnvelopeHeader = {
      v: 1,
      jobId: prep.jobId,
      requester: job.requester.id,
      model: prep.model,
      maxTokens: prep.maxTokens,
      maxPromptTokens: prep.maxPromptTokens,
      maxCost: prep.maxCost,
      replyKey: this.replyKeyPool[this.rnd.int(this.replyKeyPool.length)]!,
    };
    const tpl = this.envelopeTpl;
    const envelope: RequestEnvelope = {
      header,
      nonce: tpl.nonce,
      payload: tpl.payload,
      keys: prep.candidates.map((c) => ({ workerId: c.workerId, enc: tpl.keys[0]!.enc, ct: tpl.keys[0]!.ct })),
    };
    job.jobId = prep.jobId;
    job.quote = prep.quote;
    job.envelope = envelope;
    job.submittedAt = this.now;
    this.tracks.set(prep.jobId, job);
    // As functions/http/submit-job.ts: the kept quote's renewal picked alongside the submit (its CPU and reads are the submit's)
    const renewing = job.renews === true ? job.keptEntry : undefined;
    delete job.renews;
    const r = await this.handler("submit", async () => {
      const earnings: EarningsReads = new Map(); // one request's reads of earnings, shared by both
      const renewal = renewing ? renewQuote(this.deps, job.requester.id, renewing.ask, earnings) : undefined;
      const submitted = await submitJob(this.deps, job.requester.id, envelope, `submit-${prep.jobId}`, prep.quote, { earnings });
      return { submitted, next: await renewal };
    });
    if (renewing) {
      this.cur.quoteRenewals++;
      const next = r.value?.next;
      const ow = REGIONS[job.requester.region]!.oneWayMs;
      // the answer reaches the SDK, which checks the candidates (cached verdicts) and keeps the renewed quote
      if (next) this.at(this.now + ow, { k: "renewed", job, kept: renewing, prep: next });
      else renewing.renewing = false; // none made: the next due submit asks again
    }
    if (r.error) release(job);
    if (r.error && job.kept) {
      // A kept quote refused (expired, fees changed, no live candidate left): the SDK drops it and prepares afresh.
      this.tracks.delete(prep.jobId);
      job.requester.quotes.delete(quoteKey(job));
      this.cur.keptQuoteRefused++;
      const ow = REGIONS[job.requester.region]!.oneWayMs;
      this.at(this.now + 2 * ow, { k: "prepare", job });
      return;
    }
    if (r.error) {
      this.tracks.delete(prep.jobId);
      this.cur.jobsUnplaced++;
      this.o.log(`submit failed: ${String(r.error)}`);
    }
  }

  // ------------------------------------------------------------ agents

  private onDeliver(agent: Agent, msg: AgentJob) {
    if (agent.state !== "up") return; // a crashed or leaving agent's queue is never read again: the lease moves the job on
    // The agent's SQS long-poll returns the message; no delete (issue 12: worker queues never
    // redeliver a received message, agent/sources/sqs.ts).
    this.route("agent SQS").invocations++;
    this.route("agent SQS").sqs += 1;
    agent.queue.push(msg);
    this.startNext(agent);
  }

  private startNext(agent: Agent) {
    while (agent.state === "up" && agent.inFlight < agent.capacity && agent.queue.length > 0) {
      const msg = agent.queue.shift()!;
      const job = this.tracks.get(msg.jobId);
      agent.inFlight++;
      if (job) {
        // A job that fails over says the kept quote's candidates are not all well: the SDK drops it.
        if (msg.attempt > 0 && job.requester.quotes.get(quoteKey(job))?.prep.quote === job.quote)
          job.requester.quotes.delete(quoteKey(job));
        job.attemptsStarted++;
        job.startedAt = this.now;
        if (job.attemptsStarted === 1) this.cur.ttaFirstMs.push(this.now - job.arrival);
      }
      const prompt = job?.promptTokens ?? 500;
      const completion = job?.completionTokens ?? 200;
      const ms = (prompt / 4000 + completion / agent.speed) * 1000;
      this.at(this.now + ms, { k: "finish", agent, epoch: agent.epoch, msg, job });
    }
  }

  private onFinish(agent: Agent, epoch: number, msg: AgentJob, job: JobTrack | undefined) {
    if (agent.epoch !== epoch || agent.state === "crashed" || agent.state === "left") return;
    agent.inFlight--;
    const failed = job?.fail === true;
    this.at(this.now + REGIONS[agent.region]!.oneWayMs, { k: "result", agent, msg, job, failed });
    if (agent.state === "leaving" && agent.inFlight === 0) agent.state = "left";
    this.startNext(agent);
  }

  private async onResult(agent: Agent, msg: AgentJob, job: JobTrack | undefined, failed: boolean) {
    const envelope = msg.envelope;
    let r;
    if (failed) {
      r = await this.handler("result", () =>
        postResult(this.deps, agent.id, { kind: "failed", jobId: msg.jobId, attempt: msg.attempt, code: "engine_error", envelope }),
      );
      if (!r.error) this.cur.jobsFailedReports++;
    } else {
      // The agent signs its receipt (crypto-stub.ts: real for a sample). Its request hash is the
      // one the coordinator recorded (a real agent hashes the envelope itself: same value, its CPU).
      const requestHash = String(
        this.store.peekItem("jobs", { pk: msg.jobId, sk: "job" })?.requestHash ?? sha256Hex(canonicalJson(envelope)),
      );
      const usage = { promptTokens: job?.promptTokens ?? 500, completionTokens: job?.completionTokens ?? 200 };
      const receipt = signReceipt(
        {
          v: 1,
          jobId: msg.jobId,
          workerId: agent.id,
          model: envelope.header.model,
          requestHash,
          replyHash: this.replyTplHash,
          usage,
          measurement: agent.measurement,
          finishedAt: this.now,
        },
        agent.key,
      );
      const balance = { pk: workerAccount(agent.id), sk: "balance" };
      const before = agent.equal ? BigInt((this.store.peekItem("accounts", balance)?.available as bigint | undefined) ?? 0n) : 0n;
      r = await this.handler("result", () =>
        postResult(this.deps, agent.id, { kind: "completed", jobId: msg.jobId, attempt: msg.attempt, reply: this.replyTpl, receipt }),
      );
      if (agent.equal) {
        const paid = BigInt((this.store.peekItem("accounts", balance)?.available as bigint | undefined) ?? 0n) - before;
        if (paid > 0n) {
          let xs = this.equalPaid.get(agent);
          if (!xs) this.equalPaid.set(agent, (xs = []));
          xs.push(Number(paid));
        }
      }
    }
    if (r.error) {
      this.cur.staleResults++;
      return;
    }
    if (job && job.jobId) await this.afterMove(job);
  }

  /** After a handler moved a job: when it is finished, the requester's final read, the counts, and the simulator forgets it. */
  private async afterMove(job: JobTrack) {
    const jobId = job.jobId!;
    const item = this.store.peekItem("jobs", { pk: jobId, sk: "job" });
    if (!item || (item.status !== "completed" && item.status !== "refunded")) return;
    // As built on AWS (issue 12): the submit returned at once and the answer comes over the
    // relay; the worker's final chunk, published once the coordinator took the result, ends the
    // job with no read. The SDK reads the job only in relay silence (client/sdk.ts
    // RELAY_QUIET_MS): an ask() answer published whole is silent until its end, one read per
    // 10 s of generation (counted here, not executed); a refunded job is learnt by such a read
    // (executed, through the real core).
    const seenAt = this.now;
    const quiet = quietReads(this.now - (job.startedAt ?? job.submittedAt!));
    if (quiet > 0) {
      const wr = this.store.routes.get("quiet read (modelled)") ?? {
        gets: 0,
        queries: 0,
        queryItems: 0,
        transacts: 0,
        writeItems: 0,
        rru: 0,
        wru: 0,
        storeMs: 0,
      };
      wr.gets += quiet;
      wr.rru += quiet;
      this.store.routes.set("quiet read (modelled)", wr);
      this.route("quiet read (modelled)").invocations += quiet;
    }
    if (item.status === "refunded") await this.handler("read", () => getJob(this.deps, job.requester.id, jobId, 0));
    if (item.status === "completed") {
      this.cur.jobsCompleted++;
      if (Number(item.attempt) > 0) this.cur.jobsReassigned++;
      if (job.startedAt !== undefined) this.cur.ttaMs.push(job.startedAt - job.arrival);
      this.cur.answerMs.push(seenAt + REGIONS[job.requester.region]!.oneWayMs - job.arrival);
    } else {
      this.cur.jobsRefunded++;
      if (Number(item.attempt) > 0) this.cur.jobsReassigned++;
    }
    this.tracks.delete(jobId);
    this.forgetJob(jobId, job.requester.id, typeof item.updatedAt === "number" ? item.updatedAt : undefined);
    release(job);
  }

  /** Drops a finished job's items from memory (uncounted: on DynamoDB they stay until their TTL, for free). */
  private forgetJob(jobId: string, requester: string, settledAt?: number) {
    this.store.forget("jobs", jobId);
    this.store.forget("idempotency", `${requester}#submit-${jobId}`);
    for (const m of [`hold:${jobId}`, `settle:${jobId}`, `refund:${jobId}`]) {
      this.store.forget("ledger", m);
      this.store.forgetItem("chain", { pk: inboxPk(MOVEMENT_INBOX_PK, m), sk: m });
    }
    // The anchorer (not simulated) would take these out of the inbox in batches.
    this.store.forgetItem("chain", { pk: inboxPk(RECEIPT_INBOX_PK, jobId), sk: jobId });
    // the receipt's time-windowed entry (kept for good on DynamoDB; written at the settlement's time, the job item's updatedAt)
    if (settledAt !== undefined) this.store.forgetItem("chain", windowEntryKey(settledAt, jobId));
  }

  private async onLease(msg: MatchingMessage) {
    // The matching queue's consumer: one receive and one delete per message (the expensive end; batches of 10 would cut it).
    const r = await this.handler("lease", () => handleMatchingMessage(this.deps, msg));
    this.route("lease").sqs += 2;
    const job = msg.type === "tab" ? undefined : this.tracks.get(msg.jobId);
    if (job && r.value === "advanced") await this.afterMove(job);
  }

  private async onHeartbeat(agent: Agent, epoch: number) {
    if (agent.epoch !== epoch || agent.state !== "up") return;
    this.cur.heartbeats++;
    await this.handler("heartbeat", () => heartbeat(this.deps, agent.id, agent.inFlight));
    this.at(this.now + this.o.heartbeatSeconds * 1000, { k: "heartbeat", agent, epoch });
  }

  // ------------------------------------------------------------ churn, once a simulated second

  private async onTick() {
    if (this.now < this.phaseEnd) this.at(this.now + 1000, { k: "tick" });
    else return;
    const up = this.cur.agentsUp || this.agents.length;
    const perSec = (x: number) => (up * x) / 60;
    const n = (lambda: number) => {
      // Poisson by inversion (small lambda)
      let k = 0;
      let p = Math.exp(-lambda);
      let s = p;
      const u = this.rnd.float();
      while (u > s && k < 1000) {
        k++;
        p *= lambda / k;
        s += p;
      }
      return k;
    };
    for (let i = n(perSec(this.o.joinPerMinute)); i > 0; i--) {
      const a = this.newAgent();
      a.steady = false;
      await this.register(a, false);
      this.cur.joins++;
    }
    for (let i = n(perSec(this.o.leavePerMinute)); i > 0; i--) {
      const a = this.randomUpAgent();
      if (!a) break;
      a.state = a.inFlight > 0 ? "leaving" : "left";
      a.steady = false;
      a.queue = [];
      this.cur.leaves++;
      await this.handler("heartbeat", () => heartbeat(this.deps, a.id, a.inFlight, true));
    }
    for (let i = n(perSec(this.o.crashPerMinute)); i > 0; i--) {
      const a = this.randomUpAgent();
      if (!a) break;
      a.state = "crashed";
      a.steady = false;
      a.queue = [];
      a.inFlight = 0;
      a.epoch++;
      this.cur.crashes++;
      if (this.rnd.chance(0.5)) this.at(this.now + (60 + this.rnd.float() * 240) * 1000, { k: "rejoin", agent: a });
    }
  }

  private randomUpAgent(): Agent | undefined {
    for (let tries = 0; tries < 20; tries++) {
      const a = this.agents[this.rnd.int(this.agents.length)]!;
      if (a.state === "up") return a;
    }
    return undefined;
  }

  private async onRejoin(a: Agent) {
    if (a.state !== "crashed") return;
    await this.register(a, false);
    this.cur.rejoins++;
  }
}

/**
 * A real Ed25519 key from 32 random bytes. Not generateSigningKey: Node 20's
 * generateKeyPairSync leaves a job object whose collection, when a GC falls inside the next
 * JWK export of that key, takes a mutex the export holds: the process deadlocked (seen here,
 * gdb: ~KeyGenJob under ExportJWKEdKey) after some ten thousand keys with a large young generation.
 */
function newSigningKey(): SigningKeyPair {
  return signingKeyFromSeed(randomBytes(32));
}
/** A real X25519 key from 32 random bytes (same reason). */
const newKemKey = () => kemKeyFromPrivate(randomBytes(32));

/**
 * The SDK's reads of a job during relay silence (client/sdk.ts RELAY_QUIET_MS, bench/cost.ts
 * ASSUME.relayQuietSeconds): an ask() answer published whole says nothing on the relay until its
 * final chunk, so a generation of `generatedMs` is read once per whole quiet spell.
 */
export const quietReads = (generatedMs: number) => Math.floor(Math.max(0, generatedMs) / (COST_ASSUME.relayQuietSeconds * 1000));
