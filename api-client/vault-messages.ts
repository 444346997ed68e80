/**
 * A signed withdrawal or worker voucher as the message a TON wallet sends to the vault, for
 * networks where cocoon cannot send it (no local sandbox): the body as a BOC, the TON to attach,
 * and a `ton://transfer` link that opens the wallet with all three filled in (Tonkeeper, Tonhub,
 * MyTonWallet: `bin` is the body, url-encoded base64). Without this a requester or a GPU owner
 * was handed JSON and "send it in a Withdraw message", which no wallet takes.
 *
 * The bodies are the vault's Withdraw and Redeem as its Tact bindings store them
 * (contracts/build/Vault_Vault.ts storeWithdraw / storeRedeem), written with @ton/core alone so
 * that the client package and the agent bundle carry no contract bindings;
 * api-client/vault-messages.test.ts checks them byte for byte against contracts/vault.ts.
 */
import { Address, beginCell, type Cell } from "@ton/core";
import { formatTon } from "./format";
import { accountIdToUint } from "../core/chain/account";
import { payeeHexToUint } from "../core/chain/payee";
import type { Voucher } from "../events/money";
import type { SignedWithdrawalView } from "../events/withdrawals";

/** The vault's opcodes (contracts/vault.ts OPCODES). */
const OP_WITHDRAW = 0x6b1f0c02;
const OP_REDEEM = 0x6b1f0c03;

/**
 * TON a wallet attaches to a Withdraw or Redeem for the three transactions it starts (the vault
 * refuses less: ERR_LOW_VALUE, ≈ 0.017 TON); what is left over travels on with the payment.
 * The coordinator's own sends attach the same (WITHDRAW_GAS, REDEEM_GAS in
 * functions/adapters/ton-chain.ts, kept equal by the tests).
 */
export const VAULT_MESSAGE_VALUE = 50_000_000n;

export interface VaultMessage {
  /** the vault (bounceable, url-safe) */
  to: string;
  /** nanoTON to attach */
  amount: string;
  /** the message body, a BOC in base64 (for wallets or tools that take a raw payload) */
  body: string;
  /** ton://transfer/<vault>?amount=…&bin=… */
  link: string;
}

function message(vault: string, body: Cell): VaultMessage {
  const to = Address.parse(vault).toString({ urlSafe: true, bounceable: true });
  const boc = body.toBoc().toString("base64");
  return {
    to,
    amount: VAULT_MESSAGE_VALUE.toString(),
    body: boc,
    link: `ton://transfer/${to}?amount=${VAULT_MESSAGE_VALUE}&bin=${encodeURIComponent(boc)}`,
  };
}

/** How to send `m`, two lines for a CLI: the link to open in a wallet, or the parts for any other. */
export const vaultMessageLines = (m: VaultMessage): string[] => [
  `  open in your wallet: ${m.link}`,
  `  or send ${formatTon(m.amount)} to ${m.to} with this body (a BOC, base64): ${m.body}`,
];

/** A requester's signed withdrawal (POST /v1/account/withdraw) as its Withdraw message. */
export function withdrawMessage(w: SignedWithdrawalView): VaultMessage {
  const body = beginCell()
    .storeUint(OP_WITHDRAW, 32)
    .storeUint(accountIdToUint(w.account), 256)
    .storeCoins(BigInt(w.amount))
    .storeAddress(Address.parse(w.to))
    .storeUint(w.seqno, 32)
    .storeUint(w.expiry, 32)
    .storeRef(beginCell().storeBuffer(Buffer.from(w.signature, "base64")).endCell())
    .endCell();
  return message(w.vault, body);
}

/** A payee's voucher (POST /v1/agent/voucher, the operator's) as its Redeem message (vault v2: payee, to, …, ref(signature)). */
export function redeemMessage(v: Voucher): VaultMessage {
  const body = beginCell()
    .storeUint(OP_REDEEM, 32)
    .storeUint(payeeHexToUint(v.payee), 256)
    .storeAddress(Address.parse(v.worker))
    .storeCoins(BigInt(v.cumulative))
    .storeUint(v.expiry, 32)
    .storeRef(beginCell().storeBuffer(Buffer.from(v.signature, "base64")).endCell())
    .endCell();
  return message(v.vault, body);
}

/**
 * How to have a voucher paid from a wallet of one's own, for a CLI (cocoon-agent redeem and
 * cocoon operator, where they cannot send it): who may send it, what the vault pays, the
 * message's lines and the voucher itself.
 */
export function redeemInstructions(v: Voucher, m: VaultMessage = redeemMessage(v)): string {
  return (
    `Send its Redeem message to the vault from any TON wallet (anyone may send it; the vault pays ${v.worker} the difference to what it already paid, and what is left of the ${formatTon(m.amount)} attached for gas travels on with the payment):\n` +
    vaultMessageLines(m).join("\n") +
    "\n" +
    `  the voucher: ${JSON.stringify(v)}`
  );
}

/**
 * What the vault's Redeem costs in network fees, nanoTON (contracts/gas.json, redeemFirst and
 * redeemNext: ≈ 0.0107 TON; api-client/redeem-fee.test.ts keeps the two equal). It is taken from
 * the gas attached (VAULT_MESSAGE_VALUE), so the payee receives what is due less this.
 */
export const REDEEM_FEES = 10_725_316n;

/**
 * What the payout wallet keeps of the first Redeem to an address, nanoTON: that Redeem deploys it,
 * and its nativeReserve keeps WALLET_STORAGE (contracts/vault.tact, PayoutWallet) for its storage
 * out of the value that travels on to the payee. Later Redeems find it there (contracts/README.md,
 * gas table: "+ 0.002 wallet reserve" on the first redeem only).
 */
export const PAYOUT_WALLET_RESERVE = 2_000_000n;

/**
 * What the sender's own wallet pays to send the Redeem (the external message's import, its gas,
 * the forward fee of the Redeem), nanoTON: a deployed wallet v5r1's transaction, the default of
 * today's wallet apps, measured in @ton/sandbox (api-client/redeem-fee.test.ts; a v4's is ≈ 0.0031
 * TON), plus the wallet's storage rent since its last transaction (≈ 0.000001 TON an hour).
 * Not part of REDEEM_FEES, which counts the vault's transactions only.
 */
export const REDEEM_SENDER_FEE = 4_152_400n;

/** What one Redeem costs in all, nanoTON: the vault's network fees, the sending wallet's, and on a first Redeem the payout wallet's reserve. */
export const redeemCost = (first: boolean): bigint => REDEEM_FEES + REDEEM_SENDER_FEE + (first ? PAYOUT_WALLET_RESERVE : 0n);

/**
 * What a Redeem pays (or paid), and whether it is the first to its payout address (it then deploys
 * the payout wallet): the vault's payment where it was sent (first when the vault paid the whole
 * cumulative); for one to send, the voucher's cumulative less what is booked as redeemed, or the
 * whole cumulative where `redeemed` could not be read; nothing for a voucher already paid. The
 * worker's and the operator's redeem share it.
 *
 * For one to send, `walletActive` (the payout wallet read on chain, ton/payout-wallet.ts;
 * undefined where the CLI has no TON endpoint or the read failed) decides `first`: a claim the
 * vault refused (insolvent) deployed the wallet and paid nothing, so "nothing booked" alone would
 * count a reserve the next Redeem does not pay. Without it, first when nothing is booked (the
 * reserve counted: a warning too many rather than one too few), unknown where nothing was read.
 */
export function redeemDue(
  r: { txHash?: string; paid: string; sendYourself?: boolean; voucher: { cumulative: string } },
  redeemed: bigint | undefined,
  walletActive?: boolean,
): { due: bigint; first?: boolean } {
  if (r.txHash) return { due: BigInt(r.paid), first: BigInt(r.paid) === BigInt(r.voucher.cumulative) };
  if (!r.sendYourself) return { due: 0n };
  const due = BigInt(r.voucher.cumulative) - (redeemed ?? 0n);
  if (walletActive !== undefined) return { due, first: !walletActive };
  if (redeemed === undefined) return { due };
  return { due, first: redeemed === 0n };
}

/** The warning for a Redeem that pays less than it costs (a CLI's stderr, and `feeWarning` in --json). */
export interface RedeemFeeWarning {
  code: "redeem_below_fee";
  message: string;
  /** nanoTON the Redeem pays (the voucher's cumulative less what the vault paid before) */
  due: string;
  /** nanoTON it costs in all (redeemCost): a first Redeem's where `first` is true, a later one's otherwise */
  fees: string;
  /** whether it is the first Redeem to this payout address (nothing paid to it before); absent where the CLI cannot tell */
  first?: boolean;
}

/**
 * A Redeem whose payment (`due`) is below what it costs: sending it (0.05 TON attached for gas)
 * costs more than it pays. Vouchers are cumulative, so waiting loses nothing: a later one pays
 * everything due then in one Redeem. `sent`: it was sent already (the local sandbox's). `first`:
 * nothing was paid to this payout address before, so this Redeem deploys its payout wallet (and
 * pays its reserve); undefined where the CLI cannot tell: the threshold is then a later Redeem's,
 * and the message says so. Undefined when nothing is due, or enough is.
 */
export function redeemFeeWarning(due: bigint, { sent, first }: { sent: boolean; first?: boolean }): RedeemFeeWarning | undefined {
  const cost = redeemCost(first === true);
  if (due <= 0n || due >= cost) return undefined;
  const parts = `${formatTon(REDEEM_FEES)} of network fees and ≈ ${formatTon(REDEEM_SENDER_FEE)} for the sending wallet`;
  const breakdown =
    first === true
      ? `a first Redeem to this address: ${parts}, and ${formatTon(PAYOUT_WALLET_RESERVE)} kept by the payout wallet it deploys`
      : first === false
        ? parts
        : `a later Redeem's: ${parts}; a first one to this address costs ${formatTon(PAYOUT_WALLET_RESERVE)} more, kept by the payout wallet it deploys`;
  const what = `${formatTon(due)} due, less than the ≈ ${formatTon(cost)} it costs (${breakdown})`;
  return {
    code: "redeem_below_fee",
    message: sent
      ? `this Redeem paid ${what} (sandbox TON here): on a real network, wait until more is due`
      : `this Redeem pays ${what}: sending it loses money; wait until more is due (vouchers are cumulative: a later one pays everything due then, in one Redeem)`,
    due: due.toString(),
    fees: cost.toString(),
    ...(first !== undefined ? { first } : {}),
  };
}
