import { readFileSync } from "node:fs";
import fc from "fast-check";
import type { APIGatewayProxyEventV2, Context, SQSEvent } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { DEFAULT_CORE_CONFIG } from "../core/config";
import type { CoreDeps } from "../core/deps";
import { defaultPolicy } from "../core/attestation/policy";
import { generateSigningKey, type SigningKeyPair } from "../core/crypto/keys";
import { signRequest } from "../core/crypto/request-auth";
import { createMemoryStore } from "../local/memory-store";
import { createLocalQueues } from "../local/queues";
import { createLocalNotifier } from "../local/notifier";
import { lambdaHandler } from "../functions/http/middleware";
import { routes } from "../functions/http/routes";
import { matchingHandler } from "../functions/queue/matching";

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
  const auth = signRequest(key, { method: event.requestContext.http.method, path, body, host: event.requestContext.domainName, idempotencyKey });
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
    const bad = await handler(signed(fixture("apigw-prepare.json"), generateSigningKey(), JSON.stringify({ model: "", maxTokens: -1 })), context);
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
        const event: APIGatewayProxyEventV2 = { ...base, rawPath: r.spec.path, requestContext: { ...base.requestContext, http: { ...base.requestContext.http, path: r.spec.path } } };
        const res = await lambdaHandler(r, async () => deps)(signed(event, key, JSON.stringify(value)), context);
        expect(res.statusCode ?? 0).toBeGreaterThanOrEqual(200);
        expect(res.statusCode ?? 0).toBeLessThan(500);
        if ((res.statusCode ?? 0) >= 400) expect(JSON.parse(res.body!).error.code).toMatch(/^[a-z_]+$/);
      }),
      { numRuns: 200 },
    );
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
