import { describe, expect, it } from "vitest";
import { keyPairFromSeed } from "@ton/crypto";
import { collectingAlerts } from "../../core/chain/dedup";
import { TestStore } from "../../test/fixtures/faulty-store";
import { startLocalChain } from "../../local/chain";
import { voucherAccount } from "../../core/chain/store-ledger";
import type { CoreDeps } from "../../core/deps";
import { applyMovement, getBalance, requesterAccount, workerAccount } from "../../core/ledger";
import { issueVoucher, payoutTotals, type PayoutDeps } from "../../core/payouts";
import { voucherFromJson } from "../adapters/ton-chain";
import { DEPOSIT_FEE } from "../../contracts/vault";
import { makeChainWatcherHandler } from "./chain-watcher";
import { StorePolicySource, type PolicyReading } from "../../core/policy-registry";

const NOW = 1_750_000_000;
const quietLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe("chain watcher handler", () => {
  it("runs one pass from deps, credits deposits and dedups alerts across passes through the store", async () => {
    const chain = await startLocalChain({ now: NOW, reserve: 100_000_000n });
    const requester = keyPairFromSeed(Buffer.alloc(32, 7)).publicKey.toString("base64url");
    await chain.deposit(requester, 2n);
    const thief = await chain.wallet("thief");
    const credited = 2_000_000_000n - DEPOSIT_FEE; // the vault keeps its deposit fee
    await chain.redeem(thief, chain.signVoucher(thief.address, credited)); // drains: undercollateral
    const alerts = collectingAlerts();
    const clock = { now: () => NOW * 1000 };
    const store = new TestStore(clock);
    const handler = makeChainWatcherHandler({
      store,
      clock,
      log: quietLog,
      reader: chain.reader,
      vault: chain.vaultAddress.toRawString(),
      alerts,
    });

    const first = await handler();
    const second = await handler();

    expect({ deposits: first.deposits, redemptions: first.redemptions, liabilities: first.liabilities }).toEqual({
      deposits: 1,
      redemptions: 1,
      liabilities: credited.toString(),
    });
    expect(first.alerts).toContain("chain.undercollateral");
    expect(second.alerts).toContain("chain.undercollateral"); // raised again by the pass...
    expect(alerts.raised.filter((a) => a.key === "chain.undercollateral")).toHaveLength(1); // ...but sent once
  });
});

describe("issue 9 #2: the Lambda watcher books redemptions where the payouts put them", () => {
  it("issue 9 #2: the Lambda handler's watcher drains vch:<id> on a redeem, and redeemed is reported", async () => {
    // Prepare: a requester deposit, a job that paid a worker, a voucher from core/payouts, redeemed on chain
    const TON = 1_000_000_000n;
    const chain = await startLocalChain({ now: NOW });
    const clock = { now: () => NOW * 1000 };
    const store = new TestStore(clock);
    const handler = makeChainWatcherHandler({
      store,
      clock,
      log: quietLog,
      reader: chain.reader,
      vault: chain.vaultAddress.toRawString(),
      alerts: collectingAlerts(),
    });
    const requester = keyPairFromSeed(Buffer.alloc(32, 9)).publicKey.toString("base64url");
    await chain.deposit(requester, 5n);
    await handler();
    await applyMovement(store, {
      id: "settle:job-1",
      kind: "settle",
      at: clock.now(),
      meta: {},
      postings: [
        { account: requesterAccount(requester), field: "available", delta: -3n * TON },
        { account: workerAccount("w-1"), field: "available", delta: 3n * TON },
      ],
    });
    await store.transact([{ op: "put", table: "workers", item: { pk: "w-1", sk: "worker" } }]);
    const wallet = await chain.wallet("w-1");
    const deps = { store, clock, log: quietLog, voucherSigner: chain.voucherSigner } as unknown as CoreDeps & PayoutDeps;
    const voucher = await issueVoucher(deps, "w-1", wallet.address.toRawString());
    expect((await chain.redeem(wallet, voucherFromJson(voucher).voucher)).success).toBe(true);

    // Act
    const pass = await handler();

    // Assess
    expect({ redemptions: pass.redemptions, alerts: pass.alerts }).toEqual({ redemptions: 1, alerts: [] });
    expect((await getBalance(store, voucherAccount("w-1"))).available).toBe(0n);
    expect((await getBalance(store, workerAccount("w-1"))).available).toBe(0n);
    expect(await payoutTotals(store, "w-1")).toMatchObject({ earned: 3n * TON, issued: 3n * TON, unredeemed: 0n, redeemed: 3n * TON });
    expect(pass.liabilities).toBe((2n * TON - DEPOSIT_FEE).toString()); // 5 TON deposited less the vault's fee, 3 TON redeemed
    const totals = await chain.vault.getTotals();
    expect(BigInt(pass.liabilities!)).toBe(totals.deposited - totals.withdrawn - totals.paid);
  });
});

describe("issue 12: the watcher keeps the policy registry's reading in the store for the request routes", () => {
  const REGISTRY = "0:" + "cd".repeat(32);
  const reading = (version: number, readAt: number): PolicyReading => ({
    version,
    updatedAt: NOW - 100,
    readAt,
    policy: {
      coordinatorKey: "11".repeat(32),
      fees: { pricePerToken: 100n, promptBps: 2500, completionBps: 10_000, operatorFeeBps: 0 },
      images: ["aa".repeat(32)],
      models: {},
    },
  });

  it("each pass reads the registry and stores it where StorePolicySource reads; a failed read is alerted and the pass still runs", async () => {
    // Prepare
    const chain = await startLocalChain({ now: NOW });
    const requester = keyPairFromSeed(Buffer.alloc(32, 5)).publicKey.toString("base64url");
    await chain.deposit(requester, 2n);
    const clock = { now: () => NOW * 1000 };
    const store = new TestStore(clock);
    const alerts = collectingAlerts();
    const registry = { next: reading(3, NOW - 5) as PolicyReading | Error };
    const source = {
      read: async () => {
        if (registry.next instanceof Error) throw registry.next;
        return registry.next;
      },
    };
    const handler = makeChainWatcherHandler({
      store,
      clock,
      log: quietLog,
      reader: chain.reader,
      vault: chain.vaultAddress.toRawString(),
      alerts,
      policy: { registry: REGISTRY, source },
    });

    // Act
    const first = await handler();
    const stored = await new StorePolicySource(store, REGISTRY).read();
    registry.next = new Error("toncenter unreachable");
    const second = await handler();

    // Assess
    expect(first.policy).toEqual({ version: 3, readAt: NOW - 5, written: true });
    expect(stored).toEqual(reading(3, NOW - 5));
    expect(second.policy).toEqual({ error: "toncenter unreachable" });
    expect(alerts.raised.map((a) => a.key)).toContain("policy.read_failed");
    expect(first.deposits).toBe(1); // the watcher's own work is done either way
    expect(await new StorePolicySource(store, REGISTRY).read()).toEqual(reading(3, NOW - 5)); // kept: the routes' age bound decides
  });
});
