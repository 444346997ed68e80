/**
 * Session 31 privacy review: an OpenAI-compatible server keeps ONE prompt cache for every request
 * (vLLM's automatic prefix caching, llama-server's slots and prompt cache), and a prefix it holds
 * is answered sooner. A requester who lands on the same worker could time guesses at the start
 * of another requester's prompt, and a requester's own `cache_salt` or `id_slot` (passed through
 * with the extras) let it join another's cache namespace or pick the slot holding another's
 * prompt. The adapter now keeps each requester's jobs under a cache scope of its own (vLLM's
 * `cache_salt`), never takes those fields from a requester, and leaves the salt out for good on a
 * server that refuses it.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generateKemKey, generateSigningKey } from "../../core/crypto/keys";
import { executeJob, cacheScopeOf } from "../execute";
import { executeContext, freshStats, openableJob, recordingApi } from "../job-testing";
import { createOpenAiEngine } from "./openai-http";
import { aRequest } from "./engine-testing";
import type { EngineStreamEvent } from "./engine";

const BASE = "http://127.0.0.1:9/v1";

const chatAnswer = {
  id: "c",
  object: "chat.completion",
  choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
};
const completionAnswer = {
  id: "c",
  object: "text_completion",
  choices: [{ index: 0, text: "ok", finish_reason: "stop" }],
  usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
};

/** Factory: a server answering every POST whole (JSON), or `refuse(body)`'s error status and text; it records each body. */
function server(o: { refuse?: (body: Record<string, unknown>) => { status: number; message: string } | undefined } = {}) {
  const bodies: Array<Record<string, unknown>> = [];
  const fetchImpl = (async (url: string | URL | Request, init?: RequestInit) => {
    const body = JSON.parse(String(init?.body)) as Record<string, unknown>;
    bodies.push(body);
    const refusal = o.refuse?.(body);
    if (refusal)
      return new Response(JSON.stringify({ object: "error", message: refusal.message, type: "BadRequestError", code: refusal.status }), {
        status: refusal.status,
        headers: { "content-type": "application/json" },
      });
    const answer = String(url).endsWith("/completions") && !String(url).endsWith("/chat/completions") ? completionAnswer : chatAnswer;
    return new Response(JSON.stringify(answer), { status: 200, headers: { "content-type": "application/json" } });
  }) as typeof fetch;
  return { fetchImpl, bodies };
}

async function drain(s: AsyncIterable<EngineStreamEvent>) {
  for await (const ev of s) if (ev.type === "done") return ev.result;
  throw new Error("stream ended without done");
}

describe("openai-http: each requester's prompts under a cache scope of their own (session 31 privacy review)", () => {
  it("sends the request's cache scope as cache_salt on every job path (chat, stream, completion, streamed completion)", async () => {
    // Prepare
    const s = server();
    const engine = createOpenAiEngine({ baseUrl: BASE, fetchImpl: s.fetchImpl });
    const scope = "a".repeat(32);
    // Act
    await engine.generate(aRequest({ cacheScope: scope }));
    await drain(engine.stream!(aRequest({ cacheScope: scope })));
    await engine.complete!({ model: "m", prompt: "p", maxTokens: 8, cacheScope: scope });
    await drain(engine.streamCompletion!({ model: "m", prompt: "p", maxTokens: 8, cacheScope: scope }));
    // Assess
    expect(s.bodies).toHaveLength(4);
    for (const b of s.bodies) expect(b.cache_salt).toBe(scope);
  });

  it("never takes cache_salt, id_slot or slot_id from a requester's extras (its own salt would join another's cache; a slot id picks another's slot)", async () => {
    // Prepare
    const s = server();
    const engine = createOpenAiEngine({ baseUrl: BASE, fetchImpl: s.fetchImpl });
    const extra = { cache_salt: "victims-salt", id_slot: 0, slot_id: 0, top_k: 5 };
    // Act: with a scope, and without one (an engine request made elsewhere)
    await engine.generate(aRequest({ extra, cacheScope: "b".repeat(32) }));
    await drain(engine.stream!(aRequest({ extra })));
    // Assess: the agent's scope or nothing; the requester's other extras still pass
    expect(s.bodies[0]).toMatchObject({ cache_salt: "b".repeat(32), top_k: 5 });
    expect(s.bodies[1]).toMatchObject({ top_k: 5 });
    for (const b of s.bodies) {
      expect(b).not.toHaveProperty("id_slot");
      expect(b).not.toHaveProperty("slot_id");
      expect(b.cache_salt).not.toBe("victims-salt");
    }
    expect(s.bodies[1]).not.toHaveProperty("cache_salt");
  });

  it("a server that refuses cache_salt (a 4xx naming it): the job is sent again without it and answered, and later jobs leave it out", async () => {
    // Prepare: vLLM's V0 engine refuses the field
    const s = server({
      refuse: (b) => ("cache_salt" in b ? { status: 400, message: "cache_salt is not supported with the V0 engine" } : undefined),
    });
    const engine = createOpenAiEngine({ baseUrl: BASE, fetchImpl: s.fetchImpl });
    // Act
    const first = await drain(engine.stream!(aRequest({ cacheScope: "c".repeat(32) })));
    const second = await engine.generate(aRequest({ cacheScope: "c".repeat(32) }));
    // Assess: answered; one refusal in all
    expect(first.text).toBe("ok");
    expect(second.text).toBe("ok");
    expect(s.bodies.map((b) => "cache_salt" in b)).toEqual([true, false, false]);
  });

  it("a 4xx that does not name cache_salt is the request's own refusal: not sent again", async () => {
    // Prepare
    const s = server({ refuse: () => ({ status: 400, message: "temperature must be at most 2" }) });
    const engine = createOpenAiEngine({ baseUrl: BASE, fetchImpl: s.fetchImpl });
    // Act
    const e = await engine.generate(aRequest({ cacheScope: "d".repeat(32) })).catch((x: unknown) => x as Error);
    // Assess
    expect(e).toMatchObject({ code: "engine_rejected" });
    expect(s.bodies).toHaveLength(1);
  });
});

describe("executeJob: the cache scope is the requester's (session 31 privacy review)", () => {
  /** Act: one chat job of `requester` through executeJob and the real adapter; the body the server got. */
  async function bodyOfJob(requester: string, extra: Record<string, unknown> = {}, outcome = "completed") {
    const s = server();
    const signingKey = generateSigningKey();
    const kemKey = generateKemKey();
    const { job } = openableJob(signingKey.id, kemKey, 60_000, { messages: [{ role: "user", content: "hi" }], extra }, { requester });
    const { api, results } = recordingApi();
    const stats = freshStats();
    await executeJob(
      executeContext({ signingKey, kemKey }, api, createOpenAiEngine({ baseUrl: BASE, fetchImpl: s.fetchImpl }), { stats }),
      job,
    );
    expect(results.map((r) => (r.kind === "failed" ? r.code : r.kind))).toEqual([outcome]);
    return s.bodies[0];
  }

  it("one requester's jobs share a salt, another requester's differ, and no requester picks its own", async () => {
    // Prepare
    const alice = generateSigningKey().id;
    const bob = generateSigningKey().id;
    // Act
    const a1 = await bodyOfJob(alice);
    // review41: a requester's own cache_salt is refused before the engine (extra is an allow-list)
    const a2 = await bodyOfJob(alice, { cache_salt: cacheScopeOf(bob) }, "bad_request");
    const b1 = await bodyOfJob(bob);
    // Assess
    expect(a1?.cache_salt).toBe(cacheScopeOf(alice));
    expect(a2).toBeUndefined();
    expect(b1?.cache_salt).toBe(cacheScopeOf(bob));
    expect(cacheScopeOf(alice)).not.toBe(cacheScopeOf(bob));
    expect(cacheScopeOf(alice)).toMatch(/^[0-9a-f]{32}$/);
  });

  it("session 42 privacy review: nobody outside this agent can compute a requester's salt from its public account id", () => {
    // Prepare: what anyone could compute from the id alone (the unkeyed scope before)
    const requester = generateSigningKey().id;
    const fromTheIdAlone = createHash("sha256").update(`cocoon-cache-scope:${requester}`).digest("hex").slice(0, 32);
    // Act + Assess: the scope is keyed by this process's secret
    expect(cacheScopeOf(requester)).not.toBe(fromTheIdAlone);
    expect(cacheScopeOf(requester)).toBe(cacheScopeOf(requester));
  });
});
