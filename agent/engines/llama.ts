import { type ChildProcess, fork } from "node:child_process";
import { availableParallelism } from "node:os";
import { createRequire } from "node:module";
import { basename, dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { z } from "zod";
import {
  assertValidCompletionRequest,
  assertValidEngineRequest,
  type Engine,
  type EngineCapabilities,
  type EngineCompletionRequest,
  type EngineEmbedRequest,
  type EngineEmbedResult,
  EngineError,
  type EngineRequest,
  type EngineResult,
  type EngineStreamEvent,
  engineSeed,
  throwIfAborted,
} from "./engine";
import { contentText } from "../../events/images";
import { fileIdentity, sha256File, validateGguf } from "./gguf";
import {
  ChatJob,
  CompletionJob,
  EmbedJob,
  FromWorker,
  type GpuSetting,
  type JobResult,
  type ModelInfo,
  type ToWorker,
} from "./llama-protocol";

/**
 * The embedded llama.cpp engine: serves one GGUF file through node-llama-cpp (pinned
 * 3.21.1, prebuilt binaries only: `build: "never"`), in a CHILD PROCESS (llama-worker.ts).
 *
 * Why a child: llama.cpp aborts its process on some malformed model files and inputs (a
 * native assert, not an exception). Here that kills the child only: the job(s) it was
 * running fail with EngineError 'engine_crashed' (the agent reports the job failed; the
 * coordinator fails it over or refunds), and the next job starts a fresh child. Before any
 * child loads the file, the agent checks its GGUF structure itself (gguf.ts) and hashes it:
 * that SHA-256 is the model digest the agent advertises, and a restarted child loads the file
 * only if it still has that digest.
 *
 * Threads are set explicitly (llama.cpp's default thread count is ~250x slower than 1
 * thread on a busy 2-core machine); GPU is used when the machine has one and a GPU build is
 * installed (`gpu: "auto"`; see README.md in this folder for the opt-in), else CPU.
 */

export interface LlamaEngineOptions {
  /** Path of the .gguf file. */
  modelFile: string;
  /** The model name requesters ask for; default: the file name without ".gguf". */
  modelName?: string;
  /** CPU threads for evaluation; default: half the cores, at least 1 (1 on a 2-core machine). */
  threads?: number;
  /** "auto" (default): a GPU when there is one and its binary is installed, else CPU; false: CPU only. */
  gpu?: GpuSetting;
  /** Context window per job in tokens; default: the smaller of the model's trained context and 4096. */
  contextSize?: number;
  /** Jobs run at once in the child (llama.cpp context sequences); more wait in order. Default 1. */
  parallel?: number;
  /** How long loading may take before the child is killed; default 300 s. */
  loadTimeoutMs?: number;
  /** The child's stderr lines (llama.cpp errors), for the agent's log. */
  onLog?: (line: string) => void;
  /**
   * TESTS ONLY: skip the header check, so that a malformed file reaches the native loader
   * and the test can show the child's crash stays in the child.
   */
  unsafeSkipHeaderValidation?: boolean;
}

export interface LlamaLoadInfo extends ModelInfo {
  file: string;
  /** SHA-256 (hex) of the model file: the model digest the agent advertises. */
  digest: string;
  /** True when the file says its weights are random (the project's own test model). */
  randomWeights: boolean;
}

export interface LlamaEngine extends Required<Omit<Engine, "health">> {
  readonly modelFile: string;
  readonly modelName: string;
  /** Checks, hashes and loads the model (once; again after a crash). Throws EngineError('model_invalid'). */
  load(): Promise<LlamaLoadInfo>;
  /** The current child's pid, when one runs (tests kill it). */
  readonly workerPid: number | undefined;
  close(): Promise<void>;
}

const WORKER_FILE = fileURLToPath(new URL("./llama-worker.ts", import.meta.url));
const STDERR_TAIL = 2000;

/** The child runs TypeScript through tsx, like the agent itself. */
function tsxLoader(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
}

export function defaultThreads(): number {
  return Math.max(1, Math.floor(availableParallelism() / 2));
}

type Pending =
  | {
      kind: "gen";
      onDelta?: (text: string, reasoning?: string, hidden?: number) => void;
      resolve: (r: JobResult) => void;
      reject: (e: Error) => void;
    }
  | { kind: "embed"; resolve: (r: { vectors: number[][]; promptTokens: number }) => void; reject: (e: Error) => void }
  | { kind: "count"; resolve: (promptTokens: number) => void; reject: (e: Error) => void };

interface Worker {
  child: ChildProcess;
  pending: Map<number, Pending>;
  ready: Promise<ModelInfo>;
  /** Set once this child has loaded the model: only then does it get jobs. */
  info?: LlamaLoadInfo;
  exited: boolean;
  stderr: string;
}

function firstIssue(err: z.ZodError): { param: string; message: string } {
  const i = err.issues[0];
  const path = (i?.path ?? []).map(String);
  const param =
    (
      {
        maxTokens: "max_tokens",
        topP: "top_p",
        responseFormat: "response_format",
        toolChoice: "tool_choice",
        logitBias: "logit_bias",
        frequencyPenalty: "frequency_penalty",
        presencePenalty: "presence_penalty",
      } as Record<string, string>
    )[path[0] ?? ""] ??
    path[0] ??
    "(request)";
  return { param, message: `${path.join(".") || "(request)"}: ${i?.message ?? "invalid"}` };
}

export function createLlamaEngine(opts: LlamaEngineOptions): LlamaEngine {
  const modelFile = resolve(opts.modelFile);
  const modelName = opts.modelName ?? basename(modelFile).replace(/\.gguf$/i, "");
  const threads = opts.threads ?? defaultThreads();
  const parallel = opts.parallel ?? 1;
  const gpu: GpuSetting = opts.gpu ?? "auto";
  const loadTimeoutMs = opts.loadTimeoutMs ?? 300_000;
  if (!Number.isSafeInteger(threads) || threads < 1)
    throw new EngineError("invalid_request", `threads must be a positive integer, got ${threads}`);
  if (!Number.isSafeInteger(parallel) || parallel < 1)
    throw new EngineError("invalid_request", `parallel must be a positive integer, got ${parallel}`);

  let name = `llama.cpp ${basename(modelFile)}`;
  let worker: Worker | undefined;
  let starting: Promise<{ worker: Worker; info: LlamaLoadInfo }> | undefined;
  let advertised: { digest: string; identity: string; randomWeights: boolean } | undefined;
  let closed = false;
  let nextId = 1;
  // Jobs running in the child, at most `parallel`; the rest wait here in order.
  let active = 0;
  const waiting: Array<() => void> = [];

  /**
   * The file the child will load: structurally valid and, once a load succeeded, still the
   * bytes whose digest the agent advertised.
   */
  async function checkFile(): Promise<{ digest: string; identity: string; randomWeights: boolean }> {
    let identity: string;
    try {
      identity = await fileIdentity(modelFile);
    } catch (err) {
      throw new EngineError(
        "model_invalid",
        `the model file ${modelFile} cannot be read: ${(err as Error).message}`,
        { engine: name },
        { cause: err },
      );
    }
    if (advertised && advertised.identity === identity) return advertised;
    let randomWeights = false;
    if (!opts.unsafeSkipHeaderValidation) {
      const summary = await validateGguf(modelFile);
      const description = `${summary.metadata["general.name"] ?? ""} ${summary.metadata["general.description"] ?? ""}`;
      randomWeights = /random weights/i.test(description);
    }
    const digest = await sha256File(modelFile);
    if (advertised && advertised.digest !== digest) {
      throw new EngineError(
        "model_invalid",
        `the model file ${modelFile} changed on disk: its SHA-256 is ${digest}, the agent advertised ${advertised.digest}; restart the agent to serve the new file`,
        { engine: name },
      );
    }
    return { digest, identity, randomWeights };
  }

  function failAll(w: Worker, err: EngineError): void {
    for (const p of w.pending.values()) p.reject(err);
    w.pending.clear();
  }

  function spawnWorker(): Worker {
    const child = fork(WORKER_FILE, [], {
      execArgv: ["--import", tsxLoader()],
      serialization: "advanced",
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      // Never let the library try to download or build anything at run time.
      env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: "true" },
    });
    const w: Worker = { child, pending: new Map(), exited: false, stderr: "", ready: undefined as unknown as Promise<ModelInfo> };
    const onText = (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      w.stderr = (w.stderr + text).slice(-STDERR_TAIL);
      if (opts.onLog) for (const line of text.split("\n")) if (line.trim()) opts.onLog(line);
    };
    child.stderr?.on("data", onText);
    child.stdout?.on("data", onText);
    w.ready = new Promise<ModelInfo>((resolveReady, rejectReady) => {
      let loadedOk = false;
      const timer = setTimeout(() => {
        rejectReady(new EngineError("engine_timeout", `loading ${modelFile} took longer than ${loadTimeoutMs} ms`, { engine: name }));
        child.kill("SIGKILL");
      }, loadTimeoutMs);
      const died = (how: string) => {
        w.exited = true;
        clearTimeout(timer);
        if (!loadedOk) {
          // The bundle's child imports node-llama-cpp from beside it (README step 2): without it the
          // child dies before reading the file, which was then blamed ("malformed") with a stack trace.
          const notInstalled = /Cannot find (?:package|module) 'node-llama-cpp'/.test(w.stderr);
          rejectReady(
            notInstalled
              ? new EngineError(
                  "engine_unavailable",
                  `node-llama-cpp is not installed where the engine process (${WORKER_FILE}) can import it: install it once, next to it: ` +
                    `cd ${dirname(WORKER_FILE)} && npm install node-llama-cpp@3.21.1 (agent/engines/README.md); ${modelFile} was not read`,
                  { engine: name },
                )
              : new EngineError(
                  "model_invalid",
                  `the engine process ${how} while loading ${modelFile}: the file is malformed or not supported by llama.cpp${tail(w)}`,
                  {
                    engine: name,
                  },
                ),
          );
        }
        // No output of the child here, unlike a failed load: once jobs ran, what it printed can
        // hold any running job's text (one child serves every requester), and this text goes
        // sealed to each of them and, as the engine's down reason, to /status, which the host
        // reads (session 23 privacy review). The operator sees that output with --log-engine.
        failAll(
          w,
          new EngineError(
            "engine_crashed",
            `the engine process ${how} while running this job; the next job starts a fresh one (its output is not quoted here: it can hold request text)`,
            { engine: name },
          ),
        );
        if (worker === w) worker = undefined;
      };
      child.on("exit", (code, signal) => died(signal ? `was killed by ${signal}` : `exited with code ${code}`));
      child.on("error", (err) => {
        if (!w.exited) child.kill("SIGKILL");
        died(`failed (${err.message})`);
      });
      child.on("message", (raw: unknown) => {
        const parsed = FromWorker.safeParse(raw);
        if (!parsed.success) {
          // A confused child: stop trusting it; its exit fails what it was running.
          opts.onLog?.(`llama worker sent a malformed message; killing it: ${parsed.error.message.slice(0, 200)}`);
          child.kill("SIGKILL");
          return;
        }
        const m = parsed.data;
        if (m.t === "ready") {
          loadedOk = true;
          clearTimeout(timer);
          resolveReady(m.info);
          return;
        }
        if (m.t === "load_failed") {
          clearTimeout(timer);
          rejectReady(
            m.stage === "binary"
              ? new EngineError("engine_unavailable", m.message, { engine: name })
              : new EngineError("model_invalid", `llama.cpp could not load ${modelFile}: ${m.message}`, { engine: name }),
          );
          child.kill("SIGKILL");
          return;
        }
        const p = w.pending.get(m.id);
        if (!p) return; // a job we already gave up on (aborted or timed out)
        if (m.t === "delta") {
          if (p.kind === "gen") p.onDelta?.(m.text, m.reasoning, m.hidden);
          return;
        }
        w.pending.delete(m.id);
        if (m.t === "error") p.reject(new EngineError(m.code, m.message, { engine: name, ...(m.param ? { param: m.param } : {}) }));
        else if (m.t === "done" && p.kind === "gen") p.resolve(m.result);
        else if (m.t === "embedded" && p.kind === "embed") p.resolve({ vectors: m.vectors, promptTokens: m.promptTokens });
        else if (m.t === "counted" && p.kind === "count") p.resolve(m.promptTokens);
        else
          p.reject(new EngineError("engine_bad_response", `the engine process answered a ${p.kind} job with "${m.t}"`, { engine: name }));
      });
    });
    w.ready.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection
    const load: ToWorker = {
      t: "load",
      options: { modelPath: modelFile, threads, gpu, parallel, ...(opts.contextSize ? { contextSize: opts.contextSize } : {}) },
    };
    child.send(load);
    return w;
  }

  /** A loaded child: the current one, or a fresh one (file checked first). Concurrent callers share one start. */
  async function ensureWorker(): Promise<{ worker: Worker; info: LlamaLoadInfo }> {
    if (closed) throw new EngineError("engine_unavailable", "the engine is closed", { engine: name });
    if (worker && !worker.exited && worker.info) return { worker, info: worker.info };
    starting ??= (async () => {
      const file = await checkFile();
      if (closed) throw new EngineError("engine_unavailable", "the engine is closed", { engine: name });
      if (file.randomWeights) name = `llama.cpp ${basename(modelFile)} (random weights: its text means nothing)`;
      const w = spawnWorker();
      worker = w;
      try {
        const info = await w.ready;
        advertised ??= file;
        w.info = { ...info, file: modelFile, digest: file.digest, randomWeights: file.randomWeights };
        return { worker: w, info: w.info };
      } catch (err) {
        if (!w.exited) w.child.kill("SIGKILL");
        if (worker === w) worker = undefined;
        throw err;
      }
    })().finally(() => {
      starting = undefined;
    });
    return starting;
  }

  async function acquire(signal: AbortSignal | undefined): Promise<void> {
    if (active < parallel) {
      active++;
      return;
    }
    await new Promise<void>((res, rej) => {
      const go = () => {
        signal?.removeEventListener("abort", onAbort);
        res();
      };
      const onAbort = () => {
        const i = waiting.indexOf(go);
        if (i >= 0) waiting.splice(i, 1);
        rej(
          new EngineError(
            "engine_aborted",
            "aborted by the caller while waiting for the engine",
            { engine: name },
            { cause: signal?.reason },
          ),
        );
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      waiting.push(go);
    });
  }
  function release(): void {
    const next = waiting.shift();
    if (next) next();
    else active--;
  }

  /**
   * Runs one job in the child: waits for a slot (unless `slot` is false: a count evaluates nothing
   * and must not queue behind the generations, its own job's aborted one among them), (re)starts
   * the child if needed, relays abort.
   */
  async function run<T>(
    signal: AbortSignal | undefined,
    message: (id: number) => ToWorker,
    pending: (resolve: (v: T) => void, reject: (e: Error) => void) => Pending,
    slot = true,
  ): Promise<T> {
    throwIfAborted(signal, name);
    if (slot) await acquire(signal);
    try {
      const { worker: w } = await ensureWorker();
      throwIfAborted(signal, name);
      const id = nextId++;
      return await new Promise<T>((res, rej) => {
        const onAbort = () => {
          if (!w.pending.has(id)) return;
          // The child stops generating and answers 'engine_aborted'; if it is stuck, its exit rejects.
          if (!w.exited) w.child.send({ t: "abort", id } satisfies ToWorker);
        };
        const done = () => signal?.removeEventListener("abort", onAbort);
        w.pending.set(
          id,
          pending(
            (v) => {
              done();
              res(v);
            },
            (e) => {
              done();
              rej(e);
            },
          ),
        );
        signal?.addEventListener("abort", onAbort, { once: true });
        try {
          w.child.send(message(id));
        } catch (err) {
          w.pending.delete(id);
          done();
          rej(
            new EngineError(
              "engine_crashed",
              `cannot reach the engine process: ${(err as Error).message}`,
              { engine: name },
              { cause: err },
            ),
          );
        }
      });
    } finally {
      if (slot) release();
    }
  }

  function checkModel(model: string): void {
    if (model !== modelName) {
      throw new EngineError("model_not_served", `model "${model}" is not served by ${name}; it serves: ${modelName}`, {
        engine: name,
        param: "model",
      });
    }
  }

  function chatJob(req: EngineRequest, stream: boolean): ChatJob {
    assertValidEngineRequest(req, name);
    checkModel(req.model);
    const parsed = ChatJob.safeParse({
      // A message's `name` stays here: node-llama-cpp's chat history (system/user/model items) has
      // no place for it, so the model's chat template renders the turn as if unnamed.
      messages: req.messages.map((m) => ({
        role: m.role,
        // text only: this engine reads no images (its capabilities say so, and the agent hands it none)
        content: contentText(m.content),
        ...(m.toolCalls ? { toolCalls: m.toolCalls } : {}),
        ...(m.toolCallId !== undefined ? { toolCallId: m.toolCallId } : {}),
      })),
      maxTokens: req.maxTokens,
      ...sampling(req, name),
      ...(req.tools ? { tools: req.tools } : {}),
      ...(req.toolChoice ? { toolChoice: req.toolChoice } : {}),
      ...(req.parallelToolCalls !== undefined ? { parallelToolCalls: req.parallelToolCalls } : {}),
      stream,
    });
    if (!parsed.success) {
      const i = firstIssue(parsed.error);
      throw new EngineError("invalid_request", i.message, { engine: name, param: i.param });
    }
    return parsed.data;
  }

  function completionJob(req: EngineCompletionRequest, stream: boolean): CompletionJob {
    assertValidCompletionRequest(req, name);
    checkModel(req.model);
    const parsed = CompletionJob.safeParse({ prompt: req.prompt, maxTokens: req.maxTokens, ...sampling(req, name), stream });
    if (!parsed.success) {
      const i = firstIssue(parsed.error);
      throw new EngineError("invalid_request", i.message, { engine: name, param: i.param });
    }
    return parsed.data;
  }

  function toResult(r: JobResult, maxTokens: number): EngineResult {
    if (r.usage.completionTokens > maxTokens) {
      throw new EngineError(
        "engine_bad_response",
        `the engine reported ${r.usage.completionTokens} completion tokens, more than max_tokens ${maxTokens}`,
        { engine: name },
      );
    }
    return {
      text: r.text,
      ...(r.reasoning ? { reasoning: r.reasoning } : {}),
      usage: r.usage,
      finishReason: r.finishReason,
      ...(r.toolCalls ? { toolCalls: r.toolCalls } : {}),
      engine: name,
    };
  }

  function generateJob(
    kind: "chat" | "complete",
    job: ChatJob | CompletionJob,
    signal: AbortSignal | undefined,
    onDelta?: (t: string, reasoning?: string, hidden?: number) => void,
  ): Promise<JobResult> {
    return run<JobResult>(
      signal,
      (id) => (kind === "chat" ? { t: "chat", id, job: job as ChatJob } : { t: "complete", id, job: job as CompletionJob }),
      (resolve, reject) => ({ kind: "gen", resolve, reject, ...(onDelta ? { onDelta } : {}) }),
    );
  }

  /** Deltas as the child sends them, then "done"; leaving the loop early aborts the generation. */
  async function* streamJob(
    kind: "chat" | "complete",
    job: ChatJob | CompletionJob,
    maxTokens: number,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<EngineStreamEvent> {
    const ac = new AbortController();
    const onOuterAbort = () => ac.abort(signal?.reason);
    if (signal?.aborted) ac.abort(signal.reason);
    signal?.addEventListener("abort", onOuterAbort, { once: true });
    const queue: Array<{ text: string; reasoning?: string; hidden?: number }> = [];
    let wake: (() => void) | undefined;
    let settled: { ok: true; r: JobResult } | { ok: false; e: unknown } | undefined;
    const poke = () => {
      wake?.();
      wake = undefined;
    };
    generateJob(kind, job, ac.signal, (text, reasoning, hidden) => {
      queue.push({ text, ...(reasoning ? { reasoning } : {}), ...(hidden ? { hidden } : {}) });
      poke();
    }).then(
      (r) => {
        settled = { ok: true, r };
        poke();
      },
      (e: unknown) => {
        settled = { ok: false, e };
        poke();
      },
    );
    try {
      for (;;) {
        while (queue.length) yield { type: "delta", ...queue.shift()! };
        if (settled) {
          if (!settled.ok) throw settled.e;
          yield { type: "done", result: toResult(settled.r, maxTokens) };
          return;
        }
        await new Promise<void>((r) => (wake = r));
      }
    } finally {
      signal?.removeEventListener("abort", onOuterAbort);
      if (!settled) ac.abort(new Error("the stream's consumer stopped reading"));
    }
  }

  const engine: LlamaEngine = {
    get name() {
      return name;
    },
    modelFile,
    modelName,
    get workerPid() {
      return worker && !worker.exited ? worker.child.pid : undefined;
    },

    async load() {
      return (await ensureWorker()).info;
    },

    async models() {
      return [modelName];
    },

    async modelDigests() {
      return { [modelName]: (await ensureWorker()).info.digest };
    },

    async capabilities(model: string): Promise<EngineCapabilities> {
      checkModel(model);
      const info = (await ensureWorker()).info;
      return {
        chat: true,
        completions: true,
        embeddings: true,
        streaming: true,
        tools: info.tools,
        jsonSchema: true,
        contextLength: info.contextSize,
        // node-llama-cpp here loads no multimodal projector: images are for a server that does (--engine openai)
        vision: false,
      };
    },

    async generate(req: EngineRequest): Promise<EngineResult> {
      const job = chatJob(req, false);
      return toResult(await generateJob("chat", job, req.signal), req.maxTokens);
    },

    stream(req: EngineRequest): AsyncIterable<EngineStreamEvent> {
      const job = chatJob(req, true);
      return streamJob("chat", job, req.maxTokens, req.signal);
    },

    async complete(req: EngineCompletionRequest): Promise<EngineResult> {
      const job = completionJob(req, false);
      return toResult(await generateJob("complete", job, req.signal), req.maxTokens);
    },

    streamCompletion(req: EngineCompletionRequest): AsyncIterable<EngineStreamEvent> {
      const job = completionJob(req, true);
      return streamJob("complete", job, req.maxTokens, req.signal);
    },

    /**
     * The prompt's tokens as generate and complete bill them (the chat template's rendering with
     * the tools, or the text with the BOS/EOS the library adds), tokenized in the child without
     * evaluating anything: no prefill, and no slot, so a cancelled job's count never waits on one.
     */
    async countPromptTokens(req: EngineRequest | EngineCompletionRequest): Promise<number> {
      const message: (id: number) => ToWorker =
        "messages" in req
          ? ((job) => (id) => ({ t: "count_chat", id, job }))(chatJob(req, false))
          : ((job) => (id) => ({ t: "count_complete", id, job }))(completionJob(req, false));
      return run<number>(req.signal, message, (resolve, reject) => ({ kind: "count", resolve, reject }), false);
    },

    async embed(req: EngineEmbedRequest): Promise<EngineEmbedResult> {
      checkModel(req.model);
      const parsed = EmbedJob.safeParse({ input: req.input });
      if (!parsed.success || parsed.data.input.length === 0) {
        throw new EngineError("invalid_request", "input must be a non-empty list of strings or of token-id lists", {
          engine: name,
          param: "input",
        });
      }
      const job = parsed.data;
      const r = await run<{ vectors: number[][]; promptTokens: number }>(
        req.signal,
        (id) => ({ t: "embed", id, job }),
        (resolve, reject) => ({ kind: "embed", resolve, reject }),
      );
      if (r.vectors.length !== job.input.length) {
        throw new EngineError("engine_bad_response", `the engine returned ${r.vectors.length} vectors for ${job.input.length} inputs`, {
          engine: name,
        });
      }
      return { vectors: r.vectors, usage: { promptTokens: r.promptTokens }, engine: name };
    },

    async close() {
      closed = true;
      const w = worker;
      worker = undefined;
      if (w && !w.exited) {
        failAll(w, new EngineError("engine_unavailable", "the engine was closed while this job ran", { engine: name }));
        const gone = new Promise<void>((r) => w.child.once("exit", () => r()));
        w.child.kill("SIGTERM");
        const t = setTimeout(() => w.child.kill("SIGKILL"), 2000);
        await gone;
        clearTimeout(t);
      }
    },
  };
  return engine;
}

/** The job's sampling fields: the request's own, and those of its `extra` that this engine honours (extraSampling). */
function sampling(req: EngineRequest | EngineCompletionRequest, engine: string): Record<string, unknown> {
  return {
    ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
    ...(req.topP !== undefined ? { topP: req.topP } : {}),
    // any safe integer, as the engine port takes it, into llama.cpp's range (the agent's seeds are already there)
    ...(req.seed !== undefined ? { seed: engineSeed(req.seed) } : {}),
    ...(req.stop !== undefined ? { stop: req.stop } : {}),
    ...(req.responseFormat !== undefined ? { responseFormat: req.responseFormat } : {}),
    ...extraSampling(req.extra, engine),
  };
}

/**
 * OpenAI's fields among the requester's `extra` that change the answer: those llama.cpp can apply
 * as OpenAI does go into the job (their values checked by its schema); reasoning_effort, which it
 * cannot, is refused. Ignored, either would answer another request than the one asked (a banned
 * token generated, a forced one not) as if it were this one. A null is the field not given, as
 * OpenAI reads it. Other fields (vLLM's top_k and the like) stay ignored, as engine.ts says.
 */
function extraSampling(extra: Record<string, unknown> | undefined, engine: string): Record<string, unknown> {
  const e = extra ?? {};
  if (e.reasoning_effort != null) {
    // OpenAI itself refuses reasoning_effort for a model that does not reason; a model that does
    // reasons here as its chat template has it, within max_tokens, with no effort setting to honour.
    throw new EngineError(
      "engine_rejected",
      "reasoning_effort: this engine (llama.cpp) has no control over how much a model reasons; send the request without it",
      { engine, param: "reasoning_effort" },
    );
  }
  return {
    ...(e.logit_bias != null ? { logitBias: e.logit_bias } : {}),
    ...(e.frequency_penalty != null ? { frequencyPenalty: e.frequency_penalty } : {}),
    ...(e.presence_penalty != null ? { presencePenalty: e.presence_penalty } : {}),
  };
}

function tail(w: Worker): string {
  const t = w.stderr.trim();
  return t ? `; its last output: ${t.slice(-500)}` : "";
}
