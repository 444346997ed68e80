/**
 * `cocoon-agent redeem` off the local network (no sandbox to send from): the voucher comes out as
 * the Redeem message a TON wallet sends, a ton://transfer link with the vault, the gas and the
 * body filled in. It printed the voucher's JSON and "send it in a Redeem message", which no
 * wallet takes. A stand-in coordinator over real HTTP answers the routes redeem uses.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Address, Cell } from "@ton/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { loadOrCreateKey } from "../api-client/keys";
import { standInVoucher } from "../api-client/stand-in-testing";
import { redeemBody } from "../contracts/vault";
import { voucherFromJson } from "../functions/adapters/ton-chain";
import { noSandboxCoordinator, runAgentCli } from "./cli-testing";

const PAYOUT = new Address(0, randomBytes(32)).toString({ bounceable: false });
const voucher = standInVoucher(PAYOUT, 2_500_000_000n);

describe("cocoon-agent redeem without a local sandbox", () => {
  let c: Awaited<ReturnType<typeof noSandboxCoordinator>>;
  beforeAll(async () => {
    c = await noSandboxCoordinator(voucher, 0n);
  });
  afterAll(async () => c?.close());

  it("prints a ton://transfer link that a wallet opens with the vault, 0.05 TON of gas and the vault's own Redeem body; --json has it as `message`", async () => {
    // Prepare: a worker key (redeem never makes one)
    const home = tempDir("cocoon-agent-redeem-");
    loadOrCreateKey(join(home, "worker.key"));
    const argv = ["redeem", "--payout-address", PAYOUT, "--api", c.url];
    // Act
    const text = await runAgentCli(argv, { COCOON_HOME: home });
    const json = await runAgentCli([...argv, "--json"], { COCOON_HOME: home });
    // Assess
    expect([text.code, json.code]).toEqual([0, 0]);
    const link = /open in your wallet: (ton:\/\/transfer\/\S+)/.exec(text.out)?.[1];
    expect(link).toBeDefined();
    const u = new URL(link!);
    expect(u.searchParams.get("amount")).toBe("50000000");
    expect(Cell.fromBase64(u.searchParams.get("bin")!).equals(redeemBody(voucherFromJson(voucher).voucher))).toBe(true);
    expect(Address.parse(link!.slice("ton://transfer/".length).split("?")[0]!).equals(Address.parse(voucher.vault))).toBe(true);
    expect(text.out).toContain("NOT paid yet");
    expect(JSON.parse(json.out)).toMatchObject({ sendYourself: true, voucher, message: { link, amount: "50000000" } });
  });
});
