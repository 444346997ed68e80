/**
 * The items one job leaves in the store, their keys, and the small helpers every stage of
 * the job shares. Lifecycle (docs/architecture.md §3):
 *   prepare (quote) → submit: assigned(attempt 0) → completed   (settled in one transaction)
 *                       │  └─ lease runs out / worker fails → assigned(attempt i+1)
 *                       └─ no live candidate left → refunded (outcome expired | failed)
 *                       └─ cancelled (./cancel.ts), then its worker fails or its lease runs out
 *                          → refunded (outcome cancelled), never moved on
 * "failed", "expired" and "cancelled" are outcomes written together with the refund, in one
 * transaction, so no job ever rests with money held and nobody working on it.
 */
import type { AttestationTier } from "../../events/attestation";
import type { FailureCode, JobStatus } from "../../events/api";
import type { EnvelopeHeader, Receipt, ReplyEnvelope, RequestEnvelope, SealedReply } from "../../events/envelope";
import { b64u, canonicalJson, sha256Hex } from "../crypto/encoding";
import type { CoreDeps } from "../deps";
import type { Item, Key, Store } from "../ports";
import { itemBytes, MAX_ITEM_BYTES } from "../store-rules";
import { holdMovement, ledgerItem, operatorFee, settleMovement, type Movement } from "../ledger";

export interface JobCandidate {
  workerId: string;
  pricePerToken: string;
  tier: AttestationTier;
}

/**
 * The job's state, kept small on purpose: it is rewritten at every transition, and on
 * DynamoDB each write (twice inside a transaction) is billed per KB of the whole item. The
 * reply is written once, in its own item; the envelope too where envelopeItemStored (not on
 * DynamoDB: it rides the job's messages).
 */
export interface JobItem extends Item {
  jobId: string;
  requester: string;
  model: string;
  status: JobStatus;
  attempt: number;
  candidates: JobCandidate[];
  header: EnvelopeHeader;
  /** requestHash(envelope): what every receipt must cover. */
  requestHash: string;
  maxCost: string;
  leaseUntil: number;
  /** A random tag of the move (core/jobs/dispatch.ts advance) that set this attempt: how a move knows its own write. */
  moveId?: string;
  cost?: string;
  outcome?: string;
  /**
   * resultDigest(reply, receipt) of the accepted result: a retried post must be identical to
   * it, and it names the one reply item served (issue 9 #8). Absent on jobs completed
   * before it existed (their reply item is `reply#<attempt>`).
   */
  resultDigest?: string;
  /** Submitted under the key `submit-<jobId>`: this item is the idempotency record (no other). */
  keyedByJob?: boolean;
  /**
   * issue 15: the price weights the job was quoted and held under, from the policy registry
   * (which the owners may change while the job runs) or the configuration (which a redeploy may
   * change): settlement bills by these, not by the weights of the moment. Absent (a job submitted
   * before session 38 without a registry): the configured weights.
   */
  weights?: { promptBps: number; completionBps: number };
  /**
   * The operator's share of the job's cost, in bps (the registry's `fees.operatorFeeBps`, else
   * config.operatorFeeBps), fixed at submit like `weights`: a fee the owners change while the
   * job runs never re-prices it. The settlement (or its tab's close) credits the worker cost −
   * operatorFee(cost, this) and the operator (its fee shard, operatorFeeAccount) the rest. Absent: 0 (and jobs from before it).
   */
  operatorFeeBps?: number;
  /** issue 12: the requester's relay channel its stream goes to (SubmitRequest.relay; the SQS relay's queue). */
  relayChannel?: string;
  /**
   * issue 12: this item is the record of the job's hold movement (holdMovement of its requester,
   * maxCost and createdAt): no `ledger/hold:<jobId>` item is written, since this item's put, only
   * if absent and in the hold's own transaction, already makes the hold apply once, as a ledger
   * item would. The job's end logs the hold for the anchors (core/receipts/log.ts holdLogOps).
   * Absent on jobs submitted before it (their hold has its ledger item).
   */
  holdInJob?: true;
  /**
   * issue 12: set by the settlement, whose move of this item from assigned to completed records
   * the settlement movement (settleMovement of maxCost and cost, to the worker at `attempt`, at
   * `updatedAt`, with `operatorFeeBps`): no `ledger/settle:<jobId>` item is written. A completed job is never written
   * again (every job write is conditioned on status assigned), so those fields stay as settled.
   */
  settledInJob?: true;
  /**
   * issue 12: the job draws on this tab (core/jobs/tabs.ts) and holds nothing of its own: no
   * hold at submit, no money at its end; the tab's close pays for it. `slot` is its slot.
   */
  tab?: string;
  slot?: number;
  /** a tab's job, completed: the receipt's usage, for the worker's counters at the tab's close */
  usage?: { promptTokens: number; completionTokens: number };
  /**
   * When its requester asked to cancel it (./cancel.ts), written once, while it is assigned. From
   * then on it never goes to another worker: its worker's completed result still settles (billed
   * for what was generated), and anything else that ends the attempt (a failure report, the lease
   * running out) refunds it with outcome "cancelled" (./dispatch.ts advance).
   */
  cancelledAt?: number;
  createdAt: number;
  updatedAt: number;
}

/**
 * pk=jobId sk="envelope": the sealed request, written once at submit, where envelopeItemStored.
 * Nothing else: its hash is on the job item.
 */
export interface EnvelopeItem extends Item {
  envelope: RequestEnvelope;
}

/**
 * Where a job's sealed request lives after submit (issue 12). It always rides in the messages
 * that may hand the job to a worker: each lease check (and every re-send of one), a "dispatch"
 * matching message, the worker's AgentJob, and back in the worker's failure report (checked
 * against the job's requestHash). It is also stored as an item, in the submit's commit, except
 * where writes are billed (store.billedWrites: DynamoDB). There the item was a job's largest
 * write (6 of its 22 write units: 5.4 KB, and its month of storage), read only to move a job on,
 * which the messages now do (durable SQS queues; a message is billed per 64 KiB). The local
 * stores keep it: it costs them nothing in the commit, and their queues do not survive a
 * restart, after which core/recovery.ts sends each open job a lease check without an envelope,
 * which reads the item.
 */
export const envelopeItemStored = (store: Pick<Store, "billedWrites">): boolean => store.billedWrites !== true;

/**
 * pk=jobId sk="reply#<attempt>#<resultDigest>": a worker's sealed answer and signed receipt.
 * Content-addressed and written only if absent, so no post can ever overwrite an answer;
 * the job item names the one that was accepted. This is also the whole result as readers get
 * it from readReply, whichever layout it is stored in (below). Stored so (this layout) before
 * issue 12's packed one (PackedReplyItem); items in it are still read as they are.
 */
export interface ReplyItem extends Item {
  reply: ReplyEnvelope;
  receipt: Receipt;
}

/**
 * A reply item as written since issue 12: the same result, in fewer bytes. DynamoDB bills a
 * write per started KB of the item, and a ReplyItem was a job's largest write: 4,022 B (4 WRU)
 * for the cost bench's 1,932 B answer, 3,270 B of it one chunk's base64url. Packed, 2,948 B
 * (3 WRU): about a write unit less a job over any spread of answer sizes, and a quarter less
 * storage.
 *  - `packedReply`: the envelope with every canonical base64url string (all of its strings: the
 *    ciphertext chunks, enc, sig) as its bytes (DynamoDB binary: 3 bytes for 4 characters).
 *  - `packedReceipt`: the receipt less the fields its job item states (jobId, the candidate's
 *    workerId at the attempt, model, requestHash: receiptProblems checked each equal before the
 *    result was accepted, and the job's put at submit is the only write of them), its hex hashes and
 *    measurement and its signature as bytes.
 * Both are exact: a string is packed only where unpacking gives it back (canonical base64url,
 * lower-case hex), and a field is left out only where it equals what the job item restores; so
 * the served receipt still verifies and {reply, receipt} still hashes to the key's digest.
 * Every reader of a stored receipt goes through readReply or readReceipt (a tab's close too:
 * ./tabs.ts receiptOf), which restore the left-out fields from the job.
 */
export interface PackedReplyItem extends Item {
  packedReply: Packed;
  packedReceipt: PackedReceipt;
}

/** A value with some of its strings as bytes (packReply, packReceipt). */
export type Packed = string | number | boolean | null | Uint8Array | Packed[] | { [k: string]: Packed };

/** A Receipt as packReceipt stores it: its body less what the job states, bytes for hex and base64url. */
export interface PackedReceipt {
  body: Record<string, Packed>;
  signature: string | Uint8Array;
}

/** What a reply item's job states: its key (jobId, attempt, resultDigest) and the receipt fields packReceipt leaves out. */
export type ReplyOwner = Pick<JobItem, "jobId" | "attempt" | "model" | "requestHash" | "candidates"> &
  Partial<Pick<JobItem, "resultDigest" | "tab">>;

/**
 * A reply too large for one item (DynamoDB stores at most 400 KB an item, core/store-rules.ts
 * MAX_ITEM_BYTES; an embeddings reply is easily more) is stored split: this head, at the
 * reply item's key, holds the receipt and the number of parts; part i (ReplyPartItem, key
 * `<head sk>#<i>`) holds the i-th slice of canonicalJson(reply). Every part is a function of
 * the digest in its key, so the parts are content-addressed like the head, and the head is
 * written after its parts: a head that is there names parts that were all written.
 */
export interface ReplyHeadItem extends Item {
  receipt: Receipt;
  parts: number;
}

/** One slice of a split reply's canonical JSON (ReplyHeadItem). */
export interface ReplyPartItem extends Item {
  data: string;
}

/** A reply item as stored: whole (packed, or as before it), or the head of a split one. */
export type StoredReplyItem = ReplyItem | PackedReplyItem | ReplyHeadItem;

/**
 * UTF-8 bytes of canonical reply JSON per part: with its key (under 150 bytes), `data` and `ttl`
 * a part item stays 16 KiB under MAX_ITEM_BYTES. Fewer, larger parts: fewer requests (DynamoDB
 * bills writes and reads per KB whatever the split).
 */
export const REPLY_PART_BYTES = 384 * 1024;

/** pk=jobId sk="failure#<attempt>": a worker's failure report: a code, and its text sealed to the requester. */
export interface FailureItem extends Item {
  workerId: string;
  code: FailureCode;
  reply?: SealedReply;
}

/** The hold a job item records (JobItem.holdInJob), or undefined when its hold has a ledger item of its own. */
export const jobHoldMovement = (job: Pick<JobItem, "jobId" | "holdInJob" | "requester" | "maxCost" | "createdAt">): Movement | undefined =>
  job.holdInJob === true ? holdMovement(job.jobId, job.requester, BigInt(job.maxCost), job.createdAt) : undefined;

/** The settlement a completed job item records (JobItem.settledInJob), or undefined when it has a ledger item of its own. */
export function jobSettleMovement(
  job: Pick<
    JobItem,
    "jobId" | "settledInJob" | "status" | "requester" | "maxCost" | "cost" | "candidates" | "attempt" | "updatedAt" | "operatorFeeBps"
  >,
): Movement | undefined {
  const worker = job.candidates[job.attempt]?.workerId;
  if (job.settledInJob !== true || job.status !== "completed" || job.cost === undefined || worker === undefined) return undefined;
  return settleMovement(job.jobId, job.requester, worker, BigInt(job.maxCost), BigInt(job.cost), job.updatedAt, job.operatorFeeBps ?? 0);
}

/** What a completed job's worker is credited for it: its cost less the operator fee fixed at its submit. */
export const workerCredit = (job: Pick<JobItem, "operatorFeeBps">, cost: bigint): bigint =>
  cost - operatorFee(cost, job.operatorFeeBps ?? 0);

/**
 * The movements a job item records (its hold, its settlement), in the shape of the ledger items
 * they replace (`hold:<jobId>` / "tx", `settle:<jobId>` / "tx"), for audits that read the
 * ledger's records: the ledger is its items plus the movements its job items record.
 */
export function jobMovementRecords(item: Item): Item[] {
  if (item.sk !== "job" || isVoid(item)) return []; // a voided id holds nothing (./void.ts)
  const job = item as JobItem;
  return [jobHoldMovement(job), jobSettleMovement(job)].flatMap((m) => (m ? [ledgerItem(m)] : []));
}

export const jobKey = (jobId: string) => ({ pk: jobId, sk: "job" });

/**
 * A job id its requester voided (./void.ts): written at the job's key, only if absent, by a
 * requester whose submit of that id may have been lost, so no submit of the id can ever commit
 * after it (every submit's put of the job is conditioned on that key being absent). It is no job:
 * no `status`, no candidates, nothing held. Readers take it through readJob, which answers it as
 * no job at all; scans skip it (it is never `assigned`: recovery, the ledger's records).
 */
export interface VoidItem extends Item {
  jobId: string;
  state: "void";
  requester: string;
  createdAt: number;
  ttl: number;
}
export const isVoid = (item: Item | undefined): item is VoidItem => item?.state === "void";
/** The job item of `jobId`, or undefined: none, or a voided id (a VoidItem is never a job). */
export async function readJob(store: Pick<Store, "get">, jobId: string): Promise<JobItem | undefined> {
  const item = await store.get<JobItem | VoidItem>("jobs", jobKey(jobId));
  return isVoid(item) ? undefined : (item as JobItem | undefined);
}
export const envelopeKey = (jobId: string) => ({ pk: jobId, sk: "envelope" });
export const replyKey = (jobId: string, attempt: number, digest?: string) => ({
  pk: jobId,
  sk: digest ? `reply#${attempt}#${digest}` : `reply#${attempt}`,
});
export const failureKey = (jobId: string, attempt: number) => ({ pk: jobId, sk: `failure#${attempt}` });
/** Part `i` of the split reply whose head is at `head` (ReplyHeadItem). */
export const replyPartKey = (head: Key, i: number) => ({ pk: head.pk, sk: `${head.sk}#${i}` });

/**
 * The items that store one result (docs/architecture.md §3, step 6): the reply item whole and
 * packed (PackedReplyItem) when it fits in one store item (one write), else a small head and the
 * parts it names. Writers put the parts first, then the head.
 */
export function replyItems(
  job: ReplyOwner,
  digest: string,
  reply: ReplyEnvelope,
  receipt: Receipt,
  /** canonicalJson(reply), when the caller has it already */
  canonicalReply: string | undefined,
  ttl: number,
): { head: StoredReplyItem; parts: ReplyPartItem[] } {
  const key = replyKey(job.jobId, job.attempt, digest);
  const whole: PackedReplyItem = { ...key, packedReply: packReply(reply), packedReceipt: packReceipt(receipt, job), ttl };
  if (itemBytes(whole) <= MAX_ITEM_BYTES) return { head: whole, parts: [] };
  const slices = splitUtf8(canonicalReply ?? canonicalJson(reply), REPLY_PART_BYTES);
  return {
    head: { ...key, receipt, parts: slices.length, ttl } satisfies ReplyHeadItem,
    parts: slices.map((data, i) => ({ ...replyPartKey(key, i), data, ttl })),
  };
}

/** Every key a result's items may have (the head's and each part's), for removing them. */
export const replyItemKeys = (items: { head: StoredReplyItem; parts: ReplyPartItem[] }): Key[] => [
  { pk: items.head.pk, sk: items.head.sk },
  ...items.parts.map((p) => ({ pk: p.pk, sk: p.sk })),
];

const isPacked = (item: StoredReplyItem): item is PackedReplyItem => "packedReply" in item;
const isSplit = (item: StoredReplyItem): item is ReplyHeadItem => !("reply" in item) && typeof item.parts === "number";

/** The key of the result `job` accepted (legacy `reply#<attempt>` for a job completed before resultDigest). */
const acceptedReplyKey = (job: ReplyOwner) => replyKey(job.jobId, job.attempt, job.resultDigest);

/**
 * The result `job` accepted, whole, in any layout it was stored in: packed, as before packing,
 * or split (its parts read in parallel, each a get: no query page limit to follow, and joined).
 * Undefined when the item, or any of its parts, is missing (expired, or removed by a post that
 * lost its race; an identical retry of the accepted result writes them again). The parts are
 * not re-hashed: each is written only if absent under a key naming the result's digest, so
 * none can differ.
 */
export async function readReply(store: Pick<Store, "get">, job: ReplyOwner): Promise<ReplyItem | undefined> {
  const key = acceptedReplyKey(job);
  const head = await store.get<StoredReplyItem>("jobs", key);
  if (!head) return undefined;
  if (isPacked(head)) {
    const { packedReply, packedReceipt, ...rest } = head;
    return { ...rest, reply: unpack(packedReply) as ReplyEnvelope, receipt: unpackReceipt(packedReceipt, job) };
  }
  if (!isSplit(head)) return head;
  const parts = await Promise.all(Array.from({ length: head.parts }, (_, i) => store.get<ReplyPartItem>("jobs", replyPartKey(key, i))));
  if (parts.some((p) => p === undefined)) return undefined;
  const { parts: _count, ...rest } = head;
  return { ...rest, reply: JSON.parse(parts.map((p) => p!.data).join("")) as ReplyEnvelope };
}

/** The receipt of the result `job` accepted, from its reply item alone (no parts read), in any layout; undefined when the item is missing. */
export async function readReceipt(store: Pick<Store, "get">, job: ReplyOwner): Promise<Receipt | undefined> {
  const head = await store.get<StoredReplyItem>("jobs", acceptedReplyKey(job));
  if (!head) return undefined;
  return isPacked(head) ? unpackReceipt(head.packedReceipt, job) : head.receipt;
}

/** `s` as its bytes when it is canonical base64url (b64u.encode gives it back exactly), else undefined. */
function b64uBytes(s: string): Uint8Array | undefined {
  try {
    return b64u.decode(s);
  } catch {
    return undefined;
  }
}

/** `s` as its bytes when it is lower-case hex of whole bytes (Buffer's hex gives it back exactly), else `s`. */
const hexBytes = (s: string): string | Uint8Array => (/^(?:[0-9a-f]{2})+$/.test(s) ? Buffer.from(s, "hex") : s);

/** A value with every canonical base64url string in it as its bytes (unpack reverses it). */
export function packReply(v: unknown): Packed {
  if (typeof v === "string") return b64uBytes(v) ?? v;
  if (Array.isArray(v)) return v.map(packReply);
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, packReply(x)]));
  return v as Packed;
}

/** packReply reversed: every byte string as base64url. */
function unpack(v: Packed): unknown {
  if (v instanceof Uint8Array) return b64u.encode(v);
  if (Array.isArray(v)) return v.map(unpack);
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unpack(x)]));
  return v;
}

/** The receipt fields a job item states (ReplyOwner): the accepted receipt's, as receiptProblems checked them. */
const statedByJob = (job: ReplyOwner): Record<string, string | undefined> => ({
  jobId: job.jobId,
  workerId: job.candidates[job.attempt]?.workerId,
  model: job.model,
  requestHash: job.requestHash,
});
/** Receipt body fields in lower-case hex (sha256 digests; a TD's measurement). */
const HEX_FIELDS = new Set(["requestHash", "replyHash", "measurement"]);

/** The receipt, less each field equal to what `job` states, its hex fields and signature as bytes (unpackReceipt reverses it). */
export function packReceipt(receipt: Receipt, job: ReplyOwner): PackedReceipt {
  const stated = statedByJob(job);
  const body: Record<string, Packed> = {};
  for (const [k, v] of Object.entries(receipt.body) as Array<[string, Packed]>) {
    if (v === stated[k]) continue;
    body[k] = HEX_FIELDS.has(k) && typeof v === "string" ? hexBytes(v) : v;
  }
  const signature = b64uBytes(receipt.signature) ?? receipt.signature;
  return { body, signature };
}

/** packReceipt reversed, with `job`: the receipt exactly as the worker signed it. */
export function unpackReceipt(packed: PackedReceipt, job: ReplyOwner): Receipt {
  const body: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(statedByJob(job))) if (v !== undefined) body[k] = v;
  for (const [k, v] of Object.entries(packed.body)) body[k] = v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v;
  const signature = typeof packed.signature === "string" ? packed.signature : b64u.encode(packed.signature);
  return { body: body as Receipt["body"], signature };
}

/**
 * `s` cut into consecutive slices of at most `maxBytes` UTF-8 bytes each, never inside a
 * surrogate pair. A reply's canonical JSON is ASCII (base64url and its field names), cut by
 * characters; anything else is cut at a third of that (a UTF-16 unit is at most 3 bytes).
 */
export function splitUtf8(s: string, maxBytes: number): string[] {
  const step = Buffer.byteLength(s, "utf8") === s.length ? maxBytes : Math.floor(maxBytes / 3);
  const out: string[] = [];
  for (let i = 0; i < s.length;) {
    let end = Math.min(s.length, i + step);
    const last = s.charCodeAt(end - 1);
    if (end < s.length && last >= 0xd800 && last <= 0xdbff) end--; // keep the pair whole
    out.push(s.slice(i, end));
    i = end;
  }
  return out;
}

/** What a completed job pins: sha256 over the canonical {reply, receipt} it accepted. */
export const resultDigest = (reply: ReplyEnvelope, receipt: Receipt) => resultDigestOf(canonicalJson(reply), receipt);

/**
 * resultDigest for a reply already in canonical form (canonicalJson(reply)): the very string
 * canonicalJson({ reply, receipt }) writes ("receipt" sorts before "reply"), so a result's
 * reply, which may hold thousands of chunks, is made canonical once for both its receipt's
 * replyHash and this digest (core/jobs/results.ts).
 */
export const resultDigestOf = (canonicalReply: string, receipt: Receipt) =>
  sha256Hex(`{"receipt":${canonicalJson(receipt)},"reply":${canonicalReply}}`);

/**
 * How long a lease check that came before its commit waits for it. The check is sent before the
 * transaction that creates the job (submit) or moves it to the check's attempt (advance), so
 * that a crash after that commit still leaves the job a check; that commit lands while the
 * request that sent it runs, and no handler runs longer than Lambda's 15 minutes. A submit that
 * never committed (402, a crash) costs two more messages (COMMIT_RECHECK_MS, then this), a
 * committed job none. A tab's close waits as long past its expiry (./tabs.ts).
 */
export const COMMIT_WAIT_MS = 900_000;

/**
 * When a check that came before its commit looks first again: the commit, if it lands at all,
 * lands within the timeout of the function that sent the check (60 s at most on our stack: the
 * matching consumer; the routes 29 s). A job whose commit came late then has its lease enforced
 * about a minute late, not 15 minutes (simulation seed 201753: a submit stalled 20 s in the store
 * left its job with a dead worker, and its tab's close, waiting 15 minutes).
 */
export const COMMIT_RECHECK_MS = 60_000;

/** The SQS delay (whole seconds, 0 to its 900 s maximum) of a message meant for `atMs`; a later one sends itself again. */
export const delaySecondsUntil = (deps: Pick<CoreDeps, "clock">, atMs: number): number =>
  Math.min(900, Math.max(0, Math.ceil((atMs - deps.clock.now()) / 1000)));

/** Envelopes and replies are kept this long after submit, then expire (TTL). */
export const RETAIN_SECONDS = 7 * 86_400;

/** The notifier topic a job's waiters (GET /v1/jobs/{id}?wait=N) listen on. */
export const jobTopic = (jobId: string) => `job:${jobId}`;

/** How long a candidate has to answer one attempt: a base plus a budget per requested token. */
export function leaseMs(deps: CoreDeps, maxTokens: number) {
  return deps.config.leaseBaseSeconds * 1000 + maxTokens * deps.config.leaseMsPerToken;
}

/** A condition: the job is still assigned, at this attempt (every transition is conditioned on it). */
export const stillAt = (attempt: number) => ({
  kind: "and" as const,
  all: [
    { kind: "cmp" as const, attr: "status", op: "=" as const, value: "assigned" },
    { kind: "cmp" as const, attr: "attempt", op: "=" as const, value: attempt },
  ],
});
