/**
 * The llama engine's child process: the only process that loads the native llama.cpp
 * library and the model file. llama.cpp aborts its process on some malformed inputs; here
 * that takes down this child only, and the engine in the agent fails the job(s) it was
 * running and starts a fresh child for the next one (llama.ts).
 *
 * Speaks llama-protocol.ts over the IPC channel; every message in is zod-parsed. One
 * "load", then any number of jobs, each on its own context sequence (at most `parallel`
 * at once: the parent queues the rest). Exits when the parent goes away.
 */
import { randomBytes, randomInt } from "node:crypto";
import {
  type ChatHistoryItem,
  type ChatModelFunctionCall,
  type ChatModelFunctions,
  type ChatWrapper,
  getLlama,
  JinjaTemplateChatWrapper,
  type Llama,
  LlamaChat,
  LlamaCompletion,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaEmbeddingContext,
  type LlamaGrammar,
  LlamaLogLevel,
  type LlamaModel,
  LlamaText,
  resolveChatWrapper,
  type Token,
  TokenBias,
} from "node-llama-cpp";
import { SEED_SPAN } from "./engine";
import {
  type ChatJob,
  type CompletionJob,
  type EmbedJob,
  type FromWorker,
  beforeCall,
  heldText,
  type JobResult,
  type LoadOptions,
  type ModelInfo,
  SegmentTally,
  ToWorker,
} from "./llama-protocol";

class JobError extends Error {
  constructor(
    readonly code: "engine_rejected" | "engine_aborted" | "invalid_request" | "engine_bad_response",
    message: string,
    readonly param?: string,
  ) {
    super(message);
  }
}

class LoadError extends Error {
  constructor(
    readonly stage: "binary" | "model",
    message: string,
  ) {
    super(message);
  }
}

function send(m: FromWorker): void {
  process.send?.(m);
}

interface Loaded {
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
  free: LlamaContextSequence[];
  wrapper: ChatWrapper;
  /** The texts that open a call in the wrapper's syntax (callOpenings). */
  callOpenings: string[];
  info: ModelInfo;
  embedding?: Promise<LlamaEmbeddingContext>;
}

let loaded: Loaded | undefined;
let loading: Promise<void> | undefined;
/** Per running job: its abort controller and whether the parent (not a stop string) aborted it. */
const running = new Map<number, { ac: AbortController; byParent: boolean }>();
let embedChain: Promise<unknown> = Promise.resolve();

/**
 * Function calling "where the template supports it": a Jinja template that handles `tools`
 * and from which node-llama-cpp extracted a call syntax, or a specialised wrapper with a
 * call syntax of its own. The library's generic fallback syntax (which the model was never
 * trained on) does not count.
 */
function templateSupportsTools(wrapper: ChatWrapper, template: string | undefined): boolean {
  const fns = wrapper.settings.functions;
  const generic = JSON.stringify(fns) === JSON.stringify((wrapper.constructor as typeof ChatWrapper).defaultSettings?.functions);
  if (wrapper instanceof JinjaTemplateChatWrapper) {
    return (
      !!template &&
      /\btools\b/.test(template) &&
      (wrapper as unknown as { _usingJinjaFunctionCallTemplate?: boolean })._usingJinjaFunctionCallTemplate === true
    );
  }
  return !generic && !["General", "ChatML", "AlpacaChat", "FalconChat", "Empty", "Template"].includes(wrapper.wrapperName ?? "");
}

/**
 * The texts that open a call in the wrapper's syntax, as LlamaChat detects a call's start: each
 * call prefix after each opening of a section of calls.
 */
function callOpenings(wrapper: ChatWrapper): string[] {
  const fns = wrapper.settings.functions;
  const sections = [fns.parallelism?.call.sectionPrefix ?? "", ...(fns.parallelism?.call.sectionPrefixAlternateMatches ?? [])];
  const prefixes = [fns.call.prefix, ...(fns.call.prefixAlternateMatches ?? [])];
  return sections.flatMap((section) => prefixes.map((prefix) => LlamaText([section, prefix]).toString())).filter((t) => t !== "");
}

async function load(o: LoadOptions): Promise<void> {
  const t0 = performance.now();
  let llama: Llama;
  try {
    llama = await getLlama({
      gpu: o.gpu,
      build: "never", // never compile or download at run time: the prebuilt binary or nothing
      logLevel: LlamaLogLevel.error,
      maxThreads: o.threads,
    });
  } catch (err) {
    throw new LoadError(
      "binary",
      `no usable llama.cpp build for gpu=${String(o.gpu)} (GPU builds are opt-in: agent/engines/README.md): ${(err as Error).message}`,
    );
  }
  const model = await llama.loadModel({ modelPath: o.modelPath, ...(llama.gpu === false ? { gpuLayers: 0 } : {}) });
  const trainContextSize = model.trainContextSize;
  const contextSize = Math.min(o.contextSize ?? Math.min(trainContextSize, 4096), trainContextSize);
  const context = await model.createContext({ contextSize, sequences: o.parallel, threads: o.threads });
  const free: LlamaContextSequence[] = [];
  for (let i = 0; i < o.parallel; i++) free.push(context.getSequence());
  const wrapper = resolveChatWrapper(model);
  const meta = model.fileInfo.metadata as unknown as {
    general?: { name?: string; description?: string; architecture?: string };
    tokenizer?: { chat_template?: string; ggml?: { tokens?: unknown[] } };
  };
  const info: ModelInfo = {
    ...(meta.general?.name ? { name: meta.general.name } : {}),
    ...(meta.general?.description ? { description: meta.general.description } : {}),
    architecture: String(meta.general?.architecture ?? "unknown"),
    contextSize: context.contextSize,
    trainContextSize,
    embeddingSize: model.embeddingVectorSize,
    vocabularySize: Math.max(1, meta.tokenizer?.ggml?.tokens?.length ?? 1),
    chatWrapper: wrapper.wrapperName ?? "unknown",
    tools: templateSupportsTools(wrapper, meta.tokenizer?.chat_template),
    gpu: llama.gpu,
    threads: o.threads,
    loadMs: Math.round(performance.now() - t0),
  };
  loaded = { llama, model, context, free, wrapper, callOpenings: callOpenings(wrapper), info };
  send({ t: "ready", info });
}

/**
 * OpenAI stop strings, applied to the text (node-llama-cpp's own stop triggers match per
 * token and miss strings that span a leading space). Deltas hold back any tail that could
 * still become a stop string, so no stop text is ever streamed.
 */
class TextSink {
  full = "";
  private emitted = 0;
  stopped = false;
  constructor(
    private readonly stops: string[],
    private readonly onDelta: ((text: string) => void) | undefined,
    private readonly onStop: () => void,
    /**
     * Grammar-bound JSON: end as soon as the value is whole. The JSON grammar admits trailing
     * whitespace, and a weak model can spend all of max_tokens on it.
     */
    private readonly json = false,
  ) {}

  push(chunk: string): void {
    if (this.stopped || chunk === "") return;
    this.full += chunk;
    if (this.json) {
      const t = this.full.trimEnd();
      if (t.endsWith("}") || t.endsWith("]")) {
        try {
          JSON.parse(t);
          this.full = t;
          this.flush(t.length);
          this.stopped = true;
          this.onStop();
          return;
        } catch {
          // not whole yet
        }
      }
    }
    let cut = -1;
    for (const s of this.stops) {
      const i = this.full.indexOf(s, Math.max(0, this.emitted - s.length));
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.full = this.full.slice(0, cut);
      this.flush(cut);
      this.stopped = true;
      this.onStop();
      return;
    }
    let hold = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.full.length); k > hold; k--) {
        if (this.full.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    this.flush(this.full.length - hold);
  }

  finish(): string {
    this.flush(this.full.length);
    return this.full;
  }

  private flush(to: number): void {
    if (to > this.emitted) {
      this.onDelta?.(this.full.slice(this.emitted, to));
      this.emitted = to;
    }
  }
}

/**
 * A job's streamed deltas, merged per turn of the event loop: at most one delta per sampled token.
 * node-llama-cpp hands one sampled token's text over in several chunks where it re-tokenizes it
 * (the chat answer's leading space dropped: one " cocoon" token came back as six chunks,
 * c-o-c-o-o-n), all at once, and the agent takes more pieces than max_tokens for an engine that
 * ignores it (agent/execute.ts). Sampling the next token waits on native code, so the chunks of
 * one token share a turn.
 */
function deltasOf(id: number) {
  let text = "";
  let reasoning = "";
  let hidden = 0;
  const flush = () => {
    if (text === "" && reasoning === "" && hidden === 0) return;
    send({ t: "delta", id, text, ...(reasoning ? { reasoning } : {}), ...(hidden ? { hidden } : {}) });
    text = "";
    reasoning = "";
    hidden = 0;
  };
  const later = () => {
    if (text === "" && reasoning === "" && hidden === 0) queueMicrotask(flush);
  };
  return {
    text: (t: string) => {
      later();
      text += t;
    },
    reasoning: (r: string) => {
      later();
      reasoning += r;
    },
    /**
     * review41: a chunk of a tool call generated (its parameters, or a forced call's JSON), which
     * the result carries whole rather than the stream: one hidden piece, so that a cancel bills it
     */
    hidden: () => {
      later();
      hidden++;
    },
    flush,
  };
}

/** Extra tokens the library adds around an embedding or completion input (BOS/EOS), mirrored to count usage exactly. */
function framingTokens(model: LlamaModel, tokens: readonly Token[], forEmbedding: boolean): number {
  const vt = String(model.vocabularyType);
  const t = model.tokens;
  let bos: Token | null = null;
  if (vt === "wpm") bos = t.bos;
  else if (vt !== "rwkv" && vt !== "ugm" && t.shouldPrependBosToken) bos = t.bos;
  let n = bos != null && tokens[0] !== bos ? 1 : 0;
  if (forEmbedding) {
    let eos: Token | null = null;
    if (vt === "wpm") eos = t.sep;
    else if (vt === "ugm") eos = t.eos;
    else if (vt !== "rwkv" && t.shouldAppendEosToken) eos = t.eos;
    if (eos != null && tokens.at(-1) !== eos) n++;
  }
  return n;
}

async function grammarFor(l: Loaded, job: { responseFormat?: ChatJob["responseFormat"] }): Promise<LlamaGrammar | undefined> {
  const rf = job.responseFormat;
  if (!rf || rf.type === "text") return undefined;
  try {
    if (rf.type === "json_object") return await l.llama.getGrammarFor("json");
    const schema = rf.json_schema.schema ?? {};
    // node-llama-cpp's JSON-schema grammar supports a subset of JSON Schema; it throws on what it cannot express.
    return await l.llama.createGrammarForJsonSchema(schema as Parameters<Llama["createGrammarForJsonSchema"]>[0]);
  } catch (err) {
    throw new JobError(
      "engine_rejected",
      `response_format: this engine cannot turn the schema into a grammar: ${(err as Error).message}`,
      "response_format",
    );
  }
}

function isJson(job: ChatJob | CompletionJob): boolean {
  return job.responseFormat !== undefined && job.responseFormat.type !== "text";
}

function callId(): string {
  return `call_${randomBytes(12).toString("base64url")}`;
}

/** OpenAI messages → node-llama-cpp chat history (tool results attach to the calls they answer). */
function toHistory(messages: ChatJob["messages"]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  const calls = new Map<string, ChatModelFunctionCall>();
  for (const m of messages) {
    if (m.role === "system") history.push({ type: "system", text: m.content });
    else if (m.role === "user") history.push({ type: "user", text: m.content });
    else if (m.role === "assistant") {
      const response: Array<string | ChatModelFunctionCall> = [];
      if (m.content !== "") response.push(m.content);
      for (const c of m.toolCalls ?? []) {
        let params: unknown;
        try {
          params = JSON.parse(c.function.arguments);
        } catch {
          params = c.function.arguments;
        }
        const call: ChatModelFunctionCall = { type: "functionCall", name: c.function.name, params, result: undefined };
        calls.set(c.id, call);
        response.push(call);
      }
      history.push({ type: "model", response });
    } else {
      const call = m.toolCallId === undefined ? undefined : calls.get(m.toolCallId);
      if (!call)
        throw new JobError(
          "invalid_request",
          `a tool message answers tool_call_id ${JSON.stringify(m.toolCallId)}, which no earlier assistant message made`,
          "messages",
        );
      let result: unknown;
      try {
        result = JSON.parse(m.content);
      } catch {
        result = m.content;
      }
      call.result = result;
    }
  }
  for (const c of calls.values()) if (c.result === undefined) c.result = null;
  history.push({ type: "model", response: [] });
  return history;
}

/**
 * A forced call (forcedCallSchema's object) cut before its end: its name, when written whole, and
 * its arguments as far as they were written (broken JSON, as OpenAI gives a call the budget cut);
 * undefined while the name itself is unfinished.
 */
function cutCall(text: string): { name: string; arguments: string } | undefined {
  const m = /^\s*\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"arguments"\s*:\s*([\s\S]*)$/.exec(text);
  if (!m) return undefined;
  try {
    const name = JSON.parse(`"${m[1]!}"`) as string;
    return name ? { name, arguments: m[2]! } : undefined;
  } catch {
    return undefined;
  }
}

/** A cut call's arguments: compact JSON where the budget ended just after they closed, else as written. */
function wholeJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return text;
  }
}

/** The JSON Schema a forced tool call must match: {"name": one of the tools, "arguments": its parameters}. */
function forcedCallSchema(tools: NonNullable<ChatJob["tools"]>): Record<string, unknown> {
  const one = (t: (typeof tools)[number]) => ({
    type: "object",
    properties: { name: { const: t.function.name }, arguments: t.function.parameters ?? { type: "object" } },
    required: ["name", "arguments"],
  });
  return tools.length === 1 ? one(tools[0]!) : { oneOf: tools.map(one) };
}

/**
 * Records the tokens the model samples on `seq` until `stop()` (every generation, LlamaChat's and
 * LlamaCompletion's, samples through the sequence's evaluate): node-llama-cpp drops the text it
 * holds back when max_tokens ends a generation, and these are what that text is recovered from.
 */
function recordSampled(seq: LlamaContextSequence): { tokens: Token[]; stop: () => void } {
  const tokens: Token[] = [];
  const evaluate = seq.evaluate;
  seq.evaluate = async function* (input, options) {
    const inner = evaluate.call(seq, input, options);
    try {
      let r = await inner.next();
      while (r.done !== true) {
        tokens.push(r.value);
        r = await inner.next(yield r.value);
      }
    } finally {
      await inner.return();
    }
  };
  return { tokens, stop: () => Reflect.deleteProperty(seq, "evaluate") };
}

/**
 * Hands `sink` the text node-llama-cpp held back and dropped at the budget's end (see heldText):
 * the first `budget` sampled tokens are billed, so their text is delivered, as content, as the
 * stream's last piece. Only theirs: LlamaCompletion samples on past max_tokens while the last token
 * ends in an unfinished character, and a token past the budget is neither billed nor the answer's.
 * Not a call the budget cut before its name was whole (from one of `openings` on: beforeCall).
 */
function releaseHeld(
  l: Loaded,
  sink: TextSink,
  sampled: Token[],
  budget: number,
  context: readonly Token[],
  openings: readonly string[] = [],
): void {
  const held = heldText(l.model.detokenize(sampled.slice(0, budget), false, context), sink.full);
  if (held) sink.push(beforeCall(held, openings));
}

/**
 * The same inside a thought segment still open at the budget's end (a reasoning model cut while
 * thinking): the text held back past the thought's delivered text is the thought's, delivered as
 * reasoning, its last piece. Its tokens are those sampled from the thought's first token on.
 */
function releaseHeldThought(l: Loaded, segments: SegmentTally, sampled: Token[], budget: number, context: readonly Token[]): void {
  const open = segments.openThought!;
  const tokens = sampled.slice(open.from, budget);
  const held = heldText(l.model.detokenize(tokens, false, [...context, ...sampled.slice(0, open.from)]), open.text);
  // the held tokens: those sampled past the ones the thought's chunks reported (which node-llama-cpp
  // may count re-tokenized, more than were sampled: then none are counted again)
  if (held) segments.release(held, Math.max(0, tokens.length - open.tokens));
}

function finishReasonOf(stopReason: string, sink: TextSink, clamped: boolean): JobResult["finishReason"] {
  if (sink.stopped) return "stop";
  if (stopReason === "maxTokens") return "length";
  return clamped && stopReason === "abort" ? "length" : "stop";
}

async function withSequence<T>(l: Loaded, fn: (seq: LlamaContextSequence) => Promise<T>): Promise<T> {
  const seq = l.free.pop();
  if (!seq) throw new JobError("engine_rejected", "no free context sequence (the parent sent more jobs than `parallel`)");
  try {
    // A fresh history per job: the same prompt gives the same tokens whatever ran before.
    await seq.clearHistory();
    return await fn(seq);
  } finally {
    l.free.push(seq);
  }
}

interface Generated {
  text: string;
  completionTokens: number;
  finishReason: JobResult["finishReason"];
}

/** Sampling options common to both generation paths; `maxTokens`: the most this generation makes. */
function samplingOptions(l: Loaded, job: ChatJob | CompletionJob, maxTokens: number) {
  const frequencyPenalty = job.frequencyPenalty ?? 0;
  const presencePenalty = job.presencePenalty ?? 0;
  return {
    // OpenAI samples at temperature 1 unless told otherwise; node-llama-cpp's default, 0, is greedy.
    temperature: job.temperature ?? 1,
    ...(job.topP !== undefined ? { topP: job.topP } : {}),
    // No seed asked: a fresh one for each generation. node-llama-cpp's default is the current
    // second, so every choice of an n > 1 job, and any two alike requests in one second, were one.
    seed: job.seed ?? randomInt(0, SEED_SPAN),
    ...(job.logitBias ? { tokenBias: tokenBiasOf(l, job.logitBias) } : {}),
    // OpenAI's penalties, as llama.cpp's penalties sampler applies them: each token's logit less
    // its count in the completion so far × frequency_penalty, less presence_penalty once it is there.
    // Over the whole completion (node-llama-cpp's default window is its last 64 tokens), newlines
    // included (excluded by default), and without node-llama-cpp's own repeat penalty (penalty 1),
    // which OpenAI does not have. None asked: none applied, as OpenAI applies none by default.
    repeatPenalty:
      frequencyPenalty === 0 && presencePenalty === 0
        ? (false as const)
        : { lastTokens: maxTokens, penalty: 1, frequencyPenalty, presencePenalty, penalizeNewLine: true },
  };
}

/**
 * OpenAI's logit_bias as node-llama-cpp's TokenBias: each value added to its token's logit as is
 * ({logit}), as OpenAI adds it, so -100 is in effect a ban and 100 in effect the only choice
 * (unless a grammar, response_format's or a forced call's, rules the token out). Refused, rather
 * than a bias silently not applied: an id past the vocabulary, as OpenAI refuses it (llama.cpp
 * skips it, and node-llama-cpp hands ids to it as 32-bit integers, so 2^32 + 7 would bias token 7),
 * and an end-of-generation token, which TokenBias leaves unbiased whatever the value.
 */
function tokenBiasOf(l: Loaded, logitBias: NonNullable<ChatJob["logitBias"]>): TokenBias {
  const bias = new TokenBias(l.model.tokenizer);
  for (const [key, value] of Object.entries(logitBias)) {
    const token = Number(key) as Token;
    if (!Number.isSafeInteger(token) || token >= l.info.vocabularySize)
      throw new JobError(
        "invalid_request",
        `logit_bias: token id ${key} is outside this model's vocabulary (${l.info.vocabularySize})`,
        "logit_bias",
      );
    if (l.model.isEogToken(token))
      throw new JobError(
        "engine_rejected",
        `logit_bias: token ${key} ends the generation, and this engine (llama.cpp) cannot bias end-of-generation tokens`,
        "logit_bias",
      );
    bias.set(token, { logit: value });
  }
  return bias;
}

/**
 * Continues a token sequence as is (no chat template): text completions, and forced tool
 * calls (the chat prompt rendered by the template, then a grammar-bound JSON call).
 */
async function continueTokens(
  id: number,
  l: Loaded,
  tokens: Token[],
  o: {
    job: ChatJob | CompletionJob;
    maxTokens: number;
    grammar?: LlamaGrammar;
    json: boolean;
    stops: string[];
    stream: boolean;
    /** the text is a forced tool call's: streamed as hidden pieces only (deltasOf hidden) */
    hide?: boolean;
  },
): Promise<Generated> {
  return withSequence(l, async (seq) => {
    const ac = new AbortController();
    const entry = { ac, byParent: false };
    running.set(id, entry);
    const deltas = deltasOf(id);
    const sink = new TextSink(o.stops, o.stream ? deltas.text : undefined, () => ac.abort(), o.json);
    // The tokens the model sampled (as in runChat): onToken misses some (a forced call cut at 3 tokens reported 1).
    const before = seq.tokenMeter.usedOutputTokens;
    const completion = new LlamaCompletion({ contextSequence: seq });
    const sampled = recordSampled(seq);
    try {
      const r = await completion.generateCompletionWithMeta(tokens, {
        maxTokens: o.maxTokens,
        ...samplingOptions(l, o.job, o.maxTokens),
        ...(o.grammar ? { grammar: o.grammar } : {}),
        signal: ac.signal,
        stopOnAbortSignal: true,
        disableContextShift: true,
        onTextChunk: (t) => {
          sink.push(t);
          if (o.hide && t !== "") deltas.hidden();
        },
      });
      const completionTokens = seq.tokenMeter.usedOutputTokens - before - (r.metadata.stopReason === "eogToken" ? 1 : 0);
      if (entry.byParent) throw new JobError("engine_aborted", "generation aborted by the caller");
      const clamped = o.maxTokens < o.job.maxTokens;
      if (finishReasonOf(r.metadata.stopReason, sink, clamped) === "length") releaseHeld(l, sink, sampled.tokens, o.maxTokens, tokens);
      const text = sink.finish();
      deltas.flush();
      return { text, completionTokens, finishReason: finishReasonOf(r.metadata.stopReason, sink, clamped) };
    } finally {
      sampled.stop();
      running.delete(id);
      completion.dispose({ disposeSequence: false });
    }
  });
}

/** The tools as node-llama-cpp's chat wrappers take them (the template documents their parameters). */
function chatFunctions(tools: NonNullable<ChatJob["tools"]>): ChatModelFunctions {
  return Object.fromEntries(
    tools.map((t) => [
      t.function.name,
      {
        ...(t.function.description ? { description: t.function.description } : {}),
        ...(t.function.parameters ? { params: t.function.parameters as never } : {}),
      },
    ]),
  );
}

/** The prompt exactly as the template renders it (tools included): its length is the prompt usage. */
function chatPrompt(l: Loaded, history: ReturnType<typeof toHistory>, functions: ChatModelFunctions | undefined): Token[] {
  try {
    const state = l.wrapper.generateContextState({
      chatHistory: history,
      ...(functions ? { availableFunctions: functions, documentFunctionParams: true } : {}),
    });
    return state.contextText.tokenize(l.model.tokenizer);
  } catch (err) {
    throw new JobError("engine_rejected", `messages: the model's chat template cannot render them: ${(err as Error).message}`, "messages");
  }
}

/** A completion's prompt tokens as billed: plain text (no control tokens), with the BOS/EOS the library adds. */
function completionPrompt(l: Loaded, prompt: string): { tokens: Token[]; promptTokens: number } {
  const tokens = l.model.tokenize(prompt, false);
  return { tokens, promptTokens: tokens.length + framingTokens(l.model, tokens, false) };
}

/**
 * The prompt tokens a job would be billed, counted as runChat and runCompletion count them, without
 * evaluating anything (a cancelled job's prompt: agent/execute.ts promptTokensOf). Tools count
 * where the job would use them.
 */
function countPrompt(job: { chat: ChatJob } | { complete: CompletionJob }): number {
  const l = loaded!;
  if ("complete" in job) return completionPrompt(l, job.complete.prompt).promptTokens;
  const tools = job.chat.tools ?? [];
  const useTools = tools.length > 0 && (job.chat.toolChoice ?? "auto") !== "none" && l.info.tools;
  return chatPrompt(l, toHistory(job.chat.messages), useTools ? chatFunctions(tools) : undefined).length;
}

async function runChat(id: number, job: ChatJob): Promise<JobResult> {
  const l = loaded!;
  const tools = job.tools ?? [];
  const choice = job.toolChoice ?? "auto";
  const useTools = tools.length > 0 && choice !== "none";
  if (useTools && !l.info.tools) {
    throw new JobError("engine_rejected", `tools: this model's chat template (${l.info.chatWrapper}) has no function calling`, "tools");
  }
  if (useTools && job.responseFormat && job.responseFormat.type !== "text") {
    throw new JobError(
      "engine_rejected",
      "response_format: a JSON response format cannot be combined with tools on this engine",
      "response_format",
    );
  }
  let forcedTools = tools;
  if (typeof choice === "object") {
    forcedTools = tools.filter((t) => t.function.name === choice.function.name);
    if (forcedTools.length === 0)
      throw new JobError("invalid_request", `tool_choice names ${choice.function.name}, which is not in tools`, "tool_choice");
  }
  /** "required" or a named function: the call is forced by a grammar instead of left to the model. */
  const forced = useTools && choice !== "auto";
  const functions = useTools ? chatFunctions(tools) : undefined;

  const history = toHistory(job.messages);
  let grammar: LlamaGrammar | undefined;
  try {
    grammar = forced
      ? await l.llama.createGrammarForJsonSchema(forcedCallSchema(forcedTools) as Parameters<Llama["createGrammarForJsonSchema"]>[0])
      : await grammarFor(l, job);
  } catch (err) {
    if (err instanceof JobError) throw err;
    throw new JobError(
      "engine_rejected",
      `tools: this engine cannot turn the function parameters into a grammar: ${(err as Error).message}`,
      "tools",
    );
  }

  const promptTokens = chatPrompt(l, history, functions);
  const room = l.info.contextSize - promptTokens.length;
  if (room < 1) {
    throw new JobError(
      "engine_rejected",
      `messages: the prompt is ${promptTokens.length} tokens, the context window ${l.info.contextSize}`,
      "messages",
    );
  }
  const maxTokens = Math.min(job.maxTokens, room);
  const usage = (completionTokens: number) => ({
    promptTokens: promptTokens.length,
    completionTokens: Math.min(completionTokens, job.maxTokens),
  });

  if (forced) {
    // The rendered prompt, continued under a grammar that only admits {"name", "arguments"}.
    // LlamaCompletion adds the BOS itself, so the rendered one is dropped here.
    const bos = l.model.tokens.bos;
    const input = bos != null && promptTokens[0] === bos && framingTokens(l.model, [], false) === 1 ? promptTokens.slice(1) : promptTokens;
    const g = await continueTokens(id, l, input, {
      job,
      maxTokens,
      grammar: grammar!,
      json: true,
      stops: [],
      stream: false,
      hide: job.stream === true,
    });
    try {
      const call = JSON.parse(g.text) as { name: string; arguments: unknown };
      return {
        text: "",
        usage: usage(g.completionTokens),
        finishReason: g.finishReason,
        toolCalls: [{ id: callId(), type: "function", function: { name: call.name, arguments: JSON.stringify(call.arguments) } }],
      };
    } catch {
      // Cut off by max_tokens before the JSON closed: the call as far as it was written, as OpenAI
      // answers a cut call (finish_reason "length", the arguments broken JSON), once its name is whole.
      const cut = cutCall(g.text);
      return {
        text: "",
        usage: usage(g.completionTokens),
        finishReason: "length",
        ...(cut ? { toolCalls: [{ id: callId(), type: "function" as const, function: cut }] } : {}),
      };
    }
  }

  return withSequence(l, async (seq) => {
    const ac = new AbortController();
    const entry = { ac, byParent: false };
    running.set(id, entry);
    const deltas = deltasOf(id);
    const sink = new TextSink(job.stop ?? [], job.stream ? deltas.text : undefined, () => ac.abort(), isJson(job));
    // The tokens the model really sampled, thoughts and calls included: node-llama-cpp's onToken
    // reports the answer's tokens after its own rewriting (the response's leading space dropped and
    // the rest re-tokenized: one " cocoon" token came back as six, c-o-c-o-o-n), so counting
    // onToken stopped the answer early at a "budget" it had not spent and billed tokens it never
    // generated. The sequence's meter counts one output per sample.
    const meter = seq.tokenMeter;
    const before = meter.usedOutputTokens;
    const sampled = () => meter.usedOutputTokens - before;
    const segments: SegmentTally = new SegmentTally(
      maxTokens,
      (): number => sampled() - segments.segmentTokens,
      job.stream ? deltas.reasoning : undefined,
      () => ac.abort(),
    );
    /**
     * The calls node-llama-cpp began, by callIndex: it reports a call's parameters only once the
     * call's syntax and its name are whole, so each entry is a call the model really started.
     * Its `functionCalls` holds only the finished ones, and a call cut by max_tokens is not among them.
     */
    const begun: Array<{ name: string; params: string }> = [];
    const chat = new LlamaChat({ contextSequence: seq, chatWrapper: l.wrapper, autoDisposeSequence: false });
    const sampledTokens = recordSampled(seq);
    try {
      const r = await chat.generateResponse(history, {
        maxTokens,
        ...samplingOptions(l, job, maxTokens),
        signal: ac.signal,
        stopOnAbortSignal: true,
        onTextChunk: (t: string) => sink.push(t),
        onResponseChunk: (c: { type?: string; segmentType?: string; text: string; tokens: Token[]; segmentEndTime?: Date }) =>
          segments.chunk(c),
        budgets: { thoughtTokens: maxTokens },
        ...(grammar ? { grammar } : {}),
        ...(functions
          ? {
              functions,
              documentFunctionParams: true,
              // the chat wrapper's syntax may allow several calls in a row: parallel_tool_calls false allows one
              ...(job.parallelToolCalls === false ? { maxParallelFunctionCalls: 1 } : {}),
              onFunctionCallParamsChunk: (c: { callIndex: number; functionName: string; paramsChunk: string }) => {
                (begun[c.callIndex] ??= { name: c.functionName, params: "" }).params += c.paramsChunk;
                if (job.stream && c.paramsChunk !== "") deltas.hidden();
              },
            }
          : {}),
      } as Parameters<LlamaChat["generateResponse"]>[1]);
      if (entry.byParent) throw new JobError("engine_aborted", "generation aborted by the caller");
      const stopReason = r.metadata.stopReason;
      // The model ended the answer, even on the budget's last token (the thought tally then reports
      // the budget spent): with an end token, or with the end text of its template (node-llama-cpp's
      // stop-generation triggers). "stop", as the answer is whole, and nothing held is released:
      // the end text is the template's, not the answer's.
      const ended = stopReason === "eogToken" || stopReason === "stopGenerationTrigger";
      const byBudget = () =>
        !ended && !sink.stopped && (segments.exhausted || finishReasonOf(stopReason, sink, maxTokens < job.maxTokens) === "length");
      const finished = r.functionCalls ?? [];
      // Held text in which no call began with its name: the open thought's, where the budget ended
      // one, else the answer's, less a call whose name the budget cut (no text of the answer). Where
      // thoughts came before the answer, the answer's start in the sampled text is not known: none.
      if (byBudget() && finished.length === 0 && begun.length === 0) {
        if (segments.openThought) releaseHeldThought(l, segments, sampledTokens.tokens, maxTokens, promptTokens);
        else if (segments.segmentTokens === 0)
          releaseHeld(l, sink, sampledTokens.tokens, maxTokens, promptTokens, functions ? l.callOpenings : []);
      }
      const text = sink.finish();
      deltas.flush();
      // after the release: held text that completes a stop string ends the answer there
      const finishReason = byBudget() ? "length" : "stop";
      const toolCalls = finished.map((c) => ({
        id: callId(),
        type: "function" as const,
        function: { name: String(c.functionName), arguments: JSON.stringify(c.params ?? {}) },
      }));
      // A call the budget cut: as far as it was written, as OpenAI answers one (finish_reason
      // "length", the arguments broken JSON), like the forced path's cutCall.
      const cut = finishReason === "length" ? begun[finished.length] : undefined;
      if (cut) toolCalls.push({ id: callId(), type: "function", function: { name: cut.name, arguments: wholeJson(cut.params) } });
      // The end-of-generation token that ended the answer is not billed (nor delivered), as OpenAI does not bill it.
      const billed = usage(sampled() - (r.metadata.stopReason === "eogToken" ? 1 : 0));
      return {
        text,
        ...(segments.reasoning ? { reasoning: segments.reasoning } : {}),
        // The thought segments' tokens as the engine generated them: exact (0 for a model that did not
        // think), and within the billed completion it is part of.
        usage: { ...billed, reasoningTokens: Math.min(segments.thoughtTokens, billed.completionTokens) },
        finishReason,
        ...(toolCalls.length ? { toolCalls } : {}),
      };
    } finally {
      sampledTokens.stop();
      running.delete(id);
      chat.dispose({ disposeSequence: false });
    }
  });
}

async function runCompletion(id: number, job: CompletionJob): Promise<JobResult> {
  const l = loaded!;
  const grammar = await grammarFor(l, job);
  // Plain text: a prompt cannot smuggle in control tokens such as <|im_start|>.
  const { tokens, promptTokens } = completionPrompt(l, job.prompt);
  const room = l.info.contextSize - promptTokens;
  if (room < 1) throw new JobError("engine_rejected", `prompt: ${promptTokens} tokens, the context window ${l.info.contextSize}`, "prompt");
  const maxTokens = Math.min(job.maxTokens, room);
  const g = await continueTokens(id, l, tokens, {
    job,
    maxTokens,
    ...(grammar ? { grammar } : {}),
    json: isJson(job),
    stops: job.stop ?? [],
    stream: job.stream,
  });
  return {
    text: g.text,
    usage: { promptTokens, completionTokens: Math.min(g.completionTokens, job.maxTokens) },
    finishReason: g.finishReason,
  };
}

async function runEmbed(job: EmbedJob): Promise<{ vectors: number[][]; promptTokens: number }> {
  const l = loaded!;
  l.embedding ??= l.model.createEmbeddingContext({ contextSize: l.info.contextSize, threads: l.info.threads });
  const ctx = await l.embedding;
  const vectors: number[][] = [];
  let promptTokens = 0;
  for (const [i, input] of job.input.entries()) {
    let tokens: Token[];
    if (typeof input === "string") {
      tokens = l.model.tokenize(input, false);
    } else {
      // Ids outside the vocabulary would index past the embedding table in native code.
      const bad = input.find((t) => t >= l.info.vocabularySize);
      if (bad !== undefined)
        throw new JobError(
          "invalid_request",
          `input[${i}]: token id ${bad} is outside this model's vocabulary (${l.info.vocabularySize})`,
          "input",
        );
      tokens = input as Token[];
    }
    if (tokens.length === 0) throw new JobError("invalid_request", `input[${i}] is empty`, "input");
    const n = tokens.length + framingTokens(l.model, tokens, true);
    if (n >= l.info.contextSize)
      throw new JobError("engine_rejected", `input[${i}] is ${n} tokens, the embedding window ${l.info.contextSize}`, "input");
    const e = await ctx.getEmbeddingFor([...tokens]);
    vectors.push([...e.vector]);
    promptTokens += n;
  }
  return { vectors, promptTokens };
}

function reportError(id: number, err: unknown): void {
  if (err instanceof JobError) {
    send({ t: "error", id, code: err.code, message: err.message, ...(err.param ? { param: err.param } : {}) });
  } else {
    send({ t: "error", id, code: "engine_rejected", message: `the model refused this job: ${(err as Error)?.message ?? String(err)}` });
  }
}

function onMessage(raw: unknown): void {
  const parsed = ToWorker.safeParse(raw);
  if (!parsed.success) {
    // Only our own parent talks to us: a malformed message is a bug, reported and ignored.
    process.stderr.write(`llama-worker: ignored a malformed message: ${parsed.error.message.slice(0, 300)}\n`);
    return;
  }
  const m = parsed.data;
  if (m.t === "load") {
    if (loading) return;
    loading = load(m.options).catch((err: unknown) => {
      send({ t: "load_failed", stage: err instanceof LoadError ? err.stage : "model", message: (err as Error)?.message ?? String(err) });
    });
    return;
  }
  if (m.t === "abort") {
    const r = running.get(m.id);
    if (r) {
      r.byParent = true;
      r.ac.abort();
    }
    return;
  }
  if (!loaded) {
    send({ t: "error", id: m.id, code: "engine_rejected", message: "the model is not loaded yet" });
    return;
  }
  if (m.t === "count_chat" || m.t === "count_complete") {
    try {
      send({ t: "counted", id: m.id, promptTokens: countPrompt(m.t === "count_chat" ? { chat: m.job } : { complete: m.job }) });
    } catch (err) {
      reportError(m.id, err);
    }
    return;
  }
  if (m.t === "chat") {
    runChat(m.id, m.job).then(
      (result) => send({ t: "done", id: m.id, result }),
      (err) => reportError(m.id, err),
    );
  } else if (m.t === "complete") {
    runCompletion(m.id, m.job).then(
      (result) => send({ t: "done", id: m.id, result }),
      (err) => reportError(m.id, err),
    );
  } else {
    const job = m.job;
    const p = embedChain.then(() => runEmbed(job));
    embedChain = p.catch(() => {});
    p.then(
      (r) => send({ t: "embedded", id: m.id, vectors: r.vectors, promptTokens: r.promptTokens }),
      (err) => reportError(m.id, err),
    );
  }
}

process.on("message", onMessage);
// Ctrl-C in a terminal reaches the whole process group: the agent drains on it (the running jobs
// finish), so this child must outlive it. It ends with the agent (disconnect) or its SIGTERM.
process.on("SIGINT", () => {});
// The agent is gone (or closed us): nothing left to serve.
process.on("disconnect", () => process.exit(0));
