import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Address, beginCell, toNano, type Transaction } from "@ton/core";
import { findTransaction, flattenTransaction } from "@ton/test-utils";
import type { SendMessageResult } from "@ton/sandbox";
import * as Generated from "./build/Vault_Vault";
import { type DepositCreditedLog, depositComment, keyToUint, parseDepositCredited, signVoucher, Vault, VaultExit, type VaultExitName } from "./vault";
import { FIXED_NOW, refDepositLookalikes, RESERVE, seededKeyPair, vaultFixture, type VaultFixture } from "./fixtures";

const here = dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------- helpers
interface VaultState {
  balance: bigint;
  totals: { deposited: bigint; withdrawn: bigint; paid: bigint; toppedUp: bigint };
  account: bigint;
  seqno: number;
  paidWorker: bigint;
  key: string;
}

async function state(f: VaultFixture): Promise<VaultState> {
  return {
    balance: await f.vault.getBalance(),
    totals: await f.vault.getTotals(),
    account: await f.vault.getAccountBalance(f.account),
    seqno: await f.vault.getWithdrawSeqno(f.account),
    paidWorker: await f.vault.getPaid(f.worker.address),
    key: (await f.vault.getCoordinatorKey()).toString("hex"),
  };
}

function vaultTx(f: VaultFixture, res: SendMessageResult): Transaction {
  const tx = findTransaction(res.transactions, { to: f.vault.address });
  if (!tx) throw new Error("no transaction on the vault");
  return tx;
}

/** The vault's transaction failed with `name`, and the value went back to `from` as a bounce. */
function expectRejected(f: VaultFixture, res: SendMessageResult, from: Address, name: VaultExitName): void {
  const flat = flattenTransaction(vaultTx(f, res));
  expect({ exitCode: flat.exitCode, aborted: flat.aborted }).toEqual({ exitCode: VaultExit[name], aborted: true });
  const bounce = findTransaction(res.transactions, { from: f.vault.address, to: from, inMessageBounced: true });
  expect(bounce, "value bounced back to the sender").toBeDefined();
}

async function expectRejectedUnchanged(f: VaultFixture, act: () => Promise<SendMessageResult>, from: Address, name: VaultExitName) {
  const before = await state(f);
  const res = await act();
  expectRejected(f, res, from, name);
  expect(await state(f)).toEqual(before);
  return res;
}

/** The DepositCredited logs (external-out messages) of the vault's transaction, and how many external-outs it sent in all. */
function logsOf(f: VaultFixture, res: SendMessageResult): { logs: DepositCreditedLog[]; externals: number } {
  const logs: DepositCreditedLog[] = [];
  let externals = 0;
  for (const m of vaultTx(f, res).outMessages.values()) {
    if (m.info.type !== "external-out") continue;
    externals++;
    const log = parseDepositCredited(m.body);
    if (log) logs.push(log);
  }
  return { logs, externals };
}

function gasOf(f: VaultFixture, res: SendMessageResult): number {
  const d = vaultTx(f, res).description;
  if (d.type !== "generic" || d.computePhase.type !== "vm") throw new Error("vault transaction did not run the VM");
  return Number(d.computePhase.gasUsed);
}

const GAS = toNano("0.05");
const DEPOSIT = toNano("5");

// ---------------------------------------------------------------- build artefacts
describe("build artefacts", () => {
  it("the committed wrapper was built from the current vault.tact (run npm run contracts:build)", () => {
    const manifest = JSON.parse(readFileSync(join(here, "build/manifest.json"), "utf8")) as { sourceSha256: string };
    const src = createHash("sha256").update(readFileSync(join(here, "vault.tact"))).digest("hex");
    expect(manifest.sourceSha256).toBe(src);
  });

  it("exit codes exported to TS agree with the contract constants", () => {
    const fromContract = Object.fromEntries(
      Object.entries(Generated)
        .filter(([k]) => k.startsWith("ERR_"))
        .map(([k, v]) => [k, Number(v as bigint)]),
    );
    expect(fromContract).toEqual(VaultExit);
  });
});

// ---------------------------------------------------------------- behaviour
describe("vault", () => {
  let f: VaultFixture;
  beforeEach(async () => {
    f = await vaultFixture();
  });

  describe("deploy and owner", () => {
    it("deploys with the owner's top-up and the coordinator key", async () => {
      expect(findTransaction(f.deployTx, { to: f.vault.address, deploy: true, success: true })).toBeDefined();
      const s = await state(f);
      expect(s.totals).toEqual({ deposited: 0n, withdrawn: 0n, paid: 0n, toppedUp: RESERVE });
      expect(s.key).toBe(f.coordinator.publicKey.toString("hex"));
      expect((await f.vault.getOwner()).equals(f.owner.address)).toBe(true);
    });

    it("owner tops up with a plain transfer", async () => {
      await f.vault.sendTopUp(f.owner.getSender(), toNano("2"));
      expect((await f.vault.getTotals()).toppedUp).toBe(RESERVE + toNano("2"));
    });

    it("a stranger cannot rotate the key: ERR_NOT_OWNER, nothing changes", async () => {
      const other = seededKeyPair("other");
      await expectRejectedUnchanged(f, () => f.vault.sendSetCoordinatorKey(f.stranger.getSender(), GAS, other.publicKey), f.stranger.address, "ERR_NOT_OWNER");
    });

    it("key rotation makes old-key vouchers fail with ERR_BAD_SIGNATURE and new-key vouchers pay", async () => {
      await f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account);
      const next = seededKeyPair("coordinator-2");
      await f.vault.sendSetCoordinatorKey(f.owner.getSender(), GAS, next.publicKey);
      expect((await f.vault.getCoordinatorKey()).equals(next.publicKey)).toBe(true);

      await expectRejectedUnchanged(f, () => f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1"))), f.worker.address, "ERR_BAD_SIGNATURE");

      const ok = await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1"), { key: next }));
      expect(flattenTransaction(vaultTx(f, ok)).success).toBe(true);
      expect(await f.vault.getPaid(f.worker.address)).toBe(toNano("1"));
    });
  });

  describe("deposits", () => {
    it("a typed Deposit credits the account with the full value", async () => {
      const res = await f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account);
      expect(flattenTransaction(vaultTx(f, res)).success).toBe(true);
      expect(await f.vault.getAccountBalance(f.account)).toBe(DEPOSIT);
      expect((await f.vault.getTotals()).deposited).toBe(DEPOSIT);
    });

    it("a comment deposit:<64 lowercase hex> credits the account", async () => {
      await f.vault.sendDepositComment(f.requester.getSender(), DEPOSIT, f.account);
      expect(await f.vault.getAccountBalance(f.account)).toBe(DEPOSIT);
    });

    it("every credited deposit (typed and comment) emits exactly one DepositCredited log with the account and the credited amount", async () => {
      const typed = await f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account);
      const comment = await f.vault.sendDepositComment(f.requester.getSender(), toNano("0.5"), f.account);
      expect(logsOf(f, typed)).toEqual({ logs: [{ account: f.account, amount: DEPOSIT }], externals: 1 });
      expect(logsOf(f, comment)).toEqual({ logs: [{ account: f.account, amount: toNano("0.5") }], externals: 1 });
      expect(await f.vault.getAccountBalance(f.account)).toBe(DEPOSIT + toNano("0.5"));
    });

    it("issue 9 #1: a comment deposit with refs, non-bounceable from a stranger, is refunded in full and logs no credit", async () => {
      for (const [name, body] of Object.entries(refDepositLookalikes(f.account))) {
        const before = await state(f);
        const res = await f.stranger.send({ to: f.vault.address, value: DEPOSIT, bounce: false, body });
        const flat = flattenTransaction(vaultTx(f, res));
        expect({ name, success: flat.success, aborted: flat.aborted }).toEqual({ name, success: true, aborted: false });
        expect(findTransaction(res.transactions, { from: f.vault.address, to: f.stranger.address, value: (v) => (v ?? 0n) > DEPOSIT - toNano("0.01") }), name).toBeDefined();
        expect(logsOf(f, res), name).toEqual({ logs: [], externals: 0 });
        expect(await state(f), name).toEqual(before);
      }
    });

    it("rejected and refunded transfers log nothing (bounced, too small, unknown opcode)", async () => {
      const results = [
        await f.vault.sendTopUp(f.stranger.getSender(), DEPOSIT),
        await f.vault.sendTopUp(f.stranger.getSender(), DEPOSIT, { bounce: false }),
        await f.vault.sendDeposit(f.requester.getSender(), toNano("0.005"), f.account),
        await f.vault.sendComment(f.stranger.getSender(), DEPOSIT, `deposit:${"g".repeat(64)}`, { bounce: false }),
      ];
      expect(results.map((r) => logsOf(f, r))).toEqual(results.map(() => ({ logs: [], externals: 0 })));
    });

    it("comment parsing round-trips edge accounts (0, 2^256-1, mixed digits)", async () => {
      const accounts = [0n, (1n << 256n) - 1n, BigInt("0x0123456789abcdef" + "fedcba9876543210".repeat(3))];
      for (const acc of accounts) {
        await f.vault.sendComment(f.requester.getSender(), DEPOSIT, depositComment(acc));
        expect(await f.vault.getAccountBalance(acc)).toBe(DEPOSIT);
      }
    });

    it("a plain transfer from a stranger bounces: ERR_UNATTRIBUTED, nothing credited", async () => {
      await expectRejectedUnchanged(f, () => f.vault.sendTopUp(f.stranger.getSender(), DEPOSIT), f.stranger.address, "ERR_UNATTRIBUTED");
    });

    it("a comment that is not a valid deposit tag bounces: ERR_UNATTRIBUTED", async () => {
      const bad = ["hello", "deposit:xyz", depositComment(f.account).toUpperCase().replace("DEPOSIT:", "deposit:"), `deposit:${"/".repeat(64)}`, `deposit:${":".repeat(64)}`, `deposit:${"g".repeat(64)}`, `deposit:${"a".repeat(63)}`, `Deposit:${"a".repeat(64)}`];
      for (const text of bad) {
        await expectRejectedUnchanged(f, () => f.vault.sendComment(f.stranger.getSender(), DEPOSIT, text), f.stranger.address, "ERR_UNATTRIBUTED");
      }
    });

    it("a non-bounceable unattributable transfer is sent back (refund), nothing credited", async () => {
      const before = await state(f);
      const res = await f.vault.sendTopUp(f.stranger.getSender(), DEPOSIT, { bounce: false });
      const flat = flattenTransaction(vaultTx(f, res));
      expect({ success: flat.success, outMessagesCount: flat.outMessagesCount }).toEqual({ success: true, outMessagesCount: 1 });
      expect(findTransaction(res.transactions, { from: f.vault.address, to: f.stranger.address, value: (v) => (v ?? 0n) > DEPOSIT - toNano("0.01") })).toBeDefined();
      expect(await state(f)).toEqual(before);
    });

    it("a deposit below MIN_DEPOSIT bounces: ERR_DEPOSIT_TOO_SMALL", async () => {
      await expectRejectedUnchanged(f, () => f.vault.sendDeposit(f.requester.getSender(), toNano("0.005"), f.account), f.requester.address, "ERR_DEPOSIT_TOO_SMALL");
    });

    it("an unknown opcode bounces with Tact's invalid-message code 130", async () => {
      const before = await state(f);
      const res = await f.requester.send({ to: f.vault.address, value: DEPOSIT, body: beginCell().storeUint(0xdeadbeef, 32).endCell() });
      expect(flattenTransaction(vaultTx(f, res)).exitCode).toBe(130);
      expect(await state(f)).toEqual(before);
    });
  });

  describe("withdrawals", () => {
    beforeEach(async () => {
      await f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account);
    });

    it("pays a signed withdrawal; the vault balance drops by exactly the amount", async () => {
      const before = await state(f);
      const res = await f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("2")));
      expect(flattenTransaction(vaultTx(f, res)).success).toBe(true);
      const pay = findTransaction(res.transactions, { from: f.vault.address, to: f.requester.address });
      expect(flattenTransaction(pay!).value! > toNano("2")).toBe(true); // amount + unused gas
      const after = await state(f);
      expect(after.balance).toBe(before.balance - toNano("2"));
      expect(after.account).toBe(DEPOSIT - toNano("2"));
      expect(after.seqno).toBe(1);
      expect(after.totals.withdrawn).toBe(toNano("2"));
    });

    it("refuses a withdrawal above the account balance: ERR_OVER_BALANCE", async () => {
      await expectRejectedUnchanged(f, () => f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(DEPOSIT + 1n)), f.requester.address, "ERR_OVER_BALANCE");
    });

    it("refuses a withdrawal for an account that never deposited: ERR_OVER_BALANCE", async () => {
      const nobody = keyToUint(seededKeyPair("nobody").publicKey);
      await expectRejectedUnchanged(f, () => f.vault.sendWithdraw(f.stranger.getSender(), GAS, f.withdrawal(1n, { account: nobody })), f.stranger.address, "ERR_OVER_BALANCE");
    });

    it("refuses a replayed withdrawal: ERR_BAD_SEQNO", async () => {
      const w = f.withdrawal(toNano("1"));
      await f.vault.sendWithdraw(f.requester.getSender(), GAS, w);
      await expectRejectedUnchanged(f, () => f.vault.sendWithdraw(f.requester.getSender(), GAS, w), f.requester.address, "ERR_BAD_SEQNO");
    });

    it("refuses an expired withdrawal: ERR_EXPIRED", async () => {
      await expectRejectedUnchanged(f, () => f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("1"), { expiry: FIXED_NOW - 1 })), f.requester.address, "ERR_EXPIRED");
    });

    it("refuses a withdrawal signed by another key: ERR_BAD_SIGNATURE", async () => {
      await expectRejectedUnchanged(f, () => f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("1"), { key: seededKeyPair("forger") })), f.requester.address, "ERR_BAD_SIGNATURE");
    });

    it("refuses a withdrawal whose destination was changed after signing: ERR_BAD_SIGNATURE", async () => {
      const w = { ...f.withdrawal(toNano("1")), to: f.stranger.address };
      await expectRejectedUnchanged(f, () => f.vault.sendWithdraw(f.stranger.getSender(), GAS, w), f.stranger.address, "ERR_BAD_SIGNATURE");
    });

    it("refuses a withdrawal to the vault itself or outside the basechain, even when signed: ERR_BAD_DESTINATION", async () => {
      const masterchain = Address.parse(`-1:${f.requester.address.hash.toString("hex")}`);
      for (const to of [f.vault.address, masterchain]) {
        await expectRejectedUnchanged(f, () => f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("1"), { to })), f.requester.address, "ERR_BAD_DESTINATION");
      }
    });

    it("refuses a zero withdrawal: ERR_BAD_AMOUNT", async () => {
      await expectRejectedUnchanged(f, () => f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(0n)), f.requester.address, "ERR_BAD_AMOUNT");
    });
  });

  describe("worker vouchers", () => {
    beforeEach(async () => {
      await f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account);
    });

    it("pays the difference to what was already paid", async () => {
      const b0 = await f.vault.getBalance();
      const r1 = await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1")));
      expect(flattenTransaction(vaultTx(f, r1)).success).toBe(true);
      const r2 = await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1.5")));
      expect(flattenTransaction(vaultTx(f, r2)).success).toBe(true);
      expect(await f.vault.getPaid(f.worker.address)).toBe(toNano("1.5"));
      expect(await f.vault.getBalance()).toBe(b0 - toNano("1.5"));
      expect((await f.vault.getTotals()).paid).toBe(toNano("1.5"));
    });

    it("a replayed voucher pays 0: ERR_NOTHING_TO_PAY", async () => {
      const v = f.voucher(toNano("1"));
      await f.vault.sendRedeem(f.worker.getSender(), GAS, v);
      await expectRejectedUnchanged(f, () => f.vault.sendRedeem(f.worker.getSender(), GAS, v), f.worker.address, "ERR_NOTHING_TO_PAY");
    });

    it("an older voucher pays 0: ERR_NOTHING_TO_PAY", async () => {
      const old = f.voucher(toNano("1"));
      await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("2")));
      await expectRejectedUnchanged(f, () => f.vault.sendRedeem(f.worker.getSender(), GAS, old), f.worker.address, "ERR_NOTHING_TO_PAY");
    });

    it("a forged voucher (wrong key) pays 0: ERR_BAD_SIGNATURE", async () => {
      await expectRejectedUnchanged(f, () => f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1"), { key: seededKeyPair("forger") })), f.worker.address, "ERR_BAD_SIGNATURE");
    });

    it("a voucher with an inflated amount pays 0: ERR_BAD_SIGNATURE", async () => {
      const v = { ...f.voucher(toNano("1")), cumulative: toNano("3") };
      await expectRejectedUnchanged(f, () => f.vault.sendRedeem(f.worker.getSender(), GAS, v), f.worker.address, "ERR_BAD_SIGNATURE");
    });

    it("a voucher for another worker cannot be redirected: ERR_BAD_SIGNATURE", async () => {
      const v = { ...f.voucher(toNano("1")), worker: f.stranger.address };
      await expectRejectedUnchanged(f, () => f.vault.sendRedeem(f.stranger.getSender(), GAS, v), f.stranger.address, "ERR_BAD_SIGNATURE");
    });

    it("a voucher for the vault itself or a masterchain address pays 0: ERR_BAD_DESTINATION", async () => {
      const masterchain = Address.parse(`-1:${f.worker.address.hash.toString("hex")}`);
      for (const worker of [f.vault.address, masterchain]) {
        await expectRejectedUnchanged(f, () => f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1"), { worker })), f.worker.address, "ERR_BAD_DESTINATION");
      }
    });

    it("an expired voucher pays 0: ERR_EXPIRED", async () => {
      await expectRejectedUnchanged(f, () => f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1"), { expiry: FIXED_NOW - 1 })), f.worker.address, "ERR_EXPIRED");
    });

    it("a voucher for a different vault does not verify: ERR_BAD_SIGNATURE", async () => {
      const other = await Vault.createFromConfig({ owner: f.owner.address, coordinatorKey: f.coordinator.publicKey, nonce: 1n });
      const v = signVoucher(f.coordinator.secretKey, other.address, { worker: f.worker.address, cumulative: toNano("1"), expiry: FIXED_NOW + 60 });
      await expectRejectedUnchanged(f, () => f.vault.sendRedeem(f.worker.getSender(), GAS, v), f.worker.address, "ERR_BAD_SIGNATURE");
    });

    it("even a valid signature cannot pay out more than was ever deposited: ERR_VAULT_INSOLVENT", async () => {
      await expectRejectedUnchanged(f, () => f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(DEPOSIT + 1n)), f.worker.address, "ERR_VAULT_INSOLVENT");
    });

    it("withdrawals and vouchers together never exceed deposits: ERR_VAULT_INSOLVENT", async () => {
      await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("4")));
      await expectRejectedUnchanged(f, () => f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("2"))), f.requester.address, "ERR_VAULT_INSOLVENT");
    });
  });
});

// ---------------------------------------------------------------- gas table
describe("gas table (contracts/gas.json; UPDATE_GAS=1 rewrites it)", () => {
  let measured: Record<string, number>;
  beforeAll(async () => {
    const f = await vaultFixture();
    measured = {};
    measured.deploy = gasOf(f, { transactions: f.deployTx } as SendMessageResult);
    measured.topUp = gasOf(f, await f.vault.sendTopUp(f.owner.getSender(), toNano("1")));
    measured.deposit = gasOf(f, await f.vault.sendDeposit(f.requester.getSender(), DEPOSIT, f.account));
    measured.depositComment = gasOf(f, await f.vault.sendDepositComment(f.requester.getSender(), DEPOSIT, f.account));
    measured.withdraw = gasOf(f, await f.vault.sendWithdraw(f.requester.getSender(), GAS, f.withdrawal(toNano("1"))));
    measured.redeemFirst = gasOf(f, await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("1"))));
    measured.redeemNext = gasOf(f, await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("2"))));
    measured.redeemReplayRejected = gasOf(f, await f.vault.sendRedeem(f.worker.getSender(), GAS, f.voucher(toNano("2"))));
    measured.unattributedBounce = gasOf(f, await f.vault.sendTopUp(f.stranger.getSender(), DEPOSIT));
    measured.setCoordinatorKey = gasOf(f, await f.vault.sendSetCoordinatorKey(f.owner.getSender(), GAS, seededKeyPair("k2").publicKey));
    if (process.env.UPDATE_GAS === "1") {
      writeFileSync(join(here, "gas.json"), JSON.stringify({ unit: "gas units (compute phase of the vault transaction)", ops: measured }, null, 2) + "\n");
    }
  });

  it("measured gas per operation equals the recorded table", () => {
    const recorded = JSON.parse(readFileSync(join(here, "gas.json"), "utf8")) as { ops: Record<string, number> };
    expect(measured).toEqual(recorded.ops);
  });
});
