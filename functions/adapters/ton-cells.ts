/**
 * The few TON encodings the coordinator's signing routes need, without @ton/core (issue 12):
 * @ton/core is CommonJS, so esbuild cannot tree-shake it, and with @ton/crypto under it that is
 * about 270 KB of the 300 KB a handler bundle may weigh. What is here:
 *
 * - std addresses: raw ("0:<64 hex>") and user-friendly (base64 or base64url of tag | workchain |
 *   hash | CRC16-XMODEM), parsed as @ton/core's Address.parse does (stricter: a hash of anything
 *   but 64 hex digits, or a workchain outside int8, is refused, where @ton/core would fail later);
 * - ordinary cells of at most 1023 bits and 4 references: uints, an int8, std addresses, coins
 *   (VarUInteger 16), and the representation hash (SHA-256 from node:crypto over d1 | d2 |
 *   padded data | child depths | child hashes, TON whitepaper 3.1.4-3.1.5) and depth;
 * - the cells the vault checks signatures over (contracts/vault.ts withdrawalHash, voucherHash)
 *   and the address of an AccountWallet (contracts/vault.ts accountWalletAddress: the hash of its
 *   StateInit over the Tact code's hash and depth).
 *
 * No cryptographic primitive is implemented here: SHA-256 and Ed25519 are node:crypto's. Every
 * function is checked against @ton/core and the contract wrappers on many vectors
 * (ton-cells.test.ts), which also pins ACCOUNT_WALLET_CODE below to the compiled contract.
 */
import { createHash } from "node:crypto";

// ---------------------------------------------------------------- addresses

export interface TonAddress {
  workchain: number;
  /** 32 bytes: the account id */
  hash: Buffer;
}

const BOUNCEABLE = 0x11;
const NON_BOUNCEABLE = 0x51;
const TEST_ONLY = 0x80;

/** CRC16-XMODEM (poly 0x1021, init 0): the checksum of user-friendly addresses. */
export function crc16(data: Uint8Array): Buffer {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return Buffer.from([crc >> 8, crc & 0xff]);
}

export class TonAddressError extends Error {
  override readonly name = "TonAddressError";
}

/** A std address from its raw or user-friendly form; throws TonAddressError for anything else. */
export function parseTonAddress(src: string): TonAddress {
  const raw = /^(-?\d{1,3}):([0-9a-fA-F]{64})$/.exec(src);
  if (raw) return checked(Number(raw[1]), Buffer.from(raw[2]!, "hex"));
  if (src.length !== 48 || !/^[A-Za-z0-9+/_-]+$/.test(src)) throw new TonAddressError(`unknown address type: ${src}`);
  const data = Buffer.from(src.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  if (data.length !== 36) throw new TonAddressError("unknown address type: byte length is not 36");
  if (!crc16(data.subarray(0, 34)).equals(data.subarray(34, 36))) throw new TonAddressError(`invalid checksum: ${src}`);
  const tag = data[0]! & ~TEST_ONLY;
  if (tag !== BOUNCEABLE && tag !== NON_BOUNCEABLE) throw new TonAddressError("unknown address tag");
  // @ton/core reads the byte unsigned except 0xff (-1); a byte it reads past int8 cannot be stored
  return checked(data[1] === 0xff ? -1 : data[1]!, Buffer.from(data.subarray(2, 34)));
}

function checked(workchain: number, hash: Buffer): TonAddress {
  if (workchain < -128 || workchain > 127) throw new TonAddressError(`workchain ${workchain} is outside int8`);
  return { workchain, hash };
}

/** "<workchain>:<64 lower-case hex>" (@ton/core's toRawString). */
export const rawAddress = (a: TonAddress): string => `${a.workchain}:${a.hash.toString("hex")}`;

/** The user-friendly form (@ton/core's toString(): url-safe, bounceable, not test-only, by default). */
export function friendlyAddress(a: TonAddress, o: { bounceable?: boolean; testOnly?: boolean; urlSafe?: boolean } = {}): string {
  const body = Buffer.alloc(34);
  body[0] = ((o.bounceable ?? true) ? BOUNCEABLE : NON_BOUNCEABLE) | (o.testOnly ? TEST_ONLY : 0);
  body[1] = a.workchain & 0xff;
  a.hash.copy(body, 2);
  const b64 = Buffer.concat([body, crc16(body)]).toString("base64");
  return (o.urlSafe ?? true) ? b64.replace(/\+/g, "-").replace(/\//g, "_") : b64;
}

// ---------------------------------------------------------------- cells

/** An ordinary cell's identity: what a parent cell's representation includes of it. */
export interface CellRef {
  hash: Buffer;
  depth: number;
}

const MAX_BITS = 1023;
const MAX_REFS = 4;

/** Builds one ordinary cell (bits, then references) and gives its representation hash and depth. */
export class CellBuilder {
  private readonly bits: number[] = [];
  private readonly refs: CellRef[] = [];

  /** `bits`-bit unsigned big-endian; throws RangeError when the value does not fit. */
  uint(value: bigint | number, bits: number): this {
    const v = BigInt(value);
    if (v < 0n || v >= 1n << BigInt(bits)) throw new RangeError(`value ${v} is out of range for uint${bits}`);
    return this.push(v, bits);
  }

  /** `bits`-bit two's complement. */
  int(value: bigint | number, bits: number): this {
    const v = BigInt(value);
    const half = 1n << BigInt(bits - 1);
    if (v < -half || v >= half) throw new RangeError(`value ${v} is out of range for int${bits}`);
    return this.push(v < 0n ? v + (half << 1n) : v, bits);
  }

  bit(b: boolean): this {
    return this.push(b ? 1n : 0n, 1);
  }

  /** addr_std$10 anycast:(Maybe Anycast)=0 workchain_id:int8 address:bits256 */
  address(a: TonAddress): this {
    return this.uint(0b100, 3)
      .int(a.workchain, 8)
      .push(BigInt("0x" + a.hash.toString("hex")), 256);
  }

  /** Grams / VarUInteger 16: a 4-bit byte length, then the amount in that many bytes. */
  coins(amount: bigint): this {
    if (amount < 0n) throw new RangeError(`coins ${amount} is negative`);
    const bytes = amount === 0n ? 0 : Math.ceil(amount.toString(2).length / 8);
    if (bytes > 15) throw new RangeError(`coins ${amount} do not fit in 15 bytes`);
    return this.uint(bytes, 4).push(amount, bytes * 8);
  }

  ref(c: CellRef): this {
    if (this.refs.length >= MAX_REFS) throw new RangeError(`a cell holds at most ${MAX_REFS} references`);
    this.refs.push(c);
    return this;
  }

  private push(v: bigint, bits: number): this {
    if (this.bits.length + bits > MAX_BITS) throw new RangeError(`a cell holds at most ${MAX_BITS} bits`);
    for (let i = bits - 1; i >= 0; i--) this.bits.push(Number((v >> BigInt(i)) & 1n));
    return this;
  }

  /** The representation hash and depth of the (ordinary, level 0) cell built. */
  end(): CellRef {
    const n = this.bits.length;
    const data = Buffer.alloc(Math.ceil(n / 8));
    this.bits.forEach((b, i) => (data[i >> 3]! |= b << (7 - (i & 7))));
    if (n % 8) data[n >> 3]! |= 1 << (7 - (n & 7)); // completion tag: a 1, then zeros to the byte
    const d1 = this.refs.length; // + 8 * exotic + 32 * level: ordinary, level 0
    const d2 = Math.ceil(n / 8) + Math.floor(n / 8);
    const h = createHash("sha256")
      .update(Buffer.from([d1, d2]))
      .update(data);
    for (const r of this.refs) h.update(Buffer.from([r.depth >> 8, r.depth & 0xff]));
    for (const r of this.refs) h.update(r.hash);
    return { hash: h.digest(), depth: this.refs.length ? Math.max(...this.refs.map((r) => r.depth)) + 1 : 0 };
  }
}

// ---------------------------------------------------------------- the vault's cells (contracts/vault.ts)

export const TAG_WITHDRAW = 0x636f7731; // "cow1"
export const TAG_VOUCHER = 0x636f7632; // "cov2": vault v2's voucher names a payee and its address

/** = contracts/vault.ts withdrawalHash: what the coordinator signs for a requester's withdrawal. */
export function withdrawalHash(
  vault: TonAddress,
  w: { account: bigint; to: TonAddress; amount: bigint; seqno: number; expiry: number },
): Buffer {
  return new CellBuilder()
    .uint(TAG_WITHDRAW, 32)
    .address(vault)
    .uint(w.account, 256)
    .address(w.to)
    .coins(w.amount)
    .uint(w.seqno, 32)
    .uint(w.expiry, 32)
    .end().hash;
}

/** = contracts/vault.ts voucherHash: what the coordinator signs for a payee's payout (`to`: the address paid). */
export function voucherHash(vault: TonAddress, v: { payee: bigint; to: TonAddress; cumulative: bigint; expiry: number }): Buffer {
  return new CellBuilder()
    .uint(TAG_VOUCHER, 32)
    .address(vault)
    .uint(v.payee, 256)
    .address(v.to)
    .coins(v.cumulative)
    .uint(v.expiry, 32)
    .end().hash;
}

/**
 * The compiled AccountWallet's code cell (contracts/build/Vault_AccountWallet.ts): its hash and
 * depth are all its StateInit's hash needs. ton-cells.test.ts fails, naming the new values, when
 * the contract is rebuilt with other code.
 */
export const ACCOUNT_WALLET_CODE: CellRef = {
  hash: Buffer.from("bfb73e7012ce06a7dd27db495391ed40894cc2135a27c130a167a9e942733c2f", "hex"),
  depth: 4,
};

/** = contracts/vault.ts accountWalletAddress: where `account`'s balance and withdrawal seqno live under `vault`. */
export function accountWalletAddress(vault: TonAddress, account: bigint): TonAddress {
  // Tact's init data: vault, account, deposited = 0, withdrawn = 0, seqno = 0 (AccountWallet_init)
  const data = new CellBuilder().address(vault).uint(account, 256).coins(0n).coins(0n).uint(0, 32).end();
  // StateInit: split_depth absent, special absent, code present, data present, library empty
  const init = new CellBuilder().bit(false).bit(false).bit(true).bit(true).bit(false).ref(ACCOUNT_WALLET_CODE).ref(data).end();
  return { workchain: 0, hash: init.hash };
}
