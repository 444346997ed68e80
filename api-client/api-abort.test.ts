import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { generateSigningKey } from "../core/crypto/keys";
import { API, ApiClient, ApiError } from "./api";

/**
 * A stand-in coordinator on 127.0.0.1 that answers GET /v1/routes 404 (every route at the base
 * URL) and every other request with `answer`, which may never answer. It records what reached
 * it, how many connections were made, and each request the client closed before its answer.
 */
async function coordinator(answer: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen: string[] = [];
  const closedUnanswered: string[] = [];
  let connections = 0;
  const server = createServer((req, res) => {
    if (req.url === "/v1/routes") return res.writeHead(404).end();
    const what = `${req.method} ${req.url}`;
    seen.push(what);
    res.on("close", () => void (res.writableEnded || closedUnanswered.push(what)));
    answer(req, res);
  });
  server.on("connection", () => connections++);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    closedUnanswered,
    connections: () => connections,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const never = () => {}; // the request is held, unanswered, until the client closes it
const storeBusy = (_req: IncomingMessage, res: ServerResponse) =>
  res
    .writeHead(503, { "content-type": "application/json" })
    .end(JSON.stringify({ error: { code: "store_busy", message: "internal error" } }));

const until = async (what: string, ok: () => boolean, ms = 2000) => {
  for (const end = Date.now() + ms; !ok(); await new Promise((r) => setTimeout(r, 5)))
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
};

let fake: Awaited<ReturnType<typeof coordinator>> | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

describe("ApiClient, a request given up by its signal", () => {
  it("an abort in flight closes the HTTP request at once and rejects with the signal's reason (an AbortError by default)", async () => {
    // Prepare: a coordinator that holds the request
    fake = await coordinator(never);
    const api = new ApiClient(fake.url, generateSigningKey());
    const ctl = new AbortController();
    const pending = api.request(API.account, { signal: ctl.signal }).catch((e: unknown) => e);
    await until("the request to reach the coordinator", () => fake!.seen.length === 1);
    // Act
    const abortedAt = Date.now();
    ctl.abort();
    const err = await pending;
    // Assess: rejected promptly, with the abort, not an ApiError; the coordinator saw its socket close
    expect(Date.now() - abortedAt).toBeLessThan(500);
    expect(err).toBe(ctl.signal.reason);
    expect(err).toMatchObject({ name: "AbortError" });
    expect(err).not.toBeInstanceOf(ApiError);
    await until("the coordinator to see the request closed", () => fake!.closedUnanswered.length === 1, 1000);
    expect(fake.closedUnanswered).toEqual(["GET /v1/account"]);
  }, 5000);

  it("rejects with the reason given to abort(), and sends the request nowhere again", async () => {
    // Prepare
    fake = await coordinator(never);
    const api = new ApiClient(fake.url, generateSigningKey());
    const ctl = new AbortController();
    const pending = api.requestJson("POST", "/v1/account/faucet", { amount: "1" }, { "idempotency-key": "abort-0001" }, ctl.signal);
    const settled = pending.catch((e: unknown) => e);
    await until("the request to reach the coordinator", () => fake!.seen.length === 1);
    // Act
    const reason = new Error("client disconnected");
    ctl.abort(reason);
    // Assess: the caller's reason as is; nothing is sent again (waited long enough for any retry to have gone)
    expect(await settled).toBe(reason);
    await new Promise((r) => setTimeout(r, 600));
    expect(fake.seen).toEqual(["POST /v1/account/faucet"]);
    expect(fake.closedUnanswered).toEqual(["POST /v1/account/faucet"]);
  }, 5000);

  it("a signal aborted already sends nothing: no connection, not even the route directory", async () => {
    // Prepare
    fake = await coordinator(never);
    const api = new ApiClient(fake.url, generateSigningKey());
    // Act
    const err = await api.request(API.account, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    // Assess
    expect(err).toMatchObject({ name: "AbortError" });
    await new Promise((r) => setTimeout(r, 100));
    expect(fake.connections()).toBe(0);
    expect(fake.seen).toEqual([]);
    expect(api.sent).toEqual({ signed: 0, session: 0 });
  });

  it("an abort during the wait before a store_busy retry ends the wait at once and the retry is never sent", async () => {
    // Prepare: every answer is 503 store_busy (retried after ~0.2–0.4 s, then ~0.4–0.8 s, …)
    fake = await coordinator(storeBusy);
    const api = new ApiClient(fake.url, generateSigningKey());
    const ctl = new AbortController();
    const settled = api.request(API.account, { signal: ctl.signal }).catch((e: unknown) => e);
    await until("the first store_busy answer", () => fake!.seen.length === 1);
    // Act
    const abortedAt = Date.now();
    ctl.abort();
    const err = await settled;
    // Assess: rejected before the first retry would have gone; nothing sent after the abort
    expect(Date.now() - abortedAt).toBeLessThan(150);
    expect(err).toMatchObject({ name: "AbortError" });
    await new Promise((r) => setTimeout(r, 1000));
    expect(fake.seen).toEqual(["GET /v1/account"]);
  });
});
