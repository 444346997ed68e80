/**
 * The SDK's cache of attestation verdicts (CocoonClient.verdicts) is bounded: every
 * re-attestation is a new document and a coordinator can invent them, so a long-running client
 * (cocoon serve) kept one entry per document it was ever shown.
 */
import { describe, expect, it } from "vitest";
import { createDevAttestation } from "../core/attestation/dev";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import type { Candidate } from "../events/api";
import { CocoonClient, MAX_VERDICTS } from "./sdk";
import { T0 } from "./sdk-stub-testing";

/** A dev worker's candidate with evidence of its own (a document no other candidate shares). */
function devCandidate(): Candidate {
  const signing = generateSigningKey();
  const kem = generateKemKey();
  const attestation = createDevAttestation({
    hpkePublicKey: kem.publicKey,
    signingPublicKey: signing.publicKey,
    nonce: new Uint8Array(32),
    now: T0,
  });
  return {
    workerId: b64u.encode(signing.publicKey),
    hpkePublicKey: b64u.encode(kem.publicKey),
    attestation,
    pricePerToken: "100",
    tier: "dev",
  };
}

describe("the SDK's verdict cache", () => {
  it(`keeps at most MAX_VERDICTS (${MAX_VERDICTS}) verdicts, however many documents it is shown, and still uses the recent ones`, async () => {
    // Prepare: a client that accepts dev workers, and more distinct documents than it keeps
    const client = new CocoonClient({ apiUrl: "http://127.0.0.1:9", key: generateSigningKey(), allowDev: true, now: () => T0 });
    const cands = Array.from({ length: MAX_VERDICTS + 8 }, devCandidate);
    // Act: each checked in its own job's candidate list, as a coordinator showing new documents would
    for (const c of cands) expect(await client.verifyCandidates([c], ["dev"])).toHaveLength(1);
    // Assess: bounded, and the latest is still answered from the cache
    const verdicts = (client as unknown as { verdicts: { size: number; has(k: string): boolean } }).verdicts;
    expect(verdicts.size).toBe(MAX_VERDICTS);
    expect(await client.verifyCandidates([cands.at(-1)!], ["dev"])).toHaveLength(1);
  });
});
