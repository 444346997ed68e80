/**
 * A claim the vault refuses (insolvent) deploys the payout wallet and pays nothing, so nothing is
 * booked redeemed; the next Redeem to that address is not a first one: its payout wallet keeps no
 * storage reserve of it. The CLIs' fee warning (redeemDue) counted that reserve all the same.
 */
import { randomBytes } from "node:crypto";
import { Address, toNano } from "@ton/core";
import { describe, expect, it } from "vitest";
import { PAYOUT_WALLET_RESERVE, redeemDue, VAULT_MESSAGE_VALUE } from "../api-client/vault-messages";
import { vaultFixture } from "../contracts/fixtures";
import { payoutWalletActive } from "./payout-wallet";

describe("payoutWalletActive: a first Redeem is told by the payout wallet on chain, not by what is booked", () => {
  it("a claim the vault refused (insolvent) deployed it: the next Redeem keeps no reserve, and redeemDue then says not first", async () => {
    // Prepare: a vault holding 5 TON of deposits; two payout addresses nothing was ever paid to
    const f = await vaultFixture();
    await f.vault.sendDeposit(f.requester.getSender(), toNano("5"), f.account);
    const [refusedFirst, fresh] = [new Address(0, randomBytes(32)), new Address(0, randomBytes(32))];
    // one payee per address (its hash), each paid to that address
    const payee = (a: Address) => BigInt("0x" + a.hash.toString("hex"));
    const deployed = (a: Address) => payoutWalletActive(f.blockchain, { vault: f.vault.address.toString(), payee: a.hash.toString("hex") });
    const balance = async (a: Address) => (await f.blockchain.getContract(a)).balance;
    const before = await deployed(refusedFirst);

    // Act: a claim above what the vault holds (refused, insolvent), then a Redeem of 1 TON to
    // each address: after the refused claim, and a genuine first one
    await f.vault.sendRedeem(
      f.stranger.getSender(),
      VAULT_MESSAGE_VALUE,
      f.voucher(toNano("6"), { payee: payee(refusedFirst), to: refusedFirst }),
    );
    const afterRefused = await deployed(refusedFirst);
    const paidBefore = await balance(refusedFirst);
    await f.vault.sendRedeem(
      f.stranger.getSender(),
      VAULT_MESSAGE_VALUE,
      f.voucher(toNano("1"), { payee: payee(refusedFirst), to: refusedFirst }),
    );
    await f.vault.sendRedeem(f.stranger.getSender(), VAULT_MESSAGE_VALUE, f.voucher(toNano("1"), { payee: payee(fresh), to: fresh }));

    // Assess: the refused claim paid nothing but deployed the wallet; the Redeem after it received
    // exactly the reserve more than a first one, so it is no first Redeem
    expect([before, afterRefused, paidBefore]).toEqual([false, true, 0n]);
    expect((await balance(refusedFirst)) - (await balance(fresh))).toBe(PAYOUT_WALLET_RESERVE);
    expect(await deployed(fresh)).toBe(true);
    const toSend = { paid: "0", sendYourself: true, voucher: { cumulative: toNano("1").toString() } };
    expect(redeemDue(toSend, 0n, afterRefused)).toEqual({ due: toNano("1"), first: false });
    expect(redeemDue(toSend, 0n, before)).toEqual({ due: toNano("1"), first: true });
    expect(redeemDue(toSend, 0n)).toEqual({ due: toNano("1"), first: true }); // booked only: the reserve counted
  });
});
