import { describe, expect, it } from "vitest";
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
});
