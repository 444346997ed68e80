import { jsonResponse, type HttpResponse } from "../../edge/http";
import { OpenAiError } from "./errors";
import type { ModelInfo, ProxyContext } from "./types";

/** OpenAI's model object, with what the model can do (what every live worker of it advertised). */
const card = (m: ModelInfo) => ({
  id: m.id,
  object: "model",
  created: 0,
  owned_by: "cocoon",
  ...(m.capabilities
    ? {
        capabilities: {
          chat: m.capabilities.chat,
          completions: m.capabilities.completions,
          embeddings: m.capabilities.embeddings,
          streaming: m.capabilities.streaming,
          tools: m.capabilities.tools,
          json_schema: m.capabilities.jsonSchema,
          context_length: m.capabilities.contextLength ?? null,
          // Said outright: a request for them is a 400 naming the parameter unless this is true.
          logprobs: m.capabilities.logprobs === true,
        },
      }
    : {}),
});

function requireList(ctx: ProxyContext): NonNullable<ProxyContext["listModels"]> {
  if (!ctx.listModels)
    throw new OpenAiError(501, "server_error", "not_implemented", "this proxy was started without a model list (listModels)");
  return ctx.listModels;
}

/** GET /v1/models */
export async function listModels(ctx: ProxyContext): Promise<HttpResponse> {
  return jsonResponse(200, { object: "list", data: (await requireList(ctx)()).map(card) });
}

/** GET /v1/models/{id+}: ids may hold slashes (qwen/qwen2-7b). */
export async function getModel(ctx: ProxyContext, id: string): Promise<HttpResponse> {
  requireList(ctx);
  return jsonResponse(200, card((await ctx.model(id))!));
}
