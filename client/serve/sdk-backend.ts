import type { AskOptions, AskResult as SdkAskResult, EmbedOptions, EmbedResult as SdkEmbedResult, StreamEvent } from "../sdk";
import type {
  AskRequest,
  AskResult,
  AskStreamEvent,
  EmbedRequest,
  EmbedResult,
  ModelCapabilities,
  ModelInfo,
  ServeProxyOptions,
} from "./types";

/**
 * The proxy's backend from the requester SDK (client/sdk.ts CocoonClient): `ask`, `askStream`
 * and `embed` run sealed jobs, `models` tells what is on offer and what each model can do.
 * This file holds the one mapping between OpenAI's request as the proxy reads it (AskRequest)
 * and the SDK's options. Only types come from the SDK: the proxy itself holds no key.
 */
export interface NetworkClient {
  ask(o: AskOptions): Promise<SdkAskResult>;
  askStream(o: AskOptions): AsyncIterable<StreamEvent>;
  embed(o: EmbedOptions): Promise<SdkEmbedResult>;
  models(): Promise<{
    models: Array<{ model: string; workers: number; tiers?: Record<string, number>; capabilities?: ModelCapabilities }>;
  }>;
}

/**
 * Whether a "no live worker in tiers [tdx]" may name the dev opt-in (`cocoon serve` sets it):
 * only where dev workers are not accepted and the API is on this machine's loopback (a local
 * network, whose workers are dev ones). Off loopback dev workers are never suggested.
 */
export interface DevHint {
  /** the flag (and variable) that accepts dev workers, as the app's user would type it */
  optIn: string;
}

/**
 * A no_workers refusal for want of an accepted tier (core/workers.ts: "no live worker in tiers
 * [tdx]"), while the network lists dev workers for the model: the same error, its message naming
 * the opt-in. On a local network started on another port than its settings file says (or from
 * another directory), dev workers are not accepted by default, and the 503 said only "tiers [tdx]".
 */
async function withDevHint(err: unknown, model: string, client: NetworkClient, hint: DevHint | undefined): Promise<unknown> {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!hint || e?.code !== "no_workers" || typeof e.message !== "string") return err;
  const tiers = /no live worker in tiers \[([^\]]*)\]/.exec(e.message)?.[1];
  if (tiers === undefined || tiers.split(", ").includes("dev")) return err;
  const dev = await client.models().then(
    (r) => r.models.find((m) => m.model === model)?.tiers?.dev ?? 0,
    () => 0,
  );
  if (dev <= 0) return err;
  // the error itself (its class, code, status, details) with the hint added to its message
  e.message = `${e.message} (${dev} dev worker(s), with SIMULATED attestation, serve ${model} here: restart cocoon serve with ${hint.optIn} to accept them; whoever runs them can read your prompts)`;
  return err;
}

/**
 * How long the proxy waits on one job (the SDK's `timeoutMs`, whose default of 120 s is made for
 * a CLI or a script). Past it the SDK gives up and cancels the job (billed for what was generated),
 * and the app gets a 504 (or a stream cut mid-answer): 120 s is a 1,024-token
 * answer at 8 tokens/s, a CPU engine's pace. The app's own timeout is the one that should end
 * the wait (its disconnect aborts the SDK's call), so the proxy waits as long as the openai
 * clients do (600 s by default), less a margin: its 504 (x-should-retry: false) then arrives
 * before their timeout, which they would retry with a second paid job. Well inside the 15
 * minutes that relay credentials last at least (client/relay-sqs.ts), which must outlive it.
 */
export const SERVE_JOB_WAIT_MS = 590_000;

/**
 * AskRequest → the SDK's options: the same fields under the same names, each message's name and
 * tool fields kept. Fields the proxy does not name (`extra`: frequency_penalty, logit_bias, vLLM's
 * top_k, …) travel sealed as they were sent, for the engine (issue 11: passed through, not dropped).
 */
export function askOptions(req: AskRequest): AskOptions {
  const { messages, ...rest } = req;
  return {
    ...rest,
    timeoutMs: SERVE_JOB_WAIT_MS,
    ...(messages
      ? {
          messages: messages.map((m) => ({
            role: m.role,
            content: m.content,
            ...(m.name !== undefined ? { name: m.name } : {}),
            ...(m.toolCalls ? { toolCalls: m.toolCalls } : {}),
            ...(m.toolCallId !== undefined ? { toolCallId: m.toolCallId } : {}),
          })),
        }
      : {}),
  };
}

const answer = (r: SdkAskResult): AskResult => ({
  jobId: r.jobId,
  text: r.text,
  usage: r.usage,
  finishReason: r.finishReason,
  ...(r.toolCalls?.length ? { toolCalls: r.toolCalls } : {}),
  ...(r.logprobs ? { logprobs: r.logprobs } : {}),
  ...(r.reasoning ? { reasoning: r.reasoning } : {}),
  ...(r.choices?.length ? { choices: r.choices } : {}),
  model: r.model,
  workerId: r.workerId,
  tier: r.tier,
  cost: r.cost,
});

export function serveBackend(
  client: NetworkClient,
  o: { devHint?: DevHint } = {},
): Pick<ServeProxyOptions, "ask" | "askStream" | "embed" | "listModels"> {
  const hinted = async (err: unknown, model: string) => withDevHint(err, model, client, o.devHint);
  return {
    ask: async (req) => answer(await client.ask(askOptions(req)).catch(async (e: unknown) => Promise.reject(await hinted(e, req.model)))),
    askStream: (req: AskRequest): AsyncIterable<AskStreamEvent> =>
      (async function* () {
        try {
          for await (const ev of client.askStream(askOptions(req))) {
            if (ev.type === "done") yield { type: "done" as const, ...answer(ev) };
            else if (ev.type === "restart") yield { type: "restart" as const };
            else yield ev;
          }
        } catch (e) {
          throw await hinted(e, req.model);
        }
      })(),
    embed: async (req: EmbedRequest): Promise<EmbedResult> => {
      const r = await client
        .embed({
          model: req.model,
          input: req.input,
          timeoutMs: SERVE_JOB_WAIT_MS,
          ...(req.signal ? { signal: req.signal } : {}),
        })
        .catch(async (e: unknown) => Promise.reject(await hinted(e, req.model)));
      return {
        vectors: r.vectors,
        usage: { promptTokens: r.usage.promptTokens },
        model: r.model,
        workerId: r.workerId,
        tier: r.tier,
        cost: r.cost,
        jobId: r.jobId,
      };
    },
    listModels: async (): Promise<ModelInfo[]> =>
      (await client.models()).models
        .filter((m) => m.workers > 0)
        .map((m) => ({ id: m.model, ...(m.capabilities ? { capabilities: m.capabilities } : {}) })),
  };
}
