/**
 * Test factory: a stand-in coordinator over real HTTP on 127.0.0.1 that answers each request by
 * its route ("METHOD /path", the query left off) with JSON; for CLI tests that need only a few
 * routes. Imported by tests only.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Address } from "@ton/core";
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
  worker,
  cumulative: cumulative.toString(),
  expiry: 1_900_000_000,
  signature: randomBytes(64).toString("base64"),
});
