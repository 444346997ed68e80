import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey } from "../core/crypto/keys";
import { startNetwork, type LocalNetwork } from "../local/network";
import { API, ApiClient, ApiError, STORE_BUSY_RETRIES } from "./api";

describe("ApiClient signing", () => {
  let net: LocalNetwork;
  beforeAll(async () => {
    net = await startNetwork({ chain: false });
  });
  afterAll(async () => net?.stop());

  it.each([
    ["30 s fast", 30_000],
    ["2 min slow", -120_000],
  ])("a client clock %s is corrected from the server's Date header after one refusal", async (_what, skewMs) => {
    // Prepare
    const client = new ApiClient(net.url, generateSigningKey(), () => Date.now() + skewMs);
    // Act
    const account = await client.request(API.account);
    const again = await client.request(API.faucet, { body: { amount: 5n }, headers: { "idempotency-key": "clock-test-0001" } });
    // Assess
    expect(account.account).toBe(client.key.id);
    expect(again.available).toBe("5");
  });
});

/**
 * A stand-in coordinator that answers every request with `answer` (status 200 unless given),
 * except GET /v1/routes, which it does not know (404, not listed in `seen`): every route at its base URL.
 */
async function fakeCoordinator(answer: (path: string) => { status?: number; body: unknown }) {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    if (req.url === "/v1/routes") return res.writeHead(404).end();
    seen.push(`${req.method} ${req.url}`);
    const a = answer(req.url ?? "");
    res.writeHead(a.status ?? 200, { "content-type": "application/json" }).end(JSON.stringify(a.body));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe("issue 10: answers are parsed with the route's schema on arrival, never cast", () => {
  const ACCOUNT = generateSigningKey().id;

  it("a well-formed answer comes back as the schema's output", async () => {
    // Prepare
    const fake = await fakeCoordinator(() => ({ body: { account: ACCOUNT, available: "5", held: "0", reserved: "0" } }));
    try {
      // Act
      const b = await new ApiClient(fake.url, generateSigningKey()).request(API.account);
      // Assess
      expect(b).toEqual({ account: ACCOUNT, available: "5", held: "0", reserved: "0" });
      expect(fake.seen).toEqual(["GET /v1/account"]);
    } finally {
      await fake.close();
    }
  });

  it.each([
    ["an amount as a JSON number (a float on the wire)", { account: ACCOUNT, available: 5.5, held: "0", reserved: "0" }],
    // held, not available: available may be a debt (a released withdrawal that landed anyway, events/api.ts)
    ["a negative amount where none can be", { account: ACCOUNT, available: "0", held: "-1", reserved: "0" }],
    ["a field missing", { account: ACCOUNT, available: "5", held: "0" }],
    ["not an object", ["5"]],
  ])("%s is refused with bad_response", async (_what, body) => {
    const fake = await fakeCoordinator(() => ({ body }));
    try {
      const err = await new ApiClient(fake.url, generateSigningKey()).request(API.account).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect(err).toMatchObject({ code: "bad_response" });
    } finally {
      await fake.close();
    }
  });

  it("path parameters are encoded and the query added; get/post by path parse with the route the path belongs to", async () => {
    // Prepare
    const fake = await fakeCoordinator(() => ({
      body: { seqno: 3, status: "pending", amount: "7", to: "0:" + "a".repeat(64), expiry: 1 },
    }));
    const api = new ApiClient(fake.url, generateSigningKey());
    try {
      // Act
      const byRoute = await api.request(API.withdrawalStatus, { params: { seqno: 3 }, query: { wait: 1 } });
      const byPath = await api.get("/v1/account/withdrawals/3");
      const unknown = await api.get("/v1/nowhere").catch((e: unknown) => e);
      // Assess
      expect(byRoute.status).toBe("pending");
      expect(byPath).toEqual(byRoute);
      expect(unknown).toMatchObject({ code: "unknown_route" });
      expect(fake.seen).toEqual(["GET /v1/account/withdrawals/3?wait=1", "GET /v1/account/withdrawals/3"]);
    } finally {
      await fake.close();
    }
  });

  it("503 store_busy (the store kept conflicting, nothing done) is sent again, signed anew, up to STORE_BUSY_RETRIES times; any other 503 is not", async () => {
    // Prepare: busy twice, then an answer; and a route that is busy for good
    let busy = 2;
    const fake = await fakeCoordinator((path) => {
      if (path === "/v1/models") return { status: 503, body: { error: { code: "relay_session_unavailable", message: "x" } } };
      if (path === "/v1/account" && busy-- > 0) return { status: 503, body: { error: { code: "store_busy", message: "internal error" } } };
      if (path === "/v1/account") return { body: { account: "a", available: "0", held: "0", withdrawing: "0" } };
      return { status: 503, body: { error: { code: "store_busy", message: "internal error" } } };
    });
    const api = new ApiClient(fake.url, generateSigningKey());
    try {
      // Act
      const account = await api.requestJson("GET", "/v1/account").catch((e: unknown) => e);
      const other = await api.request(API.models).catch((e: unknown) => e);
      const forGood = await api.requestJson("POST", "/v1/busy", {}).catch((e: unknown) => e);
      // Assess
      expect(account).toMatchObject({ account: "a" });
      expect(fake.seen.filter((x) => x === "GET /v1/account")).toHaveLength(3);
      expect(other).toMatchObject({ status: 503, code: "relay_session_unavailable" });
      expect(fake.seen.filter((x) => x === "GET /v1/models")).toHaveLength(1);
      expect(forGood).toMatchObject({ status: 503, code: "store_busy" });
      expect(fake.seen.filter((x) => x === "POST /v1/busy")).toHaveLength(1 + STORE_BUSY_RETRIES);
    } finally {
      await fake.close();
    }
  }, 20_000);

  it("an error answer keeps its machine-readable code; a malformed one is http_error", async () => {
    const fake = await fakeCoordinator((path) =>
      path === "/v1/account"
        ? { status: 402, body: { error: { code: "insufficient_funds", message: "top up" } } }
        : { status: 500, body: { oops: true } },
    );
    const api = new ApiClient(fake.url, generateSigningKey());
    try {
      await expect(api.request(API.account)).rejects.toMatchObject({ status: 402, code: "insufficient_funds", message: "top up" });
      await expect(api.request(API.models)).rejects.toMatchObject({ status: 500, code: "http_error", message: "HTTP 500" });
    } finally {
      await fake.close();
    }
  });

  it("a 4xx with an empty body (another server, a proxy) names the URL and the setting to check", async () => {
    // Prepare
    const server: Server = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      // Act
      const e = await new ApiClient(url, generateSigningKey()).request(API.account).catch((err: unknown) => err);
      // Assess
      expect(e).toMatchObject({ status: 404, code: "http_error" });
      expect((e as Error).message).toBe(
        `HTTP 404 from ${url}, with no Cocoon error in it: is that the Cocoon API? check that URL (--api, COCOON_API_URL)`,
      );
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe("an API that does not answer: the message says what to check for that URL", () => {
  it.each([
    ["a loopback URL (the local network)", "http://127.0.0.1:1", /is the local network running \(npm start\)\?$/],
    ["localhost", "http://localhost:1", /is the local network running \(npm start\)\?$/],
    [
      "a deployed coordinator's URL",
      "https://cocoon.invalid",
      /at https:\/\/cocoon\.invalid \(.*ENOTFOUND.*\); check that URL \(--api, COCOON_API_URL\) and your network connection$/,
    ],
  ])("%s", async (_what, url, message) => {
    // Prepare
    const client = new ApiClient(url, generateSigningKey());
    // Act
    const e = await client.request(API.account).catch((err: unknown) => err);
    // Assess
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ status: 0, code: "unreachable" });
    expect((e as Error).message).toMatch(message);
  });
});

describe("an API URL written slightly wrong: it works, or the message says what to change", () => {
  const ACCOUNT = generateSigningKey().id;

  it("a trailing slash (https://host/) is the same URL: routes are asked at /v1/…, not //v1/…", async () => {
    // Prepare
    const fake = await fakeCoordinator(() => ({ body: { account: ACCOUNT, available: "5", held: "0", reserved: "0" } }));
    try {
      // Act
      const b = await new ApiClient(`${fake.url}/`, generateSigningKey()).request(API.account);
      // Assess
      expect(b.account).toBe(ACCOUNT);
      expect(fake.seen).toEqual(["GET /v1/account"]);
    } finally {
      await fake.close();
    }
  });

  it("a URL ending in /v1 (no route /v1/v1/…) is told to drop it", async () => {
    // Prepare: the coordinator's own answer to a path no route takes (functions/http/middleware.ts)
    const fake = await fakeCoordinator((path) => ({
      status: 404,
      body: { error: { code: "no_such_route", message: `no route GET ${path}; see GET /openapi.json` } },
    }));
    try {
      // Act
      const e = await new ApiClient(`${fake.url}/v1`, generateSigningKey()).request(API.account).catch((err: unknown) => err);
      // Assess
      expect(e).toMatchObject({ status: 404, code: "no_such_route" });
      expect((e as Error).message).toContain(`without /v1: ${fake.url}`);
    } finally {
      await fake.close();
    }
  });

  it("a server that is not the Cocoon API (an HTML 404) is named, with the setting to check", async () => {
    // Prepare
    const server: Server = createServer((_req, res) => res.writeHead(404, { "content-type": "text/html" }).end("<h1>Not Found</h1>"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      // Act
      const e = await new ApiClient(url, generateSigningKey()).request(API.account).catch((err: unknown) => err);
      // Assess
      expect(e).toMatchObject({ status: 404, code: "bad_response" });
      expect((e as Error).message).toBe(
        `${url} answered 404 with non-JSON: is that the Cocoon API? check that URL (--api, COCOON_API_URL)`,
      );
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
