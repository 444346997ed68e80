import { readFileSync } from "node:fs";
import type { APIGatewayProxyEventV2, Context } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_CORE_CONFIG } from "../core/config";
import type { CoreDeps } from "../core/deps";
import { defaultPolicy } from "../core/attestation/policy";
import { b64u } from "../core/crypto/encoding";
import { generateSigningKey } from "../core/crypto/keys";
import { apiHostOf, signRequest } from "../core/crypto/request-auth";
import { getBalance, requesterAccount } from "../core/ledger";
import { lambdaHandler } from "../functions/http/lambda";
import { routes } from "../functions/http/routes";
import { createMemoryStore } from "../local/memory-store";
import { createLocalNotifier } from "../local/notifier";
import { createLocalQueues } from "../local/queues";
import { startNetwork, type LocalNetwork } from "../local/network";
import { localhostAliasOf, signedHostOf } from "../local/http-server";

/** POST /v1/account/faucet with a ready-made auth header (so tests can send it anywhere). */
const faucet = (url: string, auth: string, body: string, idempotencyKey: string) =>
  fetch(`${url}/v1/account/faucet`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-cocoon-auth": auth, "idempotency-key": idempotencyKey },
    body,
  });

const errorCode = async (res: Response) => [res.status, ((await res.json()) as { error?: { code: string } }).error?.code];

describe("the local server's loopback alias", () => {
  it("is localhost with the port on loopback addresses only; a Host header names it or the server's own address is signed for", () => {
    expect(localhostAliasOf("127.0.0.1:8787")).toBe("localhost:8787");
    expect(localhostAliasOf("[::1]:8787")).toBe("localhost:8787");
    expect(localhostAliasOf("10.0.0.5:8787")).toBe("");
    expect(localhostAliasOf("api.example.org")).toBe("");
    // all of 127.0.0.0/8, multi-digit octets included; a name that only starts like a loopback address is a name
    expect(localhostAliasOf("127.10.200.31:8787")).toBe("localhost:8787");
    expect(localhostAliasOf("127.0.0.1.example.org:8787")).toBe("");
    expect(signedHostOf("127.0.0.1:8787", "LOCALHOST:8787", "localhost:8787")).toBe("localhost:8787");
    expect(signedHostOf("127.0.0.1:8787", "localhost:8788", "localhost:8787")).toBe("127.0.0.1:8787");
    expect(signedHostOf("127.0.0.1:8787", "evil.example:8787", "localhost:8787")).toBe("127.0.0.1:8787");
    expect(signedHostOf("127.0.0.1:8787", undefined, "localhost:8787")).toBe("127.0.0.1:8787");
    expect(signedHostOf("10.0.0.5:8787", "localhost:8787", "")).toBe("10.0.0.5:8787");
    expect(signedHostOf("10.0.0.5:8787", "", "")).toBe("10.0.0.5:8787"); // an empty Host header names no alias
  });

  it("on port 80 is plain localhost, the host a client of http://localhost signs and its Host header names", () => {
    // Regression: the alias was "localhost:80", which no client sends (the default port is left out of
    // both), so --api http://localhost against a loopback server on port 80 was refused bad_signature.
    const alias = localhostAliasOf("127.0.0.1"); // the server's own host on port 80 (URL drops the default port)
    expect(alias).toBe(apiHostOf("http://localhost"));
    expect(signedHostOf("127.0.0.1", "localhost", alias)).toBe("localhost");
  });
});

describe("issue 9 #9 and #12 over HTTP: two local deployments", () => {
  let a: LocalNetwork;
  let b: LocalNetwork;
  beforeAll(async () => {
    [a, b] = await Promise.all([startNetwork({ chain: false }), startNetwork({ chain: false })]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it("issue 9 #12: a request signed for deployment A is refused by deployment B", async () => {
    // Prepare
    const key = generateSigningKey();
    const body = JSON.stringify({ amount: "1000" });
    const auth = signRequest(key, {
      method: "POST",
      path: "/v1/account/faucet",
      body,
      host: apiHostOf(a.url),
      idempotencyKey: "faucet-k-0001",
    });
    // Act
    const atB = await faucet(b.url, auth, body, "faucet-k-0001");
    const atA = await faucet(a.url, auth, body, "faucet-k-0001");
    // Assess
    expect(await errorCode(atB)).toEqual([401, "bad_signature"]);
    expect(atA.status).toBe(200);
    expect((await getBalance(b.store, requesterAccount(key.id))).available).toBe(0n);
  });

  it("a request to http://localhost:PORT signed for localhost:PORT (the host of the client's API URL) is taken; not by another port, nor sent as 127.0.0.1", async () => {
    // Regression: clients sign the host of their API URL (--api http://localhost:8787), the local
    // server took only 127.0.0.1:8787, and every call was 401 bad_signature.
    // Prepare
    const key = generateSigningKey();
    const body = JSON.stringify({ amount: "1000" });
    const asLocalhost = (url: string) => url.replace("127.0.0.1", "localhost");
    const signFor = (host: string, idempotencyKey: string) =>
      signRequest(key, { method: "POST", path: "/v1/account/faucet", body, host, idempotencyKey });
    const aHost = apiHostOf(asLocalhost(a.url));
    // Act
    const taken = await faucet(asLocalhost(a.url), signFor(aHost, "faucet-l-0001"), body, "faucet-l-0001");
    const atB = await faucet(asLocalhost(b.url), signFor(aHost, "faucet-l-0002"), body, "faucet-l-0002");
    const asLoopbackIp = await faucet(a.url, signFor(aHost, "faucet-l-0003"), body, "faucet-l-0003");
    // Assess
    expect(aHost).toMatch(/^localhost:\d+$/);
    expect(taken.status).toBe(200);
    expect(await errorCode(atB)).toEqual([401, "bad_signature"]);
    expect(await errorCode(asLoopbackIp)).toEqual([401, "bad_signature"]);
    expect((await getBalance(a.store, requesterAccount(key.id))).available).toBe(1000n);
    expect((await getBalance(b.store, requesterAccount(key.id))).available).toBe(0n);
  });

  it("issue 9 #12: swapping the Idempotency-Key on a signed request is refused (no second credit)", async () => {
    // Prepare: a captured faucet call; each new Idempotency-Key would be a new credit
    const key = generateSigningKey();
    const body = JSON.stringify({ amount: "1000" });
    const auth = signRequest(key, {
      method: "POST",
      path: "/v1/account/faucet",
      body,
      host: apiHostOf(a.url),
      idempotencyKey: "faucet-k-0002",
    });
    // Act
    const first = await faucet(a.url, auth, body, "faucet-k-0002");
    const swapped = await faucet(a.url, auth, body, "faucet-k-0003");
    // Assess
    expect(first.status).toBe(200);
    expect(await errorCode(swapped)).toEqual([401, "bad_signature"]);
    expect((await getBalance(a.store, requesterAccount(key.id))).available).toBe(1000n);
  });

  it("issue 9 #9: GET /v1/account as the identity key AQAA… with R = identity, S = 0 is 401", async () => {
    // Prepare: the request
    const identity = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const sig = b64u.encode(Buffer.concat([b64u.decode(identity), Buffer.alloc(32)]));
    const auth = `v2 key=${identity},ts=${Date.now()},nonce=${b64u.encode(Buffer.from("0123456789abcdef"))},sig=${sig}`;
    // Act
    const res = await fetch(`${a.url}/v1/account`, { headers: { "x-cocoon-auth": auth } });
    // Assess
    expect(await errorCode(res)).toEqual([401, "bad_signature"]);
  });

  it("issue 9 #12: a v1 header is refused with unsupported_auth_version", async () => {
    // Prepare
    const key = generateSigningKey();
    const v1 = signRequest(key, { method: "GET", path: "/v1/account", host: apiHostOf(a.url) }).replace(/^v2 /, "v1 ");
    // Act
    const res = await fetch(`${a.url}/v1/account`, { headers: { "x-cocoon-auth": v1 } });
    // Assess
    expect(await errorCode(res)).toEqual([401, "unsupported_auth_version"]);
  });
});

describe("issue 9 #12 on Lambda: the host is API Gateway's domainName", () => {
  const deps: CoreDeps = {
    store: createMemoryStore(),
    queues: createLocalQueues(),
    notifier: createLocalNotifier(),
    clock: { now: () => Date.now() },
    log: { info: () => {}, warn: () => {}, error: () => {} },
    config: { ...DEFAULT_CORE_CONFIG },
    policy: defaultPolicy,
  };
  const account = routes.find((r) => r.spec.path === "/v1/account" && r.spec.method === "GET")!;
  const base = JSON.parse(readFileSync(new URL("./fixtures/events/apigw-prepare.json", import.meta.url), "utf8")) as APIGatewayProxyEventV2;
  const event = (domainName: string, auth: string): APIGatewayProxyEventV2 => ({
    ...base,
    rawPath: "/v1/account",
    rawQueryString: "",
    body: undefined,
    headers: { "x-cocoon-auth": auth },
    requestContext: { ...base.requestContext, domainName, http: { ...base.requestContext.http, method: "GET", path: "/v1/account" } },
  });

  it("issue 9 #12: signed for the testnet API, refused by the mainnet API", async () => {
    // Prepare
    const key = generateSigningKey();
    const forTestnet = signRequest(key, {
      method: "GET",
      path: "/v1/account",
      host: apiHostOf("https://testnet.execute-api.eu-west-1.amazonaws.com"),
    });
    // Act
    const handler = lambdaHandler(account, async () => deps);
    const atMainnet = await handler(event("mainnet.execute-api.eu-west-1.amazonaws.com", forTestnet), {} as Context);
    const atTestnet = await handler(event("testnet.execute-api.eu-west-1.amazonaws.com", forTestnet), {} as Context);
    // Assess
    expect([atMainnet.statusCode, JSON.parse(atMainnet.body!).error.code]).toEqual([401, "bad_signature"]);
    expect(atTestnet.statusCode).toBe(200);
  });
});
