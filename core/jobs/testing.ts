/**
 * Test factories for core/jobs: the real use cases over the in-memory store, local queues and
 * notifier, with a clock the test moves; workers registered through core/workers with
 * simulated (dev) evidence; requesters funded from the dev faucet account.
 */
import type { ModelCapabilities, PrepareRequest, PrepareResponse, ResultRequest } from "../../events/api";
import type { EnvelopeHeader, ReceiptBody, ReplyEnvelope, RequestEnvelope } from "../../events/envelope";
import { createMemoryStore, type MemoryStore } from "../../local/memory-store";
import { createLocalNotifier } from "../../local/notifier";
import { createLocalQueues, type LocalQueues } from "../../local/queues";
import { createDevAttestation } from "../attestation/dev";
import { localPolicy } from "../attestation/policy";
import { DEFAULT_CORE_CONFIG } from "../config";
import { replyHash, requestHash, sealReply, sealRequest } from "../crypto/envelope";
import { b64u } from "../crypto/encoding";
import { generateKemKey, generateSigningKey, type KemKeyPair, type SigningKeyPair } from "../crypto/keys";
import { signReceipt } from "../crypto/receipt";
import type { CoreDeps } from "../deps";
import { CocoonError } from "../errors";
import { applyMovement, faucetMovement, getBalance, requesterAccount, workerAccount } from "../ledger";
import type { Item, Key, Store, TableName, WriteOp } from "../ports";
import { DEV_IMAGE_DIGEST, LOCAL_POLICY_CACHE, PolicyCache, type RegistryPolicy } from "../policy-registry";
import { issueRegistrationNonce, offerKey, registerWorker, type OfferItem, type WorkerItem } from "../workers";
import { jobKey, jobMovementRecords, type JobItem } from "./items";
import { prepareJob } from "./prepare";
import { submitJob } from "./submit";
import { handleMatchingMessage } from "./dispatch";
import { tabClosesAfter, type TabItem } from "./tabs";

export const MODEL = "test/model-1";
export const T0 = Date.parse("2026-01-05T00:00:00Z");
export const FUNDS = 10_000_000_000n;

/** Factory: a prepare of MODEL for 10 + 10 tokens from two dev candidates, with `o` over it. */
export const prepareAsk = (o: Partial<PrepareRequest> = {}): PrepareRequest => ({
  model: MODEL,
  maxTokens: 10,
  maxPromptTokens: 10,
  tiers: ["dev"],
  candidates: 2,
  ...o,
});

export interface TestWorker {
  id: string;
  signing: SigningKeyPair;
  kem: KemKeyPair;
  measurement: string;
}

export interface LogEntry {
  level: "info" | "warn" | "error";
  msg: string;
  data?: Record<string, unknown>;
}

export type JobWorld = ReturnType<typeof makeJobWorld>;

/**
 * Factory: core deps over fresh in-memory adapters; `transacts` records every store transaction.
 * `cheapTransactions`: the store says so, as LMDB does (large items join the transactions).
 * `billedWrites`: the store says so, as DynamoDB does (a job's envelope is not stored).
 */
export function makeJobWorld(o: { cheapTransactions?: boolean; billedWrites?: boolean } = {}) {
  const clock = { t: T0, now: () => clock.t };
  const store: MemoryStore = Object.assign(
    createMemoryStore({ clock }),
    o.cheapTransactions ? { cheapTransactions: true } : {},
    o.billedWrites ? { billedWrites: true } : {},
  );
  const queues: LocalQueues = createLocalQueues({ clock });
  const logs: LogEntry[] = [];
  const transacts: WriteOp[][] = [];
  const transact = store.transact.bind(store);
  store.transact = (ops: WriteOp[]) => {
    transacts.push(ops);
    return transact(ops);
  };
  const deps: CoreDeps = {
    store,
    queues,
    notifier: createLocalNotifier(),
    clock,
    log: {
      info: (msg, data) => logs.push({ level: "info", msg, ...(data ? { data } : {}) }),
      warn: (msg, data) => logs.push({ level: "warn", msg, ...(data ? { data } : {}) }),
      error: (msg, data) => logs.push({ level: "error", msg, ...(data ? { data } : {}) }),
    },
    config: { ...DEFAULT_CORE_CONFIG, allowDevAttestation: true, allowTestImages: true },
    policy: localPolicy,
  };

  /** Moves the clock (and lets delayed queue messages become visible). */
  const advance = (ms: number) => {
    clock.t += ms;
    queues.wake();
  };

  /** A registered, live worker offering MODEL at `priceBps` of the base price. */
  async function worker(priceBps = 10_000): Promise<TestWorker> {
    const signing = generateSigningKey();
    const kem = generateKemKey();
    const { nonce } = await issueRegistrationNonce(deps, signing.id);
    const attestation = createDevAttestation({
      hpkePublicKey: kem.publicKey,
      signingPublicKey: signing.publicKey,
      nonce: b64u.decode(nonce),
      now: clock.now(),
    });
    await registerWorker(deps, signing.id, { attestation, models: [{ model: MODEL, priceBps }], capacity: 4 });
    const item = await store.get<WorkerItem>("workers", { pk: signing.id, sk: "worker" });
    return { id: signing.id, signing, kem, measurement: item!.measurement };
  }

  /** A requester key with `amount` nanoTON available. */
  async function requester(amount = FUNDS): Promise<SigningKeyPair> {
    const r = generateSigningKey();
    if (amount > 0n) await applyMovement(store, faucetMovement(`t-${r.id}`, r.id, amount, clock.now()));
    return r;
  }

  /** Prepare a job for `who` with `candidates` workers and seal its envelope to every quoted candidate. */
  async function sealedJob(who: SigningKeyPair, o: { candidates?: number; maxTokens?: number; maxPromptTokens?: number } = {}) {
    const p = await prepareJob(deps, who.id, {
      model: MODEL,
      maxTokens: o.maxTokens ?? 32,
      maxPromptTokens: o.maxPromptTokens ?? 200,
      tiers: ["dev"],
      candidates: o.candidates ?? 1,
    });
    const header = headerOf(p, who.id);
    const envelope = seal(
      header,
      p.candidates.map((c) => ({ workerId: c.workerId, hpkePublicKey: c.hpkePublicKey })),
    );
    return { prepared: p, header, envelope, quote: p.quote };
  }

  /** `n` new workers and a job sealed to all of them, submitted; `workers` in the order the job will try them. */
  async function submitted(n = 1) {
    const all: TestWorker[] = [];
    for (let i = 0; i < n; i++) all.push(await worker());
    const r = await requester();
    const { envelope, header, quote } = await sealedJob(r, { candidates: n });
    await submitJob(deps, r.id, envelope, "key-00000001", quote);
    const job = (await store.get<JobItem>("jobs", jobKey(header.jobId)))!;
    const workers = job.candidates.map((c) => all.find((x) => x.id === c.workerId)!);
    return { r, envelope, header, workers, job };
  }

  /** What `w` would post for the job at `attempt`; `body` overrides receipt fields (still signed by `signer`, default w). */
  function completed(
    w: TestWorker,
    envelope: RequestEnvelope,
    o: {
      attempt?: number;
      text?: string;
      usage?: { promptTokens: number; completionTokens: number };
      body?: Partial<ReceiptBody>;
      signer?: SigningKeyPair;
      /** A reply sealed elsewhere (a large streamed one); `text` is then unused. */
      reply?: ReplyEnvelope;
    } = {},
  ): Extract<ResultRequest, { kind: "completed" }> {
    const h = envelope.header;
    const usage = o.usage ?? { promptTokens: 5, completionTokens: 7 };
    const reply =
      o.reply ??
      sealReply(
        h,
        w.id,
        new TextEncoder().encode(JSON.stringify({ text: o.text ?? "an answer", usage, engine: "test", finishReason: "stop" })),
      );
    const body: ReceiptBody = {
      v: 1,
      jobId: h.jobId,
      workerId: w.id,
      model: h.model,
      requestHash: requestHash(envelope),
      replyHash: replyHash(reply),
      usage,
      measurement: w.measurement,
      finishedAt: clock.now(),
      ...o.body,
    };
    return { kind: "completed", jobId: h.jobId, attempt: o.attempt ?? 0, reply, receipt: signReceipt(body, o.signer ?? w.signing) };
  }

  const balance = async (requesterId: string) => {
    const b = await getBalance(store, requesterAccount(requesterId));
    return { available: b.available, held: b.held };
  };
  const earned = async (workerId: string) => (await getBalance(store, workerAccount(workerId))).available;

  return { deps, store, queues, clock, logs, transacts, advance, worker, requester, sealedJob, submitted, completed, balance, earned };
}

/**
 * Puts a policy registry the test edits in front of w's coordinator (refresh 2 s, as the local
 * default). `execute(change)` is the owners executing a new policy: its version goes up and
 * chain time and the coordinator's clock move past the refresh, so the next read sees it.
 */
export function readingRegistry(w: JobWorld, policy: Pick<RegistryPolicy, "fees"> & Partial<RegistryPolicy>) {
  let current: RegistryPolicy = { coordinatorKey: "11".repeat(32), images: [DEV_IMAGE_DIGEST], models: {}, ...policy };
  let version = 1;
  let chainNow = T0 / 1000;
  const source = { read: async () => ({ version, updatedAt: T0 / 1000, readAt: chainNow, policy: current }) };
  w.deps.policyRegistry = new PolicyCache(source, { ...LOCAL_POLICY_CACHE, now: w.deps.clock.now });
  return {
    execute(change: (p: RegistryPolicy) => RegistryPolicy) {
      current = change(current);
      version++;
      w.advance(2_000);
      chainNow += 2;
    },
  };
}

/**
 * Factory: a registration request for `key`, its dev evidence bound to `nonce` (or, to test a mismatch, to
 * `boundNonce`) and to a fresh KEM key; MODEL at 10 000 bps and a capacity of 4 unless given.
 */
export function registration(
  w: JobWorld,
  key: SigningKeyPair,
  nonce: string,
  o: {
    models?: Array<{ model: string; priceBps: number; capabilities?: ModelCapabilities }>;
    capacity?: number;
    modelDigests?: Record<string, string>;
    /** the nonce the evidence's report data binds (default: `nonce`) */
    boundNonce?: string;
  } = {},
) {
  const kem = generateKemKey();
  const doc = createDevAttestation({
    hpkePublicKey: kem.publicKey,
    signingPublicKey: key.publicKey,
    nonce: b64u.decode(o.boundNonce ?? nonce),
    now: w.clock.now(),
    ...(o.modelDigests ? { modelDigests: o.modelDigests } : {}),
  });
  return {
    attestation: { ...doc, nonce },
    models: o.models ?? [{ model: MODEL, priceBps: 10_000 }],
    capacity: o.capacity ?? 4,
  };
}

/** Factory: a registered worker (nonce, evidence, registration), as an agent does it. */
export async function registered(w: JobWorld, o: Parameters<typeof registration>[3] = {}) {
  const key = generateSigningKey();
  const { nonce } = await issueRegistrationNonce(w.deps, key.id);
  const out = await registerWorker(w.deps, key.id, registration(w, key, nonce, o));
  return { key, out };
}

/** The offer of `model` by `workerId` in the store (undefined: none). */
export const offerAt = (w: { store: Store }, model: string, workerId: string) =>
  w.store.get<OfferItem>("offers", offerKey(model, workerId));
/** Sets fields of an offer in place, as a heartbeat or a test's "time passed" would. */
export const setOffer = (w: { store: Store }, model: string, workerId: string, set: Record<string, unknown>) =>
  w.store.transact([{ op: "update", table: "offers", key: offerKey(model, workerId), set }]);

/**
 * Counts the store reads of one job's items while `run` runs: how a test sees that a wait is woken by
 * the result rather than by re-reading the job in a loop.
 */
export async function countReads<T>(w: JobWorld, jobId: string, run: () => Promise<T>): Promise<{ value: T; reads: number }> {
  const get = w.store.get.bind(w.store);
  let reads = 0;
  w.store.get = (async (table: TableName, key: Key) => {
    if (table === "jobs" && key.pk === jobId) reads++;
    return get(table, key);
  }) as typeof w.store.get;
  try {
    return { value: await run(), reads };
  } finally {
    w.store.get = get;
  }
}

/** A use case's refusal as { status, code, message } (undefined when it did not refuse; anything but a CocoonError is rethrown). */
export const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => {
      if (e instanceof CocoonError) return { status: e.status, code: e.code, message: e.message };
      throw e;
    },
  );

export function seal(header: EnvelopeHeader, recipients: Array<{ workerId: string; hpkePublicKey: string }>): RequestEnvelope {
  return sealRequest({
    header,
    plaintext: new TextEncoder().encode(JSON.stringify({ messages: [{ role: "user", content: "hi" }] })),
    recipients: recipients.map((c) => ({ workerId: c.workerId, hpkePublicKey: b64u.decode(c.hpkePublicKey) })),
  });
}

/** Whether `ops` is a submit's commit: the job item that records its hold (issue 12: no ledger item); of job `jobId` when given. */
export const isHoldCommit = (ops: WriteOp[], jobId?: string): boolean =>
  ops.some(
    (op) =>
      op.op === "put" &&
      op.table === "jobs" &&
      op.item.sk === "job" &&
      op.item.holdInJob === true &&
      (jobId === undefined || op.item.pk === jobId),
  );

/**
 * Holds the commit that puts an assigned job item (a submit's: with its hold, or a tab slot's lone
 * write), of job `jobId` when given, until `release()`; `parked` resolves once it waits. For races
 * against a commit still in flight (a void, a resend).
 */
export function holdCommit(w: JobWorld, jobId?: string) {
  const transact = w.store.transact.bind(w.store);
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let parkedNow!: () => void;
  const parked = new Promise<void>((r) => (parkedNow = r));
  w.store.transact = async (ops: WriteOp[]) => {
    const held = ops.some(
      (op) => op.op === "put" && op.table === "jobs" && op.item.status === "assigned" && (jobId === undefined || op.item.jobId === jobId),
    );
    if (held) {
      parkedNow();
      await released;
    }
    return transact(ops);
  };
  return { parked, release };
}

/** The ledger's records in a store: its items, and the holds and settlements its job items record (issue 12), in the ledger item's shape. */
export const ledgerRecords = (store: { scan(table: TableName): Item[] }): Item[] => [
  ...store.scan("ledger"),
  ...store.scan("jobs").flatMap(jobMovementRecords),
];

/** The settlements in `ops`: the job updates to completed that record them (issue 12: no ledger item). */
export const settleRecords = (ops: WriteOp[]): Array<Extract<WriteOp, { op: "update" }>> =>
  ops.flatMap((op) => (op.op === "update" && op.table === "jobs" && op.set?.settledInJob === true ? [op] : []));

/** Whether `ops` settles a job (of job `jobId` when given). */
export const isSettleCommit = (ops: WriteOp[], jobId?: string): boolean =>
  settleRecords(ops).some((op) => jobId === undefined || op.key.pk === jobId);

/**
 * Where the ledger disagrees with itself: each balance that is not the sum of the postings on
 * it, and the total of all balances when it is not zero. Empty when the books agree.
 */
export function ledgerDiscrepancies(store: { scan(table: TableName): Item[] }): string[] {
  const sums = new Map<string, { available: bigint; held: bigint }>();
  for (const m of ledgerRecords(store)) {
    for (const p of m.postings as Array<{ account: string; field: "available" | "held"; delta: string }>) {
      const s = sums.get(p.account) ?? { available: 0n, held: 0n };
      s[p.field] += BigInt(p.delta);
      sums.set(p.account, s);
    }
  }
  const out: string[] = [];
  let total = 0n;
  for (const b of store.scan("accounts")) {
    const available = BigInt(String(b.available ?? 0));
    const held = BigInt(String(b.held ?? 0));
    const want = sums.get(String(b.pk)) ?? { available: 0n, held: 0n };
    if (available !== want.available || held !== want.held)
      out.push(`${String(b.pk)} is ${available}/${held} (available/held), its postings sum to ${want.available}/${want.held}`);
    total += available + held;
  }
  if (total !== 0n) out.push(`all balances sum to ${total}, not 0`);
  return out;
}

/**
 * The drain of a property test: round after round, every assigned job's lease check past its
 * lease and every open tab's close check past its close, until a round finds nothing to do (or
 * `rounds` ran); `afterRound` checks the invariants after each.
 */
export async function drainLeasesAndTabs(w: JobWorld, afterRound: () => void, rounds: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    let busy = false;
    for (const j of w.store.scan("jobs").filter((i) => i.sk === "job" && i.status === "assigned") as unknown as JobItem[]) {
      busy = true;
      if (w.clock.t <= j.leaseUntil) w.clock.t = j.leaseUntil + 1;
      await handleMatchingMessage(w.deps, { type: "lease", jobId: j.jobId, attempt: j.attempt });
    }
    for (const t of w.store.scan("jobs").filter((i) => i.sk === "tab" && i.status === "open") as unknown as TabItem[]) {
      busy = true;
      if (w.clock.t <= tabClosesAfter(t)) w.clock.t = tabClosesAfter(t) + 1;
      await handleMatchingMessage(w.deps, { type: "tab", tabId: t.tabId });
    }
    afterRound();
    if (!busy) break;
  }
}

/** The header a requester seals a job under prepare's answer `p` with (its own reply key, fresh). */
export const headerOf = (
  p: Pick<PrepareResponse, "jobId" | "model" | "maxTokens" | "maxPromptTokens" | "maxCost">,
  requester: string,
): EnvelopeHeader => ({
  v: 1,
  jobId: p.jobId,
  requester,
  model: p.model,
  maxTokens: p.maxTokens,
  maxPromptTokens: p.maxPromptTokens,
  maxCost: p.maxCost,
  replyKey: b64u.encode(generateKemKey().publicKey),
});
