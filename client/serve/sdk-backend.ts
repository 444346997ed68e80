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
  models(): Promise<{ models: Array<{ model: string; workers: number; capabilities?: ModelCapabilities }> }>;
}

/**
 * AskRequest → the SDK's options: the same fields under the same names, each message's name and
 * tool fields kept. Fields the proxy does not name (`extra`: frequency_penalty, logit_bias, vLLM's
 * top_k, …) travel sealed as they were sent, for the engine (issue 11: passed through, not dropped).
 */
export function askOptions(req: AskRequest): AskOptions {
  const { messages, ...rest } = req;
  return {
    ...rest,
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
  ...(r.choices?.length ? { choices: r.choices } : {}),
  model: r.model,
  workerId: r.workerId,
  tier: r.tier,
  cost: r.cost,
});

export function serveBackend(client: NetworkClient): Pick<ServeProxyOptions, "ask" | "askStream" | "embed" | "listModels"> {
  return {
    ask: async (req) => answer(await client.ask(askOptions(req))),
    askStream: (req: AskRequest): AsyncIterable<AskStreamEvent> =>
      (async function* () {
        for await (const ev of client.askStream(askOptions(req))) {
          if (ev.type === "done") yield { type: "done" as const, ...answer(ev) };
          else if (ev.type === "restart") yield { type: "restart" as const };
          else yield ev;
        }
      })(),
    embed: async (req: EmbedRequest): Promise<EmbedResult> => {
      const r = await client.embed({ model: req.model, input: req.input, ...(req.signal ? { signal: req.signal } : {}) });
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
