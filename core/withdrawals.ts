/**
 * Requester withdrawals: money leaves the vault only with the coordinator's signature.
 *
 *   requestWithdrawal: checks the amount and address, then in ONE store transaction
 *     - moves `amount` from `req:<id>.available` to the pending-withdrawal account `wdr:<id>`
 *       (ledger movement `withdrawal:<id>:<seqno>:<gen>`, guarded against overdraft: reserved
 *       money can no longer be held for a job),
 *     - takes the account's next withdraw seqno (table "chain", pk=`wdseq:<id>`: `next`, `gen`,
 *       a conditional increment, so two concurrent requests never get the same seqno),
 *     - records the issued withdrawal (StoreChainLedger's `wd:<id>:<seqno>`, status "pending"),
 *   and only then signs it through the WithdrawalSigner port.
 *
 *   Landing: the chain watcher sees the vault pay it; StoreChainLedger.recordWithdrawal moves the
 *   amount from `wdr:<id>` to `ext:chain` and marks the record "landed" (exactly once).
 *
 *   Expiry: the vault refuses a withdrawal after its expiry, and its seqno must be the account's
 *   next one, so an unused seqno N blocks every later one until N is issued again. When the
 *   newest issued seqnos N..next-1 are all pending and expired (plus a grace period for clock
 *   skew and indexer lag), releaseExpiredWithdrawals returns their amounts to `available` (one
 *   movement), marks them "released" and rewinds `next` to N with a new `gen`, in one
 *   transaction conditioned on every record still being "pending": a release and a landing
 *   exclude each other. It never releases one that may have landed unseen (issue 9 #3): only
 *   after a chain watcher pass that started past expiry + grace AND read everything the chain
 *   showed (a pass that stopped at its page limit with transactions left does not count), and,
 *   where the vault's seqno getter is wired (`chainSeqno`: the sandbox locally, toncenter on
 *   AWS), only seqnos at or above the vault's counter. It runs lazily before every new
 *   withdrawal, and whenever a caller asks.
 *
 *   Seqnos: a new withdrawal never gets a seqno below the vault's counter (it would never be
 *   accepted) nor one the ledger saw land: it takes max(next, vault's seqno) and skips landed
 *   records.
 *
 *   Landing after release (should the release rules above still be beaten, e.g. an indexer
 *   lagging past the grace period): the watcher debits the amount from the requester again
 *   (StoreChainLedger.recordWithdrawal, match "after-release"), so money is conserved; the
 *   requester's available may go negative, a recorded debt that blocks new holds and
 *   withdrawals until deposits cover it; and it raises chain.withdrawal-after-release.
 *
 *   Vault: a withdrawal (a replay included), and a release where it reads the vault's seqno, first
 *   binds the store to the signer's vault, or refuses (503 vault_mismatch, nothing written) when
 *   it belongs to another (core/chain/vault-binding.ts): the counters and reservations are that
 *   vault's, and another vault's account wallets would refuse them. A release that reads no
 *   seqno rests on the watcher's caught-up time alone, which a refused watcher no longer moves.
 *
 *   Destinations: the vault's own address (the payment would bounce between the vault and
 *   itself until fees ate it) and addresses outside the basechain are refused with 400.
 */
import type { SignedWithdrawalView } from "../events/withdrawals";
import {
  issuedWithdrawalKey,
  issuedWithdrawalOp,
  pendingWithdrawalAccount,
  StoreChainLedger,
  withdrawalMovementId,
} from "./chain/store-ledger";
import { bindVault } from "./chain/vault-binding";
import type { CoreDeps } from "./deps";
import { CocoonError, UnavailableError } from "./errors";
import { applyMovement, getBalance, OverdraftError, requesterAccount, toBig, type Movement } from "./ledger";
import { ConditionFailedError, type Condition, type Item, type Store, type WriteOp } from "./ports";
import { RETRY, retryOptimistic } from "./retry";

/** The coordinator's withdrawal signer: the local sandbox's key, or a key from config on AWS. */
export interface WithdrawalSigner {
  /** the vault the withdrawals are for (raw form "0:<hex>") */
  readonly vault: string;
  /** Canonical raw form ("0:<hex>") of a destination address; throws InvalidWithdrawalAddressError. */
  address(to: string): string;
  sign(w: { account: string; to: string; amount: bigint; seqno: number; expiry: number }): Promise<{ signature: string }>;
  /** The vault's withdraw seqno for the account (how many of its withdrawals landed), when the chain can be read. */
  chainSeqno?(account: string): Promise<number>;
}

/** What the withdrawal routes need beyond CoreDeps (absent where withdrawals are off). */
export interface WithdrawalDeps {
  withdrawalSigner?: WithdrawalSigner;
}

export class InvalidWithdrawalAddressError extends CocoonError {
  constructor(message: string) {
    super(400, "invalid_address", message);
  }
}

/** A destination the vault refuses to pay (its own address, another workchain): 400 with the code. */
export class WithdrawalDestinationError extends CocoonError {
  constructor(code: "withdrawal_to_vault" | "payout_to_vault" | "unsupported_workchain", message: string) {
    super(400, code, message);
  }
}

/**
 * Refuses what the vault's checkDestination (contracts/vault.tact) would refuse, before any money
 * moves: its own address (the payment would come straight back) and anything off the basechain.
 * `address` is raw ("wc:hex"), as the signers return it. A withdrawal or voucher signed to such an
 * address could never be redeemed, and a voucher's address is bound to the worker for good.
 */
export function refuseUnpayable(address: string, vault: string, field: "to" | "payoutAddress"): void {
  if (address === vault) {
    throw new WithdrawalDestinationError(
      field === "to" ? "withdrawal_to_vault" : "payout_to_vault",
      `${field} is the vault's own address: the payment would come straight back and be sent back again until fees ate it; ${field === "to" ? "withdraw to" : "be paid to"} a wallet of yours`,
    );
  }
  if (!address.startsWith("0:")) {
    throw new WithdrawalDestinationError(
      "unsupported_workchain",
      `${field} ${address} is outside the basechain (workchain 0): the vault pays basechain addresses only`,
    );
  }
}

/** The vault's seqno getter could not be read: no seqno can be issued safely. */
export class ChainUnavailableError extends CocoonError {
  constructor(message: string) {
    super(503, "chain_unavailable", message);
  }
}

export const DEFAULT_WITHDRAWAL_TTL_SECONDS = 3_600;
/** How long after its expiry a withdrawal is still treated as possibly landed (clock skew, watcher lag). */
export const DEFAULT_RELEASE_GRACE_SECONDS = 60;
/** The vault stores amounts as coins (VarUInteger 16): below 2^120. */
const MAX_AMOUNT = (1n << 120n) - 1n;
const MAX_RELEASE_BATCH = 90; // DynamoDB: 100 ops per transaction

export type WithdrawalStatus = "pending" | "landed" | "released";

export interface WithdrawalRecord {
  account: string;
  seqno: number;
  gen: number;
  amount: bigint;
  to: string;
  expiry: number;
  status: WithdrawalStatus;
  landedTx?: string;
}

export { withdrawalMovementId };
export const releaseMovementId = (account: string, fromSeqno: number, gen: number) => `withdrawal-release:${account}:${fromSeqno}:${gen}`;
const seqKey = (account: string) => ({ pk: `wdseq:${account}`, sk: "n" });

interface SeqState {
  next: number;
  gen: number;
  exists: boolean;
}

async function readSeq(store: Store, account: string): Promise<SeqState> {
  const it = await store.get("chain", seqKey(account));
  return it ? { next: Number(it.next), gen: Number(it.gen), exists: true } : { next: 0, gen: 0, exists: false };
}

const seqGuard = (s: SeqState): Condition =>
  s.exists
    ? {
        kind: "and",
        all: [
          { kind: "cmp", attr: "next", op: "=", value: s.next },
          { kind: "cmp", attr: "gen", op: "=", value: s.gen },
        ],
      }
    : { kind: "notExists" };

function toRecord(it: Item): WithdrawalRecord | undefined {
  if (it.reserved !== true) return undefined;
  return {
    account: String(it.account),
    seqno: Number(it.seqno),
    gen: Number(it.gen),
    amount: toBig(it.amount),
    to: String(it.to),
    expiry: Number(it.expiry),
    status: it.status as WithdrawalStatus,
    ...(typeof it.landedTx === "string" ? { landedTx: it.landedTx } : {}),
  };
}

/** The withdrawal issued under this seqno (the latest issue of it), when core/withdrawals issued it. */
export async function getWithdrawal(store: Store, account: string, seqno: number): Promise<WithdrawalRecord | undefined> {
  const it = await store.get("chain", issuedWithdrawalKey(account, seqno));
  return it ? toRecord(it) : undefined;
}

function signerOf(deps: CoreDeps & WithdrawalDeps): WithdrawalSigner {
  const signer = deps.withdrawalSigner;
  if (!signer)
    throw new UnavailableError("withdrawals_unavailable", "this coordinator has no withdrawal signing key configured; withdrawals are off");
  return signer;
}

/**
 * Reserve `amount` of the caller's available balance and hand back the coordinator-signed
 * withdrawal for it (send it to the vault before `expiry`).
 */
export async function requestWithdrawal(
  deps: CoreDeps & WithdrawalDeps,
  account: string,
  req: { amount: bigint; to: string },
  o: { ttlSeconds?: number; graceSeconds?: number; idempotencyKey?: string } = {},
): Promise<SignedWithdrawalView> {
  const signer = signerOf(deps);
  // Before anything, a replay included: the seqnos and balances here are the bound vault's.
  await bindVault(deps.store, signer.vault, deps.clock.now());
  // A retried request (same Idempotency-Key) gets the same withdrawal back, never a second reservation.
  const idem = o.idempotencyKey === undefined ? undefined : { pk: `${account}#withdraw#${o.idempotencyKey}`, sk: "withdraw" };
  const bodyHash = `${req.amount}>${req.to}`;
  if (idem) {
    const prior = await deps.store.get("idempotency", idem);
    if (prior) return replayWithdrawal(deps, signer, account, prior, bodyHash);
  }
  if (req.amount <= 0n || req.amount > MAX_AMOUNT) {
    throw new CocoonError(
      400,
      "invalid_amount",
      `amount must be a positive whole number of nanoTON below 2^120 (the vault's coins field), got ${req.amount}`,
    );
  }
  const to = signer.address(req.to);
  refuseUnpayable(to, signer.vault, "to");
  await releaseExpiredWithdrawals(deps, account, o);
  const chainSeq = await readChainSeqno(signer, account);

  const contention = () =>
    new UnavailableError("withdrawal_contention", "could not issue the withdrawal: concurrent withdrawals kept conflicting; try again", 1);
  return retryOptimistic<SignedWithdrawalView>({ attempts: 8, exhausted: contention }, async () => {
    const seq = await readSeq(deps.store, account);
    // never below the vault's counter (the vault would refuse it), never one the ledger saw land
    let seqno = Math.max(seq.next, chainSeq ?? 0);
    let prior = await deps.store.get("chain", issuedWithdrawalKey(account, seqno));
    for (let skipped = 0; prior?.status === "landed" && skipped < MAX_RELEASE_BATCH; skipped++)
      prior = await deps.store.get("chain", issuedWithdrawalKey(account, ++seqno));
    if (seqno !== seq.next)
      deps.log.warn("withdrawal seqno counter behind the vault: skipping seqnos already spent on chain", {
        account,
        next: seq.next,
        chainSeqno: chainSeq,
        issuing: seqno,
      });
    const now = deps.clock.now();
    const expiry = Math.floor(now / 1000) + (o.ttlSeconds ?? DEFAULT_WITHDRAWAL_TTL_SECONDS);
    const m: Movement = {
      id: withdrawalMovementId(account, seqno, seq.gen),
      kind: "withdrawal",
      at: now,
      meta: {
        account,
        seqno: String(seqno),
        gen: String(seq.gen),
        to,
        amount: req.amount.toString(),
        expiry: String(expiry),
        stage: "reserve",
      },
      postings: [
        { account: requesterAccount(account), field: "available", delta: -req.amount },
        { account: pendingWithdrawalAccount(account), field: "available", delta: req.amount },
      ],
    };
    // a seqno is issued again only after its previous issue was released (never over a pending or landed one)
    if (prior && prior.status !== "released") return RETRY; // the counter moved meanwhile: read it again
    const extra: WriteOp[] = [
      { op: "put", table: "chain", item: { ...seqKey(account), next: seqno + 1, gen: seq.gen, at: now }, when: seqGuard(seq) },
      issuedWithdrawalOp({ account, seqno, amount: req.amount, to, expiry }, now, {
        gen: seq.gen,
        when: prior ? { kind: "cmp", attr: "status", op: "=", value: "released" } : { kind: "notExists" },
      }),
      ...(idem
        ? [
            {
              op: "put" as const,
              table: "idempotency" as const,
              item: { ...idem, seqno, gen: seq.gen, bodyHash, ttl: expiry + 86_400 },
              when: { kind: "notExists" as const },
            },
          ]
        : []),
    ];
    try {
      const r = await applyMovement(deps.store, m, extra);
      if (r === "duplicate") return RETRY; // someone took this seqno: read the counter again
    } catch (e) {
      if (e instanceof OverdraftError) {
        const b = await getBalance(deps.store, requesterAccount(account));
        throw new CocoonError(
          402,
          "insufficient_funds",
          `withdrawing ${req.amount} nanoTON needs that much available, the account has ${b.available} nanoTON available (money held for running jobs or reserved for other withdrawals is not)`,
          { needed: req.amount.toString(), available: b.available.toString() },
        );
      }
      if (e instanceof ConditionFailedError) {
        // the same request, retried concurrently, may have won: then answer as it did
        const won = idem && (await deps.store.get("idempotency", idem));
        if (won) return replayWithdrawal(deps, signer, account, won, bodyHash);
        return RETRY; // raced another withdrawal: next seqno
      }
      throw e;
    }
    const { signature } = await signer.sign({ account, to, amount: req.amount, seqno, expiry });
    deps.log.info("withdrawal issued", { account, seqno, gen: seq.gen, to, amount: req.amount.toString(), expiry });
    return { vault: signer.vault, account, to, amount: req.amount.toString(), seqno, expiry, signature };
  });
}

async function readChainSeqno(signer: WithdrawalSigner, account: string): Promise<number | undefined> {
  if (!signer.chainSeqno) return undefined;
  try {
    return await signer.chainSeqno(account);
  } catch (e) {
    throw new ChainUnavailableError(
      `could not read the vault's withdraw seqno for this account (${e instanceof Error ? e.message : String(e)}); try again shortly`,
    );
  }
}

async function replayWithdrawal(
  deps: CoreDeps,
  signer: WithdrawalSigner,
  account: string,
  prior: Item,
  bodyHash: string,
): Promise<SignedWithdrawalView> {
  if (prior.bodyHash !== bodyHash) {
    throw new CocoonError(
      422,
      "idempotency_key_reused",
      "this Idempotency-Key was used for a different withdrawal (amount or destination): use a new key for a new withdrawal",
    );
  }
  const w = await getWithdrawal(deps.store, account, Number(prior.seqno));
  if (!w || w.gen !== Number(prior.gen) || w.status === "released") {
    throw new CocoonError(
      410,
      "withdrawal_expired",
      "the withdrawal this key made expired unused and its amount is available again: request a new one with a new key",
    );
  }
  const { signature } = await signer.sign({ account, to: w.to, amount: w.amount, seqno: w.seqno, expiry: w.expiry });
  return { vault: signer.vault, account, to: w.to, amount: w.amount.toString(), seqno: w.seqno, expiry: w.expiry, signature };
}

export interface ReleaseResult {
  released: number;
  amount: bigint;
  seqnos: number[];
}

/**
 * Return the reservations of expired, never-landed withdrawals to `available` (see the header).
 * Safe to call any time, concurrently and repeatedly: each reservation comes back at most once.
 */
export async function releaseExpiredWithdrawals(
  deps: CoreDeps & WithdrawalDeps,
  account: string,
  o: { graceSeconds?: number } = {},
): Promise<ReleaseResult> {
  const none: ReleaseResult = { released: 0, amount: 0n, seqnos: [] };
  const seq = await readSeq(deps.store, account);
  if (seq.next === 0) return none;
  const grace = o.graceSeconds ?? DEFAULT_RELEASE_GRACE_SECONDS;
  const nowS = Math.floor(deps.clock.now() / 1000);
  const signer = deps.withdrawalSigner;
  let chainSeq: number | undefined;
  let caughtUp: number | null | undefined;

  const candidates: WithdrawalRecord[] = [];
  for (let s = seq.next - 1; s >= 0 && candidates.length < MAX_RELEASE_BATCH; s--) {
    const rec = await getWithdrawal(deps.store, account, s);
    // A pending record is the live issue of its seqno whatever its gen: one below an earlier
    // release's batch (over MAX_RELEASE_BATCH at once) keeps the gen it was issued with.
    if (!rec || rec.status !== "pending" || rec.gen > seq.gen || nowS <= rec.expiry + grace) break;
    // never release what may have landed without the watcher having seen it yet: the watcher
    // must have read everything up to past expiry + grace...
    caughtUp ??= await new StoreChainLedger(deps.store).lastCaughtUpAt();
    if (caughtUp === null || caughtUp < (rec.expiry + grace) * 1000) break;
    // ...and, where it can be read, the vault must not have spent the seqno
    if (signer?.chainSeqno) {
      if (chainSeq === undefined) {
        // the seqno read below is the configured vault's: never release against another one's
        // (checked here, not up front: a release with nothing to release reads nothing more)
        await bindVault(deps.store, signer.vault, deps.clock.now());
        try {
          chainSeq = await signer.chainSeqno(account);
        } catch (e) {
          deps.log.warn("vault seqno unreadable: expired withdrawals stay reserved for now", {
            account,
            error: e instanceof Error ? e.message : String(e),
          });
          break;
        }
      }
      if (s < chainSeq) break;
    }
    candidates.push(rec);
  }
  if (candidates.length === 0) return none;
  // only a suffix of the issued seqnos can be rewound
  if (candidates[0]!.seqno !== seq.next - 1) return none;
  const from = candidates[candidates.length - 1]!.seqno;
  const amount = candidates.reduce((sum, r) => sum + r.amount, 0n);
  const now = deps.clock.now();
  const m: Movement = {
    id: releaseMovementId(account, from, seq.gen),
    kind: "withdrawal",
    at: now,
    meta: { account, seqnos: candidates.map((r) => r.seqno).join(","), gen: String(seq.gen), stage: "release" },
    postings: [
      { account: pendingWithdrawalAccount(account), field: "available", delta: -amount },
      { account: requesterAccount(account), field: "available", delta: amount },
    ],
  };
  const extra: WriteOp[] = [
    { op: "put", table: "chain", item: { ...seqKey(account), next: from, gen: seq.gen + 1, at: now }, when: seqGuard(seq) },
    ...candidates.map((r): WriteOp => ({
      op: "update",
      table: "chain",
      key: issuedWithdrawalKey(account, r.seqno),
      set: { status: "released", releasedAt: now },
      when: {
        kind: "and",
        all: [
          { kind: "cmp", attr: "status", op: "=", value: "pending" },
          { kind: "cmp", attr: "gen", op: "=", value: r.gen },
        ],
      },
    })),
  ];
  try {
    const r = await applyMovement(deps.store, m, extra);
    if (r === "duplicate") return none;
  } catch (e) {
    // another release or a landing got there first: nothing to do now
    if (e instanceof ConditionFailedError || e instanceof OverdraftError) return none;
    throw e;
  }
  deps.log.info("expired withdrawals released", {
    account,
    seqnos: candidates.map((r) => r.seqno),
    amount: amount.toString(),
    rewoundTo: from,
  });
  return { released: candidates.length, amount, seqnos: candidates.map((r) => r.seqno).reverse() };
}
