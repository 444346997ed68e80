/**
 * `cocoon operator redeem` off the local network (no sandbox to send from): the operator's
 * voucher comes out as the Redeem message a TON wallet sends, as `cocoon-agent redeem` prints a
 * worker's (the same code); without --payout-address there is no wallet to default to. A
 * stand-in coordinator over real HTTP answers the routes the command uses.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Address, Cell } from "@ton/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../../test/temp-dir";
import { loadOrCreateKey } from "../../api-client/keys";
import { routeStandIn, type StandInAnswer } from "../../api-client/stand-in-testing";
import { redeemBody } from "../../contracts/vault";
import type { OperatorStatusView, Voucher } from "../../events/money";
import { voucherFromJson } from "../../functions/adapters/ton-chain";
import { main } from "../cli";
import { statusText } from "./operator";
import { runCli } from "../../api-client/cli-testing";

const PAYOUT = new Address(0, randomBytes(32)).toString({ bounceable: false });
const voucher: Voucher = {
  vault: new Address(0, randomBytes(32)).toString(),
  payee: randomBytes(32).toString("hex"),
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
    keyFile = join(tempDir("cocoon-operator-"), "operator.key");
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

  it("without --payout-address, the address the first voucher bound (the operator's status): no sandbox wallet needed", async () => {
    // Prepare: the same coordinator, its status naming the bound address
    const bound = await routeStandIn((route) =>
      route === "GET /v1/operator/status"
        ? {
            status: 200,
            body: {
              earned: "125000000",
              redeemed: "0",
              available: "0",
              shards: Array.from({ length: 16 }, () => "0"),
              vouchered: "125000000",
              payoutAddress: PAYOUT,
              fee: { bps: 500, source: "registry" },
            },
          }
        : route === "POST /v1/operator/voucher"
          ? { status: 200, body: voucher }
          : route.includes("/v1/dev/")
            ? { status: 403, body: { error: { code: "dev_chain_disabled", message: "no local sandbox here" } } }
            : { status: 404, body: { error: { code: "not_found", message: route } } },
    );
    try {
      // Act
      const r = await cocoon(["operator", "redeem", "--key", keyFile, "--api", bound.url, "--json"]);
      // Assess
      expect(r.code, r.err).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ voucher, sendYourself: true });
    } finally {
      await bound.close();
    }
  });

  it("without --payout-address and none bound there is no sandbox wallet to pay: exit 2, payout_address_required", async () => {
    // Act
    const r = await cocoon(["operator", "voucher", "--key", keyFile, "--api", c.url]);
    // Assess
    expect(r.code).toBe(2);
    expect(r.err).toContain("error [payout_address_required]: this network has no local sandbox wallet for you: pass --payout-address");
  });
});

describe("cocoon operator status in words (statusText)", () => {
  /** Factory: a status with `over` replacing its fields. */
  const view = (over: Partial<OperatorStatusView> = {}): OperatorStatusView => ({
    earned: "3000000000",
    redeemed: "1000000000",
    available: "500000000",
    shards: Array.from({ length: 16 }, (_, k) => (k === 3 ? "200000000" : k === 9 ? "300000000" : "0")),
    vouchered: "2500000000",
    payoutAddress: PAYOUT,
    fee: { bps: 250, source: "config" },
    ...over,
  });

  it("earned · redeemed · unredeemed first, then where the rest is, the address and the fee with its source", () => {
    // Act
    const text = statusText(view());
    // Assess
    expect(text.split("\n")).toEqual([
      "operator fees: earned 3 TON · redeemed 1 TON · unredeemed 2 TON",
      "  not yet vouchered 0.5 TON (in 2 of 16 fee shards) · vouchered 2.5 TON in all",
      `  paid to ${PAYOUT} (bound by the first voucher)`,
      "  operator fee 2.5 % (250 bps) of each job's cost, from the coordinator's config (no policy registry)",
    ]);
  });

  it("no payout address yet says what binds it; a registry too stale to read says the fee is unknown", () => {
    // Prepare
    const { payoutAddress: _none, ...unbound } = view({ fee: { bps: null, source: "registry" } });
    // Act
    const text = statusText(unbound);
    // Assess
    expect(text).toContain("no payout address yet: the first voucher binds it");
    expect(text).toContain("operator fee unknown: the policy registry could not be read freshly");
  });
});

describe("cocoon operator voucher|redeem with nothing earned", () => {
  /** Factory: a coordinator with no sandbox whose operator voucher is 409 nothing_earned and whose status shows `fee` (undefined: the status route fails). */
  async function idleCoordinator(fee: OperatorStatusView["fee"] | undefined) {
    const status: OperatorStatusView | undefined = fee && {
      earned: "0",
      redeemed: "0",
      available: "0",
      shards: Array.from({ length: 16 }, () => "0"),
      vouchered: "0",
      fee,
    };
    return routeStandIn((route) => {
      if (route === "GET /v1/routes") return { status: 404 };
      if (route === "POST /v1/operator/voucher")
        return {
          status: 409,
          body: { error: { code: "nothing_earned", message: "the operator has earned no fees yet: ask again once jobs have settled" } },
        };
      if (route === "GET /v1/operator/status")
        return status ? { status: 200, body: status } : { status: 500, body: { error: { code: "internal_error", message: "-" } } };
      return { status: 404, body: { error: { code: "not_found", message: route } } };
    });
  }
  let keyFile: string;
  beforeAll(() => {
    keyFile = join(tempDir("cocoon-operator-idle-"), "operator.key");
    loadOrCreateKey(keyFile);
  });

  it.each([
    ["registry", "the policy registry's; its owners set one: cocoon policy propose --operator-fee-bps N"],
    ["config", "the coordinator has no policy registry, and its own fee is 0: deploy with COCOON_REGISTRY_ADDRESS"],
  ] as const)(
    "the fee in force is 0 %% (%s): exit 2, nothing_earned saying no job pays one and where the fee is set",
    async (source, where) => {
      // Prepare
      const c = await idleCoordinator({ bps: 0, source });
      try {
        // Act
        const r = await cocoon(["operator", "voucher", "--key", keyFile, "--payout-address", PAYOUT, "--api", c.url]);
        const j = await cocoon(["operator", "redeem", "--key", keyFile, "--payout-address", PAYOUT, "--api", c.url, "--json"]);
        // Assess
        expect(r.code).toBe(2);
        expect(r.err).toContain(
          "error [nothing_earned]: the operator has earned no fees: the operator fee in force is 0 %, so no job pays one (",
        );
        expect(r.err).toContain(where);
        expect(j.code).toBe(2);
        expect(JSON.parse(j.err)).toMatchObject({
          error: { code: "nothing_earned", status: 409, details: { operatorFeeBps: 0, feeSource: source } },
        });
      } finally {
        await c.close();
      }
    },
  );

  it.each([
    ["a fee above 0", { bps: 500, source: "registry" } as const],
    ["a status that fails", undefined],
  ])("%s: the coordinator's nothing_earned as it came (exit 2)", async (_, fee) => {
    // Prepare
    const c = await idleCoordinator(fee);
    try {
      // Act
      const r = await cocoon(["operator", "voucher", "--key", keyFile, "--payout-address", PAYOUT, "--api", c.url]);
      // Assess
      expect(r.code).toBe(2);
      expect(r.err.trim()).toBe("error [nothing_earned]: the operator has earned no fees yet: ask again once jobs have settled");
    } finally {
      await c.close();
    }
  });
});
