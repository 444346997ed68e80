import { BodyTooLargeError, type HttpRequest, type HttpResponse } from "../../edge/http";
import { createRouter } from "../../edge/router";
import { chatCompletions } from "./chat-completions";
import { completions } from "./completions";
import { errorResponse, invalid, mapAskError, OpenAiError } from "./errors";
import { getModel, listModels } from "./models";
import type { OpenAiErrorMapping, ProxyContext, ServeProxyOptions } from "./types";

type ProxyRoute = (req: HttpRequest, ctx: ProxyContext, params: Record<string, string>) => Promise<HttpResponse>;

/** The proxy's routes, matched by the same router as the coordinator's. */
const router = createRouter<ProxyRoute>([
  { method: "POST", path: "/v1/chat/completions", value: chatCompletions },
  { method: "POST", path: "/v1/completions", value: completions },
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
 * The proxy as the edge sees it. `guard` runs before the body is read: a non-loopback Host
 * header (DNS rebinding from a web page) is refused unread. `fail` answers anything a route
 * throws: the proxy's own refusals as they are, SDK errors through `mapError`.
 */
export function proxyApp(opts: ServeProxyOptions) {
  const ctx: ProxyContext = { ask: opts.ask, defaultMaxTokens: opts.defaultMaxTokens ?? 1024, ...(opts.listModels ? { listModels: opts.listModels } : {}) };
  const mapError = (err: unknown): OpenAiErrorMapping => opts.mapError?.(err) ?? mapAskError(err);

  function fail(err: unknown): HttpResponse {
    if (err instanceof OpenAiError) return errorResponse(err);
    if (err instanceof BodyTooLargeError) return errorResponse(new OpenAiError(413, "invalid_request_error", "body_too_large", `request body is larger than ${err.limit} bytes`));
    if (err instanceof URIError) return errorResponse(invalid("invalid_path", "the path is not valid percent-encoding"));
    const mapped = mapError(err);
    if (mapped.status >= 500) opts.onError?.(err);
    return errorResponse(mapped);
  }

  function guard(req: HttpRequest): HttpResponse | undefined {
    if (hostIsLoopback(req.headers.host)) return undefined;
    return errorResponse(new OpenAiError(403, "invalid_request_error", "forbidden_host", "Host header must name a loopback address (127.0.0.1 or localhost)"));
  }

  async function handle(req: HttpRequest): Promise<HttpResponse> {
    try {
      const path = req.path.replace(/\/+$/, "");
      let hit;
      try {
        hit = router.match(req.method, path);
      } catch {
        throw invalid("invalid_path", "model id in the path is not valid percent-encoding");
      }
      if (hit.kind === "found") return await hit.value(req, ctx, hit.params);
      if (hit.kind === "method_not_allowed") throw new OpenAiError(405, "invalid_request_error", "method_not_allowed", `${path} accepts ${hit.allowed.join(", ")} only`);
      throw new OpenAiError(404, "invalid_request_error", "not_found", `no route ${req.method} ${path}; this proxy serves /v1/chat/completions, /v1/completions and /v1/models`);
    } catch (err) {
      return fail(err);
    }
  }

  return { guard, handle, fail };
}
