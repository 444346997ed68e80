import { z } from "zod";
import { NanoTonString, SignatureBase64, TonAddress } from "./common";

// Module-level schemas are built in /* @__PURE__ */ IIFEs so that bundles drop unused ones (see events/api.ts).

/** POST /v1/agents/voucher */
export const VoucherRequest = /* @__PURE__ */ (() =>
  z.object({
    /** the worker's TON wallet (raw "0:<hex>" or user-friendly); bound by the first voucher */
    payoutAddress: z.string().min(3).max(100),
  }))();

/**
 * A coordinator-signed payout voucher: redeem it at the vault for cumulative − already paid.
 * The one voucher shape: the coordinator answers it, the agent parses it, the dev redeem route
 * takes it, and functions/adapters/ton-chain.ts turns it into the vault's Redeem message.
 */
export const Voucher = /* @__PURE__ */ (() =>
  z.object({
    /** the vault that pays it */
    vault: TonAddress,
    /**
     * who earned it on chain: 64 lowercase hex (core/chain/payee.ts payeeHex of the worker's or
     * the operator's id). The vault keeps what it paid per payee, so payees may share an address.
     */
    payee: z.string().regex(/^[0-9a-f]{64}$/),
    /** the payout address (the vault pays this wallet) */
    worker: TonAddress,
    /** everything vouchered to this payee so far, nanoTON */
    cumulative: NanoTonString,
    /** unix seconds (the vault stores 32 bits) */
    expiry: z.number().int().nonnegative().max(0xffff_ffff),
    signature: SignatureBase64,
  }))();
export type Voucher = z.infer<typeof Voucher>;

/**
 * GET /v1/operator/status: the operator's fees as GET /v1/agents/me shows a worker's earnings
 * (`earned`, `redeemed`), with where they are: the fee shards (`opr:fees:<k>`, not yet
 * vouchered), the vouchers issued, the bound payout address, and the fee a job submitted now pays.
 */
export const OperatorStatusView = /* @__PURE__ */ (() =>
  z.object({
    /** every operator fee ever settled: not yet vouchered + vouchered */
    earned: NanoTonString,
    /** paid out by the vault to `payoutAddress`, as the chain watcher recorded it */
    redeemed: NanoTonString,
    /** settled and not yet vouchered: the sum of `shards` */
    available: NanoTonString,
    /** each fee shard's available, index k = `opr:fees:<k>` (a worker's settlements credit shard FNV-1a(workerId) mod 16) */
    shards: z.array(NanoTonString).length(16),
    /** the cumulative amount of the latest voucher: every fee moved to vouchers so far */
    vouchered: NanoTonString,
    /** the wallet the vouchers pay, bound by the first one; absent until then */
    payoutAddress: TonAddress.optional(),
    /** the operator fee a job submitted now is settled with (a job keeps the fee of its submit) */
    fee: z.object({
      /** share of each job's cost, in bps; null: the policy registry could not be read freshly (no job is accepted until it can) */
      bps: z.number().int().min(0).max(10_000).nullable(),
      /** the policy registry's fees (`registryVersion`: its policy's version), or the coordinator's own config where it has no registry */
      source: z.enum(["registry", "config"]),
      registryVersion: z.number().int().nonnegative().optional(),
    }),
  }))();
export type OperatorStatusView = z.infer<typeof OperatorStatusView>;

// DEV ONLY (local default's sandbox chain)
export const DevWalletView = /* @__PURE__ */ (() => z.object({ address: TonAddress, balance: NanoTonString, vault: TonAddress }))();
/** amount: what was paid into the vault; credited: what the vault credits the account (amount less its deposit fee) */
export const DevDepositView = /* @__PURE__ */ (() =>
  z.object({
    txHash: z.string(),
    vault: TonAddress,
    amount: NanoTonString,
    credited: NanoTonString,
    account: z.string(),
  }))();
export const DevRedeemRequest = /* @__PURE__ */ (() => z.object({ voucher: Voucher }))();
export const DevRedeemView = /* @__PURE__ */ (() =>
  z.object({ txHash: z.string(), paid: NanoTonString, worker: TonAddress, cumulative: NanoTonString }))();
