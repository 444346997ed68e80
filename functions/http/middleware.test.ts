import { describe, expect, it } from "vitest";
import { z } from "zod";
import { CocoonError } from "../../core/errors";
import { requireOperator } from "../../core/payouts";
import { PolicyStaleError } from "../../core/policy-registry";
import { generateSigningKey, type SigningKeyPair } from "../../core/crypto/keys";
import { signRequest } from "../../core/crypto/request-auth";
import { makeJobWorld, type LogEntry } from "../../core/jobs/testing";
import { BodyTooLargeError, bodyText, httpRequest, type HttpRequest, type HttpResponse } from "../../edge/http";
import {
  defineRoute,
  errorBody,
  failureResponse,
  IdempotencyHeaders,
  IdempotencyKey,
  invokeRoute,
  routeRequests,
  WaitQuery,
  type Route,
} from "./middleware";

// ---------------------------------------------------------------- factories

const HOST = "coordinator.test";
const JSON_ONLY = { "content-type": "application/json" };
const REF = /^internal error; reference ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** Factory: core deps over the in-memory store, a clock the test owns and a log that records every line. */
function makeDeps() {
  const w = makeJobWorld();
  return { deps: w.deps, logs: w.logs as LogEntry[], now: () => w.clock.now() };
}

/** Factory: a neutral request as a transport would build it (the query parsed from rawQuery). */
function request(method: string, path: string, o: { query?: string; headers?: Record<string, string>; body?: string } = {}): HttpRequest {
  return httpRequest({ method, path, rawQuery: o.query ?? "", headers: o.headers ?? {}, body: o.body ?? "", host: HOST });
}

/** Factory: a request signed for real (x-cocoon-auth v2) over `signedPath` (default: the path with its query). */
function signed(
  key: SigningKeyPair,
  now: number,
  method: "GET" | "POST",
  path: string,
  o: { query?: string; body?: string; nonce?: string; idempotencyKey?: string; signedPath?: string } = {},
): HttpRequest {
  const headers: Record<string, string> = {};
  if (o.idempotencyKey !== undefined) headers["idempotency-key"] = o.idempotencyKey;
  headers["x-cocoon-auth"] = signRequest(key, {
    method,
    path: o.signedPath ?? path + (o.query ? `?${o.query}` : ""),
    body: o.body ?? "",
    host: HOST,
    idempotencyKey: o.idempotencyKey,
    now,
    ...(o.nonce ? { nonce: o.nonce } : {}),
  });
  return request(method, path, { headers, ...(o.query ? { query: o.query } : {}), ...(o.body ? { body: o.body } : {}) });
}

/** What a client sees: status, headers and the JSON body. */
async function read(res: HttpResponse) {
  return { status: res.status, headers: res.headers, json: JSON.parse(await bodyText(res.body)) as any };
}

/** An unsigned route that answers what it was given (query: WaitQuery). */
const echoRoute = defineRoute(
  { method: "GET", path: "/v1/echo/{id}", summary: "echo", auth: "none", query: WaitQuery },
  async ({ caller, requestNonce, body, query, headers, params }) => ({ caller, requestNonce, body: body ?? null, query, headers, params }),
);

/** An unsigned route with a JSON body, answering 201. */
const thingBody = z.object({ name: z.string().min(1), count: z.number().int() });
const createThing = defineRoute(
  { method: "POST", path: "/v1/things", summary: "create", auth: "none", body: thingBody, status: 201 },
  async ({ body }) => ({ created: body }),
);
const listThings = defineRoute({ method: "GET", path: "/v1/things", summary: "list", auth: "none" }, async () => ({ things: [] }));

/** An unsigned route that moves money: it takes the Idempotency-Key header. */
const payRoute = defineRoute(
  { method: "POST", path: "/v1/pay", summary: "pay", auth: "none", headers: IdempotencyHeaders },
  async ({ headers }) => ({ key: headers["idempotency-key"] }),
);

/** An unsigned route with another declared header. */
const tierRoute = defineRoute(
  { method: "GET", path: "/v1/tier", summary: "tier", auth: "none", headers: z.object({ "x-tier": z.enum(["gold", "silver"]) }) },
  async ({ headers }) => ({ tier: headers["x-tier"] }),
);

/** A signed route (replay guard) with a query and a body. */
const mineRoute = defineRoute(
  { method: "POST", path: "/v1/mine", summary: "mine", auth: "signed", query: WaitQuery, body: z.object({ n: z.number() }) },
  async ({ caller, requestNonce, query, body }) => ({ caller, requestNonce, query, body }),
);

/** A route whose run throws `error`. */
function failingRoute(error: unknown) {
  return defineRoute({ method: "GET", path: "/v1/boom/{id}", summary: "boom", auth: "none" }, async () => {
    throw error;
  });
}

const routesUnderTest: Route[] = [echoRoute, createThing, listThings, payRoute, tierRoute, mineRoute] as Route[];

/** The handler of the routes above on fresh deps. */
function makeEdge(routes: Route[] = routesUnderTest) {
  const d = makeDeps();
  return { ...d, handle: routeRequests(routes, d.deps) };
}

// ---------------------------------------------------------------- tests

describe("errorBody and the shared schemas", () => {
  it("errorBody carries details only when they are given (null is a detail, undefined is none)", () => {
    // Prepare / Act / Assess
    expect(errorBody("c", "m")).toStrictEqual({ error: { code: "c", message: "m" } });
    expect(Object.keys(errorBody("c", "m").error)).toEqual(["code", "message"]);
    expect(errorBody("c", "m", { a: 1 })).toStrictEqual({ error: { code: "c", message: "m", details: { a: 1 } } });
    expect(errorBody("c", "m", null)).toStrictEqual({ error: { code: "c", message: "m", details: null } });
  });

  it("IdempotencyKey: 8-128 chars of A-Z a-z 0-9 _ . : -, anchored at both ends, with its own messages and OpenAPI description", () => {
    // Prepare
    const ok = (s: string) => IdempotencyKey.safeParse(s).success;
    // Act / Assess
    expect(ok("a".repeat(8))).toBe(true);
    expect(ok("a".repeat(128))).toBe(true);
    expect(ok("Az09_.:-")).toBe(true);
    expect(ok("a".repeat(7))).toBe(false);
    expect(ok("a".repeat(129))).toBe(false);
    expect(ok("!" + "a".repeat(10))).toBe(false);
    expect(ok("a".repeat(10) + "!")).toBe(false);
    expect(ok("a".repeat(10) + "\n")).toBe(false);
    expect(IdempotencyKey.safeParse("short").error!.issues[0]!.message).toBe(
      "an Idempotency-Key is 8-128 chars of A-Z a-z 0-9 _ . : -, the same one on every retry of this request",
    );
    expect(IdempotencyKey.safeParse(undefined).error!.issues[0]!.message).toBe(
      "send an Idempotency-Key header (8-128 chars of A-Z a-z 0-9 _ . : -), the same one on every retry of this request",
    );
    const doc = z.toJSONSchema(IdempotencyKey);
    expect(doc.pattern).toBe("^[A-Za-z0-9_.:-]{8,128}$");
    expect(doc.description).toMatch(
      /^The same key on every retry of one request: .*422 idempotency_key_reused\. Signed \(x-cocoon-auth\)\.$/,
    );
  });

  it("WaitQuery: wait is a whole number of seconds 0..60 from text, 0 when absent", () => {
    // Prepare / Act / Assess
    expect(WaitQuery.parse({})).toEqual({ wait: 0 });
    expect(WaitQuery.parse({ wait: "0" })).toEqual({ wait: 0 });
    expect(WaitQuery.parse({ wait: "5" })).toEqual({ wait: 5 });
    expect(WaitQuery.parse({ wait: "60" })).toEqual({ wait: 60 });
    expect(WaitQuery.safeParse({ wait: "61" }).success).toBe(false);
    expect(WaitQuery.safeParse({ wait: "-1" }).success).toBe(false);
    expect(WaitQuery.safeParse({ wait: "1.5" }).success).toBe(false);
    expect(WaitQuery.safeParse({ wait: "soon" }).success).toBe(false);
  });
});

describe("failureResponse: what a failure answers", () => {
  it("a CocoonError under 500 answers its status, code, message and details; no log line", async () => {
    // Prepare
    const { deps, logs } = makeDeps();
    // Act
    const res = await read(failureResponse(new CocoonError(499, "client_gone", "the client went away", { at: 3 }), deps.log, "GET /x"));
    // Assess
    expect(res).toEqual({
      status: 499,
      headers: JSON_ONLY,
      json: { error: { code: "client_gone", message: "the client went away", details: { at: 3 } } },
    });
    expect(logs).toEqual([]);
  });

  it("an oversize body is 413 body_too_large with the limit in the message", async () => {
    // Prepare
    const { deps, logs } = makeDeps();
    // Act
    const res = await read(failureResponse(new BodyTooLargeError(6), deps.log, "POST /v1/things"));
    // Assess
    expect(res).toEqual({
      status: 413,
      headers: JSON_ONLY,
      json: { error: { code: "body_too_large", message: "request body exceeds 6 bytes" } },
    });
    expect(logs).toEqual([]);
  });

  it.each([
    ["a rate limit", new CocoonError(429, "rate_limited", "slow down", { retryAfterSeconds: 2.2 }), "3"],
    ["a per-worker challenge limit", new CocoonError(429, "worker_challenge_limit", "later", { workerId: "w", retryAfterSeconds: 7 }), "7"],
  ])("%s: a 4xx whose details say when to come back says it in Retry-After too (session 23)", async (_what, error, header) => {
    // Prepare
    const { deps } = makeDeps();
    // Act
    const res = await read(failureResponse(error, deps.log, "POST /v1/x"));
    // Assess
    expect(res.status).toBe(429);
    expect(res.headers).toEqual({ ...JSON_ONLY, "retry-after": header });
  });

  it("a 4xx without a retry time carries no Retry-After", async () => {
    // Prepare
    const { deps } = makeDeps();
    // Act
    const res = await read(
      failureResponse(new CocoonError(409, "job_exists", "taken", { retryAfterSeconds: "soon" }), deps.log, "POST /v1/x"),
    );
    // Assess
    expect(res.headers).toEqual(JSON_ONLY);
  });

  it("a CocoonError of 500 keeps its code but not its message: a reference the log carries too, with the detail", async () => {
    // Prepare
    const { deps, logs } = makeDeps();
    // Act
    const res = await read(failureResponse(new CocoonError(500, "ledger_broken", "row 42 of secret_table is bad"), deps.log, "POST /v1/x"));
    // Assess
    expect(res.status).toBe(500);
    expect(res.headers).toEqual(JSON_ONLY); // no retry-after: retrying a 500 is not known to be safe
    expect(Object.keys(res.json.error)).toEqual(["code", "message"]);
    expect(res.json.error.code).toBe("ledger_broken");
    const ref = REF.exec(res.json.error.message)![1];
    expect(JSON.stringify(res.json)).not.toContain("secret_table");
    expect(logs).toEqual([
      { level: "error", msg: "unhandled error", data: { ref, route: "POST /v1/x", error: "CocoonError: row 42 of secret_table is bad" } },
    ]);
  });

  it("a 503 (the store was busy) answers retry-after: 1, its code and a reference, never its message", async () => {
    // Prepare
    const { deps, logs } = makeDeps();
    // Act
    const res = await read(failureResponse(new CocoonError(503, "store_busy", "throttled on table secret_table"), deps.log, "POST /v1/x"));
    // Assess
    expect(res.status).toBe(503);
    expect(res.headers).toEqual({ ...JSON_ONLY, "retry-after": "1" });
    expect(res.json.error.code).toBe("store_busy");
    expect(res.json.error.message).toMatch(REF);
    expect(JSON.stringify(res.json)).not.toContain("secret_table");
    expect(logs[0]!.data!.ref).toBe(REF.exec(res.json.error.message)![1]);
  });

  it("a 503 refused on purpose passes its message on: a configuration without retry-after (asking again cannot help), a passing state with it", async () => {
    // Regression: every 503 was "internal error; reference …" with retry-after: 1, so a coordinator
    // without COCOON_OPERATOR_KEY told the operator nothing, and told them to retry at once.
    // Prepare
    const { deps, logs } = makeDeps();
    const unconfigured = (() => {
      try {
        requireOperator({ operatorKeyId: undefined } as Parameters<typeof requireOperator>[0], "caller");
      } catch (e) {
        return e;
      }
    })();
    // Act
    const config = await read(failureResponse(unconfigured, deps.log, "GET /v1/operator/status"));
    const stale = await read(failureResponse(new PolicyStaleError("the policy registry could not be read"), deps.log, "POST /v1/jobs"));
    // Assess
    expect(config.status).toBe(503);
    expect(config.headers).toEqual(JSON_ONLY);
    expect(config.json.error).toEqual({
      code: "payouts_unavailable",
      message: "this coordinator has no operator key configured (COCOON_OPERATOR_KEY); operator payouts are off",
    });
    expect(stale.status).toBe(503);
    expect(stale.headers).toEqual({ ...JSON_ONLY, "retry-after": "1" });
    expect(stale.json.error).toMatchObject({ code: "policy_stale", message: "the policy registry could not be read" });
    expect(logs).toEqual([]); // refusals, not failures of the coordinator
  });

  it("anything else is 500 internal_error, even an error that carries a status under 500 of its own", async () => {
    // Prepare: an http-errors style object (a library's error with a status), a string, a TypeError
    const { deps, logs } = makeDeps();
    const lookalike = Object.assign(new Error("upstream said: token abc123 is invalid"), { status: 401, code: "upstream_auth" });
    // Act
    const a = await read(failureResponse(lookalike, deps.log, "GET /a"));
    const b = await read(failureResponse("plain string secret", deps.log, "GET /b"));
    // Assess
    for (const r of [a, b]) {
      expect(r.status).toBe(500);
      expect(r.headers).toEqual(JSON_ONLY);
      expect(r.json.error.code).toBe("internal_error");
      expect(r.json.error.message).toMatch(REF);
    }
    expect(JSON.stringify(a.json)).not.toContain("abc123");
    expect(logs.map((l) => [l.msg, l.data!.route, l.data!.error])).toEqual([
      ["unhandled error", "GET /a", "Error: upstream said: token abc123 is invalid"],
      ["unhandled error", "GET /b", "plain string secret"],
    ]);
    expect(logs[0]!.data!.ref).not.toBe(logs[1]!.data!.ref);
  });
});

describe("routeRequests: matching", () => {
  it("an unknown path is 404 no_such_route naming method and path", async () => {
    // Prepare
    const { handle } = makeEdge();
    // Act
    const res = await read(await handle(request("GET", "/v1/nope")));
    // Assess
    expect(res).toEqual({
      status: 404,
      headers: JSON_ONLY,
      json: { error: { code: "no_such_route", message: "no route GET /v1/nope; see GET /openapi.json" } },
    });
  });

  it("a known path with another method is 405 method_not_allowed with an Allow header listing every method", async () => {
    // Prepare
    const { handle } = makeEdge();
    // Act
    const res = await read(await handle(request("DELETE", "/v1/things")));
    // Assess
    expect(res).toEqual({
      status: 405,
      headers: { ...JSON_ONLY, allow: "POST, GET" },
      json: { error: { code: "method_not_allowed", message: "DELETE is not allowed on /v1/things" } },
    });
  });

  it("a path parameter that does not percent-decode is 400 malformed_path, not a 500", async () => {
    // Prepare
    const { handle, logs } = makeEdge();
    // Act
    const res = await read(await handle(request("GET", "/v1/echo/%E0%A4%A")));
    // Assess
    expect(res).toEqual({
      status: 400,
      headers: JSON_ONLY,
      json: {
        error: {
          code: "malformed_path",
          message:
            "the request path does not decode: a malformed percent-encoding (like %E0%A4%A) or not a URL; percent-encode it as UTF-8",
        },
      },
    });
    expect(logs).toEqual([]);
  });

  it("invokeRoute runs one route with its decoded path parameters and refuses other paths", async () => {
    // Prepare
    const { deps } = makeDeps();
    // Act
    const hit = await read(await invokeRoute(echoRoute as Route, request("GET", "/v1/echo/a%20b"), deps));
    const miss = await read(await invokeRoute(echoRoute as Route, request("GET", "/v1/other"), deps));
    // Assess
    expect(hit.status).toBe(200);
    expect(hit.json.params).toEqual({ id: "a b" });
    expect(miss.status).toBe(404);
  });
});

describe("runRoute: parsing and calling", () => {
  it("an unsigned route gets caller and requestNonce as empty strings, no headers, the default wait and its status", async () => {
    // Prepare
    const { handle } = makeEdge();
    // Act
    const res = await read(await handle(request("GET", "/v1/echo/x", { headers: { "x-other": "1", "idempotency-key": "k".repeat(10) } })));
    const created = await read(await handle(request("POST", "/v1/things", { body: JSON.stringify({ name: "a", count: 2, extra: 1 }) })));
    // Assess
    expect(res.status).toBe(200);
    expect(res.json).toStrictEqual({ caller: "", requestNonce: "", body: null, query: { wait: 0 }, headers: {}, params: { id: "x" } });
    expect(created).toEqual({ status: 201, headers: JSON_ONLY, json: { created: { name: "a", count: 2 } } });
  });

  it("a route with a body is told its size as sent (UTF-8 bytes, whitespace and fields the schema drops included); one without a body, none", async () => {
    // Prepare: 133 characters, 138 bytes (é 2, € 3, 😀 4)
    const sized = defineRoute(
      { method: "POST", path: "/v1/sized", summary: "sized", auth: "none", body: z.object({ name: z.string() }) },
      async ({ body, bodyBytes }) => ({ body, bodyBytes: bodyBytes ?? null }),
    );
    const unsized = defineRoute({ method: "GET", path: "/v1/unsized", summary: "unsized", auth: "none" }, async ({ bodyBytes }) => ({
      bodyBytes: bodyBytes ?? null,
    }));
    const { handle } = makeEdge([sized, unsized] as Route[]);
    const text = `{ "name": "é€😀", "dropped": "${"x".repeat(100)}" }`;
    // Act
    const withBody = await read(await handle(request("POST", "/v1/sized", { body: text })));
    const withoutBody = await read(await handle(request("GET", "/v1/unsized", { body: "{}" })));
    // Assess
    expect(text.length).toBe(133);
    expect(withBody.json).toEqual({ body: { name: "é€😀" }, bodyBytes: 138 });
    expect(withoutBody.json).toEqual({ bodyBytes: null });
  });

  it("a bad query is 400 invalid_request naming query.<field>, with the issues as details", async () => {
    // Prepare
    const { handle } = makeEdge();
    // Act
    const res = await read(await handle(request("GET", "/v1/echo/x", { query: "wait=61" })));
    const ok = await read(await handle(request("GET", "/v1/echo/x", { query: "wait=60" })));
    // Assess
    expect(res).toEqual({
      status: 400,
      headers: JSON_ONLY,
      json: {
        error: {
          code: "invalid_request",
          message: "query.wait: Too big: expected number to be <=60",
          details: [{ path: "query.wait", message: "Too big: expected number to be <=60" }],
        },
      },
    });
    expect(ok.json.query).toEqual({ wait: 60 });
  });

  it("a body with several bad fields names each, joined by '; '", async () => {
    // Prepare
    const { handle } = makeEdge();
    // Act
    const res = await read(await handle(request("POST", "/v1/things", { body: JSON.stringify({ name: "", count: 1.5 }) })));
    // Assess
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("invalid_request");
    const issues = res.json.error.details as Array<{ path: string; message: string }>;
    expect(issues.map((i) => i.path)).toEqual(["body.name", "body.count"]);
    expect(res.json.error.message).toBe(issues.map((i) => `${i.path}: ${i.message}`).join("; "));
    expect(res.json.error.message).toMatch(/^body\.name: [^;]+; body\.count: [^;]+$/);
  });

  it("a body that is not JSON is 400 invalid_json, but only on a route that takes a body", async () => {
    // Prepare
    const { handle } = makeEdge();
    // Act
    const withBody = await read(await handle(request("POST", "/v1/things", { body: "{not json" })));
    const withoutBody = await read(await handle(request("GET", "/v1/echo/x", { body: "{not json" })));
    const empty = await read(await handle(request("POST", "/v1/things")));
    // Assess
    expect(withBody).toEqual({
      status: 400,
      headers: JSON_ONLY,
      json: { error: { code: "invalid_json", message: "request body is not valid JSON" } },
    });
    expect(withoutBody.status).toBe(200);
    expect(withoutBody.json.body).toBeNull();
    expect(empty.status).toBe(400);
    expect(empty.json.error.code).toBe("invalid_request");
    expect(empty.json.error.details[0].path).toBe("body");
  });

  it("a body nested too deeply for its schema's refinement is 400 invalid_request, not a 500", async () => {
    // Prepare: a schema that serialises an unknown-typed field (as the attestation's size check does)
    const sized = defineRoute(
      {
        method: "POST",
        path: "/v1/sized",
        summary: "sized",
        auth: "none",
        body: z.object({ v: z.unknown() }).refine((b) => JSON.stringify(b).length < 10_000_000),
      },
      async () => ({ ok: true }),
    );
    const { handle } = makeEdge([sized as Route]);
    const depth = 300_000;
    // Act
    const deep = await read(await handle(request("POST", "/v1/sized", { body: `{"v":${"[".repeat(depth)}${"]".repeat(depth)}}` })));
    const flat = await read(await handle(request("POST", "/v1/sized", { body: `{"v":[[1]]}` })));
    // Assess
    expect(deep).toEqual({
      status: 400,
      headers: JSON_ONLY,
      json: { error: { code: "invalid_request", message: "body is nested too deeply to read" } },
    });
    expect(flat.status).toBe(200);
  });

  it("a missing or malformed Idempotency-Key is 400 missing_idempotency_key with the key's own message", async () => {
    // Prepare
    const { handle } = makeEdge();
    const pay = (key?: string) => handle(request("POST", "/v1/pay", key === undefined ? {} : { headers: { "idempotency-key": key } }));
    // Act
    const missing = await read(await pay());
    const short = await read(await pay("short"));
    // Assess
    expect(missing).toEqual({
      status: 400,
      headers: JSON_ONLY,
      json: {
        error: {
          code: "missing_idempotency_key",
          message:
            "headers.idempotency-key: send an Idempotency-Key header (8-128 chars of A-Z a-z 0-9 _ . : -), the same one on every retry of this request",
          details: [
            {
              path: "headers.idempotency-key",
              message: "send an Idempotency-Key header (8-128 chars of A-Z a-z 0-9 _ . : -), the same one on every retry of this request",
            },
          ],
        },
      },
    });
    expect(short.status).toBe(400);
    expect(short.json.error.code).toBe("missing_idempotency_key");
    expect(short.json.error.message).toBe(
      "headers.idempotency-key: an Idempotency-Key is 8-128 chars of A-Z a-z 0-9 _ . : -, the same one on every retry of this request",
    );
  });

  it("the Idempotency-Key is anchored at both ends: junk before or after, or a 129th char, is refused", async () => {
    // Prepare
    const { handle } = makeEdge();
    const status = async (key: string) => (await handle(request("POST", "/v1/pay", { headers: { "idempotency-key": key } }))).status;
    // Act / Assess
    expect(await status("a".repeat(8))).toBe(200);
    expect(await status("a".repeat(128))).toBe(200);
    expect(await status(" " + "a".repeat(10))).toBe(400);
    expect(await status("a".repeat(10) + " x")).toBe(400);
    expect(await status("a".repeat(129))).toBe(400);
    expect(await read(await handle(request("POST", "/v1/pay", { headers: { "idempotency-key": "Az09_.:-" } })))).toMatchObject({
      json: { key: "Az09_.:-" },
    });
  });

  it("another bad declared header is 400 invalid_header", async () => {
    // Prepare
    const { handle } = makeEdge();
    // Act
    const res = await read(await handle(request("GET", "/v1/tier", { headers: { "x-tier": "bronze" } })));
    const ok = await read(await handle(request("GET", "/v1/tier", { headers: { "x-tier": "gold" } })));
    // Assess
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("invalid_header");
    expect(res.json.error.message).toMatch(/^headers\.x-tier: /);
    expect(res.json.error.details).toEqual([{ path: "headers.x-tier", message: expect.any(String) }]);
    expect(ok.json).toEqual({ tier: "gold" });
  });
});

describe("runRoute: signed routes", () => {
  it("the signer's key id is the caller and its nonce the requestNonce; the query string is part of what is signed", async () => {
    // Prepare
    const { handle, now } = makeEdge();
    const key = generateSigningKey();
    const nonce = "n".repeat(16) + "0123";
    const body = JSON.stringify({ n: 1 });
    // Act
    const res = await read(await handle(signed(key, now(), "POST", "/v1/mine", { query: "wait=7", body, nonce })));
    // Assess
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ caller: key.id, requestNonce: nonce, query: { wait: 7 }, body: { n: 1 } });
  });

  it("a query added or changed after signing is refused 401 bad_signature", async () => {
    // Prepare
    const { handle, now } = makeEdge();
    const key = generateSigningKey();
    const body = JSON.stringify({ n: 1 });
    // Act
    const added = await read(await handle(signed(key, now(), "POST", "/v1/mine", { query: "wait=7", body, signedPath: "/v1/mine" })));
    const changed = await read(
      await handle(signed(key, now(), "POST", "/v1/mine", { query: "wait=7", body, signedPath: "/v1/mine?wait=1" })),
    );
    // Assess
    expect(added.status).toBe(401);
    expect(added.json.error.code).toBe("bad_signature");
    expect(changed.status).toBe(401);
    expect(changed.json.error.code).toBe("bad_signature");
  });

  it("authentication comes before parsing: an unsigned request with a broken body is 401, not 400", async () => {
    // Prepare
    const { handle } = makeEdge();
    // Act
    const res = await read(await handle(request("POST", "/v1/mine", { body: "{not json" })));
    // Assess
    expect(res.status).toBe(401);
    expect(res.json.error.code).toBe("missing_auth");
  });
});

describe("runRoute: failures of the route itself", () => {
  it("a 5xx thrown by a route is logged with the route's template, never answered with its message", async () => {
    // Prepare
    const { handle, logs } = makeEdge([failingRoute(new Error("connection string postgres://u:pw@db")) as Route]);
    // Act
    const res = await read(await handle(request("GET", "/v1/boom/abc")));
    // Assess
    expect(res.status).toBe(500);
    expect(res.json.error.code).toBe("internal_error");
    expect(JSON.stringify(res.json)).not.toContain("pw@db");
    const ref = REF.exec(res.json.error.message)![1];
    expect(logs).toEqual([
      {
        level: "error",
        msg: "unhandled error",
        data: { ref, route: "GET /v1/boom/{id}", error: "Error: connection string postgres://u:pw@db" },
      },
    ]);
  });

  it("a 503 from a route reaches the client with retry-after; a 4xx from a route with its own message", async () => {
    // Prepare
    const busy = makeEdge([failingRoute(new CocoonError(503, "store_busy", "throttled")) as Route]);
    const gone = makeEdge([failingRoute(new CocoonError(410, "job_gone", "job abc expired", { jobId: "abc" })) as Route]);
    // Act
    const a = await read(await busy.handle(request("GET", "/v1/boom/1")));
    const b = await read(await gone.handle(request("GET", "/v1/boom/1")));
    // Assess
    expect(a.status).toBe(503);
    expect(a.headers["retry-after"]).toBe("1");
    expect(a.json.error.message).toMatch(REF);
    expect(b).toEqual({
      status: 410,
      headers: JSON_ONLY,
      json: { error: { code: "job_gone", message: "job abc expired", details: { jobId: "abc" } } },
    });
  });

  it("a refusal whose details cannot be written as JSON falls through to the outer catch: 500, logged with the path as sent", async () => {
    // Prepare: a 4xx whose details are circular (a route bug) makes failureResponse itself throw
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const { handle, logs } = makeEdge([failingRoute(new CocoonError(409, "conflict", "taken", circular)) as Route]);
    // Act
    const res = await read(await handle(request("GET", "/v1/boom/abc")));
    // Assess
    expect(res.status).toBe(500);
    expect(res.json.error.code).toBe("internal_error");
    const ref = REF.exec(res.json.error.message)![1];
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ level: "error", msg: "unhandled error", data: { ref, route: "GET /v1/boom/abc" } });
    expect(logs[0]!.data!.error).toMatch(/^TypeError: /);
  });
});
