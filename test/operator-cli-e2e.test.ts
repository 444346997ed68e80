/**
 * `cocoon operator key|status|voucher|redeem` end to end in the local default, with the registry's
 * first policy taking 5 %: the operator's key file made and printed for COCOON_OPERATOR_KEY,
 * the network started with it, a job settled (its fee in the operator's shards, as status
 * shows), then the operator's voucher printed, redeemed at the sandbox vault (which pays exactly
 * the fee, once, and status shows it redeemed), and any other key refused with what to do about it.
 */
import { OPERATOR_PAYEE_ID } from "../core/chain/store-ledger";
import { payeeUint } from "../core/chain/payee";
import { join } from "node:path";
import { Address } from "@ton/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import type { RunningAgent } from "../agent/runtime";
import { ApiClient } from "../api-client/api";
import { loadKey, loadOrCreateKey } from "../api-client/keys";
import { API } from "../api-client/routes";
import { main as requesterCli } from "../client/cli";
import { CocoonClient } from "../client/sdk";
import { operatorFeesEarned } from "../core/ledger";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { MODEL } from "./helpers";
import { runCli } from "../api-client/cli-testing";

const FEE_BPS = 500;

/** Runs the CLI's main() in-process and captures what it prints. */
const cocoon = (argv: string[]) => runCli(requesterCli, argv);

describe("cocoon operator (local default, registry fee 5 %)", () => {
  let net: LocalNetwork;
  let agent: RunningAgent;
  let home: string;
  let opKeyFile: string;
  let made: Awaited<ReturnType<typeof cocoon>>;
  /** the fee of the one job run here */
  let fee = 0n;

  beforeAll(async () => {
    home = tempDir("cocoon-opcli-");
    opKeyFile = join(home, "operator.key");
    // the operator's key made and printed first: the network is started with what it printed
    made = await cocoon(["operator", "key", "--key", opKeyFile, "--json"]);
    net = await startNetwork({
      anchoring: { tickMs: 200, intervalSeconds: 1 },
      policyRegistry: { operatorFeeBps: FEE_BPS },
      operatorKey: made.json.publicKey,
    });
    [agent] = (await startLocalAgents(net.url, home, [{ name: "a", priceBps: 10_000 }])) as [RunningAgent];
    const client = new CocoonClient({ apiUrl: net.url, key: loadOrCreateKey(join(home, "requester.key")), allowDev: true });
    await client.faucet(2_000_000_000n);
    const r = await client.ask({ model: MODEL, messages: [{ role: "user", content: "fee?" }], maxTokens: 16, tiers: ["dev"] });
    fee = (BigInt(r.cost) * BigInt(FEE_BPS)) / 10_000n;
  }, 120_000);
  afterAll(async () => {
    await agent?.stop();
    await net?.stop();
  });

  it("operator key makes the key file once and prints its public key in hex, as COCOON_OPERATOR_KEY takes it", async () => {
    // Prepare: the key file made in beforeAll
    const hex = Buffer.from(loadKey(opKeyFile).publicKey).toString("hex");

    // Act
    const again = await cocoon(["operator", "key", "--key", opKeyFile]);
    const againJson = await cocoon(["operator", "key", "--key", opKeyFile, "--json"]);

    // Assess
    expect(made.code, made.err).toBe(0);
    expect(made.json).toEqual({ keyFile: opKeyFile, made: true, publicKey: hex });
    expect(hex).toMatch(/^[0-9a-f]{64}$/);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toMatch(new RegExp(`^COCOON_OPERATOR_KEY=${hex}\\n`));
    expect(again.out).not.toContain("made now");
    expect(againJson.json).toEqual({ keyFile: opKeyFile, made: false, publicKey: hex });
  });

  it("operator status shows the settled fee as earned and not yet vouchered, and the registry's fee in force", async () => {
    // Act
    const text = await cocoon(["operator", "status", "--key", opKeyFile, "--api", net.url]);
    const json = await cocoon(["operator", "status", "--key", opKeyFile, "--api", net.url, "--json"]);

    // Assess
    expect(text.code, text.err).toBe(0);
    expect(text.out).toMatch(/^operator fees: earned [\d.]+ TON · redeemed 0 TON · unredeemed [\d.]+ TON\n/);
    expect(text.out).toContain("no payout address yet: the first voucher binds it");
    expect(text.out).toContain(`operator fee 5 % (${FEE_BPS} bps) of each job's cost, from the policy registry (policy version 1)`);
    expect(json.code, json.err).toBe(0);
    expect(json.json).toMatchObject({ earned: fee.toString(), available: fee.toString(), vouchered: "0", redeemed: "0" });
    expect(json.json.fee).toEqual({ bps: FEE_BPS, source: "registry", registryVersion: 1 });
    expect(json.json.shards.reduce((s: bigint, v: string) => s + BigInt(v), 0n)).toBe(fee);
    expect(json.json.payoutAddress).toBeUndefined();
  });

  it("operator voucher prints the cumulative fees, the address, the expiry and the Redeem to send; nothing is paid", async () => {
    // Prepare: the operator's sandbox wallet is the default payout address
    expect(fee).toBeGreaterThan(0n);
    const { address } = await new ApiClient(net.url, loadKey(opKeyFile)).request(API.devWallet);

    // Act
    const text = await cocoon(["operator", "voucher", "--key", opKeyFile, "--api", net.url]);
    const json = await cocoon(["operator", "voucher", "--key", opKeyFile, "--api", net.url, "--json"]);

    // Assess
    expect(text.code, text.err).toBe(0);
    expect(text.out).toMatch(/^operator voucher for [\d.]+ TON \(cumulative: every fee so far\) to 0:[0-9a-f]{64}, valid until \d{4}-/);
    expect(text.out).toContain("Send its Redeem message to the vault");
    expect(text.out).toContain("ton://transfer/");
    expect(json.code, json.err).toBe(0);
    expect(Object.keys(json.json).sort()).toEqual(["message", "voucher"]);
    expect(json.json.voucher).toMatchObject({ worker: Address.parse(address).toRawString(), cumulative: fee.toString() });
    expect(json.json.voucher.expiry).toBeGreaterThan(Date.now() / 1000);
    expect(Object.keys(json.json.message).sort()).toEqual(["amount", "body", "link", "to"]);
    expect(await net.chain!.paid(payeeUint(OPERATOR_PAYEE_ID))).toBe(0n);
  });

  it("operator redeem has the sandbox vault pay exactly the fees, once; asked again there is nothing new to redeem", async () => {
    // Prepare
    const { address } = await new ApiClient(net.url, loadKey(opKeyFile)).request(API.devWallet);

    // Act
    const red = await cocoon(["operator", "redeem", "--key", opKeyFile, "--api", net.url, "--json"]);
    await net.runWatcherOnce();
    const again = await cocoon(["operator", "redeem", "--key", opKeyFile, "--api", net.url]);
    const againJson = await cocoon(["operator", "redeem", "--key", opKeyFile, "--api", net.url, "--json"]);

    // Assess
    expect(red.code, red.err).toBe(0);
    expect(red.json).toMatchObject({ paid: fee.toString(), voucher: { cumulative: fee.toString() } });
    expect(red.json.txHash).toMatch(/\S/);
    expect(red.json.voucher.worker).toBe(Address.parse(address).toRawString());
    expect(await net.chain!.paid(payeeUint(OPERATOR_PAYEE_ID))).toBe(fee);
    expect(await operatorFeesEarned(net.store)).toBe(0n);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toMatch(/^nothing new to redeem: the vault already paid the voucher/);
    expect(againJson.json).toMatchObject({ paid: "0", alreadyPaid: true });
    expect(await net.chain!.paid(payeeUint(OPERATOR_PAYEE_ID))).toBe(fee);
  }, 60_000);

  it("operator status after the redemption: everything vouchered and redeemed, to the bound sandbox wallet", async () => {
    // Prepare
    const { address } = await new ApiClient(net.url, loadKey(opKeyFile)).request(API.devWallet);
    // Act
    const json = await cocoon(["operator", "status", "--key", opKeyFile, "--api", net.url, "--json"]);
    // Assess
    expect(json.code, json.err).toBe(0);
    expect(json.json).toMatchObject({
      earned: fee.toString(),
      redeemed: fee.toString(),
      available: "0",
      vouchered: fee.toString(),
      payoutAddress: Address.parse(address).toRawString(),
    });
  });

  it("another key is refused (exit 2, not_the_operator) with its public key and what to change; a missing key file says how to make one", async () => {
    // Prepare: the worker's key, a key of no one's, and no key at all
    const workerKey = join(home, "a.key");
    const workerHex = Buffer.from(loadKey(workerKey).publicKey).toString("hex");
    const missing = join(home, "none.key");

    // Act
    const text = await cocoon(["operator", "voucher", "--key", workerKey, "--api", net.url]);
    const json = await cocoon(["operator", "redeem", "--key", workerKey, "--api", net.url, "--json"]);
    const none = await cocoon(["operator", "redeem", "--key", missing, "--api", net.url]);
    const status = await cocoon(["operator", "status", "--key", workerKey, "--api", net.url, "--json"]);

    // Assess
    expect(text.code).toBe(2);
    expect(text.out).toBe("");
    expect(text.err).toContain(
      `error [not_the_operator]: this key is not the operator's: the coordinator's COCOON_OPERATOR_KEY names another key (this key's public key is ${workerHex})`,
    );
    expect(json.code).toBe(2);
    expect(JSON.parse(json.err)).toMatchObject({ error: { code: "not_the_operator", status: 403, details: { publicKey: workerHex } } });
    expect(status.code).toBe(2);
    expect(status.out).toBe("");
    expect(JSON.parse(status.err)).toMatchObject({ error: { code: "not_the_operator", status: 403, details: { publicKey: workerHex } } });
    expect(none.code).toBe(2);
    expect(none.err).toContain(`error [no_key]: there is no operator key at ${missing}: make one with \`cocoon operator key`);
  });
});
