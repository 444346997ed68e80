/**
 * The TON half of the AWS deps: the payout voucher signer and the withdrawal signer (with
 * the vault's seqno getter through toncenter when COCOON_TON_ENDPOINT is set, issue 9 #3).
 * Only the routes that sign (POST /v1/agents/voucher, POST /v1/account/withdraw,
 * GET /v1/account/withdrawals/{seqno}) import this, through lambdaTonDeps: @ton/* stays out
 * of every other bundle.
 */
import { Address } from "@ton/core";
import { keyPairFromSeed } from "@ton/crypto";
import type { VoucherSigner } from "../../core/payouts";
import type { WithdrawalSigner } from "../../core/withdrawals";
import type { AwsConfig } from "../config";
import { tonVoucherSigner } from "./ton-voucher-signer";
import { tonWithdrawalSigner } from "./ton-withdrawal-signer";
import { toncenterWithdrawSeqno } from "./ton-chain";

export function tonSigners(config: AwsConfig): { voucherSigner?: VoucherSigner; withdrawalSigner?: WithdrawalSigner } {
  const payouts = config.payouts;
  if (!payouts) return {};
  const secretKey = keyPairFromSeed(Buffer.from(payouts.coordinatorSeedHex, "hex")).secretKey;
  const vault = Address.parse(payouts.vaultAddress);
  return {
    voucherSigner: tonVoucherSigner(secretKey, vault),
    // Requester withdrawals: the same key and vault (POST /v1/account/withdraw answers 503 without them),
    // and the vault's seqno getter through toncenter when COCOON_TON_ENDPOINT is set (issue 9 #3:
    // no seqno issued below the vault's, none released that the vault spent).
    withdrawalSigner: tonWithdrawalSigner(secretKey, vault, payouts.ton ? toncenterWithdrawSeqno(payouts.ton, vault) : undefined),
  };
}
