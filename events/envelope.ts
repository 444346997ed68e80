import { z } from "zod";
import { AccountId, B64u, JobId, Key32, ModelName, NanoTonString, Usage, WorkerId } from "./common";

/**
 * The clear part of a job: the coordinator routes and bills by it, and it is the AAD of
 * every ciphertext in the envelope, so nobody can alter it without breaking decryption.
 */
export const EnvelopeHeader = z.object({
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
});
export type EnvelopeHeader = z.infer<typeof EnvelopeHeader>;

/** The data key, HPKE-sealed to one candidate worker's X25519 key. */
export const WrappedKey = z.object({
  workerId: WorkerId,
  enc: B64u, // HPKE encapsulated key
  ct: B64u, // sealed data key
});
export type WrappedKey = z.infer<typeof WrappedKey>;

export const RequestEnvelope = z.object({
  header: EnvelopeHeader,
  nonce: B64u, // 12-byte ChaCha20-Poly1305 nonce for the payload
  payload: B64u, // ChaCha20-Poly1305(dataKey, nonce, plaintext, aad = canonical(header))
  keys: z.array(WrappedKey).min(1).max(8),
});
export type RequestEnvelope = z.infer<typeof RequestEnvelope>;

/** What the requester puts inside the payload (never seen by the coordinator). */
export const RequestPlaintext = z.object({
  messages: z.array(z.object({ role: z.enum(["system", "user", "assistant"]), content: z.string() })).min(1),
  temperature: z.number().min(0).max(2).optional(),
});
export type RequestPlaintext = z.infer<typeof RequestPlaintext>;

/** HPKE-sealed to header.replyKey; AAD = canonical(header) + "\n" + workerId. */
export const ReplyEnvelope = z.object({
  enc: B64u,
  ct: B64u,
});
export type ReplyEnvelope = z.infer<typeof ReplyEnvelope>;

export const ReplyPlaintext = z.object({
  text: z.string(),
  usage: Usage,
  engine: z.string(), // e.g. "builtin-deterministic (not a real model)" or "openai-compatible:http://127.0.0.1:8000"
  finishReason: z.enum(["stop", "length"]),
});
export type ReplyPlaintext = z.infer<typeof ReplyPlaintext>;

/** Signed by the worker's Ed25519 key; the coordinator bills from it, the requester checks it. */
export const ReceiptBody = z.object({
  v: z.literal(1),
  jobId: JobId,
  workerId: WorkerId,
  model: ModelName,
  requestHash: z.string().regex(/^[0-9a-f]{64}$/), // sha256 over canonical(request envelope): header, payload and every wrapped key
  replyHash: z.string().regex(/^[0-9a-f]{64}$/), // sha256 over canonical(reply envelope)
  usage: Usage,
  measurement: z.string(), // worker's attested measurement (hex) or "dev"/"none"
  finishedAt: z.number().int(),
});
export type ReceiptBody = z.infer<typeof ReceiptBody>;

export const Receipt = z.object({ body: ReceiptBody, signature: B64u });
export type Receipt = z.infer<typeof Receipt>;

export { Key32 };
