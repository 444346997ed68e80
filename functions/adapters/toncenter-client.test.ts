/**
 * issue 12: the scheduled functions' toncenter path with no TON library (toncenter-client.ts,
 * ton-vault-tx.ts, ton-getters.ts, ton-wallet-v5.ts) against the @ton/core path over @ton/ton's
 * TonClient (ton-chain.ts, ton/registry-source.ts, ton/anchor.ts), both pointed at one toncenter
 * double on 127.0.0.1 that answers from the TON sandbox: the vault's history as the chain watcher
 * pages it, the registry's policy, the anchor's getter, and anchors posted from the lean wallet
 * v5r1 (its first transfer carrying its init) that the sandbox's contracts accept.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Address, Cell, loadMessage, toNano, type Transaction, type TupleItem } from "@ton/core";
import { TonClient } from "@ton/ton";
import { keyPairFromSeed } from "@ton/crypto";
import { Blockchain } from "@ton/sandbox";
import { AnchorContract } from "../../contracts/anchor";
import { nextAnchor } from "../../contracts/anchor-fixtures";
import { applyAnchor, GENESIS_HEAD } from "../../core/receipts/anchor";
import { registryFixture, testPolicy } from "../../contracts/registry-fixtures";
import { startLocalChain } from "../../local/chain";
import { anchorWallet, ChainAnchorReader } from "../../ton/anchor";
import { ChainPolicySource, fromContractPolicy, toncenterClock } from "../../ton/registry-source";
import { TonClientChainReader } from "./ton-chain";
import type { TonAddress } from "./ton-cells";
import { ToncenterAnchorReader, ToncenterPolicySource } from "./ton-getters";
import { VaultHistoryReader } from "./ton-vault-tx";
import { anchorWalletFromSeed, ToncenterAnchorPoster } from "./ton-wallet-v5";
import { ToncenterClient } from "./toncenter-client";

const NOW = 1_750_000_000;

// ---------------------------------------------------------------- a toncenter double over a sandbox

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let s = "";
    req.on("data", (c: Buffer) => (s += c.toString()));
    req.on("end", () => resolve(s));
  });

const b64 = (c: Cell) => c.toBoc().toString("base64");

/** A top-level stack item as toncenter v2 writes it. */
function stackItem(i: TupleItem): unknown {
  switch (i.type) {
    case "int":
      return ["num", i.value < 0n ? "-0x" + (-i.value).toString(16) : "0x" + i.value.toString(16)];
    case "null":
      return ["null"];
    case "cell":
    case "slice":
    case "builder":
      return [i.type, { bytes: b64(i.cell) }];
    default:
      throw new Error(`the double does not write ${i.type}`);
  }
}

/** Parameters as TonClient sends them (["num", "…"], ["tvm.Cell", boc]). */
function stackParam(p: [string, string]): TupleItem {
  if (p[0] === "num") return { type: "int", value: BigInt(p[1]) };
  return { type: p[0] === "tvm.Slice" ? "slice" : "cell", cell: Cell.fromBase64(p[1]) };
}

interface Double {
  endpoint: string;
  calls: string[];
  sent: number;
}

async function toncenterDouble(bc: Blockchain): Promise<Double> {
  const d: Double = { endpoint: "", calls: [], sent: 0 };
  const server = createServer((req, res) =>
    answer(req, res).catch((e: unknown) => {
      // toncenter answers a failed call (an external message the contract refuses) with ok: false
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: false, error: String(e) }));
    }),
  );
  async function answer(req: IncomingMessage, res: ServerResponse) {
    const rpc = JSON.parse(await readBody(req)) as { method: string; params: Record<string, unknown> };
    d.calls.push(rpc.method);
    const ok = (result: unknown) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true, result }));
    };
    const address = typeof rpc.params.address === "string" ? Address.parse(rpc.params.address) : undefined;
    switch (rpc.method) {
      case "getAddressInformation": {
        const c = await bc.getContract(address!);
        const s = c.accountState;
        return ok({
          balance: c.balance.toString(),
          state: s?.type === "active" ? "active" : s?.type === "frozen" ? "frozen" : "uninitialized",
          code: s?.type === "active" && s.state.code ? b64(s.state.code) : "",
          data: s?.type === "active" && s.state.data ? b64(s.state.data) : "",
          last_transaction_id: { "@type": "internal.transactionId", lt: "0", hash: "" },
          block_id: { "@type": "ton.blockIdExt", workchain: -1, shard: "0", seqno: 1, root_hash: "", file_hash: "" },
          sync_utime: bc.now ?? NOW,
        });
      }
      case "runGetMethod": {
        const params = (rpc.params.stack as Array<[string, string]>).map(stackParam);
        try {
          const r = await bc.runGetMethod(address!, rpc.params.method as string, params);
          return ok({ gas_used: Number(r.gasUsed), exit_code: r.exitCode, stack: r.stack.map(stackItem) });
        } catch (e) {
          // the sandbox throws where toncenter answers the exit code
          return ok({ gas_used: 0, exit_code: (e as { exitCode: number }).exitCode, stack: [] });
        }
      }
      case "getTransactions": {
        // newest first from (lt, hash), down to to_lt; `limit` of them (toncenter's paging)
        const p = rpc.params as { limit: number; lt?: string; hash?: string; to_lt?: string };
        const h = BigInt("0x" + address!.hash.toString("hex"));
        const all = ((bc as unknown as { transactions: Array<Transaction & { address: bigint }> }).transactions ?? [])
          .filter((t) => t.address === h)
          .sort((a, b) => (a.lt > b.lt ? -1 : 1));
        let start = 0;
        if (p.lt && p.hash) start = all.findIndex((t) => t.lt === BigInt(p.lt!) && t.hash().toString("hex") === p.hash);
        let page = all.slice(start, start + p.limit);
        if (p.to_lt) page = page.filter((t) => t.lt > BigInt(p.to_lt!));
        return ok(
          page.map((t) => ({
            "@type": "raw.transaction",
            data: b64(t.raw),
            utime: t.now,
            transaction_id: { lt: t.lt.toString(), hash: t.hash().toString("base64") },
            fee: "0",
            storage_fee: "0",
            other_fee: "0",
            out_msgs: [],
          })),
        );
      }
      case "sendBoc": {
        d.sent++;
        await bc.sendMessage(loadMessage(Cell.fromBase64(rpc.params.boc as string).beginParse()));
        return ok({ "@type": "ok" });
      }
      default:
        res.writeHead(404);
        res.end(JSON.stringify({ ok: false, error: `no ${rpc.method}` }));
    }
  }
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  servers.push(server);
  d.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2/jsonRPC`;
  return d;
}

const clients = (d: Double) => ({
  ours: new ToncenterClient({ endpoint: d.endpoint }),
  tonClient: new TonClient({ endpoint: d.endpoint }),
});

const lean = (a: Address): TonAddress => ({ workchain: a.workChain, hash: a.hash });
const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));

describe("issue 12: the scheduled functions' toncenter path without @ton/*, against TonClient and @ton/core on one double", () => {
  it("the chain watcher's reader pages the vault's history to the same transactions and balance", async () => {
    // Prepare: deposits by several requesters, a withdrawal, so the history spans pages of 3
    const chain = await startLocalChain({ now: NOW });
    const ids = [1, 2, 3].map((i) => keyPairFromSeed(Buffer.alloc(32, i)).publicKey.toString("base64url"));
    for (const id of ids) await chain.deposit(id, 2n);
    await chain.withdraw(chain.requesterWallet, await chain.signWithdrawal(ids[0]!, chain.requesterWallet.address, toNano("1")));
    const d = await toncenterDouble(chain.blockchain);
    const { ours, tonClient } = clients(d);

    // Act
    const a = await new VaultHistoryReader(ours, lean(chain.vaultAddress), { pageSize: 3 }).getVaultTransactions(null, 100);
    const b = await new TonClientChainReader(tonClient, chain.vaultAddress, { pageSize: 3 }).getVaultTransactions(null, 100);
    const after = await new VaultHistoryReader(ours, lean(chain.vaultAddress), { pageSize: 2 }).getVaultTransactions(a.txs[2]!, 3);
    const balances = [await ours.getBalance(lean(chain.vaultAddress)), await tonClient.getBalance(chain.vaultAddress)];

    // Assess
    expect(a.txs.length).toBeGreaterThan(3);
    expect(a.txs.map((t) => t.kind)).toContain("deposit");
    expect(a.txs.map((t) => t.kind)).toContain("withdraw");
    expect(json(a)).toBe(json(b));
    expect(json(after.txs)).toBe(json(a.txs.slice(3, 6)));
    expect(balances[0]).toBe(balances[1]);
  });

  it("the registry's policy and the anchor's getter read the same (ints, cells, null dicts), with toncenter's sync time", async () => {
    // Prepare
    const f = await registryFixture();
    const d = await toncenterDouble(f.blockchain);
    const { ours, tonClient } = clients(d);

    // Act
    const a = await new ToncenterPolicySource(ours, lean(f.registry.address)).read();
    const b = await new ChainPolicySource(tonClient, f.registry.address, toncenterClock(tonClient, f.registry.address)).read();

    // Assess
    expect(json(a)).toBe(json(b));
    expect(a).toMatchObject({ version: 1, readAt: f.blockchain.now, policy: fromContractPolicy(testPolicy()) });
    expect(a.policy.images.length + Object.keys(a.policy.models).length).toBeGreaterThan(0);
  });

  it("the anchorer posts through it: the lean wallet is ton/anchor.ts's, its first transfer carries its init, the next its seqno; the anchor reads back the same both ways", async () => {
    // Prepare
    const bc = await Blockchain.create();
    bc.now = NOW;
    const funder = await bc.treasury("funder");
    const seed = Buffer.alloc(32, 5);
    const w = anchorWallet(seed);
    const ourWallet = anchorWalletFromSeed(seed);
    await funder.send({ to: w.wallet.address, value: toNano("10"), bounce: false });
    const anchor = bc.openContract(await AnchorContract.createFromConfig({ coordinator: w.wallet.address }));
    await anchor.sendDeploy(funder.getSender(), toNano("0.5"));
    const d = await toncenterDouble(bc);
    const { ours, tonClient } = clients(d);
    const poster = new ToncenterAnchorPoster(ours, ourWallet, lean(anchor.address));
    const first = nextAnchor(GENESIS_HEAD);
    const second = nextAnchor(applyAnchor(GENESIS_HEAD, first));

    // Act
    const before = (await bc.getContract(w.wallet.address)).accountState?.type;
    await poster.post([first]);
    await poster.post([second]);
    const [a, b] = [
      await new ToncenterAnchorReader(ours, lean(anchor.address)).latest(),
      await new ChainAnchorReader(tonClient, anchor.address).latest(),
    ];

    // Assess
    expect(poster.address.toRawString()).toBe(w.wallet.address.toRawString());
    expect(before).not.toBe("active");
    expect((await bc.getContract(w.wallet.address)).accountState?.type).toBe("active");
    expect(d.sent).toBe(2);
    expect(a).toEqual(b);
    expect(a.seqno).toBe(2);
  });

  it("a get-method that exits non-zero, and an answer that is not toncenter's, throw as TonClient's do", async () => {
    const f = await registryFixture();
    const d = await toncenterDouble(f.blockchain);
    const { ours, tonClient } = clients(d);
    const refused = (p: Promise<unknown>) =>
      p.then(
        () => false,
        () => true,
      );
    expect([
      await refused(ours.runMethod(lean(f.registry.address), "no_such_getter")),
      await refused(tonClient.runMethod(f.registry.address, "no_such_getter")),
    ]).toEqual([true, true]);
    expect(await refused(new ToncenterClient({ endpoint: "http://127.0.0.1:9/api/v2/jsonRPC" }).getBalance(lean(f.registry.address)))).toBe(
      true,
    );
  });
});
