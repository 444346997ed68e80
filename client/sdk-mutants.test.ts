/**
 * Session 21's mutation pass over the requester SDK's methods that decide what a requester is
 * charged and to whom its prompt is sealed (scripts/mutation.ts, client/sdk.ts#<method>): each
 * test here kills a mutant the other SDK suites let survive. The coordinator's API is stubbed at
 * ApiClient.request (nothing leaves the process); private methods are reached by name, as the
 * mutation specs name them.
 */
import { describe, expect, it, vi } from "vitest";
import { createNoneAttestation } from "../core/attestation/dev";
import type * as Verify from "../core/attestation/verify";
import { verifyAttestation } from "../core/attestation/verify";
import { attestationDigest } from "../core/attestation/digest";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { MAX_JOB_PROMPT_TOKENS, MAX_JOB_TOKENS, type Candidate, type Quote } from "../events/api";
import { MAX_CHOICES } from "../events/envelope";
import { RENEW_AFTER_MS } from "./quote-keeping";
import { AskInputError, type AskOptions, CocoonClient, requestPlaintextOf, VerificationError } from "./sdk";
import { coordinator, devCandidate, fakeRegistry, FEES, impostor, MODEL, signedWithdrawal, stubbedClient, T0 } from "./sdk-stub-testing";

// verifyAttestation is watched (it still runs): a verdict the SDK cached is not paid for again
vi.mock("../core/attestation/verify", async (importOriginal) => {
  const actual = await importOriginal<typeof Verify>();
  return { ...actual, verifyAttestation: vi.fn(actual.verifyAttestation) };
});

// ---------------------------------------------------------------- factories
/** The client's private methods under test, by name. */
interface Private {
  limitsOf(o: AskOptions): { maxTokens: number; maxPromptTokens: number };
  checkQuoteFees(q: Quote): Promise<void>;
  fromKeptQuote(o: { model: string }, tiers: ["dev"], limits: Limits, use: "cache" | "refresh"): Promise<KeptJob>;
  quotes: Map<string, KeptEntry>;
  adoptRenewal(p: KeptJob, next: unknown): void;
  renewals: Set<Promise<unknown>>;
}
type Limits = { maxTokens: number; maxPromptTokens: number };
interface KeptEntry {
  key: string;
  quote: Quote;
  inFlight: number;
  ask: unknown;
  verified: Candidate[];
}
interface KeptJob extends Limits {
  jobId: string;
  model: string;
  maxCost: string;
  quote: Quote;
  verified: Candidate[];
  cacheKey: string;
  kept: KeptEntry;
  renew?: unknown;
}

/** sdk-stub-testing's client, its private methods reachable by name. */
function client(registry?: ReturnType<typeof fakeRegistry>, now = () => T0) {
  const stub = stubbedClient(registry, now);
  return { ...stub, p: stub.c as unknown as Private };
}

const candidate = devCandidate;

/** A quote at `weights` for `requester`. */
function quote(requester: string, weights: { promptBps: number; completionBps: number }): Quote {
  return {
    v: 1,
    requester,
    model: MODEL,
    maxTokens: 16,
    maxPromptTokens: 64,
    maxCost: "100000",
    candidates: [],
    ...weights,
    expiresAt: T0 + 60_000,
    mac: "AAAA",
  };
}

/** What POST /v1/jobs/prepare answers: `cands`, a quote pricing those in `prices` (workerId → nanoTON a token) at `weights`. */
function prepared(
  requester: string,
  cands: Candidate[],
  prices: Map<string, bigint>,
  weights = { promptBps: 2_500, completionBps: 10_000 },
) {
  const priced = cands.filter((c) => prices.has(c.workerId));
  const q: Quote = {
    ...quote(requester, weights),
    maxTokens: 256,
    maxPromptTokens: 1024,
    candidates: priced.map((c) => ({
      workerId: c.workerId,
      hpkePublicKey: c.hpkePublicKey,
      pricePerToken: String(prices.get(c.workerId)),
      tier: c.tier,
    })),
  };
  return {
    jobId: "job-1",
    model: MODEL,
    maxTokens: 256,
    maxPromptTokens: 1024,
    maxCost: "100000",
    candidates: cands,
    quoteExpiresAt: q.expiresAt,
    quote: q,
  };
}

const withdrawal = (secretKey: Buffer) => signedWithdrawal(secretKey, 4);

/** The error `f` throws (undefined if none). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

const settled = (p: Promise<unknown>) =>
  p.then(
    () => "resolved",
    (e: Error & { code?: string }) => ({ code: e.code, message: e.message }),
  );

// ---------------------------------------------------------------- limitsOf

describe("limitsOf: the limits a job is quoted and held for", () => {
  const limits = (o: Partial<AskOptions>) => client().p.limitsOf({ model: MODEL, ...o });

  it("defaults to one choice of 256 tokens; a prompt counts its bytes and 16; n multiplies both", () => {
    // Act / Assess
    expect(limits({ prompt: "abcd" })).toEqual({ maxTokens: 256, maxPromptTokens: 20 });
    expect(limits({ prompt: "abcd", n: 3, maxTokens: 10 })).toEqual({ maxTokens: 30, maxPromptTokens: 60 });
    expect(limits({})).toEqual({ maxTokens: 256, maxPromptTokens: 16 }); // neither: an empty prompt's bound
    expect(limits({ messages: [{ role: "user", content: "hi" }], n: 2 })).toEqual({ maxTokens: 512, maxPromptTokens: 2 * (16 + 2 + 8) });
  });

  it("n from 1 to MAX_CHOICES, an integer; anything else is refused naming n", () => {
    // Act / Assess
    expect(limits({ prompt: "x", n: 1 }).maxTokens).toBe(256);
    expect(limits({ prompt: "x", n: MAX_CHOICES, maxTokens: 1 }).maxTokens).toBe(MAX_CHOICES);
    for (const n of [0, MAX_CHOICES + 1, 1.5, Number.NaN]) {
      const e = thrown(() => limits({ prompt: "x", n }));
      expect(e).toBeInstanceOf(AskInputError);
      expect(e).toMatchObject({ param: "n", message: `n must be an integer from 1 to ${MAX_CHOICES}` });
    }
  });

  it("maxTokens a positive integer; 0, negative or fractional is refused naming maxTokens", () => {
    // Act / Assess
    expect(limits({ prompt: "x", maxTokens: 1 }).maxTokens).toBe(1);
    for (const maxTokens of [0, -1, 2.5]) {
      expect(thrown(() => limits({ prompt: "x", maxTokens }))).toMatchObject({
        param: "maxTokens",
        message: `maxTokens must be a positive integer, got ${maxTokens}`,
      });
    }
  });

  it("n × maxTokens up to MAX_JOB_TOKENS; one more is refused, saying which cap and the product", () => {
    // Act / Assess
    expect(limits({ prompt: "x", maxTokens: MAX_JOB_TOKENS }).maxTokens).toBe(MAX_JOB_TOKENS);
    expect(limits({ prompt: "x", maxTokens: MAX_JOB_TOKENS / 2, n: 2 }).maxTokens).toBe(MAX_JOB_TOKENS);
    expect(thrown(() => limits({ prompt: "x", maxTokens: MAX_JOB_TOKENS + 1 }))).toMatchObject({
      param: "maxTokens",
      message: `maxTokens must be at most ${MAX_JOB_TOKENS} (the network's cap on a job's completion tokens), got ${MAX_JOB_TOKENS + 1}`,
    });
    expect(thrown(() => limits({ prompt: "x", maxTokens: MAX_JOB_TOKENS / 2 + 1, n: 2 }))).toMatchObject({
      param: "maxTokens",
      message: `n × maxTokens must be at most ${MAX_JOB_TOKENS} (the network's cap on a job's completion tokens): 2 × ${MAX_JOB_TOKENS / 2 + 1} = ${MAX_JOB_TOKENS + 2}`,
    });
  });

  it("n × the prompt's bound up to MAX_JOB_PROMPT_TOKENS; one more is refused naming prompt or messages", () => {
    // Prepare: prompts whose bound (bytes + 16) is the cap, and one byte more
    const at = "p".repeat(MAX_JOB_PROMPT_TOKENS - 16);
    const over = at + "p";
    const half = "p".repeat(MAX_JOB_PROMPT_TOKENS / 2 - 16);
    const chatOver = [{ role: "user" as const, content: "m".repeat(MAX_JOB_PROMPT_TOKENS - 16 - 8 + 1) }];

    // Act / Assess
    expect(limits({ prompt: at }).maxPromptTokens).toBe(MAX_JOB_PROMPT_TOKENS);
    expect(limits({ prompt: half, n: 2 }).maxPromptTokens).toBe(MAX_JOB_PROMPT_TOKENS);
    expect(thrown(() => limits({ prompt: over }))).toMatchObject({
      param: "prompt",
      message: `the prompt's token bound must be at most ${MAX_JOB_PROMPT_TOKENS} (the network's cap on a job's prompt tokens), got ${MAX_JOB_PROMPT_TOKENS + 1}; shorten it`,
    });
    expect(thrown(() => limits({ prompt: half + "p", n: 2 }))).toMatchObject({
      param: "prompt",
      message: `n × the prompt's token bound must be at most ${MAX_JOB_PROMPT_TOKENS} (the network's cap on a job's prompt tokens): 2 × ${MAX_JOB_PROMPT_TOKENS / 2 + 1} = ${MAX_JOB_PROMPT_TOKENS + 2}; shorten it or lower n`,
    });
    expect(thrown(() => limits({ messages: chatOver }))).toMatchObject({
      param: "messages",
      message: `the messages' token bound must be at most ${MAX_JOB_PROMPT_TOKENS} (the network's cap on a job's prompt tokens), got ${MAX_JOB_PROMPT_TOKENS + 1}; shorten it`,
    });
  });
});

// ---------------------------------------------------------------- checkQuoteFees

describe("checkQuoteFees: a quote's price weights are the registry's", () => {
  it("at the registry's weights it passes; one weight off, either one, is refused (fees_not_on_chain) saying both", async () => {
    // Prepare
    const { p, requester } = client(fakeRegistry());
    const at = (promptBps: number, completionBps: number) => settled(p.checkQuoteFees(quote(requester.id, { promptBps, completionBps })));

    // Act
    const same = await at(2_500, 10_000);
    const promptOff = await at(2_501, 10_000);
    const completionOff = await at(2_500, 9_999);

    // Assess
    expect(same).toBe("resolved");
    expect(promptOff).toEqual({
      code: "fees_not_on_chain",
      message: "the coordinator quoted price weights prompt 2501 / completion 10000 bps; the policy registry (v3) says 2500 / 10000",
    });
    expect(completionOff).toEqual({
      code: "fees_not_on_chain",
      message: "the coordinator quoted price weights prompt 2500 / completion 9999 bps; the policy registry (v3) says 2500 / 10000",
    });
  });
});

// ---------------------------------------------------------------- checkWithdrawal

describe("checkWithdrawal: a withdrawal is signed by the coordinator key on the registry", () => {
  it("signed by another key: refused, naming the withdrawal, the registry's version and key", async () => {
    // Prepare
    const w = await withdrawal(impostor.secretKey);
    // Act
    const r = await settled(client(fakeRegistry()).c.checkWithdrawal(w));
    // Assess
    expect(r).toEqual({
      code: "coordinator_key_not_on_chain",
      message: `withdrawal 4 is not signed by the coordinator key on the policy registry (v3, ${coordinator.publicKey.toString("hex").slice(0, 16)}…): do not send it`,
    });
  });
});

// ---------------------------------------------------------------- requestPlaintextOf

describe("requestPlaintextOf: what is sealed to the worker", () => {
  it("every option given is sealed under its name; none given, none sealed; stream only when streamed", () => {
    // Prepare
    const full: AskOptions = {
      model: MODEL,
      messages: [{ role: "user", content: "hi" }],
      temperature: 0.5,
      topP: 0.9,
      seed: 7,
      stop: ["\n"],
      n: 2,
      tools: [{ type: "function", function: { name: "f", parameters: {} } }],
      toolChoice: "auto",
      parallelToolCalls: false,
      responseFormat: { type: "json_object" },
      user: "u-1",
      logprobs: true,
      topLogprobs: 3,
      extra: { top_k: 5 },
    };
    // Act
    const sealed = requestPlaintextOf(full, true);
    const bare = requestPlaintextOf({ model: MODEL, prompt: "once" }, false);
    const zeros = requestPlaintextOf(
      { model: MODEL, prompt: "z", temperature: 0, seed: 0, topLogprobs: 0, logprobs: false, extra: {} },
      false,
    );
    // Assess
    const { model: _m, ...rest } = full;
    expect(sealed).toStrictEqual({ kind: "chat", ...rest, stream: true });
    expect(bare).toStrictEqual({ kind: "completion", prompt: "once" });
    expect(zeros).toStrictEqual({ kind: "completion", prompt: "z", temperature: 0, seed: 0, topLogprobs: 0, logprobs: false });
  });

  it("both messages and prompt, or neither, is refused naming the other field", () => {
    // Act
    const both = thrown(() => requestPlaintextOf({ model: MODEL, messages: [{ role: "user", content: "a" }], prompt: "b" }, false));
    const neither = thrown(() => requestPlaintextOf({ model: MODEL }, false));
    // Assess
    const message = "give either messages (a chat) or prompt (a text completion), not both or neither";
    expect(both).toBeInstanceOf(AskInputError);
    expect(both).toMatchObject({ param: "prompt", message });
    expect(neither).toMatchObject({ param: "messages", message });
  });

  it("a value the agent's schema refuses is refused here, naming its path", () => {
    // Act
    const e = thrown(() => requestPlaintextOf({ model: MODEL, prompt: "x", temperature: 3 }, false));
    const nested = thrown(() => requestPlaintextOf({ model: MODEL, messages: [{ role: "user", content: "hi", name: "A B" }] }, false));
    // Assess
    expect(e).toBeInstanceOf(AskInputError);
    expect(e).toMatchObject({ param: "temperature", message: expect.stringMatching(/^temperature: /) });
    expect(nested).toMatchObject({ param: "messages.0.name", message: expect.stringMatching(/^messages\.0\.name: /) });
  });
});

// ---------------------------------------------------------------- renewalDue

describe("renewalDue: a kept quote is renewed by one submit once it is RENEW_AFTER_MS old", () => {
  /** A client holding one kept entry picked at `since`, on a clock the test sets. */
  function kept(o: { since?: number; allLive?: boolean; renewing?: boolean } = {}) {
    const clock = { now: T0 };
    const { c } = client(undefined, () => clock.now);
    const ask = { model: MODEL, maxTokens: 256, maxPromptTokens: 1024, tiers: ["dev" as const] };
    const entry = {
      key: "k",
      quote: quote(c.account, FEES),
      verified: [],
      until: T0 + 15_000,
      inFlight: 1,
      capacity: 1,
      ask,
      since: o.since ?? T0,
      ...(o.allLive ? { allLive: true } : {}),
      ...(o.renewing ? { renewing: true } : {}),
    };
    const x = c as unknown as { quotes: Map<string, typeof entry>; renewalDue(e: typeof entry): unknown };
    x.quotes.set("k", entry);
    return { clock, entry, ask, due: () => x.renewalDue(entry), quotes: x.quotes };
  }

  it("not before RENEW_AFTER_MS; at it, once (the entry then says it is renewing), with the quote's own ask", () => {
    // Prepare
    const k = kept();
    // Act
    k.clock.now = T0 + RENEW_AFTER_MS - 1;
    const early = k.due();
    k.clock.now = T0 + RENEW_AFTER_MS;
    const first = k.due();
    const second = k.due();
    // Assess
    expect(early).toBeUndefined();
    expect(first).toBe(k.ask);
    expect(k.entry.renewing).toBe(true);
    expect(second).toBeUndefined();
  });

  it("never for a quote naming every live worker, one already renewing, or one no longer kept", () => {
    // Prepare
    const allLive = kept({ allLive: true });
    const renewing = kept({ renewing: true });
    const dropped = kept();
    dropped.quotes.delete("k");
    // Act
    for (const k of [allLive, renewing, dropped]) k.clock.now = T0 + 10 * RENEW_AFTER_MS;
    // Assess
    expect([allLive.due(), renewing.due(), dropped.due()]).toEqual([undefined, undefined, undefined]);
    expect(allLive.entry.renewing).toBeUndefined();
    expect(dropped.entry.renewing).toBeUndefined();
  });
});

// ---------------------------------------------------------------- fromKeptQuote

describe("fromKeptQuote: a job under a kept quote is sealed to the quote's candidates and held at its weights", () => {
  const LISTED = "1a".repeat(32);
  const OTHER = "2b".repeat(32);
  const job = (x: ReturnType<typeof client>, limits: Limits, use: "cache" | "refresh" = "cache") =>
    x.p.fromKeptQuote({ model: MODEL }, ["dev"], limits, use);

  it("the hold is the job's own maxima at the dearest candidate the quote prices, by the quote's weights; one it does not price is not sealed to", async () => {
    // Prepare: the quote prices a at 100 and b at 300 (the candidates claim 100), not u; weights twice the defaults
    const x = client();
    const [a, b, u] = [candidate(), candidate(), candidate()];
    const prep = prepared(
      x.requester.id,
      [a, b, u],
      new Map([
        [a.workerId, 100n],
        [b.workerId, 300n],
      ]),
      { promptBps: 5_000, completionBps: 20_000 },
    );
    x.answers.set("/v1/jobs/prepare", prep);

    // Act
    const j = await job(x, { maxTokens: 10, maxPromptTokens: 20 });

    // Assess: 300 × (20 × 5000 + 10 × 20000) / 10000 (the default weights would hold 4500, the quote's maxima far more)
    expect(j.maxCost).toBe("9000");
    expect(j).toMatchObject({ model: MODEL, maxTokens: 10, maxPromptTokens: 20, quote: prep.quote });
    expect(j.verified.map((c) => c.workerId)).toEqual([a.workerId, b.workerId]);
    expect(j.jobId).toMatch(/^job_/);
    expect(j.kept).toBe(x.p.quotes.get(j.cacheKey));
    expect(j.kept.inFlight).toBe(1);
  });

  it("each job under the kept quote starts one candidate further on (one prepare for all)", async () => {
    // Prepare: three priced candidates and one unpriced
    const x = client();
    const [a, b, c, u] = [candidate(), candidate(), candidate(), candidate()];
    x.answers.set("/v1/jobs/prepare", prepared(x.requester.id, [a, b, c, u], new Map([a, b, c].map((k) => [k.workerId, 100n]))));
    const limits = { maxTokens: 10, maxPromptTokens: 20 };

    // Act
    const orders: string[][] = [];
    for (let i = 0; i < 3; i++) orders.push((await job(x, limits)).verified.map((k) => k.workerId));

    // Assess
    const [A, B, C] = [a.workerId, b.workerId, c.workerId];
    expect(orders).toEqual([
      [A, B, C],
      [B, C, A],
      [C, A, B],
    ]);
    expect(x.calls.filter((p) => p === "/v1/jobs/prepare")).toHaveLength(1);
  });

  it("a kept quote picked RENEW_AFTER_MS ago carries the renewal of what it was asked for", async () => {
    // Prepare
    let now = T0;
    const x = client(undefined, () => now);
    const a = candidate();
    x.answers.set("/v1/jobs/prepare", prepared(x.requester.id, [a], new Map([[a.workerId, 100n]])));
    const first = await job(x, { maxTokens: 10, maxPromptTokens: 20 });
    first.kept.inFlight--; // the first job finished

    // Act
    now += RENEW_AFTER_MS;
    const second = await job(x, { maxTokens: 10, maxPromptTokens: 20 });

    // Assess: what it was asked, naming the document of its candidate as held (PrepareRequest.held)
    expect(first.renew).toBeUndefined();
    expect(first.kept.ask).toEqual({ model: MODEL, maxTokens: 256, maxPromptTokens: 1024, tiers: ["dev"] });
    expect(second.renew).toEqual({
      ...(first.kept.ask as object),
      held: [{ workerId: a.workerId, attestationDigest: attestationDigest(a.attestation) }],
    });
  });

  it("a renewed quote naming a held document by its digest is kept with the document we hold (verified once); a digest we do not hold leaves its worker out", async () => {
    // Prepare: a kept quote of a; a renewal due
    let now = T0;
    const x = client(undefined, () => now);
    const a = candidate();
    const [stranger, other] = [candidate(), candidate()];
    x.answers.set("/v1/jobs/prepare", prepared(x.requester.id, [a], new Map([[a.workerId, 100n]])));
    const first = await job(x, { maxTokens: 10, maxPromptTokens: 20 });
    first.kept.inFlight--;
    now += RENEW_AFTER_MS;
    const second = await job(x, { maxTokens: 10, maxPromptTokens: 20 });
    const byDigest = (c: Candidate) => {
      const { attestation, ...rest } = c;
      return { ...rest, attestationDigest: attestationDigest(attestation) };
    };
    const next = prepared(
      x.requester.id,
      [a, stranger, other],
      new Map([
        [a.workerId, 100n],
        [stranger.workerId, 100n],
        [other.workerId, 100n],
      ]),
    );
    const verifications = vi.mocked(verifyAttestation).mock.calls.length;
    // Act: the submit's answer brings the renewal, every candidate named by digest (another worker by a's)
    x.p.adoptRenewal(second, {
      ...next,
      candidates: [byDigest(a), byDigest(stranger), { ...byDigest(other), attestationDigest: attestationDigest(a.attestation) }],
    });
    await Promise.all([...x.p.renewals]);
    // Assess: kept with a and a's document; the others (documents we never saw) out; nothing verified again
    const kept = x.p.quotes.get(second.cacheKey)!;
    expect(kept).not.toBe(first.kept);
    expect(kept.verified.map((c) => [c.workerId, c.attestation])).toEqual([[a.workerId, a.attestation]]);
    expect(vi.mocked(verifyAttestation).mock.calls.length).toBe(verifications);
  });

  it("a fresh prepare for a kept quote that ran out names that quote's documents as held", async () => {
    // Prepare: a kept quote of a and b, then past its keep
    let now = T0;
    const x = client(undefined, () => now);
    const [a, b] = [candidate(), candidate()];
    const prices = new Map([
      [a.workerId, 100n],
      [b.workerId, 100n],
    ]);
    x.answers.set("/v1/jobs/prepare", prepared(x.requester.id, [a, b], prices));
    const bodies: unknown[] = [];
    const request = x.c.api.request.bind(x.c.api);
    x.c.api.request = ((route: { path: string }, o?: { body?: unknown }) => {
      if (route.path === "/v1/jobs/prepare") bodies.push(o?.body);
      return request(route as never, o as never);
    }) as typeof x.c.api.request;
    const first = await job(x, { maxTokens: 10, maxPromptTokens: 20 });
    first.kept.inFlight--;
    now += 60_000;
    // Act
    await job(x, { maxTokens: 10, maxPromptTokens: 20 });
    // Assess: the first prepare held nothing; the second names a's and b's documents
    expect(bodies).toHaveLength(2);
    expect(bodies[0]).not.toHaveProperty("held");
    expect(bodies[1]).toMatchObject({
      held: [a, b].map((c) => ({ workerId: c.workerId, attestationDigest: attestationDigest(c.attestation) })),
    });
  });

  it("every kept candidate delisted since: the kept quote is dropped, a fresh one prepared and sealed to; the old place given back", async () => {
    // Prepare: a kept quote whose one candidate attests OTHER; then the registry lists only LISTED
    const reg = fakeRegistry({ models: { [LISTED]: 0n, [OTHER]: 0n } });
    let now = T0;
    const x = client(reg, () => now);
    const old = candidate(OTHER);
    x.answers.set("/v1/jobs/prepare", prepared(x.requester.id, [old], new Map([[old.workerId, 100n]])));
    const first = await job(x, { maxTokens: 10, maxPromptTokens: 20 });
    first.kept.inFlight--;
    delete reg.r.models[OTHER];
    now += 3_000; // past the registry cache's refresh
    const fresh = candidate(LISTED);
    x.answers.set("/v1/jobs/prepare", prepared(x.requester.id, [fresh], new Map([[fresh.workerId, 100n]])));

    // Act
    const second = await job(x, { maxTokens: 10, maxPromptTokens: 20 });

    // Assess
    expect(second.verified.map((c) => c.workerId)).toEqual([fresh.workerId]);
    expect(first.kept.inFlight).toBe(0);
    expect(second.kept).not.toBe(first.kept);
    expect(x.p.quotes.get(second.cacheKey)).toBe(second.kept);
    expect(second.kept.inFlight).toBe(1);
    expect(x.calls.filter((p) => p === "/v1/jobs/prepare")).toHaveLength(2);
  });

  /** A client whose own check of candidates (verifyCandidates) answers `verdicts` in turn: "pass" checks them, else that is thrown. */
  function checkedInTurn(verdicts: Array<"pass" | Error>) {
    const x = client();
    const a = candidate();
    x.answers.set("/v1/jobs/prepare", prepared(x.requester.id, [a], new Map([[a.workerId, 100n]])));
    const verify = x.c.verifyCandidates.bind(x.c);
    const calls: number[] = [];
    x.c.verifyCandidates = (async (...args: Parameters<typeof verify>) => {
      const v = verdicts[calls.push(calls.length) - 1] ?? "pass";
      if (v !== "pass") throw v;
      return verify(...args);
    }) as typeof verify;
    const prepares = () => x.calls.filter((p) => p === "/v1/jobs/prepare").length;
    return { x, prepares };
  }
  const none = () => new VerificationError("no_verified_candidates", "none passed");

  it("from the cache, the kept candidates refused and then the fresh quote's too: refused, both places given back, nothing kept", async () => {
    // Prepare: the prepare's check passes, the job's refuses; the fresh prepare's passes, the job's refuses again
    const { x, prepares } = checkedInTurn(["pass", none(), "pass", none()]);

    // Act
    const r = await settled(job(x, { maxTokens: 10, maxPromptTokens: 20 }));

    // Assess
    expect(r).toMatchObject({ code: "no_verified_candidates" });
    expect(prepares()).toBe(2);
    const [kept] = [...x.p.quotes.values()];
    expect(kept?.inFlight).toBe(0); // the fresh entry (kept by the refresh), its place given back
  });

  it("from the cache, the kept candidates refused and the fresh prepare failing: the refused quote is not kept for the next job", async () => {
    // Prepare: the prepare's check passes, the job's refuses; then the coordinator answers no prepare
    const { x, prepares } = checkedInTurn(["pass", none()]);
    const kept = await settled(job(x, { maxTokens: 10, maxPromptTokens: 20 }, "refresh")); // keeps the quote, refused
    x.c.verifyCandidates = (async () => {
      throw none();
    }) as typeof x.c.verifyCandidates;
    const [entry] = [...x.p.quotes.values()];
    x.answers.delete("/v1/jobs/prepare");

    // Act
    const r = await settled(job(x, { maxTokens: 10, maxPromptTokens: 20 }));

    // Assess
    expect(kept).toMatchObject({ code: "no_verified_candidates" });
    expect(r).toMatchObject({ message: "stub: no answer for /v1/jobs/prepare" });
    expect(prepares()).toBe(2);
    expect(entry?.inFlight).toBe(0);
    expect(x.p.quotes.size).toBe(0);
  });

  it("asked to refresh (not from the cache): a refusal of every candidate is not retried, and the place is given back", async () => {
    // Prepare
    const { x, prepares } = checkedInTurn(["pass", none()]);

    // Act
    const r = await settled(job(x, { maxTokens: 10, maxPromptTokens: 20 }, "refresh"));

    // Assess
    expect(r).toMatchObject({ code: "no_verified_candidates" });
    expect(prepares()).toBe(1);
    expect([...x.p.quotes.values()].map((e) => e.inFlight)).toEqual([0]);
  });

  it("any other failure of the check (another code, not a VerificationError) is not retried with a fresh quote", async () => {
    // Prepare
    const broken = checkedInTurn(["pass", new VerificationError("policy_stale", "stale")]);
    const thrownError = checkedInTurn(["pass", new Error("no_verified_candidates")]);

    // Act
    const r1 = await settled(job(broken.x, { maxTokens: 10, maxPromptTokens: 20 }));
    const r2 = await settled(job(thrownError.x, { maxTokens: 10, maxPromptTokens: 20 }));

    // Assess
    expect(r1).toMatchObject({ code: "policy_stale" });
    expect(r2).toMatchObject({ message: "no_verified_candidates" });
    expect([broken.prepares(), thrownError.prepares()]).toEqual([1, 1]);
    expect([...broken.x.p.quotes.values()].map((e) => e.inFlight)).toEqual([0]);
  });
});

// ---------------------------------------------------------------- verifyCandidates

describe("verifyCandidates: whom a prompt may be sealed to", () => {
  const LISTED = "1a".repeat(32);
  const OTHER = "2b".repeat(32);
  const DAY = 86_400_000; // core/attestation/policy.json's maxEvidenceAgeSeconds
  const short = (c: Candidate) => c.workerId.slice(0, 8);

  it("a candidate whose signing key or HPKE key is not the one attested is refused, each saying so, in order", async () => {
    // Prepare
    const { c } = client();
    const good = candidate();
    const otherHpke = { ...candidate(), hpkePublicKey: good.hpkePublicKey };
    const otherId = { ...candidate(), workerId: generateSigningKey().id };

    // Act
    const kept = await c.verifyCandidates([otherHpke, good, otherId], ["dev"]);
    const none = await settled(c.verifyCandidates([otherHpke, otherId], ["dev"]));

    // Assess
    expect(kept.map((k) => k.workerId)).toEqual([good.workerId]);
    expect(none).toEqual({
      code: "no_verified_candidates",
      message: `no candidate passed attestation checks: ${short(otherHpke)}: keys differ from its attestation; ${short(otherId)}: keys differ from its attestation`,
    });
  });

  it("a tier not asked for is refused; a candidate claiming another tier than it attests is refused, also once its evidence is cached", async () => {
    // Prepare
    const { c } = client();
    const dev = candidate();
    const claimsTdx = { ...dev, tier: "tdx" as const };

    // Act
    const notAsked = await settled(c.verifyCandidates([dev], ["tdx"]));
    const before = await settled(c.verifyCandidates([claimsTdx], ["dev"]));
    const honest = await c.verifyCandidates([dev], ["dev"]);
    const after = await settled(c.verifyCandidates([claimsTdx], ["dev"]));

    // Assess
    expect(notAsked).toEqual({
      code: "no_verified_candidates",
      message: `no candidate passed attestation checks: ${short(dev)}: tier dev not requested`,
    });
    const mismatch = { code: "no_verified_candidates", message: `no candidate passed attestation checks: ${short(dev)}: tier mismatch` };
    expect(before).toEqual(mismatch);
    expect(honest).toEqual([{ ...dev, measurement: expect.any(String) }]);
    expect(after).toEqual(mismatch);
  });

  it("dev evidence only with allowDev; the not-confidential tier when asked for", async () => {
    // Prepare
    const strict = new CocoonClient({ apiUrl: "http://127.0.0.1:9", key: generateSigningKey(), now: () => T0 });
    const signing = generateSigningKey();
    const kem = generateKemKey();
    const none: Candidate = {
      workerId: signing.id,
      hpkePublicKey: b64u.encode(kem.publicKey),
      attestation: createNoneAttestation({
        hpkePublicKey: kem.publicKey,
        signingPublicKey: signing.publicKey,
        nonce: new Uint8Array(32),
        now: T0,
      }),
      pricePerToken: "100",
      tier: "none",
    };

    // Act
    const dev = await settled(strict.verifyCandidates([candidate()], ["dev"]));
    const plain = await strict.verifyCandidates([none], ["none"]);

    // Assess
    expect(dev).toMatchObject({ code: "no_verified_candidates" });
    expect(plain.map((k) => [k.workerId, k.measurement])).toEqual([[none.workerId, "none"]]);
  });

  it("a cached verdict stands (the evidence is not checked again) until its evidence expires, then it is checked again (and refused past it)", async () => {
    // Prepare
    let now = T0;
    const { c } = client(undefined, () => now);
    const a = candidate();
    const checks = () => vi.mocked(verifyAttestation).mock.calls.filter(([doc]) => doc === a.attestation).length;
    await c.verifyCandidates([a], ["dev"]);

    // Act
    now = T0 + DAY - 1;
    const cached = await c.verifyCandidates([a], ["dev"]);
    const checksWhileCached = checks();
    now = T0 + DAY;
    const atExpiry = await c.verifyCandidates([a], ["dev"]);
    const checksAtExpiry = checks();
    now = T0 + DAY + 1;
    const past = await settled(c.verifyCandidates([a], ["dev"]));

    // Assess
    expect(cached.map((k) => [k.workerId, k.measurement])).toEqual([[a.workerId, expect.any(String)]]);
    expect(checksWhileCached).toBe(1);
    expect(atExpiry.map((k) => k.measurement)).toEqual([expect.any(String)]);
    expect(checksAtExpiry).toBe(2);
    expect(past).toMatchObject({ code: "no_verified_candidates", message: expect.stringContaining("re-attest") });
  });

  it("with a registry, an image not on it is refused, first and cached, saying so", async () => {
    // Prepare
    const reg = fakeRegistry({ images: [] });
    const { c } = client(reg);
    const a = candidate();

    // Act
    const first = await settled(c.verifyCandidates([a], ["dev"], MODEL));
    const cached = await settled(c.verifyCandidates([a], ["dev"], MODEL));

    // Assess
    const refused = {
      code: "no_verified_candidates",
      message: `no candidate passed attestation checks: ${short(a)}: image not on the policy registry's allow-list (v3)`,
    };
    expect(first).toEqual(refused);
    expect(cached).toEqual(refused);
  });

  it("with a model list in force: no model asked, digests are not checked; a digest unlisted or missing is refused, saying which", async () => {
    // Prepare
    const { c } = client(fakeRegistry({ models: { [LISTED]: 0n } }));
    const bare = candidate();
    const other = candidate(OTHER);

    // Act
    const noModel = await c.verifyCandidates([bare], ["dev"]);
    const refused = await settled(c.verifyCandidates([other, bare], ["dev"], MODEL));
    const inherited = await settled(c.verifyCandidates([other], ["dev"], "toString")); // a name of Object.prototype's: no digest

    // Assess
    expect(noModel.map((k) => k.workerId)).toEqual([bare.workerId]);
    expect(refused).toEqual({
      code: "no_verified_candidates",
      message: `no candidate passed attestation checks: ${short(other)}: model ${MODEL} digest ${OTHER.slice(0, 16)}… not on the policy registry's allow-list (v3); ${short(bare)}: model ${MODEL} without a digest not on the policy registry's allow-list (v3)`,
    });
    expect(inherited).toMatchObject({ message: expect.stringContaining("model toString without a digest") });
  });
});
