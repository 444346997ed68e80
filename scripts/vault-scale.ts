/**
 * `npm run vault:scale [-- --accounts N] [--every K] [--worker-every W]`: issue 16's scale run of
 * the sharded vault (contracts/scale.ts). Creates N requester accounts (default 40,000, past the
 * ~32k where the old single-contract vault's state hit TON's 65,536-cell limit), each by a real
 * first deposit that deploys its AccountWallet through the real Vault code, plus one worker
 * redeem every W deposits (default 100, each deploying a PayoutWallet). Every K accounts (default
 * 5,000) it prints the state cells/bits of the vault, of the newest account wallet and of the
 * newest payout wallet, and the vault's totals. Exits 1 when any contract's state moved with N,
 * neared TON's limits, or the totals differ from what was sent less fees. Too slow for CI
 * (minutes); contracts/vault-scale.test.ts checks the same property at a few hundred accounts.
 */
import { checkScale, formatRow, runScale, TABLE_HEADER } from "../contracts/scale";

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const accounts = arg("--accounts", 40_000);
const every = arg("--every", 5_000);
const workerEvery = arg("--worker-every", 100);
if (![accounts, every, workerEvery].every((n) => Number.isSafeInteger(n) && n >= 0) || accounts < 1 || every < 1) {
  console.error("usage: npm run vault:scale -- [--accounts N] [--every K] [--worker-every W]");
  process.exit(2);
}

console.log(
  `vault:scale: ${accounts.toLocaleString("en-US")} first deposits, a redeem every ${workerEvery || "-"}, a row every ${every.toLocaleString("en-US")}`,
);
console.log("(c/b = state cells/bits as TON counts them; deposited and fees in TON)");
console.log(`${TABLE_HEADER} heapMB`);
const started = Date.now();
const { rows, vaultAfterDeploy } = await runScale({
  accounts,
  every,
  workerEvery,
  onRow: (r) => console.log(`${formatRow(r)} ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0).padStart(6)}`),
});
const last = rows.at(-1)!;
console.log(
  `vault after deploy ${vaultAfterDeploy.cells}/${vaultAfterDeploy.bits}; TON's limit per account ${last.limits.cells.toLocaleString("en-US")} cells ` +
    `(the single-contract vault, 2 cells per holder, stopped near ${Math.floor(last.limits.cells / 2).toLocaleString("en-US")} holders)`,
);
console.log(`wall ${((Date.now() - started) / 1000).toFixed(1)} s, ${((Date.now() - started) / accounts).toFixed(2)} ms per account`);
const violations = checkScale(vaultAfterDeploy, rows);
if (violations.length > 0) {
  console.error(`FAIL: ${violations.length} violations`);
  for (const v of violations.slice(0, 50)) console.error("  " + v);
  process.exit(1);
}
console.log(
  `OK: every contract's state is constant in the number of accounts; totals = deposits less fees (${accounts.toLocaleString("en-US")} accounts, ${last.workers} workers)`,
);
