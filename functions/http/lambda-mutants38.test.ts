/**
 * Mutants of lambdaHandler (session 38, helper mut38: middy replaced by a plain function) that
 * test/handlers.test.ts left alive: exactly when the early deadline answers, that its timer is let go
 * once the route answers, and a call outside Lambda (no context, or one without
 * getRemainingTimeInMillis) answered and its failures caught like any other. Fake timers: no
 * assertion depends on how fast this machine is.
 */
import type { APIGatewayProxyEventV2, Context } from "aws-lambda";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_CORE_CONFIG } from "../../core/config";
import type { CoreDeps } from "../../core/deps";
import { defaultPolicy } from "../../core/attestation/policy";
import { createMemoryStore } from "../../local/memory-store";
import { createLocalQueues } from "../../local/queues";
import { createLocalNotifier } from "../../local/notifier";
import { lambdaHandler, TIMEOUT_EARLY_MS } from "./lambda";
import { routes } from "./routes";

const account = routes.find((r) => r.spec.path === "/v1/account" && r.spec.method === "GET")!;

/** Factory: GET /v1/account without authentication, answering what `run` gives. */
const routeAnswering = (run: () => Promise<unknown>) => ({ ...account, spec: { ...account.spec, auth: "none" as const }, run });

const deps = (): CoreDeps => ({
  store: createMemoryStore(),
  queues: createLocalQueues(),
  notifier: createLocalNotifier(),
  clock: { now: () => Date.now() },
  log: { info: () => {}, warn: () => {}, error: () => {} },
  config: DEFAULT_CORE_CONFIG,
  policy: defaultPolicy,
});

const event = {
  version: "2.0",
  routeKey: "$default",
  rawPath: "/v1/account",
  rawQueryString: "",
  headers: {},
  isBase64Encoded: false,
  requestContext: { domainName: "abc.lambda-url.eu-west-1.on.aws", http: { method: "GET", path: "/v1/account" } },
} as unknown as APIGatewayProxyEventV2;

const lambdaContext = (remainingMs: number) =>
  ({ functionName: "test", awsRequestId: "r", getRemainingTimeInMillis: () => remainingMs }) as unknown as Context;

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("lambdaHandler's early deadline", () => {
  it(`answers 500 TIMEOUT_EARLY_MS (${TIMEOUT_EARLY_MS} ms) before the Lambda's deadline, not at it, naming the route in its log line`, async () => {
    // Prepare: 100 ms left, a route that would answer 1 ms before the Lambda's own deadline
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const spy = vi.spyOn(console, "error").mockImplementation(() => {});
    const handler = lambdaHandler(
      routeAnswering(() => new Promise((r) => setTimeout(() => r({ late: true }), 99))),
      async () => deps(),
    );
    let answered = false;
    const pending = handler(event, lambdaContext(100)).finally(() => (answered = true));
    // Act
    await vi.advanceTimersByTimeAsync(100 - TIMEOUT_EARLY_MS - 1);
    const before = answered;
    await vi.runAllTimersAsync();
    const res = await pending;
    // Assess
    expect(TIMEOUT_EARLY_MS).toBe(5);
    expect(before).toBe(false);
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(res.body!).error.message).toMatch(/^internal error; reference [0-9a-f-]{36}$/);
    expect(JSON.parse(String(spy.mock.calls[0]?.[0]))).toMatchObject({ message: "unhandled error", route: "GET /v1/account" });
  });

  it("a route that answers in time is answered as it is, and the deadline's timer is let go", async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const handler = lambdaHandler(
      routeAnswering(() => new Promise((r) => setTimeout(() => r({ inTime: true }), 100 - TIMEOUT_EARLY_MS - 1))),
      async () => deps(),
    );
    const pending = handler(event, lambdaContext(100));
    // Act
    await vi.advanceTimersByTimeAsync(100 - TIMEOUT_EARLY_MS - 1);
    const res = await pending;
    // Assess
    expect([res.statusCode, JSON.parse(res.body!)]).toEqual([200, { inTime: true }]);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("lambdaHandler outside Lambda (no deadline to keep)", () => {
  it("answers without a context, and with one that has no getRemainingTimeInMillis", async () => {
    // Prepare
    const handler = lambdaHandler(
      routeAnswering(async () => ({ ok: true })),
      async () => deps(),
    );
    // Act
    const none = await handler(event, undefined as unknown as Context);
    const bare = await handler(event, {} as Context);
    // Assess
    expect([none.statusCode, JSON.parse(none.body!)]).toEqual([200, { ok: true }]);
    expect([bare.statusCode, JSON.parse(bare.body!)]).toEqual([200, { ok: true }]);
  });

  it("adapters that fail at cold start still answer 500 internal_error with a reference, not a rejected call", async () => {
    // Prepare
    vi.spyOn(console, "error").mockImplementation(() => {});
    const handler = lambdaHandler(
      routeAnswering(async () => ({ ok: true })),
      async () => {
        throw new Error("COCOON_TABLE is not set");
      },
    );
    // Act
    const res = await handler(event, {} as Context);
    // Assess
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(res.body!).error).toMatchObject({
      code: "internal_error",
      message: expect.stringMatching(/reference [0-9a-f-]{36}/),
    });
  });
});
