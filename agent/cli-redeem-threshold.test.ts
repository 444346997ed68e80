/**
 * A redeem threshold under what one Redeem costs (≈ 0.014 TON, api-client/vault-messages.ts
 * redeemCost) makes every automatic payout cost more than it pays. `cocoon-agent redeem` warned of
 * such a payout (redeem_below_fee); init and start took the threshold without a word, and the
 * automatic payout paid it in silence (walking the README, session 38: --redeem-threshold 0.000001
 * on the local network redeemed 0.00000265 TON at a cost of ≈ 0.016 TON).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { formatTon } from "../api-client/format";
import { redeemCost } from "../api-client/vault-messages";
import { runAgentCli } from "./cli-testing";

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

/** Factory: a coordinator that refuses every request as no_such_route, so that start stops (exit 78) where it would register. */
async function refusingCoordinator(): Promise<string> {
  const server = createServer((_req, res) => {
    res
      .writeHead(404, { "content-type": "application/json" })
      .end(JSON.stringify({ error: { code: "no_such_route", message: "no route" } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const init = (threshold: string) =>
  runAgentCli(["init", "--api", "http://127.0.0.1:1", "--tier", "dev", "--redeem-threshold", threshold], {
    COCOON_HOME: tempDir("cocoon-agent-threshold-init-"),
  });

describe("a redeem threshold below what one Redeem costs", () => {
  it("init writes it but warns, naming the cost and the fix", async () => {
    // Act
    const r = await init("0.001");
    // Assess
    expect(r.code).toBe(0);
    expect(r.out).toContain(`WARNING: the redeem threshold 0.001 TON is below what one Redeem costs (≈ ${formatTon(redeemCost(false))}`);
    expect(r.out).toContain("each automatic payout would cost more than it pays");
    expect(r.out).toContain("--redeem-threshold");
  });

  it.each([["10"], ["0"], [(Number(redeemCost(false)) / 1e9).toFixed(9)]])(
    "init says nothing of a threshold of %s TON",
    async (threshold) => {
      // Act
      const r = await init(threshold);
      // Assess
      expect(r.code).toBe(0);
      expect(r.out).not.toContain("below what one Redeem costs");
    },
  );

  it("start warns in its log before it registers", async () => {
    // Prepare
    const api = await refusingCoordinator();
    const home = tempDir("cocoon-agent-threshold-start-");
    // Act
    const r = await runAgentCli(["start", "--api", api, "--tier", "dev", "--metrics-port", "0", "--redeem-threshold", "0.000001"], {
      COCOON_HOME: home,
    });
    // Assess
    expect(r.code).toBe(78); // the stand-in's refusal, after the warning
    const warned = r.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { level: string; msg: string; redeemThresholdTon?: string })
      .find((l) => l.msg.includes("below what one Redeem costs"));
    expect(warned).toMatchObject({ level: "warn", redeemThresholdTon: "0.000001" });
  });
});
