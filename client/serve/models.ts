import { jsonResponse, type HttpResponse } from "../../edge/http";
import { OpenAiError } from "./errors";
import type { ListedModel, ProxyContext } from "./types";

/** OpenAI's model object, with what the model can do (what every live worker of it advertised). */
const card = (m: ListedModel) => ({
  id: m.id,
  object: "model",
  created: 0,
  owned_by: "cocoon",
  // a --model-alias of cocoon serve: the Cocoon model that answers for it
  ...(m.aliasOf !== undefined ? { alias_of: m.aliasOf } : {}),
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
          // images in user messages (data: URLs): a request with one is a 400 naming the part unless this is true
          vision: m.capabilities.vision === true,
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
  const m = (await ctx.model(id))!;
  // a model alias answers as GET /v1/models lists it: under its own id, with its target's capabilities
  const target = ctx.target?.(id) ?? id;
  return jsonResponse(200, card(target === id ? m : { ...m, id, aliasOf: target }));
}
