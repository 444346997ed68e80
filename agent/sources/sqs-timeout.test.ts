/**
 * The SQS source against a server that takes a receive and never answers (no aws-sdk-client-mock
 * here: a real SQSClient, whose HTTP handler has no time limit of its own). Such a receive used
 * to hold the agent's poll, and so the agent, for ever; it is given up POLL_GRACE_MS past its wait.
 */
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { expect, it } from "vitest";
import { POLL_GRACE_MS } from "./job-source";
import { createSqsJobSource } from "./sqs";
import { NOW } from "./sqs-testing";

it("gives up a receive that is never answered, POLL_GRACE_MS past its wait", async () => {
  // Prepare: a 127.0.0.1 server that keeps every request open
  const held: ServerResponse[] = [];
  const server = createServer((_req, res) => void held.push(res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const source = createSqsJobSource({
    queueUrl: `http://127.0.0.1:${port}/000000000000/agent-queue`,
    region: "us-east-1",
    credentials: async () => ({
      accessKeyId: "ASIAEXAMPLE",
      secretAccessKey: "secret",
      sessionToken: "token",
      expiration: NOW + 3_600_000,
    }),
    now: () => NOW,
  });
  try {
    // Act
    const t0 = Date.now();
    const outcome = await source.next(0).then(
      () => "answered",
      (e: unknown) => (e as Error).name,
    );
    // Assess
    expect(held.length).toBeGreaterThan(0);
    expect(outcome).toBe("AbortError"); // the SDK names every aborted request so
    expect(Date.now() - t0).toBeGreaterThanOrEqual(POLL_GRACE_MS - 50);
  } finally {
    for (const r of held) r.destroy();
    server.close();
  }
}, 25_000);
