/**
 * agent/execute.ts at its edges: the limits a worker bills under, the failure codes, the
 * sampling fields the engine gets, how a streamed answer is cut into sealed chunks (and
 * published on a relay), how vectors are encoded, and executeJob's paths.
 */
import { afterEach, describe, expect, it } from "vitest";
import { API, ApiError, type ApiClient } from "../api-client/api";
import type { ApiRoute } from "../api-client/routes";
import { openReply, sealRequest } from "../core/crypto/envelope";
import { b64u, canonicalJson } from "../core/crypto/encoding";
import { generateKemKey, generateSigningKey, type KemKeyPair } from "../core/crypto/keys";
import { CHUNK_PADDING } from "../core/crypto/padding";
import { openChunkedReply } from "../core/crypto/reply-stream";
import type { AgentJob, ResultRequest } from "../events/api";
import {
  MAX_REPLY_BYTES,
  MAX_REPLY_CHUNKS,
  type ChunkedReply,
  type EnvelopeHeader,
  type RequestPlaintext,
  RequestPlaintext as RequestPlaintextSchema,
  type SealedReply,
} from "../events/envelope";
import type { RelayChunk } from "../events/relay";
import type { RelaySession } from "../events/relay-session";
import { EngineError, type Engine, type EngineRequest, type EngineResult, type EngineStreamEvent } from "./engines/engine";
import {
  cacheScopeOf,
  defaultChunking,
  encodeVector,
  executeJob,
  failureCode,
  JobFailure,
  promptFloor,
  type ChunkingOptions,
} from "./execute";
import { promptTokenBound, textTokenBound } from "../client/sdk";
import { executeContext, freshStats, namingRequest } from "./job-testing";

const MODEL = "test-model";
const JOB_ID = "job_01m8rep1ysizeeeeeeeeeeeee0";
/** the requester of the jobs whose engine requests are compared whole, and the prompt-cache scope its jobs get */
const REQUESTER = generateSigningKey().id;
const SCOPE = cacheScopeOf(REQUESTER);
/** what a chunk holds of text: MAX_CHUNK_PLAINTEXT (96 KiB) less 8 KiB, counted at 3 bytes a UTF-16 unit */
const CHUNK_BUDGET = 96 * 1024 - 8192;
/** the longest piece of one delta */
const PIECE = Math.floor(CHUNK_BUDGET / 3);
/** Log probabilities whose JSON (and a comma each) is `bytes` long: four tokens of about a quarter each. */
const lpOfBytes = (bytes: number) => {
  // one entry is its token + 26 bytes: {"token":"…","logprob":-1} and a comma
  const chars = bytes - 4 * 26;
  return [0, 1, 2, 3].map((k) => ({ token: "x".repeat(Math.floor(chars / 4) + (k < chars % 4 ? 1 : 0)), logprob: -1 }));
};

type Usage = { promptTokens: number; completionTokens: number };
const result = (text: string, usage: Usage = { promptTokens: 1, completionTokens: 1 }, more: Partial<EngineResult> = {}): EngineResult => ({
  text,
  usage,
  finishReason: "stop",
  engine: "scripted",
  ...more,
});

/** Factory: an engine that streams `script(req, i)` for each request, recording every request; capabilities as given. */
function scriptedEngine(
  script: (req: EngineRequest, call: number) => AsyncIterable<EngineStreamEvent> | EngineStreamEvent[],
  caps: Record<string, boolean> | "none" | "throws" = { tools: true, logprobs: true },
) {
  const requests: EngineRequest[] = [];
  const engine: Engine = {
    name: "scripted",
    models: async () => [MODEL],
    generate: async () => {
      throw new Error("generate: not this engine");
    },
    stream(req) {
      requests.push(req);
      const s = script(req, requests.length - 1);
      if (!Array.isArray(s)) return s;
      return (async function* () {
        yield* s;
      })();
    },
  };
  if (caps === "throws") engine.capabilities = async () => Promise.reject(new Error("no caps"));
  else if (caps !== "none")
    engine.capabilities = async () => ({
      chat: true,
      completions: true,
      embeddings: true,
      streaming: true,
      tools: false,
      jsonSchema: false,
      ...caps,
    });
  return { engine, requests };
}

/** Factory: deltas then the result. */
const answers = (deltas: string[], usage?: Usage, more?: Partial<EngineResult>) =>
  scriptedEngine(() => [
    ...deltas.map((text) => ({ type: "delta" as const, text })),
    { type: "done" as const, result: result(deltas.join(""), usage, more) },
  ]);

interface Run {
  plain?: Partial<RequestPlaintext> & Record<string, unknown>;
  header?: Partial<EnvelopeHeader>;
  engine: Engine;
  chunking?: Partial<ChunkingOptions>;
  /** "sqs": a dispatched pub/sub session and an external publisher; "http": the coordinator's HTTP relay */
  relay?: "sqs" | "http";
  now?: () => number;
  /** answers POST /v1/agent/results; default: taken */
  postResult?: (body: ResultRequest, call: number) => unknown;
  rawPlaintext?: Uint8Array;
  /** the HPKE key the request is sealed to; default this worker's (another: a previous process's key) */
  sealedTo?: KemKeyPair;
  onStreamed?: (s: { jobId: string; chunks: number; messages: number; published: number }) => void;
  /** where a read of the signing key's id (the reply stream's key setup) is recorded, as "key" */
  keyEvents?: string[];
}

/** Factory + Act: one job through executeJob, with everything it sends recorded and the reply opened. */
async function execute(o: Run) {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const replyKey = generateKemKey();
  const header: EnvelopeHeader = {
    v: 1,
    jobId: JOB_ID,
    requester: generateSigningKey().id,
    model: MODEL,
    maxTokens: 16,
    maxPromptTokens: 256,
    maxCost: "1000000",
    replyKey: b64u.encode(replyKey.publicKey),
    ...o.header,
  };
  const plain = { kind: "chat", messages: [{ role: "user", content: "hi" }], ...o.plain };
  const envelope = sealRequest({
    header,
    plaintext: o.rawPlaintext ?? new TextEncoder().encode(JSON.stringify(plain)),
    recipients: [{ workerId: signingKey.id, hpkePublicKey: (o.sealedTo ?? kemKey).publicKey }],
  });
  const sqs: RelaySession = {
    transport: "sqs",
    region: "us-east-1",
    queueUrl: "https://sqs.us-east-1.amazonaws.com/123456789012/cocoon-test-r-chan",
    credentials: { accessKeyId: "k", secretAccessKey: "s", sessionToken: "t", expiration: Date.now() + 3_600_000 },
  };
  const job: AgentJob = {
    jobId: JOB_ID,
    attempt: 0,
    envelope,
    deadline: Date.now() + 60_000,
    ...(o.relay ? { relay: o.relay === "sqs" ? sqs : { transport: "http" as const } } : {}),
  };
  /** what went out, in order: "result:<kind>" and "publish:<seq>[:final]" */
  const order: string[] = [];
  const results: ResultRequest[] = [];
  const published: RelayChunk[] = [];
  const routes: string[] = [];
  const record = (chunks: RelayChunk[]) => {
    for (const c of chunks) {
      published.push(c);
      order.push(`publish:${c.seq}${c.final ? ":final" : ""}`);
    }
  };
  const api = {
    async request(route: ApiRoute, opts: { body?: unknown } = {}) {
      routes.push(route.path);
      if (route === API.publishChunks) {
        record((opts.body as { chunks: RelayChunk[] }).chunks);
        return {};
      }
      if (route !== API.postResult) throw new Error(`unexpected route ${route.path}`);
      const body = opts.body as ResultRequest;
      results.push(body);
      order.push(`result:${body.kind}`);
      if (o.postResult) return o.postResult(body, results.length - 1);
      return { status: "completed", duplicate: false, cost: "1" };
    },
    localTime: (serverMs: number) => serverMs, // the coordinator's clock is ours
  } as unknown as ApiClient;
  const stats = freshStats();
  const logs: Array<[string, Record<string, unknown> | undefined]> = [];
  const infos: Array<[string, Record<string, unknown> | undefined]> = [];
  const events = o.keyEvents;
  const key = events
    ? new Proxy(signingKey, {
        get: (t, prop, recv) => {
          if (prop === "id") events.push("key");
          return Reflect.get(t, prop, recv) as unknown;
        },
      })
    : signingKey;
  await executeJob(
    executeContext({ signingKey, kemKey }, api, o.engine, {
      signingKey: key,
      now: o.now ?? (() => 1_700_000_000_000),
      log: { info: (msg, data) => infos.push([msg, data]), warn: (msg, data) => logs.push([msg, data]) },
      stats,
      ...(o.chunking ? { chunking: o.chunking } : {}),
      ...(o.relay === "sqs" ? { relayPublisher: async (_s, chunks) => record(chunks) } : {}),
      ...(o.onStreamed ? { onStreamed: o.onStreamed } : {}),
    }),
    job,
  );
  const completed = results.find((r) => r.kind === "completed");
  const failed = results.find((r) => r.kind === "failed");
  /** each chunk's plaintext, as the requester reads it */
  const chunks = (): Array<ReturnType<typeof JSON.parse>> => {
    if (completed?.kind !== "completed") throw new Error(`the job failed: ${JSON.stringify(failed)}`);
    return namingRequest(
      openChunkedReply(completed.reply as ChunkedReply, header, signingKey.id, replyKey).map((c) =>
        JSON.parse(new TextDecoder().decode(c)),
      ),
      envelope,
      { workerId: signingKey.id, kem: kemKey },
    );
  };
  /** the failure text sealed to the requester */
  const failure = () => {
    if (failed?.kind !== "failed" || !failed.reply) throw new Error("no sealed failure");
    return JSON.parse(new TextDecoder().decode(openReply(failed.reply as SealedReply, header, signingKey.id, replyKey)));
  };
  return {
    results,
    completed,
    failed,
    chunks,
    failure,
    stats,
    logs,
    infos,
    published,
    order,
    routes,
    header,
    envelope,
    workerId: signingKey.id,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("checkLimits: never billed past the header's maxima", () => {
  it("usage exactly at maxPromptTokens and maxTokens completes and is counted", async () => {
    // Prepare
    const { engine } = answers(["ok"], { promptTokens: 10, completionTokens: 8 });
    // Act
    const r = await execute({ engine, header: { maxPromptTokens: 10, maxTokens: 8 } });
    // Assess
    expect(r.completed?.kind).toBe("completed");
    expect(r.stats).toEqual({ jobs: 1, failed: 0, promptTokens: 10, completionTokens: 8, challenges: 0 });
  });

  it("one prompt token over (found only in the engine's count, after the answer): billed at the hold, never above (review41)", async () => {
    const { engine } = answers(["ok"], { promptTokens: 11, completionTokens: 8 });
    const r = await execute({ engine, header: { maxPromptTokens: 10, maxTokens: 8 } });
    expect(r.results).toHaveLength(1);
    if (r.completed?.kind !== "completed") throw new Error(`not completed: ${JSON.stringify(r.failed)}`);
    expect(r.completed.receipt.body.usage).toEqual({ promptTokens: 10, completionTokens: 8 });
    expect(r.stats).toEqual({ jobs: 1, failed: 0, promptTokens: 10, completionTokens: 8, challenges: 0 });
  });

  it("one completion token over: limits_exceeded", async () => {
    const { engine } = answers(["ok"], { promptTokens: 10, completionTokens: 9 });
    const r = await execute({ engine, header: { maxPromptTokens: 10, maxTokens: 8 } });
    expect(r.failure()).toEqual({ error: { code: "limits_exceeded", message: "engine usage 10+9 exceeds the job's limits" } });
  });

  it("an engine that ignores max_tokens is stopped at the hold's last token: nothing past it published, the stream closed, unbilled", async () => {
    // Prepare: an engine streaming 1,000 one-token pieces for a job that holds 8
    let pulled = 0;
    let closed = false;
    const { engine } = scriptedEngine(() =>
      (async function* () {
        try {
          for (let k = 0; k < 1_000; k++) {
            pulled++;
            yield { type: "delta" as const, text: "x" };
          }
          yield { type: "done" as const, result: result("x".repeat(1_000), { promptTokens: 1, completionTokens: 1_000 }) };
        } finally {
          closed = true;
        }
      })(),
    );

    // Act: streamed, every piece its own chunk
    const r = await execute({ engine, relay: "sqs", plain: { stream: true }, header: { maxTokens: 8 }, chunking: { maxTokens: 1 } });

    // Assess
    expect(r.failed).toMatchObject({ kind: "failed", code: "limits_exceeded" });
    expect(r.failure().error.message).toBe("the engine streamed more than the job's 8 completion tokens: it ignores max_tokens");
    expect(r.published.length).toBeLessThanOrEqual(8);
    expect(pulled).toBe(10); // the ninth is kept back (it may be a stop string's tail), the tenth stops it
    expect(closed).toBe(true);
    expect(r.stats).toMatchObject({ jobs: 0, failed: 1 });
  });

  it("one piece past the hold whose end counts within it (a stop string's held tail) is published last; one the end counts past it is never published", async () => {
    // Prepare: 8 one-token pieces and a ninth, the tail llama.cpp holds back for a stop string, for a job that holds 8
    const ninePieces = (completionTokens: number) =>
      scriptedEngine(() => [
        ...Array.from({ length: 9 }, (_, k) => ({ type: "delta" as const, text: `t${k}` })),
        { type: "done" as const, result: result("", { promptTokens: 1, completionTokens }) },
      ]).engine;
    const run = (engine: ReturnType<typeof ninePieces>) =>
      execute({ engine, relay: "sqs", plain: { stream: true }, header: { maxTokens: 8 }, chunking: { maxTokens: 1 } });

    // Act
    const honest = await run(ninePieces(8));
    const over = await run(ninePieces(9));

    // Assess
    expect(honest.completed?.kind).toBe("completed");
    expect(
      honest
        .chunks()
        .map((c) => c.text)
        .join(""),
    ).toBe("t0t1t2t3t4t5t6t7t8");
    expect(over.failed).toMatchObject({ kind: "failed", code: "limits_exceeded" });
    expect(over.published.length).toBeLessThanOrEqual(8); // t0..t7, each its own chunk: t8 never sealed
  });

  it("n choices: checked after each, so a first choice over the hold stops before the second is asked", async () => {
    const { engine, requests } = answers(["ok"], { promptTokens: 1, completionTokens: 9 });
    const r = await execute({ engine, plain: { n: 2 }, header: { maxTokens: 8 } });
    expect(r.failed).toMatchObject({ code: "limits_exceeded" });
    expect(requests).toHaveLength(1);
  });

  it("embeddings: prompt tokens over maxPromptTokens are billed at the hold (review41)", async () => {
    const engine: Engine = {
      ...answers([]).engine,
      embed: async () => ({ vectors: [[1]], usage: { promptTokens: 11 }, engine: "e" }),
    };
    const r = await execute({ engine, plain: { kind: "embedding", messages: undefined, input: ["a"] }, header: { maxPromptTokens: 10 } });
    if (r.completed?.kind !== "completed") throw new Error(`not completed: ${JSON.stringify(r.failed)}`);
    expect(r.completed.receipt.body.usage).toEqual({ promptTokens: 10, completionTokens: 0 });
  });
});

describe("a prompt larger than the job's hold is refused before the engine runs", () => {
  // Before, the prompt's limit was checked only on the engine's usage, after the answer: on a
  // streamed job the requester had read it all by then, and was refunded (limits_exceeded) while
  // the job moved on to the next worker to do the same.
  const prompt = "word ".repeat(400); // 2000 bytes, about 400 tokens to a real tokenizer

  it("streamed chat: nothing generated, nothing published, limits_exceeded sealed to the requester", async () => {
    // Prepare: a hold of 64 prompt tokens for a 2000-byte prompt; the engine would count 401
    const { engine, requests } = answers(["the whole ", "answer"], { promptTokens: 401, completionTokens: 2 });

    // Act
    const r = await execute({
      engine,
      relay: "http",
      plain: { stream: true, messages: [{ role: "user", content: prompt }] },
      header: { maxPromptTokens: 64 },
    });

    // Assess
    expect(requests).toHaveLength(0);
    expect(r.published).toEqual([]);
    expect(r.failed).toMatchObject({ kind: "failed", code: "limits_exceeded" });
    expect(r.failure().error.message).toBe(
      "the prompt takes at least 2000 tokens (one for each UTF-8 byte or token id), more than the job's maxPromptTokens 64",
    );
  });

  it("counts n choices, text completions, tools, tool-call arguments and embedding inputs", () => {
    const chat = (over: Record<string, unknown>) =>
      RequestPlaintextSchema.parse({ messages: [{ role: "user", content: "héllo" }], ...over });
    const tool = { type: "function", function: { name: "f", parameters: { type: "object" } } };
    expect(promptFloor(chat({}))).toBe(6);
    expect(promptFloor(chat({ n: 3 }))).toBe(18);
    expect(promptFloor(chat({ tools: [tool] }))).toBe(6 + Buffer.byteLength(JSON.stringify([tool])));
    expect(
      promptFloor(
        chat({
          messages: [
            { role: "assistant", content: "", toolCalls: [{ id: "c", type: "function", function: { name: "f", arguments: '{"a":1}' } }] },
          ],
        }),
      ),
    ).toBe(9); // review41: the call's id and function name count beside its arguments
    expect(promptFloor(RequestPlaintextSchema.parse({ kind: "completion", prompt: "abc", n: 2 }))).toBe(6);
    expect(promptFloor(RequestPlaintextSchema.parse({ kind: "embedding", input: ["ab", "c"] }))).toBe(3);
    expect(promptFloor(RequestPlaintextSchema.parse({ kind: "embedding", input: [[1, 2, 3], [4]] }))).toBe(4);
  });

  it("never refuses a job the SDK reckoned (its bound is the floor plus framing)", () => {
    const messages = [
      { role: "system" as const, content: "Be brief." },
      { role: "user" as const, content: "Zürich → 東京? 🚄", name: "ann" },
    ];
    const tools = [{ type: "function" as const, function: { name: "route", description: "d", parameters: { type: "object" } } }];
    for (const n of [1, 4]) {
      expect(promptFloor(RequestPlaintextSchema.parse({ messages, tools, n }))).toBeLessThanOrEqual(promptTokenBound(messages, tools) * n);
      expect(promptFloor(RequestPlaintextSchema.parse({ kind: "completion", prompt: "Zürich 🚄", n }))).toBeLessThanOrEqual(
        textTokenBound("Zürich 🚄") * n,
      );
    }
  });
});

describe("failureCode and JobFailure", () => {
  it("a JobFailure reports its own code and message", () => {
    const e = new JobFailure("bad_request", "why");
    expect(e).toBeInstanceOf(Error);
    expect([e.code, e.message]).toEqual(["bad_request", "why"]);
    expect(failureCode(e)).toBe("bad_request");
    expect(failureCode(new JobFailure("limits_exceeded", ""))).toBe("limits_exceeded");
  });

  it("ApiError: reply_too_large stays so; any other is result_refused", () => {
    expect(failureCode(new ApiError(413, "reply_too_large", "x"))).toBe("reply_too_large");
    expect(failureCode(new ApiError(409, "conflict", "x"))).toBe("result_refused");
    expect(failureCode(new ApiError(400, "", "x"))).toBe("result_refused");
  });

  it.each([
    ["engine_unavailable", "engine_unavailable"],
    ["engine_timeout", "engine_unavailable"],
    ["engine_aborted", "engine_unavailable"],
    ["engine_rejected", "engine_rejected"],
    ["invalid_request", "engine_rejected"],
    ["model_not_served", "model_not_served"],
    ["engine_bad_response", "engine_error"],
    ["model_invalid", "engine_error"],
    ["engine_crashed", "engine_error"],
  ] as const)("EngineError %s is %s", (code, expected) => {
    expect(failureCode(new EngineError(code, "x"))).toBe(expected);
  });

  it("anything else is internal_error", () => {
    expect(failureCode(new Error("x"))).toBe("internal_error");
    expect(failureCode(Object.assign(new Error("x"), { code: "engine_rejected" }))).toBe("internal_error");
    expect(failureCode("boom")).toBe("internal_error");
    expect(failureCode(undefined)).toBe("internal_error");
  });
});

describe("sampling: what the engine is asked", () => {
  it("no sampling fields: the header's model and maxTokens only", async () => {
    const { engine, requests } = answers(["a"]);
    await execute({ engine, header: { maxTokens: 7, requester: REQUESTER } });
    expect(requests).toStrictEqual([{ model: MODEL, cacheScope: SCOPE, maxTokens: 7, messages: [{ role: "user", content: "hi" }] }]);
  });

  it("every field as the request sent it; choice i gets seed + i and an equal share of maxTokens", async () => {
    // Prepare
    const { engine, requests } = answers(["a"], { promptTokens: 1, completionTokens: 1 });
    const plain = {
      temperature: 0,
      topP: 0.5,
      seed: 7,
      stop: ["x"],
      responseFormat: { type: "json_object" as const },
      user: "u",
      extra: { top_k: 3 },
      n: 3,
    };
    // Act
    const r = await execute({ engine, plain, header: { maxTokens: 17, requester: REQUESTER } });
    // Assess
    expect(r.completed?.kind).toBe("completed");
    const base = {
      model: MODEL,
      cacheScope: SCOPE,
      maxTokens: 5,
      temperature: 0,
      topP: 0.5,
      stop: ["x"],
      responseFormat: { type: "json_object" },
      user: "u",
      extra: { top_k: 3 },
    };
    const messages = [{ role: "user", content: "hi" }];
    expect(requests).toStrictEqual([
      { ...base, seed: 7, messages },
      { ...base, seed: 8, messages },
      { ...base, seed: 9, messages },
    ]);
  });

  it("a seed outside 0 … 2^32 − 2 is mapped into it before the choice is added (engineSeed): n choices, n seeds", async () => {
    // Prepare
    const { engine, requests } = answers(["a"], { promptTokens: 1, completionTokens: 1 });
    // Act
    for (const seed of [-1, 2 ** 40]) await execute({ engine, plain: { seed, n: 2 }, header: { maxTokens: 8, requester: REQUESTER } });
    // Assess: node-llama-cpp clamped −1 + 0 and −1 + 1 to one seed, 0, and cut 2^40 + i to its low 32 bits, i
    expect(requests.map((r) => r.seed)).toEqual([2 ** 32 - 2, 0, 256, 257]);
  });

  it("seed 0 is a seed; logprobs with topLogprobs go to the engine", async () => {
    const { engine, requests } = answers(["a"]);
    await execute({ engine, plain: { seed: 0, logprobs: true, topLogprobs: 2 }, header: { requester: REQUESTER } });
    expect(requests[0]).toStrictEqual({
      model: MODEL,
      cacheScope: SCOPE,
      maxTokens: 16,
      seed: 0,
      logprobs: true,
      topLogprobs: 2,
      messages: [{ role: "user", content: "hi" }],
    });
  });

  it("logprobs without topLogprobs: logprobs alone", async () => {
    const { engine, requests } = answers(["a"]);
    await execute({ engine, plain: { logprobs: true }, header: { requester: REQUESTER } });
    expect(requests[0]).toStrictEqual({
      model: MODEL,
      cacheScope: SCOPE,
      maxTokens: 16,
      logprobs: true,
      messages: [{ role: "user", content: "hi" }],
    });
  });

  it("messages with tool calls and ids, tools, toolChoice and parallelToolCalls false reach the engine as sent", async () => {
    const { engine, requests } = answers(["a"]);
    const toolCalls = [{ id: "c1", type: "function" as const, function: { name: "f", arguments: "{}" } }];
    const messages = [
      { role: "user" as const, content: "q" },
      { role: "assistant" as const, content: "", toolCalls },
      { role: "tool" as const, content: "42", toolCallId: "c1" },
    ];
    const tools = [{ type: "function" as const, function: { name: "f" } }];
    await execute({ engine, plain: { messages, tools, toolChoice: "auto", parallelToolCalls: false }, header: { requester: REQUESTER } });
    expect(requests[0]).toStrictEqual({
      model: MODEL,
      cacheScope: SCOPE,
      maxTokens: 16,
      messages,
      tools,
      toolChoice: "auto",
      parallelToolCalls: false,
    });
  });

  it("messages' names (OpenAI's participant names) reach the engine as sent; a message without one has no name key", async () => {
    const { engine, requests } = answers(["a"]);
    const messages = [
      { role: "system" as const, content: "Debate.", name: "chair" },
      { role: "user" as const, content: "Tabs or spaces?" },
      { role: "assistant" as const, content: "Tabs.", name: "alice" },
      { role: "assistant" as const, content: "Spaces.", name: "bob" },
    ];
    await execute({ engine, plain: { messages }, header: { requester: REQUESTER } });
    expect(requests[0]).toStrictEqual({ model: MODEL, cacheScope: SCOPE, maxTokens: 16, messages });
  });

  it("maxTokens shared by n: 2 by 2 is 1 each; 2 by 3 is a bad request", async () => {
    const one = answers(["a"]);
    const ok = await execute({ engine: one.engine, plain: { n: 2 }, header: { maxTokens: 2 } });
    expect(ok.completed?.kind).toBe("completed");
    expect(one.requests.map((q) => q.maxTokens)).toEqual([1, 1]);
    const bad = await execute({ engine: answers(["a"]).engine, plain: { n: 3 }, header: { maxTokens: 2 } });
    expect(bad.failure()).toEqual({ error: { code: "bad_request", message: "maxTokens 2 cannot be shared by 3 choices" } });
  });
});

describe("completions: streamed, whole, or not at all", () => {
  const completionPlain = { kind: "completion" as const, messages: undefined, prompt: "once", seed: 1 };

  it("an engine that streams completions gets the prompt with the sampling fields", async () => {
    const reqs: unknown[] = [];
    const engine: Engine = {
      ...answers([]).engine,
      streamCompletion: (req) => {
        reqs.push(req);
        return (async function* () {
          yield { type: "delta" as const, text: "upon" };
          yield { type: "done" as const, result: result("upon") };
        })();
      },
    };
    const r = await execute({ engine, plain: completionPlain, header: { requester: REQUESTER } });
    expect(reqs).toStrictEqual([{ model: MODEL, cacheScope: SCOPE, maxTokens: 16, seed: 1, prompt: "once" }]);
    expect(r.chunks().map((c) => c.text)).toEqual(["upon"]);
  });

  it("an engine that only completes whole: one delta, none for an empty text", async () => {
    const reqs: unknown[] = [];
    const engine = (text: string): Engine => ({
      ...answers([]).engine,
      complete: async (req) => {
        reqs.push(req);
        return result(text);
      },
    });
    const r = await execute({ engine: engine("upon"), plain: completionPlain, header: { requester: REQUESTER } });
    expect(reqs).toStrictEqual([{ model: MODEL, cacheScope: SCOPE, maxTokens: 16, seed: 1, prompt: "once" }]);
    expect(r.chunks()).toEqual([
      { text: "upon", end: { usage: { promptTokens: 1, completionTokens: 1 }, engine: "scripted", choices: [{ finishReason: "stop" }] } },
    ]);
    const empty = await execute({ engine: engine(""), plain: completionPlain });
    expect(empty.chunks()).toEqual([
      { end: { usage: { promptTokens: 1, completionTokens: 1 }, engine: "scripted", choices: [{ finishReason: "stop" }] } },
    ]);
  });

  it("an engine that cannot complete: engine_rejected, naming the engine", async () => {
    const r = await execute({ engine: answers([]).engine, plain: completionPlain });
    expect(r.failure()).toEqual({
      error: { code: "engine_rejected", message: "this worker's engine (scripted) cannot do plain text completions" },
    });
  });
});

describe("log probabilities and tools: refused up front where the engine cannot", () => {
  it("logprobs on a completion: engine_rejected", async () => {
    const r = await execute({
      engine: answers(["a"]).engine,
      plain: { kind: "completion", messages: undefined, prompt: "p", logprobs: true },
    });
    expect(r.failure()).toEqual({
      error: { code: "engine_rejected", message: "logprobs: log probabilities are returned for chat completions only" },
    });
  });

  it("top_logprobs alone on a chat, engine without logprobs: engine_rejected naming top_logprobs", async () => {
    const { engine } = scriptedEngine(() => [], { logprobs: false });
    const r = await execute({ engine, plain: { topLogprobs: 2 } });
    expect(r.failure()).toEqual({
      error: { code: "engine_rejected", message: "top_logprobs: this worker's engine (scripted) does not return log probabilities" },
    });
  });

  it("logprobs with an engine whose capabilities fail, or that has none: engine_rejected", async () => {
    for (const caps of ["throws", "none"] as const) {
      const { engine } = scriptedEngine(() => [], caps);
      const r = await execute({ engine, plain: { logprobs: true } });
      expect(r.failure()).toEqual({
        error: { code: "engine_rejected", message: "logprobs: this worker's engine (scripted) does not return log probabilities" },
      });
    }
  });

  it("topLogprobs 0 without logprobs asks nothing of the engine's capabilities", async () => {
    const { engine } = scriptedEngine(() => [{ type: "done", result: result("") }], { logprobs: false });
    const r = await execute({ engine, plain: { topLogprobs: 0 } });
    expect(r.completed?.kind).toBe("completed");
  });

  it("tools: refused with the model named when caps say no; answered when caps say yes, fail, or are absent", async () => {
    const tools = [{ type: "function" as const, function: { name: "f" } }];
    const no = await execute({ engine: scriptedEngine(() => [], { tools: false }).engine, plain: { tools } });
    expect(no.failure()).toEqual({
      error: { code: "engine_rejected", message: `tools: this worker's engine (scripted) cannot call functions for ${MODEL}` },
    });
    for (const caps of [{ tools: true }, "throws", "none"] as const) {
      const r = await execute({ engine: scriptedEngine(() => [{ type: "done", result: result("") }], caps).engine, plain: { tools } });
      expect(r.completed?.kind).toBe("completed");
    }
  });
});

describe("ChunkWriter without a relay: chunks at the byte budget", () => {
  const end = (usage: Usage = { promptTokens: 1, completionTokens: 1 }) => ({
    usage,
    engine: "scripted",
    choices: [{ finishReason: "stop" }],
  });
  const textsOf = async (deltas: string[]) => (await execute({ engine: answers(deltas).engine })).chunks().map((c) => c.text);

  it("deltas gather until the next would pass the budget; then what waits goes out first", async () => {
    // Prepare: 30 000 + 37 units (90 111 bytes counted) fit; one more does not
    const a = "a".repeat(30_000);
    const b = "b".repeat(37);
    // Act
    const r = await execute({ engine: answers([a, b, "c"]).engine });
    // Assess
    expect(r.chunks()).toEqual([{ text: a + b }, { text: "c", end: end() }]);
  });

  it("a delta over a chunk's piece is cut at PIECE units", async () => {
    expect(await textsOf(["a".repeat(PIECE) + "b".repeat(10)])).toEqual(["a".repeat(PIECE), "b".repeat(10)]);
  });

  it.each([
    ["U+1F600", "😀"],
    ["the lowest high surrogate (U+10000)", "\ud800\udc00"],
    ["the highest high surrogate (U+10FFFF)", "\udbff\udfff"],
  ])("a surrogate pair at the cut (%s) moves whole into the next piece", async (_name, pair) => {
    const head = "a".repeat(PIECE - 1);
    expect(await textsOf([head + pair + "b".repeat(10)])).toEqual([head, pair + "b".repeat(10)]);
  });

  it("a BMP character above the surrogates (U+E000) at the cut is not moved", async () => {
    const head = "a".repeat(PIECE - 1) + "\ue000";
    expect(await textsOf([head + "b".repeat(10)])).toEqual([head, "b".repeat(10)]);
  });

  it("a long delta goes in text pieces; its log probabilities follow the last piece, where they fit", async () => {
    const lp = [{ token: "a", logprob: -1 }];
    const { engine } = scriptedEngine(() => [
      { type: "delta", text: "a".repeat(PIECE) + "b".repeat(10), logprobs: lp },
      { type: "done", result: result("") },
    ]);
    const r = await execute({ engine, plain: { logprobs: true } });
    expect(r.chunks()).toEqual([{ text: "a".repeat(PIECE) }, { text: "b".repeat(10), logprobs: lp, end: end() }]);
  });

  it("log probabilities count towards the budget: text and them filling it exactly go out at once", async () => {
    // 29 000 × 3 + 3 112 = 90 112, the budget
    const lp = lpOfBytes(CHUNK_BUDGET - 29_000 * 3);
    expect(lp.reduce((n, t) => n + JSON.stringify(t).length + 1, 0)).toBe(3_112);
    const { engine } = scriptedEngine(() => [
      { type: "delta", text: "a".repeat(29_000), logprobs: lp },
      { type: "delta", text: "z" },
      { type: "done", result: result("") },
    ]);
    const r = await execute({ engine, plain: { logprobs: true } });
    expect(r.chunks()).toEqual([
      { text: "a".repeat(29_000), logprobs: lp },
      { text: "z", end: end() },
    ]);
  });

  it("one byte under the budget: the chunk waits, and ends the reply", async () => {
    const lp = lpOfBytes(CHUNK_BUDGET - 29_000 * 3 - 1);
    const { engine } = scriptedEngine(() => [
      { type: "delta", text: "a".repeat(29_000), logprobs: lp },
      { type: "done", result: result("") },
    ]);
    const r = await execute({ engine, plain: { logprobs: true } });
    expect(r.chunks()).toEqual([{ text: "a".repeat(29_000), logprobs: lp, end: end() }]);
  });

  it("one byte over: the text goes alone and its log probabilities open the next chunk", async () => {
    const lp = lpOfBytes(CHUNK_BUDGET - 29_000 * 3 + 1);
    const { engine } = scriptedEngine(() => [
      { type: "delta", text: "a".repeat(29_000), logprobs: lp },
      { type: "delta", text: "z" },
      { type: "done", result: result("") },
    ]);
    const r = await execute({ engine, plain: { logprobs: true } });
    expect(r.chunks()).toEqual([{ text: "a".repeat(29_000) }, { logprobs: lp, text: "z", end: end() }]);
  });

  it("an empty delta is skipped; an empty delta with log probabilities keeps them, without text", async () => {
    const lp = [{ token: "", logprob: -0.5 }];
    const { engine } = scriptedEngine(() => [
      { type: "delta", text: "" },
      { type: "delta", text: "", logprobs: lp },
      { type: "done", result: result("") },
    ]);
    const r = await execute({ engine, plain: { logprobs: true } });
    expect(r.chunks()).toStrictEqual([{ logprobs: lp, end: end() }]);
  });

  it("choices: each its own chunks, choice i > 0 marked with i", async () => {
    const { engine } = scriptedEngine((_q, call) => [
      ...(call === 0 ? ["a", "b"] : ["c", "d"]).map((text) => ({ type: "delta" as const, text })),
      { type: "done" as const, result: result("") },
    ]);
    const r = await execute({ engine, plain: { n: 2 } });
    expect(r.chunks()).toEqual([
      { text: "ab" },
      {
        i: 1,
        text: "cd",
        end: {
          usage: { promptTokens: 2, completionTokens: 2 },
          engine: "scripted",
          choices: [{ finishReason: "stop" }, { finishReason: "stop" }],
        },
      },
    ]);
  });

  it("tool calls and the finish reason travel in the final chunk", async () => {
    const toolCalls = [{ id: "c1", type: "function" as const, function: { name: "f", arguments: "{}" } }];
    const { engine } = scriptedEngine(() => [
      { type: "done", result: result("", undefined, { toolCalls, finishReason: "length", engine: "e2" }) },
    ]);
    const r = await execute({ engine });
    expect(r.chunks()).toEqual([
      { end: { usage: { promptTokens: 1, completionTokens: 1 }, engine: "e2", choices: [{ finishReason: "length", toolCalls }] } },
    ]);
  });
});

describe("encodeVector: little-endian float32, base64url", () => {
  it("exact bytes", () => {
    expect(encodeVector([1, -2.5, 0.1])).toBe("AACAPwAAIMDNzMw9");
    expect(encodeVector([])).toBe("");
    expect([...b64u.decode(encodeVector([1]))]).toEqual([0, 0, 0x80, 0x3f]);
  });
});

describe("embeddings", () => {
  const embedder = (vectors: number[][]) => {
    const reqs: unknown[] = [];
    const engine: Engine = {
      ...answers([]).engine,
      embed: async (req) => {
        reqs.push(req);
        return { vectors, usage: { promptTokens: 3 }, engine: "emb" };
      },
    };
    return { engine, reqs };
  };
  const plain = (input: string[]) => ({ kind: "embedding" as const, messages: undefined, input });

  it("vectors encoded in the final chunk, no completion tokens, finish stop", async () => {
    const { engine, reqs } = embedder([[1], [-2.5]]);
    const r = await execute({ engine, plain: plain(["a", "b"]) });
    expect(reqs).toEqual([{ model: MODEL, input: ["a", "b"] }]);
    expect(r.chunks()).toEqual([
      {
        embeddings: ["AACAPw", "AAAgwA"],
        end: { usage: { promptTokens: 3, completionTokens: 0 }, engine: "emb", choices: [{ finishReason: "stop" }] },
      },
    ]);
    expect(r.stats).toMatchObject({ jobs: 1, promptTokens: 3, completionTokens: 0 });
  });

  it("vectors that would pass a chunk's budget together go in two chunks", async () => {
    const v = Array.from({ length: 12_000 }, (_, k) => k);
    const { engine } = embedder([v, v]);
    const r = await execute({ engine, plain: plain(["a", "b"]) });
    const c = r.chunks();
    expect(c.map((x) => x.embeddings)).toEqual([[encodeVector(v)], [encodeVector(v)]]);
  });

  it("an engine without embed: engine_rejected; a vector count unlike the inputs': engine_error", async () => {
    const none = await execute({ engine: answers([]).engine, plain: plain(["a"]) });
    expect(none.failure()).toEqual({
      error: { code: "engine_rejected", message: "this worker's engine (scripted) cannot make embeddings" },
    });
    const short = await execute({ engine: embedder([[1]]).engine, plain: plain(["a", "b"]) });
    expect(short.failure()).toEqual({ error: { code: "engine_error", message: "the engine returned 1 vectors for 2 inputs" } });
  });
});

/** Factory: a clock the test moves. */
const clock = (t = 5_000_000) => ({
  now: () => t,
  set: (v: number) => {
    t = v;
  },
});

/** one delta of a timed engine: the clock's time when it comes, and how long (real ms) the engine waits after it */
type TimedStep = { at: number; text: string; waitMs?: number };

/** Factory: an engine stream of deltas, each at the time given, optionally waiting (real ms) after it. */
function timedEngine(c: ReturnType<typeof clock>, steps: TimedStep[], fail?: unknown) {
  return scriptedEngine(() =>
    (async function* () {
      for (const s of steps) {
        c.set(s.at);
        yield { type: "delta" as const, text: s.text };
        if (s.waitMs) await sleep(s.waitMs);
      }
      if (fail !== undefined) throw fail;
      yield { type: "done" as const, result: result(steps.map((s) => s.text).join("")) };
    })(),
  ).engine;
}

/**
 * Factory + Act: a streamed chat on the pub/sub relay, its engine giving `steps` (then failing with `fail`, if
 * given) on a clock that starts at `from`. It flushes every 100 s of that clock, at 100 deltas or at 1 MiB unless
 * `chunking` says otherwise, so that each test names only the limit it is about.
 */
const streamOnRelay = (
  from: number,
  steps: TimedStep[],
  chunking: Partial<ChunkingOptions> = {},
  { fail, ...more }: Partial<Run> & { fail?: unknown } = {},
) => {
  const c = clock(from);
  return execute({
    engine: timedEngine(c, steps, fail),
    relay: "sqs",
    now: c.now,
    plain: { stream: true },
    chunking: { intervalMs: 100_000, maxTokens: 100, maxBytes: 1 << 20, ...chunking },
    ...more,
  });
};

describe("ChunkWriter on a relay: the first delta at once, then the cadence; the final chunk once", () => {
  const T = 5_000_000;
  /** the text of each published chunk, in order, "+" marking the final */
  const publishedTexts = (r: Awaited<ReturnType<typeof execute>>) => {
    const c = r.chunks();
    return r.published.map((p) => `${c[p.seq].text ?? ""}${p.final ? "+" : ""}`);
  };

  it("first delta published at once; the next at exactly maxTokens deltas waiting", async () => {
    const steps = ["a", "b", "c", "d", "e"].map((text) => ({ at: T + 1, text }));
    const r = await streamOnRelay(T, steps, { maxTokens: 3 });
    expect(publishedTexts(r)).toEqual(["a", "bcd", "e+"]);
  });

  it("a flush at exactly maxBytes waiting (3 bytes counted a unit)", async () => {
    const steps = ["a", "bc", "d", "e"].map((text) => ({ at: T + 1, text }));
    const r = await streamOnRelay(T, steps, { maxBytes: 9 });
    expect(publishedTexts(r)).toEqual(["a", "bcd", "e+"]);
  });

  it("a flush once exactly intervalMs passed since the last, not before", async () => {
    const r = await streamOnRelay(T, [
      { at: T, text: "a" },
      { at: T + 99_999, text: "b" },
      { at: T + 100_000, text: "c" },
      { at: T + 100_001, text: "d" },
    ]);
    expect(publishedTexts(r)).toEqual(["a", "bc", "d+"]);
  });

  it("a slow engine: what waits goes out when the interval is up, not sooner", async () => {
    const r = await streamOnRelay(T, [
      { at: T, text: "a" },
      // due in 20 ms (real): the engine waits 300
      { at: T + 99_980, text: "b", waitMs: 300 },
      // due in ~1 s from the last flush: the engine ends sooner
      { at: T + 99_981, text: "c", waitMs: 30 },
    ]);
    expect(publishedTexts(r)).toEqual(["a", "b", "c+"]);
  });

  it("a timer left from before a due flush does not fire later", async () => {
    const steps = [
      { at: T, text: "a" },
      { at: T + 99_990, text: "b" },
      { at: T + 99_990, text: "c" },
      { at: T + 99_995, text: "d", waitMs: 150 },
    ];
    const r = await streamOnRelay(T, steps, { maxTokens: 2 });
    expect(publishedTexts(r)).toEqual(["a", "bc", "d+"]);
  });

  it("a failed job publishes nothing more: its pending delta's timer is cancelled", async () => {
    const steps = [
      { at: T, text: "a" },
      { at: T + 99_990, text: "b" },
    ];
    const r = await streamOnRelay(T, steps, {}, { fail: new EngineError("engine_timeout", "slow") });
    await sleep(100);
    expect(r.failed).toMatchObject({ code: "engine_unavailable" });
    expect(r.published.map((p) => p.seq)).toEqual([0]);
  });

  it("an empty first delta is not a chunk", async () => {
    const r = await streamOnRelay(
      T,
      ["", "a", "b"].map((text) => ({ at: T, text })),
    );
    expect(publishedTexts(r)).toEqual(["a", "b+"]);
  });

  it("pub/sub: the opener on seq 0 only; the final chunk after the result, with the receipt and the bill", async () => {
    const streamed: unknown[] = [];
    const steps = ["a", "b"].map((text) => ({ at: T, text }));
    const r = await streamOnRelay(T, steps, {}, { onStreamed: (s) => streamed.push(s) });
    const reply = r.completed?.kind === "completed" ? (r.completed.reply as ChunkedReply) : undefined;
    expect(r.order).toEqual(["publish:0", "result:completed", "publish:1:final"]);
    expect(r.routes).not.toContain("/v1/agent/jobs/{id}/relay");
    expect(r.published[0]).toStrictEqual({
      jobId: JOB_ID,
      attempt: 0,
      seq: 0,
      final: false,
      data: reply!.chunks[0],
      opener: { workerId: r.workerId, enc: reply!.enc, sig: reply!.sig },
    });
    const receipt = r.completed?.kind === "completed" ? r.completed.receipt : undefined;
    expect(r.published[1]).toStrictEqual({ jobId: JOB_ID, attempt: 0, seq: 1, final: true, data: reply!.chunks[1], receipt, billed: "1" });
    expect(receipt?.body).toMatchObject({
      v: 1,
      jobId: JOB_ID,
      workerId: r.workerId,
      model: MODEL,
      usage: { promptTokens: 1, completionTokens: 1 },
      measurement: "m".repeat(64),
      finishedAt: T,
    });
    expect(streamed).toEqual([{ jobId: JOB_ID, chunks: 2, messages: 2, published: 2 }]);
  });

  it("pub/sub, a retried result answered as a duplicate: the final chunk carries the bill and settlement token it was answered with", async () => {
    // session 41: the coordinator answers a duplicate with the first answer's bill and token, so
    // the requester ends the job on the final chunk instead of reading it
    const c = clock(T);
    const engine = timedEngine(c, [{ at: T, text: "a" }]);
    const settlement = "s".repeat(43);
    const r = await execute({
      engine,
      relay: "sqs",
      now: c.now,
      plain: { stream: true },
      postResult: () => ({ status: "completed", duplicate: true, cost: "1", settlement }),
    });
    expect(r.published.map((p) => [p.seq, p.final, p.billed, p.settlement, "receipt" in p])).toEqual([
      [0, false, undefined, undefined, false],
      [1, true, "1", settlement, true],
    ]);
  });

  it("the HTTP relay: the final chunk goes out before the result", async () => {
    const c = clock(T);
    const engine = timedEngine(
      c,
      ["a", "b"].map((text) => ({ at: T, text })),
    );
    const r = await execute({ engine, relay: "http", now: c.now, plain: { stream: true }, chunking: { intervalMs: 100_000 } });
    expect(r.order).toEqual(["publish:0", "publish:1:final", "result:completed"]);
    expect(r.published[1]).not.toHaveProperty("billed");
  });

  it("relayWhole: only the final chunk, holding the whole answer", async () => {
    const c = clock(T);
    const engine = timedEngine(
      c,
      ["a", "b", "c"].map((text) => ({ at: T, text })),
    );
    const r = await execute({ engine, relay: "sqs", now: c.now, plain: { stream: true, relayWhole: true } });
    expect(publishedTexts(r)).toEqual(["abc+"]);
  });

  it("no stream asked: nothing published, onStreamed not told, one chunk", async () => {
    const streamed: unknown[] = [];
    const r = await execute({ engine: answers(["a", "b"]).engine, relay: "sqs", onStreamed: (s) => streamed.push(s) });
    expect(r.published).toEqual([]);
    expect(streamed).toEqual([]);
    expect(r.results.map((x) => x.kind)).toEqual(["completed"]);
    expect(r.stats).toMatchObject({ jobs: 1, failed: 0 });
    expect(r.chunks().map((x) => x.text)).toEqual(["ab"]);
  });
});

describe("defaultChunking: from the environment, positive integers only", () => {
  const names = ["COCOON_STREAM_INTERVAL_MS", "COCOON_STREAM_MAX_TOKENS", "COCOON_STREAM_MAX_BYTES"] as const;
  const saved = names.map((n) => process.env[n]);
  afterEach(() => {
    names.forEach((n, k) => {
      if (saved[k] === undefined) delete process.env[n];
      else process.env[n] = saved[k];
    });
  });
  const withEnv = (values: Array<string | undefined>) => {
    names.forEach((n, k) => {
      if (values[k] === undefined) delete process.env[n];
      else process.env[n] = values[k];
    });
    return defaultChunking();
  };

  it("unset: one a second, 4096 deltas, 32 KiB", () => {
    expect(withEnv([undefined, undefined, undefined])).toEqual({ intervalMs: 1000, maxTokens: 4096, maxBytes: 32 * 1024 });
  });
  it("set: taken; maxBytes at most a chunk less 4 KiB", () => {
    expect(withEnv(["250", "7", "200000"])).toEqual({ intervalMs: 250, maxTokens: 7, maxBytes: 96 * 1024 - 4096 });
    expect(withEnv(["1", "1", "1"])).toEqual({ intervalMs: 1, maxTokens: 1, maxBytes: 1 });
  });
  it.each(["0", "-5", "1.5", "abc"])("%s: the default", (v) => {
    expect(withEnv([v, v, v])).toEqual({ intervalMs: 1000, maxTokens: 4096, maxBytes: 32 * 1024 });
  });
});

describe("executeJob: a completed job's log line (owner40: only failures were logged)", () => {
  it("names the job, its model and how long it took; never its text, token counts or earnings (session 31: the host reads the log)", async () => {
    // Prepare: an engine that answers a known text; a coordinator crediting 17 of a cost of 20
    let t = 1_700_000_000_000;
    const { engine } = answers(["a secret answer"], { promptTokens: 5, completionTokens: 3 });
    // Act
    const r = await execute({
      engine,
      now: () => (t += 10),
      postResult: () => ({ status: "completed", duplicate: false, cost: "20", credit: "17" }),
    });
    // Assess
    const done = r.infos.filter(([m]) => m === "job done");
    expect(done).toEqual([["job done", { jobId: JOB_ID, model: r.header.model, ms: expect.any(Number) }]]);
    expect(done[0]![1]!.ms).toBeGreaterThan(0);
    expect(JSON.stringify(r.infos)).not.toMatch(/secret|Tokens|"17"|"20"/);
  });
  it("a result the coordinator already had: logged as a duplicate; a failure logs no job done", async () => {
    const dup = await execute({ engine: answers(["x"]).engine, postResult: () => ({ status: "completed", duplicate: true }) });
    expect(dup.infos.find(([m]) => m === "job done")?.[1]).toMatchObject({ duplicate: true });
    const failed = await execute({ engine: answers(["a"]).engine, rawPlaintext: new TextEncoder().encode("not json") });
    expect(failed.infos.filter(([m]) => m === "job done")).toEqual([]);
  });
});

describe("executeJob: failures, their codes and what is reported", () => {
  it("a request that does not open as JSON: bad_request, reported", async () => {
    const r = await execute({ engine: answers(["a"]).engine, rawPlaintext: new TextEncoder().encode("not json") });
    expect(r.failed).toMatchObject({ kind: "failed", code: "bad_request", jobId: JOB_ID, attempt: 0 });
    expect(r.failure().error.code).toBe("bad_request");
    expect(r.stats.failed).toBe(1);
  });

  it("a request sealed to a previous key of this worker (a restarted agent): bad_request, given back for the next candidate, the engine never asked", async () => {
    // Prepare: the job was sealed to the HPKE key the agent had before a kill -9 and a restart
    const { engine, requests } = answers(["a"]);
    const before = generateKemKey();

    // Act
    const r = await execute({ engine, sealedTo: before });

    // Assess
    expect(r.failed).toMatchObject({ kind: "failed", code: "bad_request", jobId: JOB_ID, attempt: 0, envelope: r.envelope });
    expect(r.failure().error).toEqual({
      code: "bad_request",
      message:
        "the data key did not open with this worker's HPKE key: sealed to another key of this worker (a restarted agent), " +
        "or its header or wrapped key was changed on the way: given back for the next candidate",
    });
    expect(requests).toEqual([]);
    expect(r.logs).toEqual([["job failed", { jobId: JOB_ID, code: "bad_request" }]]);
  });

  it("an envelope that fails for another reason keeps its own text (a plaintext that is not JSON)", async () => {
    // Prepare / Act
    const r = await execute({ engine: answers(["a"]).engine, rawPlaintext: new TextEncoder().encode("not json") });

    // Assess
    expect(r.failure().error.code).toBe("bad_request");
    expect(r.failure().error.message).not.toContain("restarted agent");
  });

  it("an engine's plain Error: engine_error with its message; a thrown string too; the log holds the code only", async () => {
    const boom = scriptedEngine(() =>
      (async function* () {
        yield* [];
        throw new Error("boom");
      })(),
    ).engine;
    const r = await execute({ engine: boom });
    expect(r.failure()).toEqual({ error: { code: "engine_error", message: "boom" } });
    expect(r.logs).toEqual([["job failed", { jobId: JOB_ID, code: "engine_error" }]]);
    const str = scriptedEngine(() =>
      (async function* () {
        yield* [];
        throw "text";
      })(),
    ).engine;
    expect((await execute({ engine: str })).failure()).toEqual({ error: { code: "engine_error", message: "text" } });
  });

  it("an EngineError keeps its code; the sealed message is cut at 2000 characters", async () => {
    const engine = scriptedEngine(() =>
      (async function* () {
        yield* [];
        throw new EngineError("model_not_served", "m".repeat(2500));
      })(),
    ).engine;
    const r = await execute({ engine });
    expect(r.failed).toMatchObject({ code: "model_not_served" });
    expect(r.failure()).toEqual({ error: { code: "model_not_served", message: "m".repeat(2000) } });
  });

  it("the sealed failure is padded to its length's bucket: two messages of different lengths in one bucket look alike", async () => {
    // Prepare: two engine errors whose texts (which can echo the prompt) differ in length
    const failing = (message: string) =>
      scriptedEngine(() =>
        (async function* () {
          yield* [];
          throw new EngineError("engine_rejected", message);
        })(),
      ).engine;
    // Act
    const short = await execute({ engine: failing("no") });
    const longer = await execute({ engine: failing("the prompt was refused by the engine") });
    // Assess: the same ciphertext size, the floor's, and both still read as they were sent
    const size = (r: typeof short) => b64u.decode((r.failed as { reply: SealedReply }).reply.ct).length - 16;
    expect(size(short)).toBe(CHUNK_PADDING.floor);
    expect(size(longer)).toBe(size(short));
    expect(longer.failure()).toEqual({ error: { code: "engine_rejected", message: "the prompt was refused by the engine" } });
  });

  it("a stream that ends without a result: engine_error, said so", async () => {
    const r = await execute({ engine: scriptedEngine(() => [{ type: "delta", text: "a" }]).engine });
    expect(r.failure()).toEqual({ error: { code: "engine_error", message: "the engine's stream ended without a final result" } });
  });

  it("the coordinator refusing the result: result_refused reported, the API code logged", async () => {
    const r = await execute({
      engine: answers(["a"]).engine,
      postResult: (_b, call) => {
        if (call === 0) throw new ApiError(409, "conflict", "no");
        return {};
      },
    });
    expect(r.results.map((x) => x.kind)).toEqual(["completed", "failed"]);
    expect(r.failed).toMatchObject({ code: "result_refused" });
    expect(r.logs).toEqual([["job failed", { jobId: JOB_ID, code: "result_refused", api: "conflict" }]]);
    expect(r.stats).toMatchObject({ jobs: 0, failed: 1 });
  });

  it("an answer over MAX_REPLY_BYTES is cut within it: completed, finish length, billed by the engine's count (review41)", async () => {
    const r = await execute({ engine: answers(["x".repeat(4 * 1024 * 1024)], { promptTokens: 1, completionTokens: 9 }).engine });
    if (r.completed?.kind !== "completed") throw new Error(`not completed: ${JSON.stringify(r.failed)}`);
    expect(Buffer.byteLength(canonicalJson(r.completed.reply))).toBeLessThanOrEqual(MAX_REPLY_BYTES);
    expect(r.chunks().at(-1).end).toMatchObject({ choices: [{ finishReason: "length" }] });
    expect(r.completed.receipt.body.usage).toEqual({ promptTokens: 1, completionTokens: 9 });
  });

  it("a streamed logprobs answer stops at the cap: nothing published past it, the engine stopped (review, session 21)", async () => {
    // Prepare: 2,000 deltas of one token with ~4 KB of top log probabilities each, about 8 MB in all
    let pulled = 0;
    let closed = false;
    const engine = scriptedEngine(() =>
      (async function* () {
        try {
          for (let k = 0; k < 2000; k++) {
            pulled++;
            yield { type: "delta" as const, text: "t", logprobs: lpOfBytes(4000) };
          }
          yield { type: "done" as const, result: result("", { promptTokens: 1, completionTokens: 2000 }) };
        } finally {
          closed = true;
        }
      })(),
    ).engine;
    // Act
    const r = await execute({
      engine,
      relay: "sqs",
      plain: { stream: true, logprobs: true, topLogprobs: 20 },
      header: { maxTokens: 4096 },
    });
    // Assess: the old code published every chunk (~8 MB) and failed only at the end; session 21's
    // stopped at the cap and still failed the job (refunded what the requester had read). Since
    // review41 the answer is cut there and completed, billed by the engine's count of what it made.
    if (r.completed?.kind !== "completed") throw new Error(`not completed: ${JSON.stringify(r.failed)}`);
    const publishedBytes = r.published.reduce((n, c) => n + c.data.length, 0);
    expect(publishedBytes).toBeGreaterThan(MAX_REPLY_BYTES / 2);
    expect(publishedBytes).toBeLessThanOrEqual(MAX_REPLY_BYTES);
    expect(Buffer.byteLength(canonicalJson(r.completed.reply))).toBeLessThanOrEqual(MAX_REPLY_BYTES);
    for (const c of r.published) expect((r.completed.reply as ChunkedReply).chunks[c.seq]).toBe(c.data);
    expect(r.completed.receipt.body.usage.completionTokens).toBe(2000);
    expect(pulled).toBe(2000);
    expect(closed).toBe(true);
  });

  it("the cap reached by the interval's flush (a timer): the answer is cut there, nothing thrown out of the timer", async () => {
    // Prepare: a slow engine, so every chunk after the first goes out on the interval timer
    let pulled = 0;
    const engine = scriptedEngine(() =>
      (async function* () {
        for (let k = 0; k < 80; k++) {
          pulled++;
          yield { type: "delta" as const, text: "t", logprobs: lpOfBytes(80_000) };
          await sleep(12);
        }
        yield { type: "done" as const, result: result("", { promptTokens: 1, completionTokens: 80 }) };
      })(),
    ).engine;
    // Act
    const r = await execute({
      engine,
      relay: "sqs",
      plain: { stream: true, logprobs: true },
      header: { maxTokens: 4096 },
      chunking: { intervalMs: 2, maxTokens: 100, maxBytes: 1 << 20 },
    });
    // Assess
    if (r.completed?.kind !== "completed") throw new Error(`not completed: ${JSON.stringify(r.failed)}`);
    expect(r.published.reduce((n, c) => n + c.data.length, 0)).toBeLessThanOrEqual(MAX_REPLY_BYTES);
    expect(Buffer.byteLength(canonicalJson(r.completed.reply))).toBeLessThanOrEqual(MAX_REPLY_BYTES);
    expect(r.chunks().at(-1).end).toMatchObject({ choices: [{ finishReason: "length" }] });
    expect(pulled).toBe(80);
  });

  it("the count is exact: an answer that fits completes whole; a longer one is cut within a chunk's reserve of the cap (review41)", async () => {
    // Prepare: one delta of "x"s, no relay: a chunk a piece, the last piece in the final chunk with the end
    const run = (chars: number) => execute({ engine: answers(["x".repeat(chars)]).engine });
    // what the reply keeps free for its final chunk: a whole one (96 KiB of plaintext, sealed, in base64url)
    const reserve = Math.ceil(((96 * 1024 + 16) * 4) / 3) + 3;
    // Act
    const fits = await run(2_700_000);
    const cut = await run(3_300_000);
    // Assess
    expect(
      fits
        .chunks()
        .map((c) => c.text ?? "")
        .join(""),
    ).toHaveLength(2_700_000);
    expect(fits.chunks().at(-1).end).toMatchObject({ choices: [{ finishReason: "stop" }] });
    if (cut.completed?.kind !== "completed") throw new Error(`not completed: ${JSON.stringify(cut.failed)}`);
    const bytes = Buffer.byteLength(canonicalJson(cut.completed.reply));
    expect(bytes).toBeLessThanOrEqual(MAX_REPLY_BYTES);
    expect(bytes).toBeGreaterThan(MAX_REPLY_BYTES - 2 * reserve);
    expect(cut.chunks().at(-1).end).toMatchObject({ choices: [{ finishReason: "length" }] });
  });

  it("a reply of more than MAX_REPLY_CHUNKS chunks: cut at the last chunk there is room for, nothing past it published (review41)", async () => {
    // Prepare: every delta its own chunk (maxTokens 1)
    const r = await execute({
      engine: answers(
        Array.from({ length: MAX_REPLY_CHUNKS + 10 }, () => "a"),
        { promptTokens: 1, completionTokens: MAX_REPLY_CHUNKS + 10 },
      ).engine,
      relay: "sqs",
      plain: { stream: true },
      header: { maxTokens: MAX_REPLY_CHUNKS + 10 }, // a hold for every piece: the chunk cap, not the token cap, stops it
      chunking: { maxTokens: 1 },
    });
    // Assess
    if (r.completed?.kind !== "completed") throw new Error(`not completed: ${JSON.stringify(r.failed)}`);
    expect((r.completed.reply as ChunkedReply).chunks).toHaveLength(MAX_REPLY_CHUNKS);
    expect(r.published).toHaveLength(MAX_REPLY_CHUNKS); // the final one, with the end, after the result
    expect(r.chunks().at(-1).end).toMatchObject({ choices: [{ finishReason: "length" }] });
  });

  it("a stale attempt: nothing more is posted, the log says stale_attempt", async () => {
    const r = await execute({
      engine: answers(["a"]).engine,
      postResult: () => {
        throw new ApiError(409, "stale_attempt", "no");
      },
    });
    expect(r.results.map((x) => x.kind)).toEqual(["completed"]);
    expect(r.logs).toEqual([["job failed", { jobId: JOB_ID, code: "stale_attempt" }]]);
    expect(r.stats).toMatchObject({ jobs: 0, failed: 1 });
  });

  it("a result post rejected with null: internal_error reported, executeJob still resolves", async () => {
    const r = await execute({
      engine: answers(["a"]).engine,
      postResult: (_b, call) => {
        if (call === 0) throw null;
        return {};
      },
    });
    expect(r.failure()).toEqual({ error: { code: "internal_error", message: "null" } });
  });

  it("no usable reply key: the code alone is reported (with the envelope the job came with, for its next candidate)", async () => {
    const r = await execute({ engine: answers(["a"]).engine, header: { replyKey: b64u.encode(new Uint8Array(5)) } });
    expect(r.results).toHaveLength(1);
    expect(r.failed).toStrictEqual({ kind: "failed", jobId: JOB_ID, attempt: 0, code: "engine_error", envelope: r.envelope });
  });

  it("the engine's stream is closed once its result came", async () => {
    let closed = false;
    const engine = scriptedEngine(() =>
      (async function* () {
        try {
          yield { type: "done" as const, result: result("") };
          yield { type: "delta" as const, text: "never" };
        } finally {
          closed = true;
        }
      })(),
    ).engine;
    const r = await execute({ engine });
    expect(r.completed?.kind).toBe("completed");
    expect(closed).toBe(true);
  });

  it("a stream whose close fails after its result: the job fails", async () => {
    const engine = scriptedEngine(() =>
      (async function* () {
        try {
          yield { type: "done" as const, result: result("") };
        } finally {
          // eslint-disable-next-line no-unsafe-finally -- the engine's close fails, on purpose
          throw new EngineError("engine_crashed", "close");
        }
      })(),
    ).engine;
    const r = await execute({ engine });
    expect(r.failed).toMatchObject({ code: "engine_error" });
  });

  it("a stream that fails: its own error is reported, not that of closing it (nor of a missing return)", async () => {
    const iterator = (withReturn: boolean) => ({
      [Symbol.asyncIterator]: () => ({
        next: () => Promise.reject(new EngineError("model_not_served", "x")),
        ...(withReturn ? { return: () => Promise.reject(new Error("close failed")) } : {}),
      }),
    });
    for (const withReturn of [true, false]) {
      const r = await execute({ engine: scriptedEngine(() => iterator(withReturn)).engine });
      expect(r.failed).toMatchObject({ code: "model_not_served" });
    }
  });

  it("an iterator without return that ends with its result completes", async () => {
    const events: EngineStreamEvent[] = [{ type: "done", result: result("") }];
    const engine = scriptedEngine(() => ({
      [Symbol.asyncIterator]: () => ({
        next: async () => (events.length ? { done: false as const, value: events.shift()! } : { done: true as const, value: undefined }),
      }),
    })).engine;
    const r = await execute({ engine });
    expect(r.completed?.kind).toBe("completed");
  });
});

describe("ChunkWriter: embeddings at the budget's edge", () => {
  /** Factory: an engine that embeds with the vectors of the given dimensions (base64url of 4 bytes a dimension). */
  const embedding = (dims: number[]) => {
    const vectors = dims.map((d) => Array.from({ length: d }, () => 1));
    const engine: Engine = { ...answers([]).engine, embed: async () => ({ vectors, usage: { promptTokens: 1 }, engine: "emb" }) };
    return { engine, encoded: vectors.map(encodeVector) };
  };
  const plain = (n: number) => ({ kind: "embedding" as const, messages: undefined, input: Array.from({ length: n }, (_, k) => `t${k}`) });

  it("vectors reaching the budget exactly stay in one chunk (22+3 + 22+3 + 27+3 + 90 032 = 90 112)", async () => {
    const { engine, encoded } = embedding([4, 4, 5, 16_881]);
    expect(encoded.map((v) => v.length)).toEqual([22, 22, 27, 90_032]);
    const r = await execute({ engine, plain: plain(4) });
    expect(r.chunks().map((c) => c.embeddings)).toEqual([encoded]);
  });

  it("one byte past it: the last vector opens a new chunk (3 × (22+3) + 90 038 = 90 113)", async () => {
    const { engine, encoded } = embedding([4, 4, 4, 16_882]);
    expect(encoded[3]).toHaveLength(90_038);
    const r = await execute({ engine, plain: plain(4) });
    expect(r.chunks().map((c) => c.embeddings)).toEqual([encoded.slice(0, 3), encoded.slice(3)]);
  });
});

describe("the reply stream's key setup runs while the engine works towards its first token", () => {
  it("chat: the sealer is made before the engine's first delta comes", async () => {
    const events: string[] = [];
    const engine = scriptedEngine(() =>
      (async function* () {
        await sleep(5);
        events.push("engine");
        yield { type: "delta" as const, text: "a" };
        yield { type: "done" as const, result: result("a") };
      })(),
    ).engine;
    await execute({ engine, keyEvents: events });
    expect(events.indexOf("key")).toBeLessThan(events.indexOf("engine"));
    expect(events.indexOf("key")).toBeGreaterThanOrEqual(0);
  });

  it("embeddings: the sealer is made before the engine's vectors come", async () => {
    const events: string[] = [];
    const engine: Engine = {
      ...answers([]).engine,
      embed: async () => {
        await sleep(5);
        events.push("engine");
        return { vectors: [[1]], usage: { promptTokens: 1 }, engine: "emb" };
      },
    };
    await execute({ engine, plain: { kind: "embedding", messages: undefined, input: ["a"] }, keyEvents: events });
    expect(events.indexOf("key")).toBeLessThan(events.indexOf("engine"));
    expect(events.indexOf("key")).toBeGreaterThanOrEqual(0);
  });
});

describe("a delta's log probabilities are counted before it joins the pending chunk", () => {
  // Before (session 15's it.fails): text() checked `pendingBytes + text.length * 3 > CHUNK_BUDGET`
  // before adding a delta, leaving out the delta's own log probabilities; and a delta longer than
  // a piece handed ALL its log probabilities to its first piece, which alone filled a chunk. The
  // chunk passed MAX_CHUNK_PLAINTEXT, the sealer threw, and the job failed (engine_error: failed
  // over or refunded, the worker's work lost) instead of going out in one more chunk.
  const lp = Array.from({ length: 15 }, (_, k) => ({
    token: `t${k}`,
    logprob: -1.5,
    topLogprobs: Array.from({ length: 20 }, (_, j) => ({ token: `alternative-${j}`, logprob: -2.25 })),
  }));
  const joined = (r: Awaited<ReturnType<typeof execute>>) => r.chunks().flatMap((c) => c.logprobs ?? []);

  it("one long delta (3-byte characters) with log probabilities completes, its text whole", async () => {
    // Prepare: one piece of 3-byte characters fills a chunk's budget; the log probabilities come on top
    const text = "中".repeat(PIECE + 10);
    const { engine } = scriptedEngine(() => [
      { type: "delta", text, logprobs: lp },
      { type: "done", result: result(text) },
    ]);
    // Act
    const r = await execute({ engine, plain: { logprobs: true } });
    // Assess: every chunk within the sealer's limit (else the job fails), the text and log probabilities whole, in order
    expect(r.failed).toBeUndefined();
    expect(
      r
        .chunks()
        .map((c) => c.text ?? "")
        .join(""),
    ).toBe(text);
    expect(joined(r)).toEqual(lp);
  });

  it("a delta with log probabilities arriving when the pending chunk is nearly full completes", async () => {
    const { engine } = scriptedEngine(() => [
      { type: "delta", text: "中".repeat(30_000) },
      { type: "delta", text: "", logprobs: lp },
      { type: "done", result: result("") },
    ]);
    const r = await execute({ engine, plain: { logprobs: true } });
    expect(r.failed).toBeUndefined();
    expect(r.chunks().map((c) => (c.text !== undefined ? "text" : "") + (c.logprobs ? "+lp" : ""))).toEqual(["text", "+lp"]);
  });

  it("log probabilities larger than a chunk by themselves go in groups, each chunk within the limit, all in order", async () => {
    // Prepare: 600 tokens with 20 alternatives each, about 1.2 KB a token: ~8 chunks of them
    const many = Array.from({ length: 600 }, (_, k) => ({ ...lp[k % lp.length]!, token: `t${k}` }));
    const { engine } = scriptedEngine(() => [
      { type: "delta", text: "short", logprobs: many },
      { type: "done", result: result("short") },
    ]);
    // Act
    const r = await execute({ engine, plain: { logprobs: true } });
    // Assess
    expect(r.failed).toBeUndefined();
    const chunks = r.chunks();
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks[0]?.text).toBe("short");
    expect(chunks.slice(1).every((c) => c.text === undefined)).toBe(true);
    expect(joined(r)).toEqual(many);
  });
});

describe("ChunkWriter on a relay: a clock that starts near zero", () => {
  it("the first delta goes at once even when less than intervalMs has passed since time zero", async () => {
    const r = await streamOnRelay(
      10,
      ["a", "b"].map((text) => ({ at: 10, text })),
    );
    expect(r.published.map((p) => [p.seq, p.final])).toEqual([
      [0, false],
      [1, true],
    ]);
  });
});

describe("ChunkWriter without a relay: a chunk that reaches the budget goes out at once", () => {
  it("the last delta filling the budget: its chunk is not the final one, which holds the end alone", async () => {
    // 29 000 × 3 + 3 112 = 90 112, the budget
    const lp = lpOfBytes(CHUNK_BUDGET - 29_000 * 3);
    const { engine } = scriptedEngine(() => [
      { type: "delta", text: "a".repeat(29_000), logprobs: lp },
      { type: "done", result: result("") },
    ]);
    const r = await execute({ engine, plain: { logprobs: true } });
    expect(r.chunks()).toEqual([
      { text: "a".repeat(29_000), logprobs: lp },
      { end: { usage: { promptTokens: 1, completionTokens: 1 }, engine: "scripted", choices: [{ finishReason: "stop" }] } },
    ]);
  });
});

describe("no usable reply key while the engine fails too: one failure, nothing left unhandled", () => {
  const badKey = { replyKey: b64u.encode(new Uint8Array(5)) };

  it("chat: the engine's failed first step is handled; the code alone is reported", async () => {
    const engine = scriptedEngine(() =>
      (async function* () {
        await sleep(1);
        yield* [];
        throw new EngineError("engine_unavailable", "down");
      })(),
    ).engine;
    const r = await execute({ engine, header: badKey });
    await sleep(20);
    expect(r.failed).toStrictEqual({ kind: "failed", jobId: JOB_ID, attempt: 0, code: "engine_error", envelope: r.envelope });
  });

  it("embeddings: the engine's failed promise is handled; the code alone is reported", async () => {
    const engine: Engine = {
      ...answers([]).engine,
      embed: async () => {
        await sleep(1);
        throw new EngineError("engine_unavailable", "down");
      },
    };
    const r = await execute({ engine, header: badKey, plain: { kind: "embedding", messages: undefined, input: ["a"] } });
    await sleep(20);
    expect(r.failed).toStrictEqual({ kind: "failed", jobId: JOB_ID, attempt: 0, code: "engine_error", envelope: r.envelope });
  });
});
