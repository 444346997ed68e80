import { z } from "zod";
import { AccountId, B64u, BilledUsage, JobId, Key32, ModelName, NanoTonString, Usage, WorkerId } from "./common";
import { EngineExtra } from "./engine-extra";

// Module-level schemas are built in /* @__PURE__ */ IIFEs so that bundles drop unused ones (see events/api.ts).

/**
 * The clear part of a job: the coordinator routes and bills by it, and it is the AAD of
 * every ciphertext in the envelope, so nobody can alter it without breaking decryption.
 */
export const EnvelopeHeader = /* @__PURE__ */ (() =>
  z.object({
    v: z.literal(1),
    jobId: JobId,
    requester: AccountId,
    model: ModelName,
    maxTokens: z.number().int().positive(),
    maxPromptTokens: z.number().int().positive(),
    /** Maximum the requester agreed to pay, nanoTON decimal string (the held amount). */
    maxCost: NanoTonString,
    /** Requester's one-time X25519 public key; the reply is sealed to it. */
    replyKey: Key32,
  }))();
export type EnvelopeHeader = z.infer<typeof EnvelopeHeader>;

/** The data key, HPKE-sealed to one candidate worker's X25519 key. */
export const WrappedKey = /* @__PURE__ */ (() =>
  z.object({
    workerId: WorkerId,
    enc: B64u, // HPKE encapsulated key
    ct: B64u, // sealed data key
  }))();
export type WrappedKey = z.infer<typeof WrappedKey>;

export const RequestEnvelope = /* @__PURE__ */ (() =>
  z.object({
    header: EnvelopeHeader,
    nonce: B64u, // 12-byte ChaCha20-Poly1305 nonce for the payload
    payload: B64u, // ChaCha20-Poly1305(dataKey, nonce, plaintext, aad = canonical(header))
    keys: z.array(WrappedKey).min(1).max(8),
  }))();
export type RequestEnvelope = z.infer<typeof RequestEnvelope>;

/** A tool call in OpenAI's shape; `arguments` is the JSON text the model wrote. */
export const ToolCall = /* @__PURE__ */ (() =>
  z.object({
    id: z.string().min(1).max(256),
    type: z.literal("function"),
    function: z.object({ name: z.string().min(1).max(256), arguments: z.string().max(65_536) }),
  }))();
export type ToolCall = z.infer<typeof ToolCall>;

/**
 * OpenAI's rule for a message's `name` (the speaker, told apart from others of its role: AutoGen's
 * group chats): 1 to 64 letters, digits, `_` or `-`. Its API reference once wrote it out ("May
 * contain a-z, A-Z, 0-9, and underscores, with a maximum length of 64 characters"); its API
 * refuses other names with "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'".
 */
export const MessageName = /* @__PURE__ */ (() =>
  z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "name must be 1 to 64 letters, digits, _ or - (OpenAI's rule)"))();

/**
 * A chat content part in OpenAI's shape: text, or an image as a data URL of a type engines read.
 * Only the URL's form is checked here (this schema is bundled into the coordinator's functions,
 * which never open a request): its strict base64 and its bytes are checked where requests are
 * made and opened (events/images.ts imageUrlProblem: the SDK, cocoon serve and the agent).
 */
export const ContentPart = /* @__PURE__ */ (() =>
  z.discriminatedUnion("type", [
    z.object({ type: z.literal("text"), text: z.string() }),
    z.object({
      type: z.literal("image_url"),
      image_url: z.object({
        url: z
          .string()
          .regex(/^data:image\/(png|jpeg|webp|gif);base64,[A-Za-z0-9+/]+={0,2}$/, "must be a base64 data:image/(png|jpeg|webp|gif) URL"),
        detail: z.enum(["auto", "low", "high"]).optional(),
      }),
    }),
  ]))();
export type ContentPart = z.infer<typeof ContentPart>;

/**
 * A chat turn. An assistant turn may carry the calls it made; a tool turn answers one of them.
 * `name` (system, user and assistant turns, as OpenAI's): sent only when there is one, so the
 * payload of a chat without names is as before. An agent from before `name` parses a payload
 * with it and drops it (zod's z.object strips keys it does not know): the job runs, unnamed.
 */
export const ChatMessage = /* @__PURE__ */ (() =>
  z
    .object({
      role: z.enum(["system", "user", "assistant", "tool"]),
      /**
       * Text, or OpenAI's content parts (text and images). The SDK sends parts only when a message
       * holds an image, so a text chat's payload is as before; an agent from before parts refuses
       * such a payload (bad_request: refunded), and it never advertised `vision`, so cocoon serve
       * sends it none.
       */
      content: z.union([z.string(), z.array(ContentPart).min(1).max(256)]),
      name: MessageName.optional(),
      toolCalls: z.array(ToolCall).max(128).optional(),
      toolCallId: z.string().min(1).max(256).optional(),
    })
    .refine((m) => m.role !== "tool" || m.name === undefined, {
      path: ["name"],
      message: "a tool message takes no name (OpenAI's tool message has none)",
    })
    // As OpenAI's: images come from the user; a model's own turns and tool results are text.
    .refine((m) => m.role === "user" || typeof m.content === "string" || m.content.every((p) => p.type === "text"), {
      path: ["content"],
      message: "only user messages may hold images",
    }))();
export type ChatMessage = z.infer<typeof ChatMessage>;

/** A function the model may call (OpenAI's `tools[]` entry); `parameters` is a JSON Schema. */
export const Tool = /* @__PURE__ */ (() =>
  z.object({
    type: z.literal("function"),
    function: z.object({
      name: z.string().min(1).max(256),
      description: z.string().max(8192).optional(),
      parameters: z.record(z.string(), z.unknown()).optional(),
    }),
  }))();
export type Tool = z.infer<typeof Tool>;

export const ToolChoice = /* @__PURE__ */ (() =>
  z.union([
    z.enum(["auto", "none", "required"]),
    z.object({ type: z.literal("function"), function: z.object({ name: z.string().min(1).max(256) }) }),
  ]))();
export type ToolChoice = z.infer<typeof ToolChoice>;

export const ResponseFormat = /* @__PURE__ */ (() =>
  z.discriminatedUnion("type", [
    z.object({ type: z.literal("text") }),
    z.object({ type: z.literal("json_object") }),
    z.object({
      type: z.literal("json_schema"),
      json_schema: z.object({
        name: z.string().max(256).optional(),
        description: z.string().max(8192).optional(),
        schema: z.record(z.string(), z.unknown()).optional(),
        strict: z.boolean().nullable().optional(),
      }),
    }),
  ]))();
export type ResponseFormat = z.infer<typeof ResponseFormat>;

/** Choices per request at most (n); each is generated in turn by the one worker. */
export const MAX_CHOICES = 8;

/**
 * What the requester puts inside the payload (never seen by the coordinator): one schema for
 * every kind of job, which the agent parses with. `kind` defaults to "chat", so the payload
 * of an SDK from before tools and embeddings reads as before.
 *  - chat: `messages` (+ tools, tool choice, response format)
 *  - completion: `prompt`, continued as is (no chat template)
 *  - embedding: `input`, texts or token ids; the reply holds one vector per input
 * `stream`: the worker also publishes the sealed chunks on the relay as it generates them
 * (`relayWhole`: only when a chunk is full and at the end).
 */
export const RequestPlaintext = /* @__PURE__ */ (() =>
  z
    .object({
      kind: z.enum(["chat", "completion", "embedding"]).default("chat"),
      messages: z.array(ChatMessage).min(1).optional(),
      prompt: z.string().optional(),
      input: z.union([z.array(z.string()).min(1), z.array(z.array(z.number().int().nonnegative()).min(1)).min(1)]).optional(),
      temperature: z.number().min(0).max(2).optional(),
      topP: z.number().gt(0).max(1).optional(),
      seed: z.number().int().optional(),
      stop: z.array(z.string().min(1)).max(4).optional(),
      n: z.number().int().min(1).max(MAX_CHOICES).optional(),
      tools: z.array(Tool).max(128).optional(),
      toolChoice: ToolChoice.optional(),
      parallelToolCalls: z.boolean().optional(),
      responseFormat: ResponseFormat.optional(),
      user: z.string().max(256).optional(),
      logprobs: z.boolean().optional(),
      topLogprobs: z.number().int().min(0).max(20).optional(),
      stream: z.boolean().optional(),
      /**
       * With `stream`: the requester waits for the whole answer anyway (the SDK's ask() over a
       * pub/sub relay), so the worker publishes it in as few chunks as the chunk cap allows, with
       * the receipt on the last, instead of one about every second: one relay message for most
       * answers. The sealed chunk sequence and its checks are the same.
       */
      relayWhole: z.boolean().optional(),
      /**
       * issue 11: request fields OpenAI's API (or an engine's: vLLM's top_k, min_p…) has that this
       * schema does not name, under their own names, for the engine (agent/engines/openai-http.ts
       * passes them on; never over a field the agent sets itself). review41: those of an allow-list
       * only (events/engine-extra.ts); any other name is refused, by the SDK before a quote and by
       * the agent as bad_request, naming it.
       */
      extra: EngineExtra.optional(),
    })
    .superRefine((p, ctx) => {
      const need = { chat: "messages", completion: "prompt", embedding: "input" } as const;
      const field = need[p.kind];
      if (p[field] === undefined) ctx.addIssue({ code: "custom", path: [field], message: `a ${p.kind} request needs ${field}` });
      for (const other of Object.values(need)) {
        if (other !== field && p[other] !== undefined)
          ctx.addIssue({ code: "custom", path: [other], message: `a ${p.kind} request takes ${field}, not ${other}` });
      }
    }))();
export type RequestPlaintext = z.input<typeof RequestPlaintext>;
export type RequestPlaintextParsed = z.output<typeof RequestPlaintext>;

/**
 * One HPKE ciphertext sealed to header.replyKey; AAD = canonical(header) + "\n" + workerId.
 * Failure texts travel like this, and the replies of agents from before streaming.
 */
export const SealedReply = /* @__PURE__ */ (() =>
  z.object({
    enc: B64u.max(64),
    ct: B64u,
  }))();
export type SealedReply = z.infer<typeof SealedReply>;

/** Chunks in one reply at most: about ten minutes of generation at the default one per second, with room. */
export const MAX_REPLY_CHUNKS = 4096;

/**
 * A reply's size at most, as UTF-8 bytes of its canonical JSON (what is hashed, stored and
 * served): 4 MiB. A larger one is refused at POST /v1/agent/results with 413 `reply_too_large`
 * (core/jobs/results.ts), because GET /v1/jobs/{id} must be able to return it: on AWS a Lambda
 * answers at most 6 MB (functions/http/middleware.ts MAX_PAYLOAD_BYTES), and the reply travels
 * there as JSON inside the JSON of Lambda's result (each quote escaped: at most 2 per chunk),
 * beside the job's view and receipt (under 32 KiB in all), and, on a submit that waited for its
 * answer, a renewed quote (functions/http/submit-job.ts). Before the cap, the 6 MB request
 * limit was the only one, and a reply just under it could not be read back.
 */
export const MAX_REPLY_BYTES = 4 * 1024 * 1024;

/**
 * The largest request envelope the coordinator takes, as canonical JSON (core/jobs/submit.ts):
 * envelopes ride inside SQS messages (256 KiB), so this leaves room for the rest of the message.
 */
export const MAX_ENVELOPE_BYTES = 200 * 1024;

/** An Ed25519 signature (64 bytes) in base64url without padding. */
export const Ed25519Signature = /* @__PURE__ */ (() =>
  z.string().regex(/^[A-Za-z0-9_-]{86}$/, "must be a 64-byte Ed25519 signature in base64url (86 chars)"))();

/**
 * A reply as a sequence of chunks (core/crypto/reply-stream.ts): the worker's HPKE
 * encapsulation to header.replyKey (`enc`), its Ed25519 signature binding that `enc` to this
 * job header and worker (`sig`, so nobody else can start a stream to our key), and the chunks
 * in order, each AEAD-sealed with its sequence number and a final flag (the last one) in the
 * associated data. The receipt's replyHash covers all of it. What the agent streams on the
 * relay are these same chunks, one by one.
 */
export const ChunkedReply = /* @__PURE__ */ (() =>
  z.object({
    v: z.literal(2),
    /** an X25519 encapsulation (32 bytes: 43 chars); capped as the relay's opener is */
    enc: B64u.max(64),
    sig: Ed25519Signature,
    chunks: z.array(B64u).min(1).max(MAX_REPLY_CHUNKS),
  }))();
export type ChunkedReply = z.infer<typeof ChunkedReply>;

/** What a worker posts and the coordinator stores and serves: it only hashes and keeps it. */
export const ReplyEnvelope = /* @__PURE__ */ (() => z.union([ChunkedReply, SealedReply]))();
export type ReplyEnvelope = z.infer<typeof ReplyEnvelope>;

/** The answer of a SealedReply (older agents), and the shape the SDK assembles from chunks. */
export const ReplyPlaintext = /* @__PURE__ */ (() =>
  z.object({
    text: z.string(),
    usage: Usage,
    engine: z.string(), // e.g. "builtin-deterministic (not a real model)" or "openai-compatible:http://127.0.0.1:8000"
    finishReason: z.enum(["stop", "length", "cancelled"]),
  }))();
export type ReplyPlaintext = z.infer<typeof ReplyPlaintext>;

/**
 * How one choice ended. A stop that produced tool calls is "stop" with toolCalls set (the SDK
 * calls it "tool_calls"). "cancelled": the requester cancelled the job and the worker stopped
 * the engine there (the usage bills what was generated up to then).
 */
export const ChoiceEnd = /* @__PURE__ */ (() =>
  z.object({
    finishReason: z.enum(["stop", "length", "cancelled"]),
    toolCalls: z.array(ToolCall).max(128).optional(),
  }))();

/**
 * What one sealed chunk holds. Text deltas (`text`) of choice `i` (default 0); the final chunk
 * — and only it — carries `end`: the usage the receipt bills, the engine, and how each choice
 * ended (with its tool calls). An embedding reply is a single final chunk with `embeddings`:
 * one little-endian float32 vector per input, base64url.
 */
/** One generated token's log probability and, when asked, its likeliest alternatives (OpenAI's logprobs.content[]). */
const TokenLogprobBase = /* @__PURE__ */ (() =>
  z.object({
    token: z.string().max(1024),
    logprob: z.number(),
    bytes: z.array(z.number().int().min(0).max(255)).max(4096).nullable().optional(),
  }))();
export const TokenLogprob = /* @__PURE__ */ (() =>
  TokenLogprobBase.extend({ topLogprobs: z.array(TokenLogprobBase).max(20).optional() }))();
export type TokenLogprob = z.infer<typeof TokenLogprob>;

export const ChunkPlaintext = /* @__PURE__ */ (() =>
  z.object({
    /**
     * Session 31: on chunk 0 only, requestTag (core/crypto/envelope.ts: the first 128 bits of the
     * receipt's requestHash, base64url) of the envelope the worker opened. The opener's signature binds the stream to the
     * header, not to the payload, and anyone who read the header (the coordinator) can wrap a data
     * key of its own to the worker under it: the SDK refuses a stream whose chunk 0 names another
     * request before it shows any of it. Sealed with the chunk, so nobody but the worker can write
     * or strip it. Optional: agents from before it send none (and an SDK from before it drops it).
     */
    req: z
      .string()
      .regex(/^[A-Za-z0-9_-]{22}$/)
      .optional(),
    /**
     * Session 39: on chunk 0 only, replyProof (core/crypto/envelope.ts: an HMAC of the request hash
     * under a key exported from the HPKE context that wrapped our data key to this worker). The
     * opener's signature and the receipt need only the worker's Ed25519 key, which a tdx worker
     * keeps on its host's disk; this needs its HPKE key, which lives in its TD only, so a process
     * outside the TD that holds the signing key cannot answer in the TD's name. The SDK requires it
     * of tdx workers and checks it when present. Optional: agents from before it send none.
     */
    proof: z
      .string()
      .regex(/^[A-Za-z0-9_-]{43}$/)
      .optional(),
    i: z
      .number()
      .int()
      .min(0)
      .max(MAX_CHOICES - 1)
      .optional(),
    text: z.string().optional(),
    /**
     * The model's thinking of choice `i` that came with (before) this chunk's text, when the engine
     * separates it (reasoning models behind llama-server, vLLM, SGLang or Ollama): billed like text
     * (its tokens are in the end's usage), so delivered like it. Optional: an SDK from before it
     * parses such a chunk and drops the field (z.object strips keys it does not know).
     */
    reasoning: z.string().optional(),
    /** issue 11: the log probabilities of this chunk's tokens of choice `i`, when the request asked for them */
    logprobs: z.array(TokenLogprob).max(65_536).optional(),
    embeddings: z.array(B64u).optional(),
    end: z
      .object({
        usage: Usage,
        engine: z.string(),
        choices: z.array(ChoiceEnd).min(1).max(MAX_CHOICES),
      })
      .optional(),
  }))();
export type ChunkPlaintext = z.infer<typeof ChunkPlaintext>;

/**
 * What a worker's attestation measured, as core/attestation/verify.ts names it: a TD's 48-byte
 * MRTD in hex (96 chars), "dev-simulated" or "none". Capped at that size: the coordinator and
 * the SDK compare it with the attested value, but a relayed final chunk's receipt is buffered
 * and handed on before anyone does (a worker could otherwise fill the relay with one string).
 */
export const Measurement = /* @__PURE__ */ (() =>
  z
    .string()
    .max(96)
    .regex(/^[A-Za-z0-9._:-]*$/, "must be a hex measurement, dev-simulated or none (at most 96 chars)"))();

/** Signed by the worker's Ed25519 key; the coordinator bills from it, the requester checks it. */
export const ReceiptBody = /* @__PURE__ */ (() =>
  z.object({
    v: z.literal(1),
    jobId: JobId,
    workerId: WorkerId,
    model: ModelName,
    requestHash: z.string().regex(/^[0-9a-f]{64}$/), // sha256 over canonical(request envelope): header, payload and every wrapped key
    replyHash: z.string().regex(/^[0-9a-f]{64}$/), // sha256 over canonical(reply envelope)
    usage: BilledUsage, // the billed counts only: reasoningTokens stays in the sealed answer (information, never signed)
    measurement: Measurement, // worker's attested measurement
    finishedAt: z.number().int(),
  }))();
export type ReceiptBody = z.infer<typeof ReceiptBody>;

export const Receipt = /* @__PURE__ */ (() => z.object({ body: ReceiptBody, signature: Ed25519Signature }))();
export type Receipt = z.infer<typeof Receipt>;

export { Key32 };
