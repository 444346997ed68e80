/**
 * Settlement, batched per worker (issue 12). Results for one worker that arrive while its last
 * settlement is still committing are settled together in the next transaction: every job keeps
 * its own ledger item `settle:<jobId>` (written only if absent) and its own conditioned job
 * update, each requester's balance is updated once for all its jobs in the batch, and the
 * worker's balance (with its job and token counters) once for the whole batch — one update per
 * worker per batch instead of one per job, and one commit instead of many. Each settlement is
 * recorded by its job's move to completed (Settlement.record, issue 12), not a ledger item.
 *
 * Exactly once: the batch is one transaction, so it lands whole or not at all, and each of its
 * movements would refuse to apply twice anyway. If it fails for any reason (one job moved on
 * or was refunded meanwhile, a hold is gone, the store failed or its answer was lost), each
 * settlement of the batch is retried alone, so each caller learns its own outcome and a
 * movement that did land answers "duplicate". Every posting stays in the ledger item of its
 * job, so each balance is still exactly the sum of the postings on it.
 *
 * Batches form only inside one process (the local coordinator, or a Lambda handed several
 * results at once); a lone result is settled at once, as before. The results of one request
 * (a batch post, ./results.ts postResults) are queued as one group, which is never split
 * between transactions (a group holds at most MAX_SETTLE_BATCH).
 */
import type { CoreDeps } from "../deps";
import { applyMovement, movementsOps, workerAccount, type ApplyResult, type Movement, type MovementRecord } from "../ledger";
import type { Store, WriteOp } from "../ports";
import { StoreValidationError } from "../store-rules";

export interface Settlement {
  workerId: string;
  /** settleMovement(...) of this job */
  movement: Movement;
  /** what records it instead of a ledger item: the job's move to completed, conditioned on its attempt (issue 12) */
  record?: MovementRecord;
  /** what else commits with it: the receipt log */
  extra: WriteOp[];
  counters: { jobs: number; promptTokens: number; completionTokens: number };
}

/** At most this many jobs per transaction (DynamoDB allows 100 operations; a job takes up to 5). */
export const MAX_SETTLE_BATCH = 16;

interface Pending {
  s: Settlement;
  resolve(r: ApplyResult): void;
  reject(e: unknown): void;
}
interface Lane {
  busy: boolean;
  /** groups: each settle() call's settlements, committed in one transaction whenever they fit */
  queue: Pending[][];
}

/** Per store (one coordinator), per worker: the settlements waiting for the one in flight. */
const lanes = new WeakMap<Store, Map<string, Lane>>();

/**
 * Settle one job, batched with the worker's others that are waiting. Resolves like
 * applyMovement ("applied" | "duplicate") and throws what it throws (ConditionFailedError
 * with the index into `extra`, OverdraftError).
 */
export function settle(deps: Pick<CoreDeps, "store">, s: Settlement): Promise<ApplyResult> {
  return settleTogether(deps, [s])[0]!;
}

/**
 * Settle one worker's jobs in one transaction (with its others waiting, where they fit), each
 * answered alone as settle() answers: the results of one batch post. At most MAX_SETTLE_BATCH.
 */
export function settleTogether(deps: Pick<CoreDeps, "store">, ss: readonly Settlement[]): Array<Promise<ApplyResult>> {
  const workerId = ss[0]!.workerId;
  if (ss.length > MAX_SETTLE_BATCH || ss.some((s) => s.workerId !== workerId))
    throw new Error(`settleTogether: at most ${MAX_SETTLE_BATCH} settlements, all of one worker`);
  let byWorker = lanes.get(deps.store);
  if (!byWorker) lanes.set(deps.store, (byWorker = new Map()));
  let lane = byWorker.get(workerId);
  if (!lane) byWorker.set(workerId, (lane = { busy: false, queue: [] }));
  const group: Pending[] = [];
  const answers = ss.map((s) => new Promise<ApplyResult>((resolve, reject) => group.push({ s, resolve, reject })));
  lane.queue.push(group);
  if (!lane.busy) void drain(deps.store, byWorker, workerId, lane);
  return answers;
}

async function drain(store: Store, byWorker: Map<string, Lane>, workerId: string, lane: Lane) {
  lane.busy = true;
  try {
    while (lane.queue.length > 0) {
      // whole groups, as many as fit in one transaction (the first always)
      let n = 1;
      let size = lane.queue[0]!.length;
      while (n < lane.queue.length && size + lane.queue[n]!.length <= MAX_SETTLE_BATCH) size += lane.queue[n++]!.length;
      await commit(store, lane.queue.splice(0, n).flat());
    }
  } finally {
    lane.busy = false;
    if (lane.queue.length === 0) byWorker.delete(workerId);
  }
}

const countersOf = (ss: Settlement[]) => ({
  [workerAccount(ss[0]!.workerId)]: {
    jobs: ss.reduce((n, s) => n + s.counters.jobs, 0),
    promptTokens: ss.reduce((n, s) => n + s.counters.promptTokens, 0),
    completionTokens: ss.reduce((n, s) => n + s.counters.completionTokens, 0),
  },
});

async function commit(store: Store, batch: Pending[]): Promise<void> {
  if (batch.length > 1) {
    try {
      const ss = batch.map((p) => p.s);
      await store.transact([
        ...movementsOps(
          ss.map((s) => s.movement),
          countersOf(ss),
          ss.map((s) => s.record),
        ),
        ...ss.flatMap((s) => s.extra),
      ]);
      for (const p of batch) p.resolve("applied");
      return;
    } catch (e) {
      // Over a transaction's 4 MB (store.cheapTransactions: each settlement carries its reply, up
      // to 400 KB): refused before anything was written, so the batch commits as two halves,
      // each still one transaction, rather than each settlement alone.
      if (e instanceof StoreValidationError && e.code === "STORE_TRANSACTION_TOO_LARGE") {
        const half = Math.ceil(batch.length / 2);
        await commit(store, batch.slice(0, half));
        await commit(store, batch.slice(half));
        return;
      }
      // Someone's condition failed, or the store did: settle each alone below (each is
      // idempotent by its ledger item, so one that did land answers "duplicate").
    }
  }
  await Promise.all(
    batch.map(async (p) => {
      try {
        p.resolve(await applyMovement(store, p.s.movement, p.s.extra, countersOf([p.s]), p.s.record));
      } catch (e) {
        p.reject(e);
      }
    }),
  );
}
