/**
 * Helper agent42 (session 42), executeJob's side: what a job stopped at its longest life before its
 * engine made anything tells its requester (not "cancelled": they did not cancel), the one-line
 * bad_request text of a refused `extra` (it was zod's issues as JSON), and what a cancel that comes
 * once the engine was asked, before its first token, bills: the prompt, as the engine counts it,
 * its re-count given what is left of the lease (ExecuteContext.recountWithinMs) where 5 s did not
 * do (the rest of a long prefill: billed 0 before).
 */
import { describe, expect, it } from "vitest";
import { openReply } from "../core/crypto/envelope";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import type { FailurePlaintext } from "../events/api";
import type { SealedReply } from "../events/envelope";
import { openAnswer } from "../client/reply";
import { pollUntil } from "../test/helpers";
import { executeJob, LongestLifeReached, PROMPT_RECOUNT_MS, recountWithin, type ExecuteContext } from "./execute";
import { EngineError, type Engine } from "./engines/engine";
import { executeContext, openableJob, recordingApi, slowEngine } from "./job-testing";

/** The rest of a long prefill: `ms`, or engine_aborted as soon as `signal` fires (as engines honour it). */
const prefillRest = (ms: number, signal: AbortSignal | undefined) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), reject(new EngineError("engine_aborted", "aborted", { engine: "slow" }))), {
      once: true,
    });
  });

interface Run {
  engine: Engine;
  /** the request (default: a one-message chat) */
  plaintext?: Record<string, unknown>;
  /** what stops the job: nothing, the requester's cancel, or its longest life (runtime's timeUp) */
  stop?: "cancel" | "longest-life";
  /** when: before the job starts (default), or once this returns true (polled) */
  when?: () => boolean;
  /** what the runtime adds to the context */
  ctx?: Partial<ExecuteContext>;
}

/** Factory + Act: one job through executeJob, stopped as `o` says; its result, its sealed failure text and its opened answer. */
async function run(o: Run) {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const plaintext = { messages: [{ role: "user", content: "hi" }], ...o.plaintext };
  const { job, header, replyKey, binding } = openableJob(signingKey.id, kemKey, 60_000, plaintext, { maxTokens: 400 });
  const { api, results } = recordingApi();
  const cancel = new AbortController();
  const stop = () => cancel.abort(o.stop === "longest-life" ? new LongestLifeReached(o.engine.name) : new Error("the requester cancelled"));
  if (o.stop && !o.when) stop();
  const running = executeJob(executeContext({ signingKey, kemKey }, api, o.engine, { cancel: cancel.signal, ...o.ctx }), job);
  if (o.stop && o.when) {
    await pollUntil("the moment to stop", () => (o.when!() ? true : undefined), 5_000);
    stop();
  }
  await running;
  const result = results[0];
  const failure = (): FailurePlaintext => {
    if (result?.kind !== "failed" || !result.reply) throw new Error(`no sealed failure: ${JSON.stringify(result)}`);
    return JSON.parse(
      new TextDecoder().decode(openReply(result.reply as SealedReply, header, signingKey.id, replyKey)),
    ) as FailurePlaintext;
  };
  const answer = () => {
    if (result?.kind !== "completed") throw new Error(`the job did not complete: ${JSON.stringify(result)}`);
    return openAnswer(result.reply, header, signingKey.id, replyKey, binding);
  };
  return { results, result, failure, answer };
}

describe("executeJob: a job at its longest life before its engine made anything", () => {
  it("before the engine started: failed engine_unavailable (the requester did not cancel), the engine never called", async () => {
    // Prepare
    const engine = slowEngine();
    // Act
    const r = await run({ engine, stop: "longest-life" });
    // Assess: the old agent reported "cancelled", which `cocoon job` shows as the worker's report
    expect(r.result).toMatchObject({ kind: "failed", code: "engine_unavailable" });
    expect(r.failure().error.message).toContain("longest life");
    expect(r.failure().error.message).not.toContain("cancelled");
    expect(engine.streams).toEqual([]);
    expect(engine.asks).toEqual([]);
  });

  it("while the engine made embeddings: failed engine_unavailable, not cancelled", async () => {
    // Prepare: an engine whose embedding waits for its signal
    let signal: AbortSignal | undefined;
    const engine: Engine = {
      ...slowEngine(),
      embed: (req) => {
        signal = req.signal;
        return new Promise((_resolve, reject) => req.signal?.addEventListener("abort", () => reject(new Error("aborted")), { once: true }));
      },
    };
    // Act
    const r = await run({
      engine,
      plaintext: { kind: "embedding", input: ["a"], messages: undefined },
      stop: "longest-life",
      when: () => signal !== undefined,
    });
    // Assess
    expect(r.result).toMatchObject({ kind: "failed", code: "engine_unavailable" });
    expect(signal?.aborted).toBe(true);
  });

  it("a requester's cancel before the engine started is still code cancelled (refunded in full)", async () => {
    // Prepare
    const engine = slowEngine();
    // Act
    const r = await run({ engine, stop: "cancel" });
    // Assess
    expect(r.result).toMatchObject({ kind: "failed", code: "cancelled" });
    expect(r.failure().error.message).toContain("the requester cancelled the job");
  });
});

describe("executeJob: a request whose extra the allow-list refuses", () => {
  it("fails bad_request with one readable line naming the field, as the SDK and cocoon serve word it (not zod's JSON)", async () => {
    // Prepare: llama-server's grammar, off the allow-list (events/engine-extra.ts)
    const engine = slowEngine();
    // Act
    const r = await run({ engine, plaintext: { extra: { grammar: 'root ::= "x"' } } });
    // Assess
    expect(r.result).toMatchObject({ kind: "failed", code: "bad_request" });
    const message = r.failure().error.message;
    expect(message).toMatch(/^extra\.grammar: grammar is not an engine parameter this network passes on/);
    expect(message).not.toContain("\n");
    expect(engine.streams).toEqual([]);
  });

  it("a value of the wrong type names its field the same way, and a second problem is counted", async () => {
    // Prepare
    const engine = slowEngine();
    // Act
    const r = await run({ engine, plaintext: { extra: { top_k: "many", lora: [1] } } });
    // Assess
    expect(r.result).toMatchObject({ kind: "failed", code: "bad_request" });
    const message = r.failure().error.message;
    expect(message).toMatch(/^extra\.top_k: top_k: /);
    expect(message).toMatch(/\(and 1 more\)$/);
    expect(message).not.toContain("\n");
  });
});

describe("executeJob: a cancel once the engine was asked, before its first token", () => {
  it("bills the prompt as the engine counts it (its prefill was done), no completion tokens; finish cancelled", async () => {
    // Prepare: an engine whose first token would come after 10 s (a long prefill)
    const engine = slowEngine({ everyMs: 10_000, promptTokens: 7 });
    // Act: cancelled once the engine was asked
    const r = await run({ engine, stop: "cancel", when: () => engine.streams.length === 1 });
    // Assess
    const answer = r.answer();
    expect(answer.usage).toEqual({ promptTokens: 7, completionTokens: 0 });
    expect(answer.choices[0]!.finishReason).toBe("cancelled");
    expect(r.result?.kind === "completed" && r.result.receipt.body.usage).toEqual({ promptTokens: 7, completionTokens: 0 });
  });

  it("a re-count past PROMPT_RECOUNT_MS (the rest of a long prefill) is waited for while the lease allows: the prompt is billed, not 0", async () => {
    // Prepare: the cancel came early in a long prefill; the re-count must do the rest of it (6 s)
    const engine = slowEngine({ everyMs: 60_000, promptTokens: 7 });
    engine.generate = async (req) => {
      engine.asks.push(req);
      await prefillRest(PROMPT_RECOUNT_MS + 1_000, req.signal);
      return { text: "t", usage: { promptTokens: 7, completionTokens: 1 }, finishReason: "length", engine: "slow" };
    };
    // Act: the runtime says 20 s of the lease are left before its result must be posted
    const r = await run({ engine, stop: "cancel", when: () => engine.streams.length === 1, ctx: { recountWithinMs: () => 20_000 } });
    // Assess: the old agent gave up the re-count at 5 s and billed the prompt 0
    expect(engine.asks).toHaveLength(1);
    expect(r.answer().usage).toEqual({ promptTokens: 7, completionTokens: 0 });
  }, 15_000);
});

describe("session 42 review: a stopped job's work leaves half of its lease to the post", () => {
  it("takes half of what is left of the lease, at least PROMPT_RECOUNT_MS, whole milliseconds", () => {
    expect(recountWithin({ recountWithinMs: () => 30_001 })).toBe(15_000);
    expect(recountWithin({ recountWithinMs: () => 4_000 })).toBe(PROMPT_RECOUNT_MS);
    expect(recountWithin({})).toBe(PROMPT_RECOUNT_MS);
  });
});
