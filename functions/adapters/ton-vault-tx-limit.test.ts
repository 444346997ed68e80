/**
 * Session 23 (fixed): toncenter v2's getTransactions refuses a `limit` over 100, and both clients
 * the reader runs over (toncenter-client.ts in the Lambda, @ton/ton's TonClient) ask for `limit + 1`
 * when they drop the cursor's own row themselves (`inclusive: false`). The reader asked for pages
 * of 100 below a cursor that way: every request after the first was refused, so a backlog of
 * more than 100 vault transactions stopped the AWS watcher for good. It now asks `inclusive` and
 * drops that row itself: no request over 100.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Address } from "@ton/core";
import { TonClient } from "@ton/ton";
import { startLocalChain, type LocalChain } from "../../local/chain";
import type { ChainReader, Cursor } from "../../core/chain/ports";
import { TonClientChainReader } from "./ton-chain";
import { NOW, floodVault, seed, vaultHistory } from "./ton-chain-testing";
import { VaultHistoryReader } from "./ton-vault-tx";
import { ToncenterClient } from "./toncenter-client";

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let s = "";
    req.on("data", (c: Buffer) => (s += c.toString()));
    req.on("end", () => resolve(s));
  });

/** toncenter v2's getTransactions over the sandbox, refusing a limit over 100 as toncenter does (422). */
async function toncenterDouble(chain: LocalChain): Promise<{ endpoint: string; limits: number[]; server: Server }> {
  const limits: number[] = [];
  const server = createServer((req, res) => {
    void readBody(req).then((text) => {
      const { method, params: p } = JSON.parse(text) as {
        method: string;
        params: { address: string; limit: number; lt?: string; hash?: string; to_lt?: string };
      };
      const answer = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (method !== "getTransactions") return answer(404, { ok: false, error: `no ${method}`, code: 404 });
      limits.push(p.limit);
      if (p.limit > 100) return answer(422, { ok: false, error: "limit: ensure this value is less than or equal to 100", code: 422 });
      if (!Address.parse(p.address).equals(chain.vaultAddress)) return answer(200, { ok: true, result: [] });
      const all = vaultHistory(chain);
      const start = p.lt && p.hash ? all.findIndex((t) => t.lt === BigInt(p.lt!) && t.hash().toString("hex") === p.hash) : 0;
      let page = all.slice(start, start + p.limit);
      if (p.to_lt) page = page.filter((t) => t.lt > BigInt(p.to_lt!));
      const result = page.map((t) => ({
        "@type": "raw.transaction",
        data: t.raw.toBoc().toString("base64"),
        utime: t.now,
        transaction_id: { "@type": "internal.transactionId", lt: t.lt.toString(), hash: t.hash().toString("base64") },
        fee: "0",
        storage_fee: "0",
        other_fee: "0",
        out_msgs: [],
      }));
      answer(200, { ok: true, result });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2/jsonRPC`, limits, server };
}

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

describe("no request asks toncenter for more than 100 transactions (it refuses 101)", () => {
  let chain: LocalChain;
  let double: Awaited<ReturnType<typeof toncenterDouble>>;
  beforeAll(async () => {
    chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    await floodVault(chain, 250);
    double = await toncenterDouble(chain);
  }, 120_000);
  afterAll(() => new Promise((r) => double.server.close(r)));

  it("the Lambda's reader (toncenter-client.ts) and TonClient's read a history of several hundred, from the start and from a cursor", async () => {
    // Prepare
    const vault = { workchain: chain.vaultAddress.workChain, hash: chain.vaultAddress.hash };
    const lean = new VaultHistoryReader(new ToncenterClient({ endpoint: double.endpoint }), vault);
    const tonClient = new TonClientChainReader(new TonClient({ endpoint: double.endpoint }), chain.vaultAddress);
    const history = vaultHistory(chain)
      .map((t) => String(t.lt))
      .reverse();
    const middle = { lt: history[120]!, hash: "" };

    // Act
    const fromStart = [await readAll(lean), await readAll(tonClient)];
    const fromMiddle = await readAll(new VaultHistoryReader(new ToncenterClient({ endpoint: double.endpoint }), vault), middle);

    // Assess
    expect(history.length).toBeGreaterThan(250);
    expect(fromStart).toEqual([history, history]);
    expect(fromMiddle).toEqual(history.slice(121));
    expect(double.limits.length).toBeGreaterThan(6);
    expect(Math.max(...double.limits)).toBe(100);
  });
});
