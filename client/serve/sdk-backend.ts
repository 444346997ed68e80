import { withDevHint, type DevHint } from "../dev-hint";
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

export type { DevHint } from "../dev-hint";

/**
 * `devHint` (`cocoon serve` sets it, client/dev-hint.ts devHintFor): a refusal for want of a tdx
 * worker names the dev opt-in where the network lists dev workers for the model.
 * `maxPricePerToken` (`cocoon serve --max-price`): every job of the proxy goes only to workers priced
 * at most this, nanoTON per token; where all ask more, the app gets 409 price_above_cap (errors.ts).
 * An OpenAI request has no field for it, so it is the proxy's, as the key is.
 */
export function serveBackend(
  client: NetworkClient,
  o: { devHint?: DevHint; maxPricePerToken?: bigint } = {},
): Pick<ServeProxyOptions, "ask" | "askStream" | "embed" | "listModels"> {
  const hinted = async (err: unknown, model: string) => withDevHint(err, model, client, o.devHint);
  const cap = o.maxPricePerToken !== undefined ? { maxPricePerToken: o.maxPricePerToken } : {};
  const options = (req: AskRequest): AskOptions => ({ ...askOptions(req), ...cap });
  return {
    ask: async (req) => answer(await client.ask(options(req)).catch(async (e: unknown) => Promise.reject(await hinted(e, req.model)))),
    askStream: (req: AskRequest): AsyncIterable<AskStreamEvent> =>
      (async function* () {
        try {
          for await (const ev of client.askStream(options(req))) {
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
          ...cap,
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
