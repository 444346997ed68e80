/**
 * core/jobs/items.ts, the packed reply item (mutation pass mut39): what the packed layout keeps
 * and drops, exactly, and the edges reply-packing.test.ts leaves open (a job at a later attempt,
 * null values, an odd-length hex string, a receipt's model other than the job's, a missing item,
 * an item of exactly MAX_ITEM_BYTES). Each test fails with the mutant named beside it applied.
 */
import { describe, expect, it } from "vitest";
import type { Receipt } from "../../events/envelope";
import { createMemoryStore } from "../../local/memory-store";
import { b64u, canonicalJson } from "../crypto/encoding";
import { itemBytes, MAX_ITEM_BYTES } from "../store-rules";
import { packReceipt, readReceipt, readReply, replyItems, unpackReceipt, type ReplyOwner } from "./items";

const FAR_TTL = 4_000_000_000;
const HASH = "ab".repeat(32);
const REPLY_HASH = "cd".repeat(32);
const MEASUREMENT = "ef".repeat(48);

/** A job at its second attempt: its candidates' worker ids differ, so the one at `attempt` is the one a receipt names. */
const job: ReplyOwner = {
  jobId: "job_mut39",
  attempt: 1,
  model: "llama-mut",
  requestHash: HASH,
  candidates: [{ workerId: "w".repeat(43) }, { workerId: "v".repeat(43) }] as ReplyOwner["candidates"],
  resultDigest: "d".repeat(64),
};

const receiptOf = (body: Partial<Receipt["body"]> = {}): Receipt => ({
  body: {
    v: 1,
    jobId: job.jobId,
    workerId: "v".repeat(43),
    model: job.model,
    requestHash: HASH,
    replyHash: REPLY_HASH,
    usage: { promptTokens: 3, completionTokens: 5 },
    measurement: MEASUREMENT,
    finishedAt: 1_700_000_000,
    ...body,
  } as Receipt["body"],
  signature: "A".repeat(86),
});

const stored = async (reply: unknown, receipt: Receipt) => {
  const store = createMemoryStore();
  const { head, parts } = replyItems(job, job.resultDigest!, reply as never, receipt, undefined, FAR_TTL);
  await store.transact([...parts, head].map((item) => ({ op: "put" as const, table: "jobs" as const, item })));
  return store;
};

describe("packReceipt at a job's later attempt", () => {
  it("leaves out exactly what the job states (the worker at the attempt, model, job id, request hash) and stores hex as bytes", () => {
    // Act
    const packed = packReceipt(receiptOf(), job);
    // Assess (killed: workerId from candidates[0], workerId or model not stated, measurement not in HEX_FIELDS)
    expect(packed.body).toEqual({
      v: 1,
      replyHash: Buffer.from(REPLY_HASH, "hex"),
      usage: { promptTokens: 3, completionTokens: 5 },
      measurement: Buffer.from(MEASUREMENT, "hex"),
      finishedAt: 1_700_000_000,
    });
    expect(unpackReceipt(packed, job)).toEqual(receiptOf());
  });

  it("restores no field the job cannot state (no candidate at its attempt): the key is absent, not undefined", () => {
    // Prepare
    const orphan = { ...job, candidates: [] };
    const { workerId: _w, ...body } = receiptOf().body;
    // Act
    const back = unpackReceipt(packReceipt({ ...receiptOf(), body: body as Receipt["body"] }, orphan), orphan);
    // Assess (killed: every stated field restored, undefined ones too)
    expect(back).toStrictEqual({ ...receiptOf(), body });
  });
});

describe("a packed reply item reads back exactly", () => {
  it("a receipt whose model differs from the job's keeps its own (a field is dropped only where it equals the job's)", async () => {
    // Prepare
    const receipt = receiptOf({ model: "other-model" });
    const store = await stored({ enc: "AAAA" }, receipt);
    // Act / Assess (killed: model always dropped)
    expect(await readReceipt(store, job)).toEqual(receipt);
  });

  it("an odd-length lower-case hex measurement (the schema allows it) stays text", async () => {
    // Prepare
    const receipt = receiptOf({ measurement: "abc" });
    const store = await stored({ enc: "AAAA" }, receipt);
    // Act / Assess (killed: hex of any length, which Buffer truncates to whole bytes)
    expect((await readReceipt(store, job))!.body.measurement).toBe("abc");
  });

  it("null values in the reply stay null", async () => {
    // Prepare
    const reply = { enc: "AAAA", meta: null, list: [null, "AAAA"] };
    const store = await stored(reply, receiptOf());
    // Act
    const read = await readReply(store, job);
    // Assess (killed: null read as an object by packReply or unpack)
    expect(canonicalJson(read!.reply)).toBe(canonicalJson(reply));
  });

  it("a missing item reads as undefined, not an error", async () => {
    // Prepare
    const store = createMemoryStore();
    // Act / Assess (killed: readReply's missing-item check dropped)
    expect(await readReply(store, job)).toBeUndefined();
    expect(await readReceipt(store, job)).toBeUndefined();
  });

  it("an item of exactly MAX_ITEM_BYTES is stored whole; one byte more is split", () => {
    // Prepare: a reply whose one string is not base64url (so stays text, a byte a character), sized to the limit
    const sized = (n: number) => replyItems(job, job.resultDigest!, { enc: "!".repeat(n) } as never, receiptOf(), undefined, FAR_TTL);
    const n = 1000 + MAX_ITEM_BYTES - itemBytes(sized(1000).head);
    // Act
    const atLimit = sized(n);
    const over = sized(n + 1);
    // Assess (killed: `<=` → `<`)
    expect(itemBytes(atLimit.head)).toBe(MAX_ITEM_BYTES);
    expect(atLimit.parts).toEqual([]);
    expect("packedReply" in atLimit.head).toBe(true);
    expect(over.parts.length).toBeGreaterThan(0);
  });

  it("a signature that is not canonical base64url stays text", () => {
    // Act / Assess
    const packed = packReceipt({ ...receiptOf(), signature: "A!" }, job);
    expect(packed.signature).toBe("A!");
    expect(b64u.encode(packReceipt(receiptOf(), job).signature as Uint8Array)).toBe("A".repeat(86));
  });
});
