/**
 * `cocoon-agent redeem` of less than the vault's Redeem costs in network fees (≈ 0.0099 TON,
 * contracts/gas.json): it printed the Redeem to send, 0.05 TON of gas attached, and nothing of
 * the payee receiving less than the fees. Now a warning on stderr and `feeWarning` in --json.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Address } from "@ton/core";
import { describe, expect, it } from "vitest";
import { loadOrCreateKey } from "../api-client/keys";
import { standInVoucher } from "../api-client/stand-in-testing";
import { redeemCost } from "../api-client/vault-messages";
import { noSandboxCoordinator, runAgentCli } from "./cli-testing";

const PAYOUT = new Address(0, randomBytes(32)).toString({ bounceable: false });

/** `cocoon-agent redeem` (text and --json) against a stand-in for `cumulative` / `redeemed`. */
async function redeem(cumulative: bigint, redeemed: bigint) {
  const c = await noSandboxCoordinator(standInVoucher(PAYOUT, cumulative), redeemed);
  try {
    const home = mkdtempSync(join(tmpdir(), "cocoon-agent-redeem-fee-"));
    loadOrCreateKey(join(home, "worker.key"));
    const argv = ["redeem", "--payout-address", PAYOUT, "--api", c.url];
    return { text: await runAgentCli(argv, { COCOON_HOME: home }), json: await runAgentCli([...argv, "--json"], { COCOON_HOME: home }) };
  } finally {
    await c.close();
  }
}

describe("cocoon-agent redeem of less than the Redeem's network fees", () => {
  it("warns on stderr and in --json (feeWarning), with what is due and the fees; still prints the Redeem (exit 0)", async () => {
    // Prepare: 5 TON earned, all but 0.001 TON of it redeemed before
    const due = 1_000_000n;
    // Act
    const { text, json } = await redeem(5_000_000_000n, 5_000_000_000n - due);
    // Assess
    expect([text.code, json.code]).toEqual([0, 0]);
    expect(text.err).toMatch(
      /^warning \[redeem_below_fee\]: this Redeem pays 0\.001 TON due, less than the ≈ 0\.013737185 TON it costs \(0\.009869585 TON of network fees and ≈ 0\.0038676 TON for the sending wallet\)/,
    );
    expect(text.out).toContain("NOT paid yet");
    expect(JSON.parse(json.out)).toMatchObject({
      sendYourself: true,
      feeWarning: { code: "redeem_below_fee", due: due.toString(), fees: redeemCost(false).toString(), first: false },
    });
    expect(JSON.parse(json.err)).toMatchObject({ warning: { code: "redeem_below_fee" } });
  });

  it("a first Redeem (nothing redeemed before: it deploys the payout wallet) counts the wallet's 0.002 TON reserve and the sending wallet's fee", async () => {
    // Prepare: 0.014 TON earned, nothing redeemed: more than the vault's fees (≈ 0.0099), less than a first Redeem's ≈ 0.0157
    const due = 14_000_000n;
    // Act
    const { text, json } = await redeem(due, 0n);
    // Assess
    expect([text.code, json.code]).toEqual([0, 0]);
    expect(text.err).toMatch(
      /^warning \[redeem_below_fee\]: this Redeem pays 0\.014 TON due, less than the ≈ 0\.015737185 TON it costs \(a first Redeem to this address: .*, and 0\.002 TON kept by the payout wallet it deploys\)/,
    );
    expect(JSON.parse(json.out)).toMatchObject({ feeWarning: { due: due.toString(), fees: redeemCost(true).toString(), first: true } });
  });

  it("says nothing of fees when what is due exceeds them", async () => {
    // Act
    const { text, json } = await redeem(2_500_000_000n, 0n);
    // Assess
    expect(text.err).toBe("");
    expect(JSON.parse(json.out)).not.toHaveProperty("feeWarning");
  });
});
