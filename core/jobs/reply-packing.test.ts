/**
 * core/jobs/items.ts: the packed reply item (PackedReplyItem). A result is stored in fewer
 * bytes (DynamoDB bills a write per started KB) and read back exactly as posted, over both local
 * stores; an item stored before packing still reads; the size a job's answer costs is pinned.
 */
import { describe, expect, it } from "vitest";
import { localStoreBackends } from "../../local/store-backends-testing";
import { b64u, canonicalJson } from "../crypto/encoding";
import { verifyReceipt } from "../crypto/receipt";
import { ReplyStreamSealer } from "../crypto/reply-stream";
import type { Store } from "../ports";
import { itemBytes } from "../store-rules";
import { jobKey, readReceipt, readReply, replyItems, replyKey, resultDigest, type JobItem, type PackedReplyItem } from "./items";
import { getJob } from "./read";
import { postResult } from "./results";
import { makeJobWorld } from "./testing";

const { stores } = localStoreBackends("reply-packing");

/** A ttl (epoch seconds, 2096) after any clock: the local stores here read by the system clock. */
const FAR_TTL = 4_000_000_000;

const jobOf = async (store: Pick<Store, "get">, jobId: string) => (await store.get<JobItem>("jobs", jobKey(jobId)))!;

describe("a reply item as stored", () => {
  it("the cost bench's answer (1,932 B of text: a 2,436 B sealed chunk) is stored in at most 3 KB (3 write units), its strings as bytes", async () => {
    // Prepare: a chunked reply of one final chunk of the bench's size (bench/cost.ts WORKLOAD.answerBytes)
    const w = makeJobWorld();
    const { envelope, header, workers } = await w.submitted(1);
    const sealer = new ReplyStreamSealer(header, workers[0]!.id, workers[0]!.signing);
    sealer.seal(new Uint8Array(2436).fill(7), true);
    const post = w.completed(workers[0]!, envelope, { reply: sealer.reply() });
    // Act
    await postResult(w.deps, workers[0]!.id, post);
    // Assess: as posted (base64url text and the whole receipt) it took 4 KB
    const item = (await w.store.get<PackedReplyItem>("jobs", replyKey(header.jobId, 0, resultDigest(post.reply, post.receipt))))!;
    expect(itemBytes(item)).toBeLessThanOrEqual(3 * 1024);
    expect(
      itemBytes({ ...replyKey(header.jobId, 0, "x".repeat(64)), reply: post.reply, receipt: post.receipt, ttl: item.ttl }),
    ).toBeGreaterThan(3.7 * 1024);
  });

  it("a tab's job is packed like any other (its tab's close reads the receipt through readReceipt)", () => {
    // Prepare
    const job = { jobId: "job_1", attempt: 0, model: "m", requestHash: "a".repeat(64), candidates: [], tab: "tab_1" };
    const receipt = { body: { v: 1, jobId: "job_1" } as never, signature: "A".repeat(86) };
    // Act
    const { head } = replyItems(job, "d".repeat(64), { enc: "AAAA", ct: "AAAA" }, receipt, undefined, FAR_TTL);
    // Assess: the receipt less the job id its job states, its signature as bytes
    expect(head).toMatchObject({
      packedReply: { enc: b64u.decode("AAAA"), ct: b64u.decode("AAAA") },
      packedReceipt: { body: { v: 1 }, signature: b64u.decode("A".repeat(86)) },
    });
    expect("receipt" in head).toBe(false);
  });
});

describe.each(stores)("packed reply items read back exactly (%s store)", (_name, open) => {
  it("every string as posted, canonical base64url or not, and a receipt that verifies and hashes to the key's digest", async () => {
    // Prepare: strings base64url leaves lenient (trailing bits set: "AB"; a length Node decodes: "A"; none), an
    // upper-case measurement (kept as text), and a workerId other than the job's candidate (kept, not restored)
    const w = makeJobWorld();
    const { envelope, header, workers } = await w.submitted(1);
    const store = await open();
    const reply = { enc: "AB", ct: "A" };
    const good = w.completed(workers[0]!, envelope, { reply: { v: 2, enc: "", sig: "Zm9v", chunks: ["AB", "A", "", "YWJj"] } as never });
    const job = await jobOf(w.store, header.jobId);
    const cases = [
      { reply: good.reply, receipt: good.receipt },
      { reply, receipt: { ...good.receipt, body: { ...good.receipt.body, measurement: "AB".repeat(48), workerId: "x".repeat(43) } } },
    ];
    for (const c of cases) {
      const digest = resultDigest(c.reply, c.receipt);
      const { head, parts } = replyItems(job, digest, c.reply, c.receipt, undefined, FAR_TTL);
      expect(parts).toEqual([]);
      await store.transact([{ op: "put", table: "jobs", item: head }]);
      // Act
      const read = await readReply(store, { ...job, resultDigest: digest });
      // Assess
      expect(canonicalJson(read!.reply)).toBe(canonicalJson(c.reply));
      expect(canonicalJson(read!.receipt)).toBe(canonicalJson(c.receipt));
      expect(resultDigest(read!.reply, read!.receipt)).toBe(digest);
      expect(await readReceipt(store, { ...job, resultDigest: digest })).toEqual(read!.receipt);
    }
    const read = await readReply(store, { ...job, resultDigest: resultDigest(good.reply, good.receipt) });
    expect(verifyReceipt(read!.receipt, b64u.decode(workers[0]!.id))).toBe(true);
  });
});

describe("an item stored before packing", () => {
  it.each(stores)("still reads whole (%s store): getJob serves its reply and receipt as stored", async (_name, open) => {
    // Prepare: a completed job, its reply item replaced by one in the layout written before packing
    const w = makeJobWorld();
    const { r, envelope, header, workers } = await w.submitted(1);
    const post = w.completed(workers[0]!, envelope);
    await postResult(w.deps, workers[0]!.id, post);
    const store = await open();
    const job = await jobOf(w.store, header.jobId);
    const key = replyKey(header.jobId, 0, job.resultDigest);
    await store.transact([
      // this store's clock is the real one, far past the world's: the job's retention is kept out of it
      { op: "put", table: "jobs", item: { ...job, ttl: FAR_TTL } },
      { op: "put", table: "jobs", item: { ...key, reply: post.reply, receipt: post.receipt, ttl: FAR_TTL } },
    ]);
    // Act
    const view = await getJob({ ...w.deps, store }, r.id, header.jobId);
    // Assess
    expect(view).toMatchObject({ status: "completed", reply: post.reply, receipt: post.receipt });
    expect(await readReceipt(store, job)).toEqual(post.receipt);
  });
});
