/**
 * The collateral schemas (collateral.ts) on their own: the size caps and hex rule that bound what
 * a worker's evidence may carry before anything parses it, and the TCB info / QE identity shapes
 * the verifier relies on. Each refusal is asserted with its message, which the verdict's reason
 * repeats (prepare-collateral.ts).
 */
import { describe, expect, it } from "vitest";
import { makeTestPlatform } from "../../../test/fixtures/attestation/test-pki";
import { QeIdentityJson, TcbInfoJson, TdxCollateral } from "./collateral";

const platform = await makeTestPlatform();
const tcbInfo = () => JSON.parse(platform.collateral.tcb_info) as Record<string, unknown>;
const qeIdentity = () => JSON.parse(platform.collateral.qe_identity) as Record<string, unknown>;

/** The first issue's path and message, or "ok". */
function firstIssue(r: { success: boolean; error?: { issues: Array<{ path: PropertyKey[]; message: string }> } }): string {
  if (r.success) return "ok";
  const i = r.error!.issues[0]!;
  return `${i.path.join(".")}: ${i.message}`;
}

describe("TdxCollateral: sizes and hex", () => {
  it("takes the stand-in platform's collateral as it is", () => {
    expect(firstIssue(TdxCollateral.safeParse(platform.collateral))).toBe("ok");
  });

  it.each([
    ["an odd number of hex digits", "abc", "root_ca_crl: must be hex"],
    ["a non-hex character", "0g", "root_ca_crl: must be hex"],
    ["one byte over 64 KiB", "00".repeat(64 * 1024 + 1), "root_ca_crl: must be at most 65536 bytes"],
  ])("a root CA CRL of %s is refused", (_label, root_ca_crl, expected) => {
    // Act
    const r = TdxCollateral.safeParse({ ...platform.collateral, root_ca_crl });
    // Assess
    expect(firstIssue(r)).toBe(expected);
  });

  it("a root CA CRL of exactly 64 KiB, in either case of hex, passes the schema", () => {
    expect(firstIssue(TdxCollateral.safeParse({ ...platform.collateral, root_ca_crl: "aB".repeat(64 * 1024) }))).toBe("ok");
  });

  it("a PEM chain over 16 KiB and signed JSON over 64 KiB are refused with their caps named", () => {
    // Act
    const pem = TdxCollateral.safeParse({ ...platform.collateral, tcb_info_issuer_chain: "x".repeat(16 * 1024 + 1) });
    const json = TdxCollateral.safeParse({ ...platform.collateral, qe_identity: "x".repeat(64 * 1024 + 1) });
    const pemAtCap = TdxCollateral.safeParse({ ...platform.collateral, tcb_info_issuer_chain: "x".repeat(16 * 1024) });
    // Assess
    expect(firstIssue(pem)).toBe("tcb_info_issuer_chain: must be at most 16 KiB of PEM");
    expect(firstIssue(json)).toBe("qe_identity: must be at most 64 KiB");
    expect(firstIssue(pemAtCap)).toBe("ok");
  });
});

describe("TcbInfoJson and QeIdentityJson", () => {
  it("take the stand-in platform's signed texts", () => {
    expect(firstIssue(TcbInfoJson.safeParse(tcbInfo()))).toBe("ok");
    expect(firstIssue(QeIdentityJson.safeParse(qeIdentity()))).toBe("ok");
  });

  it("tdxModule's own tcbLevels are not read (dropped, whatever they hold): the TD module's levels come from tdxModuleIdentities", () => {
    // Prepare: a tdxModule carrying levels that would not parse as levels
    const t = tcbInfo();
    const tdxModule = { mrsigner: "00".repeat(48), attributes: "00".repeat(8), attributesMask: "ff".repeat(8) };
    // Act
    const r = TcbInfoJson.safeParse({ ...t, tdxModule: { ...tdxModule, tcbLevels: [{ not: "a level" }] } });
    // Assess
    expect(r.success).toBe(true);
    expect(r.data!.tdxModule).toEqual(tdxModule);
  });

  it("each of tdxModuleIdentities must have its id (tdxModule's is optional)", () => {
    // Prepare
    const identity = { mrsigner: "00".repeat(48), attributes: "00".repeat(8), attributesMask: "ff".repeat(8) };
    // Act
    const without = TcbInfoJson.safeParse({ ...tcbInfo(), tdxModuleIdentities: [identity] });
    const withId = TcbInfoJson.safeParse({ ...tcbInfo(), tdxModuleIdentities: [{ ...identity, id: "TDX_03" }] });
    const moduleWithout = TcbInfoJson.safeParse({ ...tcbInfo(), tdxModule: identity });
    // Assess
    expect(firstIssue(without)).toBe("tdxModuleIdentities.0.id: Invalid input: expected string, received undefined");
    expect(firstIssue(withId)).toBe("ok");
    expect(firstIssue(moduleWithout)).toBe("ok");
  });

  it("a QE identity needs at least one TCB level, and may have several", () => {
    // Prepare
    const q = qeIdentity();
    const level = (q.tcbLevels as unknown[])[0];
    // Act
    const none = QeIdentityJson.safeParse({ ...q, tcbLevels: [] });
    const two = QeIdentityJson.safeParse({ ...q, tcbLevels: [level, level] });
    // Assess
    expect(firstIssue(none)).toMatch(/^tcbLevels: Too small: expected array to have >=1 items?$/);
    expect(firstIssue(two)).toBe("ok");
  });
});
