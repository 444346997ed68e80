import { readFileSync } from "node:fs";
import fc from "fast-check";
import type { APIGatewayProxyEventV2, Context, SQSEvent } from "aws-lambda";
import { describe, expect, it, vi } from "vitest";
import { DEFAULT_CORE_CONFIG } from "../core/config";
import type { CoreDeps } from "../core/deps";
import { defaultPolicy } from "../core/attestation/policy";
import { generateSigningKey, type SigningKeyPair } from "../core/crypto/keys";
import { signRequest } from "../core/crypto/request-auth";
import { createMemoryStore } from "../local/memory-store";
import { createLocalQueues } from "../local/queues";
import { createLocalNotifier } from "../local/notifier";
import { lambdaHandler } from "../functions/http/lambda";
import { route as openapiRoute } from "../functions/http/openapi";
import { buildOpenApi } from "../functions/http/openapi-doc";
import { routes } from "../functions/http/routes";
import { matchingHandler } from "../functions/queue/matching";
import { newJobId } from "../core/ids";

const fixture = <T>(name: string): T => JSON.parse(readFileSync(new URL(`./fixtures/events/${name}`, import.meta.url), "utf8"));
const context = { functionName: "test", awsRequestId: "r", getRemainingTimeInMillis: () => 30_000 } as unknown as Context;

/** Factory: in-memory deps with every log line captured. */
function makeDeps(over: Partial<CoreDeps["config"]> = {}) {
  const logs: string[] = [];
  const log = (level: string) => (m: string, d?: Record<string, unknown>) => logs.push(JSON.stringify({ level, m, ...d }));
  const deps: CoreDeps = {
    store: createMemoryStore(),
    queues: createLocalQueues(),
    notifier: createLocalNotifier(),
    clock: { now: () => Date.now() },
    log: { info: log("INFO"), warn: log("WARN"), error: log("ERROR") },
    config: { ...DEFAULT_CORE_CONFIG, ...over },
    policy: defaultPolicy,
  };
  return { deps, logs };
}

function signed(event: APIGatewayProxyEventV2, key: SigningKeyPair, body = event.body ?? ""): APIGatewayProxyEventV2 {
  const path = event.rawPath + (event.rawQueryString ? `?${event.rawQueryString}` : "");
  const idempotencyKey = Object.entries(event.headers ?? {}).find(([k]) => k.toLowerCase() === "idempotency-key")?.[1];
  const auth = signRequest(key, {
    method: event.requestContext.http.method,
    path,
    body,
    host: event.requestContext.domainName,
    idempotencyKey,
  });
  return { ...event, body, headers: { ...event.headers, "x-cocoon-auth": auth } };
}

const route = (path: string, method = "POST") => routes.find((r) => r.spec.path === path && r.spec.method === method)!;

describe("HTTP handlers (API Gateway v2 events)", () => {
  it("prepare: a valid signed event for an unknown model answers 404 unknown_model", async () => {
    // Prepare
    const { deps } = makeDeps();
    const handler = lambdaHandler(route("/v1/jobs/prepare"), async () => deps);
    // Act
    const res = await handler(signed(fixture("apigw-prepare.json"), generateSigningKey()), context);
    // Assess
    expect(res.statusCode).toBe(404);
    expect(JSON.parse(res.body!).error.code).toBe("unknown_model");
  });

  it("prepare: an unsigned event is 401 missing_auth, a body with wrong types is 400 naming the fields", async () => {
    const { deps } = makeDeps();
    const handler = lambdaHandler(route("/v1/jobs/prepare"), async () => deps);
    const unsigned = await handler(fixture("apigw-prepare.json"), context);
    expect(unsigned.statusCode).toBe(401);
    expect(JSON.parse(unsigned.body!).error.code).toBe("missing_auth");
    const bad = await handler(
      signed(fixture("apigw-prepare.json"), generateSigningKey(), JSON.stringify({ model: "", maxTokens: -1 })),
      context,
    );
    const err = JSON.parse(bad.body!).error;
    expect(bad.statusCode).toBe(400);
    expect(err.code).toBe("invalid_request");
    expect(err.message).toMatch(/body\.model/);
    expect(err.message).toMatch(/body\.maxTokens/);
    expect(err.message).toMatch(/body\.maxPromptTokens/);
  });

  it("an unexpected failure is a 500 with a reference and no internal message; the log has the detail", async () => {
    const { deps, logs } = makeDeps();
    deps.store.get = deps.store.query = async () => {
      throw new Error("disk on fire: /secret/path");
    };
    const handler = lambdaHandler(route("/v1/jobs/prepare"), async () => deps);
    const res = await handler(signed(fixture("apigw-prepare.json"), generateSigningKey()), context);
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain("disk on fire");
    expect(JSON.parse(res.body!).error.message).toMatch(/reference [0-9a-f-]{36}/);
    expect(logs.join("\n")).toContain("disk on fire");
  });

  it("fuzz: no JSON body to any signed route ever yields a 5xx", async () => {
    const { deps } = makeDeps({ faucet: true });
    const key = generateSigningKey();
    const posts = routes.filter((r) => r.spec.method === "POST");
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...posts), fc.jsonValue(), async (r, value) => {
        const base = fixture<APIGatewayProxyEventV2>("apigw-prepare.json");
        const event: APIGatewayProxyEventV2 = {
          ...base,
          rawPath: r.spec.path,
          requestContext: { ...base.requestContext, http: { ...base.requestContext.http, path: r.spec.path } },
        };
        const res = await lambdaHandler(r, async () => deps)(signed(event, key, JSON.stringify(value)), context);
        expect(res.statusCode ?? 0).toBeGreaterThanOrEqual(200);
        expect(res.statusCode ?? 0).toBeLessThan(500);
        if ((res.statusCode ?? 0) >= 400) expect(JSON.parse(res.body!).error.code).toMatch(/^[a-z_]+$/);
      }),
      { numRuns: 200 },
    );
  });
});

describe("the typed HTTP edge on Lambda (API Gateway v2 and function URLs)", () => {
  /** A Lambda function URL event: the v2 shape, but no API Gateway routing (routeKey $default, no pathParameters). */
  const functionUrlEvent = (method: string, rawPath: string, headers: Record<string, string> = {}): APIGatewayProxyEventV2 => {
    const base = fixture<APIGatewayProxyEventV2>("apigw-prepare.json");
    const domainName = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws";
    const { pathParameters: _none, ...rest } = base;
    return {
      ...rest,
      routeKey: "$default",
      rawPath,
      rawQueryString: "",
      headers: { host: domainName, ...headers },
      body: undefined,
      requestContext: {
        ...base.requestContext,
        routeKey: "$default",
        domainName,
        domainPrefix: "abcdefghijklmnopqrstuvwxyz012345",
        http: { ...base.requestContext.http, method, path: rawPath },
      },
    };
  };

  it("a function URL event gets its path parameters from the route's own template", async () => {
    // Prepare: a well-formed job id nobody created, signed for the function URL's host
    const { deps } = makeDeps();
    const handler = lambdaHandler(route("/v1/jobs/{id}", "GET"), async () => deps);
    const event = signed(functionUrlEvent("GET", `/v1/jobs/${newJobId(Date.now())}`), generateSigningKey());
    // Act
    const res = await handler(event, context);
    // Assess: the id reached the route (unknown job), not "no id" (invalid_job_id)
    expect([res.statusCode, JSON.parse(res.body!).error.code]).toEqual([404, "unknown_job"]);
  });

  it("a function URL event for another route's path is 404 no_such_route, the wrong method 405, and the route never runs", async () => {
    // Prepare
    const { deps } = makeDeps();
    let ran = 0;
    const account = route("/v1/account", "GET");
    const handler = lambdaHandler({ ...account, run: async (i) => (ran++, account.run(i)) }, async () => deps);
    // Act
    const other = await handler(functionUrlEvent("GET", "/v1/agents/me"), context);
    const wrongMethod = await handler(functionUrlEvent("POST", "/v1/account"), context);
    // Assess
    expect([other.statusCode, JSON.parse(other.body!).error.code]).toEqual([404, "no_such_route"]);
    expect([wrongMethod.statusCode, JSON.parse(wrongMethod.body!).error.code]).toEqual([405, "method_not_allowed"]);
    expect(ran).toBe(0);
  });

  it("adapters that fail at cold start answer 500 internal_error with a reference (not API Gateway's bare 500)", async () => {
    // Prepare
    const spy = vi.spyOn(console, "error").mockImplementation(() => {});
    const handler = lambdaHandler(route("/v1/jobs/prepare"), async () => {
      throw new Error("COCOON_TABLE is not set: /secret/config");
    });
    try {
      // Act
      const res = await handler(signed(fixture("apigw-prepare.json"), generateSigningKey()), context);
      // Assess
      expect(res.statusCode).toBe(500);
      expect(JSON.parse(res.body!).error.code).toBe("internal_error");
      expect(JSON.parse(res.body!).error.message).toMatch(/reference [0-9a-f-]{36}/);
      expect(res.body).not.toContain("secret");
      expect(String(spy.mock.calls[0]?.[0])).toContain("COCOON_TABLE is not set");
    } finally {
      spy.mockRestore();
    }
  });

  it("a call still running 5 ms before its Lambda's deadline answers 500 with a reference, logged (as middy did)", async () => {
    // Prepare: a route that never answers, a context with 30 ms left
    const spy = vi.spyOn(console, "error").mockImplementation(() => {});
    const account = route("/v1/account", "GET");
    const handler = lambdaHandler(
      { ...account, spec: { ...account.spec, auth: "none" }, run: () => new Promise(() => {}) },
      async () => makeDeps().deps,
    );
    const event = { ...fixture<APIGatewayProxyEventV2>("apigw-prepare.json"), rawPath: "/v1/account", body: undefined };
    event.requestContext = { ...event.requestContext, http: { ...event.requestContext.http, method: "GET", path: "/v1/account" } };
    const deadline = { ...context, getRemainingTimeInMillis: () => 30 } as Context;
    try {
      // Act
      const res = await handler(event, deadline);
      // Assess
      expect(res.statusCode).toBe(500);
      expect(JSON.parse(res.body!).error.message).toMatch(/^internal error; reference [0-9a-f-]{36}$/);
      expect(String(spy.mock.calls[0]?.[0])).toContain("unhandled error");
    } finally {
      spy.mockRestore();
    }
  });

  it("submit and withdraw declare the one Idempotency-Key schema; without a valid key withdraw is 400 missing_idempotency_key", async () => {
    // Prepare: a withdraw body that parses, so only the header can fail
    const { deps } = makeDeps();
    const key = generateSigningKey();
    const base = fixture<APIGatewayProxyEventV2>("apigw-prepare.json");
    const body = JSON.stringify({ amount: "1", to: "0:" + "0".repeat(64) });
    const at = (headers: Record<string, string>) =>
      signed({ ...base, rawPath: "/v1/account/withdraw", headers: { ...base.headers, ...headers } }, key, body);
    const handler = lambdaHandler(route("/v1/account/withdraw"), async () => deps);
    // Act
    const missing = await handler(at({}), context);
    const malformed = await handler(at({ "Idempotency-Key": "short" }), context);
    // Assess
    expect(route("/v1/jobs").spec.headers).toBeDefined();
    expect(route("/v1/jobs").spec.headers).toBe(route("/v1/account/withdraw").spec.headers);
    for (const res of [missing, malformed]) {
      expect([res.statusCode, JSON.parse(res.body!).error.code]).toEqual([400, "missing_idempotency_key"]);
      expect(JSON.parse(res.body!).error.message).toMatch(/headers\.idempotency-key: .*Idempotency-Key/);
    }
  });

  it("/openapi.json lists the one Idempotency-Key header on submit and withdraw, and x-cocoon-auth as the security scheme", async () => {
    // Prepare
    const { deps } = makeDeps();
    // Act
    const base = fixture<APIGatewayProxyEventV2>("apigw-prepare.json");
    const event = {
      ...base,
      rawPath: "/openapi.json",
      body: undefined,
      requestContext: { ...base.requestContext, http: { ...base.requestContext.http, method: "GET" } },
    };
    const res = await lambdaHandler(openapiRoute, async () => deps)(event, context);
    const doc = JSON.parse(res.body!);
    // Assess
    const header = (path: string, method: string) =>
      (doc.paths[path][method].parameters ?? []).filter(
        (p: { in: string; name: string }) => p.in === "header" && p.name.toLowerCase() === "idempotency-key",
      );
    const submit = header("/v1/jobs", "post");
    const withdraw = header("/v1/account/withdraw", "post");
    expect(res.statusCode).toBe(200);
    expect(submit).toHaveLength(1);
    expect(submit[0]).toMatchObject({ name: "Idempotency-Key", in: "header", required: true });
    expect(submit[0].schema.pattern).toBe("^[A-Za-z0-9_.:-]{8,128}$");
    expect(withdraw).toEqual(submit);
    expect(header("/v1/account/faucet", "post")[0]).toMatchObject({ required: false, schema: submit[0].schema });
    expect(doc.components.securitySchemes.cocoonSignature).toMatchObject({ type: "apiKey", in: "header", name: "x-cocoon-auth" });
    const everyParam = Object.values(doc.paths).flatMap((ops) =>
      Object.values(ops as Record<string, { parameters?: Array<{ name: string }> }>).flatMap((op) => op.parameters ?? []),
    );
    expect(everyParam.some((p) => p.name.toLowerCase() === "x-cocoon-auth")).toBe(false);
    // the hot path takes a signature or a session; the handshake only a signature
    expect(buildOpenApi().paths["/v1/jobs"]?.post).toMatchObject({ security: [{ cocoonSignature: [] }, { cocoonSession: [] }] });
    expect(buildOpenApi().paths["/v1/sessions"]?.post).toMatchObject({ security: [{ cocoonSignature: [] }] });
  });
});

describe("matching queue handler (SQS events)", () => {
  it("drops poison messages, treats stale lease checks as done, and reports no batch item failures", async () => {
    const { deps, logs } = makeDeps();
    const res = await matchingHandler(async () => deps)(fixture<SQSEvent>("sqs-matching.json"), context);
    expect(res).toEqual({ batchItemFailures: [] });
    expect(logs.filter((l) => l.includes("poison"))).toHaveLength(2);
  });

  it("reports only the failing record for redelivery when the store is down", async () => {
    const { deps } = makeDeps();
    const event = fixture<SQSEvent>("sqs-matching.json");
    deps.store.get = async () => {
      throw new Error("throttled");
    };
    const res = await matchingHandler(async () => deps)(event, context);
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: event.Records[0]!.messageId }] });
  });
});
