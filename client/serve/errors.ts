import type { z } from "zod";
import { jsonResponse, type HttpResponse } from "../../edge/http";
import type { OpenAiErrorMapping } from "./types";

export class ServeProxyError extends Error {
  override readonly name = "ServeProxyError";
  constructor(
    readonly code: "non_loopback_host" | "listen_failed" | "invalid_model_alias",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A refusal of the proxy itself, already in OpenAI's terms. */
export class OpenAiError extends Error implements OpenAiErrorMapping {
  readonly param: string | null;
  readonly retryable?: boolean;
  constructor(
    readonly status: number,
    readonly type: string,
    readonly code: string,
    message: string,
    o: { param?: string | null; retryable?: boolean } = {},
  ) {
    super(message);
    this.param = o.param ?? null;
    if (o.retryable !== undefined) this.retryable = o.retryable;
  }
}

/** 400 invalid_request_error; `param` names the field at fault, as OpenAI does. */
export const invalid = (code: string, message: string, param: string | null = null) =>
  new OpenAiError(400, "invalid_request_error", code, message, { param });

/** A model on offer that cannot do what the request asks: 400 naming the parameter. */
export const unsupported = (param: string, message: string) =>
  new OpenAiError(400, "invalid_request_error", "unsupported_parameter", message, { param });

export const modelNotFound = (model: string) =>
  new OpenAiError(
    404,
    "invalid_request_error",
    "model_not_found",
    `The model \`${model}\` does not exist or no Cocoon worker offers it right now (see GET /v1/models).`,
    { param: "model" },
  );

export function zodMessage(err: z.ZodError): string {
  return err.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message)).join("; ");
}

/** The field a zod error is about, in OpenAI's dotted form (messages.0.content), or null. */
export function zodParam(err: z.ZodError): string | null {
  const path = err.issues[0]?.path ?? [];
  return path.length ? path.map(String).join(".") : null;
}

/**
 * Whether to tell the client not to retry. The openai clients retry 408, 409, 429 and 5xx unless
 * `x-should-retry: false`; other clients may retry more. A refusal of the request itself, a
 * missing feature, missing funds or a verification failure come out the same on a retry (which
 * would also hold money again), so those say false; a busy or slow network says nothing.
 */
export function shouldRetry(e: OpenAiErrorMapping): boolean | undefined {
  if (e.retryable !== undefined) return e.retryable;
  if (e.status >= 400 && e.status < 500 && ![408, 409, 429].includes(e.status)) return false;
  if (e.status === 501) return false;
  return undefined;
}

/**
 * OpenAI's error body, with `x-should-retry: false` where a retry cannot help, and `retry-after`
 * where the network said when one may (without it the openai clients retry a rate limit within a second).
 */
export const errorResponse = (e: OpenAiErrorMapping): HttpResponse =>
  jsonResponse(
    e.status,
    { error: { message: e.message, type: e.type, param: e.param ?? null, code: e.code } },
    {
      ...(shouldRetry(e) === false ? { "x-should-retry": "false" } : {}),
      ...(e.retryAfterSeconds !== undefined ? { "retry-after": String(Math.ceil(e.retryAfterSeconds)) } : {}),
    },
  );

/** What a worker reported for a refunded job (client/sdk.ts JobRefundedError.failure). */
function failureOf(err: unknown): { code?: unknown } | undefined {
  const f = (err as { failure?: unknown } | null)?.failure;
  return typeof f === "object" && f !== null ? (f as { code?: unknown }) : undefined;
}

/**
 * Built-in mapping of SDK errors (anything with a string `code`, optionally an HTTP `status`)
 * to OpenAI-shaped answers. 402 (not OpenAI's 429) for missing funds, so that OpenAI clients
 * do not retry a request that cannot succeed.
 */
export function mapAskError(err: unknown): OpenAiErrorMapping {
  const e = (typeof err === "object" && err !== null ? err : {}) as {
    code?: unknown;
    status?: unknown;
    message?: unknown;
    details?: { param?: unknown; retryAfterSeconds?: unknown };
    param?: unknown;
  };
  const code = typeof e.code === "string" ? e.code : "internal_error";
  const message = typeof e.message === "string" && e.message.length > 0 ? e.message : String(err);
  const c = code.toLowerCase();
  // an API error's details.param, or the SDK's AskInputError.param under OpenAI's name (maxTokens → max_tokens)
  const detailParam =
    typeof e.details?.param === "string"
      ? e.details.param
      : typeof e.param === "string"
        ? e.param.replace(/[A-Z]/g, (l) => `_${l.toLowerCase()}`)
        : null;
  // an API error's details.retryAfterSeconds (the coordinator's RateLimitedError, core/errors.ts)
  const retryAfter = e.details?.retryAfterSeconds;
  const pick = (status: number, type: string, o: { param?: string | null; retryable?: boolean } = {}): OpenAiErrorMapping => ({
    status,
    type,
    code,
    message,
    param: o.param ?? detailParam,
    ...(o.retryable !== undefined ? { retryable: o.retryable } : {}),
    ...(typeof retryAfter === "number" && Number.isFinite(retryAfter) && retryAfter >= 0 ? { retryAfterSeconds: retryAfter } : {}),
  });

  // A refunded job: what the worker reported decides (its engine refused this request, or does not serve the model).
  const failed = failureOf(err)?.code;
  if (typeof failed === "string") {
    if (failed === "engine_rejected") return pick(400, "invalid_request_error");
    if (failed === "model_not_served") return pick(404, "invalid_request_error", { param: "model" });
    if (failed === "engine_unavailable") return pick(503, "service_unavailable");
    return pick(502, "upstream_error");
  }
  if (/model_not_(served|found)|unknown_model/.test(c)) return pick(404, "invalid_request_error", { param: "model" });
  if (/insufficient_(funds|balance)|balance_too_low/.test(c)) return pick(402, "insufficient_quota");
  if (/rate_limit|too_many/.test(c)) return pick(429, "rate_limit_error");
  // The SDK's own wait ran out: the job runs on at the network and is billed if a worker answers
  // (a timeout does not cancel it; only an abort does), so an automatic retry would submit, and maybe pay for, a second job.
  if (c === "timeout") return pick(504, "timeout_error", { retryable: false });
  if (/timeout|expired/.test(c)) return pick(504, "timeout_error");
  if (/no_(worker|candidate)|unavailable|no_capacity/.test(c)) return pick(503, "service_unavailable");
  // Evidence that a worker or the coordinator misbehaved: a retry would hold money again for the same verdict.
  // (The SDK's stream checks answer stream_tampered, _reordered, _duplicate, _gap, _truncated, _cross_job, _mismatch, _too_long;
  // its job checks bad_job and bad_embeddings, a charged job refused; its quote check fees_not_on_chain.)
  if (
    /attestation|untrusted|measurement|receipt|signature|decrypt|verified|mismatch|overcharged|tamper|chunk|integrity|^stream_(?!restarted)|^bad_(job|embeddings)$|not_on_chain/.test(
      c,
    )
  ) {
    return pick(502, "upstream_verification_error", { retryable: false });
  }
  // The SDK's refusal of a request past the envelope's cap (AskInputError request_too_large): before anything was held.
  if (c === "request_too_large") return pick(413, "invalid_request_error");
  if (/^(invalid|validation|bad_request)|too_long|too_large|^remote_image_url$|^unsupported_content$/.test(c))
    return pick(400, "invalid_request_error");
  if (typeof e.status === "number" && e.status >= 400 && e.status <= 599) {
    // An API error the SDK passed through: a 4xx from the coordinator is a problem of this proxy's
    // account or configuration, not of the local app, so it is reported as a bad gateway (a 404 stays one).
    return pick(e.status === 404 ? 404 : 502, "upstream_error");
  }
  if (typeof e.code === "string") return pick(502, "upstream_error");
  return { status: 500, type: "server_error", code: "internal_error", message, param: null };
}
