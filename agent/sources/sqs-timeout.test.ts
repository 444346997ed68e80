/**
 * The SQS source against a server that takes a receive and never answers (no aws-sdk-client-mock
 * here: a real SQSClient, whose HTTP handler has no time limit of its own). Such a receive used
 * to hold the agent's poll, and so the agent, for ever; it is given up POLL_GRACE_MS past its wait
 * (here a shorter grace, the source's option: the default's 10 s would be this file's whole run).
 */
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { expect, it } from "vitest";
import { createSqsJobSource } from "./sqs";
import { NOW } from "./sqs-testing";

/** The grace this test gives the receive: long enough that the request reaches the silent server first on a loaded host. */
const GRACE_MS = 2_000;

it("gives up a receive that is never answered, its grace (POLL_GRACE_MS by default) past its wait", async () => {
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
    pollGraceMs: GRACE_MS,
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
    expect(Date.now() - t0).toBeGreaterThanOrEqual(GRACE_MS - 50);
  } finally {
    for (const r of held) r.destroy();
    server.close();
  }
}, 15_000);
