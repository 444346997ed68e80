/**
 * DEV ONLY: the local default's TON sandbox lives inside the coordinator process (npm start),
 * so CLIs reach its test wallets through these routes. They answer 403 `dev_chain_disabled`
 * on any network without a local sandbox chain (every deployment).
 *
 *   GET  /v1/dev/wallet           the caller's sandbox wallet (payout address for workers)
 *   POST /v1/dev/wallet/deposit   pay {amount} nanoTON from the local test requester wallet
 *                                 into the vault, tagged with the caller's account; the chain
 *                                 watcher credits it (poll GET /v1/account)
 *   POST /v1/dev/wallet/redeem    send {voucher}'s Redeem from the caller's sandbox wallet; the
 *                                 watcher records the payout (poll GET /v1/agents/me)
 *   POST /v1/dev/wallet/withdraw  send {withdrawal} (POST /v1/account/withdraw) to the vault from
 *                                 the caller's sandbox wallet; the watcher records the payout
 *   POST /v1/account/faucet       (local replacement of the ledger faucet) a deposit from the
 *                                 sandbox faucet wallet, credited by the watcher before answering,
 *                                 so the ledger never holds money the vault does not
 */
import { DevDepositView, DevRedeemRequest, DevRedeemView, DevWalletView, type Voucher } from "../../events/money";
import { DevWithdrawRequest, DevWithdrawView, type SignedWithdrawalView } from "../../events/withdrawals";
import { BalanceView, FaucetRequest } from "../../events/api";
import type { CoreDeps } from "../../core/deps";
import { CocoonError } from "../../core/errors";
import { getAccount } from "../../core/jobs/read";
import { ConditionFailedError } from "../../core/ports";
import { formatTon } from "../../api-client/format";
import { defineRoute, OptionalIdempotencyHeaders } from "./middleware";

export interface DevChainSend {
  /**
   * the vault's last transaction of the operation (hex), the one the chain watcher books or
   * reports: a deposit's credit (with its log), a payment, or the refusal. (A deposit, withdrawal
   * or redemption spans two vault transactions around the account's or worker's wallet.)
   */
  txHash: string;
  success: boolean;
  /** the exit code by name (ERR_...) when the vault or the account's / worker's wallet refused */
  error?: string;
}

/** The local sandbox chain as the dev routes see it (local/network.ts implements it). */
export interface DevChain {
  vault: string;
  /** minimum deposit the vault accepts, nanoTON */
  minDeposit: bigint;
  /**
   * what the vault keeps of every deposit, nanoTON (DEPOSIT_FEE, contracts/README.md): the
   * account is credited the amount less this; absent: a chain that keeps nothing
   */
  depositFee?: bigint;
  /** the sandbox wallet that belongs to this key id (created and funded on first use) */
  walletOf(owner: string): Promise<{ address: string; balance: bigint }>;
  /** pay from the local test requester wallet ("requester") or the faucet wallet ("faucet") */
  deposit(accountId: string, amount: bigint, from: "requester" | "faucet"): Promise<DevChainSend>;
  /** send a Redeem for `voucher` from `owner`'s sandbox wallet */
  redeem(owner: string, voucher: Voucher): Promise<DevChainSend & { paid: bigint }>;
  /** send a signed withdrawal's Withdraw from `owner`'s sandbox wallet */
  withdraw(owner: string, withdrawal: SignedWithdrawalView): Promise<DevChainSend>;
  vaultBalance(): Promise<bigint>;
  /** run one chain watcher pass now (after any pass in progress) */
  sync(): Promise<void>;
}

export interface DevChainDeps {
  devChain?: DevChain;
}

const MAX_DEPOSIT = 1_000_000_000_000n; // 1,000 sandbox TON per call

function devChainOf(deps: CoreDeps): DevChain {
  const chain = (deps as CoreDeps & DevChainDeps).devChain;
  if (!chain)
    throw new CocoonError(
      403,
      "dev_chain_disabled",
      "this network has no local TON sandbox: dev wallet routes exist only in the local default (npm start); deposit real TON to the vault instead",
    );
  return chain;
}

function checkAmount(chain: DevChain, amount: bigint) {
  if (amount < chain.minDeposit || amount > MAX_DEPOSIT) {
    throw new CocoonError(
      400,
      "invalid_amount",
      // in TON too: the CLI takes TON (cocoon deposit 0.05) and a bare nanoTON figure reads as a different unit
      `amount must be between ${chain.minDeposit} nanoTON (${formatTon(chain.minDeposit)}, the vault's minimum deposit) and ${MAX_DEPOSIT} nanoTON (${formatTon(MAX_DEPOSIT)}), got ${amount} (${formatTon(amount)})`,
    );
  }
}

export const walletRoute = defineRoute(
  {
    method: "GET",
    path: "/v1/dev/wallet",
    summary: "DEV ONLY: the caller's wallet on the local TON sandbox",
    auth: "signed",
    response: DevWalletView,
  },
  async ({ deps, caller }) => {
    const chain = devChainOf(deps);
    const w = await chain.walletOf(caller);
    return { address: w.address, balance: w.balance.toString(), vault: chain.vault };
  },
);

export const depositRoute = defineRoute(
  {
    method: "POST",
    path: "/v1/dev/wallet/deposit",
    summary: "DEV ONLY: pay nanoTON from the local test requester wallet into the vault for the caller; the chain watcher credits it",
    auth: "signed",
    body: FaucetRequest,
    response: DevDepositView,
    status: 202,
  },
  async ({ deps, caller, body }) => {
    const chain = devChainOf(deps);
    checkAmount(chain, body.amount);
    const r = await chain.deposit(caller, body.amount, "requester");
    if (!r.success)
      throw new CocoonError(
        409,
        "deposit_rejected",
        `the vault refused the deposit (${r.error}); it was sent back; transaction ${r.txHash}`,
        { txHash: r.txHash, exit: r.error },
      );
    deps.log.info("dev deposit sent", { account: caller, amount: body.amount.toString(), txHash: r.txHash });
    const credited = body.amount - (chain.depositFee ?? 0n); // checkAmount: at least the minimum deposit, above the fee
    return { txHash: r.txHash, vault: chain.vault, amount: body.amount.toString(), credited: credited.toString(), account: caller };
  },
);

export const redeemRoute = defineRoute(
  {
    method: "POST",
    path: "/v1/dev/wallet/redeem",
    summary: "DEV ONLY: send a voucher's Redeem to the vault from the caller's sandbox wallet",
    auth: "signed",
    body: DevRedeemRequest,
    response: DevRedeemView,
  },
  async ({ deps, caller, body }) => {
    const chain = devChainOf(deps);
    if (body.voucher.vault !== chain.vault)
      throw new CocoonError(400, "wrong_vault", `this voucher is for vault ${body.voucher.vault}, the local vault is ${chain.vault}`);
    const r = await chain.redeem(caller, body.voucher);
    if (!r.success) {
      throw new CocoonError(
        409,
        "redeem_rejected",
        `the vault refused the voucher (${r.error}): nothing was paid; transaction ${r.txHash}`,
        { txHash: r.txHash, exit: r.error },
      );
    }
    deps.log.info("dev redeem sent", { workerId: caller, txHash: r.txHash, paid: r.paid.toString() });
    return { txHash: r.txHash, paid: r.paid.toString(), worker: body.voucher.worker, cumulative: body.voucher.cumulative };
  },
);

export const withdrawRoute = defineRoute(
  {
    method: "POST",
    path: "/v1/dev/wallet/withdraw",
    summary: "DEV ONLY: send a signed withdrawal to the vault from the caller's sandbox wallet",
    auth: "signed",
    body: DevWithdrawRequest,
    response: DevWithdrawView,
  },
  async ({ deps, caller, body }) => {
    const chain = devChainOf(deps);
    const w = body.withdrawal;
    if (w.vault !== chain.vault)
      throw new CocoonError(400, "wrong_vault", `this withdrawal is for vault ${w.vault}, the local vault is ${chain.vault}`);
    const r = await chain.withdraw(caller, w);
    if (!r.success) {
      throw new CocoonError(
        409,
        "withdraw_rejected",
        `the vault refused the withdrawal (${r.error}): nothing was paid; transaction ${r.txHash}`,
        { txHash: r.txHash, exit: r.error },
      );
    }
    deps.log.info("dev withdraw sent", { account: w.account, seqno: w.seqno, txHash: r.txHash, amount: w.amount });
    return { txHash: r.txHash, account: w.account, to: w.to, amount: w.amount, seqno: w.seqno };
  },
);

/** How long a faucet claim may stay "sending" before a retry takes it over (a deposit takes well under a second). */
const FAUCET_SENDING_MS = 30_000;

/**
 * Claims a faucet Idempotency-Key in two phases, so a kill -9 at any point recovers: the claim is
 * put "sending" before the deposit and marked "sent" after it. A retry finds "sent": nothing more
 * to deposit ("done"). A retry finds "sending": the first request is still depositing (409), or,
 * once FAUCET_SENDING_MS has passed, it died before its mark and the retry takes the claim over
 * and deposits (both answer the time of the claim they hold, which the deposit's failure frees only
 * while it is still theirs). A kill between a deposit landing and its mark deposits twice on the
 * retry: both real sandbox deposits, both credited (dev play money; value is conserved), where a
 * one-phase claim left the key answering for good with nothing credited.
 */
async function claimFaucetKey(deps: CoreDeps, pk: string): Promise<{ claimedAt: number } | "done"> {
  const key = { pk, sk: "claim" };
  const now = deps.clock.now();
  try {
    await deps.store.transact([{ op: "put", table: "chain", item: { ...key, state: "sending", at: now }, when: { kind: "notExists" } }]);
    return { claimedAt: now };
  } catch (e) {
    if (!(e instanceof ConditionFailedError)) throw e;
  }
  const held = await deps.store.get<{ pk: string; sk: string; state?: string; at?: number }>("chain", key);
  // no state: a claim written before the two phases, whose deposit went out with it
  if (!held || held.state !== "sending") return "done";
  const at = held.at ?? 0;
  if (now - at < FAUCET_SENDING_MS)
    throw new CocoonError(409, "faucet_in_progress", "a faucet deposit under this Idempotency-Key is being sent: retry in a few seconds", {
      retryAfterSeconds: Math.ceil((at + FAUCET_SENDING_MS - now) / 1000),
    });
  try {
    await deps.store.transact([
      { op: "update", table: "chain", key, set: { at: now }, when: { kind: "cmp", attr: "at", op: "=", value: at } },
    ]);
    return { claimedAt: now };
  } catch (e) {
    if (!(e instanceof ConditionFailedError)) throw e;
    throw new CocoonError(
      409,
      "faucet_in_progress",
      "another retry under this Idempotency-Key took the faucet deposit over: retry in a few seconds",
    );
  }
}

/**
 * The local default's faucet: a real sandbox deposit from the faucet wallet, credited by the
 * chain watcher before it answers (so callers can spend right away, as with the ledger faucet).
 * The faucet wallet also pays the vault's deposit fee, so the caller is credited `amount` exactly.
 * Idempotency-Key (else the request's signed nonce): the same key for the same caller deposits once.
 */
export const chainFaucetRoute = defineRoute(
  {
    method: "POST",
    path: "/v1/account/faucet",
    summary: "DEV ONLY: deposit sandbox TON into the vault for the caller (local default)",
    auth: "signed",
    replay: "idempotent",
    body: FaucetRequest,
    headers: OptionalIdempotencyHeaders,
    response: BalanceView,
  },
  async ({ deps, caller, requestNonce, body, headers }) => {
    const chain = devChainOf(deps);
    checkAmount(chain, body.amount);
    // Keyed by the Idempotency-Key, else by the signed request's own nonce: a replay deposits nothing (issue 9 #10).
    const key = headers["idempotency-key"] ?? (requestNonce ? `n:${requestNonce}` : undefined);
    const claim = key ? await claimFaucetKey(deps, `faucet:${caller}:${key}`) : undefined;
    if (claim !== "done") {
      const claimKey = { pk: `faucet:${caller}:${key}`, sk: "claim" };
      let sent: DevChainSend;
      try {
        sent = await chain.deposit(caller, body.amount + (chain.depositFee ?? 0n), "faucet");
        if (!sent.success)
          throw new CocoonError(409, "deposit_rejected", `the vault refused the faucet deposit (${sent.error})`, {
            txHash: sent.txHash,
            exit: sent.error,
          });
      } catch (e) {
        // nothing reached the vault: free the key so a retry deposits, only while the claim is still
        // ours (a retry that took it over after FAUCET_SENDING_MS may have deposited and marked it sent)
        if (claim)
          await deps.store
            .transact([{ op: "delete", table: "chain", key: claimKey, when: { kind: "cmp", attr: "at", op: "=", value: claim.claimedAt } }])
            .catch(() => undefined);
        throw e;
      }
      if (key) await deps.store.transact([{ op: "update", table: "chain", key: claimKey, set: { state: "sent", txHash: sent.txHash } }]);
    }
    await chain.sync();
    return getAccount(deps, caller);
  },
);
