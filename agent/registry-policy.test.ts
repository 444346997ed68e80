/**
 * issue 15: the agent acts on the registry's policy as the coordinator and the SDK do: its image
 * and each served model's attested digest (agent/attest.ts policyRefusal, which the runtime asks
 * before running a job), and its settings name the registry it reads itself (agent/config.ts).
 */
import { Address } from "@ton/core";
import { keyPairFromSeed } from "@ton/crypto";
import { describe, expect, it } from "vitest";
import { ApiClient } from "../api-client/api";
import { redeemEarnings } from "../api-client/money";
import { signVoucher } from "../contracts/vault";
import { generateSigningKey } from "../core/crypto/keys";
import { DEV_IMAGE_DIGEST, PolicyCache, type PolicyReading } from "../core/policy-registry";
import type { Voucher } from "../events/money";
import { ownImageDigest, policyRefusal, voucherCheck } from "./attest";
import { ConfigError, resolveConfig } from "./config";

const LISTED = "1a".repeat(32);
const OTHER = "2b".repeat(32);

/** A reading of a registry listing `images` and `models` (digest → base price). */
const reading = (images: string[], models: Record<string, bigint>, coordinatorKey = "11".repeat(32)): PolicyReading => ({
  version: 4,
  updatedAt: 1,
  readAt: 1,
  policy: {
    coordinatorKey,
    fees: { pricePerToken: 100n, promptBps: 2_500, completionBps: 10_000, operatorFeeBps: 0 },
    images,
    models,
  },
});

describe("issue 15: the agent's own check against the registry", () => {
  it("a served model whose attested digest the registry does not list is refused; a listed one passes", () => {
    // Prepare
    const r = reading([DEV_IMAGE_DIGEST], { [LISTED]: 0n });
    const self = (digest?: string) => ({
      tier: "dev" as const,
      image: DEV_IMAGE_DIGEST,
      models: ["m"],
      ...(digest ? { modelDigests: { m: digest } } : {}),
    });

    // Act / Assess
    expect(policyRefusal(r, self(LISTED))).toBeUndefined();
    expect(policyRefusal(r, self(OTHER))).toMatch(/model m digest 2b2b.* is not on the policy registry's allow-list \(policy v4\)/);
    expect(policyRefusal(r, self())).toMatch(/model m is served without an attested digest/);
  });

  it("a registry that lists no model digest checks no model", () => {
    expect(policyRefusal(reading([DEV_IMAGE_DIGEST], {}), { tier: "dev", image: DEV_IMAGE_DIGEST, models: ["m"] })).toBeUndefined();
  });

  it("a delisted image is refused; an agent that cannot name its image (tdx without registers) is checked on its models only", () => {
    const r = reading([], {});
    expect(policyRefusal(r, { tier: "dev", image: DEV_IMAGE_DIGEST, models: ["m"] })).toMatch(/image is not on the policy registry/);
    expect(policyRefusal(r, { tier: "tdx", models: ["m"] })).toBeUndefined();
  });

  it("a dev agent names its image as the registry does; tdx and none name none by themselves", () => {
    expect(ownImageDigest("dev")).toBe(DEV_IMAGE_DIGEST);
    expect(ownImageDigest("tdx")).toBeUndefined();
    expect(ownImageDigest("none")).toBeUndefined();
  });
});

describe("issue 15: the agent's registry settings", () => {
  const file = "/nonexistent/agent.json";

  it("from the environment, with a default age bound of 600 s", () => {
    // Act
    const { config } = resolveConfig({
      file,
      env: { COCOON_REGISTRY_ADDRESS: "0:" + "cd".repeat(32), COCOON_TON_ENDPOINT: "https://toncenter.com/api/v2/jsonRPC" },
    });

    // Assess
    expect(config).toMatchObject({
      registryAddress: "0:" + "cd".repeat(32),
      tonEndpoint: "https://toncenter.com/api/v2/jsonRPC",
      policyMaxAgeSeconds: 600,
    });
  });

  it("a registry without a toncenter endpoint is refused, naming the setting", () => {
    const attempt = () => resolveConfig({ file, env: {}, flags: { registryAddress: "0:" + "cd".repeat(32) } });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/tonEndpoint.*toncenter endpoint/);
  });

  it("the age bound is a whole number of seconds, at least 10", () => {
    expect(() => resolveConfig({ file, env: { COCOON_POLICY_MAX_AGE_SECONDS: "5" } })).toThrow(
      /policyMaxAgeSeconds \(COCOON_POLICY_MAX_AGE_SECONDS\)/,
    );
  });
});

describe("issue 15: a payout voucher must be signed by the coordinator key on the registry", () => {
  const coordinator = keyPairFromSeed(Buffer.alloc(32, 7));
  const impostor = keyPairFromSeed(Buffer.alloc(32, 8));
  const vault = Address.parse("0:" + "ab".repeat(32));
  const voucher = (secretKey: Buffer): Voucher => {
    const v = { payee: 0xe1n, to: Address.parse("0:" + "cd".repeat(32)), cumulative: 2_000_000n, expiry: 2_000_000_000 };
    const signed = signVoucher(secretKey, vault, v);
    return {
      vault: vault.toRawString(),
      payee: v.payee.toString(16).padStart(64, "0"),
      worker: v.to.toRawString(),
      cumulative: v.cumulative.toString(),
      expiry: v.expiry,
      signature: signed.signature.toString("base64"),
    };
  };
  /** A cache over a reading whose chain time is `readAt` (s), on a clock at 1 s. */
  const registry = (readAt = 1) =>
    new PolicyCache(
      { read: async () => ({ ...reading([], {}, coordinator.publicKey.toString("hex")), readAt }) },
      { refreshSeconds: 60, maxAgeSeconds: 60, now: () => 1_000 },
    );

  it("signed by the on-chain key it passes; by another key, or altered, it is refused (coordinator_key_not_on_chain)", async () => {
    // Prepare
    const check = voucherCheck(registry());

    // Act / Assess
    await expect(check(voucher(coordinator.secretKey))).resolves.toBeUndefined();
    await expect(check(voucher(impostor.secretKey))).rejects.toMatchObject({ code: "coordinator_key_not_on_chain" });
    await expect(check({ ...voucher(coordinator.secretKey), cumulative: "2000001" })).rejects.toMatchObject({
      code: "coordinator_key_not_on_chain",
    });
  });

  it("a stale reading refuses (policy_stale) rather than trusting the key it last saw", async () => {
    await expect(voucherCheck(registry(-3_600))(voucher(coordinator.secretKey))).rejects.toMatchObject({ code: "policy_stale" });
  });

  it("redeemEarnings asks the check before anything is sent: a refused voucher is not redeemed", async () => {
    // Prepare: an API that answers the wallet and the voucher, and records every call
    const calls: string[] = [];
    const api = new ApiClient("http://127.0.0.1:9", generateSigningKey());
    api.request = (async (route: { path: string }) => {
      calls.push(route.path);
      if (route.path === "/v1/dev/wallet") return { address: "0:" + "cd".repeat(32), balance: "0", vault: vault.toRawString() };
      if (route.path === "/v1/agents/voucher") return voucher(impostor.secretKey);
      throw new Error(`stub: no answer for ${route.path}`);
    }) as typeof api.request;

    // Act
    const out = redeemEarnings(api, { checkVoucher: voucherCheck(registry()) });

    // Assess
    await expect(out).rejects.toMatchObject({ code: "coordinator_key_not_on_chain" });
    expect(calls).toEqual(["/v1/dev/wallet", "/v1/agents/voucher"]);
  });
});
