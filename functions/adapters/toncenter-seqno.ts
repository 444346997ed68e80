/**
 * The vault's withdrawal seqno of an account through toncenter's JSON-RPC (issue 9 #3), with
 * the runtime's fetch instead of @ton/ton's TonClient (issue 12: TonClient brings axios,
 * form-data, mime-db and @ton/core, about 700 KB, into the withdrawal routes' bundles for the
 * two calls made here). The same calls, the same answers and the same refusals as
 * ton-chain.ts tonClientWithdrawSeqno over a TonClient (toncenter-seqno.test.ts runs both
 * against one toncenter double):
 *
 *   getAddressInformation(wallet)   uninitialized → 0 (the account never deposited); frozen → throws
 *   runGetMethod(wallet, "seqno")   exit code ≠ 0 → throws; the first stack entry as a number
 *
 * where `wallet` is the account's AccountWallet, derived offline (ton-cells.ts). Anything
 * unreadable throws: the caller issues and releases nothing on a seqno it could not read.
 */
import * as z from "zod";
import { accountWalletAddress, friendlyAddress, rawAddress, type TonAddress } from "./ton-cells";
import { toncenterCall as call, ToncenterError, type ToncenterEndpoint } from "./toncenter-rpc";

export { ToncenterError, type ToncenterEndpoint } from "./toncenter-rpc";

const AddressInformation = z.object({ state: z.enum(["active", "uninitialized", "frozen"]) });
const GetMethodResult = z.object({ gas_used: z.number(), exit_code: z.number(), stack: z.array(z.unknown()) });
const NumEntry = z.tuple([z.literal("num"), z.string().regex(/^-?0x[0-9a-fA-F]+$|^-?\d+$/)]);

/** The seqno getter of core/withdrawals.ts WithdrawalSigner.chainSeqno (through vault-signers.ts). */
export function toncenterWithdrawSeqno(ton: ToncenterEndpoint, vault: TonAddress): (account: bigint) => Promise<number> {
  return async (account) => {
    const wallet = accountWalletAddress(vault, account);
    const address = friendlyAddress(wallet); // what TonClient sends: url-safe, bounceable
    const { state } = await call(ton, "getAddressInformation", { address }, AddressInformation);
    if (state === "uninitialized") return 0;
    if (state !== "active") throw new ToncenterError(`the account wallet ${rawAddress(wallet)} is ${state}: its seqno cannot be read`);
    const r = await call(ton, "runGetMethod", { address, method: "seqno", stack: [] }, GetMethodResult);
    if (r.exit_code !== 0) throw new ToncenterError(`Unable to execute get method. Got exit_code: ${r.exit_code}`);
    const top = NumEntry.safeParse(r.stack[0]);
    if (!top.success) throw new ToncenterError(`the seqno getter of ${rawAddress(wallet)} returned no number`);
    const v = top.data[1].startsWith("-") ? -BigInt(top.data[1].slice(1)) : BigInt(top.data[1]);
    return Number(v);
  };
}
