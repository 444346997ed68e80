/**
 * `cocoon-agent redeem` off the local network (no sandbox to send from): the voucher comes out as
 * the Redeem message a TON wallet sends, a ton://transfer link with the vault, the gas and the
 * body filled in. It printed the voucher's JSON and "send it in a Redeem message", which no
 * wallet takes. A stand-in coordinator over real HTTP answers the routes redeem uses.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Address, Cell } from "@ton/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOrCreateKey } from "../api-client/keys";
import { routeStandIn, type StandInAnswer } from "../api-client/stand-in-testing";
import { redeemBody } from "../contracts/vault";
import type { Voucher } from "../events/money";
import { voucherFromJson } from "../functions/adapters/ton-chain";
import { runAgentCli } from "./cli-testing";

const PAYOUT = new Address(0, randomBytes(32)).toString({ bounceable: false });
const voucher: Voucher = {
  vault: new Address(0, randomBytes(32)).toString(),
  worker: PAYOUT,
  cumulative: "2500000000",
  expiry: 1_900_000_000,
  signature: randomBytes(64).toString("base64"),
};

/** The coordinator of a network with no local sandbox: a voucher for `voucher`, the worker's status, and no dev routes. */
async function standIn() {
  const status = {
    workerId: "w".repeat(43),
    tier: "none",
    models: [],
    jobs: 3,
    promptTokens: 1,
    completionTokens: 2,
    earned: voucher.cumulative,
    redeemed: "0",
    lastHeartbeat: 1,
    attestationExpiresAt: 2,
  };
  const answer = (route: string): StandInAnswer => {
    if (route === "GET /v1/routes") return { status: 404 };
    if (route === "POST /v1/sessions") return { status: 404, body: { error: { code: "sessions_unavailable", message: "-" } } };
    if (route === "POST /v1/agents/voucher") return { status: 200, body: voucher };
    if (route === "GET /v1/agents/me") return { status: 200, body: status };
    if (route.startsWith("POST /v1/dev/") || route.startsWith("GET /v1/dev/"))
      return { status: 404, body: { error: { code: "dev_chain_disabled", message: "no local sandbox here" } } };
    return { status: 404, body: { error: { code: "not_found", message: route } } };
  };
  return routeStandIn(answer);
}

describe("cocoon-agent redeem without a local sandbox", () => {
  let c: Awaited<ReturnType<typeof standIn>>;
  beforeAll(async () => {
    c = await standIn();
  });
  afterAll(async () => c?.close());

  it("prints a ton://transfer link that a wallet opens with the vault, 0.05 TON of gas and the vault's own Redeem body; --json has it as `message`", async () => {
    // Prepare: a worker key (redeem never makes one)
    const home = mkdtempSync(join(tmpdir(), "cocoon-agent-redeem-"));
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
