import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { generateSigningKey } from "../core/crypto/keys";
import { ApiClient, ApiError, API } from "./api";

/**
 * A connection error says whether the request may have reached the coordinator
 * (ApiError "unreachable", details.requestSent): a submit failing after it was sent may have been
 * taken (client/sdk.ts sends it again under its Idempotency-Key); one refused never left.
 */

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

/** A loopback server that reads each request whole, then closes its connection without answering. */
async function hangingUp(): Promise<string> {
  const server = createServer((req) => {
    req.resume();
    req.on("end", () => req.socket.destroy());
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A loopback URL nothing listens on. */
async function refusing(): Promise<string> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

const faucet = (api: ApiClient) =>
  api.request(API.faucet, { body: { amount: 1n }, headers: { "idempotency-key": "k" } }).then(
    () => undefined,
    (e: unknown) => e,
  );

describe("api client: a lost connection, before or after the request was sent", () => {
  it("a connection refused: unreachable, requestSent false (never left this machine)", async () => {
    // Prepare
    const api = new ApiClient(await refusing(), generateSigningKey());
    // Act
    const err = await faucet(api);
    // Assess
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 0, code: "unreachable", details: { requestSent: false } });
    expect((err as Error).message).toMatch(/cannot reach the Cocoon API/);
  });

  it("a connection closed after the request was read: unreachable, requestSent true, said to be maybe carried out", async () => {
    // Prepare
    const api = new ApiClient(await hangingUp(), generateSigningKey());
    // Act
    const err = await faucet(api);
    // Assess
    expect(err).toMatchObject({ status: 0, code: "unreachable", details: { requestSent: true } });
    expect((err as Error).message).toMatch(/was lost after the request was sent .*it may have been carried out/);
  });
});
