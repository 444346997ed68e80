/**
 * The reply stream's per-chunk nonce (RFC 9180 §5.2 ComputeNonce: base nonce XOR the sequence
 * number, big-endian, in the nonce's 12 bytes), against an independent BigInt computation at
 * the byte boundaries the known-answer fixture's few chunks never reach (session 14: with only
 * seqs 0..2 pinned, a nonce that repeated from chunk 256 on passed every test).
 */
import { describe, expect, it } from "vitest";
import { CryptoInputError } from "./errors";
import { chunkNonce } from "./reply-stream";

const BASE = Uint8Array.from({ length: 12 }, (_, i) => (i * 37 + 11) & 0xff);

/** base XOR I2OSP(seq, 12), computed on 96-bit integers. */
function expectedNonce(base: Uint8Array, seq: number): string {
  const b = BigInt(`0x${Buffer.from(base).toString("hex")}`);
  return (b ^ BigInt(seq)).toString(16).padStart(24, "0");
}

describe("chunkNonce", () => {
  const seqs = [0, 1, 2, 255, 256, 257, 65_535, 65_536, 16_777_216, 2 ** 32 + 5, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER];

  it.each(seqs)("seq %d: base nonce XOR the big-endian sequence number", (seq) => {
    // Act
    const nonce = chunkNonce(BASE, seq);
    // Assess
    expect(nonce.toString("hex")).toBe(expectedNonce(BASE, seq));
  });

  it("gives every sequence number its own nonce and leaves the base untouched", () => {
    // Prepare
    const before = Buffer.from(BASE).toString("hex");
    // Act
    const nonces = seqs.map((seq) => chunkNonce(BASE, seq).toString("hex"));
    // Assess
    expect(new Set(nonces).size).toBe(seqs.length);
    expect(Buffer.from(BASE).toString("hex")).toBe(before);
  });

  it.each([-1, 1.5, Number.NaN, 2 ** 53, Number.POSITIVE_INFINITY])("refuses seq %d with invalid_length", (seq) => {
    // Act
    const call = () => chunkNonce(BASE, seq);
    // Assess
    expect(call).toThrow(CryptoInputError);
    expect(call).toThrow(`chunk sequence number must be a non-negative integer, got ${seq}`);
  });
});
