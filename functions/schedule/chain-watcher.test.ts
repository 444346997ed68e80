import { describe, expect, it } from "vitest";
import { keyPairFromSeed } from "@ton/crypto";
import { collectingAlerts } from "../../core/chain/dedup";
import { TestStore } from "../../test/fixtures/faulty-store";
import { startLocalChain } from "../../local/chain";
import { makeChainWatcherHandler } from "./chain-watcher";

const NOW = 1_750_000_000;
const quietLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe("chain watcher handler", () => {
  it("runs one pass from deps, credits deposits and dedups alerts across passes through the store", async () => {
    const chain = await startLocalChain({ now: NOW, reserve: 100_000_000n });
    const requester = keyPairFromSeed(Buffer.alloc(32, 7)).publicKey.toString("base64url");
    await chain.deposit(requester, 2n);
    const thief = await chain.wallet("thief");
    await chain.redeem(thief, chain.signVoucher(thief.address, 2_000_000_000n)); // drains: undercollateral
    const alerts = collectingAlerts();
    const clock = { now: () => NOW * 1000 };
    const store = new TestStore(clock);
    const handler = makeChainWatcherHandler({ store, clock, log: quietLog, reader: chain.reader, alerts });

    const first = await handler();
    const second = await handler();

    expect({ deposits: first.deposits, redemptions: first.redemptions, liabilities: first.liabilities }).toEqual({ deposits: 1, redemptions: 1, liabilities: "2000000000" });
    expect(first.alerts).toContain("chain.undercollateral");
    expect(second.alerts).toContain("chain.undercollateral"); // raised again by the pass...
    expect(alerts.raised.filter((a) => a.key === "chain.undercollateral")).toHaveLength(1); // ...but sent once
  });
});
