import { describe, expect, it } from "vitest";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoStore, documentClient } from "./dynamo-store";

const TABLE = "cocoon-test-Data";
const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);

describe("DynamoDB wire format", () => {
  it("the document client wraps numbers, so bigints beyond 2^53 survive the round trip as N", async () => {
    // Prepare: a DynamoDB client whose HTTP handler records the request and answers a GetItem.
    const bodies: string[] = [];
    const client = new DynamoDBClient({
      region: "us-east-1",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
      requestHandler: {
        handle: async (req: { body?: string }) => {
          bodies.push(String(req.body));
          const body =
            bodies.length === 1
              ? "{}"
              : JSON.stringify({
                  Item: {
                    pk: { S: "accounts#a" },
                    sk: { S: "balance" },
                    available: { N: "98765432109876543210" },
                    "_bi:available": { BOOL: true },
                  },
                });
          return {
            response: { statusCode: 200, headers: { "content-type": "application/x-amz-json-1.0" }, body: new Blob([body]).stream() },
          };
        },
      } as never,
    });
    const store = new DynamoStore({ table: TABLE, client: documentClient(client), now: () => NOW });

    // Act
    await store.transact([{ op: "put", table: "accounts", item: { pk: "a", sk: "balance", available: 98765432109876543210n } }]);
    const item = await store.get("accounts", { pk: "a", sk: "balance" });

    // Assess
    expect(JSON.parse(bodies[0]!).Item.available).toEqual({ N: "98765432109876543210" });
    expect(item?.available).toBe(98765432109876543210n);
  });
});
