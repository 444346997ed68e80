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

/** A JSON value's kind as a client would name it: "a string", "null", "an array". */
function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  return typeof v === "boolean" ? "true or false" : `a ${typeof v}`;
}

const EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  array: "an array",
  object: "an object",
  record: "an object",
  null: "null",
};

const plural = (n: number | bigint, one: string) => `${n} ${one}${Number(n) === 1 ? "" : "s"}`;

/** What zod's own text for a bound says ("Too big: expected number to be <=2"), said as a person would. */
function bound(origin: string, n: number | bigint, inclusive: boolean | undefined, big: boolean): string {
  if (origin === "string")
    return big
      ? `must be at most ${plural(n, "character")}`
      : Number(n) <= 1
        ? "must not be empty"
        : `must be at least ${plural(n, "character")}`;
  if (origin === "array" || origin === "set")
    return big ? `must hold at most ${plural(n, "item")}` : `must hold at least ${plural(n, "item")}`;
  if (big) return inclusive ? `must be at most ${n}` : `must be less than ${n}`;
  return inclusive ? `must be at least ${n}` : `must be greater than ${n}`;
}

/** The alternatives a failed union would have taken, from each branch's refusal at its own level. */
function alternatives(branches: ReadonlyArray<ReadonlyArray<z.core.$ZodIssue>>): string[] {
  const said: string[] = [];
  for (const issues of branches)
    for (const i of issues) {
      if (i.path.length) continue;
      if (i.code === "invalid_value") said.push(...i.values.map((v) => JSON.stringify(v)));
      else if (i.code === "invalid_type") said.push(EXPECTED[i.expected] ?? i.expected);
    }
  return [...new Set(said)];
}

const oneOf = (options: string[]) =>
  options.length === 1 ? options[0]! : `${options.slice(0, -1).join(", ")} or ${options[options.length - 1]!}`;

/**
 * zod's issue as a sentence a client can act on, without the field's name (zodMessage puts it in
 * front): "must be a number, not a string", "is required", "must be at most 2". Given to zod as the
 * parse's error map, so a schema's own message (`{ error: "role must be …" }`) still wins.
 */
export function humanIssue(issue: z.core.$ZodRawIssue): string {
  const input = issue.input;
  switch (issue.code) {
    case "invalid_type":
      if (input === undefined) return "is required";
      return `must be ${EXPECTED[issue.expected] ?? issue.expected}, not ${kindOf(input)}`;
    case "too_big":
      return bound(issue.origin, issue.maximum, issue.inclusive, true);
    case "too_small":
      return bound(issue.origin, issue.minimum, issue.inclusive, false);
    case "invalid_value":
      return issue.values.length === 1
        ? `must be ${JSON.stringify(issue.values[0])}`
        : `must be one of ${oneOf(issue.values.map((v) => JSON.stringify(v)))}`;
    case "invalid_union": {
      if (input === undefined) return "is required";
      if ("options" in issue && Array.isArray(issue.options) && issue.options.length)
        return `must be one of ${oneOf(issue.options.map((v: unknown) => JSON.stringify(v)))}`;
      const options = alternatives(issue.errors ?? []);
      return options.length ? `must be ${oneOf(options)}` : "is not valid here";
    }
    case "not_multiple_of":
      return `must be a multiple of ${issue.divisor}`;
    case "invalid_format":
      return `must be a valid ${issue.format}`;
    case "unrecognized_keys":
      return `has unknown field${issue.keys.length === 1 ? "" : "s"} ${issue.keys.join(", ")}`;
    case "invalid_key":
      return "has a key that is not valid";
    case "invalid_element":
      return "holds a value that is not valid";
    default:
      return "is not valid";
  }
}

/**
 * `schema.safeParse` with humanIssue as its error map: the only way the proxy reads a request, so
 * that no refusal carries zod's own wording ("Invalid input: expected number, received string").
 */
export const parseHuman = <S extends z.ZodType>(schema: S, value: unknown) => schema.safeParse(value, { error: humanIssue });

/** At most this many of a body's faults are named in one message: the first ones are what a client fixes first. */
const MAX_NAMED_ISSUES = 3;

/** humanIssue's sentences start so: they follow the field's name without a colon. */
const HUMAN_SENTENCE = /^(must|is|has|holds) /;

/**
 * A refusal naming each field at fault: "temperature must be at most 2; messages.0.content is
 * required". `at` is the path of the value parsed inside the body (an input item: "input.2").
 * A message of humanIssue's follows its field's name; a schema's own message that names its field
 * itself ("model is required") is kept as it is; any other after "field: ".
 */
export function zodMessage(err: z.ZodError, at?: string): string {
  const said = err.issues.slice(0, MAX_NAMED_ISSUES).map((i) => {
    const param = [...(at ? [at] : []), ...i.path.map(String)].join(".");
    if (!param) return HUMAN_SENTENCE.test(i.message) ? `the request body ${i.message}` : i.message;
    if (i.message.startsWith(param)) return i.message;
    return HUMAN_SENTENCE.test(i.message) ? `${param} ${i.message}` : `${param}: ${i.message}`;
  });
  const more = err.issues.length - MAX_NAMED_ISSUES;
  return said.join("; ") + (more > 0 ? `; and ${plural(more, "other fault")}` : "");
}

/** The field a zod error is about, in OpenAI's dotted form (messages.0.content), or null. */
export function zodParam(err: z.ZodError, at?: string): string | null {
  const path = [...(at ? [at] : []), ...(err.issues[0]?.path ?? []).map(String)];
  return path.length ? path.join(".") : null;
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
function failureOf(err: unknown): { code?: unknown; message?: unknown } | undefined {
  const f = (err as { failure?: unknown } | null)?.failure;
  return typeof f === "object" && f !== null ? (f as { code?: unknown; message?: unknown }) : undefined;
}

/**
 * Whether an engine's refusal says the prompt does not fit the model's context window: the
 * embedded engine's own words (agent/engines/llama-worker.ts: "N tokens, the context window M",
 * "N tokens, the embedding window M"), vLLM's ("maximum context length", and its V1 engine's
 * "longer than the maximum model length"), llama-server's ("exceeds the available context size")
 * and SGLang's ("longer than the model's context length"). The worker reports only
 * engine_rejected; its sealed text is all that tells this refusal from the others.
 * Their whole phrases, not the bare words: a refusal for another reason may quote the request (a
 * schema the engine cannot compile, a template error), whose text may well speak of a context
 * window, and an app told context_length_exceeded trims its history or moves to another model.
 */
export const CONTEXT_OVERFLOW =
  /tokens, the (context|embedding) window \d|maximum context length|longer than the maximum model length|exceeds the available context size|longer than the model's context length/i;

/** The request field that holds the prompt, by route, for a context_length_exceeded's `param`. */
export const PROMPT_PARAM: Readonly<Record<string, string>> = {
  "/v1/chat/completions": "messages",
  "/v1/responses": "input",
  "/v1/completions": "prompt",
  "/v1/embeddings": "input",
};

/**
 * Built-in mapping of SDK errors (anything with a string `code`, optionally an HTTP `status`)
 * to OpenAI-shaped answers. 402 (not OpenAI's 429) for missing funds, so that OpenAI clients
 * do not retry a request that cannot succeed. `path`: the route asked (a 402's advice is the route's).
 */
export function mapAskError(err: unknown, path?: string): OpenAiErrorMapping {
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

  // Node's own errors (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE, …) carry a string code too, but
  // are faults of the proxy's code like a plain TypeError: their text is not the app's to read.
  if (typeof e.code === "string" && /^ERR_[A-Z0-9_]+$/.test(e.code)) return internalError();
  // A refunded job: what the worker reported decides (its engine refused this request, or does not serve the model).
  const failure = failureOf(err);
  const failed = failure?.code;
  if (typeof failed === "string") {
    // OpenAI's code for it, which apps act on (trim the history, fall back to a larger model); the
    // route names the field (PROMPT_PARAM), as the worker's engine knows no request's field names.
    if (failed === "engine_rejected" && typeof failure?.message === "string" && CONTEXT_OVERFLOW.test(failure.message))
      return { ...pick(400, "invalid_request_error"), code: "context_length_exceeded" };
    if (failed === "engine_rejected") return pick(400, "invalid_request_error");
    if (failed === "model_not_served") return pick(404, "invalid_request_error", { param: "model" });
    if (failed === "engine_unavailable") return pick(503, "service_unavailable");
    return pick(502, "upstream_error");
  }
  // The SDK lost the coordinator while a job that may exist was on its way, and could not reach
  // it again (client/sdk.ts JobOutcomeUnknownError): that job may still complete and be billed,
  // so a retry would submit, and maybe pay for, a second one. Its message names the job.
  if (c === "job_outcome_unknown") {
    const job = typeof (err as { jobId?: unknown }).jobId === "string" ? `job ${(err as { jobId: string }).jobId}` : "the job";
    return {
      ...pick(502, "upstream_error", { retryable: false }),
      message:
        `the connection to the Cocoon network was lost after ${job} was sent, and could not be made again: it may still complete ` +
        "and be billed, so sending this request again may pay for it twice (cocoon serve's console says more)",
    };
  }
  if (coordinatorUnreachable(c, e.status)) return coordinatorUnavailable();
  // The proxy's own journal could not be written (client/journal.ts): nothing was submitted, and
  // the fault is this machine's (its disk, its permissions), which the message names for the app's owner.
  if (c === "journal_unwritable") return pick(500, "server_error", { retryable: false });
  if (/model_not_(served|found)|unknown_model/.test(c)) return pick(404, "invalid_request_error", { param: "model" });
  if (/insufficient_(funds|balance)|balance_too_low/.test(c))
    return { ...pick(402, "insufficient_quota"), message: fundsMessage(e, path) ?? message };
  if (/rate_limit|too_many/.test(c)) return pick(429, "rate_limit_error");
  // The SDK's own wait ran out: the job runs on at the network and is billed if a worker answers
  // (a timeout does not cancel it; only an abort does), so an automatic retry would submit, and maybe pay for, a second job.
  if (c === "timeout") return pick(504, "timeout_error", { retryable: false });
  if (/timeout|expired/.test(c)) return pick(504, "timeout_error");
  // The SDK's price cap (PriceAboveCapError, an ask function that sets maxPricePerToken): workers are up, every one
  // dearer than the cap. Not OpenAI's 503, which clients retry: the same request gets the same answer until a cheaper
  // worker comes; its code tells the app's owner to raise the cap, the message by how much.
  if (c === "price_above_cap")
    return { ...pick(409, "invalid_request_error", { retryable: false }), message: priceCapMessage(err) ?? message };
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
  // The coordinator's 413 for a sealed request past the envelope's cap: a text prompt too long for
  // the network, which apps know as OpenAI's context_length_exceeded (LangChain trims the history);
  // the route names the prompt's field (PROMPT_PARAM), as for a prompt past the token cap.
  // The SDK's own refusal of such a prompt before anything is quoted (AskInputError prompt_too_large) is the same to an app.
  if (c === "envelope_too_large" || c === "prompt_too_large")
    return { ...pick(400, "invalid_request_error"), code: "context_length_exceeded", param: null }; // the route's field (PROMPT_PARAM)
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
  // Neither the SDK's nor the network's: a fault of the proxy itself, whose text (a TypeError's,
  // a ZodError's JSON list of issues, a path) is about its code, not the request. The app is told
  // only that; the proxy's onError (cocoon serve: its console) gets the error itself.
  return internalError();
}

/**
 * Whether the network's coordinator could not be reached at all: the API client's `unreachable`
 * (api-client/api.ts: DNS, connection refused or reset, no route; status 0), or a gateway in front
 * of it answering 502/503/504 with a page that is not the API's JSON (`bad_response`, or
 * `http_error` for JSON without an error code): the coordinator itself never answered. Its own
 * 5xx (JSON with a code) stays an upstream error: it answered, and said what went wrong. Within a
 * job, the SDK sends such an error on only when nothing was sent (a request that may have reached
 * the coordinator is sent again, or ends in job_outcome_unknown above), so a retry is safe.
 */
const coordinatorUnreachable = (c: string, status: unknown) =>
  c === "unreachable" || ((c === "bad_response" || c === "http_error") && (status === 502 || status === 503 || status === 504));

/**
 * Seconds an app is asked to wait before it sends a request again after the coordinator could
 * not be reached. The openai clients (node and python) obey a retry-after of up to 60 s; without
 * one they back off 0.5 s and then 1 s, so both of their two default retries would be spent
 * within two seconds of a redeploy or a dropped link. Five gives a blip time to pass; an outage
 * still ends in the 503 after about ten.
 */
export const COORDINATOR_RETRY_AFTER_S = 5;

/**
 * 503 coordinator_unavailable: OpenAI's "service unavailable, retry later", which the openai
 * clients, LangChain and LiteLLM retry (after retry-after) or fall back from. The message names
 * no address and quotes no socket error: the coordinator's URL and the system's words are for the
 * person running cocoon serve, whose console gets the error itself (onError, as for every 5xx).
 */
const coordinatorUnavailable = (): OpenAiErrorMapping => ({
  status: 503,
  type: "service_unavailable",
  code: "coordinator_unavailable",
  message: "the Cocoon network cannot be reached from this machine right now; retry later (cocoon serve's console says why)",
  param: null,
  retryAfterSeconds: COORDINATOR_RETRY_AFTER_S,
});

/**
 * The proxy's own failure. Not retried (x-should-retry: false): the openai clients retry a 500
 * twice, and a failure after the job was paid for would pay for it twice more; a fault of the
 * proxy's code comes out the same on a retry anyway.
 */
const internalError = (): OpenAiErrorMapping => ({
  status: 500,
  type: "server_error",
  code: "internal_error",
  message: INTERNAL_MESSAGE,
  param: null,
  retryable: false,
});

/**
 * The coordinator's 402 (core/errors.ts InsufficientFundsError) in the app's terms: its sentence
 * names the SDK's maxTokens, which the app never set; the app's field is max_tokens, and a request
 * naming none holds cocoon serve's default budget. An embeddings request has no completion budget
 * (it holds its inputs' tokens alone): its advice is the inputs. Undefined when the error gives no amounts.
 */
function fundsMessage(e: { details?: unknown }, path: string | undefined): string | undefined {
  const d = (typeof e.details === "object" && e.details !== null ? e.details : {}) as { needed?: unknown; available?: unknown };
  const amount = (v: unknown) => (typeof v === "string" && /^\d+$/.test(v) ? v : undefined);
  const needed = amount(d.needed);
  const available = amount(d.available);
  if (needed === undefined || available === undefined) return undefined;
  if (path === "/v1/embeddings")
    return (
      `this request may cost up to ${needed} nanoTON (its inputs' tokens at most, held until it is billed) but the account has ` +
      `${available} nanoTON available: deposit more (cocoon deposit <TON>) or send fewer or shorter inputs`
    );
  return (
    `this request may cost up to ${needed} nanoTON (its prompt and completion budget at most, held until it is billed) but the account has ` +
    `${available} nanoTON available: deposit more (cocoon deposit <TON>) or lower max_tokens (max_completion_tokens, ` +
    "max_output_tokens); a request that names none holds cocoon serve's default budget (--max-tokens)"
  );
}

/**
 * The SDK's PriceAboveCapError in the terms of whoever runs the proxy: the coordinator's sentence
 * says to raise maxPricePerToken, an SDK option; the cap of cocoon serve is its --max-price. Undefined
 * when the error carries no prices (a custom backend's own error).
 */
function priceCapMessage(err: unknown): string | undefined {
  const e = err as { maxPricePerToken?: unknown; cheapestPricePerToken?: unknown };
  if (typeof e.maxPricePerToken !== "bigint" || typeof e.cheapestPricePerToken !== "bigint") return undefined;
  return (
    `every live worker of this model asks more than cocoon serve's --max-price ${e.maxPricePerToken} nanoTON per token; ` +
    `the cheapest asks ${e.cheapestPricePerToken}: start cocoon serve with --max-price ${e.cheapestPricePerToken} (or more), or wait for a cheaper worker`
  );
}

/** What a 500 of the proxy's own says, whatever went wrong inside it. */
export const INTERNAL_MESSAGE = "cocoon serve failed on this request: an error of its own, not of the request (its console says more)";
