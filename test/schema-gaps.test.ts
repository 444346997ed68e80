/**
 * Input the schemas let through and something behind them could not take: each was a 500 before
 * session 21's review (a failure report's unbounded `enc`, a collateral nested thousands deep,
 * dev routes given numbers their contracts store in 32 bits, a workchain past int8, an owner
 * index the sandbox does not have). Each is a 4xx with a code now, and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { b64u } from "../core/crypto/encoding";
import { generateSigningKey } from "../core/crypto/keys";
import { signRequest } from "../core/crypto/request-auth";
import { jobKey, type JobItem } from "../core/jobs/items";
import { makeJobWorld } from "../core/jobs/testing";
import { httpRequest } from "../edge/http";
import { invokeRoute, type Route } from "../functions/http/middleware";
import { route as postResultRoute } from "../functions/http/post-result";
import { startNetwork, type LocalNetwork } from "../local/network";
import { signedFetch } from "./helpers";

/** Factory: a signed-withdrawal JSON for the dev wallet, with `over` replacing fields. */
const withdrawal = (net: LocalNetwork, account: string, over: Record<string, unknown>) => ({
  withdrawal: {
    vault: net.chain!.vault.address.toRawString(),
    account,
    to: "0:" + "1".repeat(64),
    amount: "1",
    seqno: 0,
    expiry: 1,
    signature: "A".repeat(86) + "==",
    ...over,
  },
});

describe("POST /v1/agent/results: a failure report with an oversize encapsulation", () => {
  it("is 400 invalid_request and the job stays assigned (it was a 500: the failure item broke the store's item limit)", async () => {
    // Prepare
    const w = makeJobWorld();
    const { header, workers } = await w.submitted(1);
    const body = JSON.stringify({
      kind: "failed",
      jobId: header.jobId,
      attempt: 0,
      code: "engine_error",
      reply: { enc: "A".repeat(500_000), ct: "AAAA" },
    });
    const auth = signRequest(workers[0]!.signing, {
      method: "POST",
      path: "/v1/agent/results",
      body,
      host: "api.test",
      now: w.clock.now(),
    });
    // Act
    const res = await invokeRoute(
      postResultRoute as Route,
      httpRequest({ method: "POST", path: "/v1/agent/results", rawQuery: "", headers: { "x-cocoon-auth": auth }, body, host: "api.test" }),
      w.deps,
    );
    // Assess
    expect([res.status, JSON.parse(String(res.body)).error.code]).toEqual([400, "invalid_request"]);
    expect((await w.store.get<JobItem>("jobs", jobKey(header.jobId)))!.status).toBe("assigned");
  });
});

describe("the local network's routes", () => {
  let net: LocalNetwork;
  beforeAll(async () => {
    net = await startNetwork({ watcherIntervalMs: 0 });
  }, 60_000);
  afterAll(async () => net?.stop());

  it("an attestation whose collateral is nested 300,000 deep is 400 invalid_request, at registration and on a challenge", async () => {
    // Prepare
    const key = generateSigningKey();
    const deep = "[".repeat(300_000) + "]".repeat(300_000);
    const att = `{"tier":"dev","hpkePublicKey":"${b64u.encode(new Uint8Array(32))}","signingPublicKey":"${key.id}","nonce":"AAAA","issuedAt":1,"collateral":${deep}}`;
    // Act
    const register = await signedFetch(net.url, key, "POST", "/v1/agents", undefined, {
      rawBody: `{"attestation":${att},"models":[{"model":"m"}],"capacity":1}`,
    });
    const challenge = await signedFetch(net.url, key, "POST", "/v1/agent/attestations", undefined, {
      rawBody: `{"challengeId":"chl_${"0".repeat(26)}","attestation":${att}}`,
    });
    // Assess
    expect([register.status, register.json.error.code]).toEqual([400, "invalid_request"]);
    expect([challenge.status, challenge.json.error.code]).toEqual([400, "invalid_request"]);
  });

  it("a dev registry vote by an owner the sandbox does not have is 400 unknown_owner; a proposal id past uint32 is 400", async () => {
    // Prepare
    const key = generateSigningKey();
    // Act
    const approve = await signedFetch(net.url, key, "POST", "/v1/dev/chain/policy/approve", { owner: 5, id: 1 });
    const execute = await signedFetch(net.url, key, "POST", "/v1/dev/chain/policy/execute", { owner: 15, id: 1 });
    const bigId = await signedFetch(net.url, key, "POST", "/v1/dev/chain/policy/approve", { owner: 0, id: 2 ** 40 });
    // Assess
    expect([approve.status, approve.json.error.code]).toEqual([400, "unknown_owner"]);
    expect([execute.status, execute.json.error.code]).toEqual([400, "unknown_owner"]);
    expect([bigId.status, bigId.json.error.code, bigId.json.error.details[0].path]).toEqual([400, "invalid_request", "body.id"]);
  });

  it.each([
    ["`to` on workchain 999", { to: "999:" + "0".repeat(64) }, "body.withdrawal.to"],
    ["`to` on workchain -129", { to: "-129:" + "0".repeat(64) }, "body.withdrawal.to"],
    ["seqno past uint32", { seqno: 2 ** 32 }, "body.withdrawal.seqno"],
    ["expiry past uint32", { expiry: 2 ** 40 }, "body.withdrawal.expiry"],
  ])("a dev wallet withdrawal with %s is 400 invalid_request naming the field", async (_what, over, path) => {
    // Prepare
    const key = generateSigningKey();
    // Act
    const r = await signedFetch(net.url, key, "POST", "/v1/dev/wallet/withdraw", withdrawal(net, key.id, over));
    // Assess
    expect([r.status, r.json.error.code, r.json.error.details[0].path]).toEqual([400, "invalid_request", path]);
  });

  it("a dev voucher redeem with an expiry past uint32, and a dev proposal with fee weights past uint32, are 400 naming the field (session 22's fuzz: 500s)", async () => {
    // Prepare
    const key = generateSigningKey();
    const vault = net.chain!.vault.address.toRawString();
    const voucher = {
      vault,
      payee: "2".repeat(64),
      worker: "0:" + "1".repeat(64),
      cumulative: "1",
      expiry: 2 ** 32 + 1,
      signature: "A".repeat(86) + "==",
    };
    const policy = (fees: Record<string, number>) => ({
      coordinatorKey: "ab".repeat(32),
      fees: { pricePerToken: "1", promptBps: 1, completionBps: 1, operatorFeeBps: 0, ...fees },
      images: [],
      models: {},
    });
    // Act
    const redeem = await signedFetch(net.url, key, "POST", "/v1/dev/wallet/redeem", { voucher });
    const prompt = await signedFetch(net.url, key, "POST", "/v1/dev/chain/policy/propose", {
      owner: 0,
      policy: policy({ promptBps: 2 ** 32 }),
    });
    const completion = await signedFetch(net.url, key, "POST", "/v1/dev/chain/policy/propose", {
      owner: 0,
      policy: policy({ completionBps: 2 ** 32 }),
    });
    // Assess
    expect([redeem.status, redeem.json.error.code, redeem.json.error.details[0].path]).toEqual([
      400,
      "invalid_request",
      "body.voucher.expiry",
    ]);
    expect([prompt.status, prompt.json.error.code, prompt.json.error.details[0].path]).toEqual([
      400,
      "invalid_request",
      "body.policy.fees.promptBps",
    ]);
    expect([completion.status, completion.json.error.details[0].path]).toEqual([400, "body.policy.fees.completionBps"]);
  });

  it("the edges still pass: workchains -128 and 127 and a uint32 seqno reach the vault, which refuses the forged signature", async () => {
    // Prepare
    const key = generateSigningKey();
    // Act
    const answers = await Promise.all(
      [{ to: "-128:" + "0".repeat(64) }, { to: "127:" + "0".repeat(64) }, { seqno: 2 ** 32 - 1, expiry: 2 ** 32 - 1 }].map((over) =>
        signedFetch(net.url, key, "POST", "/v1/dev/wallet/withdraw", withdrawal(net, key.id, over)),
      ),
    );
    // Assess: past the schema (a code other than invalid_request), never a 500
    for (const r of answers) {
      expect(r.status, JSON.stringify(r.json)).toBeLessThan(500);
      expect(r.json.error.code).not.toBe("invalid_request");
    }
  });
});
