/**
 * `cocoon withdraw`: a coordinator-signed withdrawal that survives a lost answer and a crash.
 *
 * The coordinator reserves the amount and takes the account's next withdraw seqno the moment it
 * signs; the vault pays seqnos strictly in order. So a withdrawal whose answer was lost (dropped
 * connection, kill -9 between the signed answer and sending it) must be resumed, never asked for
 * again under a new Idempotency-Key: the second one would reserve the amount again and take
 * seqno N+1, which the vault refuses (ERR_BAD_SEQNO) while N was never sent, and both amounts
 * would stay locked until they expire (an hour, plus the release grace).
 *
 * The key therefore lives in a file next to the key file (`<key>.withdrawals.json`, one entry per
 * API host) from before the request is sent until the withdrawal is seen landed (or released):
 *   - the same command again (same amount, same destination) reuses the key: the coordinator
 *     answers the same withdrawal, which is then sent if it has not landed yet;
 *   - another withdrawal while one is unfinished is refused (unfinished_withdrawal), since its
 *     seqno could not be paid before the first one's anyway;
 *   - an answer that settles it (a 4xx refusal: nothing was reserved under the key; 410: it
 *     expired and was released) forgets the entry.
 * The vault itself never pays a seqno twice, so resending is always safe; this is about not
 * locking money and saying what happened.
 */
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { z } from "zod";
import { API, ApiError } from "../../api-client/api";
import { replaceFileSync } from "../../api-client/durable-file";
import { formatTon } from "../../api-client/format";
import { sameAddress } from "../../api-client/ton-address";
import { newWithdrawalKey, withdrawalDestination, type WithdrawOutcome } from "../../api-client/money";
import type { SignedWithdrawalView } from "../../events/withdrawals";
import { VerificationError, type CocoonClient } from "../sdk";

/** One unfinished withdrawal: what was asked, under which key, and what is known of its fate. */
const Intent = z.object({
  amount: z.string().regex(/^\d+$/),
  to: z.string(),
  idempotencyKey: z.string(),
  createdAt: z.string(),
  /** known once the coordinator answered */
  seqno: z.number().int().nonnegative().optional(),
  expiry: z.number().int().optional(),
  /** set before the Withdraw is sent from the sandbox wallet: a resume waits for the watcher first */
  sentAt: z.string().optional(),
});
type Intent = z.infer<typeof Intent>;
const IntentFile = z.record(z.string(), Intent);

/** The unfinished withdrawals kept next to a key file, by API host (the same key may be used on several networks). */
export class WithdrawalIntents {
  readonly path: string;
  constructor(
    keyFile: string,
    private readonly host: string,
  ) {
    this.path = `${keyFile}.withdrawals.json`;
  }

  private readAll(): Record<string, Intent> {
    if (!existsSync(this.path)) return {};
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(this.path, "utf8"));
    } catch {
      json = undefined; // half-written by hand, or not JSON: refused below like any other shape
    }
    const r = IntentFile.safeParse(json);
    if (!r.success)
      throw new ApiError(
        0,
        "withdrawal_state_unreadable",
        `${this.path} is not what cocoon wrote: check it, or move it away to start afresh`,
      );
    return r.data;
  }

  get(): Intent | undefined {
    return this.readAll()[this.host];
  }

  /**
   * Replaced whole and fsync'd (replaceFileSync): a crash or a power cut leaves the old state or the
   * new, never half, and never an empty file that forgets a reserved withdrawal's key.
   */
  put(i: Intent | undefined): void {
    const all = this.readAll();
    if (i) all[this.host] = i;
    else delete all[this.host];
    replaceFileSync(this.path, JSON.stringify(all, null, 2) + "\n", { mode: 0o600 });
  }
}

/** A lock file younger than this with no pid in it yet is its maker's, between its open and its write. */
const LOCK_BEING_WRITTEN_MS = 10_000;

const running = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // another user's: running
  }
};

/**
 * Held while one `cocoon withdraw` of a key runs (`<state>.lock`, its pid in it): two at once each
 * read the state before the other wrote it, so each reserved a withdrawal of its own (two seqnos,
 * the file keeping one key) where the second is to be refused. A lock whose process ended (kill -9,
 * a power cut) is taken over. Returns what releases it.
 */
export function lockWithdrawals(statePath: string): () => void {
  const file = `${statePath}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o600);
      try {
        writeSync(fd, String(process.pid));
      } finally {
        closeSync(fd);
      }
      return () => rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let pid: number;
    let age: number;
    try {
      pid = Number(readFileSync(file, "utf8").trim() || NaN);
      age = Date.now() - statSync(file).mtimeMs;
    } catch {
      continue; // gone since: try again
    }
    const held = Number.isSafeInteger(pid) && pid > 0 ? running(pid) : age < LOCK_BEING_WRITTEN_MS;
    if (held) throw new WithdrawalInProgressError(file, pid);
    rmSync(file, { force: true }); // its process ended without releasing it
  }
  throw new WithdrawalInProgressError(file, NaN);
}

/** Another `cocoon withdraw` of this key is running now: it finishes, or is resumed by the same command, before a new one. */
export class WithdrawalInProgressError extends ApiError {
  constructor(file: string, pid: number) {
    super(
      0,
      "withdrawal_in_progress",
      `another cocoon withdraw of this key is running${Number.isNaN(pid) ? "" : ` (pid ${pid})`}: wait until it ends, then run yours ` +
        `(two at once would reserve two withdrawals, the second not payable before the first). ` +
        `If no such command runs, delete ${file}`,
    );
  }
}

/** Another withdrawal is unfinished: asking for a new one now would lock money (see the header). */
export class UnfinishedWithdrawalError extends ApiError {
  constructor(i: Intent, file: string) {
    super(
      0,
      "unfinished_withdrawal",
      `a withdrawal of ${formatTon(i.amount)} to ${i.to}${i.seqno === undefined ? " (no answer was received: it may or may not be reserved)" : ` (seqno ${i.seqno}, expires ${new Date((i.expiry ?? 0) * 1000).toISOString()})`} is unfinished; ` +
        `run \`cocoon withdraw\` for that amount and --to that address to finish it (it is resumed, not asked for again), ` +
        `or wait until it expires and is released. A new one could not be paid before it (the vault pays seqnos in order). State: ${file}`,
    );
  }
}

export interface WithdrawCommandOptions {
  to?: string;
  /** told what is being waited for (the CLI's progress line) */
  onWait?: (what: string) => void;
  /** give up waiting for the chain watcher after this long (default 30 s) */
  timeoutMs?: number;
  pollMs?: number;
}

/** The outcome, plus whether it resumed a withdrawal asked for before. */
export type WithdrawCommandOutcome = WithdrawOutcome & { resumed: boolean };

/** 503s the coordinator answers before anything is reserved (core/withdrawals.ts, the store's retry). */
const NOTHING_DONE_503 = new Set(["withdrawals_unavailable", "chain_unavailable", "withdrawal_contention", "store_busy"]);
/**
 * A failure that leaves the outcome unknown: no answer (status 0) or a server error, which may
 * come after the reservation was written (a signer that failed, a gateway timeout). A 4xx, or a
 * 503 above, says nothing was reserved under the key.
 */
const unanswered = (e: unknown) =>
  !(e instanceof ApiError) || e.status === 0 || (e.status >= 500 && !(e.status === 503 && NOTHING_DONE_503.has(e.code)));

export async function withdrawCommand(
  client: CocoonClient,
  keyFile: string,
  amount: bigint,
  o: WithdrawCommandOptions = {},
): Promise<WithdrawCommandOutcome> {
  const release = lockWithdrawals(new WithdrawalIntents(keyFile, client.api.host).path);
  try {
    return await withdrawLocked(client, keyFile, amount, o);
  } finally {
    release();
  }
}

/** withdrawCommand's body, run while it holds the key's withdrawal lock. */
async function withdrawLocked(
  client: CocoonClient,
  keyFile: string,
  amount: bigint,
  o: WithdrawCommandOptions,
): Promise<WithdrawCommandOutcome> {
  const api = client.api;
  const { wallet, to } = await withdrawalDestination(api, o.to);

  const intents = new WithdrawalIntents(keyFile, api.host);
  let intent = intents.get();
  const resumed = intent !== undefined && intent.amount === amount.toString() && sameAddress(intent.to, to);
  if (intent && !resumed) {
    // Another one is on file: settled on the coordinator's side (landed, released, or unknown to it:
    // a local network started afresh) it is forgotten; pending, or not known to be settled, it blocks.
    const seqno = intent.seqno;
    const st =
      seqno === undefined
        ? "unknown"
        : await client.withdrawalStatus(seqno).then(
            (v) => v.status,
            (e: unknown) => (e instanceof ApiError && e.code === "withdrawal_not_found" ? "not_found" : "unknown"),
          );
    if (st === "pending" || st === "unknown") throw new UnfinishedWithdrawalError(intent, intents.path);
    intents.put(undefined);
    intent = undefined;
  }
  if (!intent || !resumed) {
    intent = { amount: amount.toString(), to, idempotencyKey: newWithdrawalKey(), createdAt: new Date().toISOString() };
    intents.put(intent); // before the request leaves: a crash after the coordinator signed keeps the key
  }
  if (resumed) o.onWait?.(`resuming the withdrawal asked for at ${intent.createdAt} (same Idempotency-Key: never reserved twice)`);

  const ask = async (i: Intent): Promise<SignedWithdrawalView> => {
    try {
      // i.to as first sent: the coordinator matches a replay by the exact text (raw and friendly forms differ)
      return await client.withdraw(amount, i.to, { idempotencyKey: i.idempotencyKey });
    } catch (e) {
      // refused by our own check (not the withdrawal asked for, or not signed by the registry's key): reserved, must not be sent; kept until it is released
      if (e instanceof VerificationError) throw e;
      if (unanswered(e)) {
        const why = e instanceof Error ? e.message : String(e);
        throw new ApiError(
          0,
          "withdrawal_unconfirmed",
          `no answer to the withdrawal request (${why}); it may have been reserved. Run the same command again: it resumes it under the same Idempotency-Key (kept in ${intents.path}), never a second withdrawal`,
        );
      }
      intents.put(undefined); // refused (4xx, or a 503 above): nothing is reserved under this key
      throw e;
    }
  };
  let w: SignedWithdrawalView;
  try {
    w = await ask(intent);
  } catch (e) {
    if (!(resumed && e instanceof ApiError && e.code === "withdrawal_expired")) throw e;
    // the one on file expired unused and was released: its amount is available again, ask afresh
    intent = { amount: amount.toString(), to, idempotencyKey: newWithdrawalKey(), createdAt: new Date().toISOString() };
    intents.put(intent);
    w = await ask(intent);
  }
  intent = { ...intent, seqno: w.seqno, expiry: w.expiry };
  intents.put(intent);

  const available = async () => (await client.balance()).available;
  // No sandbox: the requester sends it; the entry stays, so the same command prints the same withdrawal again.
  if (!wallet) return { withdrawal: w, sent: false, status: "pending", available: await available(), resumed };

  const settled = async (timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const st = await client.withdrawalStatus(w.seqno);
      if (st.status !== "pending") return st;
      if (Date.now() > deadline) return undefined;
      await new Promise((r) => setTimeout(r, o.pollMs ?? 200));
    }
  };
  const timeoutMs = o.timeoutMs ?? 30_000;
  let txHash: string | undefined;
  // Sent before (a crash or lost answer after sending): let the watcher record it rather than send it again.
  let st = intent.sentAt ? await settled(timeoutMs) : await client.withdrawalStatus(w.seqno);
  if (!st || st.status === "pending") {
    intents.put({ ...intent, sentAt: new Date().toISOString() });
    try {
      txHash = (await api.request(API.devWithdraw, { body: { withdrawal: w } })).txHash;
    } catch (e) {
      if (e instanceof ApiError && e.code === "withdraw_rejected") {
        throw new ApiError(
          e.status,
          e.code,
          `${e.message}. The amount stays reserved until the withdrawal expires (${new Date(w.expiry * 1000).toISOString()}) and is released; ` +
            `run the same command again to retry it (\`cocoon withdrawal ${w.seqno}\` shows where it stands)`,
        );
      }
      throw e;
    }
    o.onWait?.(`withdrawal ${txHash.slice(0, 12)}… sent; waiting for the chain watcher to record it`);
    st = await settled(timeoutMs);
  }
  if (!st)
    throw new ApiError(
      0,
      "withdrawal_not_recorded",
      `withdrawal seqno ${w.seqno}${txHash ? ` (tx ${txHash})` : ""} was sent but the chain watcher has not recorded it within ${Math.round(timeoutMs / 1000)} s; ` +
        `\`cocoon withdrawal ${w.seqno}\` shows where it stands (run the same withdraw again to resume it, never a second one)`,
    );
  intents.put(undefined); // landed or released: settled either way
  if (st.status === "released")
    throw new ApiError(
      0,
      "withdrawal_released",
      `withdrawal seqno ${w.seqno} expired before it was paid and was released: nothing was paid, ${formatTon(w.amount)} is available again`,
    );
  return {
    withdrawal: w,
    sent: true,
    ...((txHash ?? st.txHash) ? { txHash: txHash ?? st.txHash } : {}),
    status: st.status,
    available: await available(),
    resumed,
  };
}
