import { jsonResponse, type HttpResponse } from "../../edge/http";
import { OpenAiError } from "./errors";
import type { ProxyContext } from "./types";

const card = (m: string) => ({ id: m, object: "model", created: 0, owned_by: "cocoon" });

async function modelList(ctx: ProxyContext): Promise<string[]> {
  if (!ctx.listModels) throw new OpenAiError(501, "server_error", "not_implemented", "this proxy was started without a model list (listModels)");
  return ctx.listModels();
}

/** GET /v1/models */
export async function listModels(ctx: ProxyContext): Promise<HttpResponse> {
  return jsonResponse(200, { object: "list", data: (await modelList(ctx)).map(card) });
}

/** GET /v1/models/{id+}: ids may hold slashes (qwen/qwen2-7b). */
export async function getModel(ctx: ProxyContext, id: string): Promise<HttpResponse> {
  if (!(await modelList(ctx)).includes(id)) {
    throw new OpenAiError(404, "invalid_request_error", "model_not_found", `model "${id}" is not offered by any Cocoon worker right now`);
  }
  return jsonResponse(200, card(id));
}
