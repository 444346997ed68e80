/**
 * The vault and its wallets in @ton/sandbox, jetton style: every operation is followed through all its
 * transactions (vault → wallet → vault → payee); every refusal is asserted by its exit code's
 * name, on the contract that refused, with the state of the vault and of the wallets unchanged.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Address, beginCell, Cell, toNano, type Transaction } from "@ton/core";
import { findTransaction, flattenTransaction } from "@ton/test-utils";
import type { SendMessageResult } from "@ton/sandbox";
import * as Generated from "./build/Vault_Vault";
import { exitCodesOf, manifestOf, recordedGas, sha256Of } from "./artefacts-testing";
import {
  storeAccountCredited,
  storeClaim,
  storeClaimApproved,
  storeCreditAccount,
  storeDebit,
  storeDebitApproved,
} from "./build/Vault_Vault";
import {
  AccountWallet,
  accountWalletAddress,
  CREDIT_VALUE,
  DEPOSIT_FEE,
  type DepositCreditedLog,
  depositCredit,
  depositComment,
  GLOBAL_ID,
  keyToUint,
  MIN_DEPOSIT,
  OPCODES,
  parseDepositCredited,
  PayoutWallet,
  payoutWalletAddress,
  signVoucher,
  signWithdrawal,
  Vault,
  VaultExit,
  type VaultExitName,
  WALLET_STORAGE,
  withdrawBody,
} from "./vault";
import { FIXED_NOW, freeze, refDepositLookalikes, RESERVE, seededKeyPair, vaultFixture, WORKER_PAYEE, type VaultFixture } from "./fixtures";

const here = dirname(fileURLToPath(import.meta.url));
const GAS = toNano("0.05");
const DEPOSIT = toNano("5");
/** what a DEPOSIT credits: its value less the vault's DEPOSIT_FEE */
const NET = DEPOSIT - DEPOSIT_FEE;

// ---------------------------------------------------------------- helpers
const hashOf = (a: Address) => BigInt("0x" + a.hash.toString("hex"));
const on = (res: SendMessageResult, a: Address) => res.transactions.filter((t) => t.address === hashOf(a));

interface Snapshot {
  totals: { deposited: bigint; withdrawn: bigint; paid: bigint; toppedUp: bigint; fees: bigint };
  inflight: number;
  key: string;
  account: { deposited: bigint; withdrawn: bigint; seqno: number };
  paidWorker: bigint;
}

/** Everything the vault and the fixture's two wallets record (not the vault's TON balance). */
async function snapshot(f: VaultFixture): Promise<Snapshot> {
  const wallet = f.blockchain.openContract(await AccountWallet.of(f.vault.address, f.account));
  return {
    totals: await f.vault.getTotals(),
    inflight: await f.vault.getInflight(),
    key: (await f.vault.getCoordinatorKey()).toString("hex"),
    account: await wallet.getState(),
    paidWorker: await f.vault.getPaid(f.payee),
  };
}

function exitOf(tx: Transaction): { exitCode: number | undefined; aborted: boolean } {
  const flat = flattenTransaction(tx);
  return { exitCode: flat.exitCode, aborted: flat.aborted ?? false };
}

function gasOf(tx: Transaction): number {
  const d = tx.description;
  if (d.type !== "generic" || d.computePhase.type !== "vm") return 0;
  return Number(d.computePhase.gasUsed);
}

/** The vault's first transaction refused with `name`, and the value went back to `from` as a bounce. */
function expectVaultRefused(f: VaultFixture, res: SendMessageResult, from: Address, name: VaultExitName): void {
  const [first] = on(res, f.vault.address);
  expect(exitOf(first!)).toEqual({ exitCode: VaultExit[name], aborted: true });
  expect(
    findTransaction(res.transactions, { from: f.vault.address, to: from, inMessageBounced: true }),
    "value bounced back to the sender",
  ).toBeDefined();
}

async function expectVaultRefusedUnchanged(f: VaultFixture, act: () => Promise<SendMessageResult>, from: Address, name: VaultExitName) {
  const before = await snapshot(f);
  const balance = await f.vault.getBalance();
  const res = await act();
  expectVaultRefused(f, res, from, name);
  expect(await snapshot(f)).toEqual(before);
  expect(await f.vault.getBalance(), "the vault keeps nothing of a refused message").toBeGreaterThanOrEqual(balance);
  return res;
}

/**
 * The vault accepted, the wallet at `wallet` refused with `name`, its bounce came back to the
 * vault and was handled (totals rolled back), nothing was paid to anyone, and every recorded
 * state is as before. (The sender's remaining gas stays in the vault: the bounce cannot say who sent it.)
 */
async function expectWalletRefusedUnchanged(f: VaultFixture, act: () => Promise<SendMessageResult>, wallet: Address, name: VaultExitName) {
  const before = await snapshot(f);
  const balance = await f.vault.getBalance();
  const res = await act();
  const [routed, bounce] = on(res, f.vault.address);
  expect(exitOf(routed!)).toEqual({ exitCode: 0, aborted: false });
  expect(exitOf(on(res, wallet)[0]!)).toEqual({ exitCode: VaultExit[name], aborted: true });
  expect(bounceFrom(bounce!, wallet)).toEqual({ fromWallet: true, bounced: true, success: true });
  expect(on(res, f.vault.address)).toHaveLength(2);
  expect(bounce!.outMessagesCount, "nothing paid").toBe(0);
  expect(await snapshot(f)).toEqual(before);
  expect(await f.vault.getBalance()).toBeGreaterThanOrEqual(balance);
  return res;
}

/** Whether `tx` handled a bounce from `wallet`, successfully. */
function bounceFrom(tx: Transaction, wallet: Address) {
  const flat = flattenTransaction(tx);
  return { fromWallet: flat.from?.equals(wallet) ?? false, bounced: flat.inMessageBounced ?? false, success: flat.success };
}

/** The DepositCredited logs of the vault's transactions in `res`, and how many external-outs they sent. */
function logsOf(f: VaultFixture, res: SendMessageResult): { logs: DepositCreditedLog[]; externals: number } {
  const logs: DepositCreditedLog[] = [];
  let externals = 0;
  for (const tx of on(res, f.vault.address)) {
    for (const m of tx.outMessages.values()) {
      if (m.info.type !== "external-out") continue;
      externals++;
      const log = parseDepositCredited(m.body);
      if (log) logs.push(log);
    }
  }
  return { logs, externals };
}

// ---------------------------------------------------------------- build artefacts
describe("build artefacts", () => {
  it("the committed wrappers were built from the current vault.tact (run npm run contracts:build)", () => {
    const manifest = manifestOf<{ sourceSha256: string; children: Record<string, string> }>("manifest.json");
    expect(manifest.sourceSha256).toBe(sha256Of("vault.tact"));
    expect(Object.keys(manifest.children).sort()).toEqual(["AccountWallet", "PayoutWallet"]);
  });

  it("exit codes exported to TS agree with the contract constants", () => {
    expect(exitCodesOf(Generated)).toEqual(VaultExit);
  });

  it("the wrapper's constants agree with the contract's", () => {
    const src = readFileSync(join(here, "vault.tact"), "utf8");
    expect(src).toContain(`const CREDIT_VALUE: Int = ton("${Number(CREDIT_VALUE) / 1e9}");`);
    expect(src).toContain(`const WALLET_STORAGE: Int = ton("${Number(WALLET_STORAGE) / 1e9}");`);
    expect(src).toContain(`const MIN_DEPOSIT: Int = ton("${Number(MIN_DEPOSIT) / 1e9}");`);
    expect(src).toContain(`const DEPOSIT_FEE: Int = ton("${Number(DEPOSIT_FEE) / 1e9}");`);
    // a minimum deposit credits something, and routing it never sends out more than came in
    expect(depositCredit(MIN_DEPOSIT)).toBe(MIN_DEPOSIT - DEPOSIT_FEE);
    expect(depositCredit(MIN_DEPOSIT - 1n)).toBeNull();
    expect(MIN_DEPOSIT - DEPOSIT_FEE).toBeGreaterThanOrEqual(3n * DEPOSIT_FEE);
    expect(CREDIT_VALUE).toBeLessThanOrEqual(MIN_DEPOSIT);
  });
});

// ---------------------------------------------------------------- behaviour
describe("vault", () => {
  let f: VaultFixture;
  beforeEach(async () => {
    f = await vaultFixture();
  });

  describe("deploy, owner, wallet addresses", () => {
    it("deploys with the owner's top-up and the coordinator key; nothing in flight", async () => {
      expect(findTransaction(f.deployTx, { to: f.vault.address, deploy: true, success: true })).toBeDefined();
      const s = await snapshot(f);
      expect(s.totals).toEqual({ deposited: 0n, withdrawn: 0n, paid: 0n, toppedUp: RESERVE, fees: 0n });
      expect({ inflight: s.inflight, key: s.key }).toEqual({ inflight: 0, key: f.coordinator.publicKey.toString("hex") });
      expect((await f.vault.getOwner()).equals(f.owner.address)).toBe(true);
    });

    it("wallet addresses derived offline equal the vault's getters and the addresses the vault deploys to", async () => {
      const res = await f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account);
      await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1")));
      const account = await accountWalletAddress(f.vault.address, f.account);
      const payout = await payoutWalletAddress(f.vault.address, f.payee);
      expect(account.equals(await f.vault.getAccountWalletAddress(f.account))).toBe(true);
      expect(payout.equals(await f.vault.getPayoutWalletAddress(f.payee))).toBe(true);
      expect(findTransaction(res.transactions, { from: f.vault.address, to: account, deploy: true, success: true })).toBeDefined();
      expect((await f.blockchain.getContract(payout)).accountState?.type).toBe("active");
      // another vault (other nonce) derives other wallets for the same owners
      const other = await Vault.createFromConfig({
        owner: f.owner.address,
        coordinatorKey: f.coordinator.publicKey,
        nonce: 1n,
        network: GLOBAL_ID.mainnet,
      });
      expect((await accountWalletAddress(other.address, f.account)).equals(account)).toBe(false);
    });

    it("owner tops up with a plain transfer", async () => {
      await f.vault.sendTopUp(f.owner.getSender(), toNano("2"));
      expect((await f.vault.getTotals()).toppedUp).toBe(RESERVE + toNano("2"));
    });

    it("a stranger cannot rotate the key: ERR_NOT_OWNER, nothing changes", async () => {
      await expectVaultRefusedUnchanged(
        f,
        () => f.vault.sendSetCoordinatorKey(f.stranger.getSender(), GAS, seededKeyPair("other").publicKey),
        f.stranger.address,
        "ERR_NOT_OWNER",
      );
    });

    it("key rotation: old-key vouchers and withdrawals fail with ERR_BAD_SIGNATURE, new-key ones pay", async () => {
      await f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account);
      const next = seededKeyPair("coordinator-2");
      await f.vault.sendSetCoordinatorKey(f.owner.getSender(), GAS, next.publicKey);
      expect((await f.vault.getCoordinatorKey()).equals(next.publicKey)).toBe(true);

      await expectVaultRefusedUnchanged(
        f,
        () => f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1"))),
        f.worker.address,
        "ERR_BAD_SIGNATURE",
      );
      await expectVaultRefusedUnchanged(
        f,
        () => f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("1"))),
        f.requester.address,
        "ERR_BAD_SIGNATURE",
      );

      await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1"), { key: next }));
      await f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("1"), { key: next }));
      expect(await f.vault.getPaid(f.payee)).toBe(toNano("1"));
      expect(await f.vault.getAccountBalance(f.account)).toBe(NET - toNano("1"));
    });
  });

  describe("deposits", () => {
    it("a typed Deposit: vault routes it, the account wallet (deployed) records it, the vault counts and logs it", async () => {
      const wallet = await accountWalletAddress(f.vault.address, f.account);
      const res = await f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account);
      const [routed, confirmed] = on(res, f.vault.address);
      expect(flattenTransaction(routed!)).toMatchObject({ success: true, outMessagesCount: 1 });
      expect(flattenTransaction(routed!).from?.equals(f.requester.address)).toBe(true);
      const credit = findTransaction(res.transactions, {
        from: f.vault.address,
        to: wallet,
        op: OPCODES.creditAccount,
        value: CREDIT_VALUE,
        deploy: true,
        success: true,
      });
      expect(credit).toBeDefined();
      // the wallet is asked to record the deposit less the fee
      expect(
        credit!
          .inMessage!.body.beginParse()
          .skip(32 + 64)
          .loadCoins(),
      ).toBe(NET);
      expect(flattenTransaction(confirmed!)).toMatchObject({ op: OPCODES.accountCredited, success: true });
      expect(flattenTransaction(confirmed!).from?.equals(wallet)).toBe(true);
      expect(await f.vault.getAccountBalance(f.account)).toBe(NET);
      expect(await snapshot(f)).toMatchObject({
        totals: { deposited: NET, fees: DEPOSIT_FEE },
        inflight: 0,
        account: { deposited: NET, withdrawn: 0n, seqno: 0 },
      });
      // the wallet kept its storage reserve and sent the rest of the vault's credit value back
      expect(await f.blockchain.openContract(new AccountWallet(wallet)).getTonBalance()).toBe(WALLET_STORAGE);
    });

    it("a comment deposit:<64 lowercase hex> credits the account (less the fee)", async () => {
      await f.vault.sendDepositComment(f.requester.getSender(), DEPOSIT, f.account);
      expect(await f.vault.getAccountBalance(f.account)).toBe(NET);
      expect(await f.vault.getTotals()).toMatchObject({ deposited: NET, fees: DEPOSIT_FEE });
    });

    it("the DepositCredited log comes only after the wallet's confirmation, exactly once, with the amount the wallet recorded (net of the fee)", async () => {
      const typed = await f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account);
      const comment = await f.vault.sendDepositComment(f.requester.getSender(), toNano("0.5"), f.account);
      for (const res of [typed, comment]) {
        const [routed, confirmed] = on(res, f.vault.address);
        expect([...routed!.outMessages.values()].filter((m) => m.info.type === "external-out")).toHaveLength(0);
        expect([...confirmed!.outMessages.values()].map((m) => m.info.type)).toEqual(["external-out"]);
      }
      expect(logsOf(f, typed)).toEqual({ logs: [{ account: f.account, amount: NET }], externals: 1 });
      expect(logsOf(f, comment)).toEqual({ logs: [{ account: f.account, amount: toNano("0.5") - DEPOSIT_FEE }], externals: 1 });
      expect(await f.vault.getAccountBalance(f.account)).toBe(NET + toNano("0.5") - DEPOSIT_FEE);
    });

    it("issue 9 #1: a comment deposit with refs, non-bounceable from a stranger, is refunded in full, reaches no wallet and logs no credit", async () => {
      for (const [name, body] of Object.entries(refDepositLookalikes(f.account))) {
        const before = await snapshot(f);
        const res = await f.stranger.send({ to: f.vault.address, value: DEPOSIT, bounce: false, body });
        const flat = flattenTransaction(on(res, f.vault.address)[0]!);
        expect({ name, success: flat.success, aborted: flat.aborted }).toEqual({ name, success: true, aborted: false });
        expect(
          findTransaction(res.transactions, {
            from: f.vault.address,
            to: f.stranger.address,
            value: (v) => (v ?? 0n) > DEPOSIT - toNano("0.01"),
          }),
          name,
        ).toBeDefined();
        expect(findTransaction(res.transactions, { from: f.vault.address, op: OPCODES.creditAccount }), name).toBeUndefined();
        expect(logsOf(f, res), name).toEqual({ logs: [], externals: 0 });
        expect(await snapshot(f), name).toEqual(before);
      }
    });

    it("rejected and refunded transfers log nothing (bounced, too small, bad tag)", async () => {
      const results = [
        await f.vault.sendTopUp(f.stranger.getSender(), DEPOSIT),
        await f.vault.sendTopUp(f.stranger.getSender(), DEPOSIT, { bounce: false }),
        await f.vault.sendDeposit(f.requester.getSender(), toNano("0.005"), f.account),
        await f.vault.sendComment(f.stranger.getSender(), DEPOSIT, `deposit:${"g".repeat(64)}`, { bounce: false }),
      ];
      expect(results.map((r) => logsOf(f, r))).toEqual(results.map(() => ({ logs: [], externals: 0 })));
    });

    it("comment parsing round-trips edge accounts (0, 2^256-1, mixed digits), each into its own wallet", async () => {
      const accounts = [0n, (1n << 256n) - 1n, BigInt("0x0123456789abcdef" + "fedcba9876543210".repeat(3))];
      for (const acc of accounts) {
        await f.vault.sendComment(f.requester.getSender(), DEPOSIT, depositComment(acc));
        expect(await f.vault.getAccountBalance(acc)).toBe(NET);
      }
      expect((await f.vault.getTotals()).deposited).toBe(3n * NET);
    });

    it("a plain transfer from a stranger bounces: ERR_UNATTRIBUTED, nothing credited", async () => {
      await expectVaultRefusedUnchanged(
        f,
        () => f.vault.sendTopUp(f.stranger.getSender(), DEPOSIT),
        f.stranger.address,
        "ERR_UNATTRIBUTED",
      );
    });

    it("a comment that is not a valid deposit tag bounces: ERR_UNATTRIBUTED", async () => {
      const bad = [
        "hello",
        "deposit:xyz",
        depositComment(f.account).toUpperCase().replace("DEPOSIT:", "deposit:"),
        `deposit:${"/".repeat(64)}`,
        `deposit:${":".repeat(64)}`,
        `deposit:${"g".repeat(64)}`,
        `deposit:${"a".repeat(63)}`,
        `Deposit:${"a".repeat(64)}`,
      ];
      for (const text of bad) {
        await expectVaultRefusedUnchanged(
          f,
          () => f.vault.sendComment(f.stranger.getSender(), DEPOSIT, text),
          f.stranger.address,
          "ERR_UNATTRIBUTED",
        );
      }
    });

    it("a non-bounceable unattributable transfer is sent back (refund), nothing credited", async () => {
      const before = await snapshot(f);
      const res = await f.vault.sendTopUp(f.stranger.getSender(), DEPOSIT, { bounce: false });
      const flat = flattenTransaction(on(res, f.vault.address)[0]!);
      expect({ success: flat.success, outMessagesCount: flat.outMessagesCount }).toEqual({ success: true, outMessagesCount: 1 });
      expect(
        findTransaction(res.transactions, {
          from: f.vault.address,
          to: f.stranger.address,
          value: (v) => (v ?? 0n) > DEPOSIT - toNano("0.01"),
        }),
      ).toBeDefined();
      expect(await snapshot(f)).toEqual(before);
    });

    it("a deposit below MIN_DEPOSIT (typed or comment, down to the fee itself) bounces: ERR_DEPOSIT_TOO_SMALL, no wallet deployed, no fee kept", async () => {
      const wallet = await accountWalletAddress(f.vault.address, f.account);
      for (const value of [toNano("0.005"), DEPOSIT_FEE, MIN_DEPOSIT - 1n]) {
        for (const send of [f.vault.sendDeposit.bind(f.vault), f.vault.sendDepositComment.bind(f.vault)]) {
          const res = await expectVaultRefusedUnchanged(
            f,
            () => send(f.requester.getSender(), value, f.account),
            f.requester.address,
            "ERR_DEPOSIT_TOO_SMALL",
          );
          expect(on(res, wallet)).toHaveLength(0);
          expect(logsOf(f, res)).toEqual({ logs: [], externals: 0 });
        }
      }
      // exactly the minimum is accepted and credits the minimum less the fee
      await f.vault.sendDeposit(f.requester.getSender(), MIN_DEPOSIT, f.account);
      expect(await f.vault.getAccountBalance(f.account)).toBe(MIN_DEPOSIT - DEPOSIT_FEE);
    });

    it("deposit fee: minimum deposits pay their own way: across N deposits (first and next, typed and comment) the vault's balance minus what it owes never decreases", async () => {
      // Prepare: what the owner's reserve holds beyond what the vault owes its accounts
      const surplus = async () => {
        const t = await f.vault.getTotals();
        return (await f.vault.getBalance()) - (t.deposited - t.withdrawn - t.paid);
      };
      const accounts = Array.from({ length: 4 }, (_, i) => keyToUint(seededKeyPair(`spam-${i}`).publicKey));
      const surpluses = [await surplus()];
      const logged: DepositCreditedLog[] = [];

      // Act: each account's first deposit deploys its wallet; typed and comment deposits alternate
      for (let round = 0; round < 3; round++) {
        for (const [i, account] of accounts.entries()) {
          const send = (round + i) % 2 === 0 ? f.vault.sendDeposit.bind(f.vault) : f.vault.sendDepositComment.bind(f.vault);
          const res = await send(f.stranger.getSender(), MIN_DEPOSIT, account);
          logged.push(...logsOf(f, res).logs);
          surpluses.push(await surplus());
        }
      }

      // Assess: the reserve never went down, the fees are counted, every account got value − fee
      const n = BigInt(accounts.length * 3);
      for (let i = 1; i < surpluses.length; i++) expect(surpluses[i]!, `after deposit ${i}`).toBeGreaterThanOrEqual(surpluses[i - 1]!);
      expect(await f.vault.getTotals()).toMatchObject({ deposited: n * (MIN_DEPOSIT - DEPOSIT_FEE), fees: n * DEPOSIT_FEE });
      expect(await f.vault.getInflight()).toBe(0);
      expect(logged).toHaveLength(Number(n));
      expect(new Set(logged.map((l) => l.amount))).toEqual(new Set([MIN_DEPOSIT - DEPOSIT_FEE]));
      for (const account of accounts) expect(await f.vault.getAccountBalance(account)).toBe(3n * (MIN_DEPOSIT - DEPOSIT_FEE));
    });

    it("an unknown opcode bounces with Tact's invalid-message code 130", async () => {
      const before = await snapshot(f);
      const res = await f.requester.send({ to: f.vault.address, value: DEPOSIT, body: beginCell().storeUint(0xdeadbeef, 32).endCell() });
      expect(exitOf(on(res, f.vault.address)[0]!)).toEqual({ exitCode: 130, aborted: true });
      expect(await snapshot(f)).toEqual(before);
    });

    it("a wallet that cannot record the credit (frozen for unpaid storage): the deposit goes back to its sender less the fee, nothing is credited or logged", async () => {
      const wallet = await accountWalletAddress(f.vault.address, f.account);
      await freeze(f, wallet);
      const before = await snapshot(f);
      const res = await f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account);
      const [routed, bounced] = on(res, f.vault.address);
      expect(exitOf(routed!)).toEqual({ exitCode: 0, aborted: false });
      expect(flattenTransaction(on(res, wallet)[0]!)).toMatchObject({ success: false, aborted: true });
      expect(bounceFrom(bounced!, wallet)).toEqual({ fromWallet: true, bounced: true, success: true });
      expect(
        findTransaction(res.transactions, { from: f.vault.address, to: f.requester.address, value: NET, success: true }),
        "refunded less the fee",
      ).toBeDefined();
      expect(logsOf(f, res)).toEqual({ logs: [], externals: 0 });
      // nothing credited, nothing left in flight; the fee paid for the attempt
      expect(await snapshot(f)).toEqual({ ...before, totals: { ...before.totals, fees: before.totals.fees + DEPOSIT_FEE } });
    });

    it("the in-flight entry exists only between the vault's two transactions", async () => {
      const seen: number[] = [];
      const msg = {
        info: {
          type: "internal" as const,
          ihrDisabled: true,
          bounce: true,
          bounced: false,
          src: f.requester.address,
          dest: f.vault.address,
          value: { coins: DEPOSIT },
          ihrFee: 0n,
          forwardFee: 0n,
          createdLt: 0n,
          createdAt: FIXED_NOW,
        },
        body: beginCell().storeUint(OPCODES.deposit, 32).storeUint(f.account, 256).endCell(),
      };
      for await (const tx of await f.blockchain.sendMessageIter(msg)) {
        if (tx.address === hashOf(f.vault.address)) seen.push(await f.vault.getInflight());
      }
      expect(seen).toEqual([1, 0]);
      expect(await f.vault.getAccountBalance(f.account)).toBe(NET);
    });

    it("a confirmation not sent by the account's wallet is refused: ERR_NOT_WALLET, nothing counted", async () => {
      const body = beginCell()
        .store(storeAccountCredited({ $$type: "AccountCredited", queryId: 0n, account: f.account, amount: toNano("100") }))
        .endCell();
      await expectVaultRefusedUnchanged(
        f,
        () => f.stranger.send({ to: f.vault.address, value: GAS, body }),
        f.stranger.address,
        "ERR_NOT_WALLET",
      );
    });

    it("a confirmation from the real wallet for a deposit not in flight is refused: ERR_UNKNOWN_DEPOSIT (no replays)", async () => {
      await f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account);
      const wallet = await accountWalletAddress(f.vault.address, f.account);
      const body = beginCell()
        .store(storeAccountCredited({ $$type: "AccountCredited", queryId: 0n, account: f.account, amount: DEPOSIT }))
        .endCell();
      const before = await snapshot(f);
      const res = await f.blockchain.sendMessage({
        info: {
          type: "internal",
          ihrDisabled: true,
          bounce: true,
          bounced: false,
          src: wallet,
          dest: f.vault.address,
          value: { coins: GAS },
          ihrFee: 0n,
          forwardFee: 0n,
          createdLt: 0n,
          createdAt: FIXED_NOW,
        },
        body,
      });
      expect(exitOf(on(res, f.vault.address)[0]!)).toEqual({ exitCode: VaultExit.ERR_UNKNOWN_DEPOSIT, aborted: true });
      expect(await snapshot(f)).toEqual(before);
    });

    it("nobody but the vault can write to a wallet: ERR_NOT_VAULT for a credit, a debit or a claim from a stranger", async () => {
      await f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account);
      await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1")));
      const account = await accountWalletAddress(f.vault.address, f.account);
      const payout = await payoutWalletAddress(f.vault.address, f.payee);
      const bodies: Array<[Address, Cell]> = [
        [
          account,
          beginCell()
            .store(storeCreditAccount({ $$type: "CreditAccount", queryId: 7n, amount: toNano("100") }))
            .endCell(),
        ],
        [
          account,
          beginCell()
            .store(storeDebit({ $$type: "Debit", amount: toNano("1"), seqno: 0n, expiry: BigInt(FIXED_NOW + 60), to: f.stranger.address }))
            .endCell(),
        ],
        [
          payout,
          beginCell()
            .store(storeClaim({ $$type: "Claim", cumulative: toNano("100"), to: f.stranger.address }))
            .endCell(),
        ],
      ];
      for (const [to, body] of bodies) {
        const before = await snapshot(f);
        const res = await f.stranger.send({ to, value: GAS, body });
        expect(exitOf(on(res, to)[0]!)).toEqual({ exitCode: VaultExit.ERR_NOT_VAULT, aborted: true });
        expect(await snapshot(f)).toEqual(before);
      }
    });
  });

  describe("withdrawals", () => {
    let wallet: Address;
    beforeEach(async () => {
      await f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account);
      wallet = await accountWalletAddress(f.vault.address, f.account);
    });

    it("pays a signed withdrawal after the wallet approves it; the vault balance drops by exactly the amount", async () => {
      const balance = await f.vault.getBalance();
      const res = await f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("2")));
      expect(findTransaction(res.transactions, { from: f.vault.address, to: wallet, op: OPCODES.debit, success: true })).toBeDefined();
      expect(
        findTransaction(res.transactions, { from: wallet, to: f.vault.address, op: OPCODES.debitApproved, success: true }),
      ).toBeDefined();
      const pay = findTransaction(res.transactions, { from: f.vault.address, to: f.requester.address });
      expect(flattenTransaction(pay!).value! > toNano("2")).toBe(true); // amount + unused gas
      expect(await f.vault.getBalance()).toBe(balance - toNano("2"));
      expect(await snapshot(f)).toMatchObject({
        totals: { withdrawn: toNano("2") },
        account: { deposited: NET, withdrawn: toNano("2"), seqno: 1 },
      });
    });

    it("the totals count the amount only from the payment on: nothing is reserved while the wallet decides (a replayed or refused withdrawal blocks no one)", async () => {
      const w = f.withdrawal(toNano("2"));
      const seen: bigint[] = [];
      const msg = {
        info: {
          type: "internal" as const,
          ihrDisabled: true,
          bounce: true,
          bounced: false,
          src: f.requester.address,
          dest: f.vault.address,
          value: { coins: GAS },
          ihrFee: 0n,
          forwardFee: 0n,
          createdLt: 0n,
          createdAt: FIXED_NOW,
        },
        body: withdrawBody(w),
      };
      for await (const tx of await f.blockchain.sendMessageIter(msg)) {
        if (tx.address === hashOf(f.vault.address) || tx.address === hashOf(wallet)) seen.push((await f.vault.getTotals()).withdrawn);
      }
      // Withdraw, the wallet's debit, DebitApproved (the payment)
      expect(seen).toEqual([0n, 0n, toNano("2")]);
    });

    it("refuses a withdrawal above the account balance at the wallet: ERR_OVER_BALANCE, reservation rolled back", async () => {
      // another account's deposit, so the vault's totals alone would allow it
      await f.vault.sendDeposit(f.stranger.getSender(), DEPOSIT, keyToUint(seededKeyPair("other").publicKey));
      await expectWalletRefusedUnchanged(
        f,
        () => f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(DEPOSIT + 1n)),
        wallet,
        "ERR_OVER_BALANCE",
      );
    });

    it("refuses a withdrawal for an account that never deposited: its wallet does not exist, the debit bounces, nothing changes", async () => {
      const nobody = keyToUint(seededKeyPair("nobody").publicKey);
      const nobodyWallet = await accountWalletAddress(f.vault.address, nobody);
      const before = await snapshot(f);
      const res = await f.vault.sendWithdraw(f.stranger.getSender(), GAS, f.withdrawal(1n, { account: nobody, to: f.stranger.address }));
      const [routed, bounced] = on(res, f.vault.address);
      expect(exitOf(routed!)).toEqual({ exitCode: 0, aborted: false });
      expect(flattenTransaction(on(res, nobodyWallet)[0]!)).toMatchObject({ aborted: true, success: false }); // no state: not run
      expect(flattenTransaction(bounced!)).toMatchObject({ inMessageBounced: true, success: true, outMessagesCount: 0 });
      expect(await snapshot(f)).toEqual(before);
      expect((await f.blockchain.getContract(nobodyWallet)).accountState?.type ?? "uninit").not.toBe("active");
    });

    it("refuses a replayed withdrawal at the wallet: ERR_BAD_SEQNO", async () => {
      const w = f.withdrawal(toNano("1"));
      await f.vault.sendWithdraw(f.requester.getSender(), GAS, w);
      await expectWalletRefusedUnchanged(f, () => f.vault.sendWithdraw(f.requester.getSender(), GAS, w), wallet, "ERR_BAD_SEQNO");
    });

    it("refuses a withdrawal with a future seqno at the wallet: ERR_BAD_SEQNO", async () => {
      await expectWalletRefusedUnchanged(
        f,
        () => f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("1"), { seqno: 1 })),
        wallet,
        "ERR_BAD_SEQNO",
      );
    });

    it("refuses an expired withdrawal: ERR_EXPIRED", async () => {
      await expectVaultRefusedUnchanged(
        f,
        () => f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("1"), { expiry: FIXED_NOW - 1 })),
        f.requester.address,
        "ERR_EXPIRED",
      );
    });

    it("refuses a withdrawal signed by another key: ERR_BAD_SIGNATURE", async () => {
      await expectVaultRefusedUnchanged(
        f,
        () => f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("1"), { key: seededKeyPair("forger") })),
        f.requester.address,
        "ERR_BAD_SIGNATURE",
      );
    });

    it("refuses a withdrawal whose destination was changed after signing: ERR_BAD_SIGNATURE", async () => {
      const w = { ...f.withdrawal(toNano("1")), to: f.stranger.address };
      await expectVaultRefusedUnchanged(
        f,
        () => f.vault.sendWithdraw(f.stranger.getSender(), GAS, w),
        f.stranger.address,
        "ERR_BAD_SIGNATURE",
      );
    });

    it("refuses a withdrawal to the vault itself or outside the basechain, even when signed: ERR_BAD_DESTINATION", async () => {
      const masterchain = Address.parse(`-1:${f.requester.address.hash.toString("hex")}`);
      for (const to of [f.vault.address, masterchain]) {
        await expectVaultRefusedUnchanged(
          f,
          () => f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("1"), { to })),
          f.requester.address,
          "ERR_BAD_DESTINATION",
        );
      }
    });

    it("refuses a zero withdrawal: ERR_BAD_AMOUNT", async () => {
      await expectVaultRefusedUnchanged(
        f,
        () => f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(0n)),
        f.requester.address,
        "ERR_BAD_AMOUNT",
      );
    });

    it("issue 16: a withdrawal without the value its three transactions need is refused up front: ERR_LOW_VALUE (else the wallet could be debited, or the totals reserved, with nothing paid)", async () => {
      // 0.006–0.01 TON used to run a wallet or the paying transaction out of gas with no bounce to undo it
      for (const value of [toNano("0.006"), toNano("0.009"), toNano("0.016")]) {
        await expectVaultRefusedUnchanged(
          f,
          () => f.vault.sendWithdraw(f.stranger.getSender(), value, f.withdrawal(toNano("1"))),
          f.stranger.address,
          "ERR_LOW_VALUE",
        );
      }
      // and the signed withdrawal still pays when sent with enough
      await f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("1")));
      expect(await snapshot(f)).toMatchObject({ totals: { withdrawn: toNano("1") }, account: { withdrawn: toNano("1"), seqno: 1 } });
    });

    it("an approval not sent by the account's wallet pays nothing: ERR_NOT_WALLET", async () => {
      const body = beginCell()
        .store(
          storeDebitApproved({
            $$type: "DebitApproved",
            account: f.account,
            amount: toNano("4"),
            to: f.stranger.address,
            seqno: 0n,
            expiry: BigInt(FIXED_NOW + 60),
          }),
        )
        .endCell();
      await expectVaultRefusedUnchanged(
        f,
        () => f.stranger.send({ to: f.vault.address, value: GAS, body }),
        f.stranger.address,
        "ERR_NOT_WALLET",
      );
    });
  });

  describe("payee vouchers", () => {
    let payout: Address;
    beforeEach(async () => {
      await f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account);
      payout = await payoutWalletAddress(f.vault.address, f.payee);
    });

    it("pays the difference to what was already paid; the payout wallet keeps the high-water mark", async () => {
      const b0 = await f.vault.getBalance();
      const r1 = await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1")));
      expect(
        findTransaction(r1.transactions, { from: f.vault.address, to: payout, op: OPCODES.claim, deploy: true, success: true }),
      ).toBeDefined();
      expect(
        findTransaction(r1.transactions, { from: payout, to: f.vault.address, op: OPCODES.claimApproved, success: true }),
      ).toBeDefined();
      const r2 = await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1.5")));
      expect(
        findTransaction(r2.transactions, {
          from: f.vault.address,
          to: f.worker.address,
          value: (v) => (v ?? 0n) > toNano("0.5") && (v ?? 0n) < toNano("0.5") + GAS,
        }),
      ).toBeDefined();
      expect(await f.vault.getPaid(f.payee)).toBe(toNano("1.5"));
      expect(await f.blockchain.openContract(new PayoutWallet(payout)).getPaid()).toBe(toNano("1.5"));
      expect(await f.vault.getBalance()).toBe(b0 - toNano("1.5"));
      expect((await f.vault.getTotals()).paid).toBe(toNano("1.5"));
    });

    it("a replayed voucher pays 0 at the payout wallet: ERR_NOTHING_TO_PAY", async () => {
      const v = f.voucher(toNano("1"));
      await f.vault.sendRedeem(f.worker.getSender(), GAS, v);
      await expectWalletRefusedUnchanged(f, () => f.vault.sendRedeem(f.worker.getSender(), GAS, v), payout, "ERR_NOTHING_TO_PAY");
    });

    it("an older voucher pays 0: ERR_NOTHING_TO_PAY", async () => {
      const old = f.voucher(toNano("1"));
      await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("2")));
      await expectWalletRefusedUnchanged(f, () => f.vault.sendRedeem(f.worker.getSender(), GAS, old), payout, "ERR_NOTHING_TO_PAY");
    });

    it("a voucher for 0 pays nothing: ERR_NOTHING_TO_PAY", async () => {
      await expectWalletRefusedUnchanged(
        f,
        () => f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(0n)),
        payout,
        "ERR_NOTHING_TO_PAY",
      );
    });

    it("a forged voucher (wrong key) pays 0: ERR_BAD_SIGNATURE", async () => {
      await expectVaultRefusedUnchanged(
        f,
        () => f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1"), { key: seededKeyPair("forger") })),
        f.worker.address,
        "ERR_BAD_SIGNATURE",
      );
    });

    it("a voucher with an inflated amount pays 0: ERR_BAD_SIGNATURE", async () => {
      const v = { ...f.voucher(toNano("1")), cumulative: toNano("3") };
      await expectVaultRefusedUnchanged(f, () => f.vault.sendRedeem(f.worker.getSender(), GAS, v), f.worker.address, "ERR_BAD_SIGNATURE");
    });

    it("a voucher cannot be redirected to another address nor credited to another payee: ERR_BAD_SIGNATURE", async () => {
      for (const v of [
        { ...f.voucher(toNano("1")), to: f.stranger.address },
        { ...f.voucher(toNano("1")), payee: f.payee + 1n },
      ]) {
        await expectVaultRefusedUnchanged(
          f,
          () => f.vault.sendRedeem(f.stranger.getSender(), GAS, v),
          f.stranger.address,
          "ERR_BAD_SIGNATURE",
        );
      }
    });

    it("a voucher for the vault itself or a masterchain address pays 0: ERR_BAD_DESTINATION", async () => {
      const masterchain = Address.parse(`-1:${f.worker.address.hash.toString("hex")}`);
      for (const to of [f.vault.address, masterchain]) {
        await expectVaultRefusedUnchanged(
          f,
          () => f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1"), { to })),
          f.worker.address,
          "ERR_BAD_DESTINATION",
        );
      }
    });

    it("an expired voucher pays 0: ERR_EXPIRED", async () => {
      await expectVaultRefusedUnchanged(
        f,
        () => f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1"), { expiry: FIXED_NOW - 1 })),
        f.worker.address,
        "ERR_EXPIRED",
      );
    });

    it("a voucher for a different vault does not verify: ERR_BAD_SIGNATURE", async () => {
      const other = await Vault.createFromConfig({
        owner: f.owner.address,
        coordinatorKey: f.coordinator.publicKey,
        nonce: 1n,
        network: GLOBAL_ID.mainnet,
      });
      const v = signVoucher(f.coordinator.secretKey, other.address, {
        payee: f.payee,
        to: f.worker.address,
        cumulative: toNano("1"),
        expiry: FIXED_NOW + 60,
      });
      await expectVaultRefusedUnchanged(f, () => f.vault.sendRedeem(f.worker.getSender(), GAS, v), f.worker.address, "ERR_BAD_SIGNATURE");
    });

    it("issue 16: a voucher without the value its three transactions need is refused up front: ERR_LOW_VALUE (else the payout wallet's mark could rise with nothing paid)", async () => {
      for (const value of [toNano("0.006"), toNano("0.009"), toNano("0.016")]) {
        await expectVaultRefusedUnchanged(
          f,
          () => f.vault.sendRedeem(f.stranger.getSender(), value, f.voucher(toNano("1"))),
          f.stranger.address,
          "ERR_LOW_VALUE",
        );
      }
      expect(await f.blockchain.openContract(new PayoutWallet(payout)).getPaid()).toBe(0n);
      await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1")));
      expect(await f.vault.getPaid(f.payee)).toBe(toNano("1"));
    });

    it("an approval not sent by the worker's payout wallet pays nothing: ERR_NOT_WALLET", async () => {
      const body = beginCell()
        .store(
          storeClaimApproved({
            $$type: "ClaimApproved",
            due: toNano("4"),
            cumulative: toNano("4"),
            payee: f.payee,
            to: f.stranger.address,
          }),
        )
        .endCell();
      await expectVaultRefusedUnchanged(
        f,
        () => f.stranger.send({ to: f.vault.address, value: GAS, body }),
        f.stranger.address,
        "ERR_NOT_WALLET",
      );
    });
  });

  describe("v2: the high-water mark is the payee's, not the address's", () => {
    const B = WORKER_PAYEE + 1n;
    beforeEach(async () => {
      await f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account);
    });
    /** what `to` received from the vault in `res` (the due plus what is left of the sender's gas) */
    const received = (res: SendMessageResult, to: Address) =>
      res.transactions
        .filter((t) => t.address === hashOf(to) && t.inMessage?.info.type === "internal" && t.inMessage.info.src.equals(f.vault.address))
        .reduce((sum, t) => sum + (t.inMessage!.info.type === "internal" ? t.inMessage!.info.value.coins : 0n), 0n);

    it("two payees share one payout address: each is paid exactly its own cumulative, in its own payout wallet", async () => {
      const shared = f.worker.address;
      const b0 = await f.vault.getBalance();
      const a1 = await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1"), { to: shared }));
      const b1 = await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("0.25"), { payee: B, to: shared }));
      const a2 = await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1.5"), { to: shared }));
      const b2 = await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("2"), { payee: B, to: shared }));
      expect(await f.vault.getPaid(f.payee)).toBe(toNano("1.5"));
      expect(await f.vault.getPaid(B)).toBe(toNano("2"));
      // each Redeem paid its own payee's difference (plus the rest of its gas), never the other's mark
      const dues = [
        [a1, toNano("1")],
        [b1, toNano("0.25")],
        [a2, toNano("0.5")],
        [b2, toNano("1.75")],
      ] as const;
      for (const [res, due] of dues) {
        const got = received(res, shared);
        expect(got).toBeGreaterThan(due);
        expect(got).toBeLessThan(due + GAS);
      }
      expect((await payoutWalletAddress(f.vault.address, f.payee)).equals(await payoutWalletAddress(f.vault.address, B))).toBe(false);
      expect(await f.vault.getBalance()).toBe(b0 - toNano("3.5"));
      expect((await f.vault.getTotals()).paid).toBe(toNano("3.5"));
    });

    it("a replayed voucher pays nothing, even once another payee has been paid to the same address: ERR_NOTHING_TO_PAY", async () => {
      const v = f.voucher(toNano("1"));
      await f.vault.sendRedeem(f.worker.getSender(), GAS, v);
      await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1"), { payee: B }));
      const payout = await payoutWalletAddress(f.vault.address, f.payee);
      await expectWalletRefusedUnchanged(f, () => f.vault.sendRedeem(f.worker.getSender(), GAS, v), payout, "ERR_NOTHING_TO_PAY");
      expect(await f.vault.getPaid(B)).toBe(toNano("1"));
    });

    it("a voucher for payee A cannot raise B's mark: A's voucher moves A's wallet only, and rewritten for B it does not verify", async () => {
      await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1"), { payee: B }));
      await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("2")));
      expect(await f.vault.getPaid(B)).toBe(toNano("1"));
      const forB = { ...f.voucher(toNano("3")), payee: B };
      await expectVaultRefusedUnchanged(
        f,
        () => f.vault.sendRedeem(f.stranger.getSender(), GAS, forB),
        f.stranger.address,
        "ERR_BAD_SIGNATURE",
      );
      expect(await f.vault.getPaid(B)).toBe(toNano("1"));
      expect(await f.vault.getPaid(f.payee)).toBe(toNano("2"));
    });

    it("an approval naming another payee than its sender's wallet pays nothing: ERR_NOT_WALLET", async () => {
      // A's genuine wallet exists; a stranger's approval naming A (or B) is refused whatever it names
      await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1")));
      for (const payee of [f.payee, B]) {
        const body = beginCell()
          .store(storeClaimApproved({ $$type: "ClaimApproved", due: toNano("1"), cumulative: toNano("2"), payee, to: f.stranger.address }))
          .endCell();
        await expectVaultRefusedUnchanged(
          f,
          () => f.stranger.send({ to: f.vault.address, value: GAS, body }),
          f.stranger.address,
          "ERR_NOT_WALLET",
        );
      }
    });

    it("squatting is gone: another payee paid first to A's address takes nothing of A's cumulative", async () => {
      const address = f.worker.address;
      // B is paid to A's address first (what a squatter's voucher would be)
      await f.vault.sendRedeem(f.stranger.getSender(), GAS, f.voucher(toNano("2"), { payee: B, to: address }));
      // A's first voucher still pays A's whole cumulative, to the same address
      const res = await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1"), { to: address }));
      expect(received(res, address)).toBeGreaterThan(toNano("1"));
      expect(await f.vault.getPaid(f.payee)).toBe(toNano("1"));
      expect(await f.vault.getPaid(B)).toBe(toNano("2"));
    });
  });

  describe("v2: a signature is good on one network", () => {
    it("the network is part of the vault's address: the same owner, key and nonce give another vault on testnet", async () => {
      const config = { owner: f.owner.address, coordinatorKey: f.coordinator.publicKey };
      const testnet = await Vault.createFromConfig({ ...config, network: GLOBAL_ID.testnet });
      expect(testnet.address.equals(f.vault.address)).toBe(false);
      expect(await f.vault.getNetwork()).toBe(GLOBAL_ID.mainnet);
    });

    it("a voucher and a withdrawal signed for the other network's vault are refused: ERR_BAD_SIGNATURE", async () => {
      await f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account);
      const testnet = await Vault.createFromConfig({
        owner: f.owner.address,
        coordinatorKey: f.coordinator.publicKey,
        network: GLOBAL_ID.testnet,
      });
      const voucher = f.voucher(toNano("1"), { vault: testnet.address });
      await expectVaultRefusedUnchanged(
        f,
        () => f.vault.sendRedeem(f.worker.getSender(), GAS, voucher),
        f.worker.address,
        "ERR_BAD_SIGNATURE",
      );
      const w = f.withdrawal(toNano("1"));
      const forTestnet = signWithdrawal(f.coordinator.secretKey, testnet.address, w);
      await expectVaultRefusedUnchanged(
        f,
        () => f.vault.sendWithdraw(f.requester.getSender(), GAS, forTestnet),
        f.requester.address,
        "ERR_BAD_SIGNATURE",
      );
    });

    it("a vault whose init names another network than the chain's pays nothing, whatever is signed for it: ERR_WRONG_NETWORK", async () => {
      // the sandbox runs mainnet's config (global id -239); this vault says testnet
      const t = await vaultFixture({ network: GLOBAL_ID.testnet });
      await t.vault.sendDeposit(t.requester.getSender(), DEPOSIT, t.account);
      expect(await t.vault.getAccountBalance(t.account)).toBe(NET);
      await expectVaultRefusedUnchanged(
        t,
        () => t.vault.sendRedeem(t.worker.getSender(), GAS, t.voucher(toNano("1"))),
        t.worker.address,
        "ERR_WRONG_NETWORK",
      );
      await expectVaultRefusedUnchanged(
        t,
        () => t.vault.sendWithdraw(t.requester.getSender(), GAS, t.withdrawal(toNano("1"))),
        t.requester.address,
        "ERR_WRONG_NETWORK",
      );
    });
  });

  describe("insolvency guard (on the vault's totals, whatever the key signs)", () => {
    beforeEach(async () => {
      await f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account);
    });

    it("a valid voucher above everything deposited is refused by the vault after the wallet approved: ERR_VAULT_INSOLVENT; the wallet's mark is rolled back", async () => {
      const payout = await payoutWalletAddress(f.vault.address, f.payee);
      const before = await snapshot(f);
      const res = await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(DEPOSIT + 1n));
      const [, refused] = on(res, f.vault.address);
      expect(exitOf(refused!)).toEqual({ exitCode: VaultExit.ERR_VAULT_INSOLVENT, aborted: true });
      expect(findTransaction(res.transactions, { from: f.vault.address, to: payout, inMessageBounced: true, success: true })).toBeDefined();
      expect(findTransaction(res.transactions, { from: f.vault.address, to: f.worker.address })).toBeUndefined();
      expect(await snapshot(f)).toEqual(before);
      expect(await f.blockchain.openContract(new PayoutWallet(payout)).getPaid()).toBe(0n);
      // and the worker can still redeem what the vault can pay
      await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1")));
      expect(await f.vault.getPaid(f.payee)).toBe(toNano("1"));
    });

    it("withdrawals and vouchers together never exceed deposits: ERR_VAULT_INSOLVENT at the vault", async () => {
      const earned = NET - toNano("1"); // what the worker earned of the (net) deposit
      await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(earned));
      await expectVaultRefusedUnchanged(
        f,
        () => f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("2"))),
        f.requester.address,
        "ERR_VAULT_INSOLVENT",
      );
      await f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("1")));
      const payout = await payoutWalletAddress(f.vault.address, f.payee);
      const res = await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(earned + 1n));
      expect(exitOf(on(res, f.vault.address)[1]!)).toEqual({ exitCode: VaultExit.ERR_VAULT_INSOLVENT, aborted: true });
      expect(await f.blockchain.openContract(new PayoutWallet(payout)).getPaid()).toBe(earned);
      expect(await f.vault.getTotals()).toMatchObject({ deposited: NET, withdrawn: toNano("1"), paid: earned });
    });
  });
});

// ---------------------------------------------------------------- scale
// The state per contract as accounts grow (issue 16): contracts/vault-scale.test.ts.

// ---------------------------------------------------------------- gas table
/** Gas of each transaction of an operation, in order, and their fees. */
interface OpGas {
  /** compute gas per transaction: vault, wallet, vault (payout / log), … */
  steps: number[];
  total: number;
  /** sum of those transactions' total fees (compute, storage, forwarding), nanoTON */
  fees: string;
}

const UNIT =
  "compute gas per transaction of each operation (vault, wallet, vault, …; the sender's wallet and the payee excluded); fees = their total fees in nanoTON; " +
  "reserveCost = what a deposit's transactions take from the vault's own balance (nanoTON, before DEPOSIT_FEE, which the vault keeps to pay for them)";

describe("gas table (contracts/gas.json; UPDATE_GAS=1 rewrites it)", () => {
  let measured: Record<string, OpGas>;
  let reserveCost: Record<string, string>;
  beforeAll(async () => {
    const f = await vaultFixture();
    const payees = new Set([f.requester.address, f.worker.address, f.owner.address, f.stranger.address].map(hashOf));
    const ops = (_sender: Address, res: SendMessageResult): OpGas => {
      // every transaction of the operation but the sender's own wallet and the final payee's receipt
      const txs = res.transactions.filter((t) => !payees.has(t.address));
      const steps = txs.map(gasOf);
      return { steps, total: steps.reduce((a, b) => a + b, 0), fees: txs.reduce((s, t) => s + t.totalFees.coins, 0n).toString() };
    };
    measured = {};
    reserveCost = {};
    const spent = async (value: bigint, act: () => Promise<SendMessageResult>) => {
      const b0 = await f.vault.getBalance();
      const res = await act();
      return { res, cost: (value - ((await f.vault.getBalance()) - b0)).toString() };
    };
    measured.deploy = ops(f.owner.address, { transactions: f.deployTx } as SendMessageResult);
    measured.topUp = ops(f.owner.address, await f.vault.sendTopUp(f.owner.getSender(), toNano("1")));
    let r = await spent(DEPOSIT, () => f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account));
    measured.depositFirst = ops(f.requester.address, r.res);
    reserveCost.depositFirst = r.cost;
    r = await spent(DEPOSIT, () => f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account));
    measured.depositNext = ops(f.requester.address, r.res);
    reserveCost.depositNext = r.cost;
    r = await spent(DEPOSIT, () => f.vault.sendDepositComment(f.requester.getSender(), DEPOSIT, f.account));
    measured.depositComment = ops(f.requester.address, r.res);
    reserveCost.depositComment = r.cost;
    r = await spent(DEPOSIT, () =>
      f.vault.sendDepositComment(f.requester.getSender(), DEPOSIT, keyToUint(seededKeyPair("comment-first").publicKey)),
    );
    measured.depositCommentFirst = ops(f.requester.address, r.res);
    reserveCost.depositCommentFirst = r.cost;
    measured.withdraw = ops(f.requester.address, await f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("1"))));
    measured.withdrawReplayRejected = ops(
      f.requester.address,
      await f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("1"))),
    );
    measured.redeemFirst = ops(f.worker.address, await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1"))));
    measured.redeemNext = ops(f.worker.address, await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("2"))));
    measured.redeemReplayRejected = ops(f.worker.address, await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("2"))));
    measured.unattributedBounce = ops(f.stranger.address, await f.vault.sendTopUp(f.stranger.getSender(), DEPOSIT));
    measured.setCoordinatorKey = ops(
      f.owner.address,
      await f.vault.sendSetCoordinatorKey(f.owner.getSender(), GAS, seededKeyPair("k2").publicKey),
    );
  }, 60_000);

  it("measured gas per operation equals the recorded table", () => {
    const recorded = recordedGas<{ ops: Record<string, OpGas>; reserveCost: Record<string, string> }>("gas.json", UNIT, measured, {
      reserveCost,
    });
    expect(measured).toEqual(recorded.ops);
    expect(reserveCost).toEqual(recorded.reserveCost);
  });

  it("deposit fee: DEPOSIT_FEE pays for the dearest deposit (a first comment deposit) with a margin of at least 25 %", () => {
    const costs = Object.values(reserveCost).map(BigInt);
    expect(costs).toHaveLength(4);
    const dearest = costs.reduce((a, b) => (a > b ? a : b));
    expect(dearest).toBe(BigInt(reserveCost.depositCommentFirst!));
    expect(DEPOSIT_FEE * 4n).toBeGreaterThanOrEqual(dearest * 5n);
  });

  it("the credit value covers a first deposit's wallet (gas, reserve, confirmation) with room to spare", () => {
    const [, walletGas] = measured.depositFirst!.steps;
    expect(walletGas).toBeGreaterThan(0);
    // 400 nanoTON per gas unit on the basechain; the confirmation's forward fee is under 0.001 TON
    expect(BigInt(walletGas!) * 400n + WALLET_STORAGE + toNano("0.001")).toBeLessThan(CREDIT_VALUE);
  });
});
