import { listenNode } from "../edge/node";
import { isLoopbackHost, proxyApp } from "./serve/app";
import { ServeProxyError } from "./serve/errors";
import type { ServeProxy, ServeProxyOptions } from "./serve/types";

/**
 * `cocoon serve`: an OpenAI-compatible proxy on the requester's own machine. Existing apps
 * point their OpenAI base URL at it; every request becomes a Cocoon job through the injected
 * `ask` / `askStream` / `embed` (the SDK: it holds the requester key, verifies attestations,
 * seals and opens envelopes; client/serve/sdk-backend.ts builds them from a CocoonClient).
 * This module holds no keys.
 *
 * Model aliases (--model-alias gpt-4o-mini=qwen2-7b, client/serve/aliases.ts) let apps that
 * hard-code OpenAI's model names run unchanged: the job runs on the target, the answer names the alias.
 *
 * Routes (client/serve/): GET /v1/models, GET /v1/models/{id}, POST /v1/chat/completions,
 * POST /v1/completions, POST /v1/embeddings, POST /v1/responses, matched by the router the coordinator uses
 * (edge/router.ts) and served through the same node:http mapper (edge/node.ts), which writes
 * each server-sent event as the network delivers it.
 *
 * A drop-in, not a subset: OpenAI's fields pass through to the worker (unknown ones too); what
 * a model cannot do, by the capabilities its workers advertise, is a 400 naming the parameter;
 * errors come in OpenAI's shape with `x-should-retry: false` where a retry cannot help; every
 * answer carries `x-request-id`.
 *
 * Safety of a local money-spending endpoint:
 * - binds to a loopback address only;
 * - refuses Host headers that are not loopback (DNS rebinding from a web page);
 * - requires `Content-Type: application/json` on POST and sends no CORS headers, so a web
 *   page cannot make a browser spend the requester's funds with a "simple" cross-site POST.
 */

export type {
  AskFn,
  AskContentPart,
  AskMessage,
  AskRequest,
  AskResult,
  AskStreamEvent,
  AskStreamFn,
  ClientGone,
  EmbedFn,
  EmbedRequest,
  EmbedResult,
  ModelCapabilities,
  ListedModel,
  ModelInfo,
  OpenAiErrorMapping,
  ServeProxy,
  ServeProxyOptions,
  TokenLogprob,
  ToolCall,
  ToolCallDelta,
} from "./serve/types";
export { mapAskError, OpenAiError, ServeProxyError } from "./serve/errors";
export { addModelAlias, describeAliases, ModelAliasError, parseModelAlias } from "./serve/aliases";
export { streamPieces } from "./serve/answer";
export { float32Base64 } from "./serve/embeddings";
export { serveBackend } from "./serve/sdk-backend";

/** `body`'s chunks, then `done()` once it ended (taken to its end, failed, or given up by its reader). */
async function* followed(body: AsyncIterable<string>, done: () => void): AsyncIterable<string> {
  try {
    yield* body;
  } finally {
    done();
  }
}

export async function startServeProxy(opts: ServeProxyOptions): Promise<ServeProxy> {
  const host = opts.host ?? "127.0.0.1";
  if (!isLoopbackHost(host)) {
    throw new ServeProxyError(
      "non_loopback_host",
      `cocoon serve spends your funds for anyone who can reach it, so it binds to loopback only; host "${host}" is not 127.0.0.1, ::1 or localhost`,
    );
  }
  const app = proxyApp(opts);
  // the requests being handled, a streamed answer until its last chunk was taken: close() waits for
  // them, so that a job aborted by the hang-up (before its first token, or mid-stream) sent its cancel
  const handling = new Set<Promise<void>>();
  const track = () => {
    let done!: () => void;
    const p = new Promise<void>((r) => (done = r));
    handling.add(p);
    return () => {
      handling.delete(p);
      done();
    };
  };
  const { server, url, port } = await listenNode({
    host,
    port: opts.port ?? 8788,
    bodyLimit: opts.maxBodyBytes ?? 4 * 1024 * 1024,
    guard: app.guard,
    handle: async (req) => {
      const done = track();
      try {
        const answer = await app.handle(req);
        return typeof answer.body === "string" ? answer : { ...answer, body: followed(answer.body, track()) };
      } finally {
        done();
      }
    },
    fail: app.fail,
    streamFailed: (err) => opts.onError?.(err),
  }).catch((err: Error) => {
    throw new ServeProxyError("listen_failed", `cannot listen on ${host}:${opts.port ?? 8788}: ${err.message}`, { cause: err });
  });
  return {
    url,
    port,
    close: async () => {
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      await Promise.allSettled([...handling]);
    },
  };
}
