/**
 * The money routes under a vault the store does not belong to (core/chain/vault-binding.ts):
 * a machine-readable 503 `vault_mismatch`, nothing signed, nothing reserved. Through the real
 * routes (signature, schemas, handler, failureResponse) on the in-memory store.
 */
import { describe, expect, it } from "vitest";
import { getBalance, requesterAccount } from "../core/ledger";
import { bindVault, VAULT_BINDING_KEY } from "../core/chain/vault-binding";
import { makeRouteWorld, VAULT } from "./route-world";

const OLD_VAULT = "0:" + "e".repeat(64);
const TO = "0:" + "c".repeat(64);
const PAYOUT = "0:" + "a".repeat(64);

describe("money routes under another vault than the store's", () => {
  it("withdraw and voucher answer 503 vault_mismatch; nothing is signed or reserved", async () => {
    // Prepare: the store belongs to OLD_VAULT; the coordinator is now configured with VAULT
    const w = makeRouteWorld();
    const r = await w.requester(5_000_000_000n);
    const a = await w.worker();
    await bindVault(w.store, OLD_VAULT, w.clock.now());

    // Act
    const answers = [
      await w.call(r, "POST", "/v1/account/withdraw", { amount: "1000", to: TO }, { idempotencyKey: "withdraw-under-new-vault" }),
      await w.call(a.signing, "POST", "/v1/agents/voucher", { payoutAddress: PAYOUT }),
    ];

    // Assess
    for (const ans of answers) expect([ans.status, ans.json?.error?.code]).toEqual([503, "vault_mismatch"]);
    expect(w.withdrawalSigner.signed + w.voucherSigner.signed).toBe(0);
    expect(await getBalance(w.store, requesterAccount(r.id))).toMatchObject({ available: 5_000_000_000n, held: 0n });
    expect(VAULT).not.toBe(OLD_VAULT);
  });

  it("a withdrawal's replay (same Idempotency-Key) under another vault: 503 vault_mismatch, not signed again for it", async () => {
    // Prepare: a withdrawal issued while the store was VAULT's; the store now belongs to OLD_VAULT
    // (as if the coordinator were configured with VAULT over another vault's store)
    const w = makeRouteWorld();
    const r = await w.requester(5_000_000_000n);
    const first = await w.call(r, "POST", "/v1/account/withdraw", { amount: "1000", to: TO }, { idempotencyKey: "replayed-withdrawal" });
    expect(first.status).toBe(200);
    await w.store.transact([{ op: "put", table: "chain", item: { ...VAULT_BINDING_KEY, address: OLD_VAULT, boundAt: w.clock.now() } }]);
    const signed = w.withdrawalSigner.signed;

    // Act: the same request again, with the same key
    const again = await w.call(r, "POST", "/v1/account/withdraw", { amount: "1000", to: TO }, { idempotencyKey: "replayed-withdrawal" });

    // Assess: the old seqno is not signed for the configured vault
    expect([again.status, again.json?.error?.code]).toEqual([503, "vault_mismatch"]);
    expect(w.withdrawalSigner.signed).toBe(signed);
  });
});
