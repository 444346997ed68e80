/**
 * Test factory: a stand-in coordinator over real HTTP on 127.0.0.1 that answers each request by
 * its route ("METHOD /path", the query left off) with JSON; for CLI tests that need only a few
 * routes. Imported by tests only.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Address } from "@ton/core";
import { payoutWalletAddress } from "../contracts/vault";
import { payeeHexToUint } from "../core/chain/payee";
import type { Voucher } from "../events/money";

export type StandInAnswer = { status: number; body?: unknown };

export async function routeStandIn(answer: (route: string) => StandInAnswer): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const a = answer(`${req.method} ${(req.url ?? "").split("?")[0]}`);
      res.writeHead(a.status, { "content-type": "application/json" }).end(a.body === undefined ? "" : JSON.stringify(a.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A voucher for `worker` as a stand-in coordinator answers it: a random vault and signature (nothing in these tests checks them). */
export const standInVoucher = (worker: string, cumulative: bigint): Voucher => ({
  vault: new Address(0, randomBytes(32)).toString(),
  payee: randomBytes(32).toString("hex"),
  worker,
  cumulative: cumulative.toString(),
  expiry: 1_900_000_000,
  signature: randomBytes(64).toString("base64"),
});

/**
 * Test factory: a toncenter stand-in (JSON-RPC getAddressInformation, as @ton/ton's TonClient
 * asks) where the voucher's payout wallet is in `state` and every other address uninitialized;
 * `asked` lists the addresses read, `wallet` is the payout wallet's.
 */
export async function toncenterStandIn(v: Voucher, state: "active" | "uninitialized") {
  const wallet = await payoutWalletAddress(Address.parse(v.vault), payeeHexToUint(v.payee));
  const asked: string[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const { method, params } = JSON.parse(body) as { method: string; params: { address: string } };
      if (method !== "getAddressInformation") return void res.writeHead(404).end();
      asked.push(params.address);
      const result = {
        balance: "2000000",
        state: Address.parse(params.address).equals(wallet) ? state : "uninitialized",
        data: "",
        code: "",
        last_transaction_id: { "@type": "internal.transactionId", lt: "0", hash: Buffer.alloc(32).toString("base64") },
        block_id: { "@type": "ton.blockIdExt", workchain: -1, shard: "-9223372036854775808", seqno: 1, root_hash: "", file_hash: "" },
        sync_utime: 1_750_000_000,
      };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true, result }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2/jsonRPC`,
    asked,
    wallet,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
