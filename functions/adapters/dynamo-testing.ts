/**
 * Test factories for the DynamoDB adapter (dynamo-store.ts), shared by dynamo-store.test.ts,
 * dynamo-store-edges.test.ts and dynamo-wire.test.ts: one table, one fixed clock, and a store over
 * either the document client a test mocks (aws-sdk-client-mock) or a real client whose HTTP is
 * recorded. Imported by tests only.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { documentClient, DynamoStore } from "./dynamo-store";

export const TABLE = "cocoon-test-Data";
export const NOW = Date.UTC(2026, 10, 25, 12, 0, 0); // ms
export const NOW_S = NOW / 1000;

/** A real DynamoDB client with made-up credentials: a test's mock (or a recording handler) answers for AWS. */
export const awsClient = () =>
  new DynamoDBClient({ region: "us-east-1", credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" } });

/**
 * Factory: a store over the (mocked) document client at NOW, retrying a conflict `retries` times (2
 * unless given) and sleeping as `sleep` does (not at all unless given); `defaults` keeps the store's
 * own retries and sleep, for the tests of those defaults.
 */
export function makeStore(o: { retries?: number; sleep?: (ms: number) => Promise<void>; now?: number; defaults?: boolean } = {}) {
  if (o.defaults) return new DynamoStore({ table: TABLE, client: awsClient(), now: () => o.now ?? NOW });
  return new DynamoStore({
    table: TABLE,
    client: awsClient(),
    now: () => o.now ?? NOW,
    conflictRetries: o.retries ?? 2,
    sleep: o.sleep ?? (async () => {}),
  });
}

/**
 * Factory: a store over the document client this adapter builds on a real DynamoDB client (real
 * marshalling) whose HTTP handler records each request body, parsed, and answers `answers[i]` ({} past them).
 */
export function wireStore(answers: unknown[]) {
  const bodies: Array<Record<string, unknown>> = [];
  const client = new DynamoDBClient({
    region: "us-east-1",
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    requestHandler: {
      handle: async (req: { body?: string }) => {
        bodies.push(JSON.parse(String(req.body)) as Record<string, unknown>);
        const body = JSON.stringify(answers[bodies.length - 1] ?? {});
        return {
          response: { statusCode: 200, headers: { "content-type": "application/x-amz-json-1.0" }, body: new Blob([body]).stream() },
        };
      },
    } as never,
  });
  return { store: new DynamoStore({ table: TABLE, client: documentClient(client), now: () => NOW }), bodies };
}
