/**
 * `cocoon deposit` / `whoami` / `withdraw` where the network has no local TON sandbox (a real
 * network as the CLI sees it): the CLI cannot send the deposit, so what it prints is all a
 * requester has to deposit with; it must name the exact comment that credits their account.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { main as requesterCli } from "../client/cli";
import { CocoonClient } from "../client/sdk";
import { API } from "../api-client/api";
import { loadOrCreateKey } from "../api-client/keys";
import { startNetwork, type LocalNetwork } from "../local/network";

const TON = 1_000_000_000n;

async function cli(argv: string[]) {
  let out = "";
  let err = "";
  const code = await requesterCli(argv, { write: (s: string) => ((out += s), true) }, { write: (s: string) => ((err += s), true) });
  return { code, out, err };
}

describe("cocoon money commands on a network without the local TON sandbox", () => {
  const home = tempDir("cocoon-cli-nochain-");
  process.env.COCOON_HOME = home;
  let net: LocalNetwork;
  beforeAll(async () => {
    net = await startNetwork({ dataDir: tempDir("cocoon-cli-nochain-data-"), chain: false });
  });
  afterAll(async () => net?.stop());

  /** Factory: a fresh requester key, its account's deposit comment as the vault parses it, and its CLI arguments. */
  function requester() {
    const keyFile = join(mkdtempSync(join(home, "requester-")), "requester.key");
    const key = loadOrCreateKey(keyFile);
    const comment = `deposit:${Buffer.from(key.id, "base64url").toString("hex")}`;
    return { key, keyFile, comment, args: ["--api", net.url, "--key", keyFile] };
  }

  it("deposit says it cannot send it and gives the exact comment that credits this key's account (exit 2, deposit_by_wallet)", async () => {
    // Prepare
    const { args, comment, key } = requester();

    // Act
    const r = await cli(["deposit", "5", ...args]);

    // Assess
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toContain("error [deposit_by_wallet]");
    expect(r.err).toContain(`with exactly this text comment: ${comment}\n`);
    expect(r.err).toContain(key.id);
    expect(r.err).toContain("0.1 TON"); // the vault's minimum deposit, in the unit the amount was typed in
  });

  it("whoami --json gives the deposit comment", async () => {
    // Prepare
    const { args, comment, key } = requester();

    // Act
    const r = await cli(["whoami", ...args, "--json"]);

    // Assess
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ account: key.id, depositComment: comment });
  });

  it("a withdrawal refused before anything was reserved (503 withdrawals_unavailable) leaves nothing unfinished behind", async () => {
    // Prepare
    const { args, keyFile } = requester();
    const to = `0:${"ab".repeat(32)}`;

    // Act
    const r = await cli(["withdraw", "1", "--to", to, ...args]);
    const other = await cli(["withdraw", "2", "--to", to, ...args]);

    // Assess
    expect([r.code, other.code]).toEqual([2, 2]);
    expect(r.err).toContain("error [withdrawals_unavailable]");
    expect(other.err).toContain("error [withdrawals_unavailable]");
    expect(existsSync(`${keyFile}.withdrawals.json`) && readFileSync(`${keyFile}.withdrawals.json`, "utf8")).not.toContain("withdraw-");
  });

  it("balance says money held by an open tab is held for tabs too, and when it comes back", async () => {
    // Prepare: an open tab of 4 slots × 0.1 TON
    const { args, key } = requester();
    const client = new CocoonClient({ apiUrl: net.url, key, allowDev: true });
    await client.faucet(TON);
    await client.api.request(API.openTab, {
      body: { slots: 4, slotCost: (TON / 10n).toString() },
      headers: { "idempotency-key": "tab-open-balance-1" },
    });

    // Act
    const r = await cli(["balance", ...args]);

    // Assess
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/held +0\.4 TON \(jobs in flight and open tabs/);
    expect(r.out).toContain("a tab's when it closes");
  });
});
