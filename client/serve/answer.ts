import { randomBytes } from "node:crypto";
import { jsonResponse, type HttpResponse } from "../../edge/http";
import { finishReasonOf } from "../sdk";
import type {
  AskChoice,
  AskFn,
  AskRequest,
  AskResult,
  AskStreamEvent,
  AskStreamFn,
  OpenAiErrorMapping,
  TokenLogprob,
  ToolCall,
  ToolCallDelta,
} from "./types";

export { finishReasonOf };

/**
 * A choice's finish_reason in chat and completions answers. OpenAI's has no value for a job its
 * requester cancelled (finishReason "cancelled": the worker stopped there, billing what it
 * generated), nor one an app could take for it ("length" would have it retry with a larger
 * budget, "content_filter" blame the content): "stop", the model stopped, which is what happened,
 * on the requester's word. Whoever cancelled knows; the SDK's own result still says "cancelled".
 */
export const openAiFinishReason = (c: Parameters<typeof finishReasonOf>[0]): "stop" | "length" | "tool_calls" => {
  const r = finishReasonOf(c);
  return r === "cancelled" ? "stop" : r;
};

/** How answers go back to the app: OpenAI JSON, or server-sent events as the network delivers them. */

/** The Cocoon facts of the jobs behind one answer (several with n > 1). */
type JobFacts = Pick<AskResult, "jobId" | "workerId" | "tier" | "cost">;

export function cocoonHeaders(results: JobFacts[]): Record<string, string> {
  return {
    "x-cocoon-job-id": results.map((r) => r.jobId).join(","),
    "x-cocoon-worker": results.map((r) => r.workerId).join(","),
    "x-cocoon-tier": results.map((r) => r.tier).join(","),
    "x-cocoon-cost-nanoton": results.reduce((n, r) => n + BigInt(r.cost), 0n).toString(),
  };
}

/** The same facts inside the last chunk of a stream, whose headers left before any job finished. */
export const cocoonFacts = (results: JobFacts[]) => ({
  job_ids: results.map((r) => r.jobId),
  workers: results.map((r) => r.workerId),
  tiers: results.map((r) => r.tier),
  cost_nanoton: results.reduce((n, r) => n + BigInt(r.cost), 0n).toString(),
});

/** OpenAI's usage object, summed over the jobs (each job's prompt is billed on its own). */
export function usageOf(results: AskResult[]) {
  const prompt = results.reduce((n, r) => n + r.usage.promptTokens, 0);
  const completion = results.reduce((n, r) => n + r.usage.completionTokens, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/**
 * How many of the jobs' completion tokens were the model's thinking, summed: each job's count as
 * its worker's engine reported it (usage.reasoningTokens), 0 for a job that delivered no thinking
 * and has no count (nothing to count: as an OpenAI-compatible server says of a model without a
 * reasoning parser). Undefined when a job thought but its engine did not count it (an engine that
 * does not report it, an older worker, a cancelled job): never estimated, and a partial sum would
 * pass for the whole.
 */
export function reasoningTokensOf(results: AskResult[]): number | undefined {
  let sum = 0;
  for (const r of results) {
    const n = r.usage.reasoningTokens ?? (choicesOf(r).some((c) => c.reasoning) ? undefined : 0);
    if (n === undefined) return undefined;
    sum += n;
  }
  return sum;
}

/** A chat completion's usage: OpenAI's, with completion_tokens_details.reasoning_tokens where it is known (left out where not). */
export function chatUsageOf(results: AskResult[]) {
  const reasoning = reasoningTokensOf(results);
  return { ...usageOf(results), ...(reasoning !== undefined ? { completion_tokens_details: { reasoning_tokens: reasoning } } : {}) };
}

export const jsonAnswer = (results: AskResult[], body: unknown): HttpResponse => jsonResponse(200, body, cocoonHeaders(results));

/** Splits finished text into word-sized pieces (whitespace kept), so that joining them gives it back. */
export function streamPieces(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [];
}

/** The choices of one job's answer, choice 0 first. */
export const choicesOf = (r: AskResult): AskChoice[] =>
  r.choices?.length
    ? r.choices
    : [
        {
          index: 0,
          text: r.text,
          ...(r.toolCalls?.length ? { toolCalls: r.toolCalls } : {}),
          finishReason: r.finishReason,
          ...(r.logprobs ? { logprobs: r.logprobs } : {}),
          ...(r.reasoning ? { reasoning: r.reasoning } : {}),
        },
      ];

/**
 * A streamed ask: the network's own stream, or for a proxy built without one, the finished
 * answer cut into word pieces (the first token then comes only when the last was generated).
 */
export function streamOf(ask: AskFn, askStream: AskStreamFn | undefined, req: AskRequest): AsyncIterable<AskStreamEvent> {
  if (askStream) return askStream(req);
  return (async function* () {
    const r = await ask(req);
    for (const c of choicesOf(r)) {
      if (c.reasoning) yield { type: "delta" as const, text: "", reasoning: c.reasoning, index: c.index, jobId: r.jobId };
      for (const text of streamPieces(c.text)) yield { type: "delta" as const, text, index: c.index, jobId: r.jobId };
    }
    yield { type: "done" as const, ...r };
  })();
}

/** A stream whose first event has arrived: a failure before it is still an HTTP status, after it an SSE error event. */
export interface OpenedStream {
  first: IteratorResult<AskStreamEvent>;
  rest: AsyncIterator<AskStreamEvent>;
}

export async function openStream(events: AsyncIterable<AskStreamEvent>): Promise<OpenedStream> {
  const rest = events[Symbol.asyncIterator]();
  return { first: await rest.next(), rest };
}

/** Opens all streams; if one fails before its first event, the others are closed and the failure is the answer. */
export async function openAll(streams: AsyncIterable<AskStreamEvent>[]): Promise<OpenedStream[]> {
  const opened = await Promise.allSettled(streams.map(openStream));
  const failed = opened.find((o) => o.status === "rejected");
  if (failed) {
    await Promise.allSettled(opened.map((o) => (o.status === "fulfilled" ? o.value.rest.return?.() : undefined)));
    throw (failed as PromiseRejectedResult).reason;
  }
  return opened.map((o) => (o as PromiseFulfilledResult<OpenedStream>).value);
}

/** The job id the stream's first event names, if any (a stream's id is known before its job finishes only then). */
export const firstJobId = (s: OpenedStream | undefined) =>
  s && !s.first.done && s.first.value.type === "delta" ? s.first.value.jobId : undefined;

/** The headers of an event stream; `x-cocoon-job-id` when every stream's first event named its job (the rest of cocoonHeaders comes only with the last chunk). */
export function streamHeaders(streams: OpenedStream[]): Record<string, string> {
  const ids = streams.map(firstJobId);
  return {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
    // An app that stops reading mid-answer (or sees an error event) can still look its job up: it never reads the last chunk.
    ...(ids.length && ids.every((i) => i !== undefined) ? { "x-cocoon-job-id": ids.join(",") } : {}),
  };
}

/**
 * One job's stream, normalized: text and tool-call pieces per choice (each call's first piece
 * complete with id, type, name and arguments), a finish per choice, then the result.
 */
export type JobItem =
  | { kind: "text"; choice: number; text: string; logprobs?: TokenLogprob[]; /** the model's thinking before `text` */ reasoning?: string }
  | { kind: "tool"; choice: number; delta: ToolCallDelta }
  | { kind: "finish"; choice: number; reason: string }
  | { kind: "result"; result: AskResult };

function isWhole(c: ToolCallDelta | ToolCall): c is ToolCall {
  return typeof (c as ToolCallDelta).index !== "number";
}

export async function* jobItems(s: OpenedStream, signal?: AbortSignal): AsyncGenerator<JobItem> {
  const calls = new Map<number, { started: Set<number>; whole: number }>();
  const stateOf = (choice: number) => calls.get(choice) ?? calls.set(choice, { started: new Set(), whole: 0 }).get(choice)!;
  const piece = (choice: number, c: ToolCallDelta | ToolCall): ToolCallDelta => {
    const st = stateOf(choice);
    const d: ToolCallDelta = isWhole(c)
      ? { index: st.whole++, id: c.id, type: "function", function: { name: c.function.name, arguments: c.function.arguments } }
      : { ...c };
    if (!st.started.has(d.index)) {
      // The openai clients' stream helpers need id, type, name and arguments on a call's first piece.
      st.started.add(d.index);
      d.id ??= `call_${randomBytes(12).toString("hex")}`;
      d.type ??= "function";
      d.function = { name: d.function?.name ?? "", arguments: d.function?.arguments ?? "" };
    }
    return d;
  };
  // The app went away: stop waiting for the network (its generator is closed in `finally`).
  const gone = new Promise<"gone">((resolve) =>
    signal?.aborted ? resolve("gone") : signal?.addEventListener("abort", () => resolve("gone"), { once: true }),
  );
  let shown = false;
  let ev = s.first;
  try {
    while (!ev.done) {
      if (signal?.aborted) return;
      const e = ev.value;
      if (e.type === "restart") {
        // The next worker starts over; text already sent cannot be taken back from the app.
        if (shown) throw new StreamRestarted();
      } else if (e.type === "delta") {
        const choice = e.index ?? 0;
        if (e.text || e.reasoning || e.logprobs?.length) {
          shown = true;
          yield {
            kind: "text",
            choice,
            text: e.text ?? "",
            ...(e.reasoning ? { reasoning: e.reasoning } : {}),
            ...(e.logprobs?.length ? { logprobs: e.logprobs } : {}),
          };
        }
        for (const c of e.toolCalls ?? []) {
          shown = true;
          yield { kind: "tool", choice, delta: piece(choice, c) };
        }
      } else {
        const { type: _type, ...result } = e;
        for (const c of choicesOf(result)) {
          // Calls the network delivered only with the result (an engine that does not stream them).
          if (!calls.get(c.index)?.started.size)
            for (const call of c.toolCalls ?? []) yield { kind: "tool", choice: c.index, delta: piece(c.index, call) };
          yield { kind: "finish", choice: c.index, reason: openAiFinishReason(c) };
        }
        yield { kind: "result", result };
        return;
      }
      const next = await Promise.race([s.rest.next(), gone]);
      if (next === "gone") return;
      ev = next;
    }
    throw new StreamEndedEarly();
  } finally {
    // Not awaited: a generator still busy in its own await takes the return when it next yields.
    if (!ev.done) s.rest.return?.().catch(() => {});
  }
}

/** The network's stream ended without its final event: the answer is incomplete and must not pass as whole. */
export class StreamEndedEarly extends Error {
  readonly code = "stream_truncated";
  constructor() {
    super("the answer's stream ended before its final event; what arrived is incomplete");
  }
}

/** The worker failed after text was sent and the job went to another worker, which starts over. */
export class StreamRestarted extends Error {
  readonly code = "stream_restarted";
  constructor() {
    super(
      "the worker failed mid-answer and the job moved to another worker, which starts over: the text sent so far is void; send the request again",
    );
  }
}

/** Interleaves several async iterators as their items come; each item tagged with its source. */
export async function* merged<T>(sources: AsyncIterator<T>[]): AsyncGenerator<{ from: number; value: T }> {
  const next = (i: number) => sources[i]!.next().then((r) => ({ i, r }));
  const pending = new Map(sources.map((_, i) => [i, next(i)] as const));
  try {
    while (pending.size > 0) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done) pending.delete(i);
      else {
        pending.set(i, next(i));
        yield { from: i, value: r.value };
      }
    }
  } finally {
    // Not awaited: a source busy in its own await (a job whose network is quiet) takes the return
    // only when that await settles, and the reader (an error frame to send, an app gone) must not
    // wait on the slowest worker for it.
    for (const i of pending.keys())
      void Promise.resolve()
        .then(() => sources[i]!.return?.())
        .catch(() => {});
  }
}

export type ChunkItem = { kind: "start" } | Exclude<JobItem, { kind: "result" }>;

export interface StreamShape {
  id: string;
  object: string;
  created: number;
  model: string;
  includeUsage: boolean;
  /** Choices per job: job j's choice c is the answer's choice j × n + c. */
  n: number;
  /** The chunk's choice for one item of the answer's choice `index`; undefined (or none) sends nothing, several send a chunk each. */
  choice(index: number, item: ChunkItem): Record<string, unknown> | Record<string, unknown>[] | undefined;
  /** The last chunk's usage (include_usage), default usageOf: chat's adds completion_tokens_details (chatUsageOf). */
  usage?: (results: AskResult[]) => Record<string, unknown>;
}

/**
 * The SSE body of one or more jobs' streams: chunks as the items come (each stream's first
 * event has already arrived), the same id on each, `usage: null` on each when usage was asked
 * for, then a chunk with `choices: []` and the summed usage, then `data: [DONE]`. A failure after
 * the head went out becomes an `error` event (which the openai clients raise as an APIError),
 * never a silently shortened answer. An app that went away (`signal`) is sent nothing more, not
 * even [DONE], and is no error: `onGone` is told instead of `onError`.
 */
export function streamResponse(
  shape: StreamShape,
  streams: OpenedStream[],
  o: { signal?: AbortSignal; mapError(err: unknown): OpenAiErrorMapping; onError?: (err: unknown) => void; onGone?: () => void },
): HttpResponse {
  const frame = (choices: unknown[]) => ({
    id: shape.id,
    object: shape.object,
    created: shape.created,
    model: shape.model,
    system_fingerprint: null,
    choices,
    ...(shape.includeUsage ? { usage: null } : {}),
  });
  async function* chunks() {
    const results: AskResult[] = [];
    for (let i = 0; i < streams.length * shape.n; i++) for (const c of [shape.choice(i, { kind: "start" }) ?? []].flat()) yield frame([c]);
    let held: Record<string, unknown>[] = [];
    let finished = 0;
    for await (const { from, value } of merged(streams.map((s) => jobItems(s, o.signal)))) {
      if (value.kind === "result") {
        results[from] = value.result;
        finished++;
        // Without include_usage no chunk may lack choices (OpenAI never sends one, and apps index
        // choices[0]): the Cocoon facts ride on the answer's last finish chunk instead.
        if (finished === streams.length && !shape.includeUsage && held.length)
          held[held.length - 1] = { ...held.at(-1), cocoon: cocoonFacts(results) };
        yield* held;
        held = [];
        continue;
      }
      for (const c of [shape.choice(from * shape.n + value.choice, value) ?? []].flat())
        if (value.kind === "finish") held.push(frame([c]));
        else yield frame([c]);
    }
    if (o.signal?.aborted || !shape.includeUsage) return;
    yield { ...frame([]), usage: (shape.usage ?? usageOf)(results), cocoon: cocoonFacts(results) };
  }
  async function* events() {
    try {
      for await (const c of chunks()) yield `data: ${JSON.stringify(c)}\n\n`;
    } catch (err) {
      if (o.signal?.aborted) {
        o.onGone?.();
        return;
      }
      o.onError?.(err);
      const e = o.mapError(err);
      yield `data: ${JSON.stringify({ error: { message: e.message, type: e.type, param: e.param ?? null, code: e.code } })}\n\n`;
      return;
    }
    if (o.signal?.aborted) {
      o.onGone?.();
      return;
    }
    yield "data: [DONE]\n\n";
  }
  return {
    status: 200,
    headers: streamHeaders(streams),
    body: events(),
  };
}
