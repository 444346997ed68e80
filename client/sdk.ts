import { KEPT_QUOTE_MS, QUOTE_MARGIN_MS, quoteMaxima, RENEW_AFTER_MS } from "./quote-keeping";
import { randomBytes } from "node:crypto";
import type { AttestationTier } from "../events/attestation";
import type { AttestationDoc } from "../events/attestation";
import {
  FailurePlaintext,
  MAX_JOB_PROMPT_TOKENS,
  type CancelJobResponse,
  type VoidJobResponse,
  MAX_HELD_ATTESTATIONS,
  MAX_JOB_TOKENS,
  PriceAboveCapDetails,
  type Candidate,
  type ChallengeView,
  type JobView,
  type PrepareAsk,
  type PrepareResponse,
  type Quote,
} from "../events/api";
import { contentText, firstImageProblem, IMAGE_PROMPT_TOKENS, imageCount } from "../events/images";
import {
  type ContentPart,
  MAX_CHOICES,
  MAX_ENVELOPE_BYTES,
  RequestPlaintext,
  type EnvelopeHeader,
  type Receipt,
  type ReplyEnvelope,
  type RequestEnvelope,
  type TokenLogprob,
  type ToolCall,
} from "../events/envelope";
import type { RelayChunk, RelaySession } from "../events/relay";
import { sessionOnLocalClock } from "../events/relay-session";
import {
  openAnswer,
  StreamCheckFailure,
  StreamVerifier,
  type Answer,
  type ReplyBinding,
  type StreamIntegrityCode,
  type StreamPiece,
} from "./reply";
import { MqttRelay, type IotSession, type MqttRelayOptions, type RelaySubscription } from "./relay-mqtt";
import { newRelayChannel, sqsReader, SqsRelay, type SqsRelayOptions, type SqsSession } from "./relay-sqs";
import { attestationDigest } from "../core/attestation/digest";
import { Lru } from "../core/attestation/lru";
import { verifyAttestation, type AttestationResult } from "../core/attestation/verify";
import { loadPolicy } from "../core/attestation/policy";
import type { Policy } from "../core/attestation/policy";
import { b64u, canonicalJson } from "../core/crypto/encoding";
import { generateKemKey, type KemKeyPair, type SigningKeyPair } from "../core/crypto/keys";
import { openReply, replyHash, requestHash, sealRequestBound } from "../core/crypto/envelope";
import { padJson, REQUEST_PADDING } from "../core/crypto/padding";
import { verifyReceipt } from "../core/crypto/receipt";
import { settlementMatches } from "../core/crypto/settlement";
import { DEFAULT_PRICING, jobCost, maxJobCost, type PricingConfig } from "../core/pricing";
import { newJobId, tabSlotJobId } from "../core/ids";
import type { JobJournal } from "./journal";
import { TabKeeper, tabRefused, type KeptTabView, type TabOptions, type TabSlot } from "./tab-keeper";
import { imageAllowed, imageDigestOf, modelAllowed, PolicyStaleError, type PolicyCache, type PolicyReading } from "../core/policy-registry";
import type { SignedWithdrawalView } from "../events/withdrawals";
import { abortError, API, ApiClient, ApiError, pause, throwIfAborted } from "../api-client/api";
import { devHintFor, SDK_OPT_IN, withDevHint } from "./dev-hint";

/** The SDK refused something the network sent: it never encrypts to or trusts what it cannot verify. */
export class VerificationError extends Error {
  override readonly name: string = "VerificationError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A streamed answer broke one of its integrity rules (client/reply.ts): nothing of the
 * offending chunk was shown. Codes: stream_tampered (does not open, or an opener the worker
 * did not sign), stream_reordered, stream_duplicate, stream_gap (a chunk missing),
 * stream_truncated (the stored reply cut short), stream_cross_job (another job's chunk),
 * stream_mismatch (the stored reply is not what was relayed), stream_too_long, reply_unbound
 * (a reply without a valid proof that its writer unwrapped our request: required of tdx workers).
 */
export class StreamIntegrityError extends VerificationError {
  override readonly name: string = "StreamIntegrityError";
  constructor(
    override readonly code: StreamIntegrityCode,
    message: string,
  ) {
    super(code, message);
  }
}

/**
 * A job came back refunded. With outcome "failed", `failure` is what the last worker
 * reported: its code (all the coordinator saw) and, when the worker sealed it to our reply
 * key, the engine's own message (which may quote our prompt, hence sealed).
 */
export class JobRefundedError extends VerificationError {
  override readonly name: string = "JobRefundedError";
  constructor(
    code: string,
    message: string,
    readonly failure?: { workerId: string; code: string; message?: string },
    /** the job refunded (`client.job(jobId)` reads it) */
    readonly jobId?: string,
  ) {
    super(code, message);
  }
}

/**
 * The call gave up at its deadline (`timeoutMs`) after its job was prepared: a VerificationError
 * with code "timeout", as before it had a class of its own, and `jobId`, the job given up on. Its
 * cancel was sent if its submit had gone out (`client.job(jobId)` then reads what was billed for
 * what was generated, or its refund). A deadline that passes before any job was prepared is a
 * plain VerificationError "timeout".
 */
export class JobTimeoutError extends VerificationError {
  override readonly name: string = "JobTimeoutError";
  constructor(
    readonly jobId: string,
    message: string,
  ) {
    super("timeout", message);
  }
}

/**
 * The connection to the coordinator was lost while a job that may exist was on its way (its submit
 * had gone out, or it was being waited on), and within the client's `reconnectMs` the coordinator
 * could not be reached again, or (a submit) did not show the job, nor say that its id is another
 * request's: the job may still complete and be billed. The SDK sent its cancel
 * (in the background, as at a deadline). Sending the request again makes a second job, paid again:
 * read this one first (`client.job(jobId)`). The message names no address; `cause` is the last
 * connection error.
 */
export class JobOutcomeUnknownError extends Error {
  override readonly name = "JobOutcomeUnknownError";
  readonly code = "job_outcome_unknown";
  constructor(
    readonly jobId: string,
    /** the coordinator answered its submit (the job exists), or only may have taken it */
    readonly submitted: boolean,
    waitedMs: number,
    cause: unknown,
  ) {
    super(
      (submitted
        ? `job ${jobId} was submitted, but the Cocoon coordinator could not be reached, or answered only failures,`
        : `job ${jobId} may have been submitted, but its submit's answer was lost and the Cocoon coordinator did not show the job`) +
        ` within ${Math.round(waitedMs / 1000)} s: the job may still complete and be billed (a cancel was sent); ` +
        `do not send the request again as a new job before checking it (client.job("${jobId}"))`,
      { cause },
    );
  }
}

/**
 * The coordinator's 409 price_above_cap: live workers serve the model in the tiers asked, but every
 * one it read asks more per token than `maxPricePerToken`. A cap of `cheapestPricePerToken` reaches
 * one while its price holds; asking again under the same cap does only once a cheaper worker comes.
 * Still an ApiError (its status, code and details as the coordinator sent them); a 409 no_workers
 * says instead that no worker is up.
 */
export class PriceAboveCapError extends ApiError {
  override readonly name: string = "PriceAboveCapError";
  /** the cap the job was asked under, nanoTON per token */
  readonly maxPricePerToken: bigint;
  /** the lowest price per token of the live workers the cap refused (of those the coordinator read) */
  readonly cheapestPricePerToken: bigint;
  constructor(e: ApiError, d: PriceAboveCapDetails) {
    super(e.status, e.code, e.message, e.details);
    this.maxPricePerToken = BigInt(d.maxPricePerToken);
    this.cheapestPricePerToken = BigInt(d.cheapestPricePerToken);
  }
}

/** A prepare's refusal as the SDK throws it: a price_above_cap whose details parse as its own class, anything else as it came. */
function typedRefusal(e: unknown): unknown {
  if (!(e instanceof ApiError) || e.code !== "price_above_cap") return e;
  const d = PriceAboveCapDetails.safeParse(e.details);
  return d.success ? new PriceAboveCapError(e, d.data) : e;
}

function refundedError(job: JobView, header: EnvelopeHeader, encryptedTo: Candidate[], replyKey: KemKeyPair): JobRefundedError {
  const base = `job ${job.jobId} was not answered (${job.outcome}); the held ${job.maxCost} nanoTON were refunded`;
  const f = job.failure;
  if (!f) return new JobRefundedError(`job_${job.outcome ?? "refunded"}`, base, undefined, job.jobId);
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
  return new JobRefundedError(
    `job_${job.outcome ?? "refunded"}`,
    `${base}; worker ${f.workerId.slice(0, 8)} reported ${f.code}${text !== undefined ? `: ${text}` : ""}`,
    failure,
    job.jobId,
  );
}

/** A candidate whose attestation we verified ourselves, with the measurement it attested. */
export type VerifiedCandidate = Candidate & { measurement: string };

/** The price weights a coordinator bills with (core/pricing.ts); only the weights matter here. */
export type PriceWeights = Pick<PricingConfig, "promptBps" | "completionBps">;

/** An opened answer with its first choice's text and finish reason up front. */
export type CheckedAnswer = Answer & { text: string; finishReason: "stop" | "length" | "cancelled" };

function checkedAnswer(a: Answer): CheckedAnswer {
  return { ...a, text: a.choices[0]?.text ?? "", finishReason: a.choices[0]?.finishReason ?? "stop" };
}

/** openAnswer, with a broken chunk sequence reported as a StreamIntegrityError. */
function openAnswerChecked(
  reply: ReplyEnvelope,
  header: EnvelopeHeader,
  workerId: string,
  replyKey: KemKeyPair,
  binding: ReplyBinding,
): Answer {
  try {
    return openAnswer(reply, header, workerId, replyKey, binding);
  } catch (e) {
    throw asIntegrityError(e);
  }
}

function asIntegrityError(e: unknown): unknown {
  return e instanceof StreamCheckFailure ? new StreamIntegrityError(e.code, e.message) : e;
}

/**
 * Checks a completed job before believing any number in it (issue 9 #12): the receipt is
 * signed by the worker we encrypted to, covers our request and this reply, names the model we
 * asked for and the measurement that worker attested to us, bills the usage inside the sealed reply, and the
 * charge is exactly the cost of that usage at the price we were quoted for that worker (capped
 * by the hold), and the reply carries the proof that it was written by whoever unwrapped our data
 * key (required of tdx workers: a StreamIntegrityError reply_unbound). Returns the opened answer;
 * throws VerificationError with code bad_job, bad_receipt, model_mismatch, measurement_mismatch,
 * reply_unbound, usage_mismatch, overcharged or cost_mismatch.
 */
export function checkCompletedJob(o: {
  job: Pick<JobView, "workerId" | "reply" | "receipt" | "cost">;
  jobId: string;
  envelope: RequestEnvelope;
  header: EnvelopeHeader;
  replyKey: KemKeyPair;
  /** the candidates we encrypted to */
  encryptedTo: VerifiedCandidate[];
  /** their reply-proof keys, by workerId (sealRequestBound) */
  proofKeys: ReadonlyMap<string, Uint8Array>;
  maxCost: string;
  weights?: PriceWeights;
}): CheckedAnswer {
  const { job } = o;
  const { receipt, reply } = job;
  const worker = o.encryptedTo.find((c) => c.workerId === job.workerId);
  if (!receipt || !reply || !worker || job.cost === undefined) {
    throw new VerificationError("bad_job", "completed job lacks a receipt, a reply or a cost, or came from a worker we did not encrypt to");
  }
  if (!verifyReceipt(receipt, b64u.decode(worker.workerId)))
    throw new VerificationError("bad_receipt", "receipt signature does not verify with the worker's attested key");
  const reqHash = requestHash(o.envelope);
  if (receipt.body.jobId !== o.jobId || receipt.body.requestHash !== reqHash || receipt.body.replyHash !== replyHash(reply)) {
    throw new VerificationError("bad_receipt", "receipt does not cover this request and reply");
  }
  // The worker signs the model it ran: one that names another than we asked for (a cheaper model
  // served in its place) is refused here, over every relay, whatever the coordinator let through.
  if (receipt.body.model !== o.header.model) {
    throw new VerificationError(
      "model_mismatch",
      `the receipt names model ${receipt.body.model}, not the ${o.header.model} we asked for: the answer may come from another model`,
    );
  }
  if (receipt.body.measurement !== worker.measurement) {
    throw new VerificationError(
      "measurement_mismatch",
      `the receipt names measurement ${receipt.body.measurement.slice(0, 16)}…, not the ${worker.measurement.slice(0, 16)}… worker ${worker.workerId.slice(0, 8)} attested to us: the answer may come from another image`,
    );
  }
  const answer = checkedAnswer(
    openAnswerChecked(reply, o.header, worker.workerId, o.replyKey, {
      requestHash: reqHash,
      proofKeys: o.proofKeys,
      required: tdxWorkers(o.encryptedTo),
    }),
  );
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
    throw new VerificationError(
      "cost_mismatch",
      `charged ${charged} nanoTON, but the receipt's usage at the quoted price costs ${expected}: the coordinator's bill does not follow the receipt`,
    );
  }
  return answer;
}

/** The candidates whose replies must prove they unwrapped our request (ReplyBinding.required): the tdx ones. */
const tdxWorkers = (cands: Candidate[]) => new Set(cands.filter((c) => c.tier === "tdx").map((c) => c.workerId));

/**
 * askStream's check of a job's relayed chunks: streams of the workers we encrypted to, answering
 * our envelope, with the reply proof each tdx one must send (exported for its tests).
 */
export function streamVerifierOf(p: {
  jobId: string;
  header: EnvelopeHeader;
  replyKey: KemKeyPair;
  verified: Candidate[];
  envelope: RequestEnvelope;
  proofKeys: ReadonlyMap<string, Uint8Array>;
}): StreamVerifier {
  return new StreamVerifier(p.jobId, p.header, p.replyKey, new Set(p.verified.map((c) => c.workerId)), {
    requestHash: requestHash(p.envelope),
    proofKeys: p.proofKeys,
    required: tdxWorkers(p.verified),
  });
}

/**
 * A generated token's log probability (OpenAI's logprobs.content[]) and a tool call in OpenAI's
 * shape: the types of the schemas the sealed reply carries, declared once in events/.
 */
export type { TokenLogprob, ToolCall };

/**
 * A piece of a tool call in a stream (OpenAI's `delta.tool_calls[]`); this network sends each call
 * whole. `cocoon serve` re-exports it (client/serve/types.ts).
 */
export interface ToolCallDelta {
  /** which call of the answer this piece belongs to (0, 1, …) */
  index: number;
  /** on a call's first piece */
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
  | {
      type: "json_schema";
      json_schema: { name?: string; schema?: Record<string, unknown>; strict?: boolean | null; description?: string };
    };

/**
 * One part of a message's content, in OpenAI's shape: text, or an image as a
 * `data:image/(png|jpeg|webp|gif);base64,…` URL (a remote URL is refused: remote_image_url).
 */
export type { ContentPart };

/** One chat message: OpenAI's roles; an assistant turn may carry the calls it made, a tool turn answers one. */
export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  /**
   * Text, or content parts (user messages: text and images, for a model whose workers read images:
   * `vision` in its capabilities). Sealed as given; each image holds IMAGE_PROMPT_TOKENS prompt tokens.
   */
  content: string | ContentPart[];
  /**
   * system, user, assistant: OpenAI's participant name (AutoGen's group chats tell speakers apart
   * by it), 1 to 64 letters, digits, `_` or `-`; sealed with the message, passed on by engines
   * that take it (an OpenAI-compatible server; the embedded llama.cpp engine's template has no place for it).
   */
  name?: string;
  toolCalls?: ToolCall[];
  toolCallId?: string;
}

export interface AskOptions {
  model: string;
  /** A chat (the model's chat template). Exactly one of `messages` and `prompt`. */
  messages?: ChatMessage[];
  /** A plain text completion (OpenAI's /v1/completions): the prompt is continued as is. */
  prompt?: string;
  /**
   * Completion tokens per choice (default 256): a positive integer; the hold covers n × maxTokens,
   * which the network caps at MAX_JOB_TOKENS (32768) a job.
   */
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
  /**
   * Request fields the engine may know and this SDK does not name (frequency_penalty,
   * logit_bias, vLLM's top_k…), under their OpenAI names: sealed with the request, passed on
   * by engines that take them (an OpenAI-compatible server), never over a field set above.
   */
  extra?: Record<string, unknown>;
  /** Tiers accepted. Default ["tdx"]; "dev" needs allowDev, "none" means NOT confidential. */
  tiers?: AttestationTier[];
  /**
   * The most a worker may charge, in nanoTON per token (the price models() lists): the coordinator
   * offers no worker above it (where every live one is: PriceAboveCapError, an ApiError 409
   * price_above_cap naming the cheapest price), and the SDK encrypts to none it quoted above it
   * (VerificationError price_above_max).
   */
  maxPricePerToken?: bigint;
  candidates?: number;
  /**
   * Give up after this long (default 120 s): ask() rejects with a JobTimeoutError (a VerificationError, code "timeout", with the `jobId`),
   * askStream ends with it. A job already submitted is cancelled as an abort cancels it (once, in
   * the background): its answer is sealed to a key only this call held, so nobody could read it,
   * and the worker stops and is paid for what it generated (or the hold comes back whole).
   */
  timeoutMs?: number;
  /**
   * Stops waiting at once: ask() rejects with the signal's reason (an AbortError), askStream ends
   * with it, and the SDK's HTTP requests to the coordinator for this job are closed. A job whose
   * submit was already sent is cancelled too (CocoonClient.cancel, once, in the background): its
   * worker stops, and it is billed only for what was generated, or refunded if nothing was.
   */
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
  finishReason: "stop" | "length" | "tool_calls" | "cancelled";
  /** each token's log probability (asked with `logprobs`), from the sealed reply */
  logprobs?: TokenLogprob[];
  /** the model's thinking, apart from `text`, where the worker's engine separates it (reasoning models) */
  reasoning?: string;
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
  | {
      type: "delta";
      /** the job it belongs to (its receipt's, GET /v1/jobs/{id}): known from the first delta on */
      jobId?: string;
      text?: string;
      toolCalls?: ToolCallDelta[];
      /** choice index (n > 1), default 0 */
      index?: number;
      /** the log probabilities of this delta's tokens (asked with `logprobs`) */
      logprobs?: TokenLogprob[];
      /** the model's thinking that came before this delta's text (reasoning models; `text` may then be empty) */
      reasoning?: string;
    }
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
  /** Choice 0's tokens with their log probabilities (asked with `logprobs`). */
  logprobs?: TokenLogprob[];
  /**
   * Choice 0's thinking, apart from `text`, where the worker's engine separates it (a reasoning
   * model behind llama-server, vLLM, SGLang or Ollama): its tokens are in usage.completionTokens,
   * so an answer cut at maxTokens while the model thought has it and an empty `text`.
   */
  reasoning?: string;
  /** n > 1: every choice, choice 0 first. */
  choices?: AskChoice[];
  /**
   * What the receipt bills (promptTokens, completionTokens: checked against it), and for
   * information only `reasoningTokens`: how many of the completion tokens were the model's
   * thinking (all choices), where the worker's engine counted them; absent where it did not (an
   * engine that does not report it, an older worker, a cancelled job). Never more than
   * completionTokens: an answer claiming more is refused as malformed (stream_tampered).
   */
  usage: { promptTokens: number; completionTokens: number; reasoningTokens?: number };
  finishReason: "stop" | "length" | "tool_calls" | "cancelled";
  engine: string;
  model: string;
  workerId: string;
  tier: AttestationTier;
  /**
   * nanoTON charged: the coordinator's bill, checked to be exactly the receipt's usage at the
   * quoted price (capped by the hold). Over a pub/sub relay it is the bill the coordinator
   * answered the worker's result with, relayed on the final chunk (issue 12); `client.job(id)`
   * reads the stored one.
   */
  cost: string;
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
  /** this client's clock (default Date.now): its requests' timestamps, deadlines and relay subscribers go by it */
  now?: () => number;
  /** The coordinator's price weights (default core/pricing DEFAULT_PRICING): the SDK recomputes every charge. */
  priceWeights?: PriceWeights;
  /**
   * issue 11: subscribes to a job's stream on a pub/sub relay (AWS IoT Core, MQTT over
   * WebSocket) with the job-scoped session the coordinator vended; resolves once subscribed.
   * Optional (tests, custom transports): without it the SDK's own subscriber (client/relay-mqtt.ts:
   * one connection and subscription per account, reused across jobs) reads the relay.
   */
  relaySubscriber?: RelaySubscriber;
  /** issue 12: options of the built-in MQTT subscriber (tests point it at a local broker). */
  mqtt?: MqttRelayOptions;
  /** issue 12: options of the built-in SQS subscriber (client/relay-sqs.ts); its channel is the client's own, new on each close(). */
  sqs?: Omit<SqsRelayOptions, "channel">;
  /**
   * issue 15: the on-chain policy registry (client/policy-source.ts readers). When set, the SDK
   * encrypts only to workers whose image (and, where the registry lists models, whose attested
   * weight digest of the model asked for) it lists; takes a quote only at the registry's price
   * weights and checks each bill by them; takes a withdrawal only signed by the coordinator key
   * on the registry (withdraw); and refuses (policy_stale) while its newest reading is older
   * than the cache's bound.
   */
  policyRegistry?: PolicyCache;
  /**
   * issue 12: draw on tabs, one hold for many jobs (client/tab-keeper.ts, core/jobs/tabs.ts).
   * Each job takes a slot of a kept open tab instead of holding for itself; a tab of `slots` jobs
   * is opened when none fits. Workers are paid for those jobs when the tab closes (2 min after
   * it expires, once its jobs ended), and an open tab holds slots × the jobs' maximum cost. Absent: a hold per job.
   */
  tabs?: TabOptions;
  /**
   * Told how each cancel the SDK sent on its own ended (a caller's signal aborted a submitted job):
   * the coordinator's answer, or the error (never thrown: the caller already has its AbortError).
   */
  onCancel?: (jobId: string, outcome: { ok: true; answer: CancelJobResponse } | { ok: false; error: unknown }) => void;
  /**
   * How long the SDK keeps trying to learn the fate of a job that may exist (ms, default
   * RECONNECT_MS) when the connection is lost, or the coordinator fails, while the job is on its
   * way: it sends the job's submit again under the same Idempotency-Key (the coordinator answers
   * with the job it took, never a second one), reads the job when that submit is refused (the
   * first one may still be taken: never a new job id), or reads the job again. Past it:
   * JobOutcomeUnknownError. Never past the job's own deadline.
   */
  reconnectMs?: number;
  /**
   * The requester's own list of its jobs (client/journal.ts; the CLI's `cocoon jobs`): each job
   * is recorded there before its submit is sent, so a process killed mid-call still leaves the id
   * of a job that may run and be billed. One that cannot be written fails the call
   * (JobJournalError) with nothing submitted. Once its answer is checked, the receipt it was
   * checked with is kept there too (JobJournal.keepReceipt): `cocoon receipts verify` compares the
   * anchored receipt with it.
   */
  journal?: JobJournal;
}

/** CocoonClientOptions.reconnectMs's default: a coordinator's redeploy or a dropped link's return fits in it. */
export const RECONNECT_MS = 30_000;
/** The first wait before a request of a job is sent again after a lost connection (doubled each time, up to 2 s). */
const RECONNECT_PAUSE_MS = 250;

/** How long a cancel sent on an abort may take: it runs in the background and must not keep a process alive. */
export const CANCEL_TIMEOUT_MS = 10_000;
/**
 * How long after a cancel answered 404 unknown_job it is asked once more. An abort closes the
 * submit's HTTP request, not the coordinator's work on it: a cancel sent at once can overtake its
 * own submit and find no job yet, while the submit then commits and runs to its end.
 */
export const CANCEL_RETRY_MS = 1_000;

/** A quote the SDK keeps: the coordinator's MAC'd quote and the candidates whose attestation we verified. */
interface CachedQuote {
  key: string;
  quote: Quote;
  verified: VerifiedCandidate[];
  /** usable until then (ms) */
  until: number;
  /**
   * Jobs of ours in flight under it, and how many its candidates run at once: a kept quote is
   * not used past that (a fresh prepare spreads the rest by fair share), so a busy client never
   * queues its jobs on a few workers while others idle.
   */
  inFlight: number;
  capacity: number;
  /** what its prepare was asked (a renewal asks the same) and when it answered (ms) */
  ask: QuoteAsk;
  since: number;
  /** a submit carries its renewal now (one at a time) */
  renewing?: boolean;
  /** its candidates are every live worker that fits (PrepareResponse.allLive): a renewal would name the same, so none is asked */
  allLive?: boolean;
}

/** A live subscription to one job's relayed chunks (each message one RelayChunk, JSON). */
export type { RelaySubscription };
export type RelaySubscriber = (session: Extract<RelaySession, { transport: "iot-mqtt" }>) => Promise<RelaySubscription>;

/**
 * Upper bound on tokens in a prompt: a byte-level tokenizer never makes more than one token per
 * byte; an image counts IMAGE_PROMPT_TOKENS (its base64 is not text the model reads).
 */
export const promptTokenBound = (messages: ChatMessage[], tools?: Tool[]) =>
  messages.reduce(
    (n, m) =>
      n +
      Buffer.byteLength(contentText(m.content)) +
      imageCount(m.content) * IMAGE_PROMPT_TOKENS +
      (m.name ? Buffer.byteLength(m.name) : 0) +
      (m.toolCalls ? Buffer.byteLength(JSON.stringify(m.toolCalls)) : 0) +
      8,
    16,
  ) +
  // A chat template that offers functions writes them into the prompt with instructions around them.
  (tools?.length ? Buffer.byteLength(JSON.stringify(tools)) * 2 + 1024 : 0);

/** The same bound for a plain completion's prompt and for embedding inputs (token ids count one each). */
export const textTokenBound = (prompt: string) => Buffer.byteLength(prompt) + 16;
const inputTokenBound = (input: string[] | number[][]) =>
  input.reduce<number>((n, x) => n + (typeof x === "string" ? Buffer.byteLength(x) : x.length) + 4, 16);

/**
 * The request sealed with its plaintext padded to its length's bucket (core/crypto/padding.ts),
 * so that those who see only ciphertexts (the network, a tdx worker's host) learn the prompt's
 * size to within ~19 %; unpadded when padding would carry the envelope past the coordinator's cap.
 */
function sealPadded(header: EnvelopeHeader, json: Uint8Array, recipients: Array<{ workerId: string; hpkePublicKey: Uint8Array }>) {
  const padded = sealRequestBound({ header, plaintext: padJson(json, REQUEST_PADDING), recipients });
  if (canonicalJson(padded.envelope).length <= MAX_ENVELOPE_BYTES) return padded;
  return sealRequestBound({ header, plaintext: json, recipients });
}

/** The network's caps on one job's completion and prompt tokens: n choices count n times. */
export { MAX_JOB_PROMPT_TOKENS, MAX_JOB_TOKENS };

/** The requester's local list of its jobs (CocoonClientOptions.journal), for the package's users too. */
export { JobJournal, JobJournalError, type JournalEntry } from "./journal";

/** Bad input to ask/askStream/embed, caught before anything is sent; `param` names the field (OpenAI's 400 shape). */
export class AskInputError extends Error {
  override readonly name = "AskInputError";
  constructor(
    readonly param: string,
    message: string,
    /**
     * invalid_request; for an image part, remote_image_url (an http(s) URL) or invalid_image_url;
     * request_too_large: the sealed request would pass MAX_ENVELOPE_BYTES with its images;
     * prompt_too_large: without images (its text), or its token bound past MAX_JOB_PROMPT_TOKENS;
     * model_unsupported: no candidate's engine does this kind of job (candidatesForKind).
     */
    readonly code:
      | "invalid_request"
      | "remote_image_url"
      | "invalid_image_url"
      | "request_too_large"
      | "prompt_too_large"
      | "model_unsupported" = "invalid_request",
  ) {
    super(message);
  }
}

/** The capability a job of each kind needs of a worker's engine, and the request field that makes it that kind. */
const NEEDS = {
  chat: { capability: "chat", param: "messages", what: "chats" },
  completion: { capability: "completions", param: "prompt", what: "plain completions (prompt)" },
  embedding: { capability: "embeddings", param: "input", what: "embeddings" },
} as const;

/**
 * The candidates a job of this kind may be sealed to: those whose engine does it, by their offers'
 * capabilities (one without, an older agent, is kept: it may). None: AskInputError
 * model_unsupported, before a hold or a submit; such a job (ask({prompt}) on a chat-only engine)
 * used to reach a worker and come back refunded engine_rejected.
 */
export function candidatesForKind<C extends Pick<Candidate, "capabilities">>(
  cs: C[],
  kind: RequestPlaintext["kind"] | undefined,
  model: string,
): C[] {
  const need = NEEDS[kind ?? "chat"];
  const able = cs.filter((c) => c.capabilities?.[need.capability] !== false);
  if (able.length > 0) return able;
  const hint = kind === "completion" ? ': send it as a chat, messages [{ role: "user", content: prompt }]' : "";
  throw new AskInputError(need.param, `model "${model}": no candidate's engine does ${need.what}${hint}`, "model_unsupported");
}

/**
 * What a request envelope adds to its plaintext at most, beyond the payload's base64url: the
 * header (ids, keys, the model's name, the limits), the nonce, and eight wrapped data keys
 * (events/envelope.ts RequestEnvelope) with their JSON; checked against a real envelope in client/sdk-images.test.ts.
 */
export const ENVELOPE_OVERHEAD_BYTES = 4096;

/**
 * The sealed size of a plaintext of `bytes` UTF-8 bytes at most: its ChaCha20-Poly1305 ciphertext
 * (16 bytes of tag) in base64url, and the rest of the envelope. Unpadded: the SDK seals without
 * padding where the padded envelope would not fit (sealPadded).
 */
export const sealedSizeBound = (bytes: number) => Math.ceil(((bytes + 16) * 4) / 3) + ENVELOPE_OVERHEAD_BYTES;

/** Each image part's URL refused before anything is sent, by the sealed schema's rule, with its code and the part's path. */
function checkImages(messages: ChatMessage[] | undefined): void {
  const problem = firstImageProblem(messages);
  if (problem) throw new AskInputError(problem.path, `${problem.path}: ${problem.message}`, problem.code);
}

/**
 * A request ready to seal: its plaintext, checked, and that plaintext's JSON in UTF-8, serialised
 * once. The size check before a quote measures these very bytes, and the seal (sealPadded)
 * encrypts them: serialising a request twice cost every job a second JSON.stringify and encode
 * of its whole prompt (images included).
 */
export interface SealableRequest {
  plaintext: RequestPlaintext;
  json: Uint8Array;
}

/** The bytes `relayWhole: true` adds to a request's JSON, as the last of its fields. */
const RELAY_WHOLE_JSON_BYTES = Buffer.byteLength(',"relayWhole":true');

/** The sealed request an AskOptions stands for, checked with the one schema the agent parses it with. */
export function requestPlaintextOf(o: AskOptions, stream: boolean): RequestPlaintext {
  const { plaintext, text } = requestTextOf(o, stream, false);
  refuseOversized(o, Buffer.byteLength(text), false); // counted, not encoded: this caller seals nothing
  return plaintext;
}

/**
 * requestPlaintextOf, with the JSON the seal takes. `relayWhole`: the worker publishes the answer
 * in as few relay messages as it can (ask() over a pub/sub relay).
 */
export function sealableRequestOf(o: AskOptions, stream: boolean, relayWhole = false): SealableRequest {
  const { plaintext, text } = requestTextOf(o, stream, relayWhole);
  const json = new TextEncoder().encode(text);
  refuseOversized(o, json.length, relayWhole);
  return { plaintext, json };
}

/** The request's plaintext, checked (its images, the schema), and its JSON text. */
function requestTextOf(o: AskOptions, stream: boolean, relayWhole: boolean): { plaintext: RequestPlaintext; text: string } {
  if ((o.messages === undefined) === (o.prompt === undefined))
    throw new AskInputError(
      o.messages ? "prompt" : "messages",
      "give either messages (a chat) or prompt (a text completion), not both or neither",
    );
  const p: RequestPlaintext = {
    kind: o.messages ? "chat" : "completion",
    ...(o.messages ? { messages: o.messages } : { prompt: o.prompt! }),
    ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
    ...(o.topP !== undefined ? { topP: o.topP } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    ...(o.stop !== undefined ? { stop: o.stop } : {}),
    ...(o.n !== undefined ? { n: o.n } : {}),
    ...(o.tools !== undefined ? { tools: o.tools } : {}),
    ...(o.toolChoice !== undefined ? { toolChoice: o.toolChoice } : {}),
    ...(o.parallelToolCalls !== undefined ? { parallelToolCalls: o.parallelToolCalls } : {}),
    ...(o.responseFormat !== undefined ? { responseFormat: o.responseFormat } : {}),
    ...(o.user !== undefined ? { user: o.user } : {}),
    ...(o.logprobs !== undefined ? { logprobs: o.logprobs } : {}),
    ...(o.topLogprobs !== undefined ? { topLogprobs: o.topLogprobs } : {}),
    ...(o.extra !== undefined && Object.keys(o.extra).length > 0 ? { extra: o.extra } : {}),
    ...(stream ? { stream: true } : {}),
    ...(relayWhole ? { relayWhole: true } : {}), // last: RELAY_WHOLE_JSON_BYTES
  };
  checkImages(o.messages);
  const r = RequestPlaintext.safeParse(p);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new AskInputError(i.path.map(String).join(".") || "request", `${i.path.join(".") || "request"}: ${i.message}`);
  }
  return { plaintext: p, text: JSON.stringify(p) };
}

/**
 * A request whose JSON is `bytes` long refused here, before a quote, a tab's slot or a hold,
 * rather than by the coordinator's 413 envelope_too_large at submit (which comes after a quote).
 * By the bound, which overstates a real envelope by at most ENVELOPE_OVERHEAD_BYTES: a request
 * within that of the cap may be refused here that the coordinator would have taken. Measured
 * with relayWhole whether or not it is set (the bytes it adds, not a second serialisation): ask()
 * takes either path, and one prompt is taken or refused alike on both.
 */
function refuseOversized(o: AskOptions, bytes: number, relayWhole: boolean): void {
  const size = sealedSizeBound(bytes + (relayWhole ? 0 : RELAY_WHOLE_JSON_BYTES));
  if (size > MAX_ENVELOPE_BYTES) {
    if (o.messages?.some((m) => imageCount(m.content) > 0))
      throw new AskInputError(
        "messages",
        `the sealed request would take up to ${size} bytes, past the network's cap of ${MAX_ENVELOPE_BYTES} bytes a request ` +
          "(its images travel inside it, in base64): send fewer or smaller images",
        "request_too_large",
      );
    throw promptTooLarge(o.messages ? "messages" : "prompt", size);
  }
}

/** The most UTF-8 bytes of request JSON (the prompt, escaped, and the rest) whose sealed bound fits MAX_ENVELOPE_BYTES. */
export const MAX_SEALED_TEXT_BYTES = Math.floor(((MAX_ENVELOPE_BYTES - ENVELOPE_OVERHEAD_BYTES) * 3) / 4) - 16;

/**
 * A chat's messages, a completion's prompt or embedding inputs too large for one job:
 * `prompt_too_large`, the limit named. Worded for any of them (`param` says which): cocoon serve
 * passes it on for whichever field its route has.
 */
function promptTooLarge(param: "messages" | "prompt" | "input", sealedBytes: number): AskInputError {
  return new AskInputError(
    param,
    `the prompt would seal to up to ${sealedBytes} bytes, past the network's cap of ${MAX_ENVELOPE_BYTES} bytes a request ` +
      `(about ${MAX_SEALED_TEXT_BYTES} bytes of request text): shorten it`,
    "prompt_too_large",
  );
}

/** How many verdicts a client keeps (CocoonClient.verdicts): far more workers than a job's candidates. */
export const MAX_VERDICTS = 1024;

export class CocoonClient {
  readonly api: ApiClient;
  private readonly policy: Policy;
  private readonly now: () => number;
  /**
   * Verdicts on evidence we already checked, until that evidence expires: same document, same
   * answer. Bounded (MAX_VERDICTS, least recently used out): every re-attestation is a new
   * document, and a coordinator can invent documents, so a long-running client (`cocoon serve`)
   * kept one entry per document it was ever shown.
   */
  private readonly verdicts = new Lru<
    string,
    { tier: AttestationTier; measurement: string; expiresAt: number; image?: string; modelDigests?: Record<string, string> }
  >(MAX_VERDICTS);

  private readonly tabKeeper: TabKeeper | undefined;

  constructor(private readonly opts: CocoonClientOptions) {
    this.api = new ApiClient(opts.apiUrl, opts.key, opts.now); // one clock for the whole client
    this.policy = opts.policy ?? loadPolicy();
    this.now = opts.now ?? Date.now;
    this.tabKeeper = opts.tabs
      ? new TabKeeper(opts.tabs, (body, key) => this.api.request(API.openTab, { body, headers: { "idempotency-key": key } }), this.now)
      : undefined;
  }

  /** issue 12: the open tabs this client draws on (with CocoonClient({ tabs })): how many slots each has used. */
  openTabs(): KeptTabView[] {
    return this.tabKeeper?.view() ?? [];
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

  /** issue 15: the registry's reading to act on (undefined without a registry); one older than the cache's bound refuses (policy_stale). */
  private async registryReading(): Promise<PolicyReading | undefined> {
    try {
      return await this.opts.policyRegistry?.current();
    } catch (e) {
      if (e instanceof PolicyStaleError) throw new VerificationError("policy_stale", e.message);
      throw e;
    }
  }

  /**
   * issue 15: a quote's price weights must be the registry's (the coordinator bills by the
   * quote's); one at other weights is refused (fees_not_on_chain) before anything is held.
   */
  private async checkQuoteFees(quote: Quote): Promise<void> {
    const r = await this.registryReading();
    if (!r) return;
    const f = r.policy.fees;
    if (quote.promptBps !== f.promptBps || quote.completionBps !== f.completionBps)
      throw new VerificationError(
        "fees_not_on_chain",
        `the coordinator quoted price weights prompt ${quote.promptBps} / completion ${quote.completionBps} bps; the policy registry (v${r.version}) says ${f.promptBps} / ${f.completionBps}`,
      );
  }

  /**
   * The coordinator's stored view of one of this account's jobs, as it answers it (unchecked):
   * status, reply, receipt and bill. Over a pub/sub relay ask() takes the bill the coordinator
   * answered the worker's result with, relayed on the final chunk and checked against the
   * receipt (issue 12), without reading the job; this reads the stored record.
   */
  async job(jobId: string): Promise<JobView> {
    return this.api.request(API.getJob, { params: { id: jobId }, query: { wait: 0 } });
  }

  /**
   * Cancel one of this account's jobs (POST /v1/jobs/{id}/cancel). `cancelled` true: the job was
   * still running and now stops; its worker is told, and it ends "completed", billed only for what
   * was generated (its answer's finishReason "cancelled"), or "refunded" with outcome "cancelled"
   * when nothing came back. false: it had already ended, as `status` says, and nothing changed.
   * Idempotent: asking again, also after it ended, changes nothing and answers the same. The
   * answer is parsed with its schema (a malformed one is an ApiError bad_response).
   */
  cancel(jobId: string, o: { signal?: AbortSignal } = {}): Promise<CancelJobResponse> {
    return this.api.request(API.cancelJob, { params: { id: jobId }, ...(o.signal ? { signal: o.signal } : {}) });
  }

  /**
   * The cancel a caller's abort sends for its submitted job: in the background, bounded by
   * CANCEL_TIMEOUT_MS, its outcome told to onCancel and never thrown (the caller has its AbortError).
   */
  private cancelInBackground(jobId: string): void {
    const signal = AbortSignal.timeout(CANCEL_TIMEOUT_MS);
    const sent = this.cancelOvertaking(jobId, signal).then(
      (answer) => ({ ok: true as const, answer }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    this.cancels.add(sent);
    void sent
      .then((outcome) => {
        try {
          this.opts.onCancel?.(jobId, outcome);
        } catch {
          // a throwing observer must not become an unhandled rejection in the caller's process
        }
      })
      .finally(() => this.cancels.delete(sent));
  }
  /** cancel(), asked once more CANCEL_RETRY_MS later when it overtook its own submit (404 unknown_job). */
  private async cancelOvertaking(jobId: string, signal: AbortSignal): Promise<CancelJobResponse> {
    try {
      return await this.cancel(jobId, { signal });
    } catch (e) {
      if (!(e instanceof ApiError && e.code === "unknown_job")) throw e;
      await new Promise((r) => setTimeout(r, CANCEL_RETRY_MS).unref?.());
      return this.cancel(jobId, { signal });
    }
  }
  /** Cancels sent on an abort and not answered yet, so a test (or a CLI about to exit) can wait for them. */
  private readonly cancels = new Set<Promise<unknown>>();

  /** Waits for the cancels the SDK sent on aborts (each ends within CANCEL_TIMEOUT_MS). */
  async settleCancels(): Promise<void> {
    await Promise.all([...this.cancels]);
  }

  /**
   * One call's watch on its signal: once the call sends its job's submit (`submitting`), an abort
   * before the call ends cancels that job, once, as does the call giving up at its deadline
   * (`gaveUp`). An abort before the submit was sent cancels nothing (no job was sent); a submit
   * refused, a job seen ended, or the call over disarms it.
   * An abort while the submit is on its way cancels at once: a cancel that reaches the coordinator
   * before that submit finds no job yet, and onCancel is told the coordinator's refusal.
   */
  private cancelWatch(signal: AbortSignal | undefined): CancelWatch {
    let jobId: string | undefined;
    let over = false;
    const cancelSent = () => {
      const id = jobId;
      jobId = undefined;
      if (id !== undefined) this.cancelInBackground(id);
    };
    const onAbort = () => {
      over = true;
      cancelSent();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    return {
      submitting: (id) => {
        if (!over && !signal?.aborted) jobId = id;
      },
      disarm: () => (jobId = undefined),
      gaveUp: cancelSent,
      end: () => {
        over = true;
        jobId = undefined;
        signal?.removeEventListener("abort", onAbort);
      },
    };
  }
  /**
   * issue 15: a coordinator-signed withdrawal (POST /v1/account/withdraw) of `amount` nanoTON to
   * `to`. It must be that withdrawal: for this account, this amount and this destination (any
   * form of the address), else it is refused (withdrawal_mismatch) and must not be sent: the
   * requester sends what comes back, and a valid signature alone would have it pay another
   * address or amount. With a registry its signature must also verify under the coordinator key
   * on chain (the key the vault is to trust, changed only by the registry's owners): one signed
   * by any other key is refused (coordinator_key_not_on_chain). Unsent, either expires and the
   * amount is released to the balance.
   *
   * `idempotencyKey`: pass the same key when retrying after an answer was lost (a dropped
   * connection, a crash): the coordinator answers the withdrawal it already reserved under it,
   * never a second one. Without it every call is a new withdrawal, and a second one takes the
   * next seqno, which the vault refuses until the first has landed (both stay reserved until
   * they expire). Keep the key where a crash does not lose it (the CLI: client/commands/withdraw.ts).
   */
  async withdraw(amount: bigint, to: string, o: { idempotencyKey?: string } = {}): Promise<SignedWithdrawalView> {
    const w = await this.api.request(API.withdraw, {
      body: { amount, to },
      headers: { "idempotency-key": o.idempotencyKey ?? `withdraw-${b64u.encode(randomBytes(12))}` },
    });
    const { sameAddress } = await import("../api-client/ton-address"); // @ton/core: loaded only by withdrawals
    if (w.account !== this.account || BigInt(w.amount) !== amount || !sameAddress(w.to, to))
      throw new VerificationError(
        "withdrawal_mismatch",
        `the coordinator answered a withdrawal of ${w.amount} nanoTON to ${w.to} for account ${w.account}, not the ${amount} to ${to} this account asked for: do not send it`,
      );
    await this.checkWithdrawal(w);
    return w;
  }

  /** Where one of this account's withdrawals stands: pending (reserved), landed (paid on chain) or released (expired unused, amount available again). */
  withdrawalStatus(seqno: number) {
    return this.api.request(API.withdrawalStatus, { params: { seqno } });
  }

  /** The coordinator-key check of withdraw, for a withdrawal obtained elsewhere (a no-op without a registry). */
  async checkWithdrawal(w: SignedWithdrawalView): Promise<void> {
    const r = await this.registryReading();
    if (!r) return;
    // The vault's signing helpers carry @ton/core: loaded only when a registry is configured.
    const { withdrawalSignedBy } = await import("../ton/registry");
    if (!withdrawalSignedBy(w, r.policy.coordinatorKey))
      throw new VerificationError(
        "coordinator_key_not_on_chain",
        `withdrawal ${w.seqno} is not signed by the coordinator key on the policy registry (v${r.version}, ${r.policy.coordinatorKey.slice(0, 16)}…): do not send it`,
      );
  }

  /**
   * Verify each candidate's attestation ourselves; keep only those that pass. With a registry,
   * also its image, and for `model` (the model asked for) the weight digest it attested.
   */
  async verifyCandidates(cands: Candidate[], tiers: AttestationTier[], model?: string): Promise<VerifiedCandidate[]> {
    const ok: VerifiedCandidate[] = [];
    const refusals: string[] = [];
    // issue 15: the registry's allow-lists, read from the chain (never older than the cache's bound)
    const registry = await this.registryReading();
    const unlisted = (tier: AttestationTier, image: string | undefined, digests: Record<string, string> | undefined) => {
      if (!registry) return undefined;
      if (!imageAllowed(registry, tier, image)) return `image not on the policy registry's allow-list (v${registry.version})`;
      const digest = model !== undefined && digests && Object.hasOwn(digests, model) ? digests[model] : undefined;
      if (model !== undefined && !modelAllowed(registry, digest))
        return `model ${model} ${digest ? `digest ${digest.slice(0, 16)}…` : "without a digest"} not on the policy registry's allow-list (v${registry.version})`;
      return undefined;
    };
    for (const c of cands) {
      if (c.attestation.signingPublicKey !== c.workerId || c.attestation.hpkePublicKey !== c.hpkePublicKey) {
        refusals.push(`${c.workerId.slice(0, 8)}: keys differ from its attestation`);
        continue;
      }
      if (!tiers.includes(c.attestation.tier)) {
        refusals.push(`${c.workerId.slice(0, 8)}: tier ${c.attestation.tier} not requested`);
        continue;
      }
      const id = attestationDigest(c.attestation);
      const known = this.verdicts.get(id);
      if (known && known.expiresAt > this.now() && known.tier === c.tier) {
        const why = unlisted(known.tier, known.image, known.modelDigests);
        if (why === undefined) ok.push({ ...c, measurement: known.measurement });
        else refusals.push(`${c.workerId.slice(0, 8)}: ${why}`);
        continue;
      }
      const v = await verifyAttestation(c.attestation, {
        policy: this.policy,
        now: this.now(),
        allowDev: this.opts.allowDev === true && tiers.includes("dev"),
        allowNone: tiers.includes("none"),
      });
      const image = v.ok ? imageDigestOf(v) : undefined;
      if (v.ok)
        this.verdicts.set(id, {
          tier: v.tier,
          measurement: v.measurement,
          expiresAt: v.expiresAt,
          ...(image ? { image } : {}),
          ...(v.modelDigests ? { modelDigests: v.modelDigests } : {}),
        });
      const why = !v.ok ? v.reason : v.tier !== c.tier ? "tier mismatch" : unlisted(v.tier, image, v.modelDigests);
      if (v.ok && why === undefined) ok.push({ ...c, measurement: v.measurement });
      else refusals.push(`${c.workerId.slice(0, 8)}: ${why}`);
    }
    if (ok.length === 0)
      throw new VerificationError("no_verified_candidates", `no candidate passed attestation checks: ${refusals.join("; ")}`);
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

  private async challenge(
    workerId: string,
    expected: { hpkePublicKey: string; tier: AttestationTier } | undefined,
    tiers: AttestationTier[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<FreshAttestation> {
    const nonce = randomBytes(32);
    const ch = await this.api.request(API.challenge, { body: { workerId, nonce: b64u.encode(nonce) }, signal });
    const want = expected ?? { hpkePublicKey: ch.hpkePublicKey, tier: ch.tier };
    const deadline = this.now() + timeoutMs;
    let view: ChallengeView;
    for (;;) {
      const wait = Math.max(0, Math.min(20, Math.ceil((deadline - this.now()) / 1000)));
      view = await this.api.request(API.getChallenge, { params: { id: ch.challengeId }, query: { wait }, signal });
      if (view.status !== "pending" || this.now() >= deadline) break;
    }
    const who = `worker ${workerId.slice(0, 8)}`;
    if (view.status === "expired")
      throw new VerificationError(
        "challenge_expired",
        `${who} did not answer attestation challenge ${ch.challengeId} before it expired; pick another worker or retry`,
      );
    if (view.status !== "answered" || !view.attestation) {
      throw new VerificationError(
        "challenge_timeout",
        `${who} did not answer attestation challenge ${ch.challengeId} within ${timeoutMs} ms; pick another worker or wait longer`,
      );
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
    if (v.tier !== want.tier || !tiers.includes(v.tier))
      throw forged(`tier ${v.tier} differs from the registered tier ${want.tier} or was not requested`);
    return { ...v, workerId, challengeId: ch.challengeId, attestation: doc };
  }

  /** Challenge each candidate in parallel; keep those whose fresh evidence verifies. */
  private async freshCandidates(cands: VerifiedCandidate[], tiers: AttestationTier[], timeoutMs: number, signal?: AbortSignal) {
    const results = await Promise.allSettled(
      cands.map((c) => this.challenge(c.workerId, { hpkePublicKey: c.hpkePublicKey, tier: c.tier }, tiers, timeoutMs, signal)),
    );
    throwIfAborted(signal); // every challenge was given up: an abort, not candidates that failed
    const ok: Array<{ candidate: VerifiedCandidate; fresh: FreshAttestation }> = [];
    const refusals: string[] = [];
    results.forEach((r, i) => {
      if (r.status === "fulfilled") ok.push({ candidate: cands[i]!, fresh: r.value });
      else
        refusals.push(
          `${cands[i]!.workerId.slice(0, 8)}: ${r.reason instanceof VerificationError ? `${r.reason.code}: ` : ""}${(r.reason as Error).message}`,
        );
    });
    if (ok.length === 0)
      throw new VerificationError("no_verified_candidates", `no candidate passed a fresh attestation challenge: ${refusals.join("; ")}`);
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
  /** Renewed quotes being checked (adoptRenewal), so a test can wait for them. */
  private readonly renewals = new Set<Promise<unknown>>();
  /**
   * The prepare under way for a key whose kept quote is missing or ran out: concurrent asks
   * wait for it and take their places under the quote it keeps, instead of each preparing (64
   * asks in flight made 64 prepares every time the kept quote ran out).
   */
  private readonly preparing = new Map<string, { verifying: Promise<unknown>; limits: { maxTokens: number; maxPromptTokens: number } }>();

  /**
   * A fresh quote for these limits and the candidates whose attestation we verified ourselves,
   * its fee weights checked against the registry: what a job (prepare) and the quote cache
   * (quoteFor) both start from.
   */
  private async quoteVerified(
    o: JobBasics,
    tiers: AttestationTier[],
    limits: { maxTokens: number; maxPromptTokens: number },
    held: Candidate[] = [],
  ): Promise<{ prep: PrepareResponse; verified: VerifiedCandidate[] }> {
    o.onProgress?.("asking the coordinator for candidates and a quote");
    const prep = await this.api
      .request(API.prepareJob, { body: withHeld(prepareAsk(o, tiers, limits), held), signal: o.signal })
      .catch((e: unknown) => Promise.reject(typedRefusal(e)));
    o.onProgress?.(`verifying the attestation of ${prep.candidates.length} candidate${prep.candidates.length === 1 ? "" : "s"}`);
    return { prep, verified: await this.verifiedQuote(prep, held, tiers, o.model, o.maxPricePerToken) };
  }

  /**
   * A prepare's answer (asked, or renewed with a submit) checked: the candidates that pass our
   * attestation check, its fees by the registry's. `held`: the candidates whose documents the
   * prepare said we hold (PrepareRequest.held); a candidate named by digest takes its document from them.
   */
  private async verifiedQuote(
    prep: PrepareResponse,
    held: Candidate[],
    tiers: AttestationTier[],
    model: string,
    maxPricePerToken?: bigint,
  ): Promise<VerifiedCandidate[]> {
    const verified = await this.verifyCandidates(withHeldDocuments(prep.candidates, held), tiers, model);
    await this.checkQuoteFees(prep.quote);
    if (maxPricePerToken === undefined) return verified;
    // the cap is ours: a candidate the coordinator prices above it (in its offer or in the MAC'd quote) is not encrypted to
    const quoted = new Map(prep.quote.candidates.map((c) => [c.workerId, BigInt(c.pricePerToken)]));
    const within = verified.filter(
      (c) => BigInt(c.pricePerToken) <= maxPricePerToken && (quoted.get(c.workerId) ?? maxPricePerToken + 1n) <= maxPricePerToken,
    );
    if (within.length === 0)
      throw new VerificationError("price_above_max", `every candidate was quoted above maxPricePerToken ${maxPricePerToken} nanoTON`);
    return within;
  }

  /**
   * The kept entry for a verified quote: kept until the quote or any verdict we reached runs
   * out, whichever is first (the coordinator bounds the quote by the evidence too; we do not
   * rely on it), and KEPT_QUOTE_MS at most (./quote-keeping.ts).
   */
  private keptEntry(key: string, ask: QuoteAsk, prep: PrepareResponse, verified: VerifiedCandidate[], inFlight: number): CachedQuote {
    const evidence = verified.map((c) => this.verdicts.get(attestationDigest(c.attestation))?.expiresAt ?? 0);
    // the quote's expiresAt is on the coordinator's clock: on ours, a clock ahead by more than its life made every job prepare afresh
    const until = Math.min(this.api.localTime(prep.quote.expiresAt), this.now() + KEPT_QUOTE_MS, ...evidence);
    const capacity = verified.reduce((n, c) => n + (c.capacity ?? 1), 0);
    return {
      key,
      quote: prep.quote,
      verified,
      until,
      inFlight,
      capacity,
      ask,
      since: this.now(),
      ...(prep.allLive ? { allLive: true } : {}),
    };
  }

  /**
   * The renewal a job under a kept quote asks with its submit (SubmitRequest.renew), when one is
   * due: the quote was picked RENEW_AFTER_MS ago or more and no other submit carries one.
   */
  private renewalDue(entry: CachedQuote): QuoteAsk | undefined {
    if (entry.allLive || entry.renewing || this.now() - entry.since < RENEW_AFTER_MS || this.quotes.get(entry.key) !== entry)
      return undefined;
    entry.renewing = true;
    // the documents of the quote it renews: those of the workers picked again do not come back (PrepareRequest.held)
    return withHeld(entry.ask, entry.verified);
  }

  /**
   * A submit's answer came (or not): the renewed quote it carried replaces the kept one once its
   * candidates pass our own checks (in the background: the job does not wait for it). The old
   * entry stays while that runs, and if the renewal fails, the next due submit asks again.
   */
  private adoptRenewal(p: Prepared, next: PrepareResponse | undefined): void {
    const old = p.kept;
    if (!old || p.renew === undefined) return;
    if (!next) {
      old.renewing = false;
      return;
    }
    const ask = old.ask; // what p.renew asked, less the documents it held
    const adopting = this.verifiedQuote(
      next,
      old.verified,
      ask.tiers,
      ask.model,
      ask.maxPricePerToken === undefined ? undefined : BigInt(ask.maxPricePerToken),
    ).then(
      (verified) => {
        // dropped or replaced meanwhile (refused, a failover, a fresh prepare): theirs stands
        if (this.quotes.get(old.key) === old && verified.length > 0)
          this.quotes.set(old.key, this.keptEntry(old.key, ask, next, verified, 0));
        else old.renewing = false;
      },
      () => (old.renewing = false), // no candidate passed, or fees not the registry's: keep the old one until it runs out
    );
    this.renewals.add(adopting);
    void adopting.finally(() => this.renewals.delete(adopting));
  }

  /** A usable quote for these options (from the cache, or a fresh prepare with its candidates verified). */
  private async quoteFor(
    o: AskOptions,
    tiers: AttestationTier[],
    maxTokens: number,
    maxPromptTokens: number,
    use: "cache" | "refresh" | "once",
    waited = false,
    key = quoteKeyOf(o, tiers),
  ): Promise<CachedQuote> {
    const cached = this.quotes.get(key);
    // issue 15: a kept quote made before the registry's owners changed the weights is not used again
    const fees = (await this.registryReading())?.policy.fees;
    // A margin for the submit's flight time: a quote that runs out on the way is refused.
    const current =
      cached !== undefined &&
      (!fees || (cached.quote.promptBps === fees.promptBps && cached.quote.completionBps === fees.completionBps)) &&
      cached.until - QUOTE_MARGIN_MS > this.now();
    if (
      use === "cache" &&
      current &&
      cached.inFlight < cached.capacity &&
      maxTokens <= cached.quote.maxTokens &&
      maxPromptTokens <= cached.quote.maxPromptTokens
    ) {
      cached.inFlight++; // this job's place, taken before any await: concurrent asks cannot all pass the check
      return cached;
    }
    // No current quote: wait for the prepare another ask has under way, then look again (once; a
    // failed or aborted one leaves this ask to prepare its own). A full or too small quote is not
    // waited for: those asks prepare their own, as before (spread by fair share); nor one under
    // way for smaller maxima than this ask's (its quote could not carry it).
    const pending = use === "cache" && !current && !waited ? this.preparing.get(key) : undefined;
    if (pending && maxTokens <= pending.limits.maxTokens && maxPromptTokens <= pending.limits.maxPromptTokens) {
      await pending.verifying.catch(() => undefined);
      return this.quoteFor(o, tiers, maxTokens, maxPromptTokens, use, true, key);
    }
    const limits = quoteMaxima({ maxTokens, maxPromptTokens });
    // the documents of the quote it replaces, if any: those of the workers picked again do not come back
    const verifying = this.quoteVerified(o, tiers, limits, cached?.verified);
    if (use === "cache" && !current && !this.preparing.has(key)) {
      this.preparing.set(key, { verifying, limits });
      void verifying.then(
        () => this.preparing.get(key)?.verifying === verifying && this.preparing.delete(key),
        () => this.preparing.get(key)?.verifying === verifying && this.preparing.delete(key),
      );
    }
    const { prep, verified } = await verifying;
    const entry = this.keptEntry(key, prepareAsk(o, tiers, limits), prep, verified, 1);
    if (use !== "once") this.quotes.set(key, entry);
    return entry;
  }

  /** The job no longer counts against its kept quote's in-flight jobs (once). */
  private release(p: Prepared) {
    if (p.kept) p.kept.inFlight--;
    delete p.kept;
  }

  /** Drops the kept quote a job used (if it is still the one kept): the next job prepares afresh. */
  private dropQuote(p: Prepared) {
    if (p.cacheKey !== undefined && this.quotes.get(p.cacheKey)?.quote === p.quote) this.quotes.delete(p.cacheKey);
  }

  /**
   * A kept quote's candidates this job may be sealed to: checked again (cached verdicts on the same
   * evidence, the registry's allow-lists read again), rotated per job so one client's jobs spread
   * over them, those the quote prices, those whose engine does this kind of job (candidatesForKind).
   */
  private async keptCandidates(
    entry: CachedQuote,
    tiers: AttestationTier[],
    model: string,
    kind: RequestPlaintext["kind"] | undefined,
  ): Promise<VerifiedCandidate[]> {
    let verified = await this.verifyCandidates(entry.verified, tiers, model);
    const start = this.turn++ % verified.length;
    verified = [...verified.slice(start), ...verified.slice(0, start)];
    const priced = new Set(entry.quote.candidates.map((c) => c.workerId));
    return candidatesForKind(
      verified.filter((c) => priced.has(c.workerId)),
      kind,
      model,
    );
  }

  /**
   * Steps 1–2 from a kept quote (issue 12: no prepare request): its candidates checked again
   * (cached verdicts on the same evidence, the registry's allow-lists read again), a job id of
   * our own, this job's own maxima and the hold at the dearest candidate we seal to, by the
   * quote's weights (what submit checks). The candidates are rotated per job so one client's
   * jobs spread over them; the coordinator still puts the live ones first.
   */
  private async fromKeptQuote(
    o: JobBasics,
    tiers: AttestationTier[],
    limits: { maxTokens: number; maxPromptTokens: number },
    use: "cache" | "refresh",
    kind: RequestPlaintext["kind"] | undefined,
  ) {
    const key = quoteKeyOf(o, tiers);
    // the quote kept before this job: only it may be given up for a fresh one (below)
    const kept = this.quotes.get(key);
    // quoteFor reserves this job's place in the entry (inFlight): given back on any failure here
    let entry = await this.quoteFor(o, tiers, limits.maxTokens, limits.maxPromptTokens, use, false, key);
    let verified: VerifiedCandidate[];
    try {
      verified = await this.keptCandidates(entry, tiers, o.model, kind);
    } catch (e) {
      entry.inFlight--;
      // A kept quote none of whose candidates can take this job any more (every one fell off the
      // registry's lists, or its verdict ran out), or none of whose candidates does this kind of
      // job (session 41: a quote kept from chats, asked for a plain completion or embeddings): one
      // fresh quote, whose candidates are picked afresh. Refused only if they cannot take it
      // either. A quote this job just prepared (none was kept, or the kept one ran out) is not
      // prepared again: the kind's refusal is its answer.
      const offListed = e instanceof VerificationError && e.code === "no_verified_candidates";
      const unable = e instanceof AskInputError && e.code === "model_unsupported" && entry === kept;
      if (use !== "cache" || !(offListed || unable)) throw e;
      this.quotes.delete(entry.key);
      entry = await this.quoteFor(o, tiers, limits.maxTokens, limits.maxPromptTokens, "refresh", false, key);
      try {
        verified = await this.keptCandidates(entry, tiers, o.model, kind);
      } catch (e2) {
        entry.inFlight--;
        throw e2;
      }
    }
    const q = entry.quote;
    const prices = new Map(q.candidates.map((c) => [c.workerId, BigInt(c.pricePerToken)]));
    const weights: PricingConfig = { ...DEFAULT_PRICING, promptBps: q.promptBps, completionBps: q.completionBps };
    const maxCost = maxJobCost(
      weights,
      verified.map((c) => prices.get(c.workerId)!),
      limits.maxPromptTokens,
      limits.maxTokens,
    );
    // asked last, after every await above: a job that fails before this asks no renewal
    const renew = this.renewalDue(entry);
    // the place is released when the job finished (finished()); one that never gets there frees it with the entry, within 15 s
    return {
      jobId: newJobId(this.now()),
      model: o.model,
      maxTokens: limits.maxTokens,
      maxPromptTokens: limits.maxPromptTokens,
      maxCost: maxCost.toString(),
      quote: q,
      verified,
      cacheKey: entry.key,
      kept: entry,
      ...(renew ? { renew } : {}),
    };
  }

  /**
   * Steps 1–2 of a job (docs/architecture.md §3): a quote, our own check of each candidate's
   * attestation (and fresh evidence if asked), a one-time reply key, the sealed envelope.
   * Without a fresh challenge the quote is a kept one (fromKeptQuote); a fresh challenge is
   * per job, so it prepares its own.
   */
  private async prepare(
    o: JobBasics,
    request: SealableRequest,
    limits: { maxTokens: number; maxPromptTokens: number },
    use: "cache" | "refresh",
    deadline: number,
  ): Promise<Prepared> {
    const tiers = o.tiers ?? this.defaultTiers();
    let prep: Pick<PrepareResponse, "jobId" | "model" | "maxTokens" | "maxPromptTokens" | "maxCost" | "quote"> & {
      cacheKey?: string;
      kept?: CachedQuote;
      renew?: QuoteAsk;
    };
    let verified: VerifiedCandidate[];
    if (!o.freshAttestation) {
      ({ verified, ...prep } = await this.fromKeptQuote(o, tiers, limits, use, request.plaintext.kind));
    } else {
      ({ prep, verified } = await this.quoteVerified(o, tiers, limits));
      verified = candidatesForKind(verified, request.plaintext.kind, o.model);
    }
    const fresh = new Map<string, FreshAttestation>();
    if (o.freshAttestation) {
      o.onProgress?.(`challenging ${verified.length} candidate${verified.length === 1 ? "" : "s"} for fresh evidence`);
      const passed = await this.freshCandidates(verified, tiers, o.freshAttestationTimeoutMs ?? 30_000, o.signal);
      verified = passed.map((p) => p.candidate);
      for (const p of passed) fresh.set(p.candidate.workerId, p.fresh);
    }
    // issue 12: under a tab, the job is the slot's (its id derived from the tab) and holds nothing of its own
    const tab =
      this.tabKeeper && !o.freshAttestation ? await this.tabKeeper.take(BigInt(prep.maxCost), BigInt(prep.quote.maxCost)) : undefined;
    if (tab) prep = { ...prep, jobId: tabSlotJobId(tab.tab.tabId, tab.slot) };
    const replyKey = generateKemKey();
    const header: EnvelopeHeader = {
      v: 1,
      jobId: prep.jobId,
      requester: this.account,
      model: prep.model,
      maxTokens: prep.maxTokens,
      maxPromptTokens: prep.maxPromptTokens,
      maxCost: prep.maxCost,
      replyKey: b64u.encode(replyKey.publicKey),
    };
    const { envelope, proofKeys } = sealPadded(
      header,
      request.json, // serialised once, when it was checked (sealableRequestOf); the same for a job prepared again
      verified.map((c) => ({ workerId: c.workerId, hpkePublicKey: b64u.decode(c.hpkePublicKey) })),
    );
    return {
      jobId: prep.jobId,
      quote: prep.quote,
      ...(prep.cacheKey !== undefined ? { cacheKey: prep.cacheKey } : {}),
      ...(prep.kept ? { kept: prep.kept } : {}),
      ...(prep.renew ? { renew: prep.renew } : {}),
      ...(tab ? { tab } : {}),
      model: prep.model,
      maxCost: prep.maxCost,
      verified,
      fresh,
      replyKey,
      proofKeys,
      header,
      envelope,
      deadline,
      timeoutMs: o.timeoutMs ?? 120_000,
    };
  }

  /**
   * Steps 1–3: prepare and submit. A submit refused because of a kept quote (expired, fees
   * changed, none of its candidates live any more, ...) held nothing: the quote is dropped and
   * the job prepared once more with a fresh one and submitted again. `beforeSubmit` runs for
   * each prepared job before its submit (askStream opens the relay there).
   */
  private async prepareAndSubmit(
    o: JobBasics,
    request: SealableRequest,
    limits: { maxTokens: number; maxPromptTokens: number },
    wait: number,
    watch: CancelWatch,
    beforeSubmit?: (p: Prepared) => Promise<void>,
  ) {
    // Each kind of refusal is redone once: the kept quote (a fresh one), and the tab or its slot
    // (issue 12: another slot, or a hold of its own). Both may come one after the other (the
    // coordinator's key rotated: every kept quote and tab is refused).
    let use: "cache" | "refresh" = "cache";
    const redone = { quote: false, tab: false };
    const deadline = this.now() + (o.timeoutMs ?? 120_000);
    for (;;) {
      const p: Prepared = await this.preparedBy(deadline, o, request, limits, use).catch((e: unknown) => this.devHinted(e, o));
      p.watch = watch;
      try {
        await beforeSubmit?.(p);
        return { p, submitted: await this.submitRenewing(p, wait, o) };
      } catch (e) {
        // given up at the deadline: the job, if its submit went out, is cancelled; refused (nothing
        // held): nothing to cancel (an abort already sent its cancel)
        if (gaveUpOn(e)) watch.gaveUp();
        else watch.disarm();
        this.adoptRenewal(p, undefined); // none came: the next due submit asks again
        this.release(p); // not submitted (or refused before anything was held)
        const quoteProblem = p.cacheKey !== undefined && quoteRefused(e) && !redone.quote;
        const tabProblem = p.tab !== undefined && e instanceof ApiError && tabRefused(e.code) && !redone.tab;
        if (!quoteProblem && !tabProblem) throw e;
        if (tabProblem) {
          redone.tab = true;
          this.tabKeeper?.drop(p.tab!.tab.tabId);
          o.onProgress?.(`the tab was refused (${(e as ApiError).code}); submitting the job again`);
        }
        if (quoteProblem) {
          redone.quote = true;
          this.dropQuote(p);
          o.onProgress?.(`the kept quote was refused (${(e as ApiError).code}); asking for a fresh one`);
        }
        use = quoteProblem ? "refresh" : "cache";
      }
    }
  }

  /**
   * A no_workers refusal on a local network (loopback) whose dev workers this client does not
   * accept, rethrown naming the option that does (client/dev-hint.ts), as the CLI and serve name
   * --allow-dev: the same error, its message longer.
   */
  private async devHinted(e: unknown, o: JobBasics): Promise<never> {
    const allowDev = this.opts.allowDev === true;
    const hint = devHintFor({ apiUrl: this.opts.apiUrl, allowDev, ...(o.tiers ? { tiers: o.tiers } : {}), retry: "ask again" }, SDK_OPT_IN);
    throw await withDevHint(e, o.model, this, hint);
  }

  /**
   * prepare, given up at the call's deadline (timeoutMs counts from the call's start, the prepare
   * included) with a VerificationError "timeout" as the job's wait is: its requests are closed.
   */
  private async preparedBy(
    deadline: number,
    o: JobBasics,
    request: SealableRequest,
    limits: { maxTokens: number; maxPromptTokens: number },
    use: "cache" | "refresh",
  ): Promise<Prepared> {
    throwIfAborted(o.signal);
    const late = () => new VerificationError("timeout", `no job was prepared within ${o.timeoutMs ?? 120_000} ms`);
    const left = deadline - this.now();
    if (left <= 0) throw late();
    // One controller for the caller's abort and the deadline, both let go of when the prepare ends
    // (a timer and a listener per call: a long-lived proxy makes many).
    const stop = new AbortController();
    const onAbort = () => stop.abort(o.signal!.reason);
    o.signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => stop.abort(late()), left);
    // Not every await of a prepare takes a signal (a tab's open, the registry's reading): the
    // prepare is raced against `stop` too, and one that ends after it was given up lets go of
    // its place under the kept quote and of the renewal it asked for (it was never submitted).
    const preparing = this.prepare({ ...o, signal: stop.signal }, request, limits, use, deadline);
    const givenUp = new Promise<never>((_, reject) => {
      stop.signal.addEventListener("abort", () => reject(abortError(stop.signal)), { once: true });
    });
    try {
      return await Promise.race([preparing, givenUp]);
    } catch (e) {
      if (stop.signal.aborted)
        void preparing.then(
          (p) => {
            this.adoptRenewal(p, undefined); // a renewal it asked for never went out
            this.release(p);
          },
          () => undefined,
        );
      if (stop.signal.aborted && !o.signal?.aborted) throw late();
      throw e;
    } finally {
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
    }
  }

  /** submit (the job journaled first), and the kept quote's renewal it carried (if it asked one) taken from its answer. */
  private async submitRenewing(p: Prepared, wait: number, o: JobBasics) {
    await this.opts.journal?.record({
      account: this.account,
      api: this.opts.apiUrl,
      jobId: p.jobId,
      model: p.model,
      createdAt: this.now(),
      maxCost: p.maxCost,
      ...(p.tab ? { tab: { tabId: p.tab.tab.tabId, slot: p.tab.slot } } : {}),
    });
    const submitted = await this.submit(p, wait, o);
    if ("settleKey" in submitted && submitted.settleKey !== undefined) p.settleKey = submitted.settleKey;
    this.adoptRenewal(p, submitted.next);
    return submitted;
  }

  /**
   * Step 3: submit; with `wait` the submit itself waits for the answer (one round trip fewer),
   * no longer than the job's deadline and its signal allow (withinDeadline).
   */
  private submit(p: Prepared, wait: number, o: JobBasics) {
    o.onProgress?.(`job ${p.jobId} sealed to ${p.verified.length} worker${p.verified.length === 1 ? "" : "s"}; waiting for the answer`);
    return this.submitting(
      p,
      o,
      (seconds) => {
        // from here the job may reach the coordinator: an abort cancels it
        p.watch?.submitting(p.jobId);
        return this.api.request(API.submitJob, {
          query: { wait: Math.min(wait, seconds) },
          body: {
            envelope: p.envelope,
            quote: p.quote,
            ...(p.relayChannel !== undefined ? { relay: { channel: p.relayChannel } } : {}),
            ...(p.renew ? { renew: p.renew } : {}),
            ...(p.tab ? { tab: p.tab } : {}),
          },
          headers: { "idempotency-key": `submit-${p.jobId}` },
          // an abort closes the submit's HTTP request too (the job, if it got there, is cancelled: cancelWatch)
          signal: o.signal,
        });
      },
      () => this.api.request(API.getJob, { params: { id: p.jobId }, query: { wait: 0 }, signal: o.signal }),
      () => this.api.request(API.voidJob, { params: { id: p.jobId }, signal: o.signal }),
    );
  }

  /**
   * One request of a job's wait (`send` is told how many seconds it may wait on the coordinator),
   * given up at the job's deadline (a VerificationError "timeout", as askStream's) or when `signal`
   * aborts (its reason; `send` passes the signal on, so the HTTP request itself is closed too).
   * The request's answer is then dropped, and the job cancelled (cancelWatch: an abort, or the
   * call giving up at its deadline).
   */
  private async withinDeadline<T>(p: Prepared, signal: AbortSignal | undefined, send: (seconds: number) => Promise<T>): Promise<T> {
    throwIfAborted(signal);
    const left = p.deadline - this.now();
    if (left <= 0) throw deadlinePassed(p);
    const r = await orQuiet(send(Math.min(20, Math.ceil(left / 1000))), left, signal);
    if (r === "quiet") throw deadlinePassed(p);
    return r as T;
  }

  /**
   * withinDeadline for a read of a submitted job, sent again while the coordinator cannot be
   * reached (connectionTrouble), fails (its 5xx) or is busy (429): a caller retrying the call
   * instead would submit, and pay for, a second job while the first may still complete. After
   * reconnectMs without an answer: JobOutcomeUnknownError.
   */
  private async reaching<T>(p: Prepared, o: Pick<JobBasics, "signal" | "onProgress">, send: (seconds: number) => Promise<T>): Promise<T> {
    let lostAt: number | undefined;
    for (let i = 0; ; i++) {
      try {
        return await this.withinDeadline(p, o.signal, send);
      } catch (e) {
        if (!(e instanceof ApiError && (unanswered(e) || e.status === 429))) throw e;
        lostAt ??= this.now();
        await this.pauseBeforeAgain(p, o, "read", lostAt, i, e);
      }
    }
  }

  /**
   * The submit (withinDeadline), for as long as the coordinator has not said whether it took
   * the job. A submit that never left this machine (connection refused, DNS, TLS), or that the
   * coordinator refused while no other send of it may be in its hands (a 4xx, or its 503:
   * nothing was done), is thrown: no job exists, and a retry (a new job) is safe.
   *
   * Once a send MAY have reached the coordinator unanswered (the connection lost after it went
   * out, a gateway's 502/503/504, or the coordinator's own 5xx: it may have failed after the
   * job was taken), the job may exist, and may still be taken by that send, which the
   * coordinator may still be working on. From then on no refusal is an answer about this job
   * but one naming its id as another request's (job_exists, idempotency_key_reused: then ours
   * can never be taken): a refusal of its quote (expired since, or the key rotated), of its tab,
   * its candidates or funds (held by the first send) says only that THIS send took nothing. So
   * the SDK never prepares the request again under a new job id (a second job, paid twice):
   * it sends the submit again as it was, under the same Idempotency-Key (the coordinator
   * answers with the job it took, never a second one), while the coordinator cannot be reached
   * or fails (5xx). After any other refusal it voids the job id (POST /v1/jobs/{id}/void: only
   * if no job is there, and then no submit of it can commit any more): voided, the first send
   * was never taken and never will be, so the refusal is thrown and the request is prepared
   * again under a new job id (prepareAndSubmit), paid once; the job there (ours), or the void
   * refused otherwise (a coordinator without it), the job is read instead (GET: a read takes
   * nothing). Whichever finds the job answers the submit. After reconnectMs (counted from the
   * first such send) without it: JobOutcomeUnknownError (the call's cancel is sent).
   */
  private async submitting<T>(
    p: Prepared,
    o: Pick<JobBasics, "signal" | "onProgress">,
    send: (seconds: number) => Promise<T>,
    read: () => Promise<NoInfer<T>>,
    voidIt: () => Promise<VoidJobResponse>,
  ): Promise<T> {
    let lostAt: number | undefined;
    /** send the submit (again); void its id (a resend was refused); read the job (it may be taken) */
    let mode: "send" | "void" | "read" = "send";
    /** the resend's refusal: thrown once the void says the first send was never taken */
    let refusal: ApiError | undefined;
    for (let i = 0; ; i++) {
      let v: VoidJobResponse;
      try {
        if (mode !== "void") return await this.withinDeadline(p, o.signal, mode === "read" ? read : send);
        v = await this.withinDeadline(p, o.signal, voidIt);
      } catch (e) {
        if (!(e instanceof ApiError)) throw e; // an abort, the deadline: the call's watch cancels the job
        if (lostAt === undefined) {
          if (!mayHaveTaken(e)) throw e;
          lostAt = this.now();
        } else if (mode === "send" && !unanswered(e)) {
          if (notOurs(e)) throw e;
          refusal = e;
          mode = "void";
          o.onProgress?.(`job ${p.jobId}'s submit, sent again, was refused (${e.code}), but the first may still be taken: voiding its id`);
          continue; // at once: a void is an answer, a read only a guess
        } else if (mode === "void" && !unanswered(e)) {
          if (e.code === "job_exists") throw refusal!; // the id is another account's: ours was never taken
          mode = "read"; // not voided (a coordinator without the route): the job may be taken; read it
          o.onProgress?.(`job ${p.jobId}'s id could not be voided (${e.code}): reading the job`);
        }
        await this.pauseBeforeAgain(p, o, "submit", lostAt, i, e);
        continue;
      }
      if (v.voided) {
        // no submit of this id commits any more: nothing was taken, and the refusal is the answer
        o.onProgress?.(`job ${p.jobId}'s id is voided: its first submit was never taken`);
        throw refusal!;
      }
      mode = "read"; // the job is there, ours: read it
    }
  }

  /**
   * The wait before a job's request is sent again (RECONNECT_PAUSE_MS, doubled each time, up to
   * 2 s), or JobOutcomeUnknownError (the deadline's timeout first) once reconnectMs has passed
   * since `lostAt`.
   */
  private async pauseBeforeAgain(
    p: Prepared,
    o: Pick<JobBasics, "signal" | "onProgress">,
    what: "submit" | "read",
    lostAt: number,
    i: number,
    e: unknown,
  ): Promise<void> {
    const window = this.opts.reconnectMs ?? RECONNECT_MS;
    const left = Math.min(lostAt + window - this.now(), p.deadline - this.now());
    if (left <= 0) {
      if (p.deadline <= this.now()) throw deadlinePassed(p);
      throw new JobOutcomeUnknownError(p.jobId, what === "read", window, e);
    }
    if (i === 0)
      o.onProgress?.(
        what === "submit"
          ? `job ${p.jobId}'s submit went unanswered (${e instanceof ApiError ? e.code : String(e)}); sending it again (the same job, never a second one)`
          : `job ${p.jobId} could not be read (${e instanceof ApiError ? e.code : String(e)}); reading it again`,
      );
    await pause(Math.min(RECONNECT_PAUSE_MS * 2 ** i, 2_000, left), o.signal);
  }

  /**
   * Step 7: long-poll the job until it finished; refunded jobs are errors, and so is a job not
   * finished by its deadline or when `signal` aborts (withinDeadline: the SDK stops waiting).
   */
  private async finish(p: Prepared, first: JobView | undefined, signal?: AbortSignal): Promise<JobView> {
    const finished = (j: JobView) => j.status === "completed" || j.status === "refunded";
    const read = () =>
      this.reaching(p, { signal }, (seconds) =>
        this.api.request(API.getJob, { params: { id: p.jobId }, query: { wait: seconds }, signal }),
      );
    let job = first;
    try {
      job ??= await read();
      while (!finished(job)) job = await read();
    } catch (e) {
      this.release(p);
      if (pastDeadline(e)) this.dropQuote(p);
      throw e;
    }
    return this.finished(p, job);
  }

  private finished(p: Prepared, job: JobView): JobView {
    if (job.status === "completed" || job.status === "refunded") p.watch?.disarm(); // ended: an abort now has nothing to stop
    this.release(p);
    // A job that had to fail over (or was not answered) says the kept quote's candidates are not all well: a fresh one next time.
    if (job.status !== "completed" || job.attempt > 0) this.dropQuote(p);
    if (job.status === "refunded") throw refundedError(job, p.header, p.verified, p.replyKey);
    if (job.status !== "completed") throw new JobTimeoutError(job.jobId, `job ${job.jobId} still ${job.status} after ${p.timeoutMs} ms`);
    return job;
  }

  /**
   * Keeps the receipt a job's answer was just checked with in the journal, the one its anchored
   * receipt must be (`cocoon receipts verify`). A line that cannot be written costs the caller
   * nothing of its answer, which is checked and billed: verify then compares with the
   * coordinator's receipt, and says so.
   */
  private async keepReceipt(job: JobView): Promise<void> {
    await this.opts.journal
      ?.keepReceipt({ account: this.account, api: this.opts.apiUrl, jobId: job.jobId, receipt: job.receipt! })
      .catch(() => undefined);
  }

  /** Checks the receipt, the reply and the bill ourselves before believing any number in them. */
  private check(p: Prepared, job: JobView): { answer: CheckedAnswer; worker: VerifiedCandidate } {
    const answer = checkCompletedJob({
      job,
      jobId: p.jobId,
      envelope: p.envelope,
      header: p.header,
      replyKey: p.replyKey,
      encryptedTo: p.verified,
      proofKeys: p.proofKeys,
      maxCost: p.maxCost,
      ...(this.opts.priceWeights
        ? { weights: this.opts.priceWeights }
        : this.opts.policyRegistry
          ? // issue 15: the quote's weights, which were the registry's when we took it (checkQuoteFees); the job is billed by them
            { weights: { promptBps: p.quote.promptBps, completionBps: p.quote.completionBps } }
          : {}),
    });
    return { answer, worker: p.verified.find((c) => c.workerId === job.workerId)! };
  }

  /**
   * A job as its final relayed chunk gives it, checked as a stored one; undefined when only its
   * bill fails (absent, or not what the receipt costs at the quote): the coordinator's own record
   * then decides. Any other failure (receipt, reply, measurement, usage) is the worker's and throws.
   */
  private checkRelayed(p: Prepared, view: JobView): ReturnType<CocoonClient["check"]> | undefined {
    try {
      return this.check(p, view);
    } catch (e) {
      if (e instanceof VerificationError && (e.code === "bad_job" || e.code === "cost_mismatch" || e.code === "overcharged"))
        return undefined;
      throw e;
    }
  }

  private result(p: Prepared, job: JobView, answer: CheckedAnswer, worker: VerifiedCandidate): AskResult & { receipt: Receipt } {
    const toolCalls = answer.choices[0]?.toolCalls;
    const logprobs = answer.choices[0]?.logprobs;
    const reasoning = answer.choices[0]?.reasoning;
    const fresh = p.fresh.get(worker.workerId);
    return {
      jobId: job.jobId,
      text: answer.text,
      ...(toolCalls ? { toolCalls } : {}),
      ...(logprobs ? { logprobs } : {}),
      ...(reasoning ? { reasoning } : {}),
      ...(answer.choices.length > 1
        ? {
            choices: answer.choices.map((c) => ({
              index: c.index,
              text: c.text,
              finishReason: finishReasonOf(c),
              ...(c.toolCalls ? { toolCalls: c.toolCalls } : {}),
              ...(c.logprobs ? { logprobs: c.logprobs } : {}),
              ...(c.reasoning ? { reasoning: c.reasoning } : {}),
            })),
          }
        : {}),
      usage: answer.usage,
      finishReason: answer.choices[0] ? finishReasonOf(answer.choices[0]) : "stop",
      engine: answer.engine,
      model: p.model,
      workerId: worker.workerId,
      tier: worker.tier,
      cost: job.cost ?? "0",
      maxCost: p.maxCost,
      attempt: job.attempt,
      receipt: job.receipt!,
      ...(fresh ? { freshEvidence: { challengeId: fresh.challengeId, issuedAt: fresh.attestation.issuedAt } } : {}),
    };
  }

  /**
   * The limits a chat or completion is quoted for: n choices of maxTokens each, and n times the
   * prompt's bound; refused here (AskInputError) past the network's caps on a job (PrepareRequest).
   */
  private limitsOf(o: AskOptions) {
    const n = o.n ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > MAX_CHOICES) throw new AskInputError("n", `n must be an integer from 1 to ${MAX_CHOICES}`);
    const perChoice = o.maxTokens ?? 256;
    if (!Number.isInteger(perChoice) || perChoice < 1)
      throw new AskInputError("maxTokens", `maxTokens must be a positive integer, got ${perChoice}`);
    const maxTokens = perChoice * n;
    if (maxTokens > MAX_JOB_TOKENS)
      throw new AskInputError(
        "maxTokens",
        n > 1
          ? `n × maxTokens must be at most ${MAX_JOB_TOKENS} (the network's cap on a job's completion tokens): ${n} × ${perChoice} = ${maxTokens}`
          : `maxTokens must be at most ${MAX_JOB_TOKENS} (the network's cap on a job's completion tokens), got ${perChoice}`,
      );
    const bound = o.messages ? promptTokenBound(o.messages, o.tools) : textTokenBound(o.prompt ?? "");
    if (bound * n > MAX_JOB_PROMPT_TOKENS) {
      const param = o.messages ? "messages" : "prompt";
      const whose = o.messages ? "the messages'" : "the prompt's";
      throw new AskInputError(
        param,
        n > 1
          ? `n × ${whose} token bound must be at most ${MAX_JOB_PROMPT_TOKENS} (the network's cap on a job's prompt tokens): ${n} × ${bound} = ${bound * n}; shorten it or lower n`
          : `${whose} token bound must be at most ${MAX_JOB_PROMPT_TOKENS} (the network's cap on a job's prompt tokens), got ${bound}; shorten it`,
        "prompt_too_large",
      );
    }
    return { maxTokens, maxPromptTokens: bound * n };
  }

  /**
   * Chat or text completion, answered whole: the sealed answer, verified, with its receipt and bill.
   * On a network whose relay is a pub/sub one (Amazon SQS, AWS IoT Core) the answer comes over the relay, as
   * askStream's, collected (issue 12): the submit returns at once and no function of the
   * coordinator is held while the GPU works. Over the HTTP relay (the local default) the submit
   * waits for the answer (one round trip fewer than reading the relay), never past `timeoutMs` or
   * an abort of `signal`: then ask() rejects, and the job, if its submit went out, is cancelled.
   */
  async ask(o: AskOptions): Promise<AskResult> {
    const kind = await this.relayTransport();
    if (kind === "iot-mqtt" || kind === "sqs") {
      // Over the relay, without holding a function; the worker publishes the answer whole (relayWhole).
      let done: Extract<StreamEvent, { type: "done" }> | undefined;
      for await (const ev of this.streamed(o, true)) if (ev.type === "done") done = ev;
      if (!done) throw new VerificationError("bad_job", "the stream ended without its answer");
      const { type: _type, relay: _relay, ...result } = done;
      return result;
    }
    const request = sealableRequestOf(o, false);
    const watch = this.cancelWatch(o.signal);
    try {
      const { p, submitted } = await this.prepareAndSubmit(o, request, this.limitsOf(o), 20, watch);
      const job = await this.finish(p, "attempt" in submitted ? submitted : undefined, o.signal);
      const { answer, worker } = this.check(p, job);
      await this.keepReceipt(job);
      return this.result(p, job, answer, worker);
    } catch (e) {
      if (gaveUpOn(e)) watch.gaveUp();
      throw e;
    } finally {
      watch.end();
    }
  }

  /**
   * ask(), streamed: yields verified deltas as the worker generates them, then "done" with
   * the receipt, usage and cost. A tampered, reordered, missing, duplicated, truncated or
   * foreign chunk ends the iteration with a StreamIntegrityError (its text is never shown);
   * "restart" says a failed-over job starts over with another worker.
   */
  askStream(o: AskOptions): AsyncGenerator<StreamEvent, void, undefined> {
    return this.streamed(o, false);
  }

  /** askStream; `whole`: the worker publishes the answer in as few relay messages as it can (ask() over a pub/sub relay). */
  private async *streamed(o: AskOptions, whole: boolean): AsyncGenerator<StreamEvent, void, undefined> {
    // An abort while the job runs cancels it; a consumer that only stops reading (return()) does
    // not: it may still want the job's bill or read it with client.job(id).
    const watch = this.cancelWatch(o.signal);
    try {
      yield* this.streamedJob(o, whole, watch);
    } catch (e) {
      if (gaveUpOn(e)) watch.gaveUp();
      throw e;
    } finally {
      watch.end();
    }
  }

  private async *streamedJob(o: AskOptions, whole: boolean, watch: CancelWatch): AsyncGenerator<StreamEvent, void, undefined> {
    const request = sealableRequestOf(o, true, whole);
    // Asked before submit: a pub/sub relay keeps nothing for subscribers that come late.
    let relay: { session?: RelaySession; subscription?: RelaySubscription } = {};
    const { p } = await this.prepareAndSubmit(o, request, this.limitsOf(o), 0, watch, async (prepared) => {
      relay.subscription?.close(); // a job prepared again has another id
      relay = await this.openRelay(prepared, o.signal);
    });
    const { session, subscription } = relay;
    const verifier = streamVerifierOf(p);
    let job: JobView | undefined;
    /** the job's answer as checked from its final relayed chunk (issue 12), when that chunk says the coordinator settled it */
    let checked: ReturnType<CocoonClient["check"]> | undefined;
    if (session?.transport === "http") {
      let from = 0;
      while (!job) {
        throwIfAborted(o.signal);
        const r = await this.reaching(p, o, (seconds) =>
          this.api.request(API.readChunks, { params: { id: p.jobId }, query: { from, wait: seconds }, signal: o.signal }),
        );
        let pieces: StreamPiece[];
        try {
          pieces = verifier.accept(r.chunks);
        } catch (e) {
          throw asIntegrityError(e);
        }
        yield* events(pieces, p.jobId);
        from = r.next;
        if (r.job && r.job.status !== "submitted" && r.job.status !== "assigned") job = r.job;
      }
    } else if (subscription) {
      // A pub/sub relay (SQS, AWS IoT Core): chunks as the relay delivers them. Nothing of the
      // coordinator is held meanwhile (issue 12). The worker publishes its final chunk once the
      // coordinator took its result, with the receipt, the bill and the coordinator's settlement
      // token it was answered: checked here, they end the job without a read (two requests a
      // job). The job is read when that bill is missing or is not the receipt's, when the token is
      // missing or not the coordinator's for this attempt, reply and bill (session 40: else the
      // worker's word), when the relay ends early, or after RELAY_QUIET_MS of silence (a job
      // refunded or failed over before its new worker's first chunk).
      const it = subscription.chunks[Symbol.asyncIterator]();
      // the chunk asked for: a quiet spell does not drop it, the next turn waits on it again
      let asked: Promise<IteratorResult<RelayChunk>> | undefined;
      try {
        for (;;) {
          if (this.now() > p.deadline) throw deadlinePassed(p);
          asked ??= it.next();
          const next = await orQuiet(
            asked,
            (this.relayKind === "sqs" ? this.opts.sqs : this.opts.mqtt)?.quietMs ?? RELAY_QUIET_MS,
            o.signal,
          );
          if (next !== "quiet") asked = undefined;
          if (next === "quiet") {
            const j = await this.reaching(p, o, () =>
              this.api.request(API.getJob, { params: { id: p.jobId }, query: { wait: 0 }, signal: o.signal }),
            );
            if (j.status === "completed" || j.status === "refunded") {
              job = j;
              break;
            }
            continue;
          }
          if (next.done) break; // the connection ended: the rest comes from the stored reply
          let pieces: StreamPiece[];
          try {
            pieces = verifier.accept([next.value]);
          } catch (e) {
            throw asIntegrityError(e);
          }
          yield* events(pieces, p.jobId);
          if (next.value.final) {
            const view = relayedJob(p, verifier, next.value, this.now());
            checked = view && this.checkRelayed(p, view);
            if (checked) job = view;
            break;
          }
        }
      } catch (e) {
        throw asIntegrityError(e);
      } finally {
        subscription.close();
      }
      job ??= await this.finish(p, undefined, o.signal);
    } else {
      // No relay this SDK can read (AWS IoT Core without `relaySubscriber`): the answer comes whole, verified the same way.
      job = await this.finish(p, undefined, o.signal);
    }
    job = this.finished(p, job);
    const { answer, worker } = checked ?? this.check(p, job);
    let settled: ReturnType<StreamVerifier["settle"]>;
    try {
      settled = verifier.settle(job.reply!, job.attempt, job.workerId!);
    } catch (e) {
      throw asIntegrityError(e);
    }
    yield* events(settled.pieces, p.jobId);
    await this.keepReceipt(job);
    yield { type: "done", ...this.result(p, job, answer, worker), relay: { chunks: verifier.relayed, recovered: verifier.recovered } };
  }

  /**
   * How this coordinator relays streams, learnt once per client (a coordinator's transport does
   * not change): "http", "iot-mqtt", "sqs", or "none" (no relay session route answered).
   */
  private async relayTransport(): Promise<RelayKind> {
    if (this.relayKind === undefined) {
      // Asked once for jobs that start together. The account scope reads no job in particular: any id of ours names it in the path.
      this.learning ??= (async () => {
        this.accountSession = this.requestAccountSession(newJobId(this.now()));
        await this.accountSession;
      })().finally(() => (this.learning = undefined));
      await this.learning;
    }
    return this.relayKind ?? "none";
  }
  private learning: Promise<void> | undefined;
  private relayKind: RelayKind | undefined;
  /** the last account-scoped session asked for, used by the next connection the built-in subscriber makes */
  private accountSession: Promise<RelaySession | undefined> | undefined;
  /** issue 12: the built-in subscriber, made when the coordinator first vends an "iot-mqtt" session */
  private mqtt: MqttRelay | undefined;
  /**
   * issue 12: this client's relay channel (its own SQS queue: two clients of one account never
   * read each other's streams), named in every account session it asks for; the built-in SQS
   * subscriber reads it, made when the coordinator first vends an "sqs" session. A new one after
   * close() (SQS will not make a queue again under a name deleted less than a minute ago).
   */
  private channel = newRelayChannel();
  private sqs: SqsRelay | undefined;

  private async requestAccountSession(jobId: string): Promise<RelaySession | undefined> {
    try {
      // The channel is for a relay with channels (SQS); the others ignore it.
      const s = await this.api.request(API.relaySession, { params: { id: jobId }, body: { scope: "account", channel: this.channel } });
      this.relayKind = s.transport;
      return sessionOnLocalClock(s, (t) => this.api.localTime(t));
    } catch (e) {
      // A coordinator with no relay (404) has none for good; any other failure is asked again next time.
      if (e instanceof ApiError && e.status === 404) this.relayKind = "none";
      return undefined; // no relay: the answer still comes, whole
    }
  }

  /**
   * How askStream reads job `p`'s stream, opened before its submit (a pub/sub relay keeps nothing
   * for subscribers that come late): the HTTP relay; a custom `relaySubscriber` on a job-scoped
   * session (IoT Core); the built-in MQTT subscriber's one connection per account; or the built-in
   * SQS subscriber's one loop on this client's channel, the job then submitted with that channel
   * (p.relayChannel). The built-in ones ask for an account session only when the credentials they
   * hold do not outlive this job's deadline.
   */
  private async openRelay(p: Prepared, signal?: AbortSignal): Promise<{ session?: RelaySession; subscription?: RelaySubscription }> {
    if (this.relayKind === "http") return { session: { transport: "http" } };
    // (a custom subscriber takes IoT Core's job-scoped sessions; SQS has none, its own subscriber reads it)
    if (this.opts.relaySubscriber && this.relayKind !== "sqs") {
      const session = await this.api
        .request(API.relaySession, { params: { id: p.jobId }, body: { scope: "job" }, signal })
        .then((s) => sessionOnLocalClock(s, (t) => this.api.localTime(t)))
        .catch(() => undefined); // an abort too: the submit after it is not sent
      if (session) this.relayKind = session.transport;
      if (session?.transport !== "iot-mqtt") return { ...(session ? { session } : {}) };
      return { session, subscription: await this.opts.relaySubscriber(session).catch(() => undefined) };
    }
    const kind = await this.relayTransport();
    if (kind === "http") return { session: { transport: "http" } };
    if (kind === "sqs") {
      const channel = this.channel;
      this.sqs ??= new SqsRelay({ ...this.clocks(), ...this.opts.sqs, channel });
      const subscription = await this.sqs.open(p.jobId, p.deadline, () => this.takeAccountSession(p.jobId, "sqs")).catch(() => undefined);
      // Without a subscription the job goes without a channel: its worker is vended no session and answers whole (nothing sent to a queue nobody reads).
      if (subscription) p.relayChannel = channel;
      return subscription ? { subscription } : {};
    }
    if (kind !== "iot-mqtt") return {};
    this.mqtt ??= new MqttRelay({ ...this.clocks(), ...this.opts.mqtt });
    const subscription = await this.mqtt
      .open(p.jobId, p.deadline, () => this.takeAccountSession(p.jobId, "iot-mqtt"))
      .catch(() => undefined);
    return subscription ? { subscription } : {};
  }

  /** The relay subscribers' clocks: ours for deadlines and expiries, AWS's (the coordinator's, as learnt) to date signatures. */
  private clocks() {
    return { now: this.now, awsTime: () => this.api.serverTime() };
  }

  /** An account session for a new connection: the one relayTransport learnt with, if not used yet, else a new one. */
  private async takeAccountSession(jobId: string, transport: "iot-mqtt"): Promise<IotSession>;
  private async takeAccountSession(jobId: string, transport: "sqs"): Promise<SqsSession>;
  private async takeAccountSession(jobId: string, transport: "iot-mqtt" | "sqs"): Promise<IotSession | SqsSession> {
    const pending = this.accountSession;
    this.accountSession = undefined;
    const s = (await pending) ?? (await this.requestAccountSession(jobId));
    if (s?.transport !== transport) throw new VerificationError("relay_unavailable", "the coordinator vended no relay session");
    return s;
  }

  /**
   * Ends the built-in relay subscribers (a process that does not call it still exits: they hold
   * nothing while idle) and, over SQS, deletes this client's channel queue, best effort, in the
   * background; a later job reads on a new channel.
   */
  close(): void {
    this.mqtt?.close();
    this.mqtt = undefined;
    const deleting: Array<Promise<unknown>> = [];
    if (this.sqs) deleting.push(this.sqs.close());
    this.sqs = undefined;
    if (this.relayKind === "sqs") {
      // An account session never used (learnt, no job read since) made the queue too.
      const unused = this.accountSession;
      this.accountSession = undefined;
      if (unused)
        deleting.push(unused.then((s) => (s?.transport === "sqs" ? (this.opts.sqs?.reader ?? sqsReader)(s).deleteQueue() : undefined)));
      this.channel = newRelayChannel();
    }
    void Promise.all(deleting.map((d) => d.catch(() => undefined)));
  }

  /**
   * Embeddings, sealed like chat: one float vector per input, in input order. Billed per input
   * token (usage.promptTokens; completionTokens is 0).
   */
  async embed(o: EmbedOptions): Promise<EmbedResult> {
    const input: string[] | number[][] =
      typeof o.input === "string"
        ? [o.input]
        : o.input.length > 0 && typeof o.input[0] === "number"
          ? [o.input as number[]]
          : (o.input as string[] | number[][]);
    const plaintext: RequestPlaintext = { kind: "embedding", input };
    const r = RequestPlaintext.safeParse(plaintext);
    if (!r.success)
      throw new AskInputError("input", `input: ${r.error.issues[0]!.message}; give a string, strings, token ids or arrays of token ids`);
    // before a quote, as a chat's (sealableRequestOf), not the coordinator's 413 after one; the
    // bytes measured are those sealed
    const json = new TextEncoder().encode(JSON.stringify(plaintext));
    const size = sealedSizeBound(json.length);
    if (size > MAX_ENVELOPE_BYTES) throw promptTooLarge("input", size);
    const watch = this.cancelWatch(o.signal);
    let job: JobView, p: Prepared, answer: CheckedAnswer, worker: VerifiedCandidate;
    try {
      let submitted;
      ({ p, submitted } = await this.prepareAndSubmit(
        o,
        { plaintext, json },
        { maxTokens: 1, maxPromptTokens: inputTokenBound(input) },
        20,
        watch,
      ));
      job = await this.finish(p, "attempt" in submitted ? submitted : undefined, o.signal);
      ({ answer, worker } = this.check(p, job));
    } catch (e) {
      if (gaveUpOn(e)) watch.gaveUp();
      throw e;
    } finally {
      watch.end();
    }
    if (!answer.embeddings || answer.embeddings.length !== input.length) {
      throw new VerificationError(
        "bad_embeddings",
        `the worker returned ${answer.embeddings?.length ?? 0} vectors for ${input.length} inputs`,
      );
    }
    await this.keepReceipt(job);
    return {
      jobId: job.jobId,
      model: p.model,
      vectors: answer.embeddings,
      usage: answer.usage,
      engine: answer.engine,
      workerId: worker.workerId,
      tier: worker.tier,
      cost: job.cost ?? "0",
      maxCost: p.maxCost,
      attempt: job.attempt,
      receipt: job.receipt!,
    };
  }
}

/** What prepare, askStream and embed share of their options. */
type JobBasics = Pick<
  AskOptions,
  | "model"
  | "tiers"
  | "maxPricePerToken"
  | "candidates"
  | "timeoutMs"
  | "signal"
  | "freshAttestation"
  | "freshAttestationTimeoutMs"
  | "onProgress"
>;

/** A call's watch on its signal (CocoonClient.cancelWatch). */
interface CancelWatch {
  /** the job's submit is being sent: from now an abort cancels it */
  submitting(jobId: string): void;
  /** the submit was refused or the job ended: an abort cancels nothing */
  disarm(): void;
  /** the call gave up at its deadline: the job, if its submit went out, is cancelled as on an abort */
  gaveUp(): void;
  /** the call is over (answered, failed, or its stream closed) */
  end(): void;
}

interface Prepared {
  jobId: string;
  /** the call's watch: an abort of its signal once the submit was sent cancels the job */
  watch?: CancelWatch;
  /** issue 12: the relay channel the job's stream is read on (SQS), sent with its submit */
  relayChannel?: string;
  quote: Quote;
  /** the quote cache's key when the quote is a kept one (dropped when refused or a job fails over) */
  cacheKey?: string;
  /** the kept quote this job counts against (its inFlight) until it finished */
  kept?: CachedQuote;
  /** the kept quote's renewal its submit asks for (CocoonClient.renewalDue) */
  renew?: QuoteAsk;
  /** issue 12: the tab slot it draws on (its job id is the slot's), sent with its submit */
  tab?: TabSlot;
  model: string;
  maxCost: string;
  verified: VerifiedCandidate[];
  fresh: Map<string, FreshAttestation>;
  replyKey: KemKeyPair;
  /** each candidate's reply-proof key (sealRequestBound): a reply must prove it unwrapped our request */
  proofKeys: ReadonlyMap<string, Uint8Array>;
  /** session 40: the job's settle key from its submit's answer (SubmitResponse.settleKey): a relayed bill counts only with a token under it */
  settleKey?: string;
  header: EnvelopeHeader;
  envelope: RequestEnvelope;
  deadline: number;
  timeoutMs: number;
}

/** A prepare as the SDK asks it: always naming the tiers it accepts. */
type QuoteAsk = PrepareAsk & { tiers: AttestationTier[] };

/** What a kept quote is kept under (CocoonClient.quotes): what it was asked for, the limits aside. */
const quoteKeyOf = (o: Pick<JobBasics, "model" | "candidates" | "maxPricePerToken">, tiers: AttestationTier[]) =>
  JSON.stringify([o.model, [...tiers].sort(), o.candidates ?? null, o.maxPricePerToken?.toString() ?? null]);

/** A prepare's ask naming the documents of `held` as ours (PrepareRequest.held): none named when there are none. */
function withHeld(ask: QuoteAsk, held: Candidate[]): QuoteAsk {
  const named = held
    .slice(0, MAX_HELD_ATTESTATIONS)
    .map((c) => ({ workerId: c.workerId, attestationDigest: attestationDigest(c.attestation) }));
  return named.length > 0 ? { ...ask, held: named } : ask;
}

/**
 * A prepare's candidates, each with its document: one named by digest (HeldCandidate: we said we
 * hold it) takes the document of that digest and worker from `held`, documents we verified
 * before (verifyCandidates checks it again: its keys must be the candidate's, its verdict is
 * cached). One whose digest is not among them is left out: nothing is sealed to a worker whose
 * evidence we have not seen.
 */
function withHeldDocuments(cs: PrepareResponse["candidates"], held: Candidate[]): Candidate[] {
  const docs = new Map(held.map((c) => [`${c.workerId} ${attestationDigest(c.attestation)}`, c.attestation]));
  return cs.flatMap((c) => {
    if ("attestation" in c) return [c];
    const attestation = docs.get(`${c.workerId} ${c.attestationDigest}`);
    if (!attestation) return [];
    return [
      {
        workerId: c.workerId,
        hpkePublicKey: c.hpkePublicKey,
        attestation,
        pricePerToken: c.pricePerToken,
        tier: c.tier,
        ...(c.capacity !== undefined ? { capacity: c.capacity } : {}),
        ...(c.capabilities !== undefined ? { capabilities: c.capabilities } : {}),
      },
    ];
  });
}

/** What a prepare is asked for these options (and what a renewal of its quote asks again). */
const prepareAsk = (o: JobBasics, tiers: AttestationTier[], limits: { maxTokens: number; maxPromptTokens: number }): QuoteAsk => ({
  model: o.model,
  maxTokens: limits.maxTokens,
  maxPromptTokens: limits.maxPromptTokens,
  tiers,
  ...(o.candidates ? { candidates: o.candidates } : {}),
  ...(o.maxPricePerToken !== undefined ? { maxPricePerToken: o.maxPricePerToken } : {}),
});

/**
 * A submit refused for its quote, before anything was held (core/jobs/submit.ts): expired or
 * the fee weights changed (quote_expired), not verifiable (bad_quote, not_your_quote), none of
 * its candidates live now (no_live_candidate), or the envelope outside what it quoted.
 */
function quoteRefused(e: unknown): boolean {
  if (!(e instanceof ApiError)) return false;
  if (["quote_expired", "bad_quote", "not_your_quote", "no_live_candidate"].includes(e.code)) return true;
  const d = e.details as { fields?: unknown; candidates?: unknown } | undefined;
  return e.code === "invalid_request" && d !== undefined && (d.fields !== undefined || d.candidates !== undefined);
}

/**
 * A choice's finish reason as OpenAI answers it: "length" when the budget cut it, also in the
 * middle of a tool call (its arguments cut: an app must not run it), else "tool_calls" for calls.
 * "cancelled" (the requester cancelled the job and the worker stopped there) wins over calls for
 * the same reason as "length": the choice was cut wherever it was. The SDK's results and
 * `cocoon serve` (for any ask it is given, mapping "cancelled" to OpenAI's values) both start from it.
 */
export const finishReasonOf = (c: {
  finishReason: "stop" | "length" | "tool_calls" | "cancelled";
  toolCalls?: unknown[];
}): "stop" | "length" | "tool_calls" | "cancelled" =>
  c.finishReason === "length" || c.finishReason === "cancelled" ? c.finishReason : c.toolCalls?.length ? "tool_calls" : c.finishReason;

/** How the coordinator relays streams (RelaySession's transports), or "none" (no relay session route answered). */
type RelayKind = RelaySession["transport"] | "none";

/** A job whose relay was silent this long is read from the coordinator (refunded? failed over?): MqttRelayOptions.quietMs, SqsRelayOptions.quietMs. */
const RELAY_QUIET_MS = 10_000;

/**
 * The job as a pub/sub relay delivered it whole: one attempt's stream from its opener to the final
 * chunk, which carries the worker's receipt and the coordinator's bill, and goes out only once the
 * coordinator took the result (agent/execute.ts). Checked as a stored job (checkCompletedJob),
 * it ends the job without a read: two requests a job (issue 12). Undefined without a receipt, or
 * without the coordinator's settlement token for this job, attempt, reply and bill (session 40):
 * the receipt and the bill alone are the worker's word, and a worker the job moved away from, or
 * one that never posted its result, could end the call with them while the ledger refunds the job
 * or charges another worker's answer. The caller then reads the job.
 */
function relayedJob(p: Prepared, verifier: StreamVerifier, final: RelayChunk, now: number): JobView | undefined {
  const whole = verifier.relayedReply();
  if (!final.receipt || !whole || final.billed === undefined) return undefined;
  const { reply, attempt, workerId } = whole;
  // the receipt's replyHash: checkCompletedJob then checks that it is this reply's
  const settled = { jobId: p.jobId, attempt, replyHash: final.receipt.body.replyHash, cost: final.billed };
  if (!settlementMatches(p.settleKey, settled, final.settlement)) return undefined;
  return {
    jobId: p.jobId,
    status: "completed",
    model: p.model,
    workerId,
    attempt,
    maxCost: p.maxCost,
    cost: final.billed,
    reply,
    receipt: final.receipt,
    createdAt: now,
    updatedAt: now,
  };
}

/** What `next` gives, or "quiet" if it gave nothing within `ms`; an abort ends the wait at once. */
function orQuiet<T>(next: Promise<T>, ms: number, signal?: AbortSignal): Promise<T | "quiet"> {
  throwIfAborted(signal);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(() => resolve("quiet")), ms);
    const onAbort = () => finish(() => reject(abortError(signal!)));
    signal?.addEventListener("abort", onAbort, { once: true });
    const finish = (f: () => void) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      f();
    };
    next.then(
      (r) => finish(() => resolve(r)),
      (e: unknown) => finish(() => reject(e)),
    );
  });
}

/** A job's wait past its deadline (timeoutMs): what ask, askStream and embed reject with. */
/** The call gave up at its job's deadline (deadlinePassed, or a job seen unfinished at the end). */
const pastDeadline = (e: unknown) => e instanceof VerificationError && e.code === "timeout";
const deadlinePassed = (p: Prepared) => new JobTimeoutError(p.jobId, `job ${p.jobId} did not finish within ${p.timeoutMs} ms`);
/** The call gave up on a job that may run on: at its deadline, or unable to reach the coordinator again (its cancel is sent). */
const gaveUpOn = (e: unknown) => pastDeadline(e) || e instanceof JobOutcomeUnknownError;

/**
 * The coordinator's answer never came: no connection, a lost one, or a gateway in front of it
 * answering 502/503/504 with a page of its own (not the API's JSON, so not the coordinator's
 * refusal; the gateway may have passed the request on).
 */
const connectionTrouble = (e: unknown): e is ApiError =>
  e instanceof ApiError &&
  (e.code === "unreachable" || ((e.code === "bad_response" || e.code === "http_error") && [502, 503, 504].includes(e.status)));
/** A request that failed before any of it left this machine (api-client/api.ts: details.requestSent false). */
const neverSent = (e: ApiError) => e.code === "unreachable" && (e.details as { requestSent?: unknown } | undefined)?.requestSent === false;
/**
 * A submit's failure that leaves open whether the coordinator took the job: the connection lost
 * after the request went out, a gateway's 5xx page, the coordinator's own 5xx other than 503
 * (which says nothing was done: core's failureResponse; a 500 may come after the job was
 * committed: an ambiguous store commit, or the read of a waited answer failing), or its 2xx
 * answer unreadable (bad_response: status 0 is a 2xx that does not match the schema; the job was taken).
 */
const mayHaveTaken = (e: ApiError) =>
  (connectionTrouble(e) && !neverSent(e)) ||
  (e.status >= 500 && e.status !== 503) ||
  (e.code === "bad_response" && (e.status === 0 || (e.status >= 200 && e.status < 300)));
/** A send of a job's request that the coordinator did not answer, or answered with a failure of its own (5xx): sent again as it was. */
const unanswered = (e: ApiError): boolean => e.status >= 500 || connectionTrouble(e);
/**
 * A refusal of a submit sent again that is an answer about its job id: it names a job of
 * another request (another body under the key, another key or account), so this one was never
 * taken and never will be (a job id is taken once).
 */
const notOurs = (e: ApiError) => e.code === "job_exists" || e.code === "idempotency_key_reused";

/** Verified pieces as the SDK's stream events (tool calls as OpenAI's whole-call deltas). */
function* events(pieces: StreamPiece[], jobId: string): Generator<StreamEvent> {
  for (const p of pieces) {
    if (p.kind === "restart") yield { type: "restart", attempt: p.attempt, workerId: p.workerId };
    else if (p.kind === "text")
      yield {
        type: "delta",
        jobId,
        text: p.text,
        ...(p.reasoning ? { reasoning: p.reasoning } : {}),
        ...(p.index ? { index: p.index } : {}),
        ...(p.logprobs ? { logprobs: p.logprobs } : {}),
      };
    else
      yield {
        type: "delta",
        jobId,
        toolCalls: p.toolCalls.map((c, i) => ({
          index: i,
          id: c.id,
          type: c.type,
          function: { name: c.function.name, arguments: c.function.arguments },
        })),
        ...(p.index ? { index: p.index } : {}),
      };
  }
}
