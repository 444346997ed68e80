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

/** A worker's voucher (POST /v1/agent/voucher) as its Redeem message. */
export function redeemMessage(v: Voucher): VaultMessage {
  const body = beginCell()
    .storeUint(OP_REDEEM, 32)
    .storeAddress(Address.parse(v.worker))
    .storeCoins(BigInt(v.cumulative))
    .storeUint(v.expiry, 32)
    .storeBuffer(Buffer.from(v.signature, "base64"))
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
 * redeemNext: ≈ 0.0099 TON; api-client/redeem-fee.test.ts keeps the two equal). It is taken from
 * the gas attached (VAULT_MESSAGE_VALUE), so the payee receives what is due less this.
 */
export const REDEEM_FEES = 9_869_585n;

/** The warning for a Redeem that pays less than its network fees cost (a CLI's stderr, and `feeWarning` in --json). */
export interface RedeemFeeWarning {
  code: "redeem_below_fee";
  message: string;
  /** nanoTON the Redeem pays (the voucher's cumulative less what the vault paid before) */
  due: string;
  /** nanoTON of network fees it costs (REDEEM_FEES) */
  fees: string;
}

/**
 * A Redeem whose payment (`due`) is below its network fees: sending it (0.05 TON attached for
 * gas) costs more than it pays. Vouchers are cumulative, so waiting loses nothing: a later one
 * pays everything due then in one Redeem. `sent`: it was sent already (the local sandbox's).
 * Undefined when nothing is due, or enough is.
 */
export function redeemFeeWarning(due: bigint, { sent }: { sent: boolean }): RedeemFeeWarning | undefined {
  if (due <= 0n || due >= REDEEM_FEES) return undefined;
  const what = `${formatTon(due)} due, less than the ≈ ${formatTon(REDEEM_FEES)} of network fees the vault's Redeem costs`;
  return {
    code: "redeem_below_fee",
    message: sent
      ? `this Redeem paid ${what} (sandbox TON here): on a real network, wait until more is due`
      : `this Redeem pays ${what}: sending it loses money; wait until more is due (vouchers are cumulative: a later one pays everything due then, in one Redeem)`,
    due: due.toString(),
    fees: REDEEM_FEES.toString(),
  };
}
