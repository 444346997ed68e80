/**
 * The canary scan's positive control (issue 14): the plaintext written deliberately, in every
 * encoding the scan claims to see through, into each kind of place the coordinator keeps or
 * moves bytes (a memory store, an LMDB store on disk, a queue message, a relay message, a log
 * line) is found there, under the right encoding. And the negative control: what the
 * coordinator really holds (the sealed envelope, reply and failure) is not mistaken for it.
 */
import { describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { b64u } from "../core/crypto/encoding";
import { sealReply, sealRequest } from "../core/crypto/envelope";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import type { EnvelopeHeader } from "../events/envelope";
import { createMemoryStore } from "../local/memory-store";
import { openLmdbStore } from "../local/store-lmdb";
import {
  canaryForms,
  dirSources,
  expectNoCanary,
  lineSources,
  newCanary,
  scanForCanary,
  storeSources,
  valueBytes,
  type CanaryEncoding,
  type CanarySource,
} from "./canary";

/** Factory: the plaintext of a prompt with the canary `pad` characters further in. */
const promptWith = (canary: string, pad = 0) =>
  JSON.stringify({ messages: [{ role: "user", content: `${"x".repeat(pad)}say ${canary}` }] });

/** Each encoding, and how to write a plaintext in it; the alignment a base64 hit must report. */
const ENCODINGS: Array<{ name: string; encode: (pt: string) => Buffer; expect: (pt: string, canary: string) => CanaryEncoding }> = [
  { name: "utf8", encode: (pt) => Buffer.from(pt, "utf8"), expect: () => "utf8" },
  { name: "utf16le", encode: (pt) => Buffer.from(pt, "utf16le"), expect: () => "utf16le" },
  { name: "utf16be", encode: (pt) => Buffer.from(pt, "utf16le").swap16(), expect: () => "utf16be" },
  { name: "hex", encode: (pt) => Buffer.from(Buffer.from(pt).toString("hex")), expect: () => "hex" },
  { name: "HEX", encode: (pt) => Buffer.from(Buffer.from(pt).toString("hex").toUpperCase()), expect: () => "HEX" },
  ...[0, 1, 2].flatMap((pad) => [
    {
      name: `base64 (canary at +${pad})`,
      encode: (pt: string) => Buffer.from(Buffer.from("x".repeat(pad) + pt).toString("base64")),
      expect: (pt: string, c: string) => `base64@${(pad + pt.indexOf(c)) % 3}` as CanaryEncoding,
    },
    {
      name: `base64url (canary at +${pad})`,
      encode: (pt: string) => Buffer.from(Buffer.from("x".repeat(pad) + pt).toString("base64url")),
      expect: (pt: string, c: string) => `base64url@${(pad + pt.indexOf(c)) % 3}` as CanaryEncoding,
    },
  ]),
];

/** What a store, a queue, a relay or a log holds when the coordinator sees only sealed data. */
function sealedJob(canary: string) {
  const worker = { signing: generateSigningKey(), kem: generateKemKey() };
  const replyKey = generateKemKey();
  const header: EnvelopeHeader = {
    v: 1,
    jobId: "job_01jz0000000000000000000000",
    requester: generateSigningKey().id,
    model: "m",
    maxTokens: 16,
    maxPromptTokens: 64,
    maxCost: "100",
    replyKey: b64u.encode(replyKey.publicKey),
  };
  const envelope = sealRequest({
    header,
    plaintext: Buffer.from(promptWith(canary)),
    recipients: [{ workerId: worker.signing.id, hpkePublicKey: worker.kem.publicKey }],
  });
  const reply = sealReply(header, worker.signing.id, Buffer.from(JSON.stringify({ text: `you said ${canary}` })));
  const failure = sealReply(
    header,
    worker.signing.id,
    Buffer.from(JSON.stringify({ error: { code: "engine_error", message: `cannot answer "${canary}"` } })),
  );
  return { envelope, reply, failure };
}

describe("canary forms", () => {
  it("has 13 distinct needles, none shorter than 16 bytes for a 25-byte canary", () => {
    const forms = canaryForms(newCanary());
    expect(new Set(forms.map((f) => f.encoding)).size).toBe(13);
    for (const f of forms) expect(f.needle.length).toBeGreaterThanOrEqual(16);
  });

  it("refuses a canary too short for its base64 needles to mean anything", () => {
    expect(() => canaryForms("CANARY-1")).toThrow(/at least 12 bytes/);
  });

  it("reads a binary value as its bytes (JSON.stringify would turn it into a list of numbers)", () => {
    const canary = newCanary();
    const item = { pk: "p", sk: "s", blob: new Uint8Array(Buffer.from(promptWith(canary))) };
    expect(JSON.stringify(item)).not.toContain(canary);
    expect(scanForCanary(canary, [{ name: "item", data: valueBytes(item) }]).map((h) => h.encoding)).toContain("utf8");
  });
});

describe("positive control: the plaintext written deliberately is found in every encoding and place", () => {
  for (const enc of ENCODINGS) {
    it(`${enc.name}: memory store, LMDB store and its files on disk, queue message, relay message, log line`, async () => {
      // Prepare: one plaintext with the canary at a different offset per encoding
      const canary = newCanary();
      const pt = promptWith(canary, enc.name.length % 3);
      const bytes = enc.encode(pt);
      const want = enc.expect(pt, canary);
      const memory = createMemoryStore();
      await memory.transact([
        { op: "put", table: "jobs", item: { pk: "job_a", sk: "envelope", payload: bytes.toString("latin1") } },
        { op: "put", table: "quotes", item: { pk: "job_a", sk: "blob", raw: new Uint8Array(bytes) } },
      ]);
      const dir = tempDir("cocoon-canary-");
      const lmdb = await openLmdbStore(dir);
      await lmdb.transact([{ op: "put", table: "jobs", item: { pk: "job_b", sk: "envelope", payload: new Uint8Array(bytes) } }]);
      const lmdbItems = storeSources(lmdb, "lmdb");
      await lmdb.close();
      const places: Record<string, CanarySource[]> = {
        "memory store": storeSources(memory),
        "lmdb items": lmdbItems,
        "lmdb files": dirSources(dir),
        "queue message": lineSources("queue", [
          JSON.stringify({ jobId: "job_a", attempt: 0, envelope: { payload: bytes.toString("latin1") } }),
        ]),
        "relay message": lineSources("relay", [JSON.stringify({ kind: "challenge", evidence: bytes.toString("latin1") })]),
        "log line": lineSources("log", [`{"level":"info","msg":"job submitted","payload":${JSON.stringify(bytes.toString("latin1"))}}`]),
      };
      // Act
      const found = Object.fromEntries(
        Object.entries(places).map(([place, sources]) => [place, scanForCanary(canary, sources).map((h) => h.encoding)]),
      );
      // Assess: found everywhere, under the encoding it was written in (UTF-16 inside JSON text has its NULs escaped)
      const inJson = want.startsWith("utf16") ? (`${want}/json` as CanaryEncoding) : want;
      for (const [place, encodings] of Object.entries(found))
        expect(encodings, place).toContain(["queue message", "relay message", "log line"].includes(place) ? inJson : want);
      expect(() => expectNoCanary(canary, places["lmdb files"]!)).toThrow(new RegExp(`${want.replace(/[$@]/g, "\\$&")} at byte`));
    });
  }

  it("the raw UTF-8 check the tests used before misses an unencrypted payload stored base64url; this scan does not", () => {
    // Prepare: "encryption" replaced by no encryption: the payload is the plaintext, base64url, as the envelope stores it
    const canary = newCanary();
    const envelope = {
      header: { jobId: "job_x" },
      nonce: "AAAAAAAAAAAAAAAA",
      payload: b64u.encode(Buffer.from(promptWith(canary))),
      keys: [],
    };
    const stored = Buffer.from(JSON.stringify(envelope));
    // Act + Assess
    expect(stored.includes(Buffer.from(canary))).toBe(false);
    expect(scanForCanary(canary, [{ name: "envelope", data: stored }]).map((h) => h.encoding)).toContainEqual(
      expect.stringMatching(/^base64url@[012]$/),
    );
  });
});

describe("negative control: sealed data is not mistaken for the plaintext", () => {
  it("the sealed envelope, reply and failure in a store, an LMDB file, a queue message and a log line hold no form of the canary", async () => {
    // Prepare
    const canary = newCanary();
    const { envelope, reply, failure } = sealedJob(canary);
    const memory = createMemoryStore();
    await memory.transact([
      { op: "put", table: "jobs", item: { pk: envelope.header.jobId, sk: "envelope", envelope } },
      { op: "put", table: "jobs", item: { pk: envelope.header.jobId, sk: "reply#0", reply } },
      { op: "put", table: "jobs", item: { pk: envelope.header.jobId, sk: "failure#0", reply: failure } },
    ]);
    const dir = tempDir("cocoon-canary-");
    const lmdb = await openLmdbStore(dir);
    await lmdb.transact([{ op: "put", table: "jobs", item: { pk: envelope.header.jobId, sk: "envelope", envelope, reply, failure } }]);
    await lmdb.close();
    // Act + Assess
    expect(() =>
      expectNoCanary(canary, [
        ...storeSources(memory),
        ...dirSources(dir),
        ...lineSources("queue", [JSON.stringify({ jobId: envelope.header.jobId, attempt: 0, envelope })]),
        ...lineSources("log", [JSON.stringify({ msg: "job completed", reply })]),
      ]),
    ).not.toThrow();
  });
});
