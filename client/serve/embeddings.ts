import { jsonResponse, type HttpRequest, type HttpResponse } from "../../edge/http";
import { cocoonHeaders } from "./answer";
import { checkEmbeddings } from "./capabilities";
import { OpenAiError, unsupported } from "./errors";
import { EmbeddingsBody, readJson } from "./schemas";
import type { ProxyContext } from "./types";

/**
 * A vector as OpenAI's `encoding_format: "base64"` carries it: float32 little-endian, base64.
 * The openai npm client asks for this by default and decodes it itself.
 */
export function float32Base64(vector: number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes.toString("base64");
}

/**
 * POST /v1/embeddings: one sealed job for all inputs (texts or token ids), billed per input
 * token; vectors back as float arrays or base64.
 */
export async function embeddings(req: HttpRequest, ctx: ProxyContext): Promise<HttpResponse> {
  const { body } = readJson(req, EmbeddingsBody);
  if (!ctx.embed) throw new OpenAiError(501, "server_error", "not_implemented", "this proxy was started without embeddings (embed)");
  // Cutting a vector short is only meaningful for models trained for it; no worker says it is.
  if (body.dimensions !== undefined)
    throw unsupported("dimensions", "dimensions is not supported by Cocoon: vectors come at the model's own size");
  const model = await ctx.model(body.model);
  checkEmbeddings(model);
  const input: string[] | number[][] =
    typeof body.input === "string"
      ? [body.input]
      : typeof body.input[0] === "number"
        ? [body.input as number[]]
        : (body.input as string[] | number[][]);
  // a model alias runs on its target; the answer names the model as the app asked
  const r = await ctx.embed({ model: ctx.target?.(body.model) ?? body.model, input, ...(req.signal ? { signal: req.signal } : {}) });
  if (r.vectors.length !== input.length) {
    throw new OpenAiError(
      502,
      "upstream_error",
      "bad_embeddings",
      `the worker answered ${r.vectors.length} vectors for ${input.length} inputs`,
    );
  }
  const base64 = body.encoding_format === "base64";
  return jsonResponse(
    200,
    {
      object: "list",
      data: r.vectors.map((v, index) => ({ object: "embedding", index, embedding: base64 ? float32Base64(v) : v })),
      model: body.model,
      usage: { prompt_tokens: r.usage.promptTokens, total_tokens: r.usage.promptTokens },
    },
    cocoonHeaders([r]),
  );
}
