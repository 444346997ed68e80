/**
 * Whether a payout address's PayoutWallet is on chain: a Redeem that finds it there is not the
 * first to that address, and its payout wallet keeps no storage reserve of it
 * (api-client/vault-messages.ts redeemDue). The coordinator's books cannot say so: a claim the
 * vault refused (insolvent) deployed the wallet and paid nothing, so nothing is booked redeemed.
 */
import { Address } from "@ton/core";
import { payoutWalletAddress } from "../contracts/vault";
import { payeeHexToUint } from "../core/chain/payee";
import { TonEndpoint } from "../events/common";
import type { Voucher } from "../events/money";
import type { ProviderFactory } from "./anchor";

/**
 * Whether `v`'s payout wallet (the vault's child for `v.payee`) is deployed and active. Not when
 * frozen for unpaid storage (about 30 years idle): the vault sends only the initial StateInit,
 * which does not match a frozen wallet's, so nothing it sends unfreezes it (docs/security.md).
 */
export async function payoutWalletActive(chain: ProviderFactory, v: Pick<Voucher, "vault" | "payee">): Promise<boolean> {
  const address = await payoutWalletAddress(Address.parse(v.vault), payeeHexToUint(v.payee));
  return (await chain.provider(address).getState()).state.type === "active";
}

/**
 * payoutWalletActive through toncenter, for the CLIs' fee warning: undefined where no endpoint
 * is set, the endpoint is not one the CLIs read from (https; http only on loopback: TonEndpoint),
 * or the read fails (the warning then goes by what is booked, never blocked by this read).
 */
export async function toncenterPayoutWalletActive(
  o: { endpoint?: string | undefined; apiKey?: string | undefined },
  v: Pick<Voucher, "vault" | "payee">,
): Promise<boolean | undefined> {
  const endpoint = TonEndpoint.safeParse(o.endpoint);
  if (o.endpoint === undefined || !endpoint.success) return undefined;
  try {
    const { TonClient } = await import("@ton/ton");
    return await payoutWalletActive(new TonClient({ endpoint: endpoint.data, apiKey: o.apiKey, timeout: 10_000 }), v);
  } catch {
    return undefined;
  }
}
