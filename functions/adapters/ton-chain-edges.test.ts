/**
 * The edges of ton-chain.ts that ton-chain.test.ts leaves open:
 *
 *   SandboxChainReader (source "recorded")  only the vault's transactions fed through record()
 *                                           are read, never the sandbox's whole history, and
 *                                           oldest first (by lt) whatever order they were fed in
 *   sendWithdrawal / sendVoucher            the gas they attach by default, or the caller's
 *   voucherFromJson                         the exact error (name, code, message) for a voucher
 *                                           its schema refuses and for one @ton/core refuses
 */
import { describe, expect, it } from "vitest";
import { Address, type Sender, type Transaction, toNano } from "@ton/core";
import type { SignedVoucher, SignedWithdrawal } from "../../contracts/vault";
import { startLocalChain, type LocalChain } from "../../local/chain";
import type { Cursor } from "../../core/chain/types";
import {
  InvalidVoucherError,
  normalizeVaultTx,
  REDEEM_GAS,
  SandboxChainReader,
  sendVoucher,
  sendWithdrawal,
  voucherFromJson,
  voucherToJson,
  WITHDRAW_GAS,
} from "./ton-chain";
import { NOW, accountOf, seed } from "./ton-chain-testing";

// ---------------------------------------------------------------- factories

const chainAt = () => startLocalChain({ now: NOW, coordinatorSeed: seed("coordinator") });

const vaultHashes = (chain: LocalChain, txs: Transaction[]) => {
  const h = BigInt("0x" + chain.vaultAddress.hash.toString("hex"));
  return txs.filter((t) => t.address === h).map((t) => normalizeVaultTx(t).hash);
};

/** Every page from `after` on, `limit` at a time, as the watcher pages. */
async function readAll(reader: SandboxChainReader, limit: number, after: Cursor | null = null) {
  const seen: string[] = [];
  let cursor = after;
  for (let pages = 0; pages < 100; pages++) {
    const page = await reader.getVaultTransactions(cursor, limit);
    if (page.txs.length === 0) return { seen, cursor: page.cursor };
    seen.push(...page.txs.map((t) => t.hash));
    cursor = page.cursor;
  }
  throw new Error("the reader never ran out of pages");
}

/** A VaultSender that records what it was asked to send and answers with a marker. */
function recordingVault() {
  const sent: { op: "withdraw" | "redeem"; via: Sender; value: bigint; body: unknown }[] = [];
  return {
    sent,
    async sendWithdraw(via: Sender, value: bigint, w: SignedWithdrawal) {
      sent.push({ op: "withdraw" as const, via, value, body: w });
      return "withdraw-sent";
    },
    async sendRedeem(via: Sender, value: bigint, v: SignedVoucher) {
      sent.push({ op: "redeem" as const, via, value, body: v });
      return "redeem-sent";
    },
  };
}

const sender = { address: undefined, send: async () => undefined } as unknown as Sender;

// ---------------------------------------------------------------- SandboxChainReader

describe('SandboxChainReader with source "recorded"', () => {
  it("reads only what record() was fed, keeps only the vault's transactions of it, and returns them oldest first", async () => {
    // Prepare: two deposits; each touches the sender's wallet, the vault (twice) and the account wallet
    const chain = await chainAt();
    const first = await chain.deposit(accountOf("a"), 2n);
    const second = await chain.deposit(accountOf("b"), 3n);
    const reader = new SandboxChainReader(chain.blockchain, chain.vaultAddress, { source: "recorded" });
    const before = await reader.getVaultTransactions(null, 10);

    // Act: fed newest operation first, with every other contract's transactions mixed in
    reader.record([...second.transactions, ...first.transactions]);
    const all = await readAll(reader, 10);
    const paged = await readAll(reader, 1);

    // Assess
    const expected = [...vaultHashes(chain, first.transactions), ...vaultHashes(chain, second.transactions)];
    expect(expected).toHaveLength(4);
    expect(before).toEqual({ txs: [], cursor: null }); // nothing recorded: not the sandbox's history (deploy, deposits)
    expect(all.seen).toEqual(expected);
    expect(paged.seen).toEqual(expected);
    expect(all.cursor?.hash).toBe(expected[3]);
  });

  it("record() of transactions that are not the vault's records nothing", async () => {
    // Prepare
    const chain = await chainAt();
    const dep = await chain.deposit(accountOf("a"), 2n);
    const h = BigInt("0x" + chain.vaultAddress.hash.toString("hex"));
    const reader = new SandboxChainReader(chain.blockchain, chain.vaultAddress, { source: "recorded" });

    // Act
    reader.record(dep.transactions.filter((t) => t.address !== h));
    const page = await reader.getVaultTransactions(null, 10);

    // Assess
    expect(dep.transactions.filter((t) => t.address !== h).length).toBeGreaterThan(0);
    expect(page).toEqual({ txs: [], cursor: null });
  });

  it("a later record() resumes after the cursor: nothing read twice, nothing skipped", async () => {
    // Prepare
    const chain = await chainAt();
    const reader = new SandboxChainReader(chain.blockchain, chain.vaultAddress, { source: "recorded" });
    const first = await chain.deposit(accountOf("a"), 2n);
    reader.record(first.transactions);
    const head = await readAll(reader, 10);
    const second = await chain.deposit(accountOf("a"), 4n);

    // Act
    reader.record(second.transactions);
    const rest = await readAll(reader, 10, head.cursor);

    // Assess
    expect(head.seen).toEqual(vaultHashes(chain, first.transactions));
    expect(rest.seen).toEqual(vaultHashes(chain, second.transactions));
  });
});

describe('SandboxChainReader with source "sandbox" (the default)', () => {
  it("reads the sandbox's executed transactions oldest first, and nothing from a chain that has none", async () => {
    // Prepare
    const chain = await chainAt();
    const dep = await chain.deposit(accountOf("a"), 2n);
    const reader = new SandboxChainReader(chain.blockchain, chain.vaultAddress);
    const bare = new SandboxChainReader({ getContract: async () => ({ balance: 7n }) }, chain.vaultAddress);

    // Act
    const all = await readAll(reader, 2);
    const none = await bare.getVaultTransactions(null, 10);

    // Assess
    expect(all.seen.slice(-2)).toEqual(vaultHashes(chain, dep.transactions));
    expect(none).toEqual({ txs: [], cursor: null });
    expect(await bare.getVaultBalance()).toBe(7n);
  });
});

// ---------------------------------------------------------------- sends

describe("sendWithdrawal / sendVoucher", () => {
  const withdrawal = { seqno: 3 } as unknown as SignedWithdrawal;
  const voucher = { cumulative: 5n } as unknown as SignedVoucher;

  it("attach WITHDRAW_GAS / REDEEM_GAS (0.05 TON) by default and return what the vault's send returns", async () => {
    // Prepare
    const vault = recordingVault();

    // Act
    const w = await sendWithdrawal(vault, sender, withdrawal);
    const v = await sendVoucher(vault, sender, voucher);

    // Assess
    expect([w, v]).toEqual(["withdraw-sent", "redeem-sent"]);
    expect([WITHDRAW_GAS, REDEEM_GAS]).toEqual([toNano("0.05"), toNano("0.05")]);
    expect(vault.sent).toEqual([
      { op: "withdraw", via: sender, value: WITHDRAW_GAS, body: withdrawal },
      { op: "redeem", via: sender, value: REDEEM_GAS, body: voucher },
    ]);
  });

  it("attach the caller's value when given", async () => {
    // Prepare
    const vault = recordingVault();

    // Act
    await sendWithdrawal(vault, sender, withdrawal, 7n);
    await sendVoucher(vault, sender, voucher, 9n);

    // Assess
    expect(vault.sent.map((s) => [s.op, s.value])).toEqual([
      ["withdraw", 7n],
      ["redeem", 9n],
    ]);
  });
});

// ---------------------------------------------------------------- voucher JSON

describe("voucherFromJson refusals", () => {
  const vault = new Address(0, Buffer.alloc(32, 0x11));
  const good = voucherToJson(vault, {
    payee: 0x44n,
    to: new Address(0, Buffer.alloc(32, 0x22)),
    cumulative: 123n,
    expiry: NOW + 60,
    signature: Buffer.alloc(64, 0x33),
  });
  const refusal = (j: unknown) => {
    try {
      voucherFromJson(j);
    } catch (e) {
      return e as InvalidVoucherError;
    }
    throw new Error("accepted");
  };

  it("a voucher its schema refuses: InvalidVoucherError, code invalid_voucher, every issue named by its field", () => {
    // Prepare
    const bad = { ...good, cumulative: "-1", signature: "AAAA" };

    // Act
    const e = refusal(bad);

    // Assess
    expect(e).toBeInstanceOf(InvalidVoucherError);
    expect({ name: e.name, code: e.code, message: e.message }).toEqual({
      name: "InvalidVoucherError",
      code: "invalid_voucher",
      message:
        "voucher JSON is malformed: cumulative: must be a non-negative integer number of nanoTON (decimal string); " +
        "signature: must be a 64-byte Ed25519 signature in base64 (88 chars)",
    });
  });

  it("a voucher its schema takes but @ton/core refuses (a user-friendly address with a bad checksum): the parser's reason", () => {
    // Prepare: flip the last character of a valid user-friendly address (48 chars, so the schema takes it)
    const friendly = new Address(0, Buffer.alloc(32, 0x22)).toString();
    const broken = friendly.slice(0, 47) + (friendly.endsWith("A") ? "B" : "A");
    const reason = (() => {
      try {
        Address.parse(broken);
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error("@ton/core took it");
    })();

    // Act
    const e = refusal({ ...good, worker: broken });

    // Assess
    expect(e).toBeInstanceOf(InvalidVoucherError);
    expect({ name: e.name, code: e.code, message: e.message }).toEqual({
      name: "InvalidVoucherError",
      code: "invalid_voucher",
      message: `voucher JSON is malformed: ${reason}`,
    });
  });

  it("a good voucher still parses (the refusals above are the voucher's, not the factory's)", () => {
    // Act
    const back = voucherFromJson(good);

    // Assess
    expect(back.vault.equals(vault)).toBe(true);
    expect(back.voucher.cumulative).toBe(123n);
  });
});
