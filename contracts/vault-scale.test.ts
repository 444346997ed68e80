/**
 * Issue 16: the state of every contract stays small and constant as accounts grow (the old
 * single-contract vault added 2 cells per account and stopped near 32k, at TON's 65,536-cell
 * limit). CI runs a few hundred accounts through contracts/scale.ts; `npm run vault:scale`
 * (scripts/vault-scale.ts) runs the same check past the old limit, 40,000 accounts (minutes).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { toNano } from "@ton/core";
import { accountWalletAddress, DEPOSIT_FEE } from "./vault";
import { accountId, checkScale, depositValue, runScale, type ScaleRow, storageUsed, type Used, VAULT_BITS_SLACK } from "./scale";

const ACCOUNTS = 300;
const WORKER_EVERY = 10;

describe("state stays constant per contract as accounts grow (the old single vault stopped near 32k)", () => {
  let rows: ScaleRow[];
  let vaultAfterDeploy: Used;
  let run: Awaited<ReturnType<typeof runScale>>;

  beforeAll(async () => {
    // Prepare + Act: 300 first deposits (each deploys its AccountWallet) and 30 first redeems
    // (each deploys a PayoutWallet), a row after every deposit
    run = await runScale({ accounts: ACCOUNTS, every: 1, workerEvery: WORKER_EVERY });
    rows = run.rows;
    vaultAfterDeploy = run.vaultAfterDeploy;
  }, 180_000);

  it(`${ACCOUNTS} accounts and ${ACCOUNTS / WORKER_EVERY} workers: no violation; the vault's cells never change, every wallet is the same small size, totals = deposits less fees`, async () => {
    const f = run.fixture;
    const accountWallets = await Promise.all(
      Array.from({ length: ACCOUNTS }, async (_, i) =>
        storageUsed(f.blockchain, await accountWalletAddress(f.vault.address, accountId(i))),
      ),
    );

    // Assess
    expect(checkScale(vaultAfterDeploy, rows)).toEqual([]);
    expect(rows).toHaveLength(ACCOUNTS);
    expect(new Set(rows.map((r) => r.vault.cells))).toEqual(new Set([vaultAfterDeploy.cells]));
    expect(new Set(accountWallets.map((w) => `${w.cells}/${w.bits}`)).size).toBe(1);
    const last = rows.at(-1)!;
    expect(last.workers).toBe(ACCOUNTS / WORKER_EVERY);
    const sent = Array.from({ length: ACCOUNTS }, (_, i) => depositValue(i)).reduce((a, b) => a + b, 0n);
    expect(last.totals).toEqual({
      deposited: sent - BigInt(ACCOUNTS) * DEPOSIT_FEE,
      withdrawn: 0n,
      paid: BigInt(ACCOUNTS / WORKER_EVERY) * toNano("0.01"),
      fees: BigInt(ACCOUNTS) * DEPOSIT_FEE,
    });
    console.log(
      `state cells/bits: vault ${vaultAfterDeploy.cells}/${vaultAfterDeploy.bits} after deploy, ${last.vault.cells}/${last.vault.bits} after ${ACCOUNTS} accounts + ${last.workers} workers; ` +
        `account wallet ${accountWallets[0]!.cells}/${accountWallets[0]!.bits}, payout wallet ${last.lastPayout!.cells}/${last.lastPayout!.bits}; ` +
        `limit ${last.limits.cells} cells per account (the single-contract vault, 2 cells per holder: ~${Math.floor(last.limits.cells / 2)} holders max)`,
    );
  });

  // The check must be able to fail: fed what the contracts would record if the state grew with
  // N, it names each violation. (Also watched on a real mutant, built from a copy of vault.tact
  // whose AccountCredited keeps the deposit's `inflight` entry instead of deleting it, i.e. a
  // vault with one map entry per account: `vault:scale -- --accounts 300` exits 1 with "vault 167
  // cells, 68 after deploy" after 50 accounts, 667 after 300, 2 cells per account as the old vault.)
  describe("checkScale flags every way the state can grow with N", () => {
    const grow = (mutate: (r: ScaleRow) => ScaleRow) => checkScale(vaultAfterDeploy, rows.map(mutate));

    it("a vault that keeps a per-account map (2 cells and ~300 bits more per account, as the old vault did)", () => {
      const v = grow((r) => ({
        ...r,
        vault: { cells: vaultAfterDeploy.cells + 2 * r.accounts, bits: vaultAfterDeploy.bits + 300 * r.accounts },
      }));
      expect(
        v.filter((m) => / cells, \d+ after deploy$/.test(m)),
        "every row, from the first account on",
      ).toHaveLength(ACCOUNTS);
      expect(v[0]).toBe(`after 1 accounts: vault ${vaultAfterDeploy.cells + 2} cells, ${vaultAfterDeploy.cells} after deploy`);
    });

    it("vault bits that drift beyond what the totals' widths allow, with the cells unchanged", () => {
      const v = grow((r) => (r.accounts === 200 ? { ...r, vault: { ...r.vault, bits: vaultAfterDeploy.bits + VAULT_BITS_SLACK + 1 } } : r));
      expect(v).toEqual([
        `after 200 accounts: vault ${vaultAfterDeploy.bits + VAULT_BITS_SLACK + 1} bits, ${vaultAfterDeploy.bits} after deploy (more than the totals' widths allow)`,
      ]);
    });

    it("a wallet that grows (newest differs from the first), a payout wallet that grows", () => {
      expect(grow((r) => (r.accounts === 150 ? { ...r, lastWallet: { ...r.lastWallet, cells: r.lastWallet.cells + 1 } } : r))).toHaveLength(
        1,
      );
      expect(
        grow((r) => (r.accounts === 150 ? { ...r, firstWallet: { ...r.firstWallet, bits: r.firstWallet.bits + 8 } } : r)),
      ).toHaveLength(1);
      expect(
        grow((r) => (r.accounts === 290 ? { ...r, lastPayout: { ...r.lastPayout!, cells: r.lastPayout!.cells + 1 } } : r)),
      ).toHaveLength(1);
    });

    it("a contract over 1 % of TON's per-account limit", () => {
      const v = grow((r) => (r.accounts === 10 ? { ...r, limits: { cells: r.vault.cells * 50, bits: r.limits.bits } } : r));
      expect(v).toHaveLength(1);
      expect(v[0]).toMatch(/^after 10 accounts: vault .* is over 1 % of the limit/);
    });

    it("totals that differ from what was sent less fees, a deposit left in flight, a wallet that recorded another amount", () => {
      expect(grow((r) => (r.accounts === 7 ? { ...r, totals: { ...r.totals, deposited: r.totals.deposited + 1n } } : r))).toHaveLength(1);
      expect(grow((r) => (r.accounts === 7 ? { ...r, totals: { ...r.totals, fees: r.totals.fees - 1n } } : r))).toHaveLength(1);
      expect(grow((r) => (r.accounts === 7 ? { ...r, totals: { ...r.totals, paid: r.totals.paid + 1n } } : r))).toHaveLength(1);
      expect(grow((r) => (r.accounts === 7 ? { ...r, totals: { ...r.totals, withdrawn: 1n } } : r))).toHaveLength(1);
      expect(grow((r) => (r.accounts === 7 ? { ...r, inflight: 1 } : r))).toHaveLength(1);
      expect(grow((r) => (r.accounts === 7 ? { ...r, lastWalletDeposited: 0n } : r))).toHaveLength(1);
      expect(checkScale(vaultAfterDeploy, [])).toEqual(["no rows recorded"]);
    });
  });
});
