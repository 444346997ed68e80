import { z } from "zod";
import {
  AccountId,
  B64u,
  JobId,
  Key32,
  ModelName,
  NanoTon,
  NanoTonString,
  RelayChannel,
  SignedNanoTonString,
  Usage,
  WorkerId,
} from "./common";
import { AttestationDoc, AttestationTier } from "./attestation";
import { Measurement, Receipt, ReplyEnvelope, RequestEnvelope, SealedReply } from "./envelope";
import { RelaySession } from "./relay-session";

// Every module-level schema here is built inside a /* @__PURE__ */ IIFE: esbuild cannot tell that
// zod's constructors have no side effects, so without it each Lambda bundle built every schema of
// this module at cold start, used or not (issue 12: ~30 ms of CPU per HTTP handler). Checked by
// events/pure-schemas.test.ts; bench/bundles.test.ts checks that a handler's bundle drops them.

// ---------- requester ----------

/** The network's caps on one job's completion and prompt tokens (all its choices together). */
export const MAX_JOB_TOKENS = 32_768;
export const MAX_JOB_PROMPT_TOKENS = 262_144;

/** sha256 (lower-case hex) over the canonical JSON of an attestation document: how a requester names one it holds. */
export const AttestationDigest = /* @__PURE__ */ (() =>
  z.string().regex(/^[0-9a-f]{64}$/, "must be a sha256 of the attestation document (64 lower-case hex)"))();
/** The most documents a prepare may say it holds: a quote names at most 8 candidates. */
export const MAX_HELD_ATTESTATIONS = 8;

export const PrepareRequest = /* @__PURE__ */ (() =>
  z.object({
    model: ModelName,
    maxTokens: z.number().int().positive().max(MAX_JOB_TOKENS),
    maxPromptTokens: z.number().int().positive().max(MAX_JOB_PROMPT_TOKENS),
    /** Most the requester pays per token (nanoTON, before multipliers); omit for no cap. */
    maxPricePerToken: NanoTon.optional(),
    /** Tiers the requester accepts; "none" (not confidential) is never chosen unless listed. */
    tiers: z.array(AttestationTier).min(1).default(["tdx"]),
    candidates: z.number().int().min(1).max(8).default(3),
    /**
     * Attestation documents the requester holds already (the candidates of the quote it renews):
     * a candidate whose current document is the one named comes back without it (HeldCandidate),
     * so the coordinator reads the worker's small summary item instead of its evidence and sends
     * none. Older coordinators ignore it and send every document.
     */
    held: z
      .array(z.object({ workerId: WorkerId, attestationDigest: AttestationDigest }).strict())
      .max(MAX_HELD_ATTESTATIONS)
      .optional(),
  }))();
export type PrepareRequest = z.infer<typeof PrepareRequest>;
/** A prepare as a client writes it (the defaults not yet applied). */
export type PrepareAsk = z.input<typeof PrepareRequest>;

/**
 * The details of prepare's 409 `price_above_cap` (core/errors.ts PriceAboveCapError): live workers
 * serve the model in the tiers asked, but every one the coordinator read asks more per token than
 * the request's maxPricePerToken. A cap of cheapestPricePerToken reaches one while its price
 * holds; 409 `no_workers` says instead that no worker is up for it.
 */
export const PriceAboveCapDetails = /* @__PURE__ */ (() =>
  z.object({ maxPricePerToken: NanoTonString, cheapestPricePerToken: NanoTonString }))();
export type PriceAboveCapDetails = z.infer<typeof PriceAboveCapDetails>;

/**
 * What a worker's engine can do with one model (agent/engines/engine.ts EngineCapabilities), as
 * the agent advertises it at registration. `cocoon serve` answers a request a model cannot
 * honour (tools, json_schema, embeddings, …) with a 400 naming the parameter, and lists these
 * per model. Unknown keys from newer agents are dropped, not refused.
 */
export const ModelCapabilities = /* @__PURE__ */ (() =>
  z.object({
    chat: z.boolean(),
    completions: z.boolean(),
    embeddings: z.boolean(),
    /** token-by-token from the engine itself (otherwise the answer comes as one delta) */
    streaming: z.boolean(),
    /** function calling (`tools`) */
    tools: z.boolean(),
    /** `response_format: json_schema` / `json_object` enforced */
    jsonSchema: z.boolean(),
    /** context window in tokens, when the engine knows it */
    contextLength: z.number().int().positive().optional(),
    /** issue 11: chat answers can carry token log probabilities (`logprobs`, `top_logprobs`); absent means no */
    logprobs: z.boolean().optional(),
    /**
     * user messages may hold images (OpenAI's image_url content parts, data URLs only): the engine
     * reads them (llama-server with a multimodal projector, a vision model on vLLM); absent means no
     */
    vision: z.boolean().optional(),
  }))();
export type ModelCapabilities = z.infer<typeof ModelCapabilities>;

export const Candidate = /* @__PURE__ */ (() =>
  z.object({
    workerId: WorkerId,
    hpkePublicKey: Key32,
    attestation: AttestationDoc,
    pricePerToken: NanoTonString, // nanoTON per weighted token, this worker's coefficient applied
    tier: AttestationTier,
    /** jobs it runs at once (as it registered): the SDK keeps no more of its jobs in flight under one kept quote than its candidates run */
    capacity: z.number().int().positive().optional(),
    /**
     * What its engine can do with the model (its offer's, as registered; absent for older agents):
     * the SDK seals a plain completion only to candidates that do them, and refuses one none does
     * (AskInputError model_unsupported) before any hold, rather than have it refunded engine_rejected.
     */
    capabilities: ModelCapabilities.optional(),
  }))();
export type Candidate = z.infer<typeof Candidate>;

/**
 * A candidate whose attestation document the requester said it holds (PrepareRequest.held): the
 * same fields but the document, named by its digest instead. The requester seals to it only with
 * the document of that digest it verified itself.
 */
export const HeldCandidate = /* @__PURE__ */ (() =>
  Candidate.omit({ attestation: true }).extend({ attestationDigest: AttestationDigest }))();
export type HeldCandidate = z.infer<typeof HeldCandidate>;

/** A candidate as a quote names it: enough to seal to it and bill it (the attestation travels once, in PrepareResponse). */
export const QuoteCandidate = /* @__PURE__ */ (() =>
  z.object({ workerId: WorkerId, hpkePublicKey: Key32, pricePerToken: NanoTonString, tier: AttestationTier }))();

/**
 * A stateless price quote (core/jobs/quote.ts): the coordinator stores nothing at prepare;
 * it MACs (HMAC-SHA256 under its quote key) everything the submit must be held to, and the
 * submit carries the quote back. It names no job: the SDK keeps it until `expiresAt` (at most
 * quoteTtlSeconds, never past a candidate's attestation) and submits many jobs under it.
 */
export const Quote = /* @__PURE__ */ (() =>
  z.object({
    v: z.literal(1),
    requester: AccountId,
    model: ModelName,
    /** the largest maxTokens / maxPromptTokens a job under this quote may ask for */
    maxTokens: z.number().int().positive(),
    maxPromptTokens: z.number().int().positive(),
    /** the cost of those maxima at the dearest candidate: the largest hold a job under this quote takes */
    maxCost: NanoTonString,
    candidates: z.array(QuoteCandidate).min(1).max(8),
    /** the price weights (bps) the cost is computed with, core/pricing.ts */
    promptBps: z.number().int().nonnegative(),
    completionBps: z.number().int().nonnegative(),
    expiresAt: z.number().int(),
    /** base64url HMAC-SHA256 over "cocoon/v1/quote\n" + the deployment as a JSON string + "\n" + canonical JSON of the fields above (core/jobs/quote.ts tokenDomain) */
    mac: B64u.max(64),
  }))();
export type Quote = z.infer<typeof Quote>;

export const PrepareResponse = /* @__PURE__ */ (() =>
  z.object({
    /** A fresh job id for the first job under this quote (any unused job id of the requester's choosing will do). */
    jobId: JobId,
    model: ModelName,
    maxTokens: z.number().int(),
    maxPromptTokens: z.number().int(),
    maxCost: NanoTonString, // held on submit (for jobs at these maxima)
    /** Each with its attestation document, or, when the prepare said it holds that document (held), its digest. */
    candidates: z.array(z.union([Candidate, HeldCandidate])).min(1),
    quoteExpiresAt: z.number().int(),
    /** Send back with every submit under this quote. */
    quote: Quote,
    /**
     * The candidates are every live worker that fits the request: a renewal (SubmitRequest.renew)
     * would name the same ones until workers join, so the SDK asks none under this quote.
     */
    allLive: z.literal(true).optional(),
  }))();
export type PrepareResponse = z.infer<typeof PrepareResponse>;

// ---------- tabs: one hold for many jobs (issue 12, core/jobs/tabs.ts) ----------

/** The most jobs one tab holds for: its close is then one transaction (each slot adds at most a worker and a receipt). */
export const MAX_TAB_SLOTS = 32;
export const TabId = /* @__PURE__ */ (() => z.string().regex(/^tab_[0-9a-z]{26}$/, "must look like tab_<26 lowercase base32 chars>"))();

/**
 * Open a tab: hold slots × slotCost once, then submit up to `slots` jobs against it (each job's
 * maxCost at most slotCost) with no hold of their own. Sent with an Idempotency-Key, which names
 * the tab: a retry answers the same tab.
 */
export const OpenTabRequest = /* @__PURE__ */ (() =>
  z
    .object({
      slots: z.number().int().min(1).max(MAX_TAB_SLOTS),
      /** the most one job under the tab may hold (nanoTON): its header's maxCost */
      slotCost: z.string().regex(/^[1-9]\d{0,29}$/, "must be a positive integer number of nanoTON (decimal string)"),
      /** jobs may be submitted under the tab for this long; it closes TAB_CLOSE_GRACE_MS (2 min) after that, once its jobs ended */
      ttlSeconds: z.number().int().min(60).max(3600).default(300),
    })
    .strict())();
export type OpenTabRequest = z.infer<typeof OpenTabRequest>;

/**
 * A tab as the coordinator MACs it (like a Quote): the submit carries it back with the slot a job
 * takes, and the coordinator checks the MAC, not a stored item. Slot i is job id
 * tabSlotJobId(tabId, i), so each slot is used at most once and the tab's jobs never hold more
 * than slots × slotCost.
 */
export const Tab = /* @__PURE__ */ (() =>
  z.object({
    v: z.literal(1),
    tabId: TabId,
    requester: AccountId,
    slots: z.number().int().min(1).max(MAX_TAB_SLOTS),
    slotCost: NanoTonString,
    /** ms: no job is accepted under the tab after this */
    expiresAt: z.number().int(),
    /** base64url HMAC-SHA256 over "cocoon/v1/tab\n" + the deployment as a JSON string + "\n" + canonical JSON of the fields above (core/jobs/quote.ts tokenDomain) */
    mac: B64u.max(64),
  }))();
export type Tab = z.infer<typeof Tab>;

export const TabStatus = /* @__PURE__ */ (() => z.enum(["open", "closed"]))();
export const TabView = /* @__PURE__ */ (() =>
  z.object({
    tab: Tab,
    status: TabStatus,
    /** ms: the tab is closed (its workers paid, the rest returned) after this, once its jobs have ended */
    closesAfter: z.number().int(),
    /** closed: what its jobs cost together, paid to their workers; the rest of the hold went back */
    cost: NanoTonString.optional(),
    /** closed: how many of its slots ran a completed job */
    completed: z.number().int().nonnegative().optional(),
  }))();
export type TabView = z.infer<typeof TabView>;

/**
 * The sealed job and the quote it is held to. The header's maxima must be within the quote's,
 * its maxCost at least the cost of those maxima at the dearest candidate the envelope wraps
 * and at most the quote's; the envelope may wrap keys only for quoted candidates, and its key
 * order is the order they are tried in.
 */
export const SubmitRequest = /* @__PURE__ */ (() =>
  z.object({
    envelope: RequestEnvelope,
    quote: Quote,
    /**
     * Where the answer's relayed chunks go on a relay with channels (the SQS relay): the channel
     * of the requester's account session it reads with (events/relay.ts). Not part of the
     * envelope: it names no data of the job, only which of the account's readers gets its stream.
     */
    relay: z.object({ channel: RelayChannel }).strict().optional(),
    /**
     * Prepare the next quote with this submit's answer (`next`): what a prepare would be asked,
     * so the SDK's kept quote is renewed by a fresh fair-share pick at no request of its own.
     */
    renew: PrepareRequest.optional(),
    /**
     * Draw on an open tab instead of holding for this job: the job id must be the slot's
     * (tabSlotJobId) and its header's maxCost at most the tab's slotCost.
     */
    tab: z.object({ tab: Tab, slot: z.number().int().nonnegative() }).strict().optional(),
  }))();
export type SubmitRequest = z.infer<typeof SubmitRequest>;

/** What a submit answers beside its job: the renewed quote it was asked for (SubmitRequest.renew), when one could be made. */
const Renewed = /* @__PURE__ */ (() => ({ next: PrepareResponse.optional() }))();

export const SubmitResponse = /* @__PURE__ */ (() =>
  z.object({
    jobId: JobId,
    status: z.string(),
    ...Renewed,
    /**
     * Session 40: the job's settle key (base64url, 32 bytes), the requester's alone (its worker
     * never sees it): a settlement token relayed on the job's final chunk (RelayChunk.settlement)
     * verifies under it only if the coordinator made it for this job, attempt, reply and cost.
     * Absent (older coordinators): the SDK reads the job rather than take a relayed bill.
     */
    settleKey: B64u.max(64).optional(),
  }))();

export const JobStatus = /* @__PURE__ */ (() => z.enum(["submitted", "assigned", "completed", "refunded"]))();
export type JobStatus = z.infer<typeof JobStatus>;

/**
 * Why a worker gave a job back: a code, never text. An engine's error text can echo the
 * prompt, so it does not travel in clear to the coordinator (issue 9 #12); the worker may
 * seal it to the requester instead (FailureReply / FailurePlaintext).
 */
export const FailureCode = /* @__PURE__ */ (() =>
  z.enum([
    /** the engine cannot be reached, timed out, or is overloaded */
    "engine_unavailable",
    /** the engine answered something unusable */
    "engine_error",
    /** the engine refused this request (e.g. prompt too long) */
    "engine_rejected",
    /** the engine does not serve the job's model */
    "model_not_served",
    /** the envelope did not open or its plaintext is malformed */
    "bad_request",
    /** the engine's usage exceeded the job's token limits */
    "limits_exceeded",
    /** the coordinator refused the worker's completed result */
    "result_refused",
    /** the answer is over MAX_REPLY_BYTES (4 MiB) as JSON, which the network cannot carry back (events/envelope.ts) */
    "reply_too_large",
    /** anything else inside the agent */
    "internal_error",
    /** the requester cancelled the job before this worker produced anything billable (POST /v1/jobs/{jobId}/cancel) */
    "cancelled",
    /** an agent too old to send a code */
    "unspecified",
  ]))();
export type FailureCode = z.infer<typeof FailureCode>;

/** The failure text sealed to the requester's reply key like an answer; small (an error message). */
// enc is one X25519 encapsulation (43 characters): unbounded, a huge one passed the schema and broke the store's item limit (a 500)
export const FailureReply = /* @__PURE__ */ (() =>
  SealedReply.extend({ enc: SealedReply.shape.enc.max(64), ct: SealedReply.shape.ct.max(8192) }))();

/** What a FailureReply holds once the requester opens it. */
export const FailurePlaintext = /* @__PURE__ */ (() =>
  z.object({ error: z.object({ code: FailureCode, message: z.string().max(2000) }) }))();
export type FailurePlaintext = z.infer<typeof FailurePlaintext>;

export const JobView = /* @__PURE__ */ (() =>
  z.object({
    jobId: JobId,
    status: JobStatus,
    model: ModelName,
    workerId: WorkerId.optional(),
    tier: AttestationTier.optional(),
    attempt: z.number().int(),
    maxCost: NanoTonString,
    cost: NanoTonString.optional(),
    /** Why the money went back: failed | expired | no_candidates | cancelled. */
    outcome: z.string().optional(),
    /**
     * When the requester asked to cancel it (unix ms; POST /v1/jobs/{jobId}/cancel). A job cancelled
     * while running ends "completed", billed for what was generated before its worker stopped
     * (its final chunk says finishReason "cancelled"), or "refunded" with outcome "cancelled".
     */
    cancelledAt: z.number().int().optional(),
    reply: ReplyEnvelope.optional(),
    receipt: Receipt.optional(),
    /** outcome "failed": what the last worker reported, its text sealed to the requester (if it sent one). */
    failure: z.object({ attempt: z.number().int(), workerId: WorkerId, code: FailureCode, reply: FailureReply.optional() }).optional(),
    createdAt: z.number().int(),
    updatedAt: z.number().int(),
  }))();
export type JobView = z.infer<typeof JobView>;

/**
 * POST /v1/jobs/{jobId}/cancel answer. `cancelled` is true when the job was still running and now
 * stops (its worker is told; the job ends billed for what it generated, or refunded when nothing
 * came back), false when it had already ended (`status` says how). Asking again is harmless.
 */
export const CancelJobResponse = /* @__PURE__ */ (() =>
  z.object({
    jobId: JobId,
    status: JobStatus,
    cancelled: z.boolean(),
    cancelledAt: z.number().int().optional(),
  }))();
export type CancelJobResponse = z.infer<typeof CancelJobResponse>;

/**
 * POST /v1/jobs/{id}/void answer (core/jobs/void.ts): `voided` true when the id holds no job of
 * the caller and never will (no submit of it can commit any more); false when the caller's job
 * is there (`status`): it was submitted, read it. Another account's id is 409 job_exists.
 */
export const VoidJobResponse = /* @__PURE__ */ (() =>
  z.object({
    jobId: JobId,
    voided: z.boolean(),
    status: JobStatus.optional(),
  }))();
export type VoidJobResponse = z.infer<typeof VoidJobResponse>;

/** POST /v1/jobs answer: the job's view with ?wait=N (once it finished or the wait ran out), else its id and status. */
export const SubmitJobResponse = /* @__PURE__ */ (() => z.union([JobView.extend(Renewed), SubmitResponse]))();

export const BalanceView = /* @__PURE__ */ (() =>
  z.object({
    account: AccountId,
    /** negative for a debt (a released withdrawal that landed anyway): the client must not refuse to show it */
    available: SignedNanoTonString,
    /** held for jobs in flight */
    held: NanoTonString,
    /** reserved for signed withdrawals that have not landed on chain yet */
    reserved: NanoTonString,
  }))();

export const FaucetRequest = /* @__PURE__ */ (() => z.object({ amount: NanoTon }))();

export const ModelsResponse = /* @__PURE__ */ (() =>
  z.object({
    models: z.array(
      z.object({
        model: ModelName,
        workers: z.number().int(),
        tiers: z.record(z.string(), z.number().int()),
        price: z.object({ min: NanoTonString, median: NanoTonString, max: NanoTonString }),
        /**
         * What every live worker of the model can do (a capability is listed true only when all of
         * them have it; contextLength is the smallest), so a request the listing allows is one any
         * candidate can serve. Absent when no live worker advertised capabilities.
         */
        capabilities: ModelCapabilities.optional(),
      }),
    ),
  }))();

// ---------- agent ----------

/**
 * Models one worker may offer: registration writes the worker, an offer and a model-list entry
 * per model and deletes dropped offers in one store transaction, which holds at most 100
 * operations (DynamoDB's limit): 2 + 2 × 32 + 32 dropped = 98 (issue 9 #11).
 */
export const MAX_WORKER_MODELS = 32;

export const RegisterWorkerRequest = /* @__PURE__ */ (() =>
  z.object({
    attestation: AttestationDoc,
    models: z
      .array(
        z.object({
          model: ModelName,
          /** Worker's price coefficient in basis points of the model's base price (10000 = 1.0). */
          priceBps: z.number().int().min(1).max(1_000_000).default(10_000),
          /** What the engine can do with this model; older agents send none. */
          capabilities: ModelCapabilities.optional(),
        }),
      )
      .min(1)
      .max(MAX_WORKER_MODELS, `at most ${MAX_WORKER_MODELS} models per worker`)
      .superRefine((models, ctx) => {
        const seen = new Set<string>();
        models.forEach((m, i) => {
          if (seen.has(m.model))
            ctx.addIssue({ code: "custom", path: [i, "model"], message: `model "${m.model}" is listed twice: list each model once` });
          seen.add(m.model);
        });
      }),
    capacity: z.number().int().min(1).max(1024).default(1),
  }))();
export type RegisterWorkerRequest = z.infer<typeof RegisterWorkerRequest>;

/**
 * What of the coordinator's attestation policy an agent must know before it makes evidence:
 * today the bound on the TDX collateral's age (Policy.maxCollateralAgeSeconds; absent: the
 * coordinator bounds it by Intel's nextUpdate only), so that the agent fetches fresh collateral
 * against the bound it is judged by, not the one it was built with.
 */
export const AttestationBounds = /* @__PURE__ */ (() =>
  z.object({
    /** the policy's version, for the agent's log */
    policyVersion: z.number().int().positive(),
    maxCollateralAgeSeconds: z.number().int().positive().optional(),
  }))();
export type AttestationBounds = z.infer<typeof AttestationBounds>;

export const NonceResponse = /* @__PURE__ */ (() =>
  z.object({
    nonce: z.string(),
    expiresAt: z.number().int(),
    /**
     * The policy the registration this nonce is for is judged by. Given with the nonce, not the
     * registration's answer: the agent needs it before it makes the evidence (a first
     * registration with collateral too old for it would be refused). Optional: an older
     * coordinator names none (the agent then uses its bundled policy's), and one in a shape this
     * agent cannot read (a newer coordinator's) reads as absent, never as a failed registration.
     */
    attestationPolicy: AttestationBounds.optional().catch(undefined),
  }))();

/** POST /v1/agents answer: what the coordinator verified and registered. */
export const RegisterWorkerResponse = /* @__PURE__ */ (() =>
  z.object({
    workerId: WorkerId,
    tier: AttestationTier,
    /** the measurement receipts must name (hex, or "dev-simulated" / "none") */
    measurement: Measurement,
    /** ms since epoch: re-register before then */
    attestationExpiresAt: z.number().int(),
    models: z.array(ModelName),
    /** how often the coordinator wants a heartbeat */
    heartbeatSeconds: z.number().int().positive(),
  }))();
export type RegisterWorkerResponse = z.infer<typeof RegisterWorkerResponse>;

export const HeartbeatRequest = /* @__PURE__ */ (() =>
  z.object({
    load: z.number().int().nonnegative().default(0),
    /** The agent is shutting down: leave the candidate lists now rather than when liveness runs out. */
    offline: z.boolean().default(false),
    /**
     * The agent is draining (offline, and waiting for the work already dispatched to it): its
     * long-poll is woken (AgentWake) so the drain need not wait the poll out. Optional: a
     * coordinator without it ignores the field, and the drain then waits as before.
     */
    draining: z.boolean().optional(),
  }))();

/** POST /v1/agents/heartbeat answer. */
export const HeartbeatResponse = /* @__PURE__ */ (() =>
  z.object({
    ok: z.literal(true),
    attestationExpiresAt: z.number().int(),
    heartbeatSeconds: z.number().int().positive(),
  }))();

export const AgentJob = /* @__PURE__ */ (() =>
  z.object({
    jobId: JobId,
    attempt: z.number().int(),
    envelope: RequestEnvelope,
    deadline: z.number().int(),
    /**
     * issue 12: how this attempt publishes its stream, vended at dispatch (a job submitted with a
     * relay channel, on a coordinator whose relay vends credentials: SQS), so that the agent asks
     * POST /v1/agent/jobs/{id}/relay only when it is absent or expires before it is used. One the
     * agent cannot read (a transport newer than the agent) reads as absent, never as a bad job.
     */
    relay: RelaySession.optional().catch(undefined),
  }))();
export type AgentJob = z.infer<typeof AgentJob>;

export const AgentPollResponse = /* @__PURE__ */ (() => z.object({ jobs: z.array(AgentJob) }))();

export const ResultRequest = /* @__PURE__ */ (() =>
  z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("completed"), jobId: JobId, attempt: z.number().int(), reply: ReplyEnvelope, receipt: Receipt }),
    // Unknown keys (an old agent's clear-text `reason`) are stripped here, so never stored or logged.
    z.object({
      kind: z.literal("failed"),
      jobId: JobId,
      attempt: z.number().int(),
      code: FailureCode.default("unspecified"),
      reply: FailureReply.optional(),
      /**
       * The job's sealed request as this attempt's AgentJob carried it: the coordinator hands it to
       * the next candidate, since on DynamoDB it keeps no copy (core/jobs/items.ts
       * envelopeItemStored). One that is not the job's (its hash differs from the job's request
       * hash) is refused: 422 envelope_mismatch. Without it (agents before it), the coordinator's
       * copy is used where it has one, else the report is refused (422 envelope_required) and the
       * job moves on when its lease runs out; a job that cannot move on (cancelled, or at its last
       * candidate) is refunded at once with or without it.
       */
      envelope: RequestEnvelope.optional(),
    }),
  ]))();
export type ResultRequest = z.infer<typeof ResultRequest>;

/** POST /v1/agent/results answer. `duplicate`: this very result had been accepted already. */
export const ResultResponse = /* @__PURE__ */ (() =>
  z.object({
    status: z.string(),
    /** what the requester was charged */
    cost: NanoTonString.optional(),
    /** what the worker is credited: cost less the operator fee in force at the job's submit (absent from older coordinators: cost) */
    credit: NanoTonString.optional(),
    /**
     * On a completed result (session 40): the coordinator's settlement token for the job's
     * requester, base64url HMAC-SHA256 under the job's settle key (SubmitResponse.settleKey) over
     * the job, this attempt, the receipt's replyHash and `cost` (core/crypto/settlement.ts). The
     * worker cannot make or check one; it relays it on its final chunk (RelayChunk.settlement).
     */
    settlement: B64u.max(64).optional(),
    duplicate: z.boolean(),
  }))();

/**
 * issue 12: at most this many results in one POST /v1/agent/results (core/jobs/settle.ts
 * MAX_SETTLE_BATCH: they settle in one transaction).
 */
export const MAX_RESULT_BATCH = 16;
/**
 * A batch's JSON at most (5 MiB): a Lambda takes a 6 MB request, its event's own fields
 * included. An agent posts a result this batch cannot add alone (a reply may be 4 MiB).
 */
export const MAX_RESULT_BATCH_BYTES = 5 * 1024 * 1024;

/**
 * POST /v1/agent/results, several results at once (issue 12): each item exactly a
 * ResultRequest, each job at most once. The coordinator pays one request for all of them
 * (one HTTP parse, one session check) and settles them together; each is answered alone.
 */
export const ResultBatchRequest = /* @__PURE__ */ (() =>
  z.object({
    kind: z.literal("batch"),
    results: z
      .array(ResultRequest)
      .min(1)
      .max(MAX_RESULT_BATCH)
      .refine((rs) => new Set(rs.map((r) => r.jobId)).size === rs.length, { error: "each job at most once in a batch" }),
  }))();
export type ResultBatchRequest = z.infer<typeof ResultBatchRequest>;

/** What POST /v1/agent/results takes: one result (every agent's shape), or a batch of them. */
export const ResultPost = /* @__PURE__ */ (() => z.discriminatedUnion("kind", [ResultRequest, ResultBatchRequest]))();

/** One batch item refused (its error alone: the others are not affected): the status and code a lone post of it would have had. */
export const ResultItemError = /* @__PURE__ */ (() =>
  z.object({
    error: z.object({ code: z.string(), status: z.number().int(), message: z.string(), details: z.unknown().optional() }),
  }))();
export type ResultItemError = z.infer<typeof ResultItemError>;

/** A batch's answer: one outcome per item, in the items' order. */
export const ResultBatchResponse = /* @__PURE__ */ (() => z.object({ results: z.array(z.union([ResultResponse, ResultItemError])) }))();
export type ResultBatchResponse = z.infer<typeof ResultBatchResponse>;

/** What POST /v1/agent/results answers: a ResultResponse to one result, a ResultBatchResponse to a batch. */
export const ResultPostResponse = /* @__PURE__ */ (() => z.union([ResultResponse, ResultBatchResponse]))();

/** POST /v1/agent/lease: the candidate working on a job asks for more time before its lease runs out. */
export const LeaseRequest = /* @__PURE__ */ (() => z.object({ jobId: JobId, attempt: z.number().int().nonnegative() }))();
export type LeaseRequest = z.infer<typeof LeaseRequest>;
/** `extended` false: the job reached its longest life, ask no more; true: the lease runs until `leaseUntil`, unchanged when asked before a quarter of a lease would be gained (core/jobs/lease.ts). */
export const LeaseResponse = /* @__PURE__ */ (() => z.object({ leaseUntil: z.number().int(), extended: z.boolean() }))();

export const WorkerStatusView = /* @__PURE__ */ (() =>
  z.object({
    workerId: WorkerId,
    tier: AttestationTier,
    models: z.array(ModelName),
    jobs: z.number().int(),
    promptTokens: z.number().int(),
    completionTokens: z.number().int(),
    earned: NanoTonString,
    redeemed: NanoTonString,
    lastHeartbeat: z.number().int(),
    attestationExpiresAt: z.number().int(),
  }))();

/** POST /v1/agents/session: short-lived credentials scoped to the worker's own SQS queue. */
export const AgentSessionResponse = /* @__PURE__ */ (() =>
  z.object({
    workerId: z.string(),
    region: z.string(),
    queueUrl: z.url(),
    credentials: z.object({
      accessKeyId: z.string().min(16),
      secretAccessKey: z.string().min(1),
      sessionToken: z.string().min(1),
      /** ms since epoch */
      expiration: z.number().int(),
    }),
  }))();
export type AgentSessionResponse = z.infer<typeof AgentSessionResponse>;

/** POST /v1/sessions: a fresh X25519 public key of the client's, which the session key is sealed to. */
export const SessionRequest = /* @__PURE__ */ (() =>
  z.object({
    kem: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be a 32-byte X25519 public key in base64url"),
  }))();
export type SessionRequest = z.infer<typeof SessionRequest>;

/**
 * POST /v1/sessions: a request session (core/crypto/session-auth.ts) for the key that signed the
 * handshake, its key HPKE-sealed to the request's `kem` (the token is the AAD): the client MACs
 * its requests with it until `expiresAt`; nobody else on the way can read it.
 */
export const SessionResponse = /* @__PURE__ */ (() =>
  z.object({
    token: z.string().regex(/^[A-Za-z0-9_-]{43}\.[1-9]\d{12}\.[A-Za-z0-9_-]{22}$/, "must be a session token"),
    /** unix ms */
    expiresAt: z.number().int().positive(),
    enc: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be an HPKE encapsulation in base64url"),
    sealedKey: z.string().regex(/^[A-Za-z0-9_-]{64}$/, "must be a sealed 32-byte key in base64url"),
  }))();
export type SessionResponse = z.infer<typeof SessionResponse>;

export { AccountId, JobId, Usage };

// ---------- requester-issued attestation challenges (fresh evidence on demand) ----------

/** A challenge id: chl_<26 lowercase base32 chars>. */
export const ChallengeId = /* @__PURE__ */ (() =>
  z.string().regex(/^chl_[0-9a-z]{26}$/, "must look like chl_<26 lowercase base32 chars>"))();

/** 32 random bytes the requester picked, base64url (43 chars): the fresh evidence must bind it. */
export const ChallengeNonce = /* @__PURE__ */ (() =>
  z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be 32 random bytes in base64url (43 chars)"))();

/** POST /v1/attestations: ask a worker for evidence bound to the requester's own nonce. */
export const ChallengeRequest = /* @__PURE__ */ (() => z.object({ workerId: WorkerId, nonce: ChallengeNonce }))();
export type ChallengeRequest = z.infer<typeof ChallengeRequest>;

export const ChallengeResponse = /* @__PURE__ */ (() =>
  z.object({
    challengeId: ChallengeId,
    /** ms since epoch; an unanswered challenge is dead after this. */
    expiresAt: z.number().int(),
    /** What the coordinator has registered for the worker: the keys the fresh evidence must bind. */
    workerId: WorkerId,
    hpkePublicKey: Key32,
    tier: AttestationTier,
  }))();
export type ChallengeResponse = z.infer<typeof ChallengeResponse>;

/** Second message kind on a worker's queue `worker-<id>` (next to AgentJob, which has no `kind`). */
export const AgentChallenge = /* @__PURE__ */ (() =>
  z.object({
    kind: z.literal("challenge"),
    challengeId: ChallengeId,
    nonce: ChallengeNonce,
    expiresAt: z.number().int(),
  }))();
export type AgentChallenge = z.infer<typeof AgentChallenge>;

/**
 * Third message kind on a worker's queue: the requester cancelled job `jobId`, which was this
 * worker's at `attempt`. A worker running it stops the engine and posts a completed result billing
 * what was generated (finishReason "cancelled"); one that has not started it posts kind "failed",
 * code "cancelled"; one that no longer has it ignores it.
 */
export const AgentCancel = /* @__PURE__ */ (() =>
  z.object({ kind: z.literal("cancel"), jobId: JobId, attempt: z.number().int().nonnegative() }))();
export type AgentCancel = z.infer<typeof AgentCancel>;

/**
 * Fourth message kind on a worker's queue, carrying nothing: the worker said it is draining
 * (HeartbeatRequest.draining), and its long-poll, which would wait up to 20 s for nothing, ends
 * now. Sent after the worker left the candidate lists, so a job dispatched before it is queued
 * ahead of it. Never handed out by GET /v1/agent/jobs; the SQS job source skips it.
 */
export const AgentWake = /* @__PURE__ */ (() => z.object({ kind: z.literal("wake") }))();
export type AgentWake = z.infer<typeof AgentWake>;

/** GET /v1/agent/jobs answer: the jobs plus any attestation challenges and cancels for the worker. */
export const AgentWorkResponse = /* @__PURE__ */ (() =>
  AgentPollResponse.extend({
    challenges: z.array(AgentChallenge).default([]),
    cancels: z.array(AgentCancel).default([]),
  }))();
export type AgentWorkResponse = z.infer<typeof AgentWorkResponse>;

/** POST /v1/agent/attestations: a worker's answer to a challenge (evidence bound to its nonce). */
export const ChallengeAnswerRequest = /* @__PURE__ */ (() => z.object({ challengeId: ChallengeId, attestation: AttestationDoc }))();
export type ChallengeAnswerRequest = z.infer<typeof ChallengeAnswerRequest>;

export const ChallengeAnswerResponse = /* @__PURE__ */ (() =>
  z.object({ challengeId: ChallengeId, status: z.literal("answered"), duplicate: z.boolean() }))();

export const ChallengeStatus = /* @__PURE__ */ (() => z.enum(["pending", "answered", "expired"]))();

/** GET /v1/attestations/{id}[?wait=N]: only the requester who asked may read it. */
export const ChallengeView = /* @__PURE__ */ (() =>
  z.object({
    challengeId: ChallengeId,
    workerId: WorkerId,
    status: ChallengeStatus,
    expiresAt: z.number().int(),
    /** The worker's evidence, as it sent it; unverified by the coordinator: the requester checks it. */
    attestation: AttestationDoc.optional(),
  }))();
export type ChallengeView = z.infer<typeof ChallengeView>;

/** "METHOD /path/{param}": a route as the stack and api-client/routes.ts name it. */
export const RouteKey = /* @__PURE__ */ (() =>
  z.string().regex(/^(GET|POST) \/[A-Za-z0-9/{}._-]*$/, 'must name a route as "METHOD /path"'))();

/** A route's own URL: an origin only (no path, query or credentials), its trailing slash dropped. */
export const RouteUrl = /* @__PURE__ */ (() =>
  z
    .url({ protocol: /^https?$/ })
    .refine((v) => {
      const u = new URL(v);
      return !u.username && !u.password && (u.pathname === "/" || u.pathname === "") && !u.search && !u.hash;
    }, "must be an origin (scheme, host and port only)")
    .transform((u) => u.replace(/\/+$/, "")))();

/**
 * GET /v1/routes (issue 12): where each route answers besides the API's base URL. On AWS every
 * route's function also has a Lambda function URL, which costs nothing per request where API
 * Gateway costs $1.00 per million; the SDK and the agent learn these once per client and send
 * each request to its route's URL (signed for that URL's host, as any request). Empty where
 * everything answers at the base URL (the local default).
 */
export const RouteDirectory = /* @__PURE__ */ (() => z.object({ urls: z.record(RouteKey, RouteUrl) }))();
export type RouteDirectory = z.infer<typeof RouteDirectory>;
