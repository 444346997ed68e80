/**
 * issue 12: the vault signers without @ton/* (vault-signers.ts: ton-cells.ts and node:crypto)
 * sign exactly what contracts/vault.ts signs with @ton/core and @ton/crypto (tweetnacl), byte
 * for byte, and name and refuse addresses as @ton/core does.
 */
import { describe, expect, it } from "vitest";
import { Address } from "@ton/core";
import { keyPairFromSeed } from "@ton/crypto";
import { signVoucher, signWithdrawal } from "../../contracts/vault";
import { accountIdToUint } from "../../core/chain/account";
import { voucherSignedBy, withdrawalSignedBy } from "../../ton/registry";
import { vaultVoucherSigner, vaultWithdrawalSigner } from "./vault-signers";
import type { TonAddress } from "./ton-cells";

/** Seeded bytes, so a failing vector reproduces. */
function rng(seed: number) {
  let s = seed >>> 0;
  const byte = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s >>> 24;
  };
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, byte));
  return { bytes, int: (n: number) => Math.floor((bytes(4).readUInt32BE(0) / 2 ** 32) * n) };
}

const forms = (a: Address): string[] => [
  a.toRawString(),
  a.toString(),
  a.toString({ bounceable: false }),
  a.toString({ urlSafe: false, testOnly: true }),
];

describe("issue 12: vault signers without @ton/*", () => {
  it("200 vouchers and 200 withdrawals: the same signatures as contracts/vault.ts (tweetnacl), under random keys, vaults, addresses in every form", async () => {
    const r = rng(7);
    for (let i = 0; i < 200; i++) {
      // Prepare
      const seed = r.bytes(32);
      const secretKey = keyPairFromSeed(seed).secretKey;
      const vault = new Address(i % 5 === 0 ? -1 : 0, r.bytes(32));
      const lean: TonAddress = { workchain: vault.workChain, hash: vault.hash };
      const other = new Address(0, r.bytes(32));
      const form = forms(other)[i % 4]!;
      const account = r.bytes(32).toString("base64url");
      const amount = BigInt("0x" + r.bytes(1 + r.int(15)).toString("hex"));
      const expiry = r.int(2 ** 32);
      const seqno = r.int(2 ** 32);

      // Act
      const payee = r.bytes(32).toString("hex");
      const voucher = await vaultVoucherSigner(seed, lean).sign({ payee, worker: form, cumulative: amount, expiry });
      const withdrawal = await vaultWithdrawalSigner(seed, lean).sign({ account, to: form, amount, seqno, expiry });

      // Assess
      expect(voucher.signature).toBe(
        signVoucher(secretKey, vault, { payee: BigInt("0x" + payee), to: other, cumulative: amount, expiry }).signature.toString("base64"),
      );
      expect(withdrawal.signature).toBe(
        signWithdrawal(secretKey, vault, { account: accountIdToUint(account), to: other, amount, seqno, expiry }).signature.toString(
          "base64",
        ),
      );
    }
  });

  it("what they sign verifies under the registry's coordinator key (issue 15's check, over @ton/core)", async () => {
    // Prepare
    const seed = Buffer.alloc(32, 3);
    const key = keyPairFromSeed(seed).publicKey.toString("hex");
    const vault = new Address(0, Buffer.alloc(32, 9));
    const lean = { workchain: 0, hash: vault.hash };
    const worker = new Address(0, Buffer.alloc(32, 4)).toRawString();
    const account = Buffer.alloc(32, 5).toString("base64url");
    const vs = vaultVoucherSigner(seed, lean);
    const ws = vaultWithdrawalSigner(seed, lean);

    // Act
    const payee = "ab".repeat(32);
    const v = { vault: vs.vault, payee, worker, cumulative: "123456789", expiry: 1_800_000_000 };
    const { signature: vsig } = await vs.sign({ payee, worker, cumulative: 123456789n, expiry: v.expiry });
    const w = { vault: ws.vault, account, to: worker, amount: "5", seqno: 3, expiry: 1_800_000_000 };
    const { signature: wsig } = await ws.sign({ account, to: worker, amount: 5n, seqno: 3, expiry: w.expiry });

    // Assess
    expect(voucherSignedBy({ ...v, signature: vsig } as never, key)).toBe(true);
    expect(withdrawalSignedBy({ ...w, signature: wsig } as never, key)).toBe(true);
    expect(voucherSignedBy({ ...v, cumulative: "123456790", signature: vsig } as never, key)).toBe(false);
  });

  it("name addresses as @ton/core's toRawString, and refuse what it refuses with the routes' 400 codes", () => {
    // Prepare
    const r = rng(8);
    const vs = vaultVoucherSigner(Buffer.alloc(32, 1), { workchain: 0, hash: Buffer.alloc(32, 2) });
    const ws = vaultWithdrawalSigner(Buffer.alloc(32, 1), { workchain: 0, hash: Buffer.alloc(32, 2) });
    const good = Array.from({ length: 50 }, (_, i) => forms(new Address(i % 2 ? -1 : 0, r.bytes(32)))).flat();
    const bad = ["", "0:abc", "EQ" + "A".repeat(46), "not an address", good[1]!.slice(0, -1) + (good[1]!.endsWith("A") ? "B" : "A")];

    // Act / Assess
    expect(vs.vault).toBe("0:" + "02".repeat(32));
    for (const a of good) {
      expect(vs.payoutAddress(a)).toBe(Address.parse(a).toRawString());
      expect(ws.address(a)).toBe(Address.parse(a).toRawString());
    }
    for (const a of bad) {
      expect(() => Address.parse(a), a).toThrow();
      expect(() => vs.payoutAddress(a), a).toThrow(expect.objectContaining({ status: 400, code: "invalid_payout_address" }));
      expect(() => ws.address(a), a).toThrow(expect.objectContaining({ status: 400, code: "invalid_address" }));
    }
  });

  it("chainSeqno takes the account id and asks the getter for its uint", async () => {
    const asked: bigint[] = [];
    const ws = vaultWithdrawalSigner(Buffer.alloc(32, 1), { workchain: 0, hash: Buffer.alloc(32, 2) }, async (a) => (asked.push(a), 4));
    const account = Buffer.alloc(32, 6).toString("base64url");
    expect(await ws.chainSeqno!(account)).toBe(4);
    expect(asked).toEqual([accountIdToUint(account)]);
  });
});
