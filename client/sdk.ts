import { randomBytes } from "node:crypto";
import type { AttestationTier } from "../events/attestation";
import type { AttestationDoc } from "../events/attestation";
import { FailurePlaintext, type Candidate, type ChallengeView, type JobView, type Quote } from "../events/api";
import { ReplyPlaintext, type EnvelopeHeader, type Receipt, type RequestEnvelope, type RequestPlaintext } from "../events/envelope";
import { verifyAttestation, type AttestationResult } from "../core/attestation/verify";
import { loadPolicy } from "../core/attestation/policy";
import type { Policy } from "../core/attestation/policy";
import { b64u, canonicalJson, sha256Hex } from "../core/crypto/encoding";
import { generateKemKey, type KemKeyPair, type SigningKeyPair } from "../core/crypto/keys";
import { openReply, replyHash, requestHash, sealRequest } from "../core/crypto/envelope";
import { verifyReceipt } from "../core/crypto/receipt";
import { DEFAULT_PRICING, jobCost, maxJobCost, type PricingConfig } from "../core/pricing";
import { newJobId } from "../core/ids";
import { API, ApiClient, ApiError } from "../api-client/api";

/** The SDK refused something the network sent: it never encrypts to or trusts what it cannot verify. */
export class VerificationError extends Error {
  override readonly name = "VerificationError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A job came back refunded. With outcome "failed", `failure` is what the last worker
 * reported: its code (all the coordinator saw) and, when the worker sealed it to our reply
 * key, the engine's own message (which may quote our prompt, hence sealed).
 */
export class JobRefundedError extends VerificationError {
  constructor(
    code: string,
    message: string,
    readonly failure?: { workerId: string; code: string; message?: string },
  ) {
    super(code, message);
  }
}

function refundedError(job: JobView, header: EnvelopeHeader, encryptedTo: Candidate[], replyKey: KemKeyPair): JobRefundedError {
  const base = `job ${job.jobId} was not answered (${job.outcome}); the held ${job.maxCost} nanoTON were refunded`;
  const f = job.failure;
  if (!f) return new JobRefundedError(`job_${job.outcome ?? "refunded"}`, base);
  let text: string | undefined;
  // Not signed: anyone who saw the job header (the coordinator too) could seal such a text to
  // our reply key. It explains a refund, it proves nothing; we only show it.
  if (f.reply && encryptedTo.some((c) => c.workerId === f.workerId)) {
    try {
      text = FailurePlaintext.parse(JSON.parse(new TextDecoder().decode(openReply(f.reply, header, f.workerId, replyKey)))).error.message;
    } catch {
      text = undefined;
    }
  }
  const failure = { workerId: f.workerId, code: f.code, ...(text !== undefined ? { message: text } : {}) };
  return new JobRefundedError(`job_${job.outcome ?? "refunded"}`, `${base}; worker ${f.workerId.slice(0, 8)} reported ${f.code}${text !== undefined ? `: ${text}` : ""}`, failure);
}

/** A candidate whose attestation we verified ourselves, with the measurement it attested. */
export type VerifiedCandidate = Candidate & { measurement: string };

/** The price weights a coordinator bills with (core/pricing.ts); only the weights matter here. */
export type PriceWeights = Pick<PricingConfig, "promptBps" | "completionBps">;

/**
 * Checks a completed job before believing any number in it (issue 9 #12): the receipt is
 * signed by the worker we encrypted to, covers our request and this reply, names the
 * measurement that worker attested to us, bills the usage inside the sealed reply, and the
 * charge is exactly the cost of that usage at the price we were quoted for that worker (capped
 * by the hold). Returns the opened answer; throws VerificationError with code bad_job,
 * bad_receipt, measurement_mismatch, usage_mismatch, overcharged or cost_mismatch.
 */
export function checkCompletedJob(o: {
  job: JobView;
  jobId: string;
  envelope: RequestEnvelope;
  header: EnvelopeHeader;
  replyKey: KemKeyPair;
  /** the candidates we encrypted to */
  encryptedTo: VerifiedCandidate[];
  maxCost: string;
  weights?: PriceWeights;
}): ReplyPlaintext {
  const { job } = o;
  const { receipt, reply } = job;
  const worker = o.encryptedTo.find((c) => c.workerId === job.workerId);
  if (!receipt || !reply || !worker || job.cost === undefined) {
    throw new VerificationError("bad_job", "completed job lacks a receipt, a reply or a cost, or came from a worker we did not encrypt to");
  }
  if (!verifyReceipt(receipt, b64u.decode(worker.workerId))) throw new VerificationError("bad_receipt", "receipt signature does not verify with the worker's attested key");
  if (receipt.body.jobId !== o.jobId || receipt.body.requestHash !== requestHash(o.envelope) || receipt.body.replyHash !== replyHash(reply)) {
    throw new VerificationError("bad_receipt", "receipt does not cover this request and reply");
  }
  if (receipt.body.measurement !== worker.measurement) {
    throw new VerificationError(
      "measurement_mismatch",
      `the receipt names measurement ${receipt.body.measurement.slice(0, 16)}…, not the ${worker.measurement.slice(0, 16)}… worker ${worker.workerId.slice(0, 8)} attested to us: the answer may come from another image`,
    );
  }
  const answer = ReplyPlaintext.parse(JSON.parse(new TextDecoder().decode(openReply(reply, o.header, worker.workerId, o.replyKey))));
  const usage = receipt.body.usage;
  if (answer.usage.promptTokens !== usage.promptTokens || answer.usage.completionTokens !== usage.completionTokens) {
    throw new VerificationError("usage_mismatch", "the usage billed differs from the usage inside the sealed reply");
  }
  const held = BigInt(o.maxCost);
  const computed = jobCost({ ...DEFAULT_PRICING, ...o.weights }, BigInt(worker.pricePerToken), usage);
  const expected = computed < held ? computed : held;
  const charged = BigInt(job.cost);
  if (charged > expected) {
    throw new VerificationError(
      "overcharged",
      `charged ${charged} nanoTON, but ${usage.promptTokens}+${usage.completionTokens} tokens at the quoted ${worker.pricePerToken} nanoTON/token cost ${expected} (held ${held})`,
    );
  }
  if (charged !== expected) {
    throw new VerificationError("cost_mismatch", `charged ${charged} nanoTON, but the receipt's usage at the quoted price costs ${expected}: the coordinator's bill does not follow the receipt`);
  }
  return answer;
}

/** A tool call in OpenAI's shape (camelCase elsewhere); `arguments` is the JSON text the model wrote. */
export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** A piece of a tool call in a stream (OpenAI's `delta.tool_calls[]`); this network sends each call whole. */
export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: "function";
  function?: { name?: string; arguments?: string };
}

/** A function the model may call (OpenAI's `tools[]` entry); `parameters` is a JSON Schema. */
export interface Tool {
  type: "function";
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

/** OpenAI's `tool_choice`. */
export type ToolChoice = "auto" | "none" | "required" | { type: "function"; function: { name: string } };

/** OpenAI's `response_format`. */
export type ResponseFormat =
  | { type: "text" }
  | { type: "json_object" }
  | { type: "json_schema"; json_schema: { name?: string; schema?: Record<string, unknown>; strict?: boolean | null; description?: string } };

/** One chat message: OpenAI's roles; an assistant turn may carry the calls it made, a tool turn answers one. */
export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string;
  toolCalls?: ToolCall[];
  toolCallId?: string;
}

export interface AskOptions {
  model: string;
  /** A chat (the model's chat template). Exactly one of `messages` and `prompt`. */
  messages?: ChatMessage[];
  /** A plain text completion (OpenAI's /v1/completions): the prompt is continued as is. */
  prompt?: string;
  /** Completion tokens per choice (default 256); the hold covers n × maxTokens. */
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  /** Up to 4 strings; the text ends before the first one generated. */
  stop?: string[];
  /** Choices to generate (default 1, at most 8); each is generated in turn by the same worker. */
  n?: number;
  tools?: Tool[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  responseFormat?: ResponseFormat;
  /** OpenAI's end-user id: sealed with the request, only the worker sees it. */
  user?: string;
  logprobs?: boolean;
  topLogprobs?: number;
  /** Tiers accepted. Default ["tdx"]; "dev" needs allowDev, "none" means NOT confidential. */
  tiers?: AttestationTier[];
  maxPricePerToken?: bigint;
  candidates?: number;
  /** Give up waiting after this long (the job is refunded by the network if nobody answers). */
  timeoutMs?: number;
  /** Stops waiting (askStream: ends the iteration with an AbortError); the job itself runs on and is billed if answered. */
  signal?: AbortSignal;
  /**
   * Challenge every candidate for fresh evidence bound to our own nonce before encrypting to
   * it (POST /v1/attestations); candidates that fail or do not answer in time are dropped.
   */
  freshAttestation?: boolean;
  /** How long each candidate has to answer the challenge (default 30 s). */
  freshAttestationTimeoutMs?: number;
  /** Told each step as it starts (the CLI shows them while it waits). */
  onProgress?: (step: string) => void;
}

/** One of n choices (n > 1); choice 0 is also the result's own text. */
export interface AskChoice {
  index: number;
  text: string;
  toolCalls?: ToolCall[];
  finishReason: "stop" | "length" | "tool_calls";
}

/**
 * What askStream yields. Every delta comes from a chunk that authenticated under the reply
 * key of a worker we encrypted to, in order; "done" only after the worker's signed receipt
 * covers the whole chunk sequence and the bill matches it.
 *
 * "restart": the worker that was streaming failed and the network handed the job to the next
 * candidate, which starts over; text shown so far is not part of the answer (rare; a consumer
 * that cannot take text back should end its output with an error).
 */
export type StreamEvent =
  | { type: "delta"; text?: string; toolCalls?: ToolCallDelta[]; /** choice index (n > 1), default 0 */ index?: number }
  | { type: "restart"; attempt: number; workerId: string }
  | ({ type: "done" } & AskResult & { receipt: Receipt; relay: { chunks: number; recovered: number } });

export interface EmbedOptions {
  model: string;
  /** Texts, or token ids of the model's own vocabulary (OpenAI's four input forms). */
  input: string | string[] | number[] | number[][];
  tiers?: AttestationTier[];
  maxPricePerToken?: bigint;
  candidates?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (step: string) => void;
}

export interface EmbedResult {
  jobId: string;
  model: string;
  /** One float vector per input, in input order. */
  vectors: number[][];
  /** Billed per input token: promptTokens = the input's tokens, completionTokens = 0. */
  usage: { promptTokens: number; completionTokens: number };
  engine: string;
  workerId: string;
  tier: AttestationTier;
  cost: string;
  maxCost: string;
  attempt: number;
  receipt: Receipt;
}

export interface FreshAttestationOptions {
  /** How long the worker has to answer (default 30 s; the coordinator drops a challenge after 2 minutes). */
  timeoutMs?: number;
  /** Tiers accepted; default like ask(): ["tdx"], plus "dev" with allowDev. */
  tiers?: AttestationTier[];
}

/** A worker's fresh evidence, verified by us against our own nonce and its registered keys. */
export type FreshAttestation = Extract<AttestationResult, { ok: true }> & {
  workerId: string;
  challengeId: string;
  attestation: AttestationDoc;
};

export interface AskResult {
  jobId: string;
  text: string;
  /** The calls the model made (finishReason "tool_calls"). */
  toolCalls?: ToolCall[];
  /** n > 1: every choice, choice 0 first. */
  choices?: AskChoice[];
  usage: { promptTokens: number; completionTokens: number };
  finishReason: "stop" | "length" | "tool_calls";
  engine: string;
  model: string;
  workerId: string;
  tier: AttestationTier;
  cost: string; // nanoTON actually charged
  maxCost: string; // nanoTON that was held
  attempt: number;
  /** With ask({ freshAttestation: true }): the challenge the answering worker passed. */
  freshEvidence?: { challengeId: string; issuedAt: number };
  /** The worker's signed receipt (checked: signature, request and reply hashes, measurement, usage, bill). */
  receipt?: Receipt;
}

export interface CocoonClientOptions {
  apiUrl: string;
  key: SigningKeyPair;
  /** Accept simulated (dev) attestations. Only for the local default and tests. */
  allowDev?: boolean;
  policy?: Policy;
  now?: () => number;
  /** The coordinator's price weights (default core/pricing DEFAULT_PRICING): the SDK recomputes every charge. */
  priceWeights?: PriceWeights;
}

/** A quote the SDK keeps: the coordinator's MAC'd quote and the candidates whose attestation we verified. */
interface CachedQuote {
  key: string;
  quote: Quote;
  verified: VerifiedCandidate[];
  /** usable until then (ms) */
  until: number;
}

/** A cached quote is not used this close to its expiry (the submit must arrive before it). */
const QUOTE_MARGIN_MS = 10_000;
/** Refusals of a quote that a fresh prepare cures. */
const QUOTE_REFUSALS = new Set(["bad_quote", "quote_expired"]);
/** The smallest power of two ≥ n, at least `min`. */
const bucket = (n: number, min: number) => {
  let b = min;
  while (b < n) b *= 2;
  return b;
};

/** Upper bound on tokens in a prompt: a byte-level tokenizer never makes more than one token per byte. */
export const promptTokenBound = (messages: RequestPlaintext["messages"]) =>
  messages.reduce((n, m) => n + Buffer.byteLength(m.content) + 8, 16);

export class CocoonClient {
  readonly api: ApiClient;
  private readonly policy: Policy;
  private readonly now: () => number;
  /** Verdicts on evidence we already checked, until that evidence expires: same document, same answer. */
  private readonly verdicts = new Map<string, { tier: AttestationTier; measurement: string; expiresAt: number }>();

  constructor(private readonly opts: CocoonClientOptions) {
    this.api = new ApiClient(opts.apiUrl, opts.key);
    this.policy = opts.policy ?? loadPolicy();
    this.now = opts.now ?? Date.now;
  }

  get account() {
    return this.opts.key.id;
  }

  balance() {
    return this.api.request(API.account);
  }

  faucet(amount: bigint) {
    return this.api.request(API.faucet, { body: { amount }, headers: { "idempotency-key": b64u.encode(randomBytes(12)) } });
  }

  models() {
    return this.api.request(API.models);
  }

  /** Verify each candidate's attestation ourselves; keep only those that pass. */
  async verifyCandidates(cands: Candidate[], tiers: AttestationTier[]): Promise<VerifiedCandidate[]> {
    const ok: VerifiedCandidate[] = [];
    const refusals: string[] = [];
    for (const c of cands) {
      if (c.attestation.signingPublicKey !== c.workerId || c.attestation.hpkePublicKey !== c.hpkePublicKey) {
        refusals.push(`${c.workerId.slice(0, 8)}: keys differ from its attestation`);
        continue;
      }
      if (!tiers.includes(c.attestation.tier)) {
        refusals.push(`${c.workerId.slice(0, 8)}: tier ${c.attestation.tier} not requested`);
        continue;
      }
      const id = sha256Hex(canonicalJson(c.attestation));
      const known = this.verdicts.get(id);
      if (known && known.expiresAt > this.now() && known.tier === c.tier) {
        ok.push({ ...c, measurement: known.measurement });
        continue;
      }
      const v = await verifyAttestation(c.attestation, {
        policy: this.policy,
        now: this.now(),
        allowDev: this.opts.allowDev === true && tiers.includes("dev"),
        allowNone: tiers.includes("none"),
      });
      if (v.ok) this.verdicts.set(id, { tier: v.tier, measurement: v.measurement, expiresAt: v.expiresAt });
      if (v.ok && v.tier === c.tier) ok.push({ ...c, measurement: v.measurement });
      else refusals.push(`${c.workerId.slice(0, 8)}: ${v.ok ? "tier mismatch" : v.reason}`);
    }
    if (ok.length === 0) throw new VerificationError("no_verified_candidates", `no candidate passed attestation checks: ${refusals.join("; ")}`);
    return ok;
  }

  /**
   * Ask a worker for evidence bound to a nonce only we know, and verify it ourselves: the
   * policy, our nonce (so it cannot be replayed old evidence), and that it binds the keys the
   * coordinator registered for the worker (the keys we would encrypt to). Throws
   * VerificationError: stale_or_forged_evidence, challenge_expired or challenge_timeout.
   */
  async freshAttestation(workerId: string, o: FreshAttestationOptions = {}): Promise<FreshAttestation> {
    const tiers = o.tiers ?? this.defaultTiers();
    return this.challenge(workerId, undefined, tiers, o.timeoutMs ?? 30_000);
  }

  private defaultTiers(): AttestationTier[] {
    return this.opts.allowDev ? ["tdx", "dev"] : ["tdx"];
  }

  private async challenge(workerId: string, expected: { hpkePublicKey: string; tier: AttestationTier } | undefined, tiers: AttestationTier[], timeoutMs: number): Promise<FreshAttestation> {
    const nonce = randomBytes(32);
    const ch = await this.api.request(API.challenge, { body: { workerId, nonce: b64u.encode(nonce) } });
    const want = expected ?? { hpkePublicKey: ch.hpkePublicKey, tier: ch.tier };
    const deadline = this.now() + timeoutMs;
    let view: ChallengeView;
    for (;;) {
      const wait = Math.max(0, Math.min(20, Math.ceil((deadline - this.now()) / 1000)));
      view = await this.api.request(API.getChallenge, { params: { id: ch.challengeId }, query: { wait } });
      if (view.status !== "pending" || this.now() >= deadline) break;
    }
    const who = `worker ${workerId.slice(0, 8)}`;
    if (view.status === "expired") throw new VerificationError("challenge_expired", `${who} did not answer attestation challenge ${ch.challengeId} before it expired; pick another worker or retry`);
    if (view.status !== "answered" || !view.attestation) {
      throw new VerificationError("challenge_timeout", `${who} did not answer attestation challenge ${ch.challengeId} within ${timeoutMs} ms; pick another worker or wait longer`);
    }
    const doc = view.attestation;
    const forged = (why: string) => new VerificationError("stale_or_forged_evidence", `${who}'s fresh evidence is refused: ${why}`);
    const v = await verifyAttestation(doc, {
      policy: this.policy,
      now: this.now(),
      expectedNonce: nonce,
      allowDev: this.opts.allowDev === true && tiers.includes("dev"),
      allowNone: tiers.includes("none"),
    });
    if (!v.ok) throw forged(`${v.code}: ${v.reason}`);
    if (doc.signingPublicKey !== workerId || doc.hpkePublicKey !== want.hpkePublicKey) {
      throw forged("it binds other keys than the worker's registered ones (signing key = worker id, HPKE key)");
    }
    if (v.tier !== want.tier || !tiers.includes(v.tier)) throw forged(`tier ${v.tier} differs from the registered tier ${want.tier} or was not requested`);
    return { ...v, workerId, challengeId: ch.challengeId, attestation: doc };
  }

  /** Challenge each candidate in parallel; keep those whose fresh evidence verifies. */
  private async freshCandidates(cands: VerifiedCandidate[], tiers: AttestationTier[], timeoutMs: number) {
    const results = await Promise.allSettled(cands.map((c) => this.challenge(c.workerId, { hpkePublicKey: c.hpkePublicKey, tier: c.tier }, tiers, timeoutMs)));
    const ok: Array<{ candidate: VerifiedCandidate; fresh: FreshAttestation }> = [];
    const refusals: string[] = [];
    results.forEach((r, i) => {
      if (r.status === "fulfilled") ok.push({ candidate: cands[i]!, fresh: r.value });
      else refusals.push(`${cands[i]!.workerId.slice(0, 8)}: ${r.reason instanceof VerificationError ? `${r.reason.code}: ` : ""}${(r.reason as Error).message}`);
    });
    if (ok.length === 0) throw new VerificationError("no_verified_candidates", `no candidate passed a fresh attestation challenge: ${refusals.join("; ")}`);
    return ok;
  }

  /**
   * Quotes we keep, by what they were asked for: a quote is stateless (MAC'd by the
   * coordinator) and names no job, so every ask until it expires reuses it and its verified
   * candidates, and a job costs two requests (submit, which waits for the answer; the
   * worker's result). Dropped when refused, expired, or when a job had to fail over.
   */
  private readonly quotes = new Map<string, CachedQuote>();
  /** Round-robin over a cached quote's candidates, so one client's jobs spread over them. */
  private turn = 0;

  /** A usable quote for these options (from the cache, or a fresh prepare with its candidates verified). */
  private async quoteFor(o: AskOptions, tiers: AttestationTier[], maxTokens: number, maxPromptTokens: number, use: "cache" | "refresh" | "once"): Promise<CachedQuote> {
    const key = JSON.stringify([o.model, [...tiers].sort(), o.candidates ?? null, o.maxPricePerToken?.toString() ?? null]);
    const cached = this.quotes.get(key);
    // A margin for the submit's flight time: a quote that runs out on the way is refused.
    if (use === "cache" && cached && cached.until - QUOTE_MARGIN_MS > this.now() && maxTokens <= cached.quote.maxTokens && maxPromptTokens <= cached.quote.maxPromptTokens) {
      return cached;
    }
    o.onProgress?.("asking the coordinator for candidates and a quote");
    const prep = await this.api.request(API.prepareJob, {
      body: {
        model: o.model,
        // Asked in powers of two: the quote caps each job's maxima, so rounding up lets the
        // next asks reuse it; each job's hold is still computed at its own maxima.
        maxTokens: Math.min(32_768, bucket(maxTokens, 256)),
        maxPromptTokens: Math.min(262_144, bucket(maxPromptTokens, 1024)),
        tiers,
        ...(o.candidates ? { candidates: o.candidates } : {}),
        ...(o.maxPricePerToken !== undefined ? { maxPricePerToken: o.maxPricePerToken } : {}),
      },
    });
    o.onProgress?.(`verifying the attestation of ${prep.candidates.length} candidate${prep.candidates.length === 1 ? "" : "s"}`);
    const verified = await this.verifyCandidates(prep.candidates, tiers);
    // Kept until the quote or any verdict we reached runs out, whichever is first (the
    // coordinator bounds the quote by the evidence too; we do not rely on it).
    const evidence = verified.map((c) => this.verdicts.get(sha256Hex(canonicalJson(c.attestation)))?.expiresAt ?? 0);
    const entry: CachedQuote = { key, quote: prep.quote, verified, until: Math.min(prep.quote.expiresAt, ...evidence) };
    if (use !== "once") this.quotes.set(key, entry);
    return entry;
  }

  async ask(o: AskOptions): Promise<AskResult> {
    try {
      return await this.askOnce(o, false);
    } catch (e) {
      // The coordinator restarted with another quote key, changed its prices, or the quote
      // ran out in flight: prepare again, once.
      if (e instanceof ApiError && QUOTE_REFUSALS.has(e.code)) return this.askOnce(o, true);
      throw e;
    }
  }

  private async askOnce(o: AskOptions, refresh: boolean): Promise<AskResult> {
    const tiers = o.tiers ?? this.defaultTiers();
    const maxTokens = o.maxTokens ?? 256;
    const maxPromptTokens = promptTokenBound(o.messages ?? []);
    const plaintext: RequestPlaintext = { messages: o.messages as RequestPlaintext["messages"], ...(o.temperature !== undefined ? { temperature: o.temperature } : {}) };
    // Fresh evidence is asked per job, so such asks neither use nor keep a cached quote.
    const q = await this.quoteFor(o, tiers, maxTokens, maxPromptTokens, o.freshAttestation ? "once" : refresh ? "refresh" : "cache");
    let verified = q.verified;
    const fresh = new Map<string, FreshAttestation>();
    if (o.freshAttestation) {
      o.onProgress?.(`challenging ${verified.length} candidate${verified.length === 1 ? "" : "s"} for fresh evidence`);
      const passed = await this.freshCandidates(verified, tiers, o.freshAttestationTimeoutMs ?? 30_000);
      verified = passed.map((p) => p.candidate);
      for (const p of passed) fresh.set(p.candidate.workerId, p.fresh);
    }
    // Rotate who is tried first; the hold covers the dearest of those we encrypt to.
    const first = this.turn++ % verified.length;
    verified = [...verified.slice(first), ...verified.slice(0, first)];
    const weights = { ...DEFAULT_PRICING, promptBps: q.quote.promptBps, completionBps: q.quote.completionBps };
    const maxCost = maxJobCost(weights, verified.map((c) => BigInt(c.pricePerToken)), maxPromptTokens, maxTokens).toString();
    const jobId = newJobId(this.now());
    const replyKey = generateKemKey();
    const header: EnvelopeHeader = {
      v: 1,
      jobId,
      requester: this.account,
      model: o.model,
      maxTokens,
      maxPromptTokens,
      maxCost,
      replyKey: b64u.encode(replyKey.publicKey),
    };
    const envelope = sealRequest({
      header,
      plaintext: new TextEncoder().encode(JSON.stringify(plaintext)),
      recipients: verified.map((c) => ({ workerId: c.workerId, hpkePublicKey: b64u.decode(c.hpkePublicKey) })),
    });
    const deadline = this.now() + (o.timeoutMs ?? 120_000);
    const finished = (j: JobView) => j.status === "completed" || j.status === "refunded";
    o.onProgress?.(`job ${jobId} sealed to ${verified.length} worker${verified.length === 1 ? "" : "s"}; waiting for the answer`);
    // The submit itself waits for the answer (one round trip fewer); long jobs continue with GET.
    const submitted = await this.api.request(API.submitJob, { query: { wait: 20 }, body: { envelope, quote: q.quote }, headers: { "idempotency-key": `submit-${jobId}` } });
    let job: JobView = "attempt" in submitted ? submitted : await this.api.request(API.getJob, { params: { id: jobId }, query: { wait: 20 } });
    while (!finished(job) && this.now() <= deadline) job = await this.api.request(API.getJob, { params: { id: jobId }, query: { wait: 20 } });
    // A candidate that did not answer, or none left: ask for fresh candidates next time.
    if (job.attempt > 0 || job.status === "refunded") this.quotes.delete(q.key);
    if (job.status === "refunded") throw refundedError(job, header, verified, replyKey);
    if (job.status !== "completed") throw new VerificationError("timeout", `job ${job.jobId} still ${job.status} after ${o.timeoutMs ?? 120_000} ms`);

    // Check the receipt, the reply and the bill ourselves before believing any number in them.
    const answer = checkCompletedJob({ job, jobId, envelope, header, replyKey, encryptedTo: verified, maxCost, ...(this.opts.priceWeights ? { weights: this.opts.priceWeights } : {}) });
    const worker = verified.find((c) => c.workerId === job.workerId)!;
    return {
      jobId: job.jobId,
      text: answer.text,
      usage: answer.usage,
      finishReason: answer.finishReason,
      engine: answer.engine,
      model: o.model,
      workerId: worker.workerId,
      tier: worker.tier,
      cost: job.cost ?? "0",
      maxCost,
      attempt: job.attempt,
      ...(fresh.has(worker.workerId) ? { freshEvidence: { challengeId: fresh.get(worker.workerId)!.challengeId, issuedAt: fresh.get(worker.workerId)!.attestation.issuedAt } } : {}),
    };
  }

  /**
   * ask(), streamed: yields verified deltas as the worker generates them, then "done" with
   * the receipt, usage and cost. Tampered, reordered, missing, duplicated, truncated or
   * foreign chunks end the iteration with a StreamIntegrityError (never shown as text).
   */
  // eslint-disable-next-line require-yield
  async *askStream(_o: AskOptions): AsyncGenerator<StreamEvent, void, undefined> {
    throw new Error("askStream: not implemented yet (signatures published first)");
  }

  /** Embeddings, sealed like chat; billed per input token. */
  async embed(_o: EmbedOptions): Promise<EmbedResult> {
    throw new Error("embed: not implemented yet (signatures published first)");
  }
}
