import type { z } from "zod";
import { jsonResponse, type HttpResponse } from "../../edge/http";
import type { OpenAiErrorMapping } from "./types";

export class ServeProxyError extends Error {
  override readonly name = "ServeProxyError";
  constructor(
    readonly code: "non_loopback_host" | "listen_failed",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A refusal of the proxy itself, already in OpenAI's terms. */
export class OpenAiError extends Error implements OpenAiErrorMapping {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const invalid = (code: string, message: string) => new OpenAiError(400, "invalid_request_error", code, message);

export function zodMessage(err: z.ZodError): string {
  return err.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message)).join("; ");
}

/** OpenAI's error body. */
export const errorResponse = (e: OpenAiErrorMapping): HttpResponse =>
  jsonResponse(e.status, { error: { message: e.message, type: e.type, param: null, code: e.code } });

/**
 * Built-in mapping of SDK errors (anything with a string `code`, optionally an HTTP `status`)
 * to OpenAI-shaped answers. 402 (not OpenAI's 429) for missing funds, so that OpenAI clients
 * do not retry a request that cannot succeed.
 */
export function mapAskError(err: unknown): OpenAiErrorMapping {
  const e = (typeof err === "object" && err !== null ? err : {}) as { code?: unknown; status?: unknown; message?: unknown };
  const code = typeof e.code === "string" ? e.code : "internal_error";
  const message = typeof e.message === "string" && e.message.length > 0 ? e.message : String(err);
  const c = code.toLowerCase();
  const pick = (status: number, type: string): OpenAiErrorMapping => ({ status, type, code, message });

  if (/model_not_(served|found)|unknown_model/.test(c)) return pick(404, "invalid_request_error");
  if (/insufficient_(funds|balance)|balance_too_low/.test(c)) return pick(402, "insufficient_quota");
  if (/rate_limit|too_many/.test(c)) return pick(429, "rate_limit_error");
  if (/timeout|expired/.test(c)) return pick(504, "timeout_error");
  if (/no_(worker|candidate)|unavailable|no_capacity/.test(c)) return pick(503, "service_unavailable");
  if (/attestation|untrusted|measurement|receipt|signature|decrypt/.test(c)) return pick(502, "upstream_verification_error");
  if (/^(invalid|validation|bad_request)|too_long|too_large/.test(c)) return pick(400, "invalid_request_error");
  if (typeof e.status === "number" && e.status >= 400 && e.status <= 599) {
    // An API error the SDK passed through: a 4xx from the coordinator is a problem of this proxy's
    // account or configuration, not of the local app, so it is reported as a bad gateway.
    return pick(e.status >= 500 ? 502 : e.status === 404 ? 404 : 502, "upstream_error");
  }
  if (typeof e.code === "string") return pick(502, "upstream_error");
  return { status: 500, type: "server_error", code: "internal_error", message };
}
