/**
 * events/attestation.ts MAX_ATTESTATION_BYTES: a worker item stores its attestation document,
 * and a store item holds at most 400 KB (DynamoDB). The fields' caps let collateral and GPU
 * evidence add up to about 900 KB, which DynamoDB refused: a 500 on AWS. The whole document
 * is now capped: a 400 invalid_request naming the limit, before the core runs.
 */
import type { APIGatewayProxyEventV2, Context } from "aws-lambda";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createDevAttestation } from "../core/attestation/dev";
import { localPolicy } from "../core/attestation/policy";
import { DEFAULT_CORE_CONFIG } from "../core/config";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey, type SigningKeyPair } from "../core/crypto/keys";
import { signRequest } from "../core/crypto/request-auth";
import type { CoreDeps } from "../core/deps";
import { itemBytes, MAX_ITEM_BYTES } from "../core/store-rules";
import { issueRegistrationNonce, registerWorker, type WorkerItem } from "../core/workers";
import { MAX_ATTESTATION_BYTES, type AttestationDoc } from "../events/attestation";
import { lambdaHandler } from "../functions/http/lambda";
import { routes } from "../functions/http/routes";
import { createMemoryStore } from "../local/memory-store";
import { createLocalNotifier } from "../local/notifier";
import { createLocalQueues } from "../local/queues";

const context = { functionName: "test", awsRequestId: "r", getRemainingTimeInMillis: () => 30_000 } as unknown as Context;
const base = JSON.parse(readFileSync(new URL("./fixtures/events/apigw-prepare.json", import.meta.url), "utf8")) as APIGatewayProxyEventV2;
const register = routes.find((r) => r.spec.path === "/v1/agents" && r.spec.method === "POST")!;

/** Factory: in-memory deps accepting dev evidence. */
function makeDeps(): CoreDeps {
  return {
    store: createMemoryStore(),
    queues: createLocalQueues(),
    notifier: createLocalNotifier(),
    clock: { now: () => Date.now() },
    log: { info: () => {}, warn: () => {}, error: () => {} },
    config: { ...DEFAULT_CORE_CONFIG, allowDevAttestation: true, allowTestImages: true },
    policy: localPolicy,
  };
}

/** Factory: a worker's keys, and its dev evidence for a fresh registration nonce with `collateral` of `bytes` JSON bytes in all. */
async function paddedDoc(deps: CoreDeps, key: SigningKeyPair, bytes: number) {
  const { nonce } = await issueRegistrationNonce(deps, key.id);
  const doc = createDevAttestation({
    hpkePublicKey: generateKemKey().publicKey,
    signingPublicKey: key.publicKey,
    nonce: b64u.decode(nonce),
    now: deps.clock.now(),
  });
  // what DynamoDB (through the adapter, which wraps maps that look like its tags) counts largest
  // against their JSON: {"$obj":0} is 11 bytes of JSON with its comma, 19 stored
  const size = (d: AttestationDoc) => Buffer.byteLength(JSON.stringify(d), "utf8");
  const n = Math.floor((bytes - size({ ...doc, collateral: [] })) / 11);
  const padded: AttestationDoc = { ...doc, collateral: Array.from({ length: n }, () => ({ $obj: 0 })) };
  expect(size(padded)).toBeLessThanOrEqual(bytes);
  expect(size(padded)).toBeGreaterThan(bytes - 11);
  return padded;
}

/** POST /v1/agents through the Lambda handler, signed by `key`. */
async function post(deps: CoreDeps, key: SigningKeyPair, attestation: AttestationDoc) {
  const body = JSON.stringify({ attestation, models: [{ model: "test/model-1" }], capacity: 1 });
  const event: APIGatewayProxyEventV2 = {
    ...base,
    rawPath: "/v1/agents",
    routeKey: "POST /v1/agents",
    requestContext: { ...base.requestContext, http: { ...base.requestContext.http, path: "/v1/agents" } },
    body,
  };
  const auth = signRequest(key, { method: "POST", path: "/v1/agents", body, host: base.requestContext.domainName });
  const res = await lambdaHandler(register, async () => deps)({ ...event, headers: { ...event.headers, "x-cocoon-auth": auth } }, context);
  return { status: res.statusCode, body: JSON.parse(res.body!) as { error?: { code: string; message: string } } };
}

describe("POST /v1/agents: the attestation document's total size", () => {
  it("over MAX_ATTESTATION_BYTES is 400 invalid_request naming the limit, nothing stored; at it, the worst case still registers and its item fits", async () => {
    // Prepare
    const deps = makeDeps();
    const [big, fits] = [generateSigningKey(), generateSigningKey()];
    const over = await paddedDoc(deps, big, MAX_ATTESTATION_BYTES + 1024);
    const atCap = await paddedDoc(deps, fits, MAX_ATTESTATION_BYTES);
    // Act
    const refused = await post(deps, big, over);
    const core = await registerWorker(deps, big.id, {
      attestation: over,
      models: [{ model: "test/model-1", priceBps: 10_000 }],
      capacity: 1,
    }).catch((e: unknown) => e);
    const accepted = await post(deps, fits, atCap);
    // Assess
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({
      code: "invalid_request",
      message: expect.stringContaining(`at most ${MAX_ATTESTATION_BYTES} bytes`),
    });
    expect(refused.body.error!.message).toContain("body.attestation");
    expect(core).toMatchObject({ status: 403, code: "attestation_malformed" }); // a caller that skips the schema: still a 4xx
    expect(await deps.store.get("workers", { pk: big.id, sk: "worker" })).toBeUndefined();
    expect(accepted.status).toBe(200);
    const item = (await deps.store.get<WorkerItem>("workers", { pk: fits.id, sk: "worker" }))!;
    expect(itemBytes(item)).toBeLessThan(MAX_ITEM_BYTES);
  });
});
