/**
 * `cocoon operator redeem` off the local network (no sandbox to send from): the operator's
 * voucher comes out as the Redeem message a TON wallet sends, as `cocoon-agent redeem` prints a
 * worker's (the same code); without --payout-address there is no wallet to default to. A
 * stand-in coordinator over real HTTP answers the routes the command uses.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Address, Cell } from "@ton/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOrCreateKey } from "../../api-client/keys";
import { routeStandIn, type StandInAnswer } from "../../api-client/stand-in-testing";
import { redeemBody } from "../../contracts/vault";
import type { Voucher } from "../../events/money";
import { voucherFromJson } from "../../functions/adapters/ton-chain";
import { main } from "../cli";
import { runCli } from "../../api-client/cli-testing";

const PAYOUT = new Address(0, randomBytes(32)).toString({ bounceable: false });
const voucher: Voucher = {
  vault: new Address(0, randomBytes(32)).toString(),
  worker: PAYOUT,
  cumulative: "125000000",
  expiry: 1_900_000_000,
  signature: randomBytes(64).toString("base64"),
};

/** A coordinator with no local sandbox: the operator's voucher, and no dev routes. */
async function standIn() {
  const answer = (route: string): StandInAnswer => {
    if (route === "GET /v1/routes") return { status: 404 };
    if (route === "POST /v1/operator/voucher") return { status: 200, body: voucher };
    if (route.startsWith("POST /v1/dev/") || route.startsWith("GET /v1/dev/"))
      return { status: 403, body: { error: { code: "dev_chain_disabled", message: "no local sandbox here" } } };
    return { status: 404, body: { error: { code: "not_found", message: route } } };
  };
  return routeStandIn(answer);
}

/** Runs the CLI's main() in-process and captures what it prints. */
const cocoon = (argv: string[]) => runCli(main, argv);

describe("cocoon operator redeem without a local sandbox", () => {
  let c: Awaited<ReturnType<typeof standIn>>;
  let keyFile: string;
  beforeAll(async () => {
    c = await standIn();
    keyFile = join(mkdtempSync(join(tmpdir(), "cocoon-operator-")), "operator.key");
    loadOrCreateKey(keyFile);
  });
  afterAll(async () => c?.close());

  it("prints the Redeem message to send (a ton://transfer link with the vault's own Redeem body); --json has it as `message`", async () => {
    // Prepare
    const argv = ["operator", "redeem", "--key", keyFile, "--payout-address", PAYOUT, "--api", c.url];
    // Act
    const text = await cocoon(argv);
    const json = await cocoon([...argv, "--json"]);
    // Assess
    expect([text.code, json.code], text.err + json.err).toEqual([0, 0]);
    expect(text.out).toMatch(
      /^operator voucher for 0\.125 TON \(cumulative: every fee so far\) to \S+, valid until 2030-.*: NOT paid yet\. /,
    );
    const link = /open in your wallet: (ton:\/\/transfer\/\S+)/.exec(text.out)?.[1];
    expect(link).toBeDefined();
    const u = new URL(link!);
    expect(u.searchParams.get("amount")).toBe("50000000");
    expect(Cell.fromBase64(u.searchParams.get("bin")!).equals(redeemBody(voucherFromJson(voucher).voucher))).toBe(true);
    expect(JSON.parse(json.out)).toEqual({ voucher, paid: "0", sendYourself: true, message: expect.objectContaining({ link }) });
  });

  it("without --payout-address there is no sandbox wallet to pay: exit 2, payout_address_required", async () => {
    // Act
    const r = await cocoon(["operator", "voucher", "--key", keyFile, "--api", c.url]);
    // Assess
    expect(r.code).toBe(2);
    expect(r.err).toContain("error [payout_address_required]: this network has no local sandbox wallet for you: pass --payout-address");
  });
});
