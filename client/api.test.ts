import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey } from "../core/crypto/keys";
import { startNetwork, type LocalNetwork } from "../local/network";
import { ApiClient } from "./api";

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
    const account = await client.get<{ account: string }>("/v1/account");
    const again = await client.post<{ available: string }>("/v1/account/faucet", { amount: "5" }, { "idempotency-key": "clock-test-0001" });
    // Assess
    expect(account.account).toBe(client.key.id);
    expect(again.available).toBe("5");
  });
});
