/**
 * Test factories for the SDK suites that stub the coordinator's API at ApiClient.request (nothing
 * leaves the process): a registry reading the test edits, a client on the test's clock, a dev
 * candidate and a withdrawal the coordinator signed. Shared by sdk-registry.test.ts and
 * sdk-mutants.test.ts. Imported by tests only.
 */
import { Address } from "@ton/core";
import { keyPairFromSeed } from "@ton/crypto";
import { createDevAttestation } from "../core/attestation/dev";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey, type SigningKeyPair } from "../core/crypto/keys";
import { DEV_IMAGE_DIGEST, PolicyCache, type PolicyReading, type RegistryFees } from "../core/policy-registry";
import type { Candidate } from "../events/api";
import type { SignedWithdrawalView } from "../events/withdrawals";
import { tonWithdrawalSigner } from "../functions/adapters/ton-withdrawal-signer";
import { CocoonClient } from "./sdk";

export const T0 = Date.parse("2026-03-01T00:00:00Z");
export const MODEL = "test/model";
export const FEES: RegistryFees = { pricePerToken: 100n, promptBps: 2_500, completionBps: 10_000, operatorFeeBps: 0 };
/** the key the registry names as the coordinator's, and one it does not */
export const coordinator = keyPairFromSeed(Buffer.alloc(32, 7));
export const impostor = keyPairFromSeed(Buffer.alloc(32, 8));
export const VAULT = Address.parse("0:" + "ab".repeat(32));

/** A registry reading source the test edits: its models, fees, images, coordinator key and chain time (`chainNow`, s). */
export function fakeRegistry(o: { models?: Record<string, bigint>; images?: string[]; coordinatorKey?: string } = {}) {
  const r = {
    models: { ...(o.models ?? {}) },
    fees: { ...FEES },
    images: o.images ?? [DEV_IMAGE_DIGEST],
    coordinatorKey: o.coordinatorKey ?? coordinator.publicKey.toString("hex"),
    chainNow: T0 / 1000,
  };
  const source = {
    async read(): Promise<PolicyReading> {
      return {
        version: 3,
        updatedAt: T0 / 1000,
        readAt: r.chainNow,
        policy: { coordinatorKey: r.coordinatorKey, fees: { ...r.fees }, images: [...r.images], models: { ...r.models } },
      };
    },
  };
  return { r, source };
}

/** The requester every stubbed client signs as (signedWithdrawal signs for its account unless told another). */
export const STUB_REQUESTER = generateSigningKey();

/**
 * A client on the test's clock reading `registry` (none: no registry), its API stubbed: `answers`
 * by path (starting from `initial`), any other path refused; `calls` records every path asked.
 */
export function stubbedClient(registry?: ReturnType<typeof fakeRegistry>, now = () => T0, initial: Array<[string, unknown]> = []) {
  const key = STUB_REQUESTER;
  const c = new CocoonClient({
    apiUrl: "http://127.0.0.1:9",
    key,
    allowDev: true,
    now,
    ...(registry ? { policyRegistry: new PolicyCache(registry.source, { refreshSeconds: 2, maxAgeSeconds: 60, now }) } : {}),
  });
  const calls: string[] = [];
  const answers = new Map<string, unknown>(initial);
  c.api.request = (async (route: { path: string }) => {
    calls.push(route.path);
    if (answers.has(route.path)) return answers.get(route.path);
    throw new Error(`stub: no answer for ${route.path}`);
  }) as typeof c.api.request;
  return { c, calls, answers, requester: key };
}

/** A dev candidate at 100 nanoTON a token (attesting `digest` for MODEL when given). */
export function devCandidate(digest?: string, signing: SigningKeyPair = generateSigningKey()): Candidate {
  const kem = generateKemKey();
  const attestation = createDevAttestation({
    hpkePublicKey: kem.publicKey,
    signingPublicKey: signing.publicKey,
    nonce: new Uint8Array(32),
    now: T0,
    ...(digest ? { modelDigests: { [MODEL]: digest } } : {}),
  });
  return { workerId: signing.id, hpkePublicKey: b64u.encode(kem.publicKey), attestation, pricePerToken: "100", tier: "dev" };
}

/**
 * A withdrawal of 0.005 TON to 0:cdcd… at `seqno` from the VAULT, signed with `secretKey` as the
 * coordinator signs one, for STUB_REQUESTER's account unless `over` names another (or asks otherwise).
 */
export async function signedWithdrawal(
  secretKey: Buffer,
  seqno = 0,
  over: { account?: string; to?: string; amount?: bigint } = {},
): Promise<SignedWithdrawalView> {
  const w = { account: STUB_REQUESTER.id, to: "0:" + "cd".repeat(32), amount: 5_000_000n, ...over, seqno, expiry: T0 / 1000 + 600 };
  const { signature } = await tonWithdrawalSigner(secretKey, VAULT).sign(w);
  return { vault: VAULT.toRawString(), ...w, amount: w.amount.toString(), signature };
}
