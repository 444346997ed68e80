/**
 * Edges of core/crypto/envelope.ts that envelope.test.ts leaves open: known-answer vectors
 * (fixtures/envelope-v1.json) that pin the wire format (info strings, AAD form, payload AEAD),
 * opened by the code and independently of it; the recipient limits; every way an envelope
 * does not open, with its code and message; the staging buffer's growth; the data key's
 * zeroisation.
 */
import { createDecipheriv } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { EnvelopeHeader, RequestEnvelope, SealedReply } from "../../events/envelope";
import vectors from "./fixtures/envelope-v1.json";
import { b64u, canonicalJson, randomBytes } from "./encoding";
import { CryptoInputError, EnvelopeError, HpkeOpenError } from "./errors";
import { MAX_RECIPIENTS, openReply, openRequest, replyHash, requestHash, sealReply, sealRequest, type Recipient } from "./envelope";
import { deriveKeyPair, hpkeOpen, hpkeSeal } from "./hpke";
import { generateKemKey, signingKeyFromSeed, type KemKeyPair } from "./keys";
import { makeHeader, makeWorker, type TestWorker, thrown } from "./testing";

const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);
const isZero = (b: Uint8Array) => b.every((x) => x === 0);

function envelopeError(f: () => unknown): EnvelopeError {
  try {
    f();
  } catch (e) {
    if (e instanceof EnvelopeError) return e;
    throw e;
  }
  throw new Error("expected EnvelopeError, nothing was thrown");
}

const recipientsOf = (ws: TestWorker[]): Recipient[] => ws.map((w) => ({ workerId: w.workerId, hpkePublicKey: w.kem.publicKey }));
const me = (w: TestWorker) => ({ workerId: w.workerId, kem: w.kem });

/** A fresh envelope sealed to `n` new workers. */
function makeSealed(n = 2, plaintext: Uint8Array = text('{"messages":[]}')) {
  const workers = Array.from({ length: n }, () => makeWorker());
  const header = makeHeader();
  return { workers, header, plaintext, env: sealRequest({ header, plaintext, recipients: recipientsOf(workers) }) };
}

/** `env` with its first wrapped key changed. */
const withKey0 = (env: RequestEnvelope, k: Partial<RequestEnvelope["keys"][number]>): RequestEnvelope => ({
  ...env,
  keys: [{ ...env.keys[0]!, ...k }, ...env.keys.slice(1)],
});

/** The AAD of a wrapped data key or a sealed reply, as docs/architecture.md §6 defines it: canonical header + "\n" + workerId. */
const workerAad = (header: EnvelopeHeader, workerId: string) => text(`${canonicalJson(header)}\n${workerId}`);

describe("envelope: test vectors (core/crypto/fixtures/envelope-v1.json)", () => {
  const v = vectors;
  const header = EnvelopeHeader.parse(v.inputs.header);
  const env = RequestEnvelope.parse(v.outputs.envelope);
  const reply = SealedReply.parse(v.outputs.reply);
  const workerIds = v.inputs.workers.map((w) => signingKeyFromSeed(hex(w.seed)).id);
  const kems = v.inputs.workers.map((w) => deriveKeyPair(hex(w.ikm)));
  const replyKey = deriveKeyPair(hex(v.inputs.ikmReply));

  it("the inputs give the stored worker ids, HPKE keys, reply key and AADs", () => {
    // Act
    const headerAad = canonicalJson(header);
    // Assess
    expect(workerIds).toEqual(v.derived.workerIds);
    expect(kems.map((k) => toHex(k.publicKey))).toEqual(v.derived.pkRs);
    expect(toHex(replyKey.publicKey)).toBe(v.derived.replyPk);
    expect(header.replyKey).toBe(b64u.encode(replyKey.publicKey));
    expect(headerAad).toBe(v.derived.headerAad);
    expect(workerIds.map((id) => `${headerAad}\n${id}`)).toEqual(v.derived.keyAads);
    expect(`${headerAad}\n${workerIds[0]}`).toBe(v.derived.replyAad);
    expect([v.derived.requestKeyInfo, v.derived.replyInfo]).toEqual(["cocoon/v1/request-key", "cocoon/v1/reply"]);
    expect(env.header).toEqual(header);
    expect(env.keys.map((k) => k.workerId)).toEqual(workerIds);
  });

  it("each recipient opens the stored envelope, and the requester the stored reply of workers[0]", () => {
    // Act
    const opened = workerIds.map((workerId, i) => str(openRequest(env, { workerId, kem: kems[i]! })));
    const answer = str(openReply(reply, header, workerIds[0]!, replyKey));
    // Assess
    expect(opened).toEqual([v.inputs.plaintext, v.inputs.plaintext]);
    expect(answer).toBe(v.inputs.replyPlaintext);
  });

  it("requestHash and replyHash of the stored envelope and reply are the stored hashes", () => {
    // Act
    const hashes = [requestHash(env), replyHash(reply)];
    // Assess
    expect(hashes).toEqual([v.outputs.requestHash, v.outputs.replyHash]);
  });

  it('opened without envelope.ts: HPKE info "cocoon/v1/request-key" unwraps the data key, node:crypto ChaCha20-Poly1305 opens the payload', () => {
    // Prepare
    const headerAad = text(canonicalJson(header));
    const payload = b64u.decode(env.payload);
    const tag = payload.length - 16;
    // Act
    const dataKeys = env.keys.map((k, i) =>
      hpkeOpen(kems[i]!, b64u.decode(k.enc), "cocoon/v1/request-key", workerAad(header, k.workerId), b64u.decode(k.ct)),
    );
    const d = createDecipheriv("chacha20-poly1305", dataKeys[0]!, b64u.decode(env.nonce), { authTagLength: 16 });
    d.setAAD(headerAad, { plaintextLength: tag });
    d.setAuthTag(payload.subarray(tag));
    const pt = Buffer.concat([d.update(payload.subarray(0, tag)), d.final()]).toString("utf8");
    // Assess
    expect(dataKeys.map(toHex)).toEqual([v.derived.dataKey, v.derived.dataKey]);
    expect(b64u.decode(env.nonce).length).toBe(12);
    expect(pt).toBe(v.inputs.plaintext);
    // the info is part of the wire format: the same bytes under any other info do not open
    const k0 = env.keys[0]!;
    for (const info of ["", "cocoon/v1/reply", "cocoon/v1/request-key\n"]) {
      expect(() => hpkeOpen(kems[0]!, b64u.decode(k0.enc), info, workerAad(header, k0.workerId), b64u.decode(k0.ct))).toThrow(
        HpkeOpenError,
      );
    }
  });

  it('opened without envelope.ts: HPKE info "cocoon/v1/reply" with AAD header + "\\n" + workerId opens the reply', () => {
    // Act
    const answer = str(
      hpkeOpen(replyKey, b64u.decode(reply.enc), "cocoon/v1/reply", workerAad(header, workerIds[0]!), b64u.decode(reply.ct)),
    );
    // Assess
    expect(answer).toBe(v.inputs.replyPlaintext);
    expect(() => hpkeOpen(replyKey, b64u.decode(reply.enc), "", workerAad(header, workerIds[0]!), b64u.decode(reply.ct))).toThrow(
      HpkeOpenError,
    );
  });

  it("an independent HPKE (@hpke/core) unwraps the same data key and opens the same reply", async () => {
    // Prepare
    const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Chacha20Poly1305() });
    const theirs = await Promise.all(v.inputs.workers.map((w) => suite.kem.deriveKeyPair(hex(w.ikm))));
    const theirReplyKey = await suite.kem.deriveKeyPair(hex(v.inputs.ikmReply));
    // Act
    const dataKeys = await Promise.all(
      env.keys.map((k, i) =>
        suite.open(
          { recipientKey: theirs[i]!.privateKey, enc: b64u.decode(k.enc), info: text("cocoon/v1/request-key") },
          b64u.decode(k.ct),
          text(v.derived.keyAads[i]!),
        ),
      ),
    );
    const answer = await suite.open(
      { recipientKey: theirReplyKey.privateKey, enc: b64u.decode(reply.enc), info: text("cocoon/v1/reply") },
      b64u.decode(reply.ct),
      text(v.derived.replyAad),
    );
    // Assess
    expect(dataKeys.map((k) => toHex(new Uint8Array(k)))).toEqual([v.derived.dataKey, v.derived.dataKey]);
    expect(str(new Uint8Array(answer))).toBe(v.inputs.replyPlaintext);
  });
});

describe("sealRequest: recipients", () => {
  const header = makeHeader();
  const plaintext = text("hello");

  it(`seals to exactly MAX_RECIPIENTS (${MAX_RECIPIENTS}) workers, each of whom opens it`, () => {
    // Prepare
    const workers = Array.from({ length: MAX_RECIPIENTS }, () => makeWorker());
    // Act
    const env = sealRequest({ header, plaintext, recipients: recipientsOf(workers) });
    const opened = workers.map((w) => str(openRequest(env, me(w))));
    // Assess
    expect(MAX_RECIPIENTS).toBe(8);
    expect(RequestEnvelope.safeParse(env).success).toBe(true);
    expect(opened).toEqual(workers.map(() => "hello"));
  });

  it("refuses one more than MAX_RECIPIENTS with invalid_recipients, saying the limit and the count", () => {
    // Prepare
    const workers = Array.from({ length: MAX_RECIPIENTS + 1 }, () => makeWorker());
    // Act
    const err = envelopeError(() => sealRequest({ header, plaintext, recipients: recipientsOf(workers) }));
    // Assess
    expect(err.code).toBe("invalid_recipients");
    expect(err.message).toBe("a request needs 1 to 8 recipients, got 9");
  });

  it("refuses a worker listed twice, naming it", () => {
    // Prepare
    const w = makeWorker();
    // Act
    const err = envelopeError(() => sealRequest({ header, plaintext, recipients: recipientsOf([w, makeWorker(), w]) }));
    // Assess
    expect(err.code).toBe("invalid_recipients");
    expect(err.message).toBe(`worker ${w.workerId} is listed twice; list each candidate once`);
  });

  it.each([0, 16, 31, 33, 64])("refuses a %i-byte HPKE key before wrapping, naming the worker and the length", (n) => {
    // Prepare
    const [good, bad] = [makeWorker(), makeWorker()];
    const recipients = [...recipientsOf([good]), { workerId: bad.workerId, hpkePublicKey: randomBytes(n) }];
    // Act
    const err = envelopeError(() => sealRequest({ header, plaintext, recipients }));
    // Assess: the length check's own message, not HPKE's ("must be 32 bytes, got n") passed through
    expect(err.code).toBe("invalid_recipients");
    expect(err.message).toBe(`worker ${bad.workerId} has a ${n}-byte HPKE key; X25519 keys are 32 bytes`);
  });

  it("a key that HPKE refuses (a low-order point) is invalid_recipients, naming the worker, with HPKE's reason", () => {
    // Prepare
    const w = makeWorker();
    // Act
    const err = envelopeError(() =>
      sealRequest({ header, plaintext, recipients: [{ workerId: w.workerId, hpkePublicKey: new Uint8Array(32) }] }),
    );
    // Assess
    expect(err.code).toBe("invalid_recipients");
    expect(err.message).toMatch(new RegExp(`^worker ${w.workerId}: HPKE recipient public key is a low-order X25519 point`));
  });

  it("an error from wrapping that is not a CryptoInputError (a number[] passed as the key) propagates as is", () => {
    // Prepare: a caller's type error, not the recipient's bad key
    const w = makeWorker();
    const recipients = [{ workerId: w.workerId, hpkePublicKey: Array.from(w.kem.publicKey) as unknown as Uint8Array }];
    // Act
    const err = thrown(() => sealRequest({ header, plaintext, recipients }));
    // Assess
    expect(err).toBeInstanceOf(TypeError);
    expect(err).not.toBeInstanceOf(EnvelopeError);
  });
});

describe("openRequest: what does not open, with its code and message", () => {
  it.each([
    ["wrapped key enc", "key_unwrap_failed", (env: RequestEnvelope) => withKey0(env, { enc: "!!" })],
    ["wrapped key ct", "key_unwrap_failed", (env: RequestEnvelope) => withKey0(env, { ct: "a+b/" })],
    ["payload nonce", "payload_auth_failed", (env: RequestEnvelope) => ({ ...env, nonce: "AAAAAAAAAAAAAAA=" })],
    ["payload", "payload_auth_failed", (env: RequestEnvelope) => ({ ...env, payload: `${env.payload}=` })],
  ])("a %s that is not base64url gives %s, naming the field", (what, code, change) => {
    // Prepare
    const s = makeSealed();
    // Act
    const err = envelopeError(() => openRequest(change(s.env), me(s.workers[0]!)));
    // Assess
    expect(err.code).toBe(code);
    expect(err.message).toMatch(new RegExp(`^${what} is not valid base64url: `));
  });

  it("a payload given as bytes instead of its base64url string gives payload_auth_failed", () => {
    // Prepare
    const s = makeSealed();
    const bytes = b64u.decode(s.env.payload) as unknown as string;
    // Act
    const err = envelopeError(() => openRequest({ ...s.env, payload: bytes }, me(s.workers[0]!)));
    // Assess
    expect(err.code).toBe("payload_auth_failed");
    expect(err.message).toBe("payload is not valid base64url: expected a base64url string, got object");
  });

  it("a worker with no wrapped key gets not_a_recipient, naming it and the count", () => {
    // Prepare
    const s = makeSealed(3);
    const stranger = makeWorker();
    // Act
    const err = envelopeError(() => openRequest(s.env, me(stranger)));
    // Assess
    expect(err.code).toBe("not_a_recipient");
    expect(err.message).toBe(`this envelope has no key for worker ${stranger.workerId}; it was sealed to 3 other worker(s)`);
  });

  it("the wrong HPKE key gives key_unwrap_failed with its reason", () => {
    // Prepare
    const s = makeSealed();
    // Act
    const err = envelopeError(() => openRequest(s.env, { workerId: s.workers[0]!.workerId, kem: generateKemKey() }));
    // Assess
    expect(err.code).toBe("key_unwrap_failed");
    expect(err.message).toMatch(/^the data key did not open with this worker's HPKE key/);
  });

  it.each([0, 16, 31, 33])("a wrapped data key of %i bytes (sealed to the worker with hpke.ts directly) gives key_unwrap_failed", (n) => {
    // Prepare: a well-formed HPKE wrap, to the right worker, under the right info and AAD, of the wrong length
    const s = makeSealed();
    const w = s.workers[0]!;
    const wrap = hpkeSeal(w.kem.publicKey, "cocoon/v1/request-key", workerAad(s.header, w.workerId), randomBytes(n));
    // Act
    const err = envelopeError(() => openRequest(withKey0(s.env, { enc: b64u.encode(wrap.enc), ct: b64u.encode(wrap.ct) }), me(w)));
    // Assess
    expect(err.code).toBe("key_unwrap_failed");
    expect(err.message).toBe(`unwrapped data key is ${n} bytes, expected 32`);
  });

  it("a well-wrapped 32-byte key that is not the data key gives payload_auth_failed with its reason", () => {
    // Prepare
    const s = makeSealed();
    const w = s.workers[0]!;
    const wrap = hpkeSeal(w.kem.publicKey, "cocoon/v1/request-key", workerAad(s.header, w.workerId), randomBytes(32));
    // Act
    const err = envelopeError(() => openRequest(withKey0(s.env, { enc: b64u.encode(wrap.enc), ct: b64u.encode(wrap.ct) }), me(w)));
    // Assess
    expect(err.code).toBe("payload_auth_failed");
    expect(err.message).toMatch(/^the payload did not authenticate under the data key/);
  });

  it.each([0, 8, 11, 13, 24])("a %i-byte payload nonce gives payload_auth_failed, saying its length", (n) => {
    // Prepare
    const s = makeSealed();
    // Act
    const err = envelopeError(() => openRequest({ ...s.env, nonce: b64u.encode(randomBytes(n)) }, me(s.workers[1]!)));
    // Assess
    expect(err.code).toBe("payload_auth_failed");
    expect(err.message).toBe(`payload nonce is ${n} bytes, expected 12`);
  });

  it("an error from unwrapping that is not an HPKE failure (a malformed worker key) propagates as is", () => {
    // Prepare: hpkeOpen takes a raw private key too; a 16-byte one is the worker's misconfiguration, not a changed envelope
    const s = makeSealed();
    const kem = new Uint8Array(16) as unknown as KemKeyPair;
    // Act
    const err = thrown(() => openRequest(s.env, { workerId: s.workers[0]!.workerId, kem }));
    // Assess
    expect(err).toBeInstanceOf(CryptoInputError);
    expect((err as CryptoInputError).code).toBe("invalid_length");
  });
});

describe("sealReply / openReply: edges", () => {
  const worker = makeWorker();
  const replyKey = generateKemKey();
  const header = makeHeader({ replyKey: b64u.encode(replyKey.publicKey) });
  const answer = text('{"text":"ok"}');
  const reply = sealReply(header, worker.workerId, answer);

  it.each(["not base64!", "AAAA=", "a+b/"])("a header.replyKey %j that is not base64url is CryptoInputError invalid_key", (bad) => {
    // Act
    const err = thrown(() => sealReply({ ...header, replyKey: bad }, worker.workerId, answer));
    // Assess
    expect(err).toBeInstanceOf(CryptoInputError);
    expect((err as CryptoInputError).code).toBe("invalid_key");
    expect((err as CryptoInputError).message).toMatch(/^header\.replyKey is not base64url: /);
  });

  it("a header.replyKey of 16 bytes is CryptoInputError invalid_length (from HPKE)", () => {
    // Act
    const err = thrown(() => sealReply({ ...header, replyKey: b64u.encode(randomBytes(16)) }, worker.workerId, answer));
    // Assess
    expect(err).toBeInstanceOf(CryptoInputError);
    expect((err as CryptoInputError).code).toBe("invalid_length");
  });

  it.each([
    ["reply enc", { enc: "!!" }],
    ["reply ct", { ct: "a/b" }],
  ])("a %s that is not base64url gives reply_auth_failed, naming the field", (what, change) => {
    // Act
    const err = envelopeError(() => openReply({ ...reply, ...change }, header, worker.workerId, replyKey));
    // Assess
    expect(err.code).toBe("reply_auth_failed");
    expect(err.message).toMatch(new RegExp(`^${what} is not valid base64url: `));
  });

  it("the wrong reply key gives reply_auth_failed with its reason", () => {
    // Act
    const err = envelopeError(() => openReply(reply, header, worker.workerId, generateKemKey()));
    // Assess
    expect(err.code).toBe("reply_auth_failed");
    expect(err.message).toMatch(/^the reply did not open with this reply key/);
  });

  it("an error from opening that is not an HPKE failure (a malformed reply key) propagates as is", () => {
    // Act
    const err = thrown(() => openReply(reply, header, worker.workerId, new Uint8Array(16) as unknown as KemKeyPair));
    // Assess
    expect(err).toBeInstanceOf(CryptoInputError);
    expect((err as CryptoInputError).code).toBe("invalid_length");
  });
});

describe("envelope.ts module state, observed on a fresh instance", () => {
  afterEach(() => {
    vi.doUnmock("./encoding");
    vi.doUnmock("./hpke");
    vi.restoreAllMocks();
    vi.resetModules();
  });

  const STAGE_MAX = 8 * 1024 * 1024;

  it("one staging buffer grows to min(8 MiB, max(n, 2 × its size)), serves seal and open, and is not used above 8 MiB", async () => {
    // Prepare: a fresh module (an empty stage), and the buffer open decodes the payload into
    vi.resetModules();
    const encoding = await import("./encoding");
    const envelope = await import("./envelope");
    const decode = vi.spyOn(encoding.b64u, "decode");
    const w = makeWorker();
    const header = makeHeader();
    // plaintext sizes; the stage must hold plaintext + 16 (the tag)
    const sizes = [10, 100_000, 150_000, 3_000_000, 5_000_000, 7_000_000, STAGE_MAX - 16, STAGE_MAX - 15, 10];
    // Act
    const rows = sizes.map((n) => {
      const pt = randomBytes(n);
      const env = envelope.sealRequest({ header, plaintext: pt, recipients: recipientsOf([w]) });
      decode.mockClear();
      const out = envelope.openRequest(env, me(w));
      const into = decode.mock.calls.find(([s]) => s === env.payload)?.[1];
      return { ok: Buffer.from(out).equals(pt), ctLength: b64u.decode(env.payload).length - n, stage: into?.length };
    });
    // Assess
    expect(rows.map((r) => r.ok)).toEqual(sizes.map(() => true));
    expect(rows.map((r) => r.ctLength)).toEqual(sizes.map(() => 16));
    expect(rows.map((r) => r.stage)).toEqual([
      26, // from empty: exactly n
      100_016, // n > 2 × 26
      200_032, // doubled: 2 × 100_016 > 150_016
      3_000_016, // n > 2 × 200_032
      6_000_032, // doubled
      STAGE_MAX, // doubling (12_000_064) capped at 8 MiB
      STAGE_MAX, // n = 8 MiB exactly: the stage, no growth
      undefined, // n = 8 MiB + 1: a buffer of its own
      STAGE_MAX, // never shrinks
    ]);
  });

  /** A fresh envelope.ts whose randomBytes and hpkeOpen are pass-through wrappers keeping what they returned to it. */
  async function envelopeWithSpies() {
    const drawn: Uint8Array[] = [];
    const unwrapped: Uint8Array[] = [];
    vi.resetModules();
    vi.doMock("./encoding", async (importOriginal) => {
      const orig = await importOriginal<typeof import("./encoding")>();
      return { ...orig, randomBytes: (n: number) => drawn[drawn.push(orig.randomBytes(n)) - 1]! };
    });
    vi.doMock("./hpke", async (importOriginal) => {
      const orig = await importOriginal<typeof import("./hpke")>();
      return {
        ...orig,
        // the data key is what the request-key context opens (openRequest keeps the context for its proof key)
        setupBaseR: (...args: Parameters<typeof orig.setupBaseR>) => {
          const ctx = orig.setupBaseR(...args);
          const open = ctx.open.bind(ctx);
          return Object.assign(ctx, { open: (aad: Uint8Array | string, ct: Uint8Array) => unwrapped[unwrapped.push(open(aad, ct)) - 1]! });
        },
      };
    });
    return { envelope: await import("./envelope"), drawn, unwrapped };
  }

  it("sealRequest zeroes its data key when done", async () => {
    // Prepare
    const { envelope, drawn } = await envelopeWithSpies();
    const w = makeWorker();
    drawn.length = 0;
    // Act
    const env = envelope.sealRequest({ header: makeHeader(), plaintext: text("secret prompt"), recipients: recipientsOf([w]) });
    // Assess: sealRequest draws the data key, then the nonce; the envelope opens, so the key was real when used
    const [dataKey, nonce] = drawn;
    expect(toHex(nonce!)).toBe(toHex(b64u.decode(env.nonce)));
    expect([dataKey!.length, isZero(dataKey!)]).toEqual([32, true]);
    expect(str(openRequest(env, me(w)))).toBe("secret prompt");
  });

  it("openRequest zeroes the unwrapped data key, whether the payload opened or not", async () => {
    // Prepare
    const { envelope, unwrapped } = await envelopeWithSpies();
    const w = makeWorker();
    const env = sealRequest({ header: makeHeader(), plaintext: text("secret prompt"), recipients: recipientsOf([w]) });
    const payload = b64u.decode(env.payload);
    payload[0]! ^= 1;
    // Act
    const opened = str(envelope.openRequest(env, me(w)));
    const err = thrown(() => envelope.openRequest({ ...env, payload: b64u.encode(payload) }, me(w))) as EnvelopeError;
    // Assess
    expect(opened).toBe("secret prompt");
    expect(err.code).toBe("payload_auth_failed");
    expect(unwrapped.map((k) => [k.length, isZero(k)])).toEqual([
      [32, true],
      [32, true],
    ]);
  });
});
