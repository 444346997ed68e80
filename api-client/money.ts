/**
 * Money flows that span the API and the chain, each a few calls and a wait for the chain
 * watcher: deposit (requester), withdraw (requester), redeem earnings (worker) and fees (the operator). Shared by the
 * `cocoon` and `cocoon-agent` CLIs and the local demo (local/main.ts). Amounts are nanoTON
 * bigints in, the API's decimal strings out.
 */
import { randomUUID } from "node:crypto";
import type { z } from "zod";
import type { WorkerStatusView } from "../events/api";
import type { Voucher } from "../events/money";
import type { SignedWithdrawalView, WithdrawalStatusView } from "../events/withdrawals";
import { API, ApiClient, ApiError } from "./api";

export interface WaitOptions {
  /** give up after this long (default 30 s) */
  timeoutMs?: number;
  /** between two reads (default 200 ms) */
  pollMs?: number;
  /** told what is being waited for, before each wait starts (the CLIs show it) */
  onWait?: (what: string) => void;
}

/**
 * Polls `check` until it returns a value; past the deadline throws what `timeout` makes. A read
 * refused 429 is "not yet" (session 42 review: GET /v1/agents/me takes a per-worker bucket, and
 * an agent's own redeem, its owner's `cocoon-agent redeem` and a `status` loop together could
 * drain it: a redeem already paid on chain then ended in an error).
 */
async function waitFor<T>(check: () => Promise<T | undefined>, o: WaitOptions, timeout: (seconds: number) => ApiError): Promise<T> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch((e: unknown) => {
      if (e instanceof ApiError && e.status === 429) return undefined;
      throw e;
    });
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw timeout(Math.round(timeoutMs / 1000));
    await new Promise((r) => setTimeout(r, o.pollMs ?? 200));
  }
}

export interface DepositOutcome {
  txHash: string;
  vault: string;
  /** paid into the vault */
  amount: string;
  /** credited to the account: amount less the vault's deposit fee */
  credited: string;
  /** the account credited */
  account: string;
  before: string;
  available: string;
  held: string;
}

/**
 * Local default: pay `amount` nanoTON from the sandbox test requester wallet into the vault
 * (POST /v1/dev/wallet/deposit), then poll GET /v1/account until the chain watcher credited it
 * (amount less the vault's deposit fee: `credited`): until available + held + reserved grew by it.
 */
export async function depositAndWait(api: ApiClient, amount: bigint, o: WaitOptions = {}): Promise<DepositOutcome> {
  // Everything the account holds: a withdrawal signed during the wait moves available to reserved.
  const total = (b: { available: string; held: string; reserved: string }) => BigInt(b.available) + BigInt(b.held) + BigInt(b.reserved);
  const b0 = await api.request(API.account);
  const before = total(b0);
  const sent = await api.request(API.devDeposit, { body: { amount } });
  o.onWait?.(`deposit ${sent.txHash.slice(0, 12)}… sent; waiting for the chain watcher to credit it`);
  const b = await waitFor(
    async () => {
      const b = await api.request(API.account);
      return total(b) >= before + BigInt(sent.credited) ? b : undefined;
    },
    o,
    (s) =>
      new ApiError(
        0,
        "deposit_not_credited",
        `deposit ${sent.txHash} is on chain but the chain watcher has not credited it within ${s} s; check the coordinator's log (COCOON_LOG=1)`,
      ),
  );
  return { ...sent, before: before.toString(), available: b.available, held: b.held };
}

export interface WithdrawOutcome {
  withdrawal: SignedWithdrawalView;
  /** false: not sent (no local sandbox); send `withdrawal` to the vault yourself */
  sent: boolean;
  txHash?: string;
  status: z.output<typeof WithdrawalStatusView>["status"];
  available: string;
}

/** A fresh Idempotency-Key for one withdrawal: keep it until that withdrawal is settled, and send it with every retry of it. */
export const newWithdrawalKey = (): string => `withdraw-${randomUUID()}`;

/**
 * The withdrawal request got no answer, or a server error: it may have been reserved (and taken
 * the account's next seqno). Asked for again under the same key it is answered, not reserved
 * twice; under a new key it would lock both amounts (client/commands/withdraw.ts says why).
 */
export class WithdrawalUnconfirmedError extends ApiError {
  constructor(
    readonly idempotencyKey: string,
    cause: unknown,
  ) {
    super(
      0,
      "withdrawal_unconfirmed",
      `no answer to the withdrawal request (${cause instanceof Error ? cause.message : String(cause)}); it may have been reserved: ` +
        `retry with the same idempotencyKey (${idempotencyKey}), never a new one`,
      { idempotencyKey },
    );
  }
}

/**
 * Where a withdrawal goes and who sends it: `to`, else the caller's sandbox wallet where the
 * network has one (GET /v1/dev/wallet; `wallet` set: it sends the Withdraw), else missing_address.
 */
export async function withdrawalDestination(api: ApiClient, to?: string): Promise<{ wallet?: { address: string }; to: string }> {
  let wallet: { address: string } | undefined;
  try {
    wallet = await api.request(API.devWallet);
  } catch (e) {
    if (!(e instanceof ApiError && e.code === "dev_chain_disabled")) throw e;
  }
  const dest = to ?? wallet?.address;
  if (!dest)
    throw new ApiError(0, "missing_address", "this network has no local TON sandbox wallet: say where to send the TON with --to ADDRESS");
  return { ...(wallet ? { wallet } : {}), to: dest };
}

/**
 * Ask for a signed withdrawal (POST /v1/account/withdraw). With the local sandbox
 * (GET /v1/dev/wallet answers), send it from the caller's sandbox wallet
 * (POST /v1/dev/wallet/withdraw) — `to` defaults to that wallet — and poll
 * GET /v1/account/withdrawals/{seqno} until the chain watcher recorded it as landed.
 *
 * `idempotencyKey`: the same withdrawal as an earlier call whose answer was lost (its
 * WithdrawalUnconfirmedError names the key); without it a new withdrawal. Keeping the key across
 * a crash is the caller's part: `cocoon withdraw` writes it beside the key file
 * (client/commands/withdraw.ts).
 */
export async function withdrawAndWait(
  api: ApiClient,
  amount: bigint,
  o: WaitOptions & { to?: string; idempotencyKey?: string } = {},
): Promise<WithdrawOutcome> {
  const { wallet, to } = await withdrawalDestination(api, o.to);
  const idempotencyKey = o.idempotencyKey ?? newWithdrawalKey();
  let w: SignedWithdrawalView;
  try {
    w = await api.request(API.withdraw, { body: { amount, to }, headers: { "idempotency-key": idempotencyKey } });
  } catch (e) {
    // A refusal (4xx) reserved nothing; anything else may have: the caller needs the key to ask again.
    if (e instanceof ApiError && e.status >= 400 && e.status < 500) throw e;
    throw new WithdrawalUnconfirmedError(idempotencyKey, e);
  }
  const balance = async () => (await api.request(API.account)).available;
  if (!wallet) return { withdrawal: w, sent: false, status: "pending", available: await balance() };
  const sent = await api.request(API.devWithdraw, { body: { withdrawal: w } });
  o.onWait?.(`withdrawal ${sent.txHash.slice(0, 12)}… sent; waiting for the chain watcher to record it`);
  const status = await waitFor(
    async () => {
      const st = await api.request(API.withdrawalStatus, { params: { seqno: w.seqno } });
      return st.status !== "pending" ? st.status : undefined;
    },
    o,
    (s) =>
      new ApiError(
        0,
        "withdrawal_not_recorded",
        `withdrawal ${sent.txHash} is on chain but the chain watcher has not recorded it within ${s} s; check the coordinator's log (COCOON_LOG=1)`,
      ),
  );
  return { withdrawal: w, sent: true, txHash: sent.txHash, status, available: await balance() };
}

export type WorkerStatus = z.output<typeof WorkerStatusView>;

export interface RedeemOutcome {
  voucher: Voucher;
  /** the Redeem transaction on the local sandbox (absent when only the voucher was fetched) */
  txHash?: string;
  /** nanoTON the vault paid this time */
  paid: string;
  /** no local sandbox: send `voucher` to the vault yourself (Redeem message, contracts/README.md) */
  sendYourself?: boolean;
  status: WorkerStatus;
}

/**
 * Where a voucher pays: `payoutAddress`, else the caller's sandbox wallet (local default), else
 * 400 payout_address_required (there is no wallet of the caller's to default to).
 */
async function payoutAddressOf(api: ApiClient, payoutAddress: string | undefined): Promise<string> {
  if (payoutAddress) return payoutAddress;
  try {
    return (await api.request(API.devWallet)).address;
  } catch (e) {
    if (e instanceof ApiError && e.code === "dev_chain_disabled") {
      throw new ApiError(
        400,
        "payout_address_required",
        "this network has no local sandbox wallet for you: pass --payout-address with your TON wallet address",
      );
    }
    throw e;
  }
}

/**
 * Local default: send `voucher`'s Redeem to the vault from the caller's sandbox wallet
 * (POST /v1/dev/wallet/redeem). Undefined where the network has no sandbox: the payee sends it.
 */
async function sendRedeem(api: ApiClient, voucher: Voucher): Promise<{ txHash: string; paid: string } | undefined> {
  try {
    return await api.request(API.devRedeem, { body: { voucher } });
  } catch (e) {
    if (e instanceof ApiError && e.code === "dev_chain_disabled") return undefined;
    throw e;
  }
}

/**
 * Voucher for everything earned (POST /v1/agents/voucher); with `send` (local default) the
 * Redeem goes from this worker's sandbox wallet (POST /v1/dev/wallet/redeem) and we wait until
 * the chain watcher recorded it (GET /v1/agents/me shows it redeemed).
 */
export async function redeemEarnings(
  api: ApiClient,
  o: WaitOptions & {
    payoutAddress?: string;
    send?: boolean;
    /** issue 15: throws to stop here, before anything is sent (the agent: the voucher must be signed by the registry's coordinator key) */
    checkVoucher?: (v: Voucher) => Promise<void>;
  } = {},
): Promise<RedeemOutcome> {
  const voucher = await api.request(API.issueVoucher, { body: { payoutAddress: await payoutAddressOf(api, o.payoutAddress) } });
  await o.checkVoucher?.(voucher);
  const status0 = await api.request(API.workerStatus);
  if (o.send === false) return { voucher, paid: "0", status: status0 };
  if (BigInt(status0.redeemed) >= BigInt(voucher.cumulative)) return { voucher, paid: "0", status: status0 }; // all paid already
  const sent = await sendRedeem(api, voucher);
  if (!sent) return { voucher, paid: "0", status: status0, sendYourself: true };
  o.onWait?.(`redeem ${sent.txHash.slice(0, 12)}… paid ${sent.paid} nanoTON; waiting for the chain watcher to record it`);
  const status = await waitFor(
    async () => {
      const s = await api.request(API.workerStatus);
      return BigInt(s.redeemed) >= BigInt(voucher.cumulative) ? s : undefined;
    },
    o,
    (s) =>
      new ApiError(
        0,
        "redeem_not_recorded",
        `redeem ${sent.txHash} paid ${sent.paid} nanoTON on chain but the chain watcher has not recorded it within ${s} s`,
      ),
  );
  return { voucher, txHash: sent.txHash, paid: sent.paid, status };
}

export interface OperatorRedeemOutcome {
  voucher: Voucher;
  /** the Redeem transaction on the local sandbox (absent when only the voucher was fetched, or nothing was paid) */
  txHash?: string;
  /** nanoTON the vault paid this time */
  paid: string;
  /** no local sandbox: send `voucher` to the vault yourself (Redeem message, contracts/README.md) */
  sendYourself?: boolean;
  /** the vault had paid this cumulative already (it refused the Redeem with ERR_NOTHING_TO_PAY): nothing new to pay */
  alreadyPaid?: boolean;
}

/**
 * The operator's fees, as redeemEarnings pays a worker's (the same payout address default and
 * the same send): a voucher for every fee so far (POST /v1/operator/voucher, the operator's key
 * only); with `send` (local default) its Redeem goes from the operator's sandbox wallet. No wait
 * for the chain watcher: the operator has no status route to read its redeemed total from (the
 * vault's answer is the payment; the watcher books it on its next pass). A voucher the vault had
 * paid already is `alreadyPaid`, not an error: the coordinator issues the same cumulative again
 * until new fees settle, and the vault refuses to pay it twice.
 */
export async function redeemOperatorFees(
  api: ApiClient,
  o: { payoutAddress?: string; send?: boolean } = {},
): Promise<OperatorRedeemOutcome> {
  const voucher = await api.request(API.issueOperatorVoucher, { body: { payoutAddress: await payoutAddressOf(api, o.payoutAddress) } });
  if (o.send === false) return { voucher, paid: "0" };
  let sent;
  try {
    sent = await sendRedeem(api, voucher);
  } catch (e) {
    if (
      e instanceof ApiError &&
      e.code === "redeem_rejected" &&
      (e.details as { exit?: unknown } | undefined)?.exit === "ERR_NOTHING_TO_PAY"
    )
      return { voucher, paid: "0", alreadyPaid: true };
    throw e;
  }
  if (!sent) return { voucher, paid: "0", sendYourself: true };
  return { voucher, txHash: sent.txHash, paid: sent.paid };
}
