/**
 * The money path's features against each other, in random sequences whose steps run one or two at
 * a time (their awaits interleave): tabs and per-job holds (some at a tab's slot id), results posted
 * once, twice at once, all at once, stale, or with usage at 0 and past the maxima, failure reports,
 * leases running out and extended, cancels, voids of job ids and of unused tab slots, close checks
 * early and late, vouchers of the workers and of the operator, workers re-registering at other
 * prices, an operator fee of 0 %, 1 bp, 25 % or 100 % changing meanwhile, a worker that is also a
 * requester (its jobs may run on itself), and store transactions failing before or after they
 * commit. After EVERY step the ledger agrees with itself and sums to zero and each requester holds
 * exactly its open tabs and open per-job holds; at the end everything drains and every party has
 * exactly what the completed jobs say: each job billed at its quoted price for its receipt's usage
 * (capped by its hold), each worker credited (vouchered or not) those jobs less the fee fixed at
 * their submit, the operator those fees, each requester its funds less the costs. A failing run
 * prints its seed and the shortest sequence fast-check found.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Tab } from "../../events/api";
import { CocoonError } from "../errors";
import { tabSlotJobId } from "../ids";
import { applyMovement, faucetMovement, getBalance, OPERATOR_FEE_ACCOUNTS, requesterAccount, workerAccount } from "../ledger";
import { issueOperatorVoucher, issueVoucher, OPERATOR_VOUCHER_ACCOUNT, voucherAccount } from "../payouts";
import { recordingVoucherSigner } from "../payouts-testing";
import type { WriteOp } from "../ports";
import { jobCost as pricedAt } from "../pricing";
import { heartbeat, issueRegistrationNonce, registerWorker } from "../workers";
import { cancelJob } from "./cancel";
import { handleMatchingMessage } from "./dispatch";
import { jobKey, readReceipt, workerCredit, type JobItem } from "./items";
import { extendLease } from "./lease";
import { postResult } from "./results";
import { jobIdempotencyKey, submitJob } from "./submit";
import { openTab, type TabItem } from "./tabs";
import { drainLeasesAndTabs, FUNDS, ledgerDiscrepancies, makeJobWorld, MODEL, registration, seal, type TestWorker } from "./testing";
import { voidJob } from "./void";

const OPERATOR = "operator-key";
const payoutAddress = (i: number) => `0:${String(i + 1).repeat(64)}`;
/** What a payee was paid in vouchers (its vouchers account: none is redeemed here) plus what it has yet to be vouchered. */
const paidAndOwed = async (store: ReturnType<typeof makeJobWorld>["store"], earnings: string[], vouchers: string) => {
  let n = (await getBalance(store, vouchers)).available;
  for (const a of earnings) n += (await getBalance(store, a)).available;
  return n;
};

class Injected extends Error {}

type Cmd =
  | { k: "open"; r: number; slots: number; key: number }
  | { k: "submit"; r: number; tab: number; slot: number }
  | { k: "plain"; r: number; candidates: number; atSlot?: number }
  | { k: "result"; job: number; how: "ok" | "fail" | "twice" | "zero" | "over" | "stale" }
  | { k: "lease"; job: number }
  | { k: "extend"; job: number }
  | { k: "cancel"; job: number }
  | { k: "void"; job: number; slot: boolean }
  | { k: "close"; tab: number }
  | { k: "tick"; ms: number }
  | { k: "voucher"; worker: number }
  | { k: "fault"; after: boolean }
  | { k: "reprice"; worker: number; bps: number }
  | { k: "fee"; bps: number }
  | { k: "burst"; skip: number };

const one: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant("open" as const), r: fc.nat(2), slots: fc.integer({ min: 1, max: 3 }), key: fc.nat(2) }),
  },
  { weight: 5, arbitrary: fc.record({ k: fc.constant("submit" as const), r: fc.constant(-1), tab: fc.nat(5), slot: fc.nat(3) }) },
  // sometimes at a tab's slot id, with a hold of its own (by the tab's requester, or another)
  {
    weight: 3,
    arbitrary: fc.record(
      { k: fc.constant("plain" as const), r: fc.nat(2), candidates: fc.integer({ min: 1, max: 3 }), atSlot: fc.nat(20) },
      { requiredKeys: ["k", "r", "candidates"] },
    ),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant("result" as const),
      job: fc.nat(30),
      how: fc.constantFrom("ok" as const, "fail" as const, "twice" as const, "zero" as const, "over" as const, "stale" as const),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("lease" as const), job: fc.nat(30) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("extend" as const), job: fc.nat(30) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("cancel" as const), job: fc.nat(30) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("void" as const), job: fc.nat(30), slot: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("close" as const), tab: fc.nat(5) }) },
  // a worker's voucher (0..2), or the operator's (3)
  { weight: 2, arbitrary: fc.record({ k: fc.constant("voucher" as const), worker: fc.nat(3) }) },
  // prices and the fee change while jobs are quoted, held and running
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant("reprice" as const), worker: fc.nat(2), bps: fc.constantFrom(1, 7_777, 10_000, 25_000) }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("fee" as const), bps: fc.constantFrom(0, 1, 2_500, 10_000) }) },
  // every running job's worker answers at once: a worker's settlements batch (./settle.ts)
  { weight: 1, arbitrary: fc.record({ k: fc.constant("burst" as const), skip: fc.nat(3) }) },
  // the next transaction fails: before it commits, or after (its answer lost)
  { weight: 2, arbitrary: fc.record({ k: fc.constant("fault" as const), after: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("tick" as const),
      ms: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 500, max: 60_000 }) },
        { weight: 1, arbitrary: fc.integer({ min: 300_000, max: 900_000 }) },
      ),
    }),
  },
);
/** A step: one command, or two run at once. */
const stepArb = fc.oneof({ weight: 2, arbitrary: one.map((c) => [c]) }, { weight: 1, arbitrary: fc.tuple(one, one) });

async function runOf(cheapTransactions: boolean, feeBps: number) {
  const w = makeJobWorld({ cheapTransactions });
  w.deps.config = { ...w.deps.config, operatorFeeBps: feeBps };
  const payouts = Object.assign(w.deps, { voucherSigner: recordingVoucherSigner().signer, operatorKeyId: OPERATOR });
  const workers: TestWorker[] = [await w.worker(), await w.worker(), await w.worker()];
  // the third requester is worker 0's own key: its jobs may run on itself
  const requesters = [await w.requester(), await w.requester(), workers[0]!.signing];
  await applyMovement(w.store, faucetMovement(`t-${workers[0]!.id}`, workers[0]!.id, FUNDS, w.clock.now()));
  const probe = await w.sealedJob(requesters[0]!, { candidates: 3 });
  const slotCost = BigInt(probe.header.maxCost) * 2n;
  const tabs: Tab[] = [];
  const jobs: Array<{ jobId: string; envelope: ReturnType<typeof seal> }> = [];
  const slotIds: string[] = [];

  let fault: "before" | "after" | undefined;
  let faulted = false;
  const inner = w.store.transact.bind(w.store);
  w.store.transact = async (ops: WriteOp[]) => {
    const f = fault;
    fault = undefined;
    if (f) faulted = true;
    if (f === "before") throw new Injected("the process died before this commit");
    await inner(ops);
    if (f === "after") throw new Injected("the process died after this commit, its answer lost");
  };
  /** A refusal (4xx) is an answer; anything else only in a step whose transaction failed on purpose. */
  const attempt = async (f: () => Promise<unknown>) => {
    try {
      await f();
    } catch (e) {
      if (e instanceof CocoonError && e.status < 500) return;
      if (faulted) return;
      throw e;
    }
  };
  const job = (jobId: string) => w.store.get<JobItem>("jobs", jobKey(jobId));
  const workerOf = (id: string) => workers.find((x) => x.id === id)!;

  async function stepOf(c: Cmd): Promise<void> {
    switch (c.k) {
      case "open": {
        const r = requesters[c.r]!;
        return attempt(async () => {
          const { view } = await openTab(
            w.deps,
            r.id,
            { slots: c.slots, slotCost: slotCost.toString(), ttlSeconds: 60 },
            `key-${c.r}-${c.key}`,
          );
          if (!tabs.some((t) => t.tabId === view.tab.tabId)) {
            tabs.push(view.tab);
            for (let i = 0; i < c.slots; i++) slotIds.push(tabSlotJobId(view.tab.tabId, i));
          }
        });
      }
      case "submit": {
        if (tabs.length === 0) return;
        const tab = tabs[c.tab % tabs.length]!;
        const r = requesters.find((x) => x.id === tab.requester)!;
        return attempt(async () => {
          const { header, quote, prepared } = await w.sealedJob(r, { candidates: 2 });
          const envelope = seal({ ...header, jobId: tabSlotJobId(tab.tabId, c.slot) }, prepared.candidates);
          jobs.push({ jobId: envelope.header.jobId, envelope });
          await submitJob(w.deps, r.id, envelope, jobIdempotencyKey(envelope.header.jobId), quote, { tab: { tab, slot: c.slot } });
        });
      }
      case "plain": {
        const r = requesters[c.r]!;
        return attempt(async () => {
          const sealed = await w.sealedJob(r, { candidates: c.candidates });
          const envelope =
            c.atSlot === undefined || slotIds.length === 0
              ? sealed.envelope
              : seal({ ...sealed.header, jobId: slotIds[c.atSlot % slotIds.length]! }, sealed.prepared.candidates);
          jobs.push({ jobId: envelope.header.jobId, envelope });
          const quote = sealed.quote;
          await submitJob(w.deps, r.id, envelope, jobIdempotencyKey(envelope.header.jobId), quote);
        });
      }
      case "result": {
        if (jobs.length === 0) return;
        const j = jobs[c.job % jobs.length]!;
        const item = await job(j.jobId);
        if (!item || item.status !== "assigned") return;
        const at = c.how === "stale" && item.attempt > 0 ? item.attempt - 1 : item.attempt;
        const worker = workerOf(item.candidates[at]!.workerId);
        const h = item.header;
        const usage =
          c.how === "zero"
            ? { promptTokens: 0, completionTokens: 0 }
            : c.how === "over"
              ? { promptTokens: h.maxPromptTokens, completionTokens: h.maxTokens + 1 }
              : { promptTokens: 1 + (c.job % h.maxPromptTokens), completionTokens: c.job % (h.maxTokens + 1) };
        if (c.how === "fail")
          return attempt(() => postResult(w.deps, worker.id, { kind: "failed", jobId: j.jobId, attempt: at, code: "engine_error" }));
        const r = w.completed(worker, j.envelope, { attempt: at, usage });
        if (c.how === "twice") {
          await Promise.all([attempt(() => postResult(w.deps, worker.id, r)), attempt(() => postResult(w.deps, worker.id, r))]);
          return;
        }
        return attempt(() => postResult(w.deps, worker.id, r));
      }
      case "burst": {
        const running: Array<{ j: (typeof jobs)[number]; item: JobItem }> = [];
        for (const j of jobs) {
          const item = await job(j.jobId);
          if (item?.status === "assigned" && !running.some((x) => x.j.jobId === j.jobId)) running.push({ j, item });
        }
        await Promise.all(
          running
            .filter((_, i) => i % (c.skip + 1) === 0 || c.skip === 0)
            .map(({ j, item }, i) => {
              const worker = workerOf(item.candidates[item.attempt]!.workerId);
              const usage = { promptTokens: 1 + (i % item.header.maxPromptTokens), completionTokens: i % (item.header.maxTokens + 1) };
              return attempt(() => postResult(w.deps, worker.id, w.completed(worker, j.envelope, { attempt: item.attempt, usage })));
            }),
        );
        return;
      }
      case "lease": {
        if (jobs.length === 0) return;
        const item = await job(jobs[c.job % jobs.length]!.jobId);
        if (!item || item.status !== "assigned") return;
        if (w.clock.t <= item.leaseUntil) w.clock.t = item.leaseUntil + 1;
        await attempt(() => handleMatchingMessage(w.deps, { type: "lease", jobId: item.jobId, attempt: item.attempt }));
        for (const x of workers) await attempt(() => heartbeat(w.deps, x.id, 0));
        return;
      }
      case "extend": {
        if (jobs.length === 0) return;
        const item = await job(jobs[c.job % jobs.length]!.jobId);
        if (!item || item.status !== "assigned") return;
        return attempt(() => extendLease(w.deps, item.candidates[item.attempt]!.workerId, { jobId: item.jobId, attempt: item.attempt }));
      }
      case "cancel": {
        if (jobs.length === 0) return;
        const j = jobs[c.job % jobs.length]!;
        return attempt(() => cancelJob(w.deps, j.envelope.header.requester, j.jobId));
      }
      case "void": {
        // a slot not yet used, or any job id known (its owner's void, or another's)
        const ids = c.slot ? slotIds : jobs.map((j) => j.jobId);
        if (ids.length === 0) return;
        const id = ids[c.job % ids.length]!;
        const r = requesters[c.job % requesters.length]!;
        return attempt(() => voidJob(w.deps, r.id, id));
      }
      case "close":
        if (tabs.length === 0) return;
        return attempt(() => handleMatchingMessage(w.deps, { type: "tab", tabId: tabs[c.tab % tabs.length]!.tabId }));
      case "voucher":
        return attempt(() =>
          c.worker === 3
            ? issueOperatorVoucher(payouts, OPERATOR, payoutAddress(3))
            : issueVoucher(payouts, workers[c.worker]!.id, payoutAddress(c.worker)),
        );
      case "reprice": {
        const x = workers[c.worker]!;
        return attempt(async () => {
          const { nonce } = await issueRegistrationNonce(w.deps, x.id);
          await registerWorker(w.deps, x.id, registration(w, x.signing, nonce, { models: [{ model: MODEL, priceBps: c.bps }] }));
        });
      }
      case "fee":
        w.deps.config = { ...w.deps.config, operatorFeeBps: c.bps };
        return;
      case "fault":
        fault = c.after ? "after" : "before";
        return;
      case "tick":
        w.clock.t += c.ms;
        for (const x of workers) await attempt(() => heartbeat(w.deps, x.id, 0));
        return;
    }
  }

  const step = async (cs: Cmd[]) => {
    // a fault is armed for the next step: set it first, so the step's own commands meet it
    for (const c of cs) if (c.k === "fault") await stepOf(c);
    faulted = false;
    try {
      await Promise.all(cs.filter((c) => c.k !== "fault").map(stepOf));
    } finally {
      if (!cs.some((c) => c.k === "fault")) fault = undefined;
    }
  };
  return { w, workers, requesters, tabs, jobs, step };
}

const jobItems = (w: ReturnType<typeof makeJobWorld>) =>
  w.store.scan("jobs").filter((i) => i.sk === "job" && i.state !== "void") as JobItem[];

/** After every step: the books agree and each requester holds exactly what is open. */
function check(w: ReturnType<typeof makeJobWorld>, requesters: Array<{ id: string }>) {
  expect(ledgerDiscrepancies(w.store)).toEqual([]);
  const tabsOf = w.store.scan("jobs").filter((i) => i.sk === "tab") as unknown as TabItem[];
  const jobsOf = jobItems(w);
  for (const r of requesters) {
    const held = BigInt(String(w.store.scan("accounts").find((a) => a.pk === requesterAccount(r.id))?.held ?? 0));
    const want =
      tabsOf.filter((t) => t.requester === r.id && t.status === "open").reduce((n, t) => n + BigInt(t.slots) * BigInt(t.slotCost), 0n) +
      jobsOf
        .filter((j) => j.requester === r.id && j.tab === undefined && j.status === "assigned")
        .reduce((n, j) => n + BigInt(j.maxCost), 0n);
    expect(held).toBe(want);
  }
  for (const t of tabsOf.filter((x) => x.status === "closed"))
    expect(
      jobsOf.filter((x) => x.tab === t.tabId && x.status === "assigned"),
      "a closed tab has no running job",
    ).toEqual([]);
}

describe("the money path's features interleaved (property)", () => {
  it("the books agree after every step; at the end every party has exactly what the completed jobs say", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.constantFrom(0, 1, 2_500, 10_000),
        fc.array(stepArb, { minLength: 8, maxLength: 40 }),
        async (cheap, feeBps, steps) => {
          const run = await runOf(cheap, feeBps);
          const { w, requesters, workers } = run;
          const opening: Cmd[][] = [[{ k: "open", r: 0, slots: 3, key: 9 }], [{ k: "open", r: 2, slots: 2, key: 9 }]];
          for (const s of [...opening, ...steps]) {
            await run.step(s);
            check(w, requesters);
          }
          await run.step([]); // disarms a fault the last step left
          await drainLeasesAndTabs(w, () => check(w, requesters), 30);
          const done = jobItems(w);
          expect(done.filter((j) => j.status === "assigned")).toEqual([]);
          const completed = done.filter((j) => j.status === "completed");
          for (const x of workers) {
            const owed = completed
              .filter((j) => j.candidates[j.attempt]!.workerId === x.id)
              .reduce((n, j) => n + workerCredit(j, BigInt(j.cost!)), 0n);
            expect(await paidAndOwed(w.store, [workerAccount(x.id)], voucherAccount(x.id)), `worker ${x.id}`).toBe(owed);
          }
          const fees = completed.reduce((n, j) => n + BigInt(j.cost!) - workerCredit(j, BigInt(j.cost!)), 0n);
          expect(await paidAndOwed(w.store, [...OPERATOR_FEE_ACCOUNTS], OPERATOR_VOUCHER_ACCOUNT)).toBe(fees);
          for (const r of requesters) {
            const spent = completed.filter((j) => j.requester === r.id).reduce((n, j) => n + BigInt(j.cost!), 0n);
            expect(await w.balance(r.id)).toEqual({ available: FUNDS - spent, held: 0n });
          }
          // each at its quoted price (the candidate's at the attempt that answered) for its receipt's usage, capped by its hold
          for (const j of completed) {
            const receipt = await readReceipt(w.store, j);
            const billed = pricedAt(w.deps.config.pricing, BigInt(j.candidates[j.attempt]!.pricePerToken), receipt!.body.usage);
            expect(j.cost).toBe((billed < BigInt(j.maxCost) ? billed : BigInt(j.maxCost)).toString());
          }
        },
      ),
      { numRuns: 15 },
    );
  }, 180_000);
});
