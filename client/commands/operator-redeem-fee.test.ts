/**
 * `cocoon operator redeem` of less than the vault's Redeem costs in network fees (≈ 0.0107 TON,
 * contracts/gas.json): a warning on stderr and `feeWarning` in --json, as `cocoon-agent redeem`
 * gives (it printed the Redeem to send, 0.05 TON of gas attached, and nothing of the fees).
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Address } from "@ton/core";
import { beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../../test/temp-dir";
import { runCli } from "../../api-client/cli-testing";
import { loadOrCreateKey } from "../../api-client/keys";
import { routeStandIn, standInVoucher, toncenterStandIn } from "../../api-client/stand-in-testing";
import { redeemCost } from "../../api-client/vault-messages";
import { main } from "../cli";

const PAYOUT = new Address(0, randomBytes(32)).toString({ bounceable: false });

/** Factory: a coordinator with no sandbox: the operator's voucher for `cumulative`; its status books `redeemed` (undefined: no status route). */
async function standIn(cumulative: bigint, redeemed: bigint | undefined) {
  const voucher = standInVoucher(PAYOUT, cumulative);

  const c = await routeStandIn((route) => {
    if (route === "GET /v1/routes") return { status: 404 };
    if (route === "POST /v1/operator/voucher") return { status: 200, body: voucher };
    if (route === "GET /v1/operator/status" && redeemed !== undefined)
      return {
        status: 200,
        body: {
          earned: cumulative.toString(),
          redeemed: redeemed.toString(),
          available: "0",
          shards: Array.from({ length: 16 }, () => "0"),
          vouchered: cumulative.toString(),
          payoutAddress: PAYOUT,
          fee: { bps: 500, source: "registry" },
        },
      };
    if (route.includes("/v1/dev/"))
      return { status: 403, body: { error: { code: "dev_chain_disabled", message: "no local sandbox here" } } };
    return { status: 404, body: { error: { code: "not_found", message: route } } };
  });
  return Object.assign(c, { voucher });
}

describe("cocoon operator redeem of less than the Redeem's network fees", () => {
  let keyFile: string;
  beforeAll(() => {
    keyFile = join(tempDir("cocoon-operator-fee-"), "operator.key");
    loadOrCreateKey(keyFile);
  });

  /** `cocoon operator redeem` (text and --json) against `c`; `extra`: more flags. */
  async function redeem(c: Awaited<ReturnType<typeof standIn>>, extra: string[] = []) {
    try {
      const argv = ["operator", "redeem", "--key", keyFile, "--payout-address", PAYOUT, "--api", c.url, ...extra];
      return { text: await runCli(main, argv), json: await runCli(main, [...argv, "--json"]) };
    } finally {
      await c.close();
    }
  }

  it.each([
    [
      "what its status books as redeemed taken off (a later Redeem)",
      3_000_000_000n,
      3_000_000_000n - 2_000_000n,
      /\(0\.010725316 TON of network fees and ≈ 0\.0041524 TON for the sending wallet\)/,
      { fees: redeemCost(false).toString(), first: false },
    ],
    [
      "a voucher below the fees whatever was paid (no status route: a later Redeem's figure, and what a first one costs more)",
      2_000_000n,
      undefined,
      /\(a later Redeem's: .*; a first one to this address costs 0\.002 TON more, kept by the payout wallet it deploys\)/,
      { fees: redeemCost(false).toString() },
    ],
  ])("warns on stderr and in --json (feeWarning): %s; still prints the Redeem (exit 0)", async (_, cumulative, redeemed, why, fees) => {
    // Act
    const { text, json } = await redeem(await standIn(cumulative, redeemed));
    // Assess
    expect([text.code, json.code], text.err).toEqual([0, 0]);
    expect(text.err).toMatch(/^warning \[redeem_below_fee\]: this Redeem pays 0\.002 TON due, less than the ≈ 0\.014877716 TON it costs /);
    expect(text.err).toMatch(why);
    expect(text.out).toContain("NOT paid yet");
    expect(JSON.parse(json.out)).toMatchObject({ sendYourself: true, feeWarning: { code: "redeem_below_fee", due: "2000000", ...fees } });
    if (redeemed === undefined) expect(JSON.parse(json.out).feeWarning).not.toHaveProperty("first");
  });

  it("a first Redeem (its status books nothing redeemed: it deploys the payout wallet) counts the wallet's 0.002 TON reserve", async () => {
    // Act: 0.016 TON due: above the vault's fees and a later Redeem's cost, below a first one's
    const { text, json } = await redeem(await standIn(16_000_000n, 0n));
    // Assess
    expect(text.err).toMatch(
      /^warning \[redeem_below_fee\]: this Redeem pays 0\.016 TON due, less than the ≈ 0\.016877716 TON it costs \(a first Redeem to this address: .*, and 0\.002 TON kept by the payout wallet it deploys\)/,
    );
    expect(JSON.parse(json.out)).toMatchObject({ feeWarning: { due: "16000000", fees: redeemCost(true).toString(), first: true } });
  });

  it("nothing booked redeemed, but the payout wallet deployed on chain (a claim the vault refused): a later Redeem's cost; undeployed: a first one's", async () => {
    // Prepare: 0.016 TON due, nothing booked: below a first Redeem's ≈ 0.0169, above a later one's ≈ 0.0149
    const refused = await standIn(16_000_000n, 0n);
    const deployed = await toncenterStandIn(refused.voucher, "active");
    const fresh = await standIn(16_000_000n, 0n);
    const undeployed = await toncenterStandIn(fresh.voucher, "uninitialized");
    try {
      // Act
      const after = await redeem(refused, ["--ton-endpoint", deployed.url]);
      const first = await redeem(fresh, ["--ton-endpoint", undeployed.url]);
      // Assess
      expect([after.text.code, after.json.code]).toEqual([0, 0]);
      expect(after.text.err).toBe("");
      expect(JSON.parse(after.json.out)).not.toHaveProperty("feeWarning");
      expect(deployed.asked.map((a) => Address.parse(a).equals(deployed.wallet))).toEqual([true, true]);
      expect(JSON.parse(first.json.out)).toMatchObject({ feeWarning: { fees: redeemCost(true).toString(), first: true } });
    } finally {
      await Promise.all([deployed.close(), undeployed.close()]);
    }
  });

  it("says nothing of fees when what is due exceeds them", async () => {
    // Act
    const { text, json } = await redeem(await standIn(125_000_000n, 0n));
    // Assess
    expect(text.code).toBe(0);
    expect(text.err).toBe("");
    expect(JSON.parse(json.out)).not.toHaveProperty("feeWarning");
  });
});
