/**
 * `cocoon-agent redeem` of less than the vault's Redeem costs in network fees (≈ 0.0107 TON,
 * contracts/gas.json): it printed the Redeem to send, 0.05 TON of gas attached, and nothing of
 * the payee receiving less than the fees. Now a warning on stderr and `feeWarning` in --json.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Address } from "@ton/core";
import { afterEach, describe, expect, it } from "vitest";
import type { Voucher } from "../events/money";
import { tempDir } from "../test/temp-dir";
import { loadOrCreateKey } from "../api-client/keys";
import { standInVoucher, toncenterStandIn } from "../api-client/stand-in-testing";
import { redeemCost } from "../api-client/vault-messages";
import { noSandboxCoordinator, runAgentCli } from "./cli-testing";

const PAYOUT = new Address(0, randomBytes(32)).toString({ bounceable: false });

/** `cocoon-agent redeem` (text and --json) against a stand-in for `cumulative` / `redeemed`; `env`: more of its environment. */
async function redeem(
  cumulative: bigint,
  redeemed: bigint,
  env: (v: Voucher) => Promise<Record<string, string>> | Record<string, string> = () => ({}),
) {
  const voucher = standInVoucher(PAYOUT, cumulative);
  const c = await noSandboxCoordinator(voucher, redeemed);
  try {
    const home = tempDir("cocoon-agent-redeem-fee-");
    loadOrCreateKey(join(home, "worker.key"));
    const argv = ["redeem", "--payout-address", PAYOUT, "--api", c.url];
    const vars = { COCOON_HOME: home, ...(await env(voucher)) };
    return { text: await runAgentCli(argv, vars), json: await runAgentCli([...argv, "--json"], vars) };
  } finally {
    await c.close();
  }
}

const servers: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** Factory: toncenterStandIn, closed after the test. */
async function toncenter(v: Voucher, state: "active" | "uninitialized") {
  const t = await toncenterStandIn(v, state);
  servers.push(t);
  return t;
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
      /^warning \[redeem_below_fee\]: this Redeem pays 0\.001 TON due, less than the ≈ 0\.014877716 TON it costs \(0\.010725316 TON of network fees and ≈ 0\.0041524 TON for the sending wallet\)/,
    );
    expect(text.out).toContain("NOT paid yet");
    expect(JSON.parse(json.out)).toMatchObject({
      sendYourself: true,
      feeWarning: { code: "redeem_below_fee", due: due.toString(), fees: redeemCost(false).toString(), first: false },
    });
    expect(JSON.parse(json.err)).toMatchObject({ warning: { code: "redeem_below_fee" } });
  });

  it("a first Redeem (nothing redeemed before: it deploys the payout wallet) counts the wallet's 0.002 TON reserve and the sending wallet's fee", async () => {
    // Prepare: 0.016 TON earned, nothing redeemed: more than the vault's fees (≈ 0.0107), less than a first Redeem's ≈ 0.0169
    const due = 16_000_000n;
    // Act
    const { text, json } = await redeem(due, 0n);
    // Assess
    expect([text.code, json.code]).toEqual([0, 0]);
    expect(text.err).toMatch(
      /^warning \[redeem_below_fee\]: this Redeem pays 0\.016 TON due, less than the ≈ 0\.016877716 TON it costs \(a first Redeem to this address: .*, and 0\.002 TON kept by the payout wallet it deploys\)/,
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

describe("cocoon-agent redeem: a first Redeem is told by the payout wallet on chain, where a TON endpoint is set", () => {
  it("nothing booked redeemed, but the payout wallet deployed (a claim the vault refused, insolvent): a later Redeem's cost, no 0.002 TON reserve", async () => {
    // Prepare: 0.016 TON earned, nothing booked redeemed: below a first Redeem's ≈ 0.0169, above a later one's ≈ 0.0149
    const due = 16_000_000n;
    let chain: Awaited<ReturnType<typeof toncenter>> | undefined;
    // Act
    const { text, json } = await redeem(due, 0n, async (v) => {
      chain = await toncenter(v, "active");
      return { COCOON_TON_ENDPOINT: chain.url };
    });
    // Assess: the payout wallet's own address was read, and nothing warned of
    expect([text.code, json.code]).toEqual([0, 0]);
    expect(chain!.asked.map((a) => Address.parse(a).equals(chain!.wallet))).toEqual([true, true]);
    expect(text.err).toBe("");
    expect(JSON.parse(json.out)).not.toHaveProperty("feeWarning");
  });

  it("the payout wallet not deployed: a first Redeem, its reserve counted (as when nothing can be read)", async () => {
    // Prepare
    const due = 16_000_000n;
    // Act
    const { json } = await redeem(due, 0n, async (v) => ({ COCOON_TON_ENDPOINT: (await toncenter(v, "uninitialized")).url }));
    // Assess
    expect(JSON.parse(json.out)).toMatchObject({ feeWarning: { due: due.toString(), fees: redeemCost(true).toString(), first: true } });
  });

  it("the endpoint failing: what is booked decides, as without one (nothing booked: first)", async () => {
    // Prepare: a TON endpoint where nothing listens
    const due = 16_000_000n;
    // Act
    const { json } = await redeem(due, 0n, () => ({ COCOON_TON_ENDPOINT: "http://127.0.0.1:1/api/v2/jsonRPC" }));
    // Assess
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toMatchObject({ feeWarning: { fees: redeemCost(true).toString(), first: true } });
  });
});
