/**
 * The Withdraw and Redeem messages a wallet sends for a requester or a worker off the local
 * network (api-client/vault-messages.ts): byte for byte the vault's own bodies (contracts/vault.ts
 * over the Tact bindings), the value its sends attach, and a ton://transfer link that carries them.
 */
import { randomBytes } from "node:crypto";
import { Address, Cell } from "@ton/core";
import { describe, expect, it } from "vitest";
import { redeemBody, withdrawBody } from "../contracts/vault";
import { REDEEM_GAS, voucherFromJson, WITHDRAW_GAS } from "../functions/adapters/ton-chain";
import { withdrawalFromJson } from "../functions/adapters/ton-withdrawal-signer";
import type { Voucher } from "../events/money";
import type { SignedWithdrawalView } from "../events/withdrawals";
import { redeemMessage, VAULT_MESSAGE_VALUE, withdrawMessage } from "./vault-messages";

// ------------------------------------------------------------------------- factories
const address = (workchain = 0) => new Address(workchain, randomBytes(32)).toString({ urlSafe: true, bounceable: false });
const u32 = () => randomBytes(4).readUInt32BE();
/** Amounts up to 2^96 (within the wire's 30 digits and the coins field's 120 bits), small and large. */
const coins = (i: number) => (BigInt("0x" + randomBytes(12).toString("hex")) >> BigInt(i % 96)).toString();

const withdrawal = (i: number): SignedWithdrawalView => ({
  vault: address(),
  account: randomBytes(32).toString("base64url"),
  to: address(),
  amount: coins(i),
  seqno: i === 0 ? 0 : u32(),
  expiry: i === 1 ? 0xffff_ffff : u32(),
  signature: randomBytes(64).toString("base64"),
});
const voucher = (i: number): Voucher => ({
  vault: address(),
  payee: randomBytes(32).toString("hex"),
  worker: address(),
  cumulative: coins(i),
  expiry: i === 1 ? 0xffff_ffff : u32(),
  signature: randomBytes(64).toString("base64"),
});

/** The body a ton://transfer link carries, and its target and amount. */
function fromLink(link: string) {
  const u = new URL(link);
  return {
    scheme: u.protocol,
    to: decodeURIComponent(u.pathname.replace(/^\/\//, "").replace(/^transfer\//, "")) || u.host,
    amount: u.searchParams.get("amount"),
    body: Cell.fromBase64(u.searchParams.get("bin")!),
  };
}

// ------------------------------------------------------------------------- tests
describe("vault messages for a wallet to send", () => {
  it("200 random withdrawals: the body is the vault's Withdraw, byte for byte, and the link carries it to the vault", () => {
    for (let i = 0; i < 200; i++) {
      // Prepare
      const w = withdrawal(i);
      const expected = withdrawBody(withdrawalFromJson(w).withdrawal);
      // Act
      const m = withdrawMessage(w);
      // Assess
      expect(Cell.fromBase64(m.body).equals(expected)).toBe(true);
      const link = fromLink(m.link);
      expect(link.body.equals(expected)).toBe(true);
      expect(Address.parse(m.to).equals(Address.parse(w.vault))).toBe(true);
      expect(link.amount).toBe(m.amount);
    }
  });

  it("200 random vouchers: the body is the vault's Redeem, byte for byte, and the link carries it to the vault", () => {
    for (let i = 0; i < 200; i++) {
      // Prepare
      const v = voucher(i);
      const expected = redeemBody(voucherFromJson(v).voucher);
      // Act
      const m = redeemMessage(v);
      // Assess
      expect(Cell.fromBase64(m.body).equals(expected)).toBe(true);
      expect(fromLink(m.link).body.equals(expected)).toBe(true);
      expect(Address.parse(m.to).equals(Address.parse(v.vault))).toBe(true);
    }
  });

  it("the link is ton://transfer/<the vault, bounceable>?amount=<the value the coordinator's own sends attach>&bin=<url-encoded base64>", () => {
    // Prepare
    const v = voucher(7);
    // Act
    const m = redeemMessage(v);
    // Assess
    expect(VAULT_MESSAGE_VALUE).toBe(WITHDRAW_GAS);
    expect(VAULT_MESSAGE_VALUE).toBe(REDEEM_GAS);
    expect(m.amount).toBe(VAULT_MESSAGE_VALUE.toString());
    expect(Address.parseFriendly(m.to).isBounceable).toBe(true);
    expect(m.link).toBe(`ton://transfer/${m.to}?amount=${m.amount}&bin=${encodeURIComponent(m.body)}`);
    expect(m.link).not.toMatch(/bin=[^&]*[+/=]/); // base64's + / = are escaped
  });
});
