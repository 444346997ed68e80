/**
 * A requester's cancel as executeJob (agent/execute.ts) sees it, through ctx.cancel: the engine is
 * stopped, and the job ends as a completed answer billing what was generated (finishReason
 * "cancelled"), or fails with code "cancelled" when nothing was.
 */
import { describe, expect, it } from "vitest";
import { API, type ApiClient } from "../api-client/api";
import type { ApiRoute } from "../api-client/routes";
import { canonicalJson, sha256Hex } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { verifyReceipt } from "../core/crypto/receipt";
import type { ResultRequest } from "../events/api";
import type { EnvelopeHeader } from "../events/envelope";
import type { RelayChunk } from "../events/relay";
import type { RelaySession } from "../events/relay-session";
import { openAnswer } from "../client/reply";
import { executeJob, PROMPT_RECOUNT_MS } from "./execute";
import { EngineError, type Engine } from "./engines/engine";
import { executeContext, freshStats, openableJob, slowEngine } from "./job-testing";
import { pollUntil } from "../test/helpers";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Run {
  engine: Engine;
  /** the request (default: a one-message chat) */
  plaintext?: Record<string, unknown>;
  header?: Partial<EnvelopeHeader>;
  /** when to cancel: "before" the job starts, or once this returns true (polled) */
  cancelWhen: "before" | (() => boolean);
  /** the requester asked for a stream, on a pub/sub relay */
  streamed?: boolean;
}

/** Factory + Act: one job through executeJob, cancelled as `cancelWhen` says; what it sent is recorded and its answer opened. */
async function cancelled(o: Run) {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const plaintext = { messages: [{ role: "user", content: "hi" }], ...o.plaintext, ...(o.streamed ? { stream: true } : {}) };
  const { job: sealed, header, replyKey, binding } = openableJob(signingKey.id, kemKey, 60_000, plaintext, { maxTokens: 400, ...o.header });
  const sqs: RelaySession = {
    transport: "sqs",
    region: "us-east-1",
    queueUrl: "https://sqs.us-east-1.amazonaws.com/123456789012/cocoon-test-r-chan",
    credentials: { accessKeyId: "k", secretAccessKey: "s", sessionToken: "t", expiration: Date.now() + 3_600_000 },
  };
  const job = o.streamed ? { ...sealed, relay: sqs } : sealed;
  const results: ResultRequest[] = [];
  const published: RelayChunk[] = [];
  const api = {
    async request(route: ApiRoute, opts: { body?: unknown } = {}) {
      if (route !== API.postResult) throw new Error(`unexpected route ${route.path}`);
      results.push(opts.body as ResultRequest);
      return { status: "completed", duplicate: false, cost: "1" };
    },
    localTime: (t: number) => t,
  } as unknown as ApiClient;
  const stats = freshStats();
  const warnings: string[] = [];
  const infos: Array<{ msg: string; data?: Record<string, unknown> }> = [];
  const cancel = new AbortController();
  if (o.cancelWhen === "before") cancel.abort();
  const running = executeJob(
    executeContext({ signingKey, kemKey }, api, o.engine, {
      log: { info: (msg, data) => void infos.push({ msg, ...(data ? { data } : {}) }), warn: (msg) => void warnings.push(msg) },
      stats,
      cancel: cancel.signal,
      ...(o.streamed ? { relayPublisher: async (_s: RelaySession, chunks: RelayChunk[]) => void published.push(...chunks) } : {}),
    }),
    job,
  );
  if (o.cancelWhen !== "before") {
    const when = o.cancelWhen;
    await pollUntil("the moment to cancel", () => (when() ? true : undefined), 5_000);
    cancel.abort();
  }
  await running;
  const result = results[0];
  /** the answer as the requester reads it (the completed result's reply, opened and checked against its chunks) */
  const answer = () => {
    if (result?.kind !== "completed") throw new Error(`the job did not complete: ${JSON.stringify(result)}`);
    return openAnswer(result.reply, header, signingKey.id, replyKey, binding);
  };
  return { results, result, answer, stats, warnings, infos, published, signingKey };
}

describe("executeJob: a job cancelled while the engine generates", () => {
  it("stops the engine and posts a completed result: finishReason cancelled, one token per streamed piece, the prompt as the engine counts it, a receipt that verifies", async () => {
    // Prepare: an engine that streams a token every 10 ms, up to 400
    const engine = slowEngine({ everyMs: 10, promptTokens: 7 });
    // Act: cancelled after a few tokens
    const r = await cancelled({ engine, cancelWhen: () => engine.generated >= 5 });
    const generatedAtEnd = engine.generated;
    await sleep(100);
    // Assess: one completed result billing the streamed pieces and the prompt the engine counted when asked again
    expect(r.results.map((x) => x.kind)).toEqual(["completed"]);
    const answer = r.answer();
    const pieces = answer.choices[0]!.text.split(" ").filter(Boolean).length;
    expect(pieces).toBeGreaterThanOrEqual(5);
    expect(answer.choices).toEqual([
      { index: 0, text: expect.stringMatching(/^t0 t1 t2 t3 t4 /) as unknown as string, finishReason: "cancelled" },
    ]);
    expect(answer.usage).toEqual({ promptTokens: 7, completionTokens: pieces });
    if (r.result?.kind !== "completed") throw new Error("not completed");
    expect(r.result.receipt.body.usage).toEqual({ promptTokens: 7, completionTokens: pieces });
    expect(verifyReceipt(r.result.receipt, r.signingKey.publicKey)).toBe(true);
    expect(r.result.receipt.body.replyHash).toBe(sha256Hex(canonicalJson(r.result.reply)));
    // the engine was asked once more, for the same request and one token, not streamed
    expect(engine.asks).toHaveLength(1);
    expect(engine.asks[0]).toMatchObject({ maxTokens: 1, messages: [{ role: "user", content: "hi" }] });
    // the stream's generation was aborted and the stream closed: the engine generated nothing more
    expect(engine.streams[0]!.signal?.aborted).toBe(true);
    expect(engine.closed).toBe(1);
    expect(engine.generated).toBe(generatedAtEnd);
    expect(generatedAtEnd).toBeLessThan(400);
    expect(r.stats).toMatchObject({ jobs: 1, failed: 0, promptTokens: 7, completionTokens: pieces });
  });

  it("a prompt the engine cannot count again is billed 0 prompt tokens, with a warning; the pieces are still billed", async () => {
    // Prepare
    const engine = slowEngine({ everyMs: 10, askFails: true });
    // Act
    const r = await cancelled({ engine, cancelWhen: () => engine.generated >= 3 });
    // Assess
    const answer = r.answer();
    const pieces = answer.choices[0]!.text.split(" ").filter(Boolean).length;
    expect(answer.choices[0]!.finishReason).toBe("cancelled");
    expect(answer.usage).toEqual({ promptTokens: 0, completionTokens: pieces });
    expect(pieces).toBeGreaterThanOrEqual(3);
    expect(engine.asks).toHaveLength(1);
    expect(r.warnings).toContain("the engine did not count a cancelled job's prompt: billed 0 prompt tokens for it");
  });

  it("a requester's extra cannot make the prompt's re-count fail (vLLM's min_tokens above the re-ask's 1 token): the prompt is still billed", async () => {
    // Prepare: an engine that refuses min_tokens above max_tokens, as vLLM does (400)
    const engine = slowEngine({ everyMs: 10, promptTokens: 7 });
    const generate = engine.generate.bind(engine);
    engine.generate = async (req) => {
      const minTokens = req.extra?.["min_tokens"];
      if (typeof minTokens === "number" && minTokens > req.maxTokens)
        throw new EngineError("invalid_request", "min_tokens must be less than or equal to max_tokens", { engine: "slow" });
      return generate(req);
    };
    // Act: a long generation asked for with min_tokens, cancelled after a few tokens
    const r = await cancelled({ engine, plaintext: { extra: { min_tokens: 50 } }, cancelWhen: () => engine.generated >= 3 });
    // Assess: the prompt is billed as the engine counted it; the stream itself kept the requester's min_tokens
    const answer = r.answer();
    const pieces = answer.choices[0]!.text.split(" ").filter(Boolean).length;
    expect(answer.usage).toEqual({ promptTokens: 7, completionTokens: pieces });
    expect(engine.streams[0]!.extra).toEqual({ min_tokens: 50 });
    expect(r.warnings).toEqual([]);
  });

  it("an engine that never answers the prompt's re-count does not hold the result past PROMPT_RECOUNT_MS: billed 0 prompt tokens, posted", async () => {
    // Prepare: the re-ask hangs until its signal aborts (a hung engine; the HTTP adapter's own limit is 120 s, past a cancelled job's lease)
    const engine = slowEngine({ everyMs: 10 });
    engine.generate = (req) =>
      new Promise((_, reject) =>
        req.signal?.addEventListener("abort", () => reject(new EngineError("engine_aborted", "aborted", { engine: "slow" }))),
      );
    const started = Date.now();
    // Act
    const r = await cancelled({ engine, cancelWhen: () => engine.generated >= 3 });
    // Assess
    expect(Date.now() - started).toBeLessThan(PROMPT_RECOUNT_MS + 2_000);
    expect(r.answer().usage.promptTokens).toBe(0);
    expect(r.warnings).toContain("the engine did not count a cancelled job's prompt: billed 0 prompt tokens for it");
  }, 15_000);

  it("tokenize42: an engine that counts prompts without running them (countPromptTokens) is asked that, not the request again: a prefill past the lease's rest is billed", async () => {
    // Prepare: the re-ask would hang (a prefill longer than what is left of the lease); the tokenizer counts 11
    const engine = slowEngine({ everyMs: 10 });
    engine.generate = (req) => {
      engine.asks.push(req);
      return new Promise(() => {});
    };
    const counted: unknown[] = [];
    engine.countPromptTokens = async (req) => (counted.push(req), 11);
    // Act
    const r = await cancelled({ engine, cancelWhen: () => engine.generated >= 3 });
    // Assess: the tokenizer's count billed, for the same request (its messages); the engine never asked again
    const answer = r.answer();
    expect(answer.usage.promptTokens).toBe(11);
    expect(engine.asks).toEqual([]);
    expect(counted).toEqual([expect.objectContaining({ messages: [{ role: "user", content: "hi" }] })]);
    expect(r.warnings).toEqual([]);
  });

  it("tokenize42: a prompt the tokenizer cannot count (undefined) or fails on is asked again, as before", async () => {
    // Prepare: one engine whose tokenizer cannot count this prompt, one whose tokenizer fails
    const cannot = slowEngine({ everyMs: 10, promptTokens: 7 });
    cannot.countPromptTokens = async () => undefined;
    const fails = slowEngine({ everyMs: 10, promptTokens: 7 });
    fails.countPromptTokens = async () => {
      throw new EngineError("engine_timeout", "no answer", { engine: "slow" });
    };
    // Act
    const a = await cancelled({ engine: cannot, cancelWhen: () => cannot.generated >= 3 });
    const b = await cancelled({ engine: fails, cancelWhen: () => fails.generated >= 3 });
    // Assess: billed the re-count's 7; the failure said in the log
    expect(a.answer().usage.promptTokens).toBe(7);
    expect(cannot.asks).toHaveLength(1);
    expect(b.answer().usage.promptTokens).toBe(7);
    expect(fails.asks).toHaveLength(1);
    expect(b.warnings).toEqual(["the engine's tokenizer did not count a cancelled job's prompt: asking the request again"]);
  });

  it("n = 3 cancelled in the second choice: the first billed in full, the second by its pieces, the third not run; three choices end", async () => {
    // Prepare: 30 tokens a choice (maxTokens 90 shared by 3), a token every 5 ms
    const engine = slowEngine({ everyMs: 5, promptTokens: 9 });
    // Act: cancelled once the second choice streamed a few tokens
    const r = await cancelled({
      engine,
      plaintext: { n: 3 },
      header: { maxTokens: 90 },
      cancelWhen: () => engine.generated >= 33,
    });
    // Assess: the prompt of the finished choice, twice (the second ran on the same prompt); no second ask
    const answer = r.answer();
    const second = answer.choices[1]!.text.split(" ").filter(Boolean).length;
    expect(answer.choices.map((c) => c.finishReason)).toEqual(["length", "cancelled", "cancelled"]);
    expect(answer.choices[2]!.text).toBe("");
    expect(second).toBeGreaterThanOrEqual(3);
    expect(answer.usage).toEqual({ promptTokens: 18, completionTokens: 30 + second });
    expect(engine.streams).toHaveLength(2);
    expect(engine.asks).toEqual([]);
  });

  it("a streamed requester still gets the final chunk, with the receipt", async () => {
    // Prepare
    const engine = slowEngine({ everyMs: 10 });
    // Act
    const r = await cancelled({ engine, streamed: true, cancelWhen: () => engine.generated >= 3 });
    // Assess: the answer ends cancelled, and its last chunk went out on the relay with the receipt
    expect(r.answer().choices[0]!.finishReason).toBe("cancelled");
    const last = r.published.at(-1);
    expect(last).toMatchObject({ final: true });
    expect(last?.receipt?.body.usage).toEqual(r.answer().usage);
  });

  it("session 31: the log says the job was cancelled, and nothing of its token counts (the host reads the log; padding keeps lengths from it)", async () => {
    // Prepare
    const engine = slowEngine({ everyMs: 10, promptTokens: 7 });
    // Act
    const r = await cancelled({ engine, cancelWhen: () => engine.generated >= 3 });
    // Assess: the line is there, with the job's id alone
    expect(r.results.map((x) => x.kind)).toEqual(["completed"]);
    const line = r.infos.find((i) => i.msg.startsWith("job cancelled by its requester"));
    expect(line?.data).toEqual({ jobId: expect.stringMatching(/^job_/) as unknown as string });
    expect(JSON.stringify(r.infos)).not.toMatch(/Tokens/);
  });
});

describe("executeJob: a job cancelled before the engine started", () => {
  it("is reported failed with code cancelled, and the engine is never called", async () => {
    // Prepare
    const engine = slowEngine();
    // Act
    const r = await cancelled({ engine, cancelWhen: "before" });
    // Assess
    expect(r.results).toHaveLength(1);
    expect(r.result).toMatchObject({ kind: "failed", code: "cancelled" });
    expect(engine.streams).toEqual([]);
    expect(engine.asks).toEqual([]);
  });

  // Session 42 (tokenize42): this case pinned the old refund. An embedding is one call whose whole
  // work is the prompt's; a cancel stopped it and refunded the requester in full though the engine
  // had done (nearly) all of it. It is now let finish, within what is left of the lease, and billed.
  it("embeddings: a cancel while the engine embeds lets the call finish; the job completes billing the engine's count, vectors sent", async () => {
    // Prepare: an engine whose embedding ends 200 ms after it starts, unless its signal aborts first
    let signal: AbortSignal | undefined;
    const engine: Engine = {
      ...slowEngine(),
      embed: (req) => {
        signal = req.signal;
        return new Promise((resolve, reject) => {
          const t = setTimeout(() => resolve({ vectors: [[0.5, 1]], usage: { promptTokens: 3 }, engine: "slow" }), 200);
          req.signal?.addEventListener("abort", () => (clearTimeout(t), reject(new Error("aborted"))), { once: true });
        });
      },
    };
    // Act: cancelled as soon as the engine started
    const r = await cancelled({
      engine,
      plaintext: { kind: "embedding", input: ["a"], messages: undefined },
      cancelWhen: () => signal !== undefined,
    });
    // Assess: the engine was not stopped; its count is billed and the requester gets the vectors
    expect(signal?.aborted).toBe(false);
    expect(r.results.map((x) => x.kind)).toEqual(["completed"]);
    if (r.result?.kind !== "completed") throw new Error("not completed");
    expect(r.result.receipt.body.usage).toEqual({ promptTokens: 3, completionTokens: 0 });
    expect(r.answer()).toMatchObject({ usage: { promptTokens: 3, completionTokens: 0 }, embeddings: [[0.5, 1]] });
    expect(r.infos.map((i) => i.msg)).toContain("job cancelled by its requester while the engine made its embeddings: billed them");
  });

  it("embeddings: a call that outlasts the lease's rest after a cancel (at least PROMPT_RECOUNT_MS) is stopped and not waited for: failed cancelled, refunded", async () => {
    // Prepare: an engine whose embedding never ends, even when its signal aborts (a hung engine)
    let signal: AbortSignal | undefined;
    const engine: Engine = {
      ...slowEngine(),
      embed: (req) => {
        signal = req.signal;
        return new Promise(() => {});
      },
    };
    // Act
    const r = await cancelled({
      engine,
      plaintext: { kind: "embedding", input: ["a"], messages: undefined },
      cancelWhen: () => signal !== undefined,
    });
    // Assess
    expect(r.result).toMatchObject({ kind: "failed", code: "cancelled" });
    expect(signal?.aborted).toBe(true);
  }, 15_000);
});
