/**
 * The money invariants of a local coordinator's data directory, read from disk while no
 * coordinator runs on it (after a kill -9, or after a clean stop): the LMDB store and the
 * sandbox chain it saved (`<dataDir>/chain.json`). Returns every violation as a sentence, so a
 * failing test says what broke; an empty list means all hold.
 *
 * Always (they hold at every commit, so also right after a crash):
 *   - every movement balances, and the ledger as a whole sums to zero;
 *   - each balance is exactly the sum of the movements' postings on it (no untracked change);
 *   - held = the maximum cost of the open ("assigned") jobs, per requester;
 *   - reserved (`wdr:<id>`) = the pending withdrawals the coordinator signed, per requester;
 *   - the chain holds the transaction the watcher's cursor points at (the ledger is never
 *     ahead of the chain), and the vault holds at least what the ledger owes.
 * With `settled` (after recovery ran and the watcher caught up):
 *   - no job is open: each one completed or was refunded;
 *   - the watcher has read every vault transaction;
 *   - each requester's chain-side ledger (deposits credited minus withdrawals landed) equals
 *     the vault's own per-account record.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CHAIN_ACCOUNT, StoreChainLedger, pendingWithdrawalAccount } from "../core/chain/store-ledger";
import { jobMovementRecords } from "../core/jobs/items";
import { startLocalChain } from "../local/chain";
import { openLmdbStore } from "../local/store-lmdb";

const big = (v: unknown): bigint => (v === undefined || v === null ? 0n : BigInt(v as bigint | number | string));

export interface InvariantReport {
  violations: string[];
  jobs: { open: number; completed: number; refunded: number };
  requesters: number;
  pendingWithdrawals: number;
  /** vault transactions the watcher had not read yet */
  unread: number;
}

interface Posting {
  account: string;
  field: "available" | "held";
  delta: string;
}

export async function checkInvariants(dataDir: string, o: { settled: boolean }): Promise<InvariantReport> {
  const violations: string[] = [];
  const fail = (s: string) => violations.push(s);
  const store = await openLmdbStore(join(dataDir, "store"));
  try {
    const accounts = new Map(store.scan("accounts").map((a) => [String(a.pk), { available: big(a.available), held: big(a.held) }]));
    const jobs = store.scan("jobs").filter((j) => j.sk === "job");
    // the ledger's records: its items, and the holds and settlements that job items record (issue 12)
    const movements = [...store.scan("ledger"), ...jobs.flatMap(jobMovementRecords)];
    const withdrawals = store.scan("chain").filter((w) => String(w.pk).startsWith("wd:") && w.reserved === true);

    // the ledger: balanced movements, balances = their postings, sum zero
    const replayed = new Map<string, { available: bigint; held: bigint }>();
    const chainSide = new Map<string, bigint>(); // requester id -> what chain movements put on req:/wdr:
    for (const m of movements) {
      const postings = (m.postings ?? []) as Posting[];
      const sum = postings.reduce((s, p) => s + BigInt(p.delta), 0n);
      if (sum !== 0n) fail(`movement ${m.pk} does not balance (sum ${sum})`);
      const touchesChain = postings.some((p) => p.account === CHAIN_ACCOUNT);
      for (const p of postings) {
        const r = replayed.get(p.account) ?? { available: 0n, held: 0n };
        r[p.field] += BigInt(p.delta);
        replayed.set(p.account, r);
        const owner = /^(?:req|wdr):(.+)$/.exec(p.account)?.[1];
        if (touchesChain && owner) chainSide.set(owner, (chainSide.get(owner) ?? 0n) + BigInt(p.delta));
      }
    }
    let total = 0n;
    for (const [id, a] of accounts) {
      total += a.available + a.held;
      const r = replayed.get(id) ?? { available: 0n, held: 0n };
      if (r.available !== a.available || r.held !== a.held)
        fail(`${id} is ${a.available}/${a.held} (available/held) but its movements add up to ${r.available}/${r.held}`);
    }
    for (const id of replayed.keys()) if (!accounts.has(id)) fail(`movements post to ${id}, which has no balance`);
    if (total !== 0n) fail(`the ledger sums to ${total}, not 0`);

    // held = open jobs' maximum cost
    const openCost = new Map<string, bigint>();
    const count = { open: 0, completed: 0, refunded: 0 };
    for (const j of jobs) {
      if (j.status === "assigned") {
        count.open++;
        openCost.set(String(j.requester), (openCost.get(String(j.requester)) ?? 0n) + big(j.maxCost));
      } else if (j.status === "completed") count.completed++;
      else if (j.status === "refunded") count.refunded++;
      else fail(`job ${j.jobId} has status ${String(j.status)}`);
    }
    const requesters = [...accounts.keys()].filter((a) => a.startsWith("req:")).map((a) => a.slice(4));
    for (const [id, a] of accounts) {
      const requester = id.startsWith("req:") ? id.slice(4) : undefined;
      const want = requester ? (openCost.get(requester) ?? 0n) : 0n;
      if (a.held !== want) fail(`${id} holds ${a.held}, its open jobs' maximum cost is ${want}`);
    }
    for (const [r, cost] of openCost) if (!accounts.has(`req:${r}`)) fail(`open jobs of ${r} (max cost ${cost}) but no account holds it`);
    if (o.settled && count.open > 0) fail(`${count.open} jobs are still open after recovery`);

    // reserved = pending withdrawals
    const pending = new Map<string, bigint>();
    let pendingCount = 0;
    for (const w of withdrawals) {
      if (w.status !== "pending") continue;
      pendingCount++;
      pending.set(String(w.account), (pending.get(String(w.account)) ?? 0n) + big(w.amount));
    }
    const owners = new Set([...pending.keys(), ...[...accounts.keys()].filter((a) => a.startsWith("wdr:")).map((a) => a.slice(4))]);
    for (const owner of owners) {
      const reserved = accounts.get(pendingWithdrawalAccount(owner)) ?? { available: 0n, held: 0n };
      const want = pending.get(owner) ?? 0n;
      if (reserved.available !== want || reserved.held !== 0n)
        fail(
          `${pendingWithdrawalAccount(owner)} reserves ${reserved.available} (held ${reserved.held}), pending withdrawals sum to ${want}`,
        );
    }

    // the chain against the ledger
    let unread = 0;
    const stateFile = join(dataDir, "chain.json");
    if (!existsSync(stateFile)) fail("no chain.json: the sandbox chain was never saved");
    else {
      const chain = await startLocalChain({ stateFile });
      const cursor = await new StoreChainLedger(store).getCursor();
      const vaultState = await chain.blockchain.getContract(chain.vaultAddress);
      if (cursor && vaultState.lastTransactionLt < BigInt(cursor.lt)) {
        fail(
          `the ledger read the vault up to lt ${cursor.lt}, the chain on disk ends at lt ${vaultState.lastTransactionLt}: it lost transactions the ledger reflects`,
        );
      }
      const vaultBalance = await chain.vaultBalance();
      const internal = [...accounts].filter(([id]) => !id.startsWith("ext:")).reduce((s, [, a]) => s + a.available + a.held, 0n);
      if (internal > vaultBalance) fail(`the ledger owes ${internal}, the vault holds ${vaultBalance}`);
      unread = (await chain.reader.getVaultTransactions(cursor, 1000)).txs.length;
      if (o.settled) {
        if (unread > 0) fail(`${unread} vault transactions after the watcher's cursor were never read`);
        for (const r of requesters) {
          const onChain = await chain.accountBalance(r);
          const inLedger = chainSide.get(r) ?? 0n;
          if (onChain !== inLedger)
            fail(`requester ${r}: the vault records ${onChain}, the ledger's deposits minus withdrawals are ${inLedger}`);
        }
      }
    }
    return { violations, jobs: count, requesters: requesters.length, pendingWithdrawals: pendingCount, unread };
  } finally {
    await store.close();
  }
}
