/**
 * Tabs: one hold for many jobs (issue 12, docs/architecture.md §3b). A requester opens a tab of
 * `slots` × `slotCost` in one movement; each job under it takes a slot instead of holding for
 * itself, so its submit writes the job item (put only if absent; with its envelope item where
 * ./items.ts envelopeItemStored), no balance,
 * and its result writes the job's move to completed and its reply, no balance and no receipt
 * entry. When the tab has run out and every job under it has ended, one transaction closes it:
 * each worker is credited the sum of its completed jobs' costs (less each job's operator fee, which
 * goes to the operator's account), the rest of the hold goes back,
 * and the completed jobs' receipts join the receipt log. DynamoDB writes per job: about 9 WRU
 * (with the anchorer's) instead of 16.
 *
 * Why no write to the tab per job: slot i is the job id tabSlotJobId(tabId, i), which a job
 * item can hold only once (its put is conditioned on absence), and a job may hold at most
 * slotCost (its header's maxCost, checked at submit). So a tab's jobs can never hold more than
 * slots × slotCost, whatever the requests, with no counter to update. The tab is MAC'd like a
 * quote (./quote.ts): a submit checks its MAC, not a stored item. So the MAC names the deployment
 * (tokenDomain): a tab opened on another stage that shares the quote key has no tab item and no
 * hold here, and accepted it would run jobs that no close ever pays for; it is refused (bad_tab).
 * What the MAC cannot tell is a store restored from a backup taken before the tab opened: the
 * quote key is rotated then (docs/deploy.md).
 *
 * Why the close waits TAB_CLOSE_GRACE_MS (2 min) past the tab's expiry: a submit checks the
 * expiry, then writes its job, and checks the clock again right before that write, refusing it
 * once TAB_SUBMIT_DEADLINE_MS (30 s) past the expiry (on AWS its function's 29 s timeout ends
 * it sooner still). So no job of the tab can appear after the close has read its slots; the 90 s
 * between the two cover clocks that disagree and a write in flight. The close then waits for
 * every job it found still assigned (their leases end each in a completion or a refund), so it
 * never pays for a job that could still change. (Until session 12 it waited COMMIT_WAIT_MS, 15
 * minutes, the bound of any Lambda: workers were paid 13 minutes later for nothing.)
 *
 * Exactly once: the close is one transaction conditioned on the tab being open and writing the
 * `tabclose:<tabId>` ledger item only if absent; a crash before it commits redoes the whole
 * close, a crash after it leaves nothing to do.
 */
import type { OpenTabRequest, Tab, TabView } from "../../events/api";
import type { TabCloseMessage } from "../../events/queue";
import type { Receipt } from "../../events/envelope";
import { enforceRateLimit } from "../attestation/rate-limit";
import { DEFAULT_MIN_TAB_HOLD } from "../config";
import { b64u, canonicalJson, sha256Hex } from "../crypto/encoding";
import { tokenMac, tokenMacMatches } from "../crypto/keys";
import type { CoreDeps } from "../deps";
import {
  CocoonError,
  ForbiddenError,
  GoneError,
  InsufficientFundsError,
  NotFoundError,
  TabTooSmallError,
  ValidationError,
} from "../errors";
import { tabIdFor, tabSlotJobId } from "../ids";
import {
  applyMovement,
  getBalance,
  OverdraftError,
  requesterAccount,
  tabCloseMovement,
  tabOpenMovement,
  workerAccount,
  type AccountCounters,
} from "../ledger";
import { ConditionFailedError, type Item } from "../ports";
import { appendReceiptOp } from "../receipts/log";
// a cycle (dispatch routes tab messages here), used only at call time
import { awaitCommit } from "./dispatch";
import { tokenDomain } from "./quote";
import { delaySecondsUntil, jobKey, readJob, readReceipt, RETAIN_SECONDS, workerCredit, type JobItem } from "./items";
import { jobTtl } from "./retention";

/** pk=tabId sk="tab" in `jobs`: an open tab's terms, and once closed what its jobs cost. */
export interface TabItem extends Item {
  tabId: string;
  requester: string;
  slots: number;
  slotCost: string;
  expiresAt: number;
  status: "open" | "closed";
  /** sha256 of the open request's canonical body: a retry with another body is refused */
  bodyHash: string;
  createdAt: number;
  /** closed: the sum of its completed jobs' costs, and how many completed */
  cost?: string;
  completed?: number;
  closedAt?: number;
}

export const tabKey = (tabId: string) => ({ pk: tabId, sk: "tab" });
/** What a tab holds: slots × slotCost. */
const tabHeld = (t: Pick<TabItem, "slots" | "slotCost">) => BigInt(t.slots) * BigInt(t.slotCost);

/** A submit under a tab writes its job no later than this past the tab's expiry (checkTabDeadline). */
export const TAB_SUBMIT_DEADLINE_MS = 30_000;
/** A tab closes this long after it expires, at the earliest: see the header. */
export const TAB_CLOSE_GRACE_MS = 120_000;
/** A close check that found a job of the tab still running looks again no sooner than this. */
export const TAB_RECHECK_MS = 5_000;
export const tabClosesAfter = (t: Pick<TabItem, "expiresAt">) => t.expiresAt + TAB_CLOSE_GRACE_MS;

const DOMAIN = "cocoon/v1/tab\n";
type TabBody = Omit<Tab, "mac">;

function signTab(deps: Pick<CoreDeps, "config">, t: TabItem): Tab {
  const body: TabBody = { v: 1, tabId: t.tabId, requester: t.requester, slots: t.slots, slotCost: t.slotCost, expiresAt: t.expiresAt };
  return { ...body, mac: b64u.encode(tokenMac(deps.config.quoteKey, tokenDomain(deps.config, DOMAIN), body)) };
}

/**
 * The tab, if this coordinator made it, for this requester, and still open to new jobs.
 * 403 bad_tab (forged, edited, another coordinator's key or deployment), 403 not_your_tab, 410 tab_expired.
 */
export function verifyTab(deps: Pick<CoreDeps, "config" | "clock">, requester: string, tab: Tab): TabBody {
  const { mac, ...body } = tab;
  if (!tokenMacMatches(deps.config.quoteKey, tokenDomain(deps.config, DOMAIN), body, mac)) {
    throw new ForbiddenError(
      "bad_tab",
      "the tab's MAC does not verify: it was changed, or made by another coordinator (another deployment, or one whose COCOON_QUOTE_KEY differs); open a new tab",
    );
  }
  if (body.requester !== requester) throw new ForbiddenError("not_your_tab", "this tab was opened by another account");
  if (body.expiresAt < deps.clock.now()) throw new GoneError("tab_expired", "the tab takes no more jobs: open a new one");
  return body;
}

/**
 * Submit's last check before it writes a job under this tab: still within TAB_SUBMIT_DEADLINE_MS
 * of its expiry (the tab verified at the submit's start; this bounds how late its write can come,
 * which the close's grace relies on). 410 tab_expired past it, before anything of the job's is
 * written but its lease check (dropped, no job).
 */
export function checkTabDeadline(deps: Pick<CoreDeps, "clock">, tab: Pick<Tab, "expiresAt">): void {
  if (deps.clock.now() > tab.expiresAt + TAB_SUBMIT_DEADLINE_MS)
    throw new GoneError("tab_expired", "the tab expired while this submit ran: open a new one");
}

/**
 * Submit's check of a job under a tab (SubmitRequest.tab): the tab verifies, the slot is one of
 * its own and names this job, and the job holds at most a slot's worth. Returns the tab's id.
 */
export function checkTabSlot(
  deps: Pick<CoreDeps, "config" | "clock">,
  requester: string,
  t: { tab: Tab; slot: number },
  job: { jobId: string; maxCost: string },
): string {
  const tab = verifyTab(deps, requester, t.tab);
  // a slot the close never reads (negative, fractional) would run a job on the tab unpaid: the
  // wire schema refuses those too, this keeps every caller honest
  if (!Number.isSafeInteger(t.slot) || t.slot < 0 || t.slot >= tab.slots)
    throw new ValidationError(`tab.slot must be a whole number below the tab's ${tab.slots} slots`, {
      fields: ["tab.slot"],
      slots: tab.slots,
    });
  const want = tabSlotJobId(tab.tabId, t.slot);
  if (job.jobId !== want) {
    throw new ValidationError(`a job under slot ${t.slot} of this tab must have the job id ${want}`, {
      fields: ["envelope.header.jobId"],
      jobId: want,
    });
  }
  if (BigInt(job.maxCost) > BigInt(tab.slotCost)) {
    throw new ValidationError(`envelope.header.maxCost must be at most the tab's slotCost ${tab.slotCost}`, {
      fields: ["maxCost"],
      slotCost: tab.slotCost,
    });
  }
  return tab.tabId;
}

/** Queue a tab's close check for when it may close (recovery after a restart that lost the queues). */
export const sendTabCloseCheck = (deps: CoreDeps, t: TabItem) => sendCloseCheck(deps, t.tabId, tabClosesAfter(t));

const viewOf = (deps: Pick<CoreDeps, "config">, t: TabItem): TabView => ({
  tab: signTab(deps, t),
  status: t.status,
  closesAfter: tabClosesAfter(t),
  ...(t.cost !== undefined ? { cost: t.cost } : {}),
  ...(t.completed !== undefined ? { completed: t.completed } : {}),
});

/** Queue the tab's close check for when it may close (SQS delays at most 900 s: it then sends itself again). */
async function sendCloseCheck(deps: CoreDeps, tabId: string, atMs: number) {
  const msg: TabCloseMessage = { type: "tab", tabId };
  await deps.queues.send("matching", msg, { delaySeconds: delaySecondsUntil(deps, atMs) });
}

/**
 * POST /v1/tabs: hold slots × slotCost in one movement and answer the MAC'd tab. The
 * Idempotency-Key names the tab (tabIdFor): a retry with the same body answers the same tab,
 * with another body 422 idempotency_key_reused; 402 insufficient_funds holds nothing.
 */
export async function openTab(
  deps: CoreDeps,
  requester: string,
  req: OpenTabRequest,
  idempotencyKey: string,
): Promise<{ view: TabView; replayed: boolean }> {
  const tabId = tabIdFor(requester, idempotencyKey);
  const bodyHash = sha256Hex(canonicalJson(req));
  const prior = await deps.store.get<TabItem>("jobs", tabKey(tabId));
  if (prior) return { view: replayOpen(deps, prior, bodyHash), replayed: true };

  const amount = tabHeld(req);
  const floor = deps.config.minTabHold ?? DEFAULT_MIN_TAB_HOLD;
  if (amount < floor) throw new TabTooSmallError(amount, floor);
  const now = deps.clock.now();
  // After the replay: a retry of the same open answers the same tab and costs no token.
  enforceRateLimit(deps.store, deps.config.rateLimits, "tab_open", requester, now);
  const tab: TabItem = {
    ...tabKey(tabId),
    tabId,
    requester,
    slots: req.slots,
    slotCost: req.slotCost,
    expiresAt: now + req.ttlSeconds * 1000,
    status: "open",
    bodyHash,
    createdAt: now,
  };
  // Sent before the commit, like a lease check: a crash after the commit still leaves the tab
  // its close; a check for a tab that never committed is dropped (handleTabClose).
  await sendCloseCheck(deps, tabId, tabClosesAfter(tab));
  try {
    const r = await applyMovement(deps.store, tabOpenMovement(tabId, requester, amount, now), [
      { op: "put", table: "jobs", item: tab, when: { kind: "notExists" } },
    ]);
    if (r === "duplicate") return { view: await replayStored(deps, tabId, bodyHash), replayed: true };
  } catch (e) {
    if (e instanceof OverdraftError) {
      const bal = await getBalance(deps.store, requesterAccount(requester));
      throw new InsufficientFundsError(amount, bal.available);
    }
    if (e instanceof ConditionFailedError) return { view: await replayStored(deps, tabId, bodyHash), replayed: true };
    throw e;
  }
  deps.log.info("tab opened", { tabId, slots: req.slots, slotCost: req.slotCost });
  return { view: viewOf(deps, tab), replayed: false };
}

function replayOpen(deps: CoreDeps, prior: TabItem, bodyHash: string): TabView {
  if (prior.bodyHash !== bodyHash) {
    throw new CocoonError(
      422,
      "idempotency_key_reused",
      "this Idempotency-Key opened a tab with another body: use a new key for a new tab",
    );
  }
  return viewOf(deps, prior);
}

async function replayStored(deps: CoreDeps, tabId: string, bodyHash: string): Promise<TabView> {
  const t = await deps.store.get<TabItem>("jobs", tabKey(tabId));
  if (!t) throw new Error(`tab ${tabId}: its open reported a duplicate but the tab is not there`);
  return replayOpen(deps, t, bodyHash);
}

/** GET /v1/tabs/{tabId}: the requester's own tab (another's, or none: 404 unknown_tab, the same answer). */
export async function getTab(deps: CoreDeps, requester: string, tabId: string): Promise<TabView> {
  const t = await deps.store.get<TabItem>("jobs", tabKey(tabId));
  if (!t || t.requester !== requester) throw new NotFoundError("unknown_tab", `no tab ${tabId}`);
  return viewOf(deps, t);
}

/** What the tab's close found: every slot's job of this tab that completed, or why it cannot close yet. */
type SlotsRead = { kind: "final"; completed: JobItem[] } | { kind: "open"; until: number };

/** Read the tab's slots. A job at a slot id that is not this tab's (a job with its own hold under that id) is not the tab's to pay. */
async function readSlots(deps: CoreDeps, t: TabItem): Promise<SlotsRead> {
  const jobs = await Promise.all(Array.from({ length: t.slots }, (_, i) => readJob(deps.store, tabSlotJobId(t.tabId, i))));
  const mine = jobs.filter((j): j is JobItem => j !== undefined && j.tab === t.tabId && j.requester === t.requester);
  const open = mine.filter((j) => j.status !== "completed" && j.status !== "refunded");
  if (open.length > 0) return { kind: "open", until: Math.max(...open.map((j) => j.leaseUntil)) };
  return { kind: "final", completed: mine.filter((j) => j.status === "completed") };
}

/**
 * Matching queue consumer, a tab's close check (TabCloseMessage). Idempotent per message:
 * "stale" (closed already, or never committed), "awaiting" (its open not committed yet),
 * "rescheduled" (too early), "waiting" (a job of it still running), "closed".
 */
export async function handleTabClose(deps: CoreDeps, msg: TabCloseMessage): Promise<string> {
  const now = deps.clock.now();
  const t = await deps.store.get<TabItem>("jobs", tabKey(msg.tabId));
  // sent before its open's commit: wait for it as a lease check waits for its job
  if (!t) return awaitCommit(deps, msg);
  if (t.status !== "open") {
    // closed: a check again (a crash right after the close, a duplicate) gives its jobs the
    // retention the close may not have lived to give them
    const slots = await readSlots(deps, t);
    if (slots.kind === "final") await startRetention(deps, t, slots.completed);
    return "stale";
  }
  if (now < tabClosesAfter(t)) {
    await sendCloseCheck(deps, t.tabId, tabClosesAfter(t));
    return "rescheduled";
  }
  const slots = await readSlots(deps, t);
  if (slots.kind === "open") {
    // each will end in a completion or a refund by its lease check; look again after the last
    // lease, and not sooner than TAB_RECHECK_MS: a lease check can come late (one that waited
    // for its commit), and a close looking every second would read every slot each time
    await sendCloseCheck(deps, t.tabId, Math.max(slots.until, now + TAB_RECHECK_MS));
    return "waiting";
  }
  if (!(await closeTab(deps, t, slots.completed))) return "stale";
  await startRetention(deps, { ...t, closedAt: now }, slots.completed);
  return "closed";
}

/**
 * The retention of a closed tab's completed jobs (./retention.ts), from its close: set only once
 * the close has committed, since the close pays each worker from its job items. A lone update per
 * job without a ttl (the close's transaction has no room for 32 more items), each conditioned on
 * the job being completed, so it never gives a ttl to anything but an ended job. One lost to a
 * crash is set by the next check of the closed tab (handleTabClose); until then the job is kept.
 */
async function startRetention(deps: CoreDeps, t: TabItem, completed: JobItem[]): Promise<void> {
  const ttl = jobTtl(deps, t.closedAt ?? deps.clock.now());
  const when = { kind: "cmp" as const, attr: "status", op: "=" as const, value: "completed" };
  await Promise.all(
    completed
      .filter((j) => j.ttl === undefined)
      .map((j) => deps.store.transact([{ op: "update", table: "jobs", key: jobKey(j.jobId), set: { ttl }, when }])),
  );
}

/** The close's one transaction. False when it was closed meanwhile (nothing written). */
async function closeTab(deps: CoreDeps, t: TabItem, completed: JobItem[]): Promise<boolean> {
  const now = deps.clock.now();
  const costByWorker = new Map<string, bigint>();
  // each job's operator fee, by the fee fixed at its own submit (JobItem.operatorFeeBps), floored per job as a settlement's
  const feeByWorker = new Map<string, bigint>();
  const counters: AccountCounters = {};
  for (const j of completed) {
    const w = j.candidates[j.attempt]!.workerId;
    const c = BigInt(j.cost ?? "0");
    costByWorker.set(w, (costByWorker.get(w) ?? 0n) + c);
    const fee = c - workerCredit(j, c);
    if (fee > 0n) feeByWorker.set(w, (feeByWorker.get(w) ?? 0n) + fee);
    const n = (counters[workerAccount(w)] ??= { jobs: 0, promptTokens: 0, completionTokens: 0 });
    n.jobs! += 1;
    n.promptTokens! += j.usage?.promptTokens ?? 0;
    n.completionTokens! += j.usage?.completionTokens ?? 0;
  }
  // a worker whose jobs all cost nothing has no posting to carry its counters
  for (const [w, c] of costByWorker) if (c === 0n) delete counters[workerAccount(w)];
  const receipts = await Promise.all(completed.map((j) => receiptOf(deps, j, now)));
  const unlogged = completed.filter((_, i) => receipts[i] === undefined).map((j) => j.jobId);
  if (unlogged.length)
    deps.log.error("tab closed without receipts whose reply items expired: the receipt log misses them", {
      tabId: t.tabId,
      jobIds: unlogged,
    });
  const movement = tabCloseMovement(t.tabId, t.requester, tabHeld(t), costByWorker, now, feeByWorker);
  const cost = [...costByWorker.values()].reduce((a, b) => a + b, 0n);
  try {
    const r = await applyMovement(
      deps.store,
      movement,
      [
        {
          op: "update",
          table: "jobs",
          key: tabKey(t.tabId),
          set: { status: "closed", cost: cost.toString(), completed: completed.length, closedAt: now },
          when: { kind: "cmp", attr: "status", op: "=", value: "open" },
        },
        // each completed job's receipt joins the receipt log now, with the movement that paid it
        ...completed.flatMap((j, i) => (receipts[i] ? [appendReceiptOp(j.jobId, receipts[i], now)] : [])),
      ],
      counters,
    );
    if (r === "duplicate") return false; // closed by another check meanwhile
  } catch (e) {
    // the tab is closed already. An OverdraftError (its hold is not there) is the books being
    // wrong: it propagates (a 500, the message is retried, and the failure is logged loudly)
    if (e instanceof ConditionFailedError) return false;
    throw e;
  }
  deps.log.info("tab closed", { tabId: t.tabId, completed: completed.length, cost: cost.toString(), workers: costByWorker.size });
  return true;
}

/**
 * A completed tab job's receipt, for the receipt log. It is read from the job's reply item, kept
 * RETAIN_SECONDS from the job's completion (the item's updatedAt, set by its result). A close that
 * runs later than that (the local network stopped for over a week with open tabs; a close check
 * redriven from the dead-letter queue long after) finds it expired: the close must still pay, or
 * the tab's hold and its workers' pay would be stuck for good, so the receipt is left out of the
 * log (undefined; the close logs an error naming the jobs), and the job item, which states the
 * cost and usage, is what pays. Missing before then is the books being wrong: the close fails.
 */
async function receiptOf(deps: CoreDeps, j: JobItem, now: number): Promise<Receipt | undefined> {
  const receipt = await readReceipt(deps.store, j);
  if (receipt) return receipt;
  if (now >= (Math.ceil(j.updatedAt / 1000) + RETAIN_SECONDS) * 1000) return undefined;
  throw new Error(`tab job ${j.jobId}: its reply item is missing, so its receipt cannot be logged`);
}
