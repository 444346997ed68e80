import { z } from "zod";

// Module-level schemas are built in /* @__PURE__ */ IIFEs so that bundles drop unused ones (see events/api.ts).

/** base64url without padding: how every binary value travels in JSON. */
export const B64u = /* @__PURE__ */ (() => z.string().regex(/^[A-Za-z0-9_-]*$/, "must be base64url without padding"))();

/** A 32-byte key (Ed25519 or X25519 public key) as base64url. Also the account / worker id. */
export const Key32 = /* @__PURE__ */ (() => z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be a 32-byte key in base64url (43 chars)"))();

/** Account and worker ids are their Ed25519 public keys in base64url: self-certifying, no registry lookup. */
export const AccountId = Key32;
export const WorkerId = Key32;

export const JobId = /* @__PURE__ */ (() => z.string().regex(/^job_[0-9a-z]{26}$/, "must look like job_<26 lowercase base32 chars>"))();

/**
 * One reader of an account's relayed answers (an SDK instance; issue 12's SQS relay): the
 * account's streams go to the channel its job was submitted with, so that two processes of one
 * account each get their own jobs' chunks (a queue hands each message to one reader).
 */
export const RelayChannel = /* @__PURE__ */ (() =>
  z.string().regex(/^[A-Za-z0-9_-]{8,24}$/, "must be 8–24 characters of A-Z a-z 0-9 _ -"))();

export const ModelName = /* @__PURE__ */ (() =>
  z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9._:/-]+$/, "letters, digits and . _ : / - only"))();

/**
 * Integer nanoTON on the wire: a decimal string (1 TON = 1e9 nanoTON), never a JSON number,
 * which would lose precision past 2^53. The one nanoTON schema: every amount in every body,
 * request or response, is this (or NanoTon below, which is built on it).
 */
export const NanoTonString = /* @__PURE__ */ (() =>
  z.string().regex(/^\d{1,30}$/, "must be a non-negative integer number of nanoTON (decimal string)"))();

/**
 * A balance that may be a debt: a requester's `available` goes below zero when a withdrawal the
 * coordinator released as expired lands anyway (core/withdrawals.ts, issue 9 #3). Every amount a
 * client sends stays NanoTonString.
 */
export const SignedNanoTonString = /* @__PURE__ */ (() =>
  z.string().regex(/^-?\d{1,30}$/, "must be an integer number of nanoTON (decimal string)"))();

/** A nanoTON amount read into the bigint the code works in: the wire form above, or a bigint from code. */
export const NanoTon = /* @__PURE__ */ (() => z.union([NanoTonString, z.bigint().nonnegative()]).transform((v) => BigInt(v)))();

/**
 * A TON address as text: raw ("0:<64 hex>", "-1:<64 hex>") or user-friendly (48 base64 or
 * base64url chars). Its checksum and workchain are checked where @ton/core parses it (the
 * adapters), since events/ stays free of TON code.
 */
export const TonAddress = /* @__PURE__ */ (() =>
  z
    .string()
    // a raw address's workchain is an int8, -128..127 (wider, "999:…" parsed and then failed where a message was built: a 500)
    .regex(
      /^(?:(?:-?(?:\d{1,2}|1[01]\d|12[0-7])|-128):[0-9a-fA-F]{64}|[A-Za-z0-9_+/-]{48})$/,
      'must be a TON address: raw "0:<64 hex>" (workchain -128..127) or user-friendly (48 chars)',
    ))();

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * A toncenter JSON-RPC URL. https only, except on loopback (a local stand-in): what it answers
 * is trusted (the deposits the chain watcher credits, the policy registry an agent follows) and
 * the API key travels in a header, so a plain-http hop could forge answers or read the key.
 */
export const TonEndpoint = /* @__PURE__ */ (() =>
  z
    .string()
    .url({ message: "must be the toncenter JSON-RPC URL", abort: true })
    .refine((s) => {
      const u = new URL(s);
      return u.protocol === "https:" || (u.protocol === "http:" && LOOPBACK_HOSTS.has(u.hostname));
    }, "must be an https:// URL (http:// only on 127.0.0.1 or localhost)"))();

/** An Ed25519 signature (64 bytes) in standard base64, as the coordinator signs vouchers and withdrawals. */
export const SignatureBase64 = /* @__PURE__ */ (() =>
  z.string().regex(/^[A-Za-z0-9+/]{86}==$/, "must be a 64-byte Ed25519 signature in base64 (88 chars)"))();

/**
 * What a job is billed for: the worker's receipt signs exactly these two counts (core/crypto/receipt.ts),
 * the coordinator prices them (core/pricing.ts) and the SDK checks them against the sealed answer's.
 * Kept apart from Usage so that nothing informational can reach a signed receipt: a coordinator
 * parses the receipt with this schema (unknown keys stripped), so a receipt signed over more would
 * no longer verify.
 */
export const BilledUsage = /* @__PURE__ */ (() =>
  z.object({
    promptTokens: z.number().int().nonnegative(),
    completionTokens: z.number().int().nonnegative(),
  }))();
export type BilledUsage = z.infer<typeof BilledUsage>;

/**
 * The usage an engine reports and the sealed answer carries: the billed counts, and for
 * information only how many of the completion tokens were the model's thinking (OpenAI's
 * completion_tokens_details.reasoning_tokens), where the engine counted them; absent when it did
 * not (never estimated). Thinking is part of the completion, so a count above completionTokens is
 * malformed: refused like any other bad usage. An answer from before the field parses the same.
 */
export const Usage = /* @__PURE__ */ (() =>
  BilledUsage.extend({
    reasoningTokens: z.number().int().nonnegative().optional(),
  }).refine((u) => u.reasoningTokens === undefined || u.reasoningTokens <= u.completionTokens, {
    message: "reasoningTokens cannot exceed completionTokens (thinking is part of the completion)",
    path: ["reasoningTokens"],
  }))();
export type Usage = z.infer<typeof Usage>;

/** Every 4xx/5xx body. `code` is machine-readable; `message` says what to fix. */
export const ErrorBody = /* @__PURE__ */ (() =>
  z.object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  }))();
export type ErrorBody = z.infer<typeof ErrorBody>;
