/**
 * The agent's evidence end to end (session 32, report data v2): what `makeAttester` produces must
 * verify as produced, and a relay (the coordinator hands a worker's document to every requester's
 * SDK) that edits the model digests or issuedAt afterwards must be refused. Before v2 the quote
 * bound only the keys and the nonce, and every edit below was accepted.
 *
 * tdx quotes come from the stand-in TDX platform of test/fixtures/attestation/test-pki.ts: a
 * quote provider that writes the agent's 64 bytes of report data into a TD report and signs it
 * like the platform's QE would, under a test root the verifier trusts only through `rootCaPem`.
 */
import { describe, expect, it } from "vitest";
import type { AttestationDoc } from "../events/attestation";
import { localPolicy, type Policy } from "../core/attestation/policy";
import { TdxVerifierCache, verifyTdxQuote } from "../core/attestation/tdx/verify";
import { verifyAttestation, type AttestationContext } from "../core/attestation/verify";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { TEST_NOW, type TestPlatform } from "../test/fixtures/attestation/test-pki";
import { makeAttester } from "./attest";
import { standInTdx } from "./collateral-testing";

// ---------------------------------------------------------------- factories
const NOW = TEST_NOW.getTime();
const DIGEST_AB = "ab".repeat(32);
const DIGEST_CD = "cd".repeat(32);
const SERVED = { "llama-3": DIGEST_AB, qwen: DIGEST_CD };

function ctx(p: TestPlatform | undefined, over: Partial<AttestationContext> = {}): AttestationContext {
  return {
    policy: localPolicy,
    now: NOW,
    allowDev: true,
    allowNone: false,
    allowTestImages: true,
    ...(p
      ? {
          collateral: p.collateral,
          tdxCache: new TdxVerifierCache(),
          verifyTdx: (q: Uint8Array, o: Parameters<typeof verifyTdxQuote>[1]) => verifyTdxQuote(q, { ...o, rootCaPem: p.rootPem }),
        }
      : {}),
    ...over,
  };
}

/** An agent of `tier` serving SERVED, stamping its evidence a second before NOW; the document it answers `nonce` with. */
async function attested(tier: "tdx" | "dev", o: { reportDataVersion?: 1 | 2 } = {}) {
  const tdx = standInTdx();
  const nonce = new Uint8Array(32).fill(9);
  const attest = makeAttester({
    tier,
    signingKey: generateSigningKey(),
    kemKey: generateKemKey(),
    quoteProvider: tdx.provider,
    now: () => NOW - 1000,
    modelDigests: SERVED,
    ...o,
  });
  const doc = await attest(nonce);
  return { doc, nonce, platform: tier === "tdx" ? tdx.last() : undefined };
}

/** What a relay may try to change in a worker's document before passing it on. */
const RELAY_EDITS: Array<[string, (d: AttestationDoc) => AttestationDoc]> = [
  ["swaps a model's digest", (d) => ({ ...d, modelDigests: { ...d.modelDigests, "llama-3": DIGEST_CD } })],
  ["claims a model the worker does not serve", (d) => ({ ...d, modelDigests: { ...d.modelDigests, "mixtral-8x7b": DIGEST_AB } })],
  ["drops a model", (d) => ({ ...d, modelDigests: { qwen: DIGEST_CD } })],
  ["moves issuedAt to keep the evidence alive longer", (d) => ({ ...d, issuedAt: d.issuedAt + 120_000 })],
  [
    "swaps a digest and relabels the evidence v1",
    ({ reportDataVersion: _v, ...d }) => ({ ...d, modelDigests: { ...d.modelDigests, "llama-3": DIGEST_CD } }),
  ],
];

// ---------------------------------------------------------------- tdx
describe("agent evidence (tdx): the quote binds what the document says", () => {
  it("the document the agent makes verifies as made: genuine quote, its keys, nonce and model digests", async () => {
    // Prepare
    const { doc, nonce, platform } = await attested("tdx");
    // Act
    const r = await verifyAttestation(doc, ctx(platform, { expectedNonce: nonce }));
    // Assess
    expect(r).toMatchObject({ ok: true, tier: "tdx", imageName: "sample-dcap-qvl-tdx", modelDigests: SERVED });
  });

  it.each(RELAY_EDITS)("a relay that %s is refused (report_data_mismatch)", async (_what, edit) => {
    // Prepare
    const { doc, nonce, platform } = await attested("tdx");
    // Act
    const r = await verifyAttestation(edit(doc), ctx(platform, { expectedNonce: nonce }));
    // Assess
    expect(r).toMatchObject({ ok: false, code: "report_data_mismatch" });
  });

  it("an agent still sending v1 is refused where the policy requires v2 (report_data_v1_not_allowed)", async () => {
    // Prepare: evidence as images from before v2 make it
    const { doc, platform } = await attested("tdx", { reportDataVersion: 1 });
    const policy: Policy = { ...localPolicy, requireReportDataV2: true };
    // Act
    const tolerated = await verifyAttestation(doc, ctx(platform));
    const required = await verifyAttestation(doc, ctx(platform, { policy }));
    // Assess
    expect(tolerated).toMatchObject({ ok: true, tier: "tdx" });
    expect(required).toMatchObject({ ok: false, code: "report_data_v1_not_allowed" });
  });
});

// ---------------------------------------------------------------- dev
describe("agent evidence (dev, simulated): the same binding", () => {
  it("the document the agent makes verifies as made", async () => {
    const { doc, nonce } = await attested("dev");
    expect(await verifyAttestation(doc, ctx(undefined, { expectedNonce: nonce }))).toMatchObject({
      ok: true,
      tier: "dev",
      modelDigests: SERVED,
    });
  });

  it.each(RELAY_EDITS)("a relay that %s is refused", async (_what, edit) => {
    const { doc } = await attested("dev");
    const r = await verifyAttestation(edit(doc), ctx(undefined));
    expect(r).toMatchObject({ ok: false });
  });
});
