/**
 * The signing half of the AWS deps: the payout voucher signer and the withdrawal signer (with
 * the vault's seqno getter through toncenter when COCOON_TON_ENDPOINT is set, issue 9 #3).
 * Only the routes that sign (POST /v1/agents/voucher, POST /v1/account/withdraw,
 * GET /v1/account/withdrawals/{seqno}) import this, through lambdaTonDeps. No @ton/* here
 * (issue 12): the cells are ton-cells.ts, the signatures node:crypto's, toncenter the runtime's
 * fetch; all checked against @ton/core and @ton/ton in their tests.
 */
import type { VoucherSigner } from "../../core/payouts";
import type { WithdrawalSigner } from "../../core/withdrawals";
import type { AwsConfig } from "../config";
import { parseTonAddress } from "./ton-cells";
import { toncenterWithdrawSeqno } from "./toncenter-seqno";
import { vaultVoucherSigner, vaultWithdrawalReads, vaultWithdrawalSigner } from "./vault-signers";

export function tonSigners(config: AwsConfig): { voucherSigner?: VoucherSigner; withdrawalSigner?: WithdrawalSigner } {
  const payouts = config.payouts;
  if (!payouts) return {};
  const seed = Buffer.from(payouts.coordinatorSeedHex, "hex");
  const vault = parseTonAddress(payouts.vaultAddress);
  return {
    voucherSigner: vaultVoucherSigner(seed, vault),
    // Requester withdrawals: the same key and vault (POST /v1/account/withdraw answers 503 without them),
    // and the vault's seqno getter through toncenter when COCOON_TON_ENDPOINT is set (issue 9 #3:
    // no seqno issued below the vault's, none released that the vault spent).
    withdrawalSigner: vaultWithdrawalSigner(seed, vault, payouts.ton ? toncenterWithdrawSeqno(payouts.ton, vault) : undefined),
  };
}

/**
 * GET /v1/account/withdrawals/{seqno}: releasing expired withdrawals reads the vault's seqno
 * getter and signs nothing, so it gets no coordinator key: a withdrawal "signer" that only reads
 * (its sign refuses). COCOON_VAULT_ADDRESS and COCOON_TON_ENDPOINT are validated by loadAwsConfig.
 * `env`: the function's environment with its secrets read (deps-ton.ts passes secrets.ts
 * loadLambdaEnv's, so a toncenter key held in SSM is the one sent).
 */
export function vaultSeqnoReader(env: Record<string, string | undefined> = process.env): { withdrawalSigner?: WithdrawalSigner } {
  if (!env.COCOON_VAULT_ADDRESS || !env.COCOON_TON_ENDPOINT) return {};
  const vault = parseTonAddress(env.COCOON_VAULT_ADDRESS);
  const ton = { endpoint: env.COCOON_TON_ENDPOINT, ...(env.COCOON_TON_API_KEY ? { apiKey: env.COCOON_TON_API_KEY } : {}) };
  return {
    withdrawalSigner: {
      ...vaultWithdrawalReads(vault, toncenterWithdrawSeqno(ton, vault)),
      sign: () => Promise.reject(new Error("this function holds no coordinator key: it reads the vault's seqno only")),
    },
  };
}
