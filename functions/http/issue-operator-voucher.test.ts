/**
 * The Lambda of POST /v1/operator/voucher as deployed (functions/http/issue-operator-voucher.ts
 * `handler`): its deps are the signing routes' (lambdaTonDeps, stubbed here with in-memory deps
 * and a recording signer) plus the operator's key id from COCOON_OPERATOR_KEY, read once per
 * container. What the route does with them is test/operator-voucher-route.test.ts's.
 */
import { readFileSync } from "node:fs";
import type { APIGatewayProxyEventV2, Context } from "aws-lambda";
import { afterEach, describe, expect, it, vi } from "vitest";
import { defaultPolicy } from "../../core/attestation/policy";
import { DEFAULT_CORE_CONFIG } from "../../core/config";
import { generateSigningKey, type SigningKeyPair } from "../../core/crypto/keys";
import { signRequest } from "../../core/crypto/request-auth";
import type { CoreDeps } from "../../core/deps";
import { operatorFeeAccount } from "../../core/ledger";
import { creditSettlement, recordingVoucherSigner } from "../../core/payouts-testing";
import { createMemoryStore } from "../../local/memory-store";
import { createLocalNotifier } from "../../local/notifier";
import { createLocalQueues } from "../../local/queues";

/** What lambdaTonDeps would build on AWS: here the store, queues and a signer in memory (set per test). */
const ton = vi.hoisted(() => ({ deps: undefined as unknown }));
vi.mock("../deps-ton", () => ({ lambdaTonDeps: async () => ton.deps }));

const PAYOUT = "0:" + "a".repeat(64);
const context = { functionName: "test", awsRequestId: "r", getRemainingTimeInMillis: () => 30_000 } as unknown as Context;
const base = JSON.parse(
  readFileSync(new URL("../../test/fixtures/events/apigw-prepare.json", import.meta.url), "utf8"),
) as APIGatewayProxyEventV2;

/** The API Gateway event of a voucher request signed by `key`. */
function voucherEvent(key: SigningKeyPair): APIGatewayProxyEventV2 {
  const path = "/v1/operator/voucher";
  const body = JSON.stringify({ payoutAddress: PAYOUT });
  const auth = signRequest(key, { method: "POST", path, body, host: base.requestContext.domainName });
  return {
    ...base,
    routeKey: `POST ${path}`,
    rawPath: path,
    body,
    headers: { ...base.headers, "x-cocoon-auth": auth },
    requestContext: { ...base.requestContext, routeKey: `POST ${path}`, http: { ...base.requestContext.http, path } },
  };
}

afterEach(() => vi.unstubAllEnvs());

describe("the operator voucher's Lambda (COCOON_OPERATOR_KEY read at cold start, once)", () => {
  it("vouchers the configured key its fees and refuses any other; a key changed after cold start is not read again", async () => {
    // Prepare: 90 nanoTON of fees, the operator's key in the environment
    const operator = generateSigningKey();
    const store = createMemoryStore();
    const deps: CoreDeps = {
      store,
      queues: createLocalQueues(),
      notifier: createLocalNotifier(),
      clock: { now: () => Date.now() },
      log: { info() {}, warn() {}, error() {} },
      config: { ...DEFAULT_CORE_CONFIG },
      policy: defaultPolicy,
    };
    ton.deps = { ...deps, voucherSigner: recordingVoucherSigner().signer };
    await creditSettlement(store, operatorFeeAccount("w1"), 90n, "j1", Date.now());
    vi.stubEnv("COCOON_OPERATOR_KEY", Buffer.from(operator.publicKey).toString("hex"));
    const { handler } = await import("./issue-operator-voucher");

    // Act
    const stranger = await handler(voucherEvent(generateSigningKey()), context);
    const paid = await handler(voucherEvent(operator), context);
    vi.stubEnv("COCOON_OPERATOR_KEY", "cd".repeat(32));
    const again = await handler(voucherEvent(operator), context);

    // Assess
    expect([stranger.statusCode, JSON.parse(stranger.body!).error.code]).toEqual([403, "not_the_operator"]);
    expect(paid.statusCode).toBe(200);
    expect(JSON.parse(paid.body!)).toMatchObject({ worker: PAYOUT, cumulative: "90" });
    expect(again.statusCode).toBe(200);
  });
});
