import { createHash } from "node:crypto";
import { contentText } from "../../events/images";
import { setTimeout as sleep } from "node:timers/promises";
import {
  assertValidEngineRequest,
  type Engine,
  EngineError,
  type EngineRequest,
  type EngineResult,
  type EngineStreamEvent,
  throwIfAborted,
} from "./engine";

/**
 * Built-in engines for the local default, tests and benchmarks. They are NOT language
 * models: no weights ship in npm and nothing may be downloaded, so they answer with a
 * deterministic function of the prompt and say so in both their name and their text. The
 * builtin one honours max_tokens and stop as a model does; the sampling fields (temperature,
 * top_p, seed) have nothing to act on.
 */

export const BUILTIN_ENGINE_NAME = "builtin-deterministic (not a real model)";
export const NULL_ENGINE_NAME = "null (simulated, not a real model: empty answers)";
export const BUILTIN_DEFAULT_MODEL = "cocoon-builtin-echo";
export const NULL_DEFAULT_MODEL = "cocoon-null";

/** How many characters of the last user message the builtin answer quotes. */
const QUOTE_CHARS = 200;

// A token is a run of letters/digits/marks, or one single other non-space character.
const TOKEN_RE = /[\p{L}\p{N}\p{M}_]+|[^\s\p{L}\p{N}\p{M}_]/gu;

/**
 * The builtin engines' tokenizer: splits on whitespace and punctuation; every word and
 * every punctuation character is one token. Deterministic and dependency-free; it is used
 * for both prompt and completion counts.
 */
export function builtinTokenize(text: string): string[] {
  return text.match(TOKEN_RE) ?? [];
}

export function builtinCountTokens(text: string): number {
  return builtinTokenize(text).length;
}

/** Prompt tokens = tokens of every message's content (roles are free). */
export function builtinPromptTokens(messages: EngineRequest["messages"]): number {
  let n = 0;
  for (const m of messages) n += builtinCountTokens(contentText(m.content));
  return n;
}

/**
 * Cuts `text` after its `maxTokens`-th token, keeping the original spacing.
 * Returns the kept text, how many tokens it holds and whether anything was cut.
 */
export function truncateToTokens(text: string, maxTokens: number): { text: string; tokens: number; truncated: boolean } {
  let count = 0;
  for (const m of text.matchAll(TOKEN_RE)) {
    if (count === maxTokens) {
      return { text: text.slice(0, m.index).trimEnd(), tokens: count, truncated: true };
    }
    count += 1;
  }
  return { text, tokens: count, truncated: false };
}

/**
 * Cuts `text` into stream deltas, one per token, each carrying the whitespace before its
 * token: the deltas concatenated are exactly `text`.
 */
export function tokenDeltas(text: string): string[] {
  const out: string[] = [];
  let from = 0;
  for (const m of text.matchAll(TOKEN_RE)) {
    const end = m.index + m[0].length;
    out.push(text.slice(from, end));
    from = end;
  }
  if (from < text.length) {
    if (out.length === 0) out.push(text.slice(from));
    else out[out.length - 1] += text.slice(from);
  }
  return out;
}

/**
 * Where the text ends under OpenAI's `stop`: at the start of the earliest stop string in it (the
 * stop string itself is never part of the answer), or undefined when none occurs.
 */
export function stopIndex(text: string, stops: readonly string[]): number | undefined {
  let at: number | undefined;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (at === undefined || i < at)) at = i;
  }
  return at;
}

/** The full (untruncated) deterministic answer of the builtin engine. */
export function builtinAnswer(messages: EngineRequest["messages"]): string {
  const lastUser = [...messages].reverse().find((m) => m.role === "user") ?? messages[messages.length - 1];
  const said = lastUser ? contentText(lastUser.content).replace(/\s+/g, " ").trim() : "";
  const quoted = said.length > QUOTE_CHARS ? `${said.slice(0, QUOTE_CHARS)}…` : said;
  const words = said.length === 0 ? 0 : said.split(" ").length;
  const digest = createHash("sha256")
    .update(JSON.stringify(messages.map((m) => [m.role, contentText(m.content)])))
    .digest("hex")
    .slice(0, 12);
  return `[builtin engine — not a real model] You said: ${quoted === "" ? "(nothing)" : quoted}. Word count: ${words}. SHA-256: ${digest}.`;
}

async function checkModelAndSignal(req: EngineRequest, served: readonly string[], engine: string): Promise<void> {
  assertValidEngineRequest(req, engine);
  throwIfAborted(req.signal, engine);
  if (!served.includes(req.model)) {
    throw new EngineError(
      "model_not_served",
      `model "${req.model}" is not served by ${engine}; it serves: ${served.join(", ") || "(none)"}`,
      { engine },
    );
  }
}

export interface BuiltinEngineOptions {
  /** Model names this engine answers to. Default ["cocoon-builtin-echo"]. */
  models?: string[];
  /** Simulated generation time per completion token (0 = instant). */
  delayMsPerToken?: number;
}

async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch (err) {
    throwIfAborted(signal, BUILTIN_ENGINE_NAME);
    throw err;
  }
}

export function createBuiltinEngine(opts: BuiltinEngineOptions = {}): Engine {
  const served = [...(opts.models ?? [BUILTIN_DEFAULT_MODEL])];
  const delayMsPerToken = opts.delayMsPerToken ?? 0;
  if (!Number.isFinite(delayMsPerToken) || delayMsPerToken < 0) {
    throw new EngineError("invalid_request", `delayMsPerToken must be a non-negative number, got ${delayMsPerToken}`, {
      engine: BUILTIN_ENGINE_NAME,
    });
  }
  /**
   * The answer as a model would give it: generated token by token up to maxTokens, and ended
   * before a stop string that the generated text holds (as OpenAI ends it: "stop", the stop string
   * left out). Only the returned text's tokens are billed.
   */
  const answer = (req: EngineRequest) => {
    const cut = truncateToTokens(builtinAnswer(req.messages), req.maxTokens);
    const at = stopIndex(cut.text, req.stop ?? []);
    const text = at === undefined ? cut.text : cut.text.slice(0, at);
    const result: EngineResult = {
      text,
      usage: {
        promptTokens: builtinPromptTokens(req.messages),
        completionTokens: at === undefined ? cut.tokens : builtinCountTokens(text),
      },
      finishReason: at === undefined && cut.truncated ? "length" : "stop",
      engine: BUILTIN_ENGINE_NAME,
    };
    return result;
  };
  return {
    name: BUILTIN_ENGINE_NAME,
    async models() {
      return [...served];
    },
    async capabilities() {
      return { chat: true, completions: false, embeddings: false, streaming: true, tools: false, jsonSchema: false, vision: false };
    },
    /** One delta per token, `delayMsPerToken` apart (the first one too): a stand-in for a model's generation pace. */
    async *stream(req: EngineRequest): AsyncGenerator<EngineStreamEvent> {
      await checkModelAndSignal(req, served, BUILTIN_ENGINE_NAME);
      const result = answer(req);
      for (const text of tokenDeltas(result.text)) {
        if (delayMsPerToken > 0) await pause(delayMsPerToken, req.signal);
        throwIfAborted(req.signal, BUILTIN_ENGINE_NAME);
        yield { type: "delta", text };
      }
      yield { type: "done", result };
    },
    async generate(req: EngineRequest): Promise<EngineResult> {
      await checkModelAndSignal(req, served, BUILTIN_ENGINE_NAME);
      const result = answer(req);
      if (delayMsPerToken > 0) await pause(delayMsPerToken * result.usage.completionTokens, req.signal);
      return result;
    },
  };
}

export interface NullEngineOptions {
  /** Model names this engine answers to. Default ["cocoon-null"]. */
  models?: string[];
}

/** For benchmarks: answers "" at once with usage {1, 1}. Simulated, not a model. */
export function createNullEngine(opts: NullEngineOptions = {}): Engine {
  const served = [...(opts.models ?? [NULL_DEFAULT_MODEL])];
  return {
    name: NULL_ENGINE_NAME,
    async models() {
      return [...served];
    },
    async generate(req: EngineRequest): Promise<EngineResult> {
      await checkModelAndSignal(req, served, NULL_ENGINE_NAME);
      return { text: "", usage: { promptTokens: 1, completionTokens: 1 }, finishReason: "stop", engine: NULL_ENGINE_NAME };
    },
  };
}
