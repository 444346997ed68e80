/**
 * Settlement tokens (core/crypto/settlement.ts, session 40): the coordinator's word on a job's
 * settlement verifies only under the job's settle key, and only for the job, attempt, reply and
 * cost it was made for.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { b64u } from "./encoding";
import { settlementMac, settlementMatches, type SettlementBody } from "./settlement";

/** Factory: a settle key and the body of a job completed at attempt 1. */
const settled = () => ({
  key: b64u.encode(randomBytes(32)),
  body: { jobId: "job_01m8se771ement000000000000", attempt: 1, replyHash: "a".repeat(64), cost: "12345" } satisfies SettlementBody,
});

describe("a settlement token", () => {
  it("verifies under its job's settle key for the settlement it was made for", () => {
    // Prepare
    const s = settled();
    // Act
    const token = settlementMac(s.key, s.body);
    // Assess
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(settlementMatches(s.key, s.body, token)).toBe(true);
  });

  it.each<[string, Partial<SettlementBody>]>([
    ["another job", { jobId: "job_01m8se771ement000000000001" }],
    ["another attempt", { attempt: 2 }],
    ["another reply", { replyHash: "b".repeat(64) }],
    ["another cost", { cost: "12346" }],
  ])("does not verify for %s", (_what, change) => {
    // Prepare
    const s = settled();
    const token = settlementMac(s.key, s.body);
    // Act / Assess
    expect(settlementMatches(s.key, { ...s.body, ...change }, token)).toBe(false);
  });

  it("does not verify under another key, nor when missing, malformed, or checked without a key", () => {
    // Prepare
    const s = settled();
    const token = settlementMac(s.key, s.body);
    // Act / Assess
    expect(settlementMatches(b64u.encode(randomBytes(32)), s.body, token)).toBe(false);
    expect(settlementMatches(s.key, s.body, undefined)).toBe(false);
    expect(settlementMatches(s.key, s.body, "not base64url!")).toBe(false);
    expect(settlementMatches(s.key, s.body, token.slice(0, 42))).toBe(false);
    expect(settlementMatches(undefined, s.body, token)).toBe(false);
    expect(settlementMatches("", s.body, token)).toBe(false); // a key of the wrong length
  });
});
