/**
 * Review, session 22 (fixed): the vault checked its balance for a withdrawal only in the first
 * transaction (Withdraw); the second (DebitApproved), which pays, had no check and could not
 * refuse (the wallet's approval was not bounceable). Two withdrawals in flight together both
 * passed the first check against the same balance; when the balance could not pay both, the
 * second payment failed in the action phase: the account wallet stayed debited (withdrawn +=
 * amount, seqno spent), the vault's totals kept the reservation, and nothing was paid, for good.
 * Now DebitApproved checks solvency where it pays and bounces to the wallet, which rolls back.
 */
import { expect, it } from "vitest";
import { internal as relaxed, toNano } from "@ton/core";
import { vaultFixture, seededKeyPair } from "./fixtures";
import { keyToUint, signWithdrawal, withdrawBody } from "./vault";

const GAS = toNano("0.05");

it("two withdrawals in flight on an under-collateralised vault: the one that cannot be paid is rolled back, not debited for nothing", async () => {
  const f = await vaultFixture();
  const bob = seededKeyPair("bob");
  const bobAccount = keyToUint(bob.publicKey);
  await f.vault.sendDeposit(f.requester.getSender(), toNano("10"), f.account);
  await f.vault.sendDeposit(f.stranger.getSender(), toNano("10"), bobAccount);
  const owed = (await f.vault.getTotals()).deposited; // 19.95 TON
  // the reserve is gone and 8 TON more (the documented "under-collateral from gas" premise)
  const vc = await f.blockchain.getContract(f.vault.address);
  vc.balance = owed - toNano("8");

  const now = f.blockchain.now!;
  const wa = signWithdrawal(f.coordinator.secretKey, f.vault.address, {
    account: f.account,
    to: f.requester.address,
    amount: toNano("9.975"),
    seqno: 0,
    expiry: now + 3600,
  });
  const wb = signWithdrawal(f.coordinator.secretKey, f.vault.address, {
    account: bobAccount,
    to: f.stranger.address,
    amount: toNano("9.975"),
    seqno: 0,
    expiry: now + 3600,
  });
  const bobBefore = await f.stranger.getBalance();
  // both land in the same block (anyone can send signed withdrawals; here one relayer sends both)
  await f.worker.sendMessages([
    relaxed({ to: f.vault.address, value: GAS, body: withdrawBody(wa) }),
    relaxed({ to: f.vault.address, value: GAS, body: withdrawBody(wb) }),
  ]);

  const bobPaid = (await f.stranger.getBalance()) - bobBefore;
  const bobWallet = await f.vault.getAccountBalance(bobAccount);
  const totals = await f.vault.getTotals();
  // the vault could pay one: Bob's came second, was refused and rolled back (wallet, seqno and totals)
  expect(bobPaid).toBeLessThan(toNano("0.1"));
  expect(bobWallet, "Bob's account wallet still holds what was not paid").toBe(toNano("9.975"));
  expect(await f.vault.getWithdrawSeqno(bobAccount), "the same signed withdrawal can be sent again").toBe(0);
  expect(totals.withdrawn, "the totals count only what was paid").toBe(toNano("9.975"));
  // and once the owner tops the vault up (the documented remedy), Bob can withdraw what he was not paid
  await f.vault.sendTopUp(f.owner.getSender(), toNano("20"));
  const again = signWithdrawal(f.coordinator.secretKey, f.vault.address, {
    account: bobAccount,
    to: f.stranger.address,
    amount: toNano("9.975"),
    seqno: await f.vault.getWithdrawSeqno(bobAccount),
    expiry: now + 3600,
  });
  const before2 = await f.stranger.getBalance();
  await f.vault.sendWithdraw(f.worker.getSender(), GAS, again);
  expect((await f.stranger.getBalance()) - before2 + bobPaid).toBeGreaterThanOrEqual(toNano("9.97"));
});
