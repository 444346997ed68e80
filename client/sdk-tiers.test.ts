/**
 * issue 14: the SDK's tier checks that no test made fail before (verifyCandidates' own are in
 * sdk-mutants.test.ts). The tiers a job asks the coordinator for by default (dev only with
 * allowDev); and the checks of FRESH evidence (freshAttestation, ask({ freshAttestation })): its
 * tier must be the one the coordinator registered and one the requester asked for, dev evidence
 * needs allowDev even when "dev" is asked for, and for a quoted candidate the evidence must bind
 * the keys and tier that candidate was verified with (its prompt is sealed to those), not
 * whatever the coordinator's challenge answer names; a challenge that brings no evidence, or
 * an abort, is told apart from evidence that failed. The coordinator's API is stubbed at
 * ApiClient.request (nothing leaves the process); the worker's evidence is made for the nonce the
 * SDK sent, as an honest or a lying worker would.
 */
import { describe, expect, it, vi } from "vitest";
import { createDevAttestation } from "../core/attestation/dev";
import type * as Verify from "../core/attestation/verify";
import { verifyAttestation } from "../core/attestation/verify";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey, type KemKeyPair, type SigningKeyPair } from "../core/crypto/keys";
import type { Candidate } from "../events/api";
import type { AttestationDoc, AttestationTier } from "../events/attestation";
import { throwIfAborted } from "../api-client/api";
import { CocoonClient, type SealableRequest, sealableRequestOf, VerificationError } from "./sdk";
import { T0 } from "./sdk-stub-testing";

// verifyAttestation still runs; one test makes it answer a tdx verdict (no TDX quote is needed to
// test what the SDK does with one)
vi.mock("../core/attestation/verify", async (importOriginal) => {
  const actual = await importOriginal<typeof Verify>();
  return { ...actual, verifyAttestation: vi.fn(actual.verifyAttestation) };
});

const CHALLENGE_ID = "chl_" + "a".repeat(26);

interface Worker {
  signing: SigningKeyPair;
  kem: KemKeyPair;
}
const newWorker = (): Worker => ({ signing: generateSigningKey(), kem: generateKemKey() });

/**
 * Factory: a client (allowDev unless told otherwise) whose coordinator registered `registered`
 * (keys and tier) for the worker, and whose worker answers each challenge with `answer(nonce)`.
 */
function world(o: {
  registered: { hpkePublicKey: string; tier: AttestationTier };
  answer: (nonce: Uint8Array) => AttestationDoc;
  allowDev?: boolean;
  /** what GET /v1/attestations/{id} answers instead of the answered challenge */
  view?: object;
}) {
  const c = new CocoonClient({ apiUrl: "http://127.0.0.1:9", key: generateSigningKey(), allowDev: o.allowDev ?? true, now: () => T0 });
  let nonce: Uint8Array | undefined;
  c.api.request = (async (route: { path: string }, req: { body?: { workerId: string; nonce: string }; signal?: AbortSignal }) => {
    throwIfAborted(req.signal);
    if (route.path === "/v1/attestations") {
      nonce = b64u.decode(req.body!.nonce);
      return { challengeId: CHALLENGE_ID, expiresAt: T0 + 60_000, workerId: req.body!.workerId, ...o.registered };
    }
    if (route.path === "/v1/attestations/{id}")
      return (
        o.view ?? { challengeId: CHALLENGE_ID, workerId: "w", status: "answered", expiresAt: T0 + 60_000, attestation: o.answer(nonce!) }
      );
    throw new Error(`stub: no answer for ${route.path}`);
  }) as typeof c.api.request;
  return c;
}

/** Dev evidence of `w` bound to `nonce` (with `hpke` as its HPKE key: the worker's own unless given). */
const devEvidence = (w: Worker, nonce: Uint8Array, hpke: Uint8Array = w.kem.publicKey) =>
  createDevAttestation({ hpkePublicKey: hpke, signingPublicKey: w.signing.publicKey, nonce, now: T0 });

const hpkeOf = (w: Worker) => b64u.encode(w.kem.publicKey);

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => "accepted",
    (e: unknown) => (e instanceof VerificationError ? { code: e.code, message: e.message } : e),
  );

describe("freshAttestation: the tier of fresh evidence", () => {
  it("evidence of the tier the coordinator registered and the requester asked for is accepted (the control)", async () => {
    // Prepare
    const w = newWorker();
    const c = world({ registered: { hpkePublicKey: hpkeOf(w), tier: "dev" }, answer: (n) => devEvidence(w, n) });

    // Act
    const fresh = await c.freshAttestation(w.signing.id, { tiers: ["tdx", "dev"] });

    // Assess
    expect(fresh).toMatchObject({ ok: true, tier: "dev", workerId: w.signing.id, challengeId: CHALLENGE_ID });
  });

  it("evidence of another tier than the registered one is refused, though the requester accepts both tiers", async () => {
    // Prepare: registered as tdx, answers with (valid) dev evidence
    const w = newWorker();
    const c = world({ registered: { hpkePublicKey: hpkeOf(w), tier: "tdx" }, answer: (n) => devEvidence(w, n) });

    // Act
    const r = await refusal(c.freshAttestation(w.signing.id, { tiers: ["tdx", "dev"] }));

    // Assess
    expect(r).toEqual({
      code: "stale_or_forged_evidence",
      message: `worker ${w.signing.id.slice(0, 8)}'s fresh evidence is refused: tier dev differs from the registered tier tdx or was not requested`,
    });
  });

  it("evidence of a tier the requester did not ask for is refused, though it is the registered tier and verifies", async () => {
    // Prepare: the worker is registered as tdx and its evidence verifies as tdx; the requester asks for dev only
    const w = newWorker();
    const c = world({ registered: { hpkePublicKey: hpkeOf(w), tier: "tdx" }, answer: (n) => devEvidence(w, n) });
    vi.mocked(verifyAttestation).mockResolvedValueOnce({ ok: true, tier: "tdx", measurement: "ab".repeat(48), expiresAt: T0 + 60_000 });

    // Act
    const r = await refusal(c.freshAttestation(w.signing.id, { tiers: ["dev"] }));

    // Assess
    expect(r).toMatchObject({
      code: "stale_or_forged_evidence",
      message: expect.stringContaining("tier tdx differs from the registered tier tdx or was not requested"),
    });
  });

  it("dev evidence is refused by a client without allowDev, even when the call asks for the dev tier", async () => {
    // Prepare
    const w = newWorker();
    const c = world({ registered: { hpkePublicKey: hpkeOf(w), tier: "dev" }, answer: (n) => devEvidence(w, n), allowDev: false });

    // Act
    const r = await refusal(c.freshAttestation(w.signing.id, { tiers: ["dev"] }));

    // Assess
    expect(r).toMatchObject({ code: "stale_or_forged_evidence", message: expect.stringContaining("dev_not_allowed") });
  });
});

describe("freshAttestation: the keys fresh evidence binds", () => {
  it("evidence from another signing key (binding the worker's registered HPKE key and our nonce) is refused", async () => {
    // Prepare: someone else's TEE answers the challenge sent to w
    const w = newWorker();
    const other = newWorker();
    const c = world({
      registered: { hpkePublicKey: hpkeOf(w), tier: "dev" },
      answer: (n) => createDevAttestation({ hpkePublicKey: w.kem.publicKey, signingPublicKey: other.signing.publicKey, nonce: n, now: T0 }),
    });

    // Act
    const r = await refusal(c.freshAttestation(w.signing.id, { tiers: ["dev"] }));

    // Assess
    expect(r).toEqual({
      code: "stale_or_forged_evidence",
      message: `worker ${w.signing.id.slice(0, 8)}'s fresh evidence is refused: it binds other keys than the worker's registered ones (signing key = worker id, HPKE key)`,
    });
  });
});

describe("freshAttestation: a challenge without evidence", () => {
  it("one the coordinator reports expired is challenge_expired; one answered without a document is challenge_timeout (not a crash)", async () => {
    // Prepare
    const w = newWorker();
    const base = { registered: { hpkePublicKey: hpkeOf(w), tier: "dev" as const }, answer: (n: Uint8Array) => devEvidence(w, n) };
    const expired = world({ ...base, view: { challengeId: CHALLENGE_ID, workerId: w.signing.id, status: "expired", expiresAt: T0 } });
    const empty = world({
      ...base,
      view: { challengeId: CHALLENGE_ID, workerId: w.signing.id, status: "answered", expiresAt: T0 + 60_000 },
    });

    // Act
    const a = await refusal(expired.freshAttestation(w.signing.id, { tiers: ["dev"], timeoutMs: 1_000 }));
    const b = await refusal(empty.freshAttestation(w.signing.id, { tiers: ["dev"], timeoutMs: 1_000 }));

    // Assess
    expect(a).toMatchObject({
      code: "challenge_expired",
      message: expect.stringContaining(`did not answer attestation challenge ${CHALLENGE_ID} before it expired`),
    });
    expect(b).toMatchObject({ code: "challenge_timeout", message: expect.stringContaining("within 1000 ms") });
  });
});

describe("ask({ freshAttestation }): fresh evidence of a quoted candidate", () => {
  /** The SDK's private step, by name (as scripts/mutation.ts names methods). */
  type Fresh = (
    cands: Array<Candidate & { measurement: string }>,
    tiers: AttestationTier[],
    timeoutMs: number,
    signal?: AbortSignal,
  ) => Promise<unknown>;
  const freshCandidates = (c: CocoonClient): Fresh => (c as unknown as { freshCandidates: Fresh }).freshCandidates.bind(c);

  /** The worker as it was quoted and verified: its keys, its tier. */
  const quoted = (w: Worker, tier: AttestationTier = "dev"): Candidate & { measurement: string } => ({
    workerId: w.signing.id,
    hpkePublicKey: hpkeOf(w),
    attestation: devEvidence(w, new Uint8Array(32)),
    pricePerToken: "100",
    tier,
    measurement: "dev-simulated",
  });

  it("must bind the HPKE key the candidate was verified with: a challenge answer naming another key (and evidence for it) is refused", async () => {
    // Prepare: the coordinator's challenge answer and the fresh evidence both name a key the prompt would not be sealed to
    const w = newWorker();
    const swapped = generateKemKey();
    const c = world({
      registered: { hpkePublicKey: b64u.encode(swapped.publicKey), tier: "dev" },
      answer: (n) => devEvidence(w, n, swapped.publicKey),
    });

    // Act
    const r = await refusal(freshCandidates(c)([quoted(w)], ["dev"], 1_000));

    // Assess
    expect(r).toMatchObject({
      code: "no_verified_candidates",
      message: expect.stringContaining("it binds other keys than the worker's registered ones"),
    });
  });

  it("must be of the tier the candidate was verified as: a challenge answer registering another tier (and evidence of it) is refused", async () => {
    // Prepare: quoted as tdx; the coordinator now says dev and the worker answers with dev evidence
    const w = newWorker();
    const c = world({ registered: { hpkePublicKey: hpkeOf(w), tier: "dev" }, answer: (n) => devEvidence(w, n) });

    // Act
    const r = await refusal(freshCandidates(c)([quoted(w, "tdx")], ["tdx", "dev"], 1_000));
    const control = await freshCandidates(c)([quoted(w, "dev")], ["tdx", "dev"], 1_000);

    // Assess
    expect(r).toMatchObject({
      code: "no_verified_candidates",
      message: expect.stringContaining("tier dev differs from the registered tier tdx"),
    });
    expect(control).toEqual([{ candidate: quoted(w, "dev"), fresh: expect.objectContaining({ ok: true, tier: "dev" }) }]);
  });

  it("an abort that gave up every challenge is reported as the abort, not as candidates that failed", async () => {
    // Prepare
    const w = newWorker();
    const c = world({ registered: { hpkePublicKey: hpkeOf(w), tier: "dev" }, answer: (n) => devEvidence(w, n) });
    const stop = new AbortController();
    stop.abort();

    // Act
    const r = await freshCandidates(c)([quoted(w)], ["dev"], 1_000, stop.signal).catch((e: unknown) => e);

    // Assess
    expect(r).toBe(stop.signal.reason);
  });
});

describe("the tiers a job asks the coordinator for", () => {
  /** The SDK's private step, by name: a job's quote and verified candidates. */
  type Prepare = (o: { model: string }, request: SealableRequest, limits: object, use: "cache", deadline: number) => Promise<unknown>;

  /** Factory: the body of the prepare a client with `allowDev` sends for a job that names no tiers. */
  async function preparedBody(allowDev: boolean | undefined) {
    const c = new CocoonClient({
      apiUrl: "http://127.0.0.1:9",
      key: generateSigningKey(),
      now: () => T0,
      ...(allowDev === undefined ? {} : { allowDev }),
    });
    const bodies: unknown[] = [];
    c.api.request = (async (route: { path: string }, req: { body?: unknown }) => {
      if (route.path === "/v1/jobs/prepare") bodies.push(req.body);
      throw new Error("stub: stop here");
    }) as typeof c.api.request;
    const prepare = (c as unknown as { prepare: Prepare }).prepare.bind(c);
    const request = sealableRequestOf({ model: "test/model", messages: [{ role: "user", content: "hi" }] }, false);
    await prepare({ model: "test/model" }, request, { maxTokens: 16, maxPromptTokens: 16 }, "cache", T0 + 60_000).catch(() => undefined);
    return bodies;
  }

  it("tdx only by default; tdx and dev with allowDev; never the not-confidential tier unless asked for", async () => {
    // Act
    const strict = await preparedBody(undefined);
    const off = await preparedBody(false);
    const dev = await preparedBody(true);

    // Assess
    expect(strict).toEqual([expect.objectContaining({ tiers: ["tdx"] })]);
    expect(off).toEqual([expect.objectContaining({ tiers: ["tdx"] })]);
    expect(dev).toEqual([expect.objectContaining({ tiers: ["tdx", "dev"] })]);
  });
});

/**
 * The wait for a challenge's answer (killing the survivors of `npm run mutation -- client/sdk.ts#challenge`):
 * each GET long-polls for at most 20 s and never past the caller's deadline, a pending view is
 * asked again, and a worker that never answers ends at the deadline as challenge_timeout.
 */
describe("freshAttestation: waiting for the worker's answer", () => {
  /** A client whose clock the stub moves: each GET of the challenge takes `pollMs`, and answers `views[i]` (pending past the list's end). */
  function pollingWorld(w: Worker, views: Array<"pending" | "answered">, pollMs: number) {
    let now = T0;
    const c = new CocoonClient({ apiUrl: "http://127.0.0.1:9", key: generateSigningKey(), allowDev: true, now: () => now });
    let nonce: Uint8Array | undefined;
    const waits: number[] = [];
    c.api.request = (async (route: { path: string }, req: { body?: { workerId: string; nonce: string }; query?: { wait?: number } }) => {
      if (route.path === "/v1/attestations") {
        nonce = b64u.decode(req.body!.nonce);
        return { challengeId: CHALLENGE_ID, expiresAt: T0 + 600_000, workerId: req.body!.workerId, hpkePublicKey: hpkeOf(w), tier: "dev" };
      }
      if (route.path === "/v1/attestations/{id}") {
        waits.push(req.query?.wait as number);
        now += pollMs;
        const status = views[waits.length - 1] ?? "pending";
        return status === "answered"
          ? { challengeId: CHALLENGE_ID, workerId: "w", status, expiresAt: T0 + 600_000, attestation: devEvidence(w, nonce!) }
          : { challengeId: CHALLENGE_ID, workerId: "w", status, expiresAt: T0 + 600_000 };
      }
      throw new Error(`stub: no answer for ${route.path}`);
    }) as typeof c.api.request;
    return { c, waits };
  }

  it("asks again while the challenge is pending, each long-poll for the time left in whole seconds, at most 20", async () => {
    // Prepare: pending twice (each GET takes 20 s of the clock), then answered
    const w = newWorker();
    const { c, waits } = pollingWorld(w, ["pending", "pending", "answered"], 20_000);

    // Act
    const fresh = await c.freshAttestation(w.signing.id, { tiers: ["dev"], timeoutMs: 45_500 });

    // Assess: 45.5 s left → 20 (the cap), 25.5 s → 20, 5.5 s → 6 (rounded up)
    expect(fresh).toMatchObject({ ok: true, tier: "dev" });
    expect(waits).toEqual([20, 20, 6]);
  });

  it("a worker that never answers ends at the deadline as challenge_timeout, not before and not never", async () => {
    // Prepare: always pending; each GET takes 10 s
    const w = newWorker();
    const { c, waits } = pollingWorld(w, [], 10_000);

    // Act
    const r = await refusal(c.freshAttestation(w.signing.id, { tiers: ["dev"], timeoutMs: 30_000 }));

    // Assess: three polls (30, 20, 10 s left), the third ending exactly at the deadline: no fourth of 0 s
    expect(r).toMatchObject({ code: "challenge_timeout" });
    expect(waits).toEqual([20, 20, 10]);
  });
});
