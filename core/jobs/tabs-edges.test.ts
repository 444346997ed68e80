/**
 * Tabs (./tabs.ts) at their edges: the exact boundaries of a tab's expiry and its submit deadline,
 * its slot and slotCost, the MAC's domain, the details a client reads from a refusal, the open's
 * replay and race paths, the close check's delays, and the close's per-worker counters and
 * refusals. The happy paths are in ./tabs.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { Tab, TabView } from "../../events/api";
import { b64u } from "../crypto/encoding";
import { tokenMac } from "../crypto/keys";
import { CocoonError, ForbiddenError, GoneError, NotFoundError, ValidationError } from "../errors";
import { tabSlotJobId } from "../ids";
import { workerAccount } from "../ledger";
import { ConditionFailedError, type WriteOp } from "../ports";
import { WINDOW_PK } from "../receipts/log";
import { handleMatchingMessage } from "./dispatch";
import { jobKey, replyKey, RETAIN_SECONDS } from "./items";
import { postResult } from "./results";
import { jobIdempotencyKey, submitJob } from "./submit";
import {
  checkTabDeadline,
  checkTabSlot,
  getTab,
  openTab,
  sendTabCloseCheck,
  tabKey,
  TAB_CLOSE_GRACE_MS,
  TAB_RECHECK_MS,
  TAB_SUBMIT_DEADLINE_MS,
  verifyTab,
} from "./tabs";
import { FUNDS, ledgerDiscrepancies, makeJobWorld, refusal, type JobWorld, type TestWorker } from "./testing";
import { closeCheck, isTabCloseCommit, jobItem as job, pastClose, slotJob, submitSlot, tabItem } from "./tabs-testing";

const SLOT_COST = 1_000_000n;
/** The kind's line, then the deployment's name (the test world's: "local") as a JSON string and a newline. */
const TAB_DOMAIN = 'cocoon/v1/tab\n"local"\n';
type Requester = Awaited<ReturnType<JobWorld["requester"]>>;
const openBody = (slots = 4, ttlSeconds = 300) => ({ slots, slotCost: SLOT_COST.toString(), ttlSeconds });

/** A world with `workers` live workers and a requester who opened a tab of `slots` slots. */
async function tabWorld(o: { workers?: number; slots?: number } = {}) {
  const w = makeJobWorld();
  const workers: TestWorker[] = [];
  for (let i = 0; i < (o.workers ?? 1); i++) workers.push(await w.worker());
  const r = await w.requester();
  const { view } = await openTab(w.deps, r.id, openBody(o.slots ?? 4), "tab-key-1");
  return { w, workers, r, tab: view.tab, view };
}

/** A job sealed for slot `slot` of `tab` (its id the slot's), to the quote's candidates. */

/** Submit slot `slot` and post its result with `usage`: the job's worker and its cost. */
async function completeSlot(
  w: JobWorld,
  r: Requester,
  tab: Tab,
  slot: number,
  workers: TestWorker[],
  usage = { promptTokens: 5, completionTokens: 7 },
) {
  const j = await submitSlot(w, r, tab, slot);
  const assigned = (await job(w, j.jobId)).candidates[0]!.workerId;
  const wk = workers.find((x) => x.id === assigned)!;
  const { cost } = await postResult(w.deps, wk.id, w.completed(wk, j.envelope, { usage }));
  return { jobId: j.jobId, worker: wk, cost: BigInt(cost!), usage };
}

const workerBalanceItem = (w: JobWorld, id: string) => w.store.get("accounts", { pk: workerAccount(id), sk: "balance" });
const receiptsLogged = (w: JobWorld) => w.store.scan("chain").filter((i) => String(i.pk).startsWith(WINDOW_PK));
const tabBodyOf = ({ mac: _mac, ...body }: Tab) => body;

/** What `fn` threw (sync or async), or undefined. */
async function thrown(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
    return undefined;
  } catch (e) {
    return e;
  }
}

/** Records every queue send from now on (the send still happens). */
function recordSends(w: JobWorld) {
  const sent: Array<{ queue: string; body: unknown; delaySeconds: number | undefined }> = [];
  const send = w.queues.send.bind(w.queues);
  w.queues.send = async (queue, body, o) => {
    sent.push({ queue, body, delaySeconds: o?.delaySeconds });
    return send(queue, body, o);
  };
  return sent;
}
const tabChecks = (sent: ReturnType<typeof recordSends>) => sent.filter((s) => (s.body as { type?: string }).type === "tab");

/** Runs `before` once, just before the first transaction that matches `match`; then that transaction as it came. */
function beforeTransact(w: JobWorld, match: (ops: WriteOp[]) => boolean, before: (ops: WriteOp[]) => Promise<void>) {
  const transact = w.store.transact.bind(w.store);
  let done = false;
  w.store.transact = async (ops: WriteOp[]) => {
    if (!done && match(ops)) {
      done = true;
      await before(ops);
    }
    return transact(ops);
  };
  return transact;
}
const isTabOpenCommit = (ops: WriteOp[]) => ops.some((op) => op.op === "put" && op.table === "jobs" && op.item.sk === "tab");

describe("a tab's MAC, owner and expiry (verifyTab)", () => {
  it("the MAC is over the tab's fields under the domain \"cocoon/v1/tab\\n\" + the deployment: under another domain (another deployment's, the domain before it named one), or with a field edited, it is 403 bad_tab", async () => {
    // Prepare
    const { w, r, tab } = await tabWorld();
    const key = w.deps.config.quoteKey;
    const body = tabBodyOf(tab);
    const macUnder = (domain: string) => b64u.encode(tokenMac(key, domain, body));
    // Act
    const accepted = verifyTab(w.deps, r.id, tab);
    const refused = await Promise.all(
      [
        { ...tab, mac: macUnder("cocoon/v1/quote\n") },
        { ...tab, mac: macUnder("") },
        { ...tab, mac: macUnder("cocoon/v1/tab") },
        { ...tab, mac: macUnder("cocoon/v1/tab\n") },
        { ...tab, mac: macUnder('cocoon/v1/tab\n"prod"\n') },
        { ...tab, expiresAt: tab.expiresAt + 1 },
        { ...tab, slotCost: (SLOT_COST + 1n).toString() },
      ].map((t) => thrown(() => verifyTab(w.deps, r.id, t))),
    );
    // Assess
    expect(tab.mac).toBe(macUnder(TAB_DOMAIN));
    expect(accepted).toEqual(body);
    for (const e of refused) {
      expect(e).toBeInstanceOf(ForbiddenError);
      expect(e).toMatchObject({ status: 403, code: "bad_tab", message: expect.stringContaining("open a new tab") });
    }
  });

  it("another requester's tab is 403 not_your_tab, saying whose it is not", async () => {
    // Prepare
    const { w, tab } = await tabWorld();
    const other = await w.requester();
    // Act
    const e = await thrown(() => verifyTab(w.deps, other.id, tab));
    // Assess
    expect(e).toBeInstanceOf(ForbiddenError);
    expect(e).toMatchObject({ status: 403, code: "not_your_tab", message: expect.stringContaining("another account") });
  });

  it("a tab takes jobs up to its expiresAt inclusive: at expiresAt it verifies, 1 ms later it is 410 tab_expired pointing to POST /v1/tabs", async () => {
    // Prepare
    const { w, r, tab } = await tabWorld();
    // Act
    w.advance(tab.expiresAt - w.clock.now());
    const atExpiry = verifyTab(w.deps, r.id, tab);
    w.advance(1);
    const after = await thrown(() => verifyTab(w.deps, r.id, tab));
    // Assess
    expect(atExpiry).toEqual(tabBodyOf(tab));
    expect(after).toBeInstanceOf(GoneError);
    expect(after).toMatchObject({ status: 410, code: "tab_expired", message: expect.stringContaining("open a new one") });
  });

  it("a submit's write is taken up to TAB_SUBMIT_DEADLINE_MS past the tab's expiry inclusive; 1 ms later it is 410 tab_expired", async () => {
    // Prepare
    const { w, tab } = await tabWorld();
    // Act
    w.advance(tab.expiresAt + TAB_SUBMIT_DEADLINE_MS - w.clock.now());
    const atDeadline = await thrown(() => checkTabDeadline(w.deps, tab));
    w.advance(1);
    const after = await thrown(() => checkTabDeadline(w.deps, tab));
    // Assess
    expect(atDeadline).toBeUndefined();
    expect(after).toBeInstanceOf(GoneError);
    expect(after).toMatchObject({ status: 410, code: "tab_expired", message: expect.stringContaining("expired while this submit ran") });
  });
});

describe("a slot's checks (checkTabSlot)", () => {
  it("slot slots-1 is the tab's last; slot == slots is 400 with fields [tab.slot] and the tab's slots", async () => {
    // Prepare
    const { w, r, tab } = await tabWorld({ slots: 4 });
    const atSlot = (slot: number) => checkTabSlot(w.deps, r.id, { tab, slot }, { jobId: tabSlotJobId(tab.tabId, slot), maxCost: "1" });
    // Act
    const last = atSlot(3);
    const beyond = await thrown(() => atSlot(4));
    // Assess
    expect(last).toBe(tab.tabId);
    expect(beyond).toBeInstanceOf(ValidationError);
    expect(beyond).toMatchObject({ status: 400, code: "invalid_request", message: expect.stringContaining("below the tab's 4 slots") });
    expect((beyond as CocoonError).details).toEqual({ fields: ["tab.slot"], slots: 4 });
  });

  it("a slot the close would never read (negative, fractional) is 400 with fields [tab.slot], whatever the job id", async () => {
    // Prepare
    const { w, r, tab } = await tabWorld({ slots: 4 });
    const atSlot = (slot: number) => checkTabSlot(w.deps, r.id, { tab, slot }, { jobId: tabSlotJobId(tab.tabId, slot), maxCost: "1" });
    // Act
    const refused = await Promise.all([-1, 0.5, Number.NaN].map((slot) => thrown(() => atSlot(slot))));
    // Assess
    for (const e of refused) {
      expect(e).toBeInstanceOf(ValidationError);
      expect((e as CocoonError).details).toEqual({ fields: ["tab.slot"], slots: 4 });
    }
  });

  it("a job id other than its slot's is 400 with fields [envelope.header.jobId] and the job id the slot needs", async () => {
    // Prepare
    const { w, r, tab } = await tabWorld();
    const want = tabSlotJobId(tab.tabId, 2);
    // Act
    const e = await thrown(() => checkTabSlot(w.deps, r.id, { tab, slot: 2 }, { jobId: tabSlotJobId(tab.tabId, 1), maxCost: "1" }));
    // Assess
    expect(e).toBeInstanceOf(ValidationError);
    expect(e).toMatchObject({ status: 400, code: "invalid_request", message: expect.stringContaining(want) });
    expect((e as CocoonError).details).toEqual({ fields: ["envelope.header.jobId"], jobId: want });
  });

  it("maxCost == slotCost is taken; one nanoTON more is 400 with fields [maxCost] and the tab's slotCost", async () => {
    // Prepare
    const { w, r, tab } = await tabWorld();
    const withMaxCost = (maxCost: bigint) =>
      checkTabSlot(w.deps, r.id, { tab, slot: 0 }, { jobId: tabSlotJobId(tab.tabId, 0), maxCost: maxCost.toString() });
    // Act
    const full = withMaxCost(SLOT_COST);
    const over = await thrown(() => withMaxCost(SLOT_COST + 1n));
    // Assess
    expect(full).toBe(tab.tabId);
    expect(over).toBeInstanceOf(ValidationError);
    expect(over).toMatchObject({ status: 400, code: "invalid_request", message: expect.stringContaining(`slotCost ${SLOT_COST}`) });
    expect((over as CocoonError).details).toEqual({ fields: ["maxCost"], slotCost: SLOT_COST.toString() });
  });

  it("a submit whose maxCost is exactly the tab's slotCost is taken; under a tab one nanoTON smaller it is refused and writes nothing", async () => {
    // Prepare: two tabs, one whose slot is exactly the job's maxCost and one a nanoTON short of it
    const w = makeJobWorld();
    await w.worker();
    const r = await w.requester();
    const { header } = await w.sealedJob(r);
    const maxCost = BigInt(header.maxCost);
    const exact = (await openTab(w.deps, r.id, { slots: 1, slotCost: maxCost.toString(), ttlSeconds: 300 }, "exact")).view.tab;
    const short = (await openTab(w.deps, r.id, { slots: 1, slotCost: (maxCost - 1n).toString(), ttlSeconds: 300 }, "short")).view.tab;
    const fits = await slotJob(w, r, exact, 0);
    const tooBig = await slotJob(w, r, short, 0);
    expect([fits.maxCost, tooBig.maxCost]).toEqual([header.maxCost, header.maxCost]);
    const balance = await w.balance(r.id);
    const n = w.transacts.length;
    // Act
    const refused = await thrown(() =>
      submitJob(w.deps, r.id, tooBig.envelope, jobIdempotencyKey(tooBig.jobId), tooBig.quote, { tab: { tab: short, slot: 0 } }),
    );
    const afterRefusal = {
      transacts: w.transacts.length,
      balance: await w.balance(r.id),
      job: await w.store.get("jobs", jobKey(tooBig.jobId)),
    };
    const taken = await submitJob(w.deps, r.id, fits.envelope, jobIdempotencyKey(fits.jobId), fits.quote, { tab: { tab: exact, slot: 0 } });
    // Assess
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as CocoonError).details).toEqual({ fields: ["maxCost"], slotCost: (maxCost - 1n).toString() });
    expect(afterRefusal).toEqual({ transacts: n, balance, job: undefined });
    expect(taken).toMatchObject({ jobId: fits.jobId, status: "assigned", replayed: false });
    expect(await job(w, fits.jobId)).toMatchObject({ tab: exact.tabId, slot: 0 });
  });
});

describe("opening a tab (openTab)", () => {
  it.each([
    [60, 180],
    [300, 420],
    [3600, 900], // SQS delays at most 900 s: the check then sends itself again
  ])(
    "ttlSeconds %i: expiresAt is now + ttl × 1000 exactly, the first open is not a replay, and its close check is queued on matching %i s ahead",
    async (ttlSeconds, delaySeconds) => {
      // Prepare
      const w = makeJobWorld();
      const r = await w.requester();
      const sent = recordSends(w);
      const now = w.clock.now();
      // Act
      const { view, replayed } = await openTab(w.deps, r.id, openBody(2, ttlSeconds), "k-ttl");
      // Assess
      expect(replayed).toBe(false);
      expect(view.tab.expiresAt).toBe(now + ttlSeconds * 1000);
      expect(view.closesAfter).toBe(now + ttlSeconds * 1000 + TAB_CLOSE_GRACE_MS);
      expect(await tabItem(w, view.tab.tabId)).toMatchObject({ status: "open", createdAt: now, expiresAt: now + ttlSeconds * 1000 });
      expect(sent).toEqual([{ queue: "matching", body: closeCheck(view.tab.tabId), delaySeconds }]);
    },
  );

  it("the open's close check becomes visible on the matching queue exactly at closesAfter, not a second sooner", async () => {
    // Prepare
    const w = makeJobWorld();
    const r = await w.requester();
    const { view } = await openTab(w.deps, r.id, openBody(), "k-visible");
    const receive = () => w.queues.receive("matching", { max: 10, waitSeconds: 0, visibilitySeconds: 30 });
    // Act
    w.advance(view.closesAfter - w.clock.now() - 1);
    const early = await receive();
    w.advance(1);
    const due = await receive();
    // Assess
    expect(early).toEqual([]);
    expect(due.map((m) => JSON.parse(m.body) as unknown)).toEqual([closeCheck(view.tab.tabId)]);
  });

  it("a retry with the same key and body answers the same tab as replayed, and holds, writes and queues nothing more", async () => {
    // Prepare
    const { w, r, view } = await tabWorld();
    const balance = await w.balance(r.id);
    const n = w.transacts.length;
    const sent = recordSends(w);
    // Act
    const again = await openTab(w.deps, r.id, openBody(), "tab-key-1");
    // Assess
    expect(again).toEqual({ view, replayed: true });
    expect(await w.balance(r.id)).toEqual(balance);
    expect(w.transacts.length).toBe(n);
    expect(sent).toEqual([]);
  });

  it("a retry with the same key and another body is 422 idempotency_key_reused, and holds, writes and queues nothing", async () => {
    // Prepare
    const { w, r } = await tabWorld();
    const balance = await w.balance(r.id);
    const n = w.transacts.length;
    const sent = recordSends(w);
    // Act
    const e = await thrown(() => openTab(w.deps, r.id, openBody(5), "tab-key-1"));
    // Assess
    expect(e).toBeInstanceOf(CocoonError);
    expect(e).toMatchObject({ status: 422, code: "idempotency_key_reused", message: expect.stringContaining("use a new key") });
    expect(await w.balance(r.id)).toEqual(balance);
    expect(w.transacts.length).toBe(n);
    expect(sent).toEqual([]);
  });

  it("an open that loses the race to the same key's open (its commit a duplicate) answers the stored tab as replayed, held once", async () => {
    // Prepare: the same open, concurrently, commits between this one's read and its commit
    const w = makeJobWorld();
    const r = await w.requester();
    let winner: { view: TabView; replayed: boolean } | undefined;
    beforeTransact(w, isTabOpenCommit, async () => {
      winner = await openTab(w.deps, r.id, openBody(), "k-race");
    });
    // Act
    const loser = await openTab(w.deps, r.id, openBody(), "k-race");
    // Assess
    expect(winner!.replayed).toBe(false);
    expect(loser).toEqual({ view: winner!.view, replayed: true });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - 4n * SLOT_COST, held: 4n * SLOT_COST });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("an open that loses the race to the same key's open with another body is 422 idempotency_key_reused; only the winner's hold stands", async () => {
    // Prepare
    const w = makeJobWorld();
    const r = await w.requester();
    beforeTransact(w, isTabOpenCommit, async () => {
      await openTab(w.deps, r.id, openBody(2), "k-race");
    });
    // Act
    const e = await thrown(() => openTab(w.deps, r.id, openBody(4), "k-race"));
    // Assess
    expect(e).toBeInstanceOf(CocoonError);
    expect(e).toMatchObject({ status: 422, code: "idempotency_key_reused" });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - 2n * SLOT_COST, held: 2n * SLOT_COST });
  });

  it("an open whose tab put fails its condition (ConditionFailedError: the tab is there) answers the stored tab as replayed and holds nothing", async () => {
    // Prepare: the tab item appears just before this open's commit
    const w = makeJobWorld();
    const r = await w.requester();
    const transact = beforeTransact(w, isTabOpenCommit, async (ops) => {
      const put = ops.find((op) => op.op === "put" && op.item.sk === "tab")!;
      await transact([put]);
    });
    // Act
    const answer = await openTab(w.deps, r.id, openBody(), "k-there");
    // Assess
    expect(answer.replayed).toBe(true);
    expect(answer.view).toEqual(await getTab(w.deps, r.id, answer.view.tab.tabId));
    expect(answer.view).toMatchObject({ status: "open", tab: { requester: r.id, slots: 4, slotCost: SLOT_COST.toString() } });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
  });

  it("a duplicate commit with no tab stored is an internal error naming the tab, not a replay", async () => {
    // Prepare: the store reports the open's movement as already applied, yet no tab is there
    const w = makeJobWorld();
    const r = await w.requester();
    beforeTransact(w, isTabOpenCommit, () => Promise.reject(new ConditionFailedError(0)));
    // Act
    const e = await thrown(() => openTab(w.deps, r.id, openBody(), "k-ghost"));
    // Assess
    expect(e).not.toBeInstanceOf(CocoonError);
    expect((e as Error).message).toMatch(/^tab tab_\w+: its open reported a duplicate but the tab is not there$/);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
  });

  it("a store failure during the open's commit propagates as itself: not a 402, not a replay", async () => {
    // Prepare
    const w = makeJobWorld();
    const r = await w.requester();
    beforeTransact(w, isTabOpenCommit, () => Promise.reject(new Error("the store is down")));
    // Act
    const e = await thrown(() => openTab(w.deps, r.id, openBody(), "k-down"));
    // Assess
    expect(e).not.toBeInstanceOf(CocoonError);
    expect((e as Error).message).toBe("the store is down");
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
  });
});

describe("reading a tab (getTab)", () => {
  it("an open tab's view has no cost or completed; a closed one's has both", async () => {
    // Prepare
    const { w, r, tab, view, workers } = await tabWorld({ slots: 2 });
    const done = await completeSlot(w, r, tab, 0, workers);
    // Act
    const open = await getTab(w.deps, r.id, tab.tabId);
    pastClose(w, view);
    expect(await handleMatchingMessage(w.deps, closeCheck(tab.tabId))).toBe("closed");
    const closed = await getTab(w.deps, r.id, tab.tabId);
    // Assess
    expect(open).toEqual(view);
    expect(open).not.toHaveProperty("cost");
    expect(open).not.toHaveProperty("completed");
    expect(closed).toEqual({ ...view, status: "closed", cost: done.cost.toString(), completed: 1 });
  });

  it("another requester's tab answers exactly as a tab that does not exist: 404 unknown_tab naming the id", async () => {
    // Prepare
    const { w, tab } = await tabWorld();
    const other = await w.requester();
    const empty = makeJobWorld();
    // Act
    const theirs = await thrown(() => getTab(w.deps, other.id, tab.tabId));
    const none = await thrown(() => getTab(empty.deps, other.id, tab.tabId));
    // Assess
    expect(theirs).toBeInstanceOf(NotFoundError);
    expect(theirs).toMatchObject({ status: 404, code: "unknown_tab", message: expect.stringContaining(tab.tabId) });
    expect(await refusal(Promise.reject(theirs))).toEqual(await refusal(Promise.reject(none)));
  });
});

describe("queueing a tab's close check (sendTabCloseCheck, recovery)", () => {
  it("queues a tab check on matching delayed until closesAfter, and undelayed once that has passed", async () => {
    // Prepare
    const { w, tab, view } = await tabWorld();
    const item = await tabItem(w, tab.tabId);
    const sent = recordSends(w);
    // Act: a restart 60 s after the open, then one long after the tab could close
    w.advance(60_000);
    await sendTabCloseCheck(w.deps, item);
    pastClose(w, view);
    await sendTabCloseCheck(w.deps, item);
    // Assess
    expect(view.closesAfter - view.tab.expiresAt).toBe(TAB_CLOSE_GRACE_MS);
    expect(sent).toEqual([
      { queue: "matching", body: closeCheck(tab.tabId), delaySeconds: 300 + 120 - 60 },
      { queue: "matching", body: closeCheck(tab.tabId), delaySeconds: 0 },
    ]);
  });
});

describe("the close check (handleTabClose)", () => {
  it("before closesAfter it is rescheduled for closesAfter (whole seconds, rounded up; at most 900); at closesAfter exactly it closes", async () => {
    // Prepare
    const { w, r, tab, view } = await tabWorld({ slots: 2 });
    const sent = recordSends(w);
    const at = async (t: number) => {
      w.advance(t - w.clock.now());
      return handleMatchingMessage(w.deps, closeCheck(tab.tabId));
    };
    // Act
    const first = await at(w.clock.now()); // 420 s before: more than SQS delays
    const second = await at(view.closesAfter - 100_500);
    const third = await at(view.closesAfter - 1);
    const last = await at(view.closesAfter);
    // Assess
    expect([first, second, third, last]).toEqual(["rescheduled", "rescheduled", "rescheduled", "closed"]);
    expect(tabChecks(sent)).toEqual(
      [420, 101, 1].map((delaySeconds) => ({ queue: "matching", body: closeCheck(tab.tabId), delaySeconds })),
    );
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
  });

  it("a check of a tab already closed is stale: it writes nothing and queues nothing", async () => {
    // Prepare
    const { w, r, tab, view, workers } = await tabWorld({ slots: 2 });
    await completeSlot(w, r, tab, 0, workers);
    pastClose(w, view);
    expect(await handleMatchingMessage(w.deps, closeCheck(tab.tabId))).toBe("closed");
    const n = w.transacts.length;
    const balance = await w.balance(r.id);
    const sent = recordSends(w);
    // Act
    const outcome = await handleMatchingMessage(w.deps, closeCheck(tab.tabId));
    // Assess
    expect(outcome).toBe("stale");
    expect(w.transacts.length).toBe(n);
    expect(sent).toEqual([]);
    expect(await w.balance(r.id)).toEqual(balance);
  });

  it("a close waiting on running jobs looks again at the latest of their lease ends", async () => {
    // Prepare: two slots' jobs still running at the close, their leases ending 20 s and 60.5 s later
    const { w, r, tab, view } = await tabWorld({ slots: 3 });
    const a = await submitSlot(w, r, tab, 0);
    const b = await submitSlot(w, r, tab, 1);
    pastClose(w, view);
    const now = w.clock.now();
    for (const [jobId, until] of [
      [a.jobId, now + 20_000],
      [b.jobId, now + 60_500],
    ] as const)
      await w.store.transact([{ op: "update", table: "jobs", key: jobKey(jobId), set: { leaseUntil: until } }]);
    const sent = recordSends(w);
    // Act
    const outcome = await handleMatchingMessage(w.deps, closeCheck(tab.tabId));
    // Assess
    expect(outcome).toBe("waiting");
    expect(tabChecks(sent)).toEqual([{ queue: "matching", body: closeCheck(tab.tabId), delaySeconds: 61 }]);
    expect((await tabItem(w, tab.tabId)).status).toBe("open");
  });

  it("a close waiting on a job whose lease already ended (its check late) looks again TAB_RECHECK_MS later, not at once", async () => {
    // Prepare
    const { w, r, tab, view } = await tabWorld({ slots: 1 });
    const j = await submitSlot(w, r, tab, 0);
    pastClose(w, view);
    await w.store.transact([{ op: "update", table: "jobs", key: jobKey(j.jobId), set: { leaseUntil: w.clock.now() - 1_000 } }]);
    const sent = recordSends(w);
    // Act
    const outcome = await handleMatchingMessage(w.deps, closeCheck(tab.tabId));
    // Assess
    expect(outcome).toBe("waiting");
    expect(tabChecks(sent)).toEqual([{ queue: "matching", body: closeCheck(tab.tabId), delaySeconds: TAB_RECHECK_MS / 1000 }]);
  });

  it("each worker's balance counts its completed tab jobs: jobs, prompt and completion tokens summed per worker", async () => {
    // Prepare: slots 0 and 1 run on worker A (the only one then), slots 2 and 3 on worker B (registered later, cheaper)
    const { w, r, tab, view, workers } = await tabWorld({ workers: 1, slots: 4 });
    const a = workers[0]!;
    const onA = [
      await completeSlot(w, r, tab, 0, workers, { promptTokens: 10, completionTokens: 20 }),
      await completeSlot(w, r, tab, 1, workers, { promptTokens: 11, completionTokens: 23 }),
    ];
    const b = await w.worker(5_000);
    workers.push(b);
    const onB = [
      await completeSlot(w, r, tab, 2, workers, { promptTokens: 12, completionTokens: 26 }),
      await completeSlot(w, r, tab, 3, workers, { promptTokens: 13, completionTokens: 29 }),
    ];
    expect([...onA, ...onB].map((d) => d.worker.id)).toEqual([a.id, a.id, b.id, b.id]);
    pastClose(w, view);
    const counted = async (id: string) => {
      const item = await workerBalanceItem(w, id);
      return {
        jobs: Number(item!.jobs),
        promptTokens: Number(item!.promptTokens),
        completionTokens: Number(item!.completionTokens),
        available: BigInt(String(item!.available)),
      };
    };
    // Act
    const outcome = await handleMatchingMessage(w.deps, closeCheck(tab.tabId));
    // Assess
    expect(outcome).toBe("closed");
    expect(await counted(a.id)).toEqual({ jobs: 2, promptTokens: 21, completionTokens: 43, available: onA[0]!.cost + onA[1]!.cost });
    expect(await counted(b.id)).toEqual({ jobs: 2, promptTokens: 25, completionTokens: 55, available: onB[0]!.cost + onB[1]!.cost });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("a worker whose tab jobs all cost 0 is paid nothing and gets no counters; the close still closes", async () => {
    // Prepare: the only job answers with no tokens at all
    const { w, r, tab, view, workers } = await tabWorld({ slots: 2 });
    const done = await completeSlot(w, r, tab, 0, workers, { promptTokens: 0, completionTokens: 0 });
    expect(done.cost).toBe(0n);
    pastClose(w, view);
    // Act
    const outcome = await handleMatchingMessage(w.deps, closeCheck(tab.tabId));
    // Assess
    expect(outcome).toBe("closed");
    expect(await workerBalanceItem(w, done.worker.id)).toBeUndefined();
    expect(await tabItem(w, tab.tabId)).toMatchObject({ status: "closed", cost: "0", completed: 1 });
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(receiptsLogged(w).map((i) => i.sk)).toEqual([done.jobId]);
  });

  it("a completed tab job with no usage recorded (an item from before usage was kept) is paid and counted as a job of 0 tokens", async () => {
    // Prepare
    const { w, r, tab, view, workers } = await tabWorld({ slots: 1 });
    const done = await completeSlot(w, r, tab, 0, workers);
    await w.store.transact([{ op: "update", table: "jobs", key: jobKey(done.jobId), set: { usage: undefined } }]);
    expect((await job(w, done.jobId)).usage).toBeUndefined();
    pastClose(w, view);
    // Act
    const outcome = await handleMatchingMessage(w.deps, closeCheck(tab.tabId));
    // Assess
    expect(outcome).toBe("closed");
    const item = await workerBalanceItem(w, done.worker.id);
    expect({
      jobs: Number(item!.jobs),
      promptTokens: Number(item!.promptTokens),
      completionTokens: Number(item!.completionTokens),
    }).toEqual({
      jobs: 1,
      promptTokens: 0,
      completionTokens: 0,
    });
    expect(await w.earned(done.worker.id)).toBe(done.cost);
  });

  it("a job at a slot id that names the tab but another requester is not the tab's to pay", async () => {
    // Prepare: slot 0's job item says it is another account's
    const { w, r, tab, view, workers } = await tabWorld({ slots: 1 });
    const done = await completeSlot(w, r, tab, 0, workers);
    const other = await w.requester(0n);
    await w.store.transact([{ op: "update", table: "jobs", key: jobKey(done.jobId), set: { requester: other.id } }]);
    pastClose(w, view);
    // Act
    const outcome = await handleMatchingMessage(w.deps, closeCheck(tab.tabId));
    // Assess
    expect(outcome).toBe("closed");
    expect(await w.earned(done.worker.id)).toBe(0n);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS, held: 0n });
    expect(await tabItem(w, tab.tabId)).toMatchObject({ status: "closed", cost: "0", completed: 0 });
    expect(receiptsLogged(w)).toEqual([]);
  });

  it("a close that loses the race to another close (its commit a duplicate) is stale and pays nothing more", async () => {
    // Prepare: another check's close commits between this one's read and its commit
    const { w, r, tab, view, workers } = await tabWorld({ slots: 1 });
    const done = await completeSlot(w, r, tab, 0, workers);
    pastClose(w, view);
    let other: string | undefined;
    beforeTransact(w, isTabCloseCommit, async () => {
      other = await handleMatchingMessage(w.deps, closeCheck(tab.tabId));
    });
    // Act
    const outcome = await handleMatchingMessage(w.deps, closeCheck(tab.tabId));
    // Assess
    expect([other, outcome]).toEqual(["closed", "stale"]);
    expect(await w.earned(done.worker.id)).toBe(done.cost);
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - done.cost, held: 0n });
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("a close whose tab is no longer open at its commit (the tab's condition fails) is stale and moves nothing", async () => {
    // Prepare: the tab's status changes between the close's read and its commit
    const { w, r, tab, view, workers } = await tabWorld({ slots: 1 });
    const done = await completeSlot(w, r, tab, 0, workers);
    pastClose(w, view);
    const balance = await w.balance(r.id);
    const transact = beforeTransact(w, isTabCloseCommit, () =>
      transact([{ op: "update", table: "jobs", key: tabKey(tab.tabId), set: { status: "closed" } }]),
    );
    // Act
    const outcome = await handleMatchingMessage(w.deps, closeCheck(tab.tabId));
    // Assess
    expect(outcome).toBe("stale");
    expect(await w.earned(done.worker.id)).toBe(0n);
    expect(await w.balance(r.id)).toEqual(balance);
    expect(receiptsLogged(w)).toEqual([]);
  });

  it("a close that runs after its jobs' reply items expired still pays: from the job items, the receipts left out of the log, an error naming the jobs", async () => {
    // Prepare: two completed slots; the close check comes back 8 days later (a stopped network, a late DLQ redrive)
    const { w, r, tab, workers } = await tabWorld({ slots: 2 });
    const first = await completeSlot(w, r, tab, 0, workers);
    const second = await completeSlot(w, r, tab, 1, workers);
    w.advance((RETAIN_SECONDS + 86_400) * 1000);
    const j = await job(w, first.jobId);
    expect(await w.store.get("jobs", replyKey(j.jobId, j.attempt, j.resultDigest))).toBeUndefined(); // expired
    // Act
    const outcome = await handleMatchingMessage(w.deps, closeCheck(tab.tabId));
    // Assess
    expect(outcome).toBe("closed");
    expect((await w.earned(first.worker.id)) + (first.worker.id === second.worker.id ? 0n : await w.earned(second.worker.id))).toBe(
      first.cost + second.cost,
    );
    expect(await w.balance(r.id)).toEqual({ available: FUNDS - first.cost - second.cost, held: 0n });
    expect(await tabItem(w, tab.tabId)).toMatchObject({ status: "closed", completed: 2 });
    expect(receiptsLogged(w)).toEqual([]);
    expect(w.logs.filter((l) => l.level === "error")).toEqual([
      expect.objectContaining({ data: { tabId: tab.tabId, jobIds: [first.jobId, second.jobId] } }),
    ]);
    expect(ledgerDiscrepancies(w.store)).toEqual([]);
  });

  it("a close between two jobs' expiries logs the receipt still there and names only the expired one in its error; a close with every receipt logs no error", async () => {
    // Prepare: slot 0 completes 200 s before slot 1; a second tab closes with every reply item there
    const { w, r, tab, workers } = await tabWorld({ slots: 2 });
    const first = await completeSlot(w, r, tab, 0, workers);
    w.advance(200_000);
    const second = await completeSlot(w, r, tab, 1, workers);
    const fresh = (await openTab(w.deps, r.id, openBody(1), "tab-key-2")).view;
    await completeSlot(w, r, fresh.tab, 0, workers);
    pastClose(w, fresh);
    const closedFresh = await handleMatchingMessage(w.deps, closeCheck(fresh.tab.tabId));
    const errorsBefore = w.logs.filter((l) => l.level === "error");
    const j = await job(w, first.jobId);
    w.advance((Math.ceil(j.updatedAt / 1000) + RETAIN_SECONDS) * 1000 - w.clock.now());
    // Act
    const outcome = await handleMatchingMessage(w.deps, closeCheck(tab.tabId));
    // Assess
    expect(closedFresh).toBe("closed");
    expect(errorsBefore).toEqual([]);
    expect(outcome).toBe("closed");
    expect(
      receiptsLogged(w)
        .map((i) => JSON.stringify(i))
        .filter((s) => s.includes(second.jobId)),
    ).toHaveLength(1);
    expect(
      receiptsLogged(w)
        .map((i) => JSON.stringify(i))
        .filter((s) => s.includes(first.jobId)),
    ).toEqual([]);
    expect(w.logs.filter((l) => l.level === "error")).toEqual([
      expect.objectContaining({
        msg: "tab closed without receipts whose reply items expired: the receipt log misses them",
        data: { tabId: tab.tabId, jobIds: [first.jobId] },
      }),
    ]);
  });

  it("the line between a missing reply item (a failed close) and an expired one (a paid close) is the item's own expiry, to the millisecond, from a completion inside a second", async () => {
    // Prepare: a job completed 234 ms into a second; its reply item expires at the next whole second + RETAIN_SECONDS
    const { w, r, tab, workers } = await tabWorld({ slots: 1 });
    w.advance(1_234);
    const done = await completeSlot(w, r, tab, 0, workers);
    const j = await job(w, done.jobId);
    const expiry = (Math.ceil(j.updatedAt / 1000) + RETAIN_SECONDS) * 1000;
    const reply = replyKey(j.jobId, j.attempt, j.resultDigest);
    // Act: one millisecond before, the item removed (the books wrong); then at the expiry itself
    w.advance(expiry - 1 - w.clock.now());
    await w.store.transact([{ op: "delete", table: "jobs", key: reply }]);
    const before = await thrown(() => handleMatchingMessage(w.deps, closeCheck(tab.tabId)));
    const tabBefore = (await tabItem(w, tab.tabId)).status;
    w.advance(1);
    const at = await handleMatchingMessage(w.deps, closeCheck(tab.tabId));
    // Assess
    expect(j.updatedAt % 1000).toBe(234);
    expect((before as Error).message).toBe(`tab job ${done.jobId}: its reply item is missing, so its receipt cannot be logged`);
    expect(tabBefore).toBe("open");
    expect(at).toBe("closed");
    expect(await w.earned(done.worker.id)).toBe(done.cost);
  });

  it("a completed job whose reply item is missing fails the close, naming the job; nothing moves and the tab stays open", async () => {
    // Prepare
    const { w, r, tab, view, workers } = await tabWorld({ slots: 1 });
    const done = await completeSlot(w, r, tab, 0, workers);
    const j = await job(w, done.jobId);
    await w.store.transact([{ op: "delete", table: "jobs", key: replyKey(j.jobId, j.attempt, j.resultDigest) }]);
    pastClose(w, view);
    const balance = await w.balance(r.id);
    // Act
    const e = await thrown(() => handleMatchingMessage(w.deps, closeCheck(tab.tabId)));
    // Assess
    expect(e).not.toBeInstanceOf(CocoonError);
    expect((e as Error).message).toBe(`tab job ${done.jobId}: its reply item is missing, so its receipt cannot be logged`);
    expect(await w.balance(r.id)).toEqual(balance);
    expect(await w.earned(done.worker.id)).toBe(0n);
    expect((await tabItem(w, tab.tabId)).status).toBe("open");
    expect(receiptsLogged(w)).toEqual([]);
  });
});
