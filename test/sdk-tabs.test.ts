/**
 * issue 12: the SDK draws on tabs (CocoonClient({ tabs }), client/tab-keeper.ts) on the real
 * local network (real handlers, LMDB, dev agents): each job takes a slot of an open tab and holds
 * nothing of its own; a tab is opened when none has a slot left, one open at a time; the tabs'
 * close pays each worker what its receipts sum to and returns the rest. Without funds for a tab,
 * the job holds for itself.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { BUILTIN_DEFAULT_MODEL } from "../agent/engines/builtin";
import { API } from "../api-client/api";
import { CocoonClient, type CocoonClientOptions, type StreamEvent } from "../client/sdk";
import { generateSigningKey } from "../core/crypto/keys";
import { handleMatchingMessage, type JobItem } from "../core/jobs";
import { tabClosesAfter, tabKey, type TabItem } from "../core/jobs/tabs";
import { getBalance, workerAccount } from "../core/ledger";
import { startTestNet, type TestNet } from "./helpers";

const FUNDS = 10_000_000_000n;

/** Factory: a funded client with these tab options, and how many tabs it opened (a spy on its API client). */
async function tabbedClient(t: TestNet, tabs: CocoonClientOptions["tabs"], fund = FUNDS) {
  const client = new CocoonClient({ apiUrl: t.net.url, key: generateSigningKey(), allowDev: true, ...(tabs ? { tabs } : {}) });
  await client.faucet(fund);
  const request = client.api.request.bind(client.api);
  let opens = 0;
  vi.spyOn(client.api, "request").mockImplementation(((endpoint: unknown, o?: unknown) => {
    if (endpoint === API.openTab) opens++;
    return (request as (e: unknown, o?: unknown) => Promise<unknown>)(endpoint, o);
  }) as typeof client.api.request);
  return { client, opens: () => opens };
}

const ask = (client: CocoonClient, content: string) =>
  client.ask({ model: BUILTIN_DEFAULT_MODEL, messages: [{ role: "user", content }], maxTokens: 16, tiers: ["dev"], candidates: 2 });

describe("issue 12: the SDK draws on tabs", () => {
  let t: TestNet;
  beforeAll(async () => {
    t = await startTestNet();
  }, 60_000);
  afterAll(async () => t?.stop());

  const jobItem = async (jobId: string) => (await t.net.deps.store.get<JobItem>("jobs", { pk: jobId, sk: "job" }))!;
  const tabItem = async (tabId: string) => (await t.net.deps.store.get<TabItem>("jobs", tabKey(tabId)))!;
  /** The network's deps with its clock moved past the tab's close. */
  const pastClose = (tab: TabItem) => ({ ...t.net.deps, clock: { now: () => tabClosesAfter(tab) + 1 } });

  it("five asks with tabs of 4: answered and verified under two tabs, no hold of their own, the requester holding the tabs; the close pays each worker its receipts' sum", async () => {
    // Prepare
    const { client, opens } = await tabbedClient(t, { slots: 4 });
    // Act
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await ask(client, `question ${i}`));
    // Assess: every answer verified by the SDK (ask throws otherwise) and billed
    const jobs = await Promise.all(answers.map((a) => jobItem(a.jobId)));
    for (const j of jobs) {
      expect(j).toMatchObject({ status: "completed" });
      expect(j.tab).toMatch(/^tab_/);
      expect(j.holdInJob).toBeUndefined();
    }
    const tabIds = [...new Set(jobs.map((j) => j.tab!))];
    expect(tabIds).toHaveLength(2);
    expect(opens()).toBe(2);
    expect(jobs.map((j) => j.slot)).toEqual([0, 1, 2, 3, 0]);
    const tabs = await Promise.all(tabIds.map(tabItem));
    const held = tabs.reduce((n, x) => n + BigInt(x.slots) * BigInt(x.slotCost), 0n);
    expect(await client.balance()).toMatchObject({ held: held.toString(), available: (FUNDS - held).toString() });
    expect(client.openTabs()).toEqual([expect.objectContaining({ tabId: tabIds[1], slots: 4, used: 1 })]);

    // Act: the tabs close (their check, run by the real matching handler with the clock past the close)
    const earnedBefore = new Map<string, bigint>();
    for (const a of answers) earnedBefore.set(a.workerId, (await getBalance(t.net.deps.store, workerAccount(a.workerId))).available);
    for (const tab of tabs) expect(await handleMatchingMessage(pastClose(tab), { type: "tab", tabId: tab.tabId })).toBe("closed");
    // Assess
    const cost = answers.reduce((n, a) => n + BigInt(a.cost), 0n);
    expect(await client.balance()).toMatchObject({ held: "0", available: (FUNDS - cost).toString() });
    const owed = new Map<string, bigint>();
    for (const a of answers) owed.set(a.workerId, (owed.get(a.workerId) ?? 0n) + BigInt(a.cost));
    for (const [w, c] of owed) expect((await getBalance(t.net.deps.store, workerAccount(w))).available - earnedBefore.get(w)!).toBe(c);
    expect(await client.api.request(API.getTab, { params: { id: tabIds[0]! } })).toMatchObject({ status: "closed", completed: 4 });
  });

  it("eight asks at once with tabs of 4 open exactly two tabs (one open at a time, each slot used once)", async () => {
    const { client, opens } = await tabbedClient(t, { slots: 4 });
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => ask(client, `at once ${i}`)));
    const jobs = await Promise.all(answers.map((a) => jobItem(a.jobId)));
    expect(opens()).toBe(2);
    const slots = jobs.map((j) => `${j.tab}#${j.slot}`);
    expect(new Set(slots).size).toBe(8);
  });

  it("without funds for a tab the job holds for itself and is answered; the client does not try again at once", async () => {
    // Prepare: a balance with room for a few jobs' holds, not for a tab of 32 of them (the rest
    // held by a tab of one big slot, opened by hand; the faucet's deposit has a minimum)
    const probe = await ask(await t.client(), "what does a job hold?");
    const { client, opens } = await tabbedClient(t, { slots: 32 }, 100_000_000n);
    await client.api.request(API.openTab, {
      body: { slots: 1, slotCost: (100_000_000n - 3n * BigInt(probe.maxCost)).toString(), ttlSeconds: 300 },
      headers: { "idempotency-key": "hold-most-of-it-1" },
    });
    // Act
    const a = await ask(client, "no tab for me");
    const b = await ask(client, "nor for me");
    // Assess
    for (const x of [a, b]) {
      const j = await jobItem(x.jobId);
      expect(j.tab).toBeUndefined();
      expect(j.holdInJob).toBe(true);
    }
    expect(opens()).toBe(2); // the one by hand, and the client's one refused try (none again within a minute)
    expect(client.openTabs()).toEqual([]);
  });

  it("after the coordinator's quote key changed, a job under a kept quote and tab is redone under a fresh quote and a new tab, and answered", async () => {
    // Prepare: a kept quote and a kept tab, both MAC'd under the old key
    const { client, opens } = await tabbedClient(t, { slots: 4 });
    const first = await ask(client, "before the rotation");
    const config = t.net.deps.config;
    t.net.deps.config = { ...config, quoteKey: "c1".repeat(32) };
    try {
      // Act: refused as bad_quote, then (fresh quote, same tab) as bad_tab, then submitted on a new tab
      const a = await ask(client, "after the rotation");
      // Assess
      const j = await jobItem(a.jobId);
      expect(j.status).toBe("completed");
      expect(j.tab).toMatch(/^tab_/);
      expect(j.tab).not.toBe((await jobItem(first.jobId)).tab);
      expect(opens()).toBe(2);
    } finally {
      t.net.deps.config = config;
    }
  });

  it("askStream draws on the kept tab too: its job is the tab's next slot, holds nothing of its own, and ends verified", async () => {
    // Prepare: a client whose first ask opened a tab of 4
    const { client, opens } = await tabbedClient(t, { slots: 4 });
    const first = await jobItem((await ask(client, "opens the tab")).jobId);
    // Act
    let done: Extract<StreamEvent, { type: "done" }> | undefined;
    for await (const e of client.askStream({
      model: BUILTIN_DEFAULT_MODEL,
      messages: [{ role: "user", content: "streamed" }],
      maxTokens: 16,
      tiers: ["dev"],
    }))
      if (e.type === "done") done = e;
    // Assess: the stream ended with its receipt checked (askStream throws otherwise), under slot 1 of the same tab
    expect(done).toBeDefined();
    const j = await jobItem(done!.jobId);
    expect(j).toMatchObject({ status: "completed", tab: first.tab, slot: 1 });
    expect(j.holdInJob).toBeUndefined();
    expect(opens()).toBe(1);
    expect(client.openTabs()).toEqual([expect.objectContaining({ tabId: first.tab, used: 2 })]);
  });

  it("a tab is sized to the kept quote: a larger job under the same quote takes its next slot; one over its slot cost opens another tab", async () => {
    // Prepare
    const { client, opens } = await tabbedClient(t, { slots: 4 });
    const sized = (content: string, maxTokens: number) =>
      client.ask({ model: BUILTIN_DEFAULT_MODEL, messages: [{ role: "user", content }], maxTokens, tiers: ["dev"], candidates: 2 });
    // Act: 16 and 200 tokens share a quote (asked for 256); 1000 needs another (1024)
    const small = await jobItem((await sized("small", 16)).jobId);
    const larger = await jobItem((await sized("larger", 200)).jobId);
    const over = await jobItem((await sized("over", 1000)).jobId);
    // Assess
    const first = await tabItem(small.tab!);
    expect(BigInt(larger.maxCost)).toBeGreaterThan(BigInt(small.maxCost));
    expect(BigInt(first.slotCost)).toBeGreaterThanOrEqual(BigInt(larger.maxCost));
    expect(larger).toMatchObject({ status: "completed", tab: small.tab, slot: 1 });
    expect(BigInt(over.maxCost)).toBeGreaterThan(BigInt(first.slotCost));
    expect(over).toMatchObject({ status: "completed", slot: 0 });
    expect(over.tab).not.toBe(small.tab);
    expect(opens()).toBe(2);
  });

  it("a client without the option holds for each job, as before", async () => {
    const { client, opens } = await tabbedClient(t, undefined);
    const a = await ask(client, "per job");
    expect(await jobItem(a.jobId)).toMatchObject({ holdInJob: true });
    expect((await jobItem(a.jobId)).tab).toBeUndefined();
    expect(opens()).toBe(0);
  });
});
