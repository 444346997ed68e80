/**
 * The chain check (toncenter-chain-check.ts) and the quorum (toncenter-quorum.ts) over a real vault
 * history: the TON sandbox's (local/chain.ts), several hundred transactions, served by toncenter
 * stand-ins on 127.0.0.1 as toncenter pages them. A check that refused what the chain really
 * writes (its prev_trans_lt/hash, its pages of 100, a cursor's to_lt) would stop the watcher for
 * good; so it must pass all of it, from the start and from a cursor.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectingAlerts } from "../../core/chain/dedup";
import type { ChainReader, Cursor } from "../../core/chain/ports";
import { startLocalChain, type LocalChain } from "../../local/chain";
import { closeToncenterStandins, rawTransaction, startToncenterStandin } from "../../test/fixtures/toncenter-standin";
import { NOW, floodVault, seed, vaultHistory } from "./ton-chain-testing";
import type { TonAddress } from "./ton-cells";
import { VaultHistoryReader } from "./ton-vault-tx";
import { ChainCheckedHistory } from "./toncenter-chain-check";
import { ToncenterClient } from "./toncenter-client";
import { QuorumChainReader, toncenterMember } from "./toncenter-quorum";

/** toncenter v2 over the sandbox's vault: getTransactions as toncenter pages, getAddressInformation with its last transaction. */
const toncenterOver = (chain: LocalChain) =>
  startToncenterStandin(({ method, params }) => {
    const all = vaultHistory(chain);
    if (method === "getAddressInformation") {
      const last = all[0]!;
      return {
        balance: "1000",
        state: "active",
        data: "",
        code: "",
        last_transaction_id: { lt: last.lt.toString(), hash: last.hash().toString("base64") },
        sync_utime: NOW,
      };
    }
    const p = params as { limit: number; lt?: string; hash?: string; to_lt?: string };
    const start = p.lt && p.hash ? all.findIndex((t) => t.lt === BigInt(p.lt!) && t.hash().toString("hex") === p.hash) : 0;
    return all
      .slice(start, start + p.limit)
      .filter((t) => !p.to_lt || t.lt > BigInt(p.to_lt))
      .map((t) => rawTransaction(t.raw, t.lt, t.now));
  });

/** Every transaction after `from`, in pages of 50 as the watcher reads them. */
async function readAll(reader: ChainReader, from: Cursor | null = null): Promise<string[]> {
  const lts: string[] = [];
  for (let cursor = from; ;) {
    const page = await reader.getVaultTransactions(cursor, 50);
    if (page.txs.length === 0) return lts;
    lts.push(...page.txs.map((t) => t.lt));
    cursor = page.cursor;
  }
}

describe("a real vault history through the chain check and the quorum", () => {
  let chain: LocalChain;
  let vault: TonAddress;
  let history: string[];
  beforeAll(async () => {
    chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    await floodVault(chain, 250);
    vault = { workchain: chain.vaultAddress.workChain, hash: chain.vaultAddress.hash };
    history = vaultHistory(chain)
      .map((t) => String(t.lt))
      .reverse();
  }, 120_000);
  afterAll(closeToncenterStandins);

  it("the checked reader reads it whole, from the start and from a cursor", async () => {
    // Prepare
    const { endpoint } = await toncenterOver(chain);
    const checked = () => new VaultHistoryReader(new ChainCheckedHistory(new ToncenterClient({ endpoint })), vault);
    const mid = vaultHistory(chain).reverse()[120]!;
    const cursor = { lt: mid.lt.toString(), hash: mid.hash().toString("hex") };

    // Act
    const fromStart = await readAll(checked());
    const fromCursor = await readAll(checked(), cursor);

    // Assess
    expect(history.length).toBeGreaterThan(250);
    expect(fromStart).toEqual(history);
    expect(fromCursor).toEqual(history.slice(121));
  });

  it("two endpoints serving it agree: the quorum reads it whole, with no alert", async () => {
    // Prepare
    const endpoints = [await toncenterOver(chain), await toncenterOver(chain)];
    const alerts = collectingAlerts();
    const members = endpoints.map(({ endpoint }, i) => {
      const client = new ToncenterClient({ endpoint });
      return toncenterMember(`#${i + 1}`, client, vault, new VaultHistoryReader(new ChainCheckedHistory(client), vault));
    });
    const quorum = new QuorumChainReader(members, { alerts });

    // Act
    const view = await quorum.chainView();
    const all = await readAll(quorum);
    const balance = await quorum.getVaultBalance();

    // Assess
    expect(all).toEqual(history);
    expect(view).toEqual({ at: NOW * 1000, lastLt: history[history.length - 1] });
    expect(balance).toBe(1000n);
    expect(alerts.raised).toEqual([]);
  });
});
