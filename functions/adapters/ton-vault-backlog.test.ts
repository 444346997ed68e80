/**
 * Review, session 22 (fixed): the AWS watcher's reader (VaultHistoryReader over toncenter) walked
 * the vault's whole unread history, newest to cursor, for EVERY page it returned. A stranger who
 * floods the vault with cheap rejected transfers (each one a vault transaction) made each page
 * cost backlog/100 toncenter requests, so a pass (a 55 s Lambda, a bounded request budget) first
 * crawled, then made no progress at all: deposits behind the flood were never credited. The
 * reader now walks the backlog once, keeps it, and resumes a walk that was cut short (on a warm
 * instance: a cold start walks again).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { type Address, toNano, type Transaction, type TupleItem } from "@ton/core";
import { internal } from "@ton/sandbox";
import { startLocalChain, type LocalChain } from "../../local/chain";
import { collectingAlerts } from "../../core/chain/dedup";
import { StoreChainLedger } from "../../core/chain/store-ledger";
import { runWatcher } from "../../core/chain/watcher";
import { TonClientChainReader, type TonClientLike } from "./ton-chain";
import { NOW, accountOf, seed } from "./ton-chain-testing";
import { createMemoryStore } from "../../local/memory-store";
import { DEPOSIT_FEE } from "../../contracts/vault";
import { requesterAccount } from "../../core/ledger";

const requesterId = accountOf("requester-key");

/** toncenter's getTransactions over the sandbox (as in ton-chain.test.ts), with a per-pass request budget. */
function fakeToncenter(chain: LocalChain, budget: { left: number }): TonClientLike & { calls: number } {
  const h = BigInt("0x" + chain.vaultAddress.hash.toString("hex"));
  let cache: Transaction[] | null = null;
  const fake = {
    calls: 0,
    async getTransactions(_a: Address, opts: { limit: number; lt?: string; hash?: string; to_lt?: string; inclusive?: boolean }) {
      fake.calls++;
      if (budget.left-- <= 0) throw new Error("toncenter: 429 / Lambda timeout (request budget of the pass spent)");
      cache ??= ((chain.blockchain as unknown as { transactions: Transaction[] }).transactions ?? [])
        .filter((t) => t.address === h)
        .sort((a, b) => (a.lt > b.lt ? -1 : 1));
      const all = cache;
      let start = 0;
      if (opts.lt && opts.hash) {
        start = all.findIndex((t) => t.lt === BigInt(opts.lt!) && t.hash().toString("base64") === opts.hash);
        if (start < 0) throw new Error("lt/hash not found");
        if (opts.inclusive === false) start++;
      }
      let page = all.slice(start, start + Math.min(opts.limit, 100));
      if (opts.to_lt) page = page.filter((t) => t.lt > BigInt(opts.to_lt!));
      return page;
    },
    async getBalance(address: Address) {
      return (await chain.blockchain.getContract(address)).balance;
    },
    async getContractState() {
      return { state: "active" as const };
    },
    async runMethod(_a: Address, _n: string, _s: TupleItem[] = []): Promise<never> {
      throw new Error("unused");
    },
  };
  return fake;
}

async function flood(chain: LocalChain, n: number) {
  const attacker = await chain.wallet("flooder");
  for (let i = 0; i < n; i++) {
    // a non-bounceable plain transfer from a stranger: the vault sends it back (one vault transaction each)
    await chain.blockchain.sendMessage(internal({ from: attacker.address, to: chain.vaultAddress, value: toNano("0.01"), bounce: false }));
  }
}

describe("a flood of rejected transfers does not stall the toncenter watcher (the reader walks the backlog once)", () => {
  const FLOOD = 1200;
  let chain: LocalChain;
  beforeAll(async () => {
    chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    await flood(chain, FLOOD);
    await chain.deposit(requesterId, 5n); // a genuine deposit after the flood
  }, 240_000);

  it("a pass walks the backlog at most once (the old reader re-walked it for every page: 20 x 13 requests)", async () => {
    // Prepare
    const client = fakeToncenter(chain, { left: Number.MAX_SAFE_INTEGER });
    const reader = new TonClientChainReader(client, chain.vaultAddress);
    const ledger = new StoreChainLedger(createMemoryStore());
    // Act: 1000 transactions read (20 pages of 50)
    const pass = await runWatcher({ reader, ledger, alerts: collectingAlerts(), now: () => NOW * 1000 + 60_000, lagThresholdSeconds: 600 });
    // Assess: walking the whole backlog once takes 13 requests of 100
    expect(pass.processed).toBe(1000);
    expect(client.calls).toBeLessThanOrEqual(FLOOD / 100 + 10);
  });

  it("behind the flood, a deposit is credited though each pass may make fewer requests than one walk takes", async () => {
    // Prepare: 20 passes (20 minutes of the 1-minute schedule), each allowed 10 toncenter requests:
    // the old reader spent them all re-walking the backlog for its first page, every pass
    const store = createMemoryStore();
    const ledger = new StoreChainLedger(store);
    const budget = { left: 0 };
    const reader = new TonClientChainReader(fakeToncenter(chain, budget), chain.vaultAddress);
    // Act
    for (let i = 0; i < 20; i++) {
      budget.left = 10;
      await runWatcher({ reader, ledger, alerts: collectingAlerts(), now: () => NOW * 1000 + 60_000, lagThresholdSeconds: 600 }).catch(
        () => undefined,
      );
    }
    // Assess
    const bal = await store.get("accounts", { pk: requesterAccount(requesterId), sk: "balance" });
    expect(bal?.available).toBe(5n * 1_000_000_000n - DEPOSIT_FEE);
  });
});
