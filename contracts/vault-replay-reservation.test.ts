/**
 * Review, session 22 (fixed; low): a spent withdrawal, replayed, was reserved in the vault's totals before its
 * account wallet refused it (ERR_BAD_SEQNO) and the bounce rolled it back. Meanwhile the
 * reservation counted against every other payout's solvency check: an account holding one spent,
 * unexpired withdrawal made another requester's genuine withdrawal fail (ERR_VAULT_INSOLVENT).
 */
import { expect, it } from "vitest";
import { internal as relaxed, toNano } from "@ton/core";
import { vaultFixture, seededKeyPair } from "./fixtures";
import { keyToUint, signWithdrawal, withdrawBody, VaultExit } from "./vault";

const GAS = toNano("0.05");

it("a replayed (spent) withdrawal in flight does not make another account's valid withdrawal fail", async () => {
  const f = await vaultFixture();
  const bob = seededKeyPair("bob");
  const bobAccount = keyToUint(bob.publicKey);
  const now = f.blockchain.now!;
  // the attacker deposits, withdraws everything: a spent but unexpired signed withdrawal
  await f.vault.sendDeposit(f.requester.getSender(), toNano("10"), f.account);
  const mine = signWithdrawal(f.coordinator.secretKey, f.vault.address, {
    account: f.account,
    to: f.requester.address,
    amount: toNano("9.975"),
    seqno: 0,
    expiry: now + 3600,
  });
  await f.vault.sendWithdraw(f.requester.getSender(), GAS, mine);
  // Bob deposits and asks for his money
  await f.vault.sendDeposit(f.stranger.getSender(), toNano("10"), bobAccount);
  const his = signWithdrawal(f.coordinator.secretKey, f.vault.address, {
    account: bobAccount,
    to: f.stranger.address,
    amount: toNano("9.975"),
    seqno: 0,
    expiry: now + 3600,
  });
  const before = await f.stranger.getBalance();
  // the attacker's replay reaches the vault just before Bob's withdrawal (one batch: both in flight together)
  const res = await f.worker.sendMessages([
    relaxed({ to: f.vault.address, value: GAS, body: withdrawBody(mine) }),
    relaxed({ to: f.vault.address, value: GAS, body: withdrawBody(his) }),
  ]);
  const got = (await f.stranger.getBalance()) - before;
  const bobTx = res.transactions.find(
    (t) =>
      t.description.type === "generic" &&
      t.description.computePhase.type === "vm" &&
      t.description.computePhase.exitCode === VaultExit.ERR_VAULT_INSOLVENT,
  );
  expect(bobTx, "no withdrawal refused ERR_VAULT_INSOLVENT").toBeUndefined();
  expect(got).toBeGreaterThan(toNano("9.9"));
});
