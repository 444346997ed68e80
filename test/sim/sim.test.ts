/**
 * The coordinator simulation in CI (test/sim/sim.ts): a bounded number of seeds, each a whole
 * run with its own mix of faults (crashes between store operations, duplicate / late /
 * reordered messages, failed sends, agent deaths, engine failures, forged results, a lagging
 * and failing chain indexer), every invariant checked after every step. `npm run sim:faults
 * -- --seeds N` runs more. The positive controls below break the system on purpose (in the
 * harness, at the store or queue boundary) and prove each kind of check catches it.
 */
import { describe, expect, it } from "vitest";
import { SABOTAGE } from "./sabotage";
import { onlyKnown, report, runSeed, type SimOptions } from "./sim";

/**
 * Seeds per CI run: sized to stay well under 20 s on 2 busy cores (SIM_SEEDS overrides). 22 since
 * the payees' asks were spread through the run: a seed now settles about twice the jobs amid its
 * faults (22 seeds settle more jobs than 30 did, in the time 30 took).
 */
const CI_SEEDS = Number(process.env.SIM_SEEDS ?? 22);
/**
 * Events a seed draws only now and then (about 1 in 20): more seeds are run, up to this one, until
 * each was seen. Any change to the order of store operations (one read more) moves them to other
 * seeds; the runs stay deterministic, and every extra seed is checked like the others.
 */
const RARE_SEED_LIMIT = 120;
const RARE = [
  // a close amid faults (the clock flew to it before the drain), not only in the drain
  "tab close checks closed",
  // one death in seeds 1..22 before prices changed during a run (seed 2), 4 seeds of 1..60 since (32, 51, 53, 58)
  "agent deaths",
  // 2 in seeds 1..22 until the envelope left the store on durable-queue seeds (one store write fewer a job), 0 since (one at a4)
  "ask wrk.redeem landed @a3",
  // another body under a job id an agent holds (reuseKey): 17 in seeds 1..150, its lease check dropped once the job has committed
  "taken job ids refused job_exists",
];

describe("coordinator simulation", () => {
  it("seed 32827: an operator voucher whose answer was lost, its fees already in opr:vouchers and the shards empty, is asked for again in the drain and paid out", async () => {
    // the drain asked for a voucher only while fees sat in the shards, so this seed ended with 645
    // nanoTON vouchered, never seen by the operator, never redeemed (found in session 32)
    const r = await runSeed({ seed: 32827 });
    expect(r.violations).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it("seed 32 with the registry's outages: no request is handed a reading past the 60 s bound after a refresh that hung", async () => {
    // Found by seed 28 (before prepare read the registry once; seed 32 now): PolicyCache.current() measured the reading's age at the call's start,
    // before it awaited the refresh (core/policy-registry-age.test.ts shows it alone); fixed.
    const r = await runSeed({ seed: 32, priceChangeRate: 0.03, registry: true, knobs: { registryOutageRate: 0.02 } });
    expect(r.violations).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it("seed 36 with four agents and one candidate: a price cap never refuses while a live worker is within it (prepare read the registry twice)", async () => {
    const r = await runSeed({
      seed: 36,
      priceChangeRate: 0.03,
      registry: true,
      knobs: { registryOutageRate: 0, agents: 4, candidates: 1 },
    });
    expect(r.violations).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it(`seeds 1..${CI_SEEDS} (and on to ${RARE_SEED_LIMIT} at most until each rare event is seen): every invariant holds after every step, and at quiescence every job is completed or refunded`, async () => {
    // Prepare
    const started = performance.now();
    const failures: string[] = [];
    const known: string[] = [];
    const totals: Record<string, number> = {};
    // Act
    const unseen = () => RARE.some((what) => !totals[what]);
    let last = CI_SEEDS;
    for (let seed = 1; seed <= CI_SEEDS || (seed <= RARE_SEED_LIMIT && unseen()); seed++) {
      last = seed;
      const r = await runSeed({ seed });
      for (const [k, n] of Object.entries(r.stats)) totals[k] = (totals[k] ?? 0) + n;
      if (!r.ok && onlyKnown(r)) known.push(`seed ${seed}: ${r.violations.join("; ")}`);
      else if (!r.ok) failures.push(report(r, 30));
    }
    const perMinute = (last / (performance.now() - started)) * 60_000;
    if (known.length) console.info(`known findings (reported in core, not failures here):\n  ${known.join("\n  ")}`);
    console.info(
      `simulation: ${last} seeds, ${perMinute.toFixed(0)} seeds per minute; ${totals["jobs completed"] ?? 0} jobs completed, ${totals["jobs refunded"] ?? 0} refunded, ${totals.crashes ?? 0} crashes, ${totals["forged results refused"] ?? 0} forged results refused`,
    );
    // Assess: no seed failed, and the seeds did exercise what they claim to
    expect(failures, failures.join("\n\n")).toEqual([]);
    const exercised = [
      "jobs completed",
      "jobs refunded",
      "crashes",
      "forged results refused",
      "results failed",
      // "duplicate results answered as duplicates" is rare since replies are stored before their
      // settlement (about 2 in 150 seeds): core/jobs/results.test.ts and test/job-integrity.test.ts
      // cover identical reposts directly.
      "withdrawals landed",
      "deposits refunded by the vault",
      "log: expired withdrawals released",
      "log: recovered open jobs",
      "log: job reassigned",
      "lease checks rescheduled",
      "alert chain.reader-error",
      // issue 12: tabs (about half the seeds draw on them)
      "tabs opened",
      "tabs closed",
      "jobs under tabs completed",
      "slot ids taken by jobs that hold for themselves",
      // the operator's payout (drawn per seed, with fees in about a third of the seeds)
      "operator vouchers issued",
      "operator voucher answers lost",
      "operator voucher asks sent twice at once",
      "operator route misuse refused not_the_operator",
      "operator redemptions paid",
      "seeds whose operator was paid every fee",
      // the payees' asks land amid the load and its faults, not only in the drain (askPriority, pace, lulls)
      "operator vouchers issued to an ask amid faults",
      "operator redemptions paid amid faults",
      "worker vouchers issued amid faults",
      "ask req.withdraw landed @a2",
      "active steps in a lull",
      // prices change amid the load: workers register again at other prices, the owners change the registry's,
      // and jobs quoted before a change settle after it at their quoted price
      "worker price changes",
      "registry price changes (model)",
      "jobs settled at a quoted price no longer asked",
      // the registry's reads go wrong now and then: past its 60 s bound the coordinator refuses, and recovers after
      "registry outages",
      "requests refused policy_stale",
      // refusals the price cap check looked at
      "prepares under a price cap refused price_above_cap",
      ...RARE,
    ];
    for (const what of exercised) {
      expect(totals[what] ?? 0, what).toBeGreaterThan(0);
    }
  }, 60_000);

  it("a seed replays exactly: the same seed gives the same trace, step for step", async () => {
    // Prepare + Act
    const a = await runSeed({ seed: 7, fullTrace: true });
    const b = await runSeed({ seed: 7, fullTrace: true });
    const c = await runSeed({ seed: 8, fullTrace: true });
    // Assess
    expect(a.traceHash).toMatch(/^[0-9a-f]{64}$/);
    expect(b.traceHash).toBe(a.traceHash);
    expect(b.steps).toBe(a.steps);
    expect(b.stats).toEqual(a.stats);
    expect(c.traceHash).not.toBe(a.traceHash);
  });

  describe("positive controls: a deliberate break is caught", () => {
    // issue 12: the tab breaks run their seeds with every submit under a tab (and no clock flight): caught at once
    const tabs = { tabShare: 1, tabClock: false };
    const operator = { operatorShare: 1, operatorFeeBps: 250 };
    // the schedule of before the payees' asks were spread through the run (no asks' priority, no lulls, pace 1): breaks
    // that show on a re-read deposit or a lost lease check show at seed 1 or 2 with it (at 18 and 3 without), which keeps CI's time
    const steady = { askPriority: 0, pace: 1, lull: { period: 100, share: 0, payday: 1 } };
    // a worker's price without a registry is its offer's (with one, prepare prices the coefficient anew)
    const prices = { priceChangeRate: 0.03, registry: false };
    const registryDown = { priceChangeRate: 0.03, registry: true, knobs: { registryOutageRate: 0.02 } };
    const cases: Array<[string, RegExp, Partial<SimOptions>?]> = [
      [
        "refund keeps the hold",
        /the ledger sums to \d+, not 0|its movements add up to|holds \d+, its open jobs' maximum cost and open tabs' slots sum to/,
      ],
      ["envelope stored with its plaintext", /plaintext at the coordinator: the canary is in store item jobs \S+\/envelope \(base64/],
      [
        "overcharge by one nanoTON",
        /charged without a verified receipt: charged \d+, the receipt's usage at the candidate's price costs \d+/,
      ],
      ["deposit credited per read, not per transaction", /vault transaction \S+ moved money twice/, steady],
      ["deposit credited gross, not net of the vault's fee", /was credited \d+ in deposits, the vault records \d+ deposited/],
      // the lateness bound catches it first when the drain's clock passes it, quiescence otherwise
      [
        "lease checks lost",
        /job \S+ is still assigned at quiescence|lease-late: job \S+ is still assigned at attempt \d+ \d+ s after its lease ran out/,
        steady,
      ],
      ["lease checks 10 minutes late", /lease-late: job \S+ is still assigned at attempt \d+ \d+ s after its lease ran out/],
      // issue 12: tabs
      ["tab close overpays a worker by one nanoTON", /tab \S+'s close paid wrk:\S+ \d+, its completed jobs there cost \d+/, tabs],
      [
        "tab job records a hold of its own",
        /req:\S+ is \d+\/\d+ \(available\/held\) but its movements add up to|records a hold of its own/,
        tabs,
      ],
      ["tab close checks lost", /tab \S+ is still open at quiescence|close-late: tab \S+ is still open \d+ s after it could close/, tabs],
      ["tab close checks 10 minutes late", /close-late: tab \S+ is still open \d+ s after it could close/, tabs],
      // the operator's payout: its seeds have fees (250 bps) and an operator that asks and redeems often
      [
        "operator voucher moves no fees",
        /the operator was vouchered a cumulative \d+, but opr:vouchers holds \d+ and \d+ was paid out of it/,
        operator,
      ],
      [
        "operator voucher counts a shard twice",
        /the operator was vouchered a cumulative \d+, but opr:vouchers holds \d+ and \d+ was paid out of it/,
        operator,
      ],
      [
        "operator redemption booked against a fee shard",
        /movement chain:\S+ posts -\d+ to the operator's opr:fees:\d+, which no chain movement may/,
        operator,
      ],
      // a worker's payout (its seeds: the default mix; a worker's voucher lands amid the load since the asks' priority)
      [
        "worker voucher records one nanoTON more than it moves",
        /worker \S+ was vouchered a cumulative \d+, but vch:\S+ holds \d+ and \d+ was paid out of it/,
      ],
      [
        "withdrawal reserves one nanoTON less than it signs",
        /R\d was signed withdrawal seqno \d+ \(\d+\) but the store records \{"amount":"\d+"/,
      ],
      // the owners change the operator fee during the run (drawn per seed): a settlement split by the fee of the moment
      [
        "settlement billed by the current fee, not the job's",
        /the job carries an operator fee of \d+ bps, the fee in force at its submit was \d+/,
      ],
      // prices change during the run (workers register again at other prices; with a registry the owners change its prices)
      [
        "job billed at the worker's current price, not the quoted one",
        /charged without a verified receipt: the job prices .* not as it was quoted/,
        { priceChangeRate: 0.03 },
      ],
      [
        "registration keeps the offer's old price",
        /quote names \S+ at \d+ nanoTON per token; its prices in force during the prepare/,
        prices,
      ],
      // the policy registry's outages (its seeds: a registry, prices changing, outages often; caught when one passes the 60 s bound)
      [
        "policy cache without an age bound",
        /registry-acted: the coordinator acted on policy v\d+, the registry's state of [\d.]+ s before, beyond its 60 s bound/,
        registryDown,
      ],
      [
        "policy cache never reads the registry again",
        /registry-refused: a request was refused 503 policy_stale though no read of the registry went wrong in the last [\d.]+ s/,
        registryDown,
      ],
      // a price cap never refuses wrongly: a prepare refused while a worker within the cap was live all through it
      [
        "price cap halved on its way to matching",
        /cap-refused: R\d's prepare \([\d.]+ s\) was refused price_above_cap under a cap of \d+ nanoTON per token, though \S+ was eligible all through it/,
        { priceChangeRate: 0.03 },
      ],
      // issue 12: the matching DLQ's redrive: the consumer failing most deliveries, each check delivered again soon (early), on durable queues, so checks are dead-lettered
      [
        "redriven checks lost",
        /job \S+ is still assigned at quiescence|tab \S+ is still open at quiescence/,
        { knobs: { consumerFailRate: 0.8, durableQueues: true, earlyDelivery: 3 } },
      ],
    ];
    for (const [name, expected, options] of cases) {
      it(`${name}`, async () => {
        // Prepare
        const sabotage = SABOTAGE[name]!;
        // Act: the first of seeds 1..40 that catches it (some breaks need a crash or a re-read to show)
        let caught: Awaited<ReturnType<typeof runSeed>> | undefined;
        for (let seed = 1; seed <= 40 && !caught; seed++) {
          const r = await runSeed({ seed, sabotage, ...options });
          if (!r.ok) caught = r;
        }
        // Assess
        expect(caught, `no seed of 1..40 caught "${name}"`).toBeDefined();
        expect(caught!.violations[0]).toMatch(expected);
      });
    }
  });

  it("a fee fixed for the run cannot tell a settlement billed by the current fee from one billed by the job's", async () => {
    // Prepare: the break the fee changes catch at seed 1, on the schedule of before them (one fee all run)
    const sabotage = SABOTAGE["settlement billed by the current fee, not the job's"]!;
    // Act
    const fixed = await runSeed({ seed: 1, sabotage, feeChangeRate: 0 });
    // Assess: the fee of the moment is the job's, so the break changes nothing
    expect(fixed.ok).toBe(true);
  });

  it("prices fixed for the run cannot tell a job billed at the worker's current price from one billed at its quote", async () => {
    // Prepare: the break the price changes catch at seed 1, on the schedule of before them (one price per worker all run)
    const sabotage = SABOTAGE["job billed at the worker's current price, not the quoted one"]!;
    // Act
    const fixed = await runSeed({ seed: 1, sabotage, priceChangeRate: 0 });
    // Assess: the price of the moment is the quoted one, so the break changes nothing
    expect(fixed.ok).toBe(true);
  });

  it("a failing seed reports what broke, the last steps and how to replay it", async () => {
    // Prepare + Act: the first of seeds 1..10 that the break fails (a seed without a refund does not show it)
    let r: Awaited<ReturnType<typeof runSeed>> | undefined;
    for (let seed = 1; seed <= 10 && (!r || r.ok); seed++) r = await runSeed({ seed, sabotage: SABOTAGE["refund keeps the hold"]! });
    const text = report(r!, 10);
    // Assess
    expect(r!.ok).toBe(false);
    expect(text).toContain(`seed ${r!.seed} FAILED`);
    expect(text).toContain("VIOLATION");
    expect(text.split("\n").filter((l) => /^\s+#\s*\d+ t\+/.test(l))).toHaveLength(10);
    expect(text).toContain(`npm run sim:faults -- --seed ${r!.seed}`);
  });
});
