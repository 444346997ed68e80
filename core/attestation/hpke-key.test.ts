/**
 * Session 31 crypto review #2: a worker's attested HPKE key must be one a request can be sealed
 * to. Nothing checked it: a worker could register (tier none needs no evidence; dev evidence
 * anyone can sign) with a small-order X25519 key, and since sealRequest seals the data key to
 * every candidate at once, every requester whose candidate list held that worker failed to seal
 * at all. verifyAttestation (the coordinator's registration and the SDK's candidate check) now
 * refuses such a key: the coordinator does not list it, and an SDK drops it as a candidate.
 */
import { describe, expect, it } from "vitest";
import { b64u } from "../crypto/encoding";
import { sealRequest } from "../crypto/envelope";
import { recipientKeyProblem } from "../crypto/hpke";
import { generateKemKey, generateSigningKey } from "../crypto/keys";
import { makeHeader, SMALL_ORDER_X25519 } from "../crypto/testing";
import { issueRegistrationNonce, registerWorker } from "../workers";
import { MODEL, makeJobWorld } from "../jobs/testing";
import { createNoneAttestation } from "./dev";
import { localPolicy } from "./policy";
import { verifyAttestation } from "./verify";

const NOW = Date.parse("2025-06-25T00:00:00Z");

/** Factory: tier-none evidence for a fresh signing key and the HPKE key `hpke`. */
const noneDoc = (hpke: Uint8Array) =>
  createNoneAttestation({ hpkePublicKey: hpke, signingPublicKey: generateSigningKey().publicKey, nonce: new Uint8Array(32), now: NOW });

describe("session 31 #2: a worker's HPKE key must be one a request can be sealed to", () => {
  it("why it matters: one small-order candidate makes the whole request unsealable, for the honest candidates too", () => {
    // Prepare
    const honest = { workerId: generateSigningKey().id, hpkePublicKey: generateKemKey().publicKey };
    const bad = { workerId: generateSigningKey().id, hpkePublicKey: Buffer.from(SMALL_ORDER_X25519[2]!, "hex") };
    // Act / Assess
    expect(() => sealRequest({ header: makeHeader(), plaintext: new Uint8Array(8), recipients: [honest, bad] })).toThrow(/low-order/);
  });

  it.each(SMALL_ORDER_X25519)("evidence naming the HPKE key %s is refused (hpke_key_invalid)", async (point) => {
    // Act
    const r = await verifyAttestation(noneDoc(Buffer.from(point, "hex")), {
      policy: localPolicy,
      now: NOW,
      allowDev: false,
      allowNone: true,
    });
    // Assess
    expect(r).toMatchObject({ ok: false, code: "hpke_key_invalid" });
    expect(recipientKeyProblem(Buffer.from(point, "hex"))).toContain("small-order");
  });

  it("a real key passes (positive control), and so does its verdict", async () => {
    // Prepare
    const key = generateKemKey().publicKey;
    // Act
    const r = await verifyAttestation(noneDoc(key), { policy: localPolicy, now: NOW, allowDev: false, allowNone: true });
    // Assess
    expect(recipientKeyProblem(key)).toBeUndefined();
    expect(r).toMatchObject({ ok: true, tier: "none" });
  });

  it("registration with a small-order HPKE key is 403 attestation_hpke_key_invalid, and nothing is listed", async () => {
    // Prepare
    const w = makeJobWorld();
    const key = generateSigningKey();
    const { nonce } = await issueRegistrationNonce(w.deps, key.id);
    const attestation = createNoneAttestation({
      hpkePublicKey: Buffer.from(SMALL_ORDER_X25519[0]!, "hex"),
      signingPublicKey: key.publicKey,
      nonce: b64u.decode(nonce),
      now: w.clock.now(),
    });
    // Act
    const err = await registerWorker(w.deps, key.id, { attestation, models: [{ model: MODEL, priceBps: 10_000 }], capacity: 1 }).catch(
      (e: unknown) => e,
    );
    // Assess
    expect(err).toMatchObject({ status: 403, code: "attestation_hpke_key_invalid" });
  });
});
