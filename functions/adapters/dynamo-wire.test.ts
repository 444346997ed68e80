import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../core/crypto/encoding";
import { readReply, replyItems, resultDigest, type ReplyOwner } from "../../core/jobs/items";
import { wireStore } from "./dynamo-testing";

describe("DynamoDB wire format", () => {
  it("the document client wraps numbers, so bigints beyond 2^53 survive the round trip as N", async () => {
    // Prepare: a DynamoDB client whose HTTP handler records the requests and answers the put, then a GetItem.
    const { store, bodies } = wireStore([
      {},
      {
        Item: {
          pk: { S: "accounts#a" },
          sk: { S: "balance" },
          available: { N: "98765432109876543210" },
          "_bi:available": { BOOL: true },
        },
      },
    ]);

    // Act
    await store.transact([{ op: "put", table: "accounts", item: { pk: "a", sk: "balance", available: 98765432109876543210n } }]);
    const item = await store.get("accounts", { pk: "a", sk: "balance" });

    // Assess
    expect((bodies[0]!.Item as Record<string, unknown>).available).toEqual({ N: "98765432109876543210" });
    expect(item?.available).toBe(98765432109876543210n);
  });

  it("a packed reply item goes out with its bytes as binary (B) attributes and reads back as the result posted", async () => {
    // Prepare: the item a result's post writes; the GetItem answered with exactly what the PutItem sent
    const job: ReplyOwner = { jobId: "job_1", attempt: 0, model: "m", requestHash: "a".repeat(64), candidates: [] };
    const reply = { v: 2 as const, enc: "AAEC", sig: "A".repeat(86), chunks: ["3q2-7w", "", "AB"] };
    const receipt = {
      body: { v: 1 as const, jobId: "job_1", workerId: "w".repeat(43), model: "m", requestHash: "a".repeat(64), replyHash: "b".repeat(64) },
      signature: "B".repeat(86),
    } as never;
    const digest = resultDigest(reply, receipt);
    const { head } = replyItems(job, digest, reply, receipt, undefined, 4_000_000_000);
    const answers: unknown[] = [{}];
    const { store, bodies } = wireStore(answers);
    // Act
    await store.transact([{ op: "put", table: "jobs", item: head }]);
    answers.push({ Item: bodies[0]!.Item });
    const read = await readReply(store, { ...job, resultDigest: digest });
    // Assess
    const sent = bodies[0]!.Item as { packedReply: { M: Record<string, unknown> } };
    expect(sent.packedReply.M.enc).toEqual({ B: "AAEC" });
    expect(sent.packedReply.M.chunks).toEqual({ L: [{ B: "3q2+7w==" }, { B: "" }, { S: "AB" }] });
    expect(canonicalJson(read)).toBe(canonicalJson({ ...head, packedReply: undefined, packedReceipt: undefined, reply, receipt }));
  });
});
