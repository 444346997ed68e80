/**
 * issue 12: a job costs two requests on the hot path. The SDK keeps a quote (stateless, MAC'd,
 * naming no job) and submits every job under it until it expires: no POST /v1/jobs/prepare per
 * job. A kept quote may name a worker that stopped since; the coordinator dispatches to the live
 * candidates first, so the job is still answered at once (never after a lease), and when none of
 * them is live the SDK takes a fresh quote and submits again.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { tempDir } from "./temp-dir";
import { startTestNet, type TestNet } from "./helpers";
import { BUILTIN_DEFAULT_MODEL } from "../agent/engines/builtin";
import { startLocalAgents } from "../local/agents";
import { API } from "../api-client/api";
import { CocoonClient } from "../client/sdk";
import { KEPT_QUOTE_MS, QUOTE_MARGIN_MS, RENEW_AFTER_MS } from "../client/quote-keeping";
import type { PrepareResponse, SubmitRequest } from "../events/api";
import { generateSigningKey } from "../core/crypto/keys";
import { attestationDigest } from "../core/attestation/digest";

const byWorker = (a: { workerId: string }, b: { workerId: string }) => (a.workerId < b.workerId ? -1 : 1);

/** Every API call a client makes, by endpoint (a spy on its API client, which sends each request), with the submits' bodies and answers. */
function countCalls(client: CocoonClient) {
  const calls: unknown[] = [];
  const submits: Array<{ body: SubmitRequest; answer?: { next?: PrepareResponse } }> = [];
  const request = client.api.request.bind(client.api);
  vi.spyOn(client.api, "request").mockImplementation(((endpoint: unknown, o?: { body?: unknown }) => {
    calls.push(endpoint);
    const sent = (request as (e: unknown, o?: unknown) => Promise<unknown>)(endpoint, o);
    if (endpoint !== API.submitJob) return sent;
    const s: (typeof submits)[0] = { body: o!.body as SubmitRequest };
    submits.push(s);
    return sent.then((a) => ((s.answer = a as { next?: PrepareResponse }), a));
  }) as typeof client.api.request);
  return {
    prepares: () => calls.filter((e) => e === API.prepareJob).length,
    all: () => calls.length,
    submits,
  };
}

/**
 * Factory: a funded client whose clock the test moves by `clock.shift` ms (its requests are
 * still signed with the real one), and the calls it makes.
 */
async function clientWithClock(t: TestNet) {
  const clock = { shift: 0 };
  const client = new CocoonClient({ apiUrl: t.net.url, key: generateSigningKey(), allowDev: true, now: () => Date.now() + clock.shift });
  await client.faucet(10_000_000_000n);
  return { client, calls: countCalls(client), clock };
}

const askWith = (client: CocoonClient, content: string, candidates = 2) =>
  client.ask({ model: BUILTIN_DEFAULT_MODEL, messages: [{ role: "user", content }], maxTokens: 16, tiers: ["dev"], candidates });
const ask = (client: CocoonClient, content: string) => askWith(client, content);

describe("issue 12: the SDK submits under a kept quote", () => {
  let t: TestNet;
  // A lease far longer than the test's timeout: a job that waited out one could not pass.
  beforeAll(async () => {
    t = await startTestNet({ config: { leaseBaseSeconds: 600 } });
  }, 60_000);
  afterAll(async () => t?.stop());

  it("a second ask with the same options makes no prepare request, one request in all, and is billed and verified as before", async () => {
    // Prepare
    const client = await t.client();
    const calls = countCalls(client);
    await ask(client, "the first ask prepares");
    expect(calls.prepares()).toBe(1);
    const before = await client.balance();
    const n = calls.all();
    // Act
    const r = await ask(client, "the second reuses the quote");
    // Assess
    expect(calls.prepares()).toBe(1);
    expect(calls.all() - n).toBe(1); // the submit, which waited for the answer
    const after = await client.balance();
    expect(BigInt(r.cost)).toBeGreaterThan(0n);
    expect(BigInt(r.cost)).toBeLessThanOrEqual(BigInt(r.maxCost));
    expect(BigInt(before.available) - BigInt(after.available)).toBe(BigInt(r.cost));
    expect(BigInt(after.held)).toBe(BigInt(before.held));
    expect(r.receipt?.body.jobId).toBe(r.jobId);
    expect(r.attempt).toBe(0);
  }, 60_000);

  it("a quote not renewed is kept 15 s at most, though valid for five minutes: then one fresh prepare (one client's jobs do not stay with the same workers)", async () => {
    // Prepare: a client whose clock the test moves (its requests are still signed with the real one)
    const { client, calls, clock } = await clientWithClock(t);
    await ask(client, "the first ask prepares");
    clock.shift = RENEW_AFTER_MS / 2;
    await ask(client, "soon after: the kept quote, not yet due for renewal");
    expect(calls.prepares()).toBe(1);
    expect(calls.submits.map((x) => x.body.renew)).toEqual([undefined, undefined]);
    // Act
    clock.shift = KEPT_QUOTE_MS - QUOTE_MARGIN_MS + 1_000;
    const r = await ask(client, "past the keep: a fresh quote");
    // Assess
    expect(calls.prepares()).toBe(2);
    expect(r.receipt?.body.jobId).toBe(r.jobId);
  }, 60_000);

  it("a kept quote picked a second ago or more is renewed by the next submit: the answer brings the next quote (picked now), the SDK keeps it, and the job after is submitted under it; still one request a job", async () => {
    // Prepare: one candidate a quote of the two agents, so another pick may name the other
    const { client, calls, clock } = await clientWithClock(t);
    const ask = (c: CocoonClient, content: string) => askWith(c, content, 1);
    await ask(client, "the first ask prepares");
    const first = calls.submits[0]!.body.quote;
    const n = calls.all();
    clock.shift = RENEW_AFTER_MS;
    // Act
    await ask(client, "due: this submit carries the renewal");
    await vi.waitFor(() => expect(calls.submits[1]!.answer).toBeDefined());
    await (client as unknown as { renewals: Set<Promise<unknown>> }).renewals.values().next().value;
    clock.shift = KEPT_QUOTE_MS - QUOTE_MARGIN_MS + RENEW_AFTER_MS / 2; // past the first quote's keep, not the renewed one's
    const r = await ask(client, "under the renewed quote");
    // Assess
    const [one, two, three] = calls.submits;
    expect(one!.body.renew).toBeUndefined();
    expect(two!.body.renew).toMatchObject({ model: BUILTIN_DEFAULT_MODEL, tiers: ["dev"], candidates: 1, maxTokens: first.maxTokens });
    expect(two!.body.quote).toEqual(first);
    const next = two!.answer!.next!;
    expect(next.quote.requester).toBe(client.account);
    expect(next.quote.expiresAt).toBeGreaterThan(first.expiresAt);
    expect(three!.body.quote).toEqual(next.quote); // not a prepare: the renewed quote, taken from the answer
    // picked 14 s ago by the client's clock: due again, the same ask naming the documents of the renewed quote as held
    const named = (c: PrepareResponse["candidates"][number]) =>
      "attestation" in c ? attestationDigest(c.attestation) : c.attestationDigest;
    expect(three!.body.renew).toEqual({
      ...two!.body.renew,
      held: next.candidates.map((c) => ({ workerId: c.workerId, attestationDigest: named(c) })),
    });
    expect(calls.prepares()).toBe(1);
    expect(calls.all() - n).toBe(2); // the two submits, nothing else
    expect(r.receipt?.body.jobId).toBe(r.jobId);
  }, 60_000);

  it("a submit that carried the renewal and was refused for something else (too little balance) leaves it to the next submit", async () => {
    // Prepare: a kept quote of one candidate, due; then the balance all reserved by a withdrawal
    const { client, calls, clock } = await clientWithClock(t);
    await askWith(client, "the first ask prepares", 1);
    clock.shift = RENEW_AFTER_MS;
    await client.withdraw(BigInt((await client.balance()).available), "0:" + "a".repeat(64));
    // Act
    const refused = await askWith(client, "refused: nothing left to hold", 1).catch((e: Error) => e);
    await client.faucet(10_000_000_000n);
    await askWith(client, "funded again: this submit carries the renewal", 1);
    // Assess
    expect(refused).toBeInstanceOf(Error);
    expect(calls.submits.map((x) => x.body.renew !== undefined)).toEqual([false, true, true]);
    expect(calls.submits[2]!.answer?.next?.quote.requester).toBe(client.account);
  }, 60_000);

  it("a prepare naming the documents it holds (PrepareRequest.held) gets those workers by digest alone, the others whole: the digests of the documents as served are the coordinator's", async () => {
    // Prepare: a prepare without held, then one naming the first's documents
    const client = await t.client();
    const body = { model: BUILTIN_DEFAULT_MODEL, maxTokens: 16, maxPromptTokens: 64, tiers: ["dev" as const], candidates: 2 };
    const first = await client.api.request(API.prepareJob, { body });
    const docs = first.candidates.map((c) => {
      if (!("attestation" in c)) throw new Error("a prepare naming no held documents sent one by digest");
      return { workerId: c.workerId, attestationDigest: attestationDigest(c.attestation) };
    });
    // Act
    const second = await client.api.request(API.prepareJob, { body: { ...body, held: docs } });
    const none = await client.api.request(API.prepareJob, {
      body: { ...body, held: docs.map((d) => ({ ...d, attestationDigest: "00".repeat(32) })) },
    });
    // Assess: every candidate by its digest (both agents: the same two), with the keys the documents bind; a wrong digest gets documents
    expect(
      second.candidates
        .map((c) => ({ workerId: c.workerId, attestationDigest: "attestationDigest" in c ? c.attestationDigest : undefined }))
        .sort(byWorker),
    ).toEqual([...docs].sort(byWorker));
    expect(second.candidates.map((c) => [c.workerId, c.hpkePublicKey]).sort()).toEqual(
      first.candidates.map((c) => [c.workerId, c.hpkePublicKey]).sort(),
    );
    expect(none.candidates.every((c) => "attestation" in c)).toBe(true);
  }, 60_000);

  it("a quote naming every live worker (two candidates of two agents) is not renewed: another pick would name the same", async () => {
    // Prepare
    const { client, calls, clock } = await clientWithClock(t);
    await ask(client, "the first ask prepares: both agents");
    // Act
    clock.shift = RENEW_AFTER_MS * 5;
    await ask(client, "due by age, but there is no one else to pick");
    // Assess
    expect(calls.submits.map((x) => x.body.renew)).toEqual([undefined, undefined]);
    expect(calls.prepares()).toBe(1);
  }, 60_000);

  it("a kept quote carries no more of a client's jobs at once than its candidates run: the rest prepare afresh (spread by fair share), and it is kept again once they finished", async () => {
    // Prepare: a kept quote over two candidates of capacity 4 each (startLocalAgents' default)
    const client = await t.client();
    const calls = countCalls(client);
    await ask(client, "the first ask prepares and keeps the quote");
    expect(calls.prepares()).toBe(1);
    // Act: twelve at once: eight places under the kept quote, four prepare
    await Promise.all(Array.from({ length: 12 }, (_, i) => ask(client, `at once ${i}`)));
    const duringBurst = calls.prepares() - 1;
    await ask(client, "after the burst");
    // Assess
    expect(duringBurst).toBe(4);
    expect(calls.prepares()).toBe(1 + 4); // the last one was kept again: its places were given back
  }, 60_000);

  it("asks that find no current quote share the one prepare under way: eight at once, first and after the keep ran out, make one prepare each time", async () => {
    // Prepare: two candidates of capacity 4 each (startLocalAgents' default): eight places under one quote
    const { client, calls, clock } = await clientWithClock(t);
    // Act
    await Promise.all(Array.from({ length: 8 }, (_, i) => ask(client, `first burst ${i}`)));
    const first = calls.prepares();
    clock.shift = KEPT_QUOTE_MS + 1_000;
    await Promise.all(Array.from({ length: 8 }, (_, i) => ask(client, `after the keep ${i}`)));
    // Assess
    expect(first).toBe(1);
    expect(calls.prepares()).toBe(2);
    expect(calls.submits).toHaveLength(16);
  }, 60_000);

  it("asks for exactly the maxima the prepare under way asks for share it (256 tokens: the quote's own bucket)", async () => {
    // Prepare
    const { client, calls } = await clientWithClock(t);
    // Act
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        client.ask({
          model: BUILTIN_DEFAULT_MODEL,
          messages: [{ role: "user", content: `at the bucket ${i}` }],
          maxTokens: 256,
          tiers: ["dev"],
          candidates: 2,
        }),
      ),
    );
    // Assess
    expect(calls.prepares()).toBe(1);
  }, 60_000);

  it("a prepare that failed is no longer under way: the asks after it share one prepare again", async () => {
    // Prepare: the client's first prepare fails on the way (a network error)
    const { client, calls } = await clientWithClock(t);
    const request = vi.mocked(client.api.request).getMockImplementation()!;
    let failed = false;
    vi.mocked(client.api.request).mockImplementation(((endpoint: unknown, o?: unknown) => {
      if (endpoint !== API.prepareJob || failed) return request(endpoint as never, o as never);
      failed = true;
      return Promise.reject(new TypeError("fetch failed"));
    }) as typeof client.api.request);
    await expect(ask(client, "its prepare fails")).rejects.toThrow();
    const before = calls.prepares();
    // Act
    await Promise.all(Array.from({ length: 8 }, (_, i) => ask(client, `after the failure ${i}`)));
    // Assess
    expect(calls.prepares() - before).toBe(1);
  }, 60_000);

  it("an ask too large for the quote a prepare under way asks for does not wait for it: its own prepare goes out meanwhile", async () => {
    // Prepare: the first ask's prepare (maxTokens 16: quoted for 256) is held until a second prepare is sent (or the test ends)
    const client = await t.client();
    let prepares = 0;
    let secondSent!: () => void;
    const second = new Promise<void>((resolve) => (secondSent = resolve));
    const request = client.api.request.bind(client.api);
    vi.spyOn(client.api, "request").mockImplementation(((endpoint: unknown, o?: unknown) => {
      const sent = (request as (e: unknown, o?: unknown) => Promise<unknown>)(endpoint, o);
      if (endpoint !== API.prepareJob) return sent;
      if (++prepares === 1) return second.then(() => sent);
      secondSent();
      return sent;
    }) as typeof client.api.request);
    // Act: an ask for more tokens than that quote will carry, while the first prepare is held
    const small = ask(client, "a small ask prepares");
    await vi.waitFor(() => expect(prepares).toBe(1));
    const large = client.ask({
      model: BUILTIN_DEFAULT_MODEL,
      messages: [{ role: "user", content: "a larger ask" }],
      maxTokens: 1_000,
      tiers: ["dev"],
      candidates: 2,
    });
    // Assess: its prepare goes out while the first is held (waiting for it, it never would: let go, to end the test)
    try {
      await vi.waitFor(() => expect(prepares).toBe(2), { timeout: 5_000 });
    } finally {
      secondSent();
    }
    await Promise.all([small, large]);
  }, 60_000);

  it("a kept quote whose first candidate stopped still gets its answer at once from the other (no lease waited out, no prepare)", async () => {
    // Prepare: the quote names both agents; then one stops
    const client = await t.client();
    const calls = countCalls(client);
    await ask(client, "take the quote");
    const [gone, staying] = t.agents as [(typeof t.agents)[0], (typeof t.agents)[0]];
    await gone.stop();
    // Act: the SDK rotates its candidates per job, so one of these two names the stopped one first
    const started = Date.now();
    const answers = [await ask(client, "one"), await ask(client, "two")];
    // Assess
    expect(answers.map((a) => [a.workerId, a.attempt])).toEqual([
      [staying.workerId, 0],
      [staying.workerId, 0],
    ]);
    expect(calls.prepares()).toBe(1);
    expect(Date.now() - started).toBeLessThan(30_000); // a lease here is 600 s
  }, 60_000);
});

describe("issue 12: a kept quote none of whose candidates is live", () => {
  let t: TestNet;
  beforeAll(async () => {
    t = await startTestNet({ agents: [{ priceBps: 10_000 }], config: { leaseBaseSeconds: 600 } });
  }, 60_000);
  afterAll(async () => t?.stop());

  it("the refused submit (409 no_live_candidate, nothing held) is followed by one fresh prepare and the job is answered", async () => {
    // Prepare: a quote naming the only agent; it stops and another comes
    const client = await t.client();
    await ask(client, "take the quote");
    const calls = countCalls(client);
    await t.agents[0]!.stop();
    const [fresh] = await startLocalAgents(t.net.url, tempDir("cocoon-q12-"), [{ name: "fresh", priceBps: 10_000 }]);
    try {
      // Act
      const r = await ask(client, "answered by the newcomer");
      // Assess
      expect(r.workerId).toBe(fresh!.workerId);
      expect(r.attempt).toBe(0);
      expect(calls.prepares()).toBe(1);
      expect(calls.all()).toBe(3); // the refused submit, the prepare, the submit that was answered
      const b = await client.balance();
      expect(BigInt(b.held)).toBe(0n);
    } finally {
      await fresh!.stop();
    }
  }, 60_000);
});
