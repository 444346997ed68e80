/**
 * issue 12: the withdrawal routes read the account wallet's seqno through toncenter with fetch
 * (toncenter-seqno.ts), not @ton/ton's TonClient. Both run against one toncenter double on
 * 127.0.0.1 (JSON-RPC over the TON sandbox): the same answers, the same refusals (issue 9 #3).
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Address, toNano } from "@ton/core";
import { TonClient } from "@ton/ton";
import { keyPairFromSeed } from "@ton/crypto";
import { freeze } from "../../contracts/fixtures";
import { startLocalChain, type LocalChain } from "../../local/chain";
import { accountWalletAddress } from "../../contracts/vault";
import { accountIdToUint } from "../../core/chain/account";
import { tonClientWithdrawSeqno } from "./ton-chain";
import { toncenterWithdrawSeqno } from "./toncenter-seqno";

const NOW = 1_750_000_000;
const seed = (label: string) => Buffer.concat([Buffer.from(label), Buffer.alloc(32)]).subarray(0, 32);
const requesterId = keyPairFromSeed(seed("requester-key")).publicKey.toString("base64url");
const API_KEY = "k-123";

// ---------------------------------------------------------------- a toncenter double

interface Double {
  endpoint: string;
  calls: Array<{ method: string; address: string; apiKey: string | undefined }>;
  /** what the next calls answer instead of the chain: an HTTP status and body */
  failWith?: { status: number; body: string };
  exitCode?: number;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const body = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let s = "";
    req.on("data", (c: Buffer) => (s += c.toString()));
    req.on("end", () => resolve(s));
  });

/** toncenter's JSON-RPC (getAddressInformation, runGetMethod) answered from the sandbox, with the fields TonClient's schemas require. */
async function toncenterDouble(chain: LocalChain): Promise<Double> {
  const d: Double = { endpoint: "", calls: [] };
  const server = createServer(async (req, res) => {
    const rpc = JSON.parse(await body(req)) as { method: string; params: { address: string; method?: string } };
    d.calls.push({ method: rpc.method, address: rpc.params.address, apiKey: req.headers["x-api-key"] as string | undefined });
    const reply = (status: number, payload: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(typeof payload === "string" ? payload : JSON.stringify(payload));
    };
    if (d.failWith) return reply(d.failWith.status, d.failWith.body);
    const address = Address.parse(rpc.params.address);
    if (rpc.method === "getAddressInformation") {
      const t = (await chain.blockchain.getContract(address)).accountState?.type;
      return reply(200, {
        ok: true,
        result: {
          balance: "0",
          state: t === "active" ? "active" : t === "frozen" ? "frozen" : "uninitialized",
          data: "",
          code: "",
          last_transaction_id: { "@type": "internal.transactionId", lt: "0", hash: "" },
          block_id: { "@type": "ton.blockIdExt", workchain: -1, shard: "0", seqno: 1, root_hash: "", file_hash: "" },
          sync_utime: NOW,
        },
      });
    }
    const r = await chain.blockchain.runGetMethod(address, rpc.params.method!, []);
    const stack = r.stack.map((i) => (i.type === "int" ? ["num", "0x" + i.value.toString(16)] : ["null"]));
    return reply(200, { ok: true, result: { gas_used: 100, exit_code: d.exitCode ?? r.exitCode, stack } });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  servers.push(server);
  d.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2/jsonRPC`;
  return d;
}

/** Both getters over the double: ours (fetch) and TonClient's. */
function getters(chain: LocalChain, d: Double) {
  const vault = { workchain: chain.vaultAddress.workChain, hash: chain.vaultAddress.hash };
  return {
    ours: toncenterWithdrawSeqno({ endpoint: d.endpoint, apiKey: API_KEY }, vault),
    tonClient: tonClientWithdrawSeqno(new TonClient({ endpoint: d.endpoint, apiKey: API_KEY }), chain.vaultAddress),
  };
}
const outcome = (p: Promise<number>) =>
  p.then(
    (v) => ({ value: v }),
    () => ({ refused: true }),
  );

describe("issue 12: the account wallet's seqno through toncenter without @ton/ton", () => {
  it("issue 9 #3: reads what TonClient reads, with the same calls: 2 after two landed withdrawals, 0 for an account that never deposited", async () => {
    // Prepare
    const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    await chain.deposit(requesterId, 5n);
    for (let i = 0; i < 2; i++)
      expect(
        (await chain.withdraw(chain.requesterWallet, await chain.signWithdrawal(requesterId, chain.requesterWallet.address, toNano("1"))))
          .success,
      ).toBe(true);
    const d = await toncenterDouble(chain);
    const { ours, tonClient } = getters(chain, d);
    const account = accountIdToUint(requesterId);
    const nobody = accountIdToUint(keyPairFromSeed(seed("nobody")).publicKey.toString("base64url"));

    // Act
    const mine = [await ours(account), await ours(nobody)];
    const ourCalls = d.calls.splice(0);
    const theirs = [await tonClient(account), await tonClient(nobody)];

    // Assess
    expect(mine).toEqual([2, 0]);
    expect(theirs).toEqual(mine);
    expect(ourCalls).toEqual(d.calls); // the same methods, the same wallet addresses, the API key sent
    expect(ourCalls.map((c) => c.address)).toContain((await accountWalletAddress(chain.vaultAddress, account)).toString());
    expect(ourCalls.every((c) => c.apiKey === API_KEY)).toBe(true);
  });

  it("issue 9 #3: refuses where TonClient refuses: a frozen wallet, a getter that exits non-zero, an HTTP error, an answer that is not toncenter's", async () => {
    // Prepare
    const chain = await startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });
    await chain.deposit(requesterId, 5n);
    await chain.withdraw(chain.requesterWallet, await chain.signWithdrawal(requesterId, chain.requesterWallet.address, toNano("1")));
    const d = await toncenterDouble(chain);
    const { ours, tonClient } = getters(chain, d);
    const account = accountIdToUint(requesterId);
    const cases: Array<[string, () => Promise<void>]> = [
      ["getter exit code 11", async () => void (d.exitCode = 11)],
      ["HTTP 502", async () => void ((d.exitCode = undefined), (d.failWith = { status: 502, body: "<html>bad gateway</html>" }))],
      ["ok: false", async () => void (d.failWith = { status: 200, body: JSON.stringify({ ok: false, error: "rate limit" }) })],
      ["a malformed result", async () => void (d.failWith = { status: 200, body: JSON.stringify({ ok: true, result: { state: 7 } }) })],
      [
        "a frozen wallet",
        async () => {
          d.failWith = undefined;
          await freeze(chain, await accountWalletAddress(chain.vaultAddress, account));
        },
      ],
    ];
    expect(await ours(account)).toBe(1); // readable before

    for (const [name, make] of cases) {
      // Act
      await make();
      const results = { ours: await outcome(ours(account)), tonClient: await outcome(tonClient(account)) };
      // Assess
      expect(results, name).toEqual({ ours: { refused: true }, tonClient: { refused: true } });
    }
  });
});
