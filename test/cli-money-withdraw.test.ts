/**
 * `cocoon withdraw` from a demanding requester's side: a withdrawal whose answer was lost (the
 * connection dropped after the coordinator reserved and signed it) is resumed by running the same
 * command again, never reserved twice; the local sandbox vault, chain watcher and real HTTP.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { join } from "node:path";
import { fromNano } from "@ton/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { main as requesterCli } from "../client/cli";
import { CocoonClient } from "../client/sdk";
import { API } from "../api-client/api";
import { loadOrCreateKey } from "../api-client/keys";
import { DEPOSIT_FEE } from "../contracts/vault";
import { pendingWithdrawalAccount } from "../core/chain/store-ledger";
import { getBalance, requesterAccount } from "../core/ledger";
import { startNetwork, type LocalNetwork } from "../local/network";

const TON = 1_000_000_000n;

async function cli(argv: string[]) {
  let out = "";
  let err = "";
  const code = await requesterCli(argv, { write: (s: string) => ((out += s), true) }, { write: (s: string) => ((err += s), true) });
  return { code, out, err, json: code === 0 && out.trim().startsWith("{") ? JSON.parse(out) : undefined };
}

/**
 * Makes `server` hang up, instead of answering, the next `n` POSTs to `path`: the request is
 * handled in full (the coordinator reserved and signed), only the answer is lost on the way.
 */
function dropAnswers(server: Server) {
  const drops: Record<string, number> = {};
  server.prependListener("request", (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "").split("?")[0]!;
    if (req.method !== "POST" || !((drops[path] ?? 0) > 0)) return;
    drops[path]!--;
    res.end = (() => (res.socket?.destroy(), res)) as typeof res.end;
  });
  return { next: (path: string, n = 1) => (drops[path] = n) };
}

describe("cocoon withdraw: retries and crashes (local sandbox vault, real HTTP)", () => {
  const home = tempDir("cocoon-cli-money-");
  process.env.COCOON_HOME = home;
  let net: LocalNetwork;
  let drop: ReturnType<typeof dropAnswers>;
  beforeAll(async () => {
    net = await startNetwork({ dataDir: tempDir("cocoon-cli-money-data-"), watcherIntervalMs: 100 });
    drop = dropAnswers(net.server);
  });
  afterAll(async () => net?.stop());

  /** Factory: a funded account of the test's own, its CLI arguments (through the proxy) and its ledger. */
  async function fundedAccount(credited: bigint) {
    const keyFile = join(mkdtempSync(join(home, "requester-")), "requester.key");
    const key = loadOrCreateKey(keyFile);
    const args = ["--api", net.url, "--key", keyFile, "--json"];
    const dep = await cli(["deposit", fromNano(credited + DEPOSIT_FEE), ...args]);
    expect(dep.code, dep.err).toBe(0);
    return {
      key,
      keyFile,
      args,
      ledger: async () => ({
        available: (await getBalance(net.store, requesterAccount(key.id))).available,
        reserved: (await getBalance(net.store, pendingWithdrawalAccount(key.id))).available,
      }),
    };
  }

  it("a withdrawal whose answer was lost is resumed by running the same command again: one reservation, paid once", async () => {
    // Prepare
    const { args, ledger, keyFile } = await fundedAccount(5n * TON);
    drop.next("/v1/account/withdraw");
    const lost = await cli(["withdraw", "2", ...args]);

    // Act
    const again = await cli(["withdraw", "2", ...args]);

    // Assess: the lost answer says the withdrawal may be reserved and how to resume; the rerun pays seqno 0, once
    expect(again.code, again.err).toBe(0);
    expect(await ledger()).toEqual({ available: 3n * TON, reserved: 0n });
    expect(again.json).toMatchObject({
      sent: true,
      status: "landed",
      resumed: true,
      withdrawal: { seqno: 0, amount: (2n * TON).toString() },
    });
    expect(lost.code).toBe(2);
    expect(JSON.parse(lost.err)).toMatchObject({ error: { code: "withdrawal_unconfirmed", status: 0 } }); // --json: failures as JSON
    expect(lost.err).toContain("Run the same command again");
    expect(existsSync(`${keyFile}.withdrawals.json`) ? JSON.parse(readFileSync(`${keyFile}.withdrawals.json`, "utf8")) : {}).toEqual({});
  });

  it("a crash after the Withdraw was sent (its answer lost) is resumed without sending it again: reported landed, not refused", async () => {
    // Prepare
    const { args, ledger } = await fundedAccount(5n * TON);
    drop.next("/v1/dev/wallet/withdraw");
    const lost = await cli(["withdraw", "1", ...args]);

    // Act
    const again = await cli(["withdraw", "1", ...args]);

    // Assess
    expect(lost.code).toBe(2);
    expect(again.code, again.err).toBe(0);
    expect(await ledger()).toEqual({ available: 4n * TON, reserved: 0n }); // paid once, not twice
    expect(again.json).toMatchObject({ sent: true, status: "landed", resumed: true, withdrawal: { seqno: 0 } });
  });

  it("a second, different withdrawal while one is unfinished is refused (unfinished_withdrawal) and reserves nothing more", async () => {
    // Prepare
    const { args, ledger } = await fundedAccount(5n * TON);
    drop.next("/v1/account/withdraw");
    expect((await cli(["withdraw", "2", ...args])).code).toBe(2);
    const before = await ledger();

    // Act
    const other = await cli(["withdraw", "1", ...args]);

    // Assess
    expect(other.code).toBe(2);
    expect(JSON.parse(other.err)).toMatchObject({ error: { code: "unfinished_withdrawal" } });
    expect(await ledger()).toEqual(before);
    expect(before).toEqual({ available: 3n * TON, reserved: 2n * TON });
    // and the first one still finishes
    expect((await cli(["withdraw", "2", ...args])).json).toMatchObject({ status: "landed", withdrawal: { seqno: 0 } });
  });

  it("two withdrawals run one after the other both land (a finished one is forgotten) and cocoon withdrawal <seqno> says landed", async () => {
    // Prepare
    const { args, ledger } = await fundedAccount(5n * TON);

    // Act
    const first = await cli(["withdraw", "1", ...args]);
    const second = await cli(["withdraw", "1", ...args]);
    const status = await cli(["withdrawal", "1", ...args]);
    const text = await cli(["withdrawal", "0", ...args.filter((a) => a !== "--json")]);
    const bad = await cli(["withdrawal", "-1", ...args]);

    // Assess
    expect([first.json?.withdrawal.seqno, second.json?.withdrawal.seqno]).toEqual([0, 1]);
    expect(second.json).toMatchObject({ resumed: false, status: "landed" });
    expect(status.json).toMatchObject({ seqno: 1, status: "landed", amount: TON.toString() });
    expect(text.out).toContain("withdrawal seqno 0: landed: paid on chain");
    expect(bad.code).toBe(64);
    expect(await ledger()).toEqual({ available: 3n * TON, reserved: 0n });
  });

  it("SDK: withdraw(amount, to, { idempotencyKey }) retried answers the same withdrawal and reserves once", async () => {
    // Prepare
    const { key, ledger } = await fundedAccount(3n * TON);
    const client = new CocoonClient({ apiUrl: net.url, key, allowDev: true });
    const to = (await client.api.request(API.devWallet)).address;

    // Act
    const first = await client.withdraw(TON, to, { idempotencyKey: "withdraw-sdk-retry-1" });
    const retried = await client.withdraw(TON, to, { idempotencyKey: "withdraw-sdk-retry-1" });

    // Assess
    expect(retried).toEqual(first);
    expect(await ledger()).toEqual({ available: 2n * TON, reserved: TON });
    expect(await client.withdrawalStatus(first.seqno)).toMatchObject({ seqno: 0, status: "pending", amount: TON.toString() });
  });

  it("an unfinished withdrawal the coordinator does not know (a local network started afresh) does not block a new one", async () => {
    // Prepare: the state a crash left on another network of the same API host
    const { args, keyFile, ledger } = await fundedAccount(3n * TON);
    const stale = {
      amount: "7",
      to: `0:${"cd".repeat(32)}`,
      idempotencyKey: "withdraw-stale-1",
      createdAt: "2026-01-01T00:00:00.000Z",
      seqno: 7,
      expiry: 1,
    };
    writeFileSync(`${keyFile}.withdrawals.json`, JSON.stringify({ [new URL(net.url).host]: stale }));

    // Act
    const r = await cli(["withdraw", "1", ...args]);

    // Assess
    expect(r.code, r.err).toBe(0);
    expect(r.json).toMatchObject({ status: "landed", resumed: false, withdrawal: { seqno: 0 } });
    expect(await ledger()).toEqual({ available: 2n * TON, reserved: 0n });
  });
});
