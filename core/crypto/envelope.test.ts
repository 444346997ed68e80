import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { EnvelopeHeader, ReplyEnvelope, RequestEnvelope } from "../../events/envelope";
import { b64u, canonicalJson, randomBytes, sha256Hex } from "./encoding";
import { EnvelopeError } from "./errors";
import { openReply, openRequest, replyHash, requestHash, sealReply, sealRequest } from "./envelope";
import { generateKemKey } from "./keys";
import { makeHeader, makeWorker, type TestWorker } from "./testing";

function envelopeError(f: () => unknown): EnvelopeError {
  try {
    f();
  } catch (e) {
    if (e instanceof EnvelopeError) return e;
    throw e;
  }
  throw new Error("expected EnvelopeError, nothing was thrown");
}

const text = (s: string) => new TextEncoder().encode(s);
const recipientsOf = (ws: TestWorker[]) => ws.map((w) => ({ workerId: w.workerId, hpkePublicKey: w.kem.publicKey }));
const me = (w: TestWorker) => ({ workerId: w.workerId, kem: w.kem });

describe("request envelope", () => {
  const workers = [makeWorker(), makeWorker(), makeWorker()];
  const header = makeHeader();
  const plaintext = text(JSON.stringify({ messages: [{ role: "user", content: "what is TON?" }] }));
  const env = sealRequest({ header, plaintext, recipients: recipientsOf(workers) });

  it("is schema-valid and every one of k=3 recipients opens it", () => {
    // Act
    const opened = workers.map((w) => Buffer.from(openRequest(env, me(w))).toString("utf8"));
    // Assess
    expect(RequestEnvelope.parse(env)).toEqual(env);
    expect(env.keys.map((k) => k.workerId)).toEqual(workers.map((w) => w.workerId));
    expect(b64u.decode(env.nonce).length).toBe(12);
    expect(b64u.decode(env.payload).length).toBe(plaintext.length + 16);
    expect(opened).toEqual(workers.map(() => Buffer.from(plaintext).toString("utf8")));
  });

  it("uses a fresh ephemeral key per recipient and a fresh data key per envelope", () => {
    // Act
    const again = sealRequest({ header, plaintext, recipients: recipientsOf(workers) });
    // Assess
    expect(new Set(env.keys.map((k) => k.enc)).size).toBe(3);
    expect(again.payload).not.toBe(env.payload);
    expect(again.nonce).not.toBe(env.nonce);
  });

  it("a worker that is not listed gets not_a_recipient", () => {
    // Act
    const err = envelopeError(() => openRequest(env, me(makeWorker())));
    // Assess
    expect(err.code).toBe("not_a_recipient");
  });

  it("a listed worker id with the wrong HPKE key gets key_unwrap_failed", () => {
    // Act
    const err = envelopeError(() => openRequest(env, { workerId: workers[0]!.workerId, kem: generateKemKey() }));
    // Assess
    expect(err.code).toBe("key_unwrap_failed");
  });

  const headerChanges: Array<[string, Partial<EnvelopeHeader>]> = [
    ["maxTokens", { maxTokens: header.maxTokens + 1 }],
    ["replyKey", { replyKey: b64u.encode(generateKemKey().publicKey) }],
    ["maxCost", { maxCost: "1500001" }],
    ["model", { model: "other/model" }],
    ["jobId", { jobId: makeHeader().jobId }],
  ];
  for (const [field, change] of headerChanges) {
    it(`a changed header.${field} breaks the open for every recipient (AAD binding)`, () => {
      // Prepare
      const tampered: typeof env = { ...env, header: { ...env.header, ...change } };
      // Act
      const codes = workers.map((w) => envelopeError(() => openRequest(tampered, me(w))).code);
      // Assess
      expect(codes).toEqual(["key_unwrap_failed", "key_unwrap_failed", "key_unwrap_failed"]);
    });
  }

  it("wrapped keys swapped between workers fail (the worker id is in the AAD)", () => {
    // Prepare
    const [a, b] = env.keys;
    const swapped: typeof env = {
      ...env,
      keys: [{ ...a!, enc: b!.enc, ct: b!.ct }, { ...b!, enc: a!.enc, ct: a!.ct }, env.keys[2]!],
    };
    const relabelled: typeof env = { ...env, keys: [{ ...a!, workerId: b!.workerId }, { ...b!, workerId: a!.workerId }, env.keys[2]!] };
    // Act
    const codes = [
      envelopeError(() => openRequest(swapped, me(workers[0]!))).code,
      envelopeError(() => openRequest(swapped, me(workers[1]!))).code,
      envelopeError(() => openRequest(relabelled, me(workers[0]!))).code,
    ];
    // Assess
    expect(codes).toEqual(["key_unwrap_failed", "key_unwrap_failed", "key_unwrap_failed"]);
    expect(Buffer.from(openRequest(swapped, me(workers[2]!))).equals(Buffer.from(plaintext))).toBe(true);
  });

  it("a changed payload or nonce gives payload_auth_failed", () => {
    // Prepare
    const payload = b64u.decode(env.payload);
    payload[0]! ^= 1;
    const nonce = b64u.decode(env.nonce);
    nonce[11]! ^= 1;
    // Act
    const codes = [
      envelopeError(() => openRequest({ ...env, payload: b64u.encode(payload) }, me(workers[0]!))).code,
      envelopeError(() => openRequest({ ...env, nonce: b64u.encode(nonce) }, me(workers[0]!))).code,
      envelopeError(() => openRequest({ ...env, nonce: b64u.encode(nonce.subarray(0, 8)) }, me(workers[0]!))).code,
      envelopeError(() => openRequest({ ...env, payload: "not base64!" }, me(workers[0]!))).code,
    ];
    // Assess
    expect(codes).toEqual(["payload_auth_failed", "payload_auth_failed", "payload_auth_failed", "payload_auth_failed"]);
  });

  it("a changed wrapped key ct or enc gives key_unwrap_failed", () => {
    // Prepare
    const ct = b64u.decode(env.keys[0]!.ct);
    ct[2]! ^= 1;
    const enc = b64u.decode(env.keys[0]!.enc);
    enc[2]! ^= 1;
    const withKey = (k: Partial<(typeof env.keys)[0]>) => ({ ...env, keys: [{ ...env.keys[0]!, ...k }, ...env.keys.slice(1)] });
    // Act
    const codes = [
      envelopeError(() => openRequest(withKey({ ct: b64u.encode(ct) }), me(workers[0]!))).code,
      envelopeError(() => openRequest(withKey({ enc: b64u.encode(enc) }), me(workers[0]!))).code,
      envelopeError(() => openRequest(withKey({ enc: "" }), me(workers[0]!))).code,
      envelopeError(() => openRequest(withKey({ ct: "%%" }), me(workers[0]!))).code,
    ];
    // Assess
    expect(codes).toEqual(["key_unwrap_failed", "key_unwrap_failed", "key_unwrap_failed", "key_unwrap_failed"]);
  });

  it.each([
    ["no recipients", []],
    ["nine recipients", Array.from({ length: 9 }, () => makeWorker())],
  ])("sealing to %s is refused with invalid_recipients", (_what, ws) => {
    // Act
    const err = envelopeError(() => sealRequest({ header, plaintext, recipients: recipientsOf(ws) }));
    // Assess
    expect(err.code).toBe("invalid_recipients");
  });

  it("sealing to a duplicate worker or a short key is refused with invalid_recipients", () => {
    // Prepare
    const w = workers[0]!;
    // Act
    const dup = envelopeError(() => sealRequest({ header, plaintext, recipients: recipientsOf([w, w]) }));
    const short = envelopeError(() =>
      sealRequest({ header, plaintext, recipients: [{ workerId: w.workerId, hpkePublicKey: new Uint8Array(16) }] }),
    );
    const lowOrder = envelopeError(() =>
      sealRequest({ header, plaintext, recipients: [{ workerId: w.workerId, hpkePublicKey: new Uint8Array(32) }] }),
    );
    // Assess
    expect([dup.code, short.code, lowOrder.code]).toEqual(["invalid_recipients", "invalid_recipients", "invalid_recipients"]);
  });

  it("requestHash is sha256 over the canonical envelope and changes with any field", () => {
    // Act
    const h = requestHash(env);
    // Assess
    expect(h).toBe(sha256Hex(canonicalJson(env)));
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(requestHash({ ...env, keys: [...env.keys].reverse() })).not.toBe(h);
    expect(requestHash({ ...env, header: { ...env.header, maxTokens: 1 } })).not.toBe(h);
  });

  it("property: for random plaintexts and headers, open(seal(x)) == x", () => {
    const w = workers[1]!;
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 4096 }),
        fc.record({
          maxTokens: fc.integer({ min: 1, max: 1_000_000 }),
          maxPromptTokens: fc.integer({ min: 1, max: 1_000_000 }),
          maxCost: fc.bigInt({ min: 0n, max: 10n ** 20n }).map(String),
          model: fc.stringMatching(/^[A-Za-z0-9._:/-]{1,64}$/),
        }),
        fc.integer({ min: 0, max: 2 }),
        (pt, fields, extra) => {
          // Prepare
          const h = makeHeader(fields);
          const others = Array.from({ length: extra }, () => makeWorker());
          // Act
          const sealed = sealRequest({ header: h, plaintext: pt, recipients: recipientsOf([...others, w]) });
          const out = openRequest(sealed, me(w));
          // Assess
          expect(EnvelopeHeader.safeParse(h).success).toBe(true);
          expect(Buffer.from(out).equals(Buffer.from(pt))).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("request envelope payloads across sizes (one staging buffer reused for the ciphertext)", () => {
  const workers = [makeWorker(), makeWorker(), makeWorker()];
  const header = makeHeader();
  const seal = (plaintext: Uint8Array) => sealRequest({ header, plaintext, recipients: recipientsOf(workers) });

  it("round trips payloads around the 64 KiB seal chunk and past the 8 MiB staging limit, in any order", () => {
    // Prepare: sizes that grow, shrink and cross the limit, so the staging buffer grows and is reused
    const sizes = [0, 1, 65_535, 65_536, 65_537, 1 << 20, 17, 9 << 20, 3 * 65_536 + 5, 1 << 20];
    const plaintexts = sizes.map((n) => randomBytes(n));
    // Act
    const envs = plaintexts.map(seal);
    const opened = envs.map((env, i) => openRequest(env, me(workers[i % 3]!)));
    // Assess
    expect(envs.map((env) => b64u.decode(env.payload).length)).toEqual(sizes.map((n) => n + 16));
    expect(opened.map((pt, i) => Buffer.from(pt).equals(plaintexts[i]!))).toEqual(sizes.map(() => true));
  });

  it("a plaintext that open returned stays intact through later seals and opens (no view of a reused buffer escapes)", () => {
    // Prepare
    const a = randomBytes(200_000);
    const b = randomBytes(300_000);
    const first = openRequest(seal(a), me(workers[0]!));
    const kept = Buffer.from(first);
    // Act
    const second = openRequest(seal(b), me(workers[1]!));
    // Assess
    expect(Buffer.from(first).equals(kept)).toBe(true);
    expect(Buffer.from(second).equals(b)).toBe(true);
    expect(first.buffer).not.toBe(second.buffer);
  });

  it("a changed byte deep in a 1 MB payload gives payload_auth_failed, and the next open still works", () => {
    // Prepare
    const plaintext = randomBytes(1 << 20);
    const env = seal(plaintext);
    const bytes = Buffer.from(b64u.decode(env.payload));
    bytes[700_000]! ^= 1;
    // Act
    const err = envelopeError(() => openRequest({ ...env, payload: b64u.encode(bytes) }, me(workers[2]!)));
    const after = openRequest(env, me(workers[2]!));
    // Assess
    expect(err.code).toBe("payload_auth_failed");
    expect(Buffer.from(after).equals(plaintext)).toBe(true);
  });

  it("a payload that is not a string gives payload_auth_failed, not a TypeError", () => {
    // Prepare
    const env = seal(randomBytes(10));
    // Act
    const err = envelopeError(() => openRequest({ ...env, payload: 42 as unknown as string }, me(workers[0]!)));
    // Assess
    expect(err.code).toBe("payload_auth_failed");
  });
});

describe("reply envelope", () => {
  const worker = makeWorker();
  const replyKey = generateKemKey();
  const header = makeHeader({ replyKey: b64u.encode(replyKey.publicKey) });
  const answer = text(
    JSON.stringify({ text: "TON is…", usage: { promptTokens: 5, completionTokens: 3 }, engine: "test", finishReason: "stop" }),
  );
  const reply = sealReply(header, worker.workerId, answer);

  it("round trips to the requester's one-time key", () => {
    // Act
    const out = openReply(reply, header, worker.workerId, replyKey);
    // Assess
    expect(ReplyEnvelope.parse(reply)).toEqual(reply);
    expect(Buffer.from(out).equals(Buffer.from(answer))).toBe(true);
    expect(replyHash(reply)).toBe(sha256Hex(canonicalJson(reply)));
  });

  it.each([
    ["another worker id", () => openReply(reply, header, makeWorker().workerId, replyKey)],
    ["another header", () => openReply(reply, { ...header, maxTokens: header.maxTokens + 1 }, worker.workerId, replyKey)],
    ["another reply key", () => openReply(reply, header, worker.workerId, generateKemKey())],
    [
      "a changed ct",
      () => openReply({ ...reply, ct: b64u.encode(randomBytes(b64u.decode(reply.ct).length)) }, header, worker.workerId, replyKey),
    ],
    ["a garbage enc", () => openReply({ ...reply, enc: "!!" }, header, worker.workerId, replyKey)],
  ])("with %s gives reply_auth_failed", (_what, f) => {
    // Act
    const err = envelopeError(f);
    // Assess
    expect(err.code).toBe("reply_auth_failed");
  });
});
