/**
 * The Receipt schema's caps: its measurement and signature are as long as what they carry (a
 * 48-byte MRTD in hex or "dev-simulated" / "none"; a 64-byte Ed25519 signature), so a worker
 * cannot hand the relay a final chunk whose receipt is megabytes of one string. Every receipt a
 * worker really signs still parses. The same holds for a reply's shell (its encapsulation and
 * opener signature: a stored reply is capped as a whole, but its fields are handed on as strings)
 * and for the measurement the coordinator tells an agent to name.
 */
import { describe, expect, it } from "vitest";
import { DEV_MEASUREMENT } from "../core/attestation/dev";
import { signReceipt, verifyReceipt } from "../core/crypto/receipt";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey } from "../core/crypto/keys";
import { ReplyStreamSealer } from "../core/crypto/reply-stream";
import { makeHeader, makeReceiptBody, makeWorker } from "../core/crypto/testing";
import { RegisterWorkerResponse } from "./api";
import { ChunkedReply, Receipt, SealedReply } from "./envelope";
import { RelayPublishRequest } from "./relay";

/** Factory: a receipt a worker signed over a body with `measurement`. */
const signed = (measurement: string) => {
  const worker = makeWorker();
  return signReceipt(makeReceiptBody(worker, { measurement }), worker.signing);
};

describe("Receipt: what a worker signs parses", () => {
  it.each([
    ["a TD's MRTD (48 bytes of hex)", "ab".repeat(48)],
    ["the dev tier's", DEV_MEASUREMENT],
    ["the none tier's", "none"],
  ])("a signed receipt naming %s measurement", (_what, measurement) => {
    // Prepare
    const receipt = signed(measurement);
    // Act
    const r = Receipt.safeParse(receipt);
    // Assess
    expect(r.success).toBe(true);
    expect(r.data).toStrictEqual(receipt);
  });
});

describe("Receipt: oversize or malformed fields are refused", () => {
  it.each([
    ["a measurement one character past an MRTD's hex (97)", { measurement: "a".repeat(97) }],
    ["a measurement of 2 MiB", { measurement: "x".repeat(2 * 1024 * 1024) }],
    ["a measurement with a newline", { measurement: "dev\nsimulated" }],
  ])("%s", (_what, over) => {
    // Prepare
    const receipt = signed(DEV_MEASUREMENT);
    // Act
    const r = Receipt.safeParse({ ...receipt, body: { ...receipt.body, ...over } });
    // Assess
    expect(r.success).toBe(false);
  });

  it.each([
    ["one character longer than 64 bytes' base64url (87)", (s: string) => s + "A"],
    ["one character short (85)", (s: string) => s.slice(1)],
    ["1 MiB", () => "A".repeat(1024 * 1024)],
    ["empty", () => ""],
  ])("a signature %s", (_what, change) => {
    // Prepare
    const receipt = signed(DEV_MEASUREMENT);
    expect(receipt.signature).toHaveLength(86);
    // Act
    const r = Receipt.safeParse({ ...receipt, signature: change(receipt.signature) });
    // Assess
    expect(r.success).toBe(false);
  });

  it("a relayed final chunk whose receipt carries a 2 MiB measurement is refused at the relay's edge", () => {
    // Prepare: what POST /v1/agent/jobs/{id}/chunks takes (functions/http/relay-publish.ts)
    const receipt = signed(DEV_MEASUREMENT);
    const fat = { ...receipt, body: { ...receipt.body, measurement: "x".repeat(2 * 1024 * 1024) } };
    const chunk = { jobId: receipt.body.jobId, attempt: 0, seq: 0, final: true, data: "AAAA" };
    // Act
    const refused = RelayPublishRequest.safeParse({ chunks: [{ ...chunk, receipt: fat }] });
    const taken = RelayPublishRequest.safeParse({ chunks: [{ ...chunk, receipt }] });
    // Assess
    expect(refused.success).toBe(false);
    expect(taken.success).toBe(true);
  });
});

/** Factory: a one-chunk reply a worker really sealed. */
const sealedReply = (): ChunkedReply => {
  const worker = makeWorker();
  const header = { ...makeHeader(), replyKey: b64u.encode(generateKemKey().publicKey) };
  const sealer = new ReplyStreamSealer(header, worker.workerId, worker.signing);
  sealer.seal(new TextEncoder().encode("hello"), true);
  return sealer.reply();
};

describe("a reply's shell: what a worker seals parses, oversize fields do not", () => {
  it("a reply a worker sealed", () => {
    // Prepare
    const reply = sealedReply();
    // Act
    const r = ChunkedReply.safeParse(reply);
    // Assess
    expect(r.success).toBe(true);
    expect(reply.sig).toHaveLength(86);
    expect(reply.enc).toHaveLength(43);
  });

  it.each([
    ["an encapsulation of 2 MiB", (r: ChunkedReply) => ({ ...r, enc: "E".repeat(2 * 1024 * 1024) })],
    ["an encapsulation past 64 characters", (r: ChunkedReply) => ({ ...r, enc: "E".repeat(65) })],
    ["a signature of 1 MiB", (r: ChunkedReply) => ({ ...r, sig: "S".repeat(1024 * 1024) })],
    ["a signature one character short", (r: ChunkedReply) => ({ ...r, sig: r.sig.slice(1) })],
  ])("%s", (_what, change) => {
    // Prepare
    const fat = change(sealedReply());
    // Act
    const r = ChunkedReply.safeParse(fat);
    // Assess
    expect(r.success).toBe(false);
  });

  it("an older agent's sealed reply with an encapsulation of 2 MiB", () => {
    // Act
    const r = SealedReply.safeParse({ enc: "E".repeat(2 * 1024 * 1024), ct: "AAAA" });
    // Assess
    expect(r.success).toBe(false);
    expect(SealedReply.safeParse({ enc: "E".repeat(43), ct: "AAAA" }).success).toBe(true);
  });
});

describe("the measurement a registration answer names", () => {
  const answer = (measurement: string) => ({
    workerId: makeWorker().workerId,
    tier: "dev",
    measurement,
    attestationExpiresAt: 1,
    models: ["m"],
    heartbeatSeconds: 30,
  });

  it.each([["ab".repeat(48)], [DEV_MEASUREMENT], ["none"]])("%s parses", (measurement) => {
    expect(RegisterWorkerResponse.safeParse(answer(measurement)).success).toBe(true);
  });

  it("2 MiB is refused", () => {
    expect(RegisterWorkerResponse.safeParse(answer("x".repeat(2 * 1024 * 1024))).success).toBe(false);
  });
});

describe("Receipt: its usage is the billed pair alone (reasoningTokens is information, never signed)", () => {
  it("a receipt's usage parses to promptTokens and completionTokens only", () => {
    // Prepare
    const worker = makeWorker();
    const body = makeReceiptBody(worker, { usage: { promptTokens: 3, completionTokens: 5 } });
    // Act
    const r = Receipt.parse(signReceipt(body, worker.signing));
    // Assess
    expect(r.body.usage).toStrictEqual({ promptTokens: 3, completionTokens: 5 });
    expect(verifyReceipt(r, worker.signing.publicKey)).toBe(true);
  });

  it("a receipt signed over reasoningTokens does not verify once parsed: the field is no part of a receipt", () => {
    // Prepare: a worker that put the answer's whole usage into its receipt
    const worker = makeWorker();
    const body = { ...makeReceiptBody(worker), usage: { promptTokens: 3, completionTokens: 5, reasoningTokens: 2 } };
    // Act
    const r = Receipt.parse(signReceipt(body, worker.signing));
    // Assess
    expect(r.body.usage).toStrictEqual({ promptTokens: 3, completionTokens: 5 });
    expect(verifyReceipt(r, worker.signing.publicKey)).toBe(false);
  });
});
