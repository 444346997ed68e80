import { randomBytes } from "node:crypto";
import { BodyTooLargeError, type HttpRequest, type HttpResponse } from "../../edge/http";
import { createRouter } from "../../edge/router";
import { aliasedModels, ModelAliasError, modelAliasTable } from "./aliases";
import { modelCatalog } from "./capabilities";
import { chatCompletions } from "./chat-completions";
import { completions } from "./completions";
import { embeddings } from "./embeddings";
import { errorResponse, invalid, mapAskError, OpenAiError, PROMPT_PARAM, ServeProxyError } from "./errors";
import { itemStore } from "./items";
import { getModel, listModels } from "./models";
import { responses } from "./responses";
import type { OpenAiErrorMapping, ProxyContext, ServeProxyOptions } from "./types";

type ProxyRoute = (req: HttpRequest, ctx: ProxyContext, params: Record<string, string>) => Promise<HttpResponse>;

/** The proxy's routes, matched by the same router as the coordinator's. */
const router = createRouter<ProxyRoute>([
  { method: "POST", path: "/v1/chat/completions", value: chatCompletions },
  { method: "POST", path: "/v1/completions", value: completions },
  { method: "POST", path: "/v1/embeddings", value: embeddings },
  { method: "POST", path: "/v1/responses", value: responses },
  { method: "GET", path: "/v1/models", value: (_req, ctx) => listModels(ctx) },
  { method: "GET", path: "/v1/models/{id+}", value: (_req, ctx, p) => getModel(ctx, p.id!) },
]);

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "::1", "localhost"]);

export const isLoopbackHost = (host: string) => LOOPBACK_HOSTS.has(host);

function hostIsLoopback(hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  let h = hostHeader.toLowerCase();
  if (h.startsWith("[")) h = h.slice(1, h.indexOf("]"));
  else h = h.replace(/:\d+$/, "");
  return LOOPBACK_HOSTS.has(h) || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * The content coding a request body was sent in, when it is not the identity (undefined then):
 * "gzip", "br", "gzip, deflate" as the header names it, trimmed and at most 64 characters.
 */
function encodedBody(header: string | undefined): string | undefined {
  const codings = (header ?? "")
    .split(",")
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== "" && c !== "identity");
  return codings.length ? codings.join(", ").slice(0, 64) : undefined;
}

/**
 * A compressed body is refused unread, 415 naming its coding, rather than read as text (its bytes
 * made a 400 invalid_json that said nothing of why). Not inflated: the body reaches the proxy as
 * UTF-8 text (edge/node.ts, shared with the coordinator), inflating it safely would need the raw
 * bytes and an output cap against a decompression bomb (a few KB of gzip inflate to gigabytes),
 * and nothing is gained on loopback. The openai clients (node, python), LangChain, LiteLLM and the
 * Vercel AI SDK send bodies uncompressed; an app that compresses is told to stop, not to retry.
 */
const encodedBodyRefused = (encoding: string) =>
  new OpenAiError(
    415,
    "invalid_request_error",
    "unsupported_media_type",
    `Content-Encoding "${encoding}" is not accepted: cocoon serve takes request bodies uncompressed (send them without Content-Encoding)`,
  );

/** The --model-alias table, checked before the proxy listens. */
function aliasTable(aliases: ServeProxyOptions["modelAliases"]): Map<string, string> {
  try {
    return modelAliasTable(aliases ?? {});
  } catch (err) {
    if (err instanceof ModelAliasError) throw new ServeProxyError("invalid_model_alias", err.message, { cause: err });
    throw err;
  }
}

/** OpenAI's request ids look like this; every answer carries one (x-request-id), errors and refusals too. */
const newRequestId = () => `req_${randomBytes(12).toString("hex")}`;

const withRequestId = (r: HttpResponse, id: string): HttpResponse => ({ ...r, headers: { ...r.headers, "x-request-id": id } });

/**
 * The answer to an app that went away: nobody reads it (the edge's write to the closed socket is
 * dropped), so nothing is mapped or made for it. 499 is nginx's "client closed request".
 */
const goneResponse = (id: string): HttpResponse => ({ status: 499, headers: { "x-request-id": id }, body: "" });

/** The body read failed because the app closed its connection before sending it whole (edge/node.ts readBody). */
const bodyCut = (err: unknown) => {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "ERR_STREAM_PREMATURE_CLOSE" || code === "ECONNRESET";
};

/**
 * The proxy as the edge sees it. `guard` runs before the body is read: a non-loopback Host
 * header (DNS rebinding from a web page) is refused unread. `fail` answers anything a route
 * throws: the proxy's own refusals as they are, SDK errors through `mapError`. An app that went
 * away mid-request is no error: the SDK's call was aborted (req.signal), onClientGone is told once.
 */
export function proxyApp(opts: ServeProxyOptions) {
  const now = opts.now ?? Date.now;
  const mapError = (err: unknown, path?: string): OpenAiErrorMapping =>
    err instanceof OpenAiError ? err : (opts.mapError?.(err) ?? mapAskError(err, path));
  const catalog = modelCatalog(opts.listModels, opts.modelsTtlMs ?? 10_000, now);
  const models = aliasedModels(catalog, aliasTable(opts.modelAliases));
  const base = {
    ask: opts.ask,
    ...(opts.askStream ? { askStream: opts.askStream } : {}),
    ...(opts.embed ? { embed: opts.embed } : {}),
    ...(catalog.available ? { listModels: () => models.all() } : {}),
    model: (id: string) => models.model(id),
    target: models.target,
    defaultMaxTokens: opts.defaultMaxTokens ?? 1024,
    // one per proxy: an item_reference names an item of an earlier request to this same proxy
    items: itemStore(),
    mapError,
    ...(opts.onError ? { onError: opts.onError } : {}),
    now,
  };

  function answerError(err: unknown, path?: string): HttpResponse {
    if (err instanceof OpenAiError) return errorResponse(err);
    if (err instanceof BodyTooLargeError)
      return errorResponse(
        new OpenAiError(413, "invalid_request_error", "body_too_large", `request body is larger than ${err.limit} bytes`),
      );
    if (err instanceof URIError) return errorResponse(invalid("invalid_path", "the path is not valid percent-encoding"));
    const mapped = mapError(err, path);
    if (mapped.status >= 500) opts.onError?.(err);
    // A prompt past the model's window: OpenAI names the route's prompt field, which the worker cannot.
    // Images past the envelope's cap (the SDK's request_too_large, which says "messages"): the
    // route's field too (the Responses API's is `input`).
    const promptParam = path !== undefined ? PROMPT_PARAM[path] : undefined;
    if (((mapped.code === "context_length_exceeded" && mapped.param == null) || mapped.code === "request_too_large") && promptParam)
      return errorResponse({ ...mapped, param: promptParam });
    return errorResponse(mapped);
  }

  const fail = (err: unknown, req?: { method: string; path: string }): HttpResponse => {
    const requestId = newRequestId();
    if (req && bodyCut(err)) {
      opts.onClientGone?.({ requestId, method: req.method, path: req.path });
      return goneResponse(requestId);
    }
    return withRequestId(answerError(err), requestId);
  };

  function guard(req: HttpRequest): HttpResponse | undefined {
    if (hostIsLoopback(req.headers.host)) {
      const encoding = encodedBody(req.headers["content-encoding"]);
      return encoding === undefined ? undefined : withRequestId(errorResponse(encodedBodyRefused(encoding)), newRequestId());
    }
    return withRequestId(
      errorResponse(
        new OpenAiError(
          403,
          "invalid_request_error",
          "forbidden_host",
          "Host header must name a loopback address (127.0.0.1 or localhost)",
        ),
      ),
      newRequestId(),
    );
  }

  async function handle(req: HttpRequest): Promise<HttpResponse> {
    const requestId = newRequestId();
    let told = false;
    const clientGone = () => {
      if (told) return;
      told = true;
      opts.onClientGone?.({ requestId, method: req.method, path: req.path });
    };
    const ctx: ProxyContext = { ...base, requestId, clientGone };
    const path = req.path.replace(/\/+$/, "");
    try {
      let hit;
      try {
        hit = router.match(req.method, path);
      } catch {
        throw invalid("invalid_path", "model id in the path is not valid percent-encoding");
      }
      if (hit.kind === "found") return withRequestId(await hit.value(req, ctx, hit.params), requestId);
      if (hit.kind === "method_not_allowed")
        throw new OpenAiError(405, "invalid_request_error", "method_not_allowed", `${path} accepts ${hit.allowed.join(", ")} only`);
      // The root's path is "" once its slash is trimmed: named as "/". A path outside /v1 is most
      // often a base URL set without its /v1 (OPENAI_BASE_URL=http://127.0.0.1:8788): said so.
      const shown = path || "/";
      const outsideV1 = shown !== "/v1" && !shown.startsWith("/v1/");
      throw new OpenAiError(
        404,
        "invalid_request_error",
        "not_found",
        `no route ${req.method} ${shown}; this proxy serves /v1/chat/completions, /v1/responses, /v1/completions, /v1/embeddings and /v1/models` +
          (outsideV1 ? `: set the OpenAI base URL to http://${req.headers.host ?? "127.0.0.1:8788"}/v1` : ""),
      );
    } catch (err) {
      // The app went away (the edge aborts req.signal when its connection closes), and the SDK's
      // call rejected with that abort: no error to report and no answer to make, as nobody reads it.
      if (req.signal?.aborted) {
        clientGone();
        return goneResponse(requestId);
      }
      return withRequestId(answerError(err, path), requestId);
    }
  }

  return { guard, handle, fail };
}
