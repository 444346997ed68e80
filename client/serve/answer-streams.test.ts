/**
 * The proxy's shared answer path (answer.ts) called directly: the Cocoon headers of several jobs,
 * opening several jobs' streams (the opened ones closed when one fails), the job id a stream's
 * first event names, one job's items (tool-call pieces completed on their first piece, a restart
 * after tool pieces, an app gone before or while streaming, the errors' messages), the merge of
 * several sources (the unfinished ones closed when the reader stops), and the SSE answer of
 * several jobs with n choices each (choice indexes, where the Cocoon facts ride, usage, headers,
 * error frames, an app that went away).
 */
import { afterEach, describe, expect, it } from "vitest";
import type { HttpResponse } from "../../edge/http";
import { anAnswer, caps, closeProxies, startFakedProxy } from "../../test/fixtures/serve-proxy";
import {
  cocoonHeaders,
  firstJobId,
  jobItems,
  merged,
  openAll,
  openStream,
  type ChunkItem,
  type JobItem,
  type OpenedStream,
  StreamEndedEarly,
  StreamRestarted,
  streamResponse,
  type StreamShape,
} from "./answer";
import type { AskChoice, AskStreamEvent, OpenAiErrorMapping } from "./types";

const MODEL = "llama-3-8b";

/** A job's network stream as a hand-driven iterator: `returned` counts its return() calls. */
interface Source extends AsyncIterable<AskStreamEvent> {
  returned: number;
  /** next() calls made so far */
  pulled: number;
}

interface SourceOptions {
  /** after the events, next() never settles (a worker still generating) */
  hang?: boolean;
  /** with hang: next() rejects when this signal aborts (the network giving up with the app) */
  rejectOn?: AbortSignal;
  /** the first next() rejects with this (a job refused before its first event) */
  failFirst?: unknown;
  /** an iterator without return() (which the iterator protocol allows) */
  noReturn?: boolean;
  /** each event after the first arrives on a later turn of the event loop (a network still generating) */
  later?: boolean;
}

function aSource(events: AskStreamEvent[], o: SourceOptions = {}): Source {
  const queue = [...events];
  // Listening from the start, as the network does when asked with the app's signal.
  const rejected = o.rejectOn
    ? new Promise<never>((_, reject) => o.rejectOn!.addEventListener("abort", () => reject(new Error("fetch aborted"))))
    : undefined;
  rejected?.catch(() => {});
  const src: Source = {
    returned: 0,
    pulled: 0,
    [Symbol.asyncIterator]: () => it,
  };
  const it: AsyncIterator<AskStreamEvent> = {
    next: () => {
      src.pulled++;
      if (o.failFirst !== undefined) return Promise.reject(o.failFirst);
      const e = queue.shift();
      if (e && o.later && src.pulled > 1) return new Promise((resolve) => setImmediate(() => resolve({ done: false, value: e })));
      if (e) return Promise.resolve({ done: false, value: e });
      if (rejected) return rejected;
      if (o.hang) return new Promise<never>(() => {});
      return Promise.resolve({ done: true, value: undefined });
    },
    ...(o.noReturn
      ? {}
      : {
          return: async () => {
            src.returned++;
            return { done: true as const, value: undefined };
          },
        }),
  };
  return src;
}

const delta = (text: string, index = 0, jobId?: string): AskStreamEvent => ({ type: "delta", text, index, ...(jobId ? { jobId } : {}) });

/** A job's final event with `choices` (n > 1) or a single choice; 9 prompt and 2 completion tokens per choice. */
const done = (jobId: string, choices: AskChoice[] = [], cost = "110"): AskStreamEvent => ({
  type: "done",
  ...anAnswer(MODEL, {
    jobId,
    workerId: `w_${jobId}`,
    cost,
    text: choices[0]?.text ?? "Paris.",
    usage: { promptTokens: 9, completionTokens: 2 * Math.max(1, choices.length) },
    ...(choices.length ? { choices } : {}),
  }),
});

/** Every item of one job's stream. */
async function itemsOf(s: OpenedStream, signal?: AbortSignal): Promise<JobItem[]> {
  const out: JobItem[] = [];
  for await (const item of jobItems(s, signal)) out.push(item);
  return out;
}

/** A chat-like shape: role on start, content on text, tool_calls on tool, finish_reason on finish. */
function aShape(over: Partial<StreamShape> = {}): StreamShape {
  return {
    id: "chatcmpl-test",
    object: "chat.completion.chunk",
    created: 1_700_000_000,
    model: MODEL,
    includeUsage: false,
    n: 1,
    choice: (index: number, item: ChunkItem) =>
      item.kind === "start"
        ? { index, delta: { role: "assistant" } }
        : item.kind === "text"
          ? { index, delta: { content: item.text } }
          : item.kind === "tool"
            ? { index, delta: { tool_calls: [item.delta] } }
            : { index, delta: {}, finish_reason: item.reason },
    ...over,
  };
}

const mapError = (err: unknown): OpenAiErrorMapping => ({
  status: 502,
  type: "server_error",
  code: (err as { code?: string }).code ?? "upstream_error",
  message: (err as Error).message,
});

type Frame = Record<string, any> | "[DONE]";

/** Every SSE `data:` payload; `onFrame` runs after each one arrives (to abort mid-stream). */
async function framesOf(res: HttpResponse, onFrame?: (f: Frame, i: number) => void): Promise<Frame[]> {
  const out: Frame[] = [];
  for await (const raw of res.body as AsyncIterable<string>) {
    const m = /^data: ([^\n]+)\n\n$/.exec(raw);
    expect(m, raw).not.toBeNull();
    const f: Frame = m![1] === "[DONE]" ? "[DONE]" : (JSON.parse(m![1]!) as Record<string, any>);
    out.push(f);
    onFrame?.(f, out.length - 1);
  }
  return out;
}

describe("answer: the Cocoon headers of several jobs", () => {
  it("lists each job's id, worker and tier comma-separated and sums their costs", () => {
    // Prepare
    const jobs = [
      anAnswer(MODEL, { jobId: "job_a", workerId: "w_a", tier: "dev", cost: "110" }),
      anAnswer(MODEL, { jobId: "job_b", workerId: "w_b", tier: "prod", cost: "5" }),
    ];
    // Act
    const headers = cocoonHeaders(jobs);
    // Assess
    expect(headers).toStrictEqual({
      "x-cocoon-job-id": "job_a,job_b",
      "x-cocoon-worker": "w_a,w_b",
      "x-cocoon-tier": "dev,prod",
      "x-cocoon-cost-nanoton": "115",
    });
  });
});

describe("answer: openAll", () => {
  it("closes the streams that opened when another fails before its first event, and fails with that failure", async () => {
    // Prepare
    const refused = new Error("no worker serves this model");
    const a = aSource([delta("Hi", 0, "job_a")]);
    const b = aSource([], { failFirst: refused });
    const c = aSource([delta("Yo", 0, "job_c")]);
    // Act
    const err = await openAll([a, b, c]).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Assess: the failure itself, and each opened stream closed once (the failed one is not touched)
    expect(err).toBe(refused);
    expect([a.returned, b.returned, c.returned]).toStrictEqual([1, 0, 1]);
  });

  it("fails with the failure even when an opened stream has no return()", async () => {
    // Prepare
    const refused = new Error("insufficient funds");
    const a = aSource([delta("Hi", 0, "job_a")], { noReturn: true });
    const b = aSource([], { failFirst: refused });
    // Act + Assess
    await expect(openAll([a, b])).rejects.toBe(refused);
  });

  it("gives every stream with its first event, closing none, when all open", async () => {
    // Prepare
    const a = aSource([delta("Hi", 0, "job_a"), done("job_a")]);
    const b = aSource([delta("Yo", 0, "job_b"), done("job_b")]);
    // Act
    const opened = await openAll([a, b]);
    // Assess
    expect(opened.map((s) => s.first)).toStrictEqual([
      { done: false, value: delta("Hi", 0, "job_a") },
      { done: false, value: delta("Yo", 0, "job_b") },
    ]);
    expect([a.returned, b.returned]).toStrictEqual([0, 0]);
  });
});

describe("answer: firstJobId", () => {
  it("names the job only of a first event that is a delta naming one", async () => {
    // Prepare
    const named = await openStream(aSource([delta("Hi", 0, "job_a")]));
    const anonymous = await openStream(aSource([delta("Hi")]));
    const finished = await openStream(aSource([done("job_done")]));
    const restarted = await openStream(aSource([{ type: "restart" }]));
    const empty = await openStream(aSource([]));
    // Act + Assess
    expect(firstJobId(named)).toBe("job_a");
    expect(firstJobId(anonymous)).toBeUndefined();
    expect(firstJobId(finished)).toBeUndefined();
    expect(firstJobId(restarted)).toBeUndefined();
    expect(firstJobId(empty)).toBeUndefined();
    expect(firstJobId(undefined)).toBeUndefined();
  });
});

describe("answer: one job's items", () => {
  it("completes a tool call's first piece: a call_ id of 24 hex digits, type function, empty name and arguments", async () => {
    // Prepare: pieces with no id, no type, and no name, arguments or function at all
    const s = await openStream(
      aSource([
        { type: "delta", toolCalls: [{ index: 0, function: { name: "get_weather" } }] },
        { type: "delta", toolCalls: [{ index: 0, function: { arguments: '{"city":' } }] },
        { type: "delta", toolCalls: [{ index: 1, function: { arguments: "{}" } }] },
        { type: "delta", toolCalls: [{ index: 2 }] },
        done("job_a", [{ index: 0, text: "", finishReason: "tool_calls" }]),
      ]),
    );
    // Act: without a signal
    const items = await itemsOf(s);
    // Assess
    const tools = items.filter((i) => i.kind === "tool").map((i) => (i as Extract<JobItem, { kind: "tool" }>).delta);
    expect(tools).toHaveLength(4);
    for (const t of [tools[0]!, tools[2]!, tools[3]!]) expect(t.id).toMatch(/^call_[0-9a-f]{24}$/);
    expect(new Set([tools[0]!.id, tools[2]!.id, tools[3]!.id]).size).toBe(3);
    expect(tools.map(({ id: _id, ...rest }) => rest)).toStrictEqual([
      { index: 0, type: "function", function: { name: "get_weather", arguments: "" } },
      { index: 0, function: { arguments: '{"city":' } },
      { index: 1, type: "function", function: { name: "", arguments: "{}" } },
      { index: 2, type: "function", function: { name: "", arguments: "" } },
    ]);
    expect(tools[1]!.id).toBeUndefined();
    expect(items.slice(-2).map((i) => i.kind)).toStrictEqual(["finish", "result"]);
  });

  it("waits for the network's later events when no app signal was given", async () => {
    // Prepare
    const s = await openStream(aSource([delta("Hi", 0, "job_a"), delta(" there", 0, "job_a"), done("job_a")], { later: true }));
    // Act
    const items = await itemsOf(s);
    // Assess
    expect(items.map((i) => (i.kind === "result" ? i.result.jobId : i.kind === "text" ? i.text : i.kind))).toStrictEqual([
      "Hi",
      " there",
      "finish",
      "job_a",
    ]);
  });

  it("keeps the id and type a first piece brings", async () => {
    // Prepare
    const s = await openStream(
      aSource([
        { type: "delta", toolCalls: [{ index: 0, id: "call_given", type: "function", function: { name: "f", arguments: "{}" } }] },
        done("job_a"),
      ]),
    );
    // Act
    const items = await itemsOf(s);
    // Assess
    expect(items[0]).toStrictEqual({
      kind: "tool",
      choice: 0,
      delta: { index: 0, id: "call_given", type: "function", function: { name: "f", arguments: "{}" } },
    });
  });

  it("gives a piece with log probabilities but no text as empty text", async () => {
    // Prepare
    const logprobs = [{ token: "Hi", logprob: -0.5, bytes: [72, 105], top_logprobs: [] }];
    const s = await openStream(aSource([{ type: "delta", logprobs } as AskStreamEvent, done("job_a")]));
    // Act
    const items = await itemsOf(s);
    // Assess
    expect(items[0]).toStrictEqual({ kind: "text", choice: 0, text: "", logprobs });
  });

  it("fails with stream_restarted when the worker restarts after only tool-call pieces were shown", async () => {
    // Prepare
    const s = await openStream(
      aSource([{ type: "delta", toolCalls: [{ index: 0, id: "call_1", function: { name: "f" } }] }, { type: "restart" }, done("job_a")]),
    );
    // Act
    const err = await itemsOf(s).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Assess
    expect(err).toBeInstanceOf(StreamRestarted);
    expect(err).toMatchObject({
      code: "stream_restarted",
      message:
        "the worker failed mid-answer and the job moved to another worker, which starts over: the text sent so far is void; send the request again",
    });
  });

  it("fails with stream_truncated when the stream ends before its final event, and does not close the ended stream", async () => {
    // Prepare
    const src = aSource([delta("Hi"), delta(" there")]);
    const s = await openStream(src);
    // Act
    const err = await itemsOf(s).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Assess
    expect(err).toBeInstanceOf(StreamEndedEarly);
    expect(err).toMatchObject({
      code: "stream_truncated",
      message: "the answer's stream ended before its final event; what arrived is incomplete",
    });
    expect(src.returned).toBe(0);
  });

  it("gives nothing for an app already gone, and closes the stream", async () => {
    // Prepare
    const src = aSource([delta("Hi", 0, "job_a"), done("job_a")]);
    const s = await openStream(src);
    const app = new AbortController();
    app.abort();
    // Act
    const items = await itemsOf(s, app.signal);
    // Assess
    expect(items).toStrictEqual([]);
    expect(src.returned).toBe(1);
  });

  it("ends quietly for an app already gone even when the stream has no return()", async () => {
    // Prepare
    const s = await openStream(aSource([delta("Hi", 0, "job_a"), done("job_a")], { noReturn: true }));
    const app = new AbortController();
    app.abort();
    // Act
    const items = await itemsOf(s, app.signal);
    // Assess
    expect(items).toStrictEqual([]);
  });

  it("stops waiting on the network when the app goes away mid-stream, and closes the stream", async () => {
    // Prepare: a worker that sends one piece, then nothing more
    const src = aSource([delta("Hi", 0, "job_a")], { hang: true });
    const s = await openStream(src);
    const app = new AbortController();
    const seen: JobItem[] = [];
    // Act
    for await (const item of jobItems(s, app.signal)) {
      seen.push(item);
      app.abort();
    }
    // Assess
    expect(seen).toStrictEqual([{ kind: "text", choice: 0, text: "Hi" }]);
    expect(src.returned).toBe(1);
  });
});

describe("answer: merged", () => {
  it("closes the sources still pending when the reader stops, skipping those without return()", async () => {
    // Prepare
    const a = aSource([delta("a1"), delta("a2")]);
    const b = aSource([], { hang: true });
    const c = aSource([], { hang: true, noReturn: true });
    const its = [a, b, c].map((s) => s[Symbol.asyncIterator]());
    const seen: unknown[] = [];
    // Act
    for await (const { from, value } of merged(its)) {
      seen.push([from, value]);
      break;
    }
    // Assess
    expect(seen).toStrictEqual([[0, delta("a1")]]);
    expect([a.returned, b.returned]).toStrictEqual([1, 1]);
  });

  it("does not close a source that already ended", async () => {
    // Prepare
    const a = aSource([]);
    const b = aSource([delta("b1")], { hang: true });
    const its = [a, b].map((s) => s[Symbol.asyncIterator]());
    // Act
    for await (const { value } of merged(its)) if (value) break;
    // Assess
    expect([a.returned, b.returned]).toStrictEqual([0, 1]);
  });
});

/** Job `job` with n = 2: each choice's text as one delta, then done with both choices. */
const twoChoiceJob = (job: string) =>
  aSource([
    delta(`${job}#0`, 0, job),
    delta(`${job}#1`, 1, job),
    done(job, [
      { index: 0, text: `${job}#0`, finishReason: "stop" },
      { index: 1, text: `${job}#1`, finishReason: "length" },
    ]),
  ]);

/** The SSE answer of jobs a and b with n = 2 each, and its frames. */
async function twoJobsOfTwo(includeUsage: boolean) {
  const streams = await openAll([twoChoiceJob("job_a"), twoChoiceJob("job_b")]);
  const errors: unknown[] = [];
  const res = streamResponse(aShape({ n: 2, includeUsage }), streams, { mapError, onError: (e) => void errors.push(e) });
  return { res, all: await framesOf(res), errors };
}

const chunksOf = (all: Frame[]) => all.filter((f): f is Record<string, any> => f !== "[DONE]");
/** [index, content, finish_reason] of each chunk's choice, sorted (the jobs' items interleave as they come). */
const rowsOf = (chunks: Array<Record<string, any>>) =>
  chunks
    .filter((c) => c.choices.length)
    .map((c) => [c.choices[0].index, c.choices[0].delta.content ?? c.choices[0].delta.role ?? null, c.choices[0].finish_reason ?? null])
    .sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)));

describe("answer: the SSE answer of several jobs", () => {
  it("sends event-stream headers that keep the connection open and uncached, naming the job its first event named", async () => {
    // Prepare
    const streams = await openAll([aSource([delta("Hi", 0, "job_a"), done("job_a")])]);
    // Act
    const res = streamResponse(aShape(), streams, { mapError });
    await framesOf(res);
    // Assess
    expect(res.status).toBe(200);
    expect(res.headers).toStrictEqual({
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-cocoon-job-id": "job_a",
    });
  });

  it("numbers job j's choice c as j × n + c, and puts the Cocoon facts only on the answer's last finish chunk", async () => {
    // Act
    const { all, errors } = await twoJobsOfTwo(false);
    // Assess: every chunk a chunk of this answer, no usage key without include_usage
    expect(errors).toStrictEqual([]);
    expect(all.at(-1)).toBe("[DONE]");
    const chunks = chunksOf(all);
    expect(chunks).toHaveLength(all.length - 1);
    for (const c of chunks) {
      expect(c).toMatchObject({ id: "chatcmpl-test", object: "chat.completion.chunk", created: 1_700_000_000, model: MODEL });
      expect(c.choices).toHaveLength(1);
      expect(c).not.toHaveProperty("usage");
    }
    expect(chunks.slice(0, 4).map((c) => c.choices[0].index)).toStrictEqual([0, 1, 2, 3]);
    expect(rowsOf(chunks)).toStrictEqual(
      [
        [0, "assistant", null],
        [1, "assistant", null],
        [2, "assistant", null],
        [3, "assistant", null],
        [0, "job_a#0", null],
        [1, "job_a#1", null],
        [2, "job_b#0", null],
        [3, "job_b#1", null],
        [0, null, "stop"],
        [1, null, "length"],
        [2, null, "stop"],
        [3, null, "length"],
      ].sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y))),
    );
    const withFacts = chunks.filter((c) => "cocoon" in c);
    expect(withFacts).toHaveLength(1);
    expect(withFacts[0]).toBe(chunks.at(-1));
    expect(withFacts[0]!.choices[0].finish_reason).toBeDefined();
    expect(withFacts[0]!.cocoon).toStrictEqual({
      job_ids: ["job_a", "job_b"],
      workers: ["w_job_a", "w_job_b"],
      tiers: ["dev", "dev"],
      cost_nanoton: "220",
    });
  });

  it("with include_usage: usage null on each chunk, no facts on finish chunks, then a choiceless chunk with the summed usage", async () => {
    // Act
    const { all } = await twoJobsOfTwo(true);
    // Assess
    expect(all.at(-1)).toBe("[DONE]");
    const chunks = chunksOf(all);
    const last = chunks.at(-1)!;
    for (const c of chunks.slice(0, -1)) {
      expect(c.usage).toBeNull();
      expect(c.choices).toHaveLength(1);
      expect(c).not.toHaveProperty("cocoon");
    }
    expect(rowsOf(chunks)).toHaveLength(12);
    expect(last).toStrictEqual({
      id: "chatcmpl-test",
      object: "chat.completion.chunk",
      created: 1_700_000_000,
      model: MODEL,
      system_fingerprint: null,
      choices: [],
      usage: { prompt_tokens: 18, completion_tokens: 8, total_tokens: 26 },
      cocoon: { job_ids: ["job_a", "job_b"], workers: ["w_job_a", "w_job_b"], tiers: ["dev", "dev"], cost_nanoton: "220" },
    });
  });

  it("answers no jobs at all with include_usage as zero usage and empty facts", async () => {
    // Act
    const all = await framesOf(streamResponse(aShape({ includeUsage: true }), [], { mapError }));
    // Assess
    expect(all).toStrictEqual([
      {
        id: "chatcmpl-test",
        object: "chat.completion.chunk",
        created: 1_700_000_000,
        model: MODEL,
        system_fingerprint: null,
        choices: [],
        usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
        cocoon: { job_ids: [], workers: [], tiers: [], cost_nanoton: "0" },
      },
      "[DONE]",
    ]);
  });

  it("sends nothing for the items the shape gives no choice for", async () => {
    // Prepare: a shape without start chunks that drops tool pieces (legacy completions)
    const base = aShape();
    const shape = aShape({ choice: (i, item) => (item.kind === "start" || item.kind === "tool" ? undefined : base.choice(i, item)) });
    const streams = await openAll([
      aSource([
        delta("Hi", 0, "job_a"),
        { type: "delta", toolCalls: [{ index: 0, id: "call_1", function: { name: "f" } }] },
        done("job_a"),
      ]),
    ]);
    // Act
    const all = await framesOf(streamResponse(shape, streams, { mapError }));
    // Assess
    expect(all.map((f) => (f === "[DONE]" ? f : f.choices))).toStrictEqual([
      [{ index: 0, delta: { content: "Hi" } }],
      [{ index: 0, delta: {}, finish_reason: "stop" }],
      "[DONE]",
    ]);
  });

  it("ends a failure after the head with an error frame whose param is null when the mapping names none", async () => {
    // Prepare: no signal at all
    const streams = await openAll([aSource([delta("Hi", 0, "job_a")])]);
    const errors: unknown[] = [];
    // Act
    const all = await framesOf(streamResponse(aShape(), streams, { mapError, onError: (e) => void errors.push(e) }));
    // Assess
    expect(all.at(-1)).toStrictEqual({
      error: {
        message: "the answer's stream ended before its final event; what arrived is incomplete",
        type: "server_error",
        param: null,
        code: "stream_truncated",
      },
    });
    expect(all).not.toContain("[DONE]");
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(StreamEndedEarly);
  });

  it("keeps the param the error mapping names", async () => {
    // Prepare
    const streams = await openAll([aSource([delta("Hi", 0, "job_a")])]);
    // Act
    const all = await framesOf(streamResponse(aShape(), streams, { mapError: (e) => ({ ...mapError(e), param: "messages" }) }));
    // Assess
    expect((all.at(-1) as Record<string, any>).error.param).toBe("messages");
  });

  it("sends nothing more, not even [DONE], to an app that goes away mid-stream, closes every source and tells onGone", async () => {
    // Prepare: two workers that send one piece each, then nothing more
    const a = aSource([delta("a", 0, "job_a")], { hang: true });
    const b = aSource([delta("b", 0, "job_b")], { hang: true });
    const streams = await openAll([a, b]);
    const app = new AbortController();
    const told = { gone: 0, errors: 0 };
    const res = streamResponse(aShape(), streams, {
      signal: app.signal,
      mapError,
      onError: () => void told.errors++,
      onGone: () => void told.gone++,
    });
    // Act: the app leaves once both pieces arrived
    const all = await framesOf(res, (f) => {
      if (f !== "[DONE]" && f.choices[0]?.delta.content === "b") app.abort();
    });
    // Assess
    expect(all.at(-1)).not.toBe("[DONE]");
    expect(all.some((f) => f !== "[DONE]" && "error" in f)).toBe(false);
    expect(told).toStrictEqual({ gone: 1, errors: 0 });
    expect([a.returned, b.returned]).toStrictEqual([1, 1]);
  });

  it("ends quietly for an app that goes away mid-stream when nobody listens for it (no onGone)", async () => {
    // Prepare
    const src = aSource([delta("a", 0, "job_a")], { hang: true });
    const app = new AbortController();
    const res = streamResponse(aShape(), await openAll([src]), { signal: app.signal, mapError });
    // Act
    const all = await framesOf(res, (f) => {
      if (f !== "[DONE]" && f.choices[0]?.delta.content === "a") app.abort();
    });
    // Assess
    expect(all.map((f) => (f === "[DONE]" ? f : f.choices[0].delta))).toStrictEqual([{ role: "assistant" }, { content: "a" }]);
  });

  it("treats the network's failure caused by the app going away as the app gone, not as an error", async () => {
    // Prepare: the network rejects its pending read when the app's signal aborts
    const app = new AbortController();
    const src = aSource([delta("a", 0, "job_a")], { rejectOn: app.signal });
    const told = { gone: 0, errors: 0 };
    const res = streamResponse(aShape(), await openAll([src]), {
      signal: app.signal,
      mapError,
      onError: () => void told.errors++,
      onGone: () => void told.gone++,
    });
    // Act
    const all = await framesOf(res, (f) => {
      if (f !== "[DONE]" && f.choices[0]?.delta.content === "a") app.abort();
    });
    // Assess
    expect(all.map((f) => (f === "[DONE]" ? f : f.choices[0].delta))).toStrictEqual([{ role: "assistant" }, { content: "a" }]);
    expect(told).toStrictEqual({ gone: 1, errors: 0 });
  });

  it("ends quietly when the network fails because the app went away and nobody listens for it", async () => {
    // Prepare
    const app = new AbortController();
    const src = aSource([delta("a", 0, "job_a")], { rejectOn: app.signal });
    const res = streamResponse(aShape(), await openAll([src]), { signal: app.signal, mapError });
    // Act
    const all = await framesOf(res, (f) => {
      if (f !== "[DONE]" && f.choices[0]?.delta.content === "a") app.abort();
    });
    // Assess
    expect(all).toHaveLength(2);
  });
});

describe("answer: streamResponse when one of two jobs fails while the other is still generating", () => {
  it("sends the error frame at once, not when the other job's network next moves", async () => {
    // Prepare: job a fails only once job b is waiting on its network for its second event
    const order: string[] = [];
    let fail!: (err: Error) => void;
    let release!: () => void;
    const a: AsyncIterable<AskStreamEvent> = {
      [Symbol.asyncIterator]: () => {
        let pulls = 0;
        return {
          next: () =>
            pulls++ === 0 ? Promise.resolve({ done: false, value: delta("x") }) : new Promise<never>((_, reject) => (fail = reject)),
        };
      },
    };
    const b: AsyncIterable<AskStreamEvent> = {
      [Symbol.asyncIterator]: () => {
        let pulls = 0;
        return {
          next: () =>
            pulls++ === 0
              ? Promise.resolve({ done: false, value: delta("y") })
              : new Promise<IteratorResult<AskStreamEvent>>((resolve) => {
                  fail(new Error("worker lost"));
                  release = () => (order.push("job b moved"), resolve({ done: true, value: undefined }));
                }),
          return: async () => ({ done: true as const, value: undefined }),
        };
      },
    };
    const res = streamResponse(aShape({ n: 2 }), await openAll([a, b]), { mapError });
    // Act: read the answer; job b moves only after the event loop has turned a number of times
    const reading = (async () => {
      for await (const raw of res.body as AsyncIterable<string>) if (raw.includes('"error"')) order.push("error frame");
    })();
    for (let turn = 0; turn < 20; turn++) await new Promise((r) => setImmediate(r));
    release();
    await reading;
    // Assess
    // Regression: merged's finally awaited return() of every pending source, and an async generator
    // (job b's jobItems) busy in its own await takes a return only when that await settles: the app
    // was told of job a's failure only when job b's network next delivered (never, if that worker stalled).
    expect(order).toEqual(["error frame", "job b moved"]);
  });
});

describe("regression: a streamed answer's headers name its job", () => {
  // Regression: a stream's headers carried no x-cocoon-job-id (only its last chunk named the job), so
  // an app that read the headers (openai-node's withResponse()) and then stopped reading mid-answer,
  // or got an error event, had no job to look up (cocoon job JOB_ID), though the job was known
  // before the headers left: the stream is opened on its first event, which names it.
  afterEach(closeProxies);
  const JOB = "job_0123456789abcdefghijklmnop";

  it("on chat completions, completions and responses, streamed through the official client", async () => {
    // Prepare
    const { openai } = await startFakedProxy([{ id: MODEL, capabilities: caps({ completions: true }) }], {
      askStream: () =>
        (async function* (): AsyncGenerator<AskStreamEvent> {
          yield delta("Paris.", 0, JOB);
          yield { type: "done", ...anAnswer(MODEL) };
        })(),
    });
    // Act
    const chat = await openai.chat.completions
      .create({ model: MODEL, messages: [{ role: "user", content: "hi" }], stream: true })
      .withResponse();
    const completion = await openai.completions.create({ model: MODEL, prompt: "Once", stream: true }).withResponse();
    const response = await openai.responses.create({ model: MODEL, input: "hi", stream: true }).withResponse();
    for (const r of [chat, completion, response]) for await (const _ of r.data);
    // Assess
    expect([chat, completion, response].map((r) => r.response.headers.get("x-cocoon-job-id"))).toEqual([JOB, JOB, JOB]);
  });
});
