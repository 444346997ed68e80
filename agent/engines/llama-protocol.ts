import { z } from "zod";
import { SEED_SPAN } from "./engine";

/**
 * The messages between the llama engine (agent process) and its worker (child process that
 * holds the native llama.cpp library). Both sides parse what they receive with these schemas:
 * the worker is trusted code, but a confused or dying child must not be able to hand the
 * agent a malformed result that it then seals and bills.
 */

export const GpuSetting = z.union([z.literal("auto"), z.literal(false), z.enum(["cuda", "vulkan", "metal"])]);
export type GpuSetting = z.infer<typeof GpuSetting>;

const ToolCall = z.object({
  id: z.string().min(1),
  type: z.literal("function"),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});

const Message = z.object({
  role: z.enum(["system", "user", "assistant", "tool"]),
  content: z.string(),
  toolCalls: z.array(ToolCall).optional(),
  toolCallId: z.string().optional(),
});

const Tool = z.object({
  type: z.literal("function"),
  function: z.object({
    name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "function names are 1-64 letters, digits, _ or -"),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  }),
});

const ToolChoice = z.union([
  z.enum(["auto", "none", "required"]),
  z.object({ type: z.literal("function"), function: z.object({ name: z.string().min(1) }) }),
]);

const ResponseFormat = z.union([
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    json_schema: z.object({
      name: z.string().optional(),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullable().optional(),
    }),
  }),
]);

const Sampling = z.object({
  maxTokens: z.number().int().positive(),
  temperature: z.number().min(0).max(2).optional(),
  topP: z.number().gt(0).max(1).optional(),
  /** engineSeed's range: 2^32 − 1 would be llama.cpp's "draw a random seed". None: the worker draws one. */
  seed: z.number().int().min(0).lt(SEED_SPAN).optional(),
  stop: z.array(z.string().min(1)).max(4).optional(),
  responseFormat: ResponseFormat.optional(),
  /**
   * OpenAI's logit_bias: token id (its decimal string) → a value added to that token's logit before
   * sampling, -100 (in effect a ban) to 100 (in effect the only choice), as OpenAI adds it.
   */
  logitBias: z.record(z.string().regex(/^\d+$/, "keys must be token ids (integers, as strings)"), z.number().min(-100).max(100)).optional(),
  /** OpenAI's frequency_penalty and presence_penalty: subtracted from the logit of each token the completion already holds. */
  frequencyPenalty: z.number().min(-2).max(2).optional(),
  presencePenalty: z.number().min(-2).max(2).optional(),
  /** Send deltas as they are generated (otherwise only the final result). */
  stream: z.boolean(),
});

export const ChatJob = Sampling.extend({
  messages: z.array(Message).min(1),
  tools: z.array(Tool).optional(),
  toolChoice: ToolChoice.optional(),
  /** OpenAI's parallel_tool_calls: false allows at most one call. */
  parallelToolCalls: z.boolean().optional(),
});
export type ChatJob = z.infer<typeof ChatJob>;

export const CompletionJob = Sampling.extend({ prompt: z.string() });
export type CompletionJob = z.infer<typeof CompletionJob>;

export const EmbedJob = z.object({ input: z.union([z.array(z.string()), z.array(z.array(z.number().int().nonnegative()))]) });
export type EmbedJob = z.infer<typeof EmbedJob>;

export const LoadOptions = z.object({
  modelPath: z.string().min(1),
  threads: z.number().int().positive(),
  gpu: GpuSetting,
  /** Context window per sequence; absent: the smaller of the model's trained context and 4096. */
  contextSize: z.number().int().positive().optional(),
  /** Jobs run at once (context sequences). */
  parallel: z.number().int().positive(),
});
export type LoadOptions = z.infer<typeof LoadOptions>;

const JobId = z.number().int().nonnegative();

export const ToWorker = z.discriminatedUnion("t", [
  z.object({ t: z.literal("load"), options: LoadOptions }),
  z.object({ t: z.literal("chat"), id: JobId, job: ChatJob }),
  z.object({ t: z.literal("complete"), id: JobId, job: CompletionJob }),
  z.object({ t: z.literal("embed"), id: JobId, job: EmbedJob }),
  /** the prompt tokens a chat or completion job would be billed, counted without running it (answered "counted") */
  z.object({ t: z.literal("count_chat"), id: JobId, job: ChatJob }),
  z.object({ t: z.literal("count_complete"), id: JobId, job: CompletionJob }),
  z.object({ t: z.literal("abort"), id: JobId }),
]);
export type ToWorker = z.infer<typeof ToWorker>;

export const ModelInfo = z.object({
  /** The GGUF's general.name, when it has one. */
  name: z.string().optional(),
  description: z.string().optional(),
  architecture: z.string(),
  contextSize: z.number().int().positive(),
  trainContextSize: z.number().int().positive(),
  embeddingSize: z.number().int().positive(),
  vocabularySize: z.number().int().positive(),
  /** The chat wrapper node-llama-cpp resolved from the model's template (e.g. "JinjaTemplate", "Qwen"). */
  chatWrapper: z.string(),
  /** Function calling through the model's own template. */
  tools: z.boolean(),
  /** "cuda", "vulkan", "metal" or false (CPU). */
  gpu: z.union([z.string(), z.literal(false)]),
  threads: z.number().int().positive(),
  loadMs: z.number().nonnegative(),
});
export type ModelInfo = z.infer<typeof ModelInfo>;

const Usage = z
  .object({
    promptTokens: z.number().int().nonnegative(),
    completionTokens: z.number().int().nonnegative(),
    /** the thought segments' tokens (SegmentTally.thoughtTokens), part of completionTokens; information only */
    reasoningTokens: z.number().int().nonnegative().optional(),
  })
  .refine((u) => u.reasoningTokens === undefined || u.reasoningTokens <= u.completionTokens, {
    message: "reasoningTokens cannot exceed completionTokens",
    path: ["reasoningTokens"],
  });

export const JobResult = z.object({
  text: z.string(),
  /** the model's thought segments (a reasoning model's chain of thought), when its chat wrapper separates them */
  reasoning: z.string().optional(),
  usage: Usage,
  finishReason: z.enum(["stop", "length"]),
  toolCalls: z.array(ToolCall).optional(),
});
export type JobResult = z.infer<typeof JobResult>;

/** Error codes the worker may report; a subset of EngineErrorCode. */
export const WorkerErrorCode = z.enum(["engine_rejected", "engine_aborted", "invalid_request", "model_invalid", "engine_bad_response"]);

export const FromWorker = z.discriminatedUnion("t", [
  z.object({ t: z.literal("ready"), info: ModelInfo }),
  /** stage "binary": no usable llama.cpp build for the GPU setting; "model": the file would not load. */
  z.object({ t: z.literal("load_failed"), stage: z.enum(["binary", "model"]), message: z.string() }),
  /** `hidden`: pieces generated that the text does not show (a tool call's; EngineStreamEvent.hidden) */
  z.object({
    t: z.literal("delta"),
    id: JobId,
    text: z.string(),
    reasoning: z.string().optional(),
    hidden: z.number().int().positive().optional(),
  }),
  z.object({ t: z.literal("done"), id: JobId, result: JobResult }),
  z.object({
    t: z.literal("embedded"),
    id: JobId,
    vectors: z.array(z.array(z.number())),
    promptTokens: z.number().int().nonnegative(),
  }),
  z.object({ t: z.literal("counted"), id: JobId, promptTokens: z.number().int().nonnegative() }),
  z.object({ t: z.literal("error"), id: JobId, code: WorkerErrorCode, message: z.string(), param: z.string().optional() }),
]);
export type FromWorker = z.infer<typeof FromWorker>;

/**
 * What a chat response's segments add to a job (node-llama-cpp's onResponseChunk): a reasoning
 * model's thought segments are generated tokens like the answer's (its onToken and onTextChunk
 * see only the answer), so they count against the job's budget and are billed, and their text
 * is delivered as reasoning. `atBudget` is called once the answer and thoughts together reach
 * `maxTokens` (the caller stops the generation: a thought budget of its own would let a
 * one-token job think for thousands of unpaid tokens).
 */
export class SegmentTally {
  reasoning = "";
  segmentTokens = 0;
  /** the thought segments' tokens alone: the engine's own count of the model's thinking (usage.reasoningTokens) */
  thoughtTokens = 0;
  /**
   * The thought segment still open after the last chunk: `from`, the tokens sampled before its
   * first token, and its text and tokens as delivered. At the budget's end the text the library
   * held back past them is the thought's (llama-worker.ts releaseHeldThought).
   */
  openThought: { from: number; text: string; tokens: number } | undefined;
  private stopped = false;

  constructor(
    private readonly maxTokens: number,
    private readonly answerTokens: () => number,
    private readonly onThought: ((text: string) => void) | undefined,
    private readonly atBudget: () => void,
  ) {}

  chunk(c: {
    type?: string | undefined;
    segmentType?: string | undefined;
    text: string;
    tokens: readonly unknown[];
    /** set on the chunk that closes a segment (node-llama-cpp's LlamaChatResponseSegmentChunk) */
    segmentEndTime?: Date | undefined;
  }): void {
    if (c.type === "segment" && c.segmentType === "thought") {
      if (c.segmentEndTime) this.openThought = undefined;
      else {
        // the tokens sampled so far (this chunk's among them) less this chunk's: where the thought's tokens begin
        this.openThought ??= { from: this.segmentTokens + this.answerTokens() - c.tokens.length, text: "", tokens: 0 };
        this.openThought.text += c.text;
        this.openThought.tokens += c.tokens.length;
      }
    }
    if (c.type === "segment") {
      this.segmentTokens += c.tokens.length;
      if (c.segmentType === "thought") this.thoughtTokens += c.tokens.length;
      if (c.segmentType === "thought" && c.text !== "") this.thought(c.text);
    }
    if (!this.stopped && this.segmentTokens + this.answerTokens() >= this.maxTokens) {
      this.stopped = true;
      this.atBudget();
    }
  }

  /** the budget stopped the generation */
  get exhausted(): boolean {
    return this.stopped;
  }

  /**
   * Delivers what node-llama-cpp held back inside the open thought and dropped at the budget's end,
   * as the thought's last piece: `tokens` sampled tokens, billed, and thinking.
   */
  release(text: string, tokens: number): void {
    this.thoughtTokens += tokens;
    this.thought(text);
  }

  private thought(text: string): void {
    this.reasoning += text;
    this.onThought?.(text);
  }
}

/**
 * The text node-llama-cpp held back and never delivered when the budget ended a generation: the
 * tail of `generated` (the sampled tokens' text) past `delivered` (what the library handed over).
 * The library holds text that could still begin a trigger (a tool call's opening, a JSON grammar's
 * trailing whitespace) and drops it at max_tokens, though those tokens were sampled and are billed.
 * A chat answer's leading spaces and tabs (up to 4: node-llama-cpp's ignoreStartText) may have
 * been dropped before `delivered`. undefined where `delivered` is not how `generated` begins:
 * nothing is then guessed.
 */
export function heldText(generated: string, delivered: string): string | undefined {
  const lead = /^[ \t]{0,4}/.exec(generated)![0].length;
  for (let skip = lead; skip >= 0; skip--) {
    if (generated.startsWith(delivered, skip)) return generated.slice(skip + delivered.length);
  }
  return undefined;
}

/**
 * Held text up to the first call opening in it (`openings`: the template's texts that open a
 * call): node-llama-cpp reports a call only once its name is whole, and a call the budget cut
 * before that is held back with its opening. It is a call, not text: OpenAI never puts a call in
 * the answer's content, so a user would see the template's raw syntax as the answer.
 */
export function beforeCall(held: string, openings: readonly string[]): string {
  const at = openings.map((o) => held.indexOf(o)).filter((i) => i >= 0);
  return at.length ? held.slice(0, Math.min(...at)) : held;
}
