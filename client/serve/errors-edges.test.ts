/**
 * client/serve/errors.ts at its edges: how the network's failures (the SDK's VerificationError,
 * JobRefundedError and AskInputError, the API client's ApiError, anything else an ask throws)
 * become OpenAI's error answers — status, type, code, param, message — and the two headers the
 * openai clients act on: `x-should-retry` (whether they send the request again) and
 * `retry-after` (when). Called directly; one test runs the official client against a proxy on
 * 127.0.0.1 to count the requests it sends.
 */
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { ApiError } from "../../api-client/api";
import { caps, closeProxies, startFakedProxy } from "../../test/fixtures/serve-proxy";
import { AskInputError, JobOutcomeUnknownError, JobRefundedError, VerificationError } from "../sdk";
import { JobJournalError } from "../journal";
import {
  COORDINATOR_RETRY_AFTER_S,
  errorResponse,
  INTERNAL_MESSAGE,
  mapAskError,
  OpenAiError,
  ServeProxyError,
  shouldRetry,
  zodMessage,
  zodParam,
} from "./errors";
import type { OpenAiErrorMapping } from "./types";

const MODEL = "llama-3-8b";

afterEach(closeProxies);

/** A mapping as a custom mapError would return it; `over` sets what a test looks at. */
const aMapping = (over: Partial<OpenAiErrorMapping> = {}): OpenAiErrorMapping => ({
  status: 503,
  type: "service_unavailable",
  code: "no_workers",
  message: "busy",
  ...over,
});

/** The coordinator's error as the API client throws it (api-client/api.ts). */
const anApiError = (status: number, code: string, details?: unknown) => new ApiError(status, code, `the API said ${code}`, details);

/** A job refunded after its last worker reported `code` (client/sdk.ts refundedError). */
const aRefund = (code: string) =>
  new JobRefundedError("job_failed", `job was not answered (failed); worker reported ${code}`, { workerId: "W".repeat(43), code });

/** Something an ask threw that is no SDK error: a plain object with only what a test names. */
const aThrown = (fields: Record<string, unknown>) => ({ message: "from a custom backend", ...fields });

describe("the error classes", () => {
  it("names a ServeProxyError so, as its listeners log it", () => {
    // Prepare
    const err = new ServeProxyError("listen_failed", "port taken");
    // Act
    const shown = String(err);
    // Assess
    expect(err.name).toBe("ServeProxyError");
    expect(shown).toBe("ServeProxyError: port taken");
  });

  it("gives an OpenAiError a retry verdict only when one was given, and sends a given false even on a 5xx", () => {
    // Prepare
    const silent = new OpenAiError(503, "service_unavailable", "busy", "no worker free");
    const refused = new OpenAiError(502, "upstream_verification_error", "bad_receipt", "forged", { retryable: false });
    // Act
    const silentAnswer = errorResponse(silent);
    const refusedAnswer = errorResponse(refused);
    // Assess
    expect(silent.retryable).toBeUndefined();
    expect(refused.retryable).toBe(false);
    expect(silentAnswer.headers["x-should-retry"]).toBeUndefined();
    expect(refusedAnswer.headers["x-should-retry"]).toBe("false");
  });
});

describe("zodMessage and zodParam", () => {
  it("joins every issue as `path: message`, separated by `; `", () => {
    // Prepare
    const r = z.object({ model: z.string(), n: z.number() }).safeParse({});
    // Act
    const message = zodMessage(r.error!);
    // Assess
    const parts = message.split("; ");
    expect(parts).toHaveLength(2);
    expect(parts[0]).toMatch(/^model: ./);
    expect(parts[1]).toMatch(/^n: ./);
  });

  it("names no param for an error without issues, and the first issue's dotted path otherwise", () => {
    // Prepare
    const empty = new z.ZodError([]);
    const nested = z.object({ messages: z.array(z.object({ content: z.string() })) }).safeParse({ messages: [{ content: 1 }] });
    // Act
    const none = zodParam(empty);
    const dotted = zodParam(nested.error!);
    // Assess
    expect(none).toBeNull();
    expect(dotted).toBe("messages.0.content");
  });
});

describe("shouldRetry: what x-should-retry says", () => {
  const cases: Array<[number, boolean | undefined]> = [
    [200, undefined],
    [399, undefined],
    [400, false],
    [408, undefined],
    [409, undefined],
    [429, undefined],
    [499, false],
    [500, undefined],
    [501, false],
    [503, undefined],
  ];
  for (const [status, verdict] of cases) {
    it(`says ${String(verdict)} for a ${status} without a verdict of its own`, () => {
      // Prepare
      const e = aMapping({ status });
      // Act
      const said = shouldRetry(e);
      // Assess
      expect(said).toBe(verdict);
    });
  }
});

describe("errorResponse: the body and the headers", () => {
  it("sends no retry-after when the network named no time, and the time rounded up when it did", () => {
    // Prepare
    const plain = aMapping();
    const timed = aMapping({ status: 429, type: "rate_limit_error", code: "rate_limited", retryAfterSeconds: 1.2 });
    // Act
    const plainAnswer = errorResponse(plain);
    const timedAnswer = errorResponse(timed);
    // Assess
    expect(Object.keys(plainAnswer.headers)).not.toContain("retry-after");
    expect(timedAnswer.headers["retry-after"]).toBe("2");
    expect(JSON.parse(plainAnswer.body as string)).toEqual({
      error: { message: "busy", type: "service_unavailable", param: null, code: "no_workers" },
    });
  });
});

describe("mapAskError: what was thrown, and its code and message", () => {
  it("answers 500 for a thrown null instead of throwing itself", () => {
    // Prepare
    const thrown = null;
    // Act
    const m = mapAskError(thrown);
    // Assess
    expect(m).toEqual({
      status: 500,
      type: "server_error",
      code: "internal_error",
      message: INTERNAL_MESSAGE,
      param: null,
      retryable: false,
    });
  });

  it("answers 500 saying nothing of it for Node's own error (a string code ERR_…), which is the proxy's fault, not the network's", () => {
    // Prepare: what Node throws for a bad argument deep in the proxy's code
    const err = Object.assign(new TypeError('The "path" argument must be of type string. Received undefined'), {
      code: "ERR_INVALID_ARG_TYPE",
    });
    // Act
    const m = mapAskError(err);
    // Assess
    expect(m).toEqual({
      status: 500,
      type: "server_error",
      code: "internal_error",
      message: INTERNAL_MESSAGE,
      param: null,
      retryable: false,
    });
  });

  it("reads `failure` only when it is a record: a function carrying a code is no worker's report", () => {
    // Prepare
    const err = Object.assign(new VerificationError("no_workers", "busy"), {
      failure: Object.assign(() => undefined, { code: "engine_rejected" }),
    });
    // Act
    const m = mapAskError(err);
    // Assess
    expect(m).toMatchObject({ status: 503, type: "service_unavailable", code: "no_workers" });
  });

  it("codes an error that has an HTTP status but no code as internal_error, a bad gateway", () => {
    // Prepare
    const err = aThrown({ status: 503 });
    // Act
    const m = mapAskError(err);
    // Assess
    expect(m).toMatchObject({ status: 502, type: "upstream_error", code: "internal_error", message: "from a custom backend" });
  });

  it("says the error's name when its message is empty, never an empty message", () => {
    // Prepare
    const err = new VerificationError("relay_unavailable", "");
    // Act
    const m = mapAskError(err);
    // Assess
    expect(m.message).toBe("VerificationError");
    expect(m.status).toBe(503);
  });

  it("adds no retryable and no retryAfterSeconds to a mapping that has neither", () => {
    // Prepare
    const err = new VerificationError("no_workers", "busy");
    // Act
    const m = mapAskError(err);
    // Assess
    expect(Object.keys(m).sort()).toEqual(["code", "message", "param", "status", "type"]);
  });
});

describe("mapAskError: the param at fault", () => {
  it("takes an API error's details.param as it is", () => {
    // Prepare
    const err = anApiError(400, "invalid_request", { param: "messages" });
    // Act
    const m = mapAskError(err);
    // Assess
    expect(m).toMatchObject({ status: 400, type: "invalid_request_error", param: "messages" });
  });

  it("gives an AskInputError's nested path in OpenAI's snake_case", () => {
    // Prepare
    const err = new AskInputError("responseFormat.jsonSchema", "responseFormat.jsonSchema: required");
    // Act
    const m = mapAskError(err);
    // Assess
    expect(m).toMatchObject({ status: 400, code: "invalid_request", param: "response_format.json_schema" });
  });
});

describe("mapAskError: retry-after from the coordinator's details.retryAfterSeconds", () => {
  const cases: Array<[string, unknown, number | undefined]> = [
    ["seconds", 7, 7],
    ["zero (retry now)", 0, 0],
    ["a negative time", -1, undefined],
    ["NaN", Number.NaN, undefined],
    ["Infinity", Number.POSITIVE_INFINITY, undefined],
    ["a numeric string", "7", undefined],
  ];
  for (const [what, given, kept] of cases) {
    it(`keeps ${kept === undefined ? "no time" : `${kept} s`} for ${what}`, () => {
      // Prepare
      const err = anApiError(429, "rate_limited", { retryAfterSeconds: given });
      // Act
      const m = mapAskError(err);
      // Assess
      expect(m.status).toBe(429);
      if (kept === undefined) expect(Object.keys(m)).not.toContain("retryAfterSeconds");
      else expect(m.retryAfterSeconds).toBe(kept);
    });
  }
});

describe("mapAskError: a refunded job, decided by what its worker reported", () => {
  const cases: Array<[string, number, string, string | null, string | null]> = [
    ["engine_rejected", 400, "invalid_request_error", null, "false"],
    ["model_not_served", 404, "invalid_request_error", "model", "false"],
    ["engine_unavailable", 503, "service_unavailable", null, null],
    ["engine_error", 502, "upstream_error", null, null],
    ["reply_too_large", 502, "upstream_error", null, null],
  ];
  for (const [report, status, type, param, retry] of cases) {
    it(`answers ${status} ${type} for a worker that reported ${report}`, () => {
      // Prepare
      const err = aRefund(report);
      // Act
      const m = mapAskError(err);
      const answer = errorResponse(m);
      // Assess
      expect(m).toMatchObject({ status, type, param, code: "job_failed" });
      expect(answer.headers["x-should-retry"] ?? null).toBe(retry);
    });
  }
});

describe("mapAskError: codes by their form", () => {
  it("answers the SDK's own timeout 504 timeout_error, not to be retried (the job runs on and is billed)", () => {
    // Prepare
    const err = new VerificationError("timeout", "job still assigned after 120000 ms");
    // Act
    const m = mapAskError(err);
    // Assess
    expect(m).toMatchObject({ status: 504, type: "timeout_error", code: "timeout", retryable: false });
  });

  it("reads stream_ as a stream check only at the start of a code: upstream_closed is no verification failure", () => {
    // Prepare
    const err = new VerificationError("upstream_closed", "the relay closed");
    // Act
    const m = mapAskError(err);
    // Assess
    expect(m).toMatchObject({ status: 502, type: "upstream_error" });
    expect(shouldRetry(m)).toBeUndefined();
  });

  it("reads invalid as the app's fault only at the start of a code: relay_session_invalid is the network's", () => {
    // Prepare
    const err = new VerificationError("relay_session_invalid", "the vended session does not open");
    // Act
    const m = mapAskError(err);
    // Assess
    expect(m).toMatchObject({ status: 502, type: "upstream_error" });
  });
});

describe("mapAskError: the coordinator's HTTP status passed through", () => {
  const cases: Array<[string, unknown, number, string]> = [
    ["a 404 (a tab it does not know)", anApiError(404, "unknown_tab"), 404, "upstream_error"],
    ["a 401 (this proxy's account)", anApiError(401, "missing_auth"), 502, "upstream_error"],
    ["a 503 after the SDK's own retries", anApiError(503, "store_busy"), 502, "upstream_error"],
    ["a status 400 without a code", aThrown({ status: 400 }), 502, "upstream_error"],
    ["a status 599 without a code", aThrown({ status: 599 }), 502, "upstream_error"],
    ["a status 503 without a code", aThrown({ status: 503 }), 502, "upstream_error"],
    ["a status 399 without a code", aThrown({ status: 399 }), 500, "server_error"],
    ["a status 600 without a code", aThrown({ status: 600 }), 500, "server_error"],
    ["a status given as a string", aThrown({ status: "503" }), 500, "server_error"],
  ];
  for (const [what, err, status, type] of cases) {
    it(`answers ${status} ${type} for ${what}`, () => {
      // Prepare: err
      // Act
      const m = mapAskError(err);
      // Assess
      expect(m).toMatchObject({ status, type });
    });
  }
});

describe("regression: SDK refusals of a charged job are not retried", () => {
  // Regression: checkCompletedJob's bad_job (a completed, charged job without its receipt or reply, or
  // from a worker the SDK did not encrypt to), embed's bad_embeddings (a charged job with the
  // wrong number of vectors) and the quote check's fees_not_on_chain are the SDK refusing what the
  // network sent, as bad_receipt and overcharged are; they matched none of the verification codes,
  // so they came out 502 upstream_error without x-should-retry: false.
  for (const code of ["bad_job", "bad_embeddings", "fees_not_on_chain"]) {
    it(`answers ${code} 502 upstream_verification_error, not to be retried`, () => {
      // Prepare
      const err = new VerificationError(code, `the SDK refused it: ${code}`);
      // Act
      const m = mapAskError(err);
      // Assess
      expect(m).toMatchObject({ status: 502, type: "upstream_verification_error", code, retryable: false });
    });
  }

  it("sends a chat refused as bad_job to the network once, not once per openai-node retry", async () => {
    // Regression: the app's openai client (default maxRetries 2) got a retryable 502 and sent the request
    // twice more: three jobs, each completed and charged, each refused the same way.
    // Prepare
    const { url, calls } = await startFakedProxy([MODEL], {
      ask: async () => {
        throw new VerificationError(
          "bad_job",
          "completed job lacks a receipt, a reply or a cost, or came from a worker we did not encrypt to",
        );
      },
    });
    const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: "any", maxRetries: 2 });
    // Act
    const err = await openai.chat.completions
      .create({ model: MODEL, messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    // Assess
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect(calls).toHaveLength(1);
  });
});

describe("regression: a prompt past the worker's context window is OpenAI's context_length_exceeded", () => {
  // Regression: a prompt within the network's cap but past the model's own context window (a
  // 10,000-token chat on a 2,048-token model) came back 400 `job_failed` with `param: null`. Apps
  // and frameworks recognize this failure by OpenAI's code (LangChain's and LiteLLM's context
  // overflow handling, which trims the history or falls back to a larger model): they saw a
  // generic refusal instead. What the worker's engine said is the only evidence there is.
  const refusedWith = (message: string) =>
    new JobRefundedError("job_failed", `job was not answered (failed); worker reported engine_rejected: ${message}`, {
      workerId: "W".repeat(43),
      code: "engine_rejected",
      message,
    });
  const overflows: Array<[string, string]> = [
    ["the embedded engine's chat", "messages: the prompt is 10020 tokens, the context window 2048"],
    ["the embedded engine's completion", "prompt: 3000 tokens, the context window 2048"],
    ["the embedded engine's embedding", "input[1] is 900 tokens, the embedding window 512"],
    [
      "vLLM",
      "POST http://127.0.0.1:8000/v1/chat/completions answered 400: This model's maximum context length is 2048 tokens. However, you requested 3000 tokens",
    ],
    [
      "llama-server",
      "POST http://127.0.0.1:8080/v1/chat/completions answered 400: the request exceeds the available context size, try increasing it",
    ],
    ["SGLang", "The input (3000 tokens) is longer than the model's context length (2048 tokens)."],
    [
      "vLLM's V1 engine",
      "POST http://127.0.0.1:8000/v1/chat/completions answered HTTP 400: The decoder prompt (length 3000) is longer than the maximum model length of 2048. Make sure that `max_model_len` is no smaller than the number of text tokens.",
    ],
  ];
  for (const [who, message] of overflows) {
    it(`answers ${who}'s overflow 400 context_length_exceeded, not to be retried`, () => {
      // Prepare
      const err = refusedWith(message);
      // Act
      const m = mapAskError(err);
      const answer = errorResponse(m);
      // Assess
      expect(m).toMatchObject({ status: 400, type: "invalid_request_error", code: "context_length_exceeded" });
      expect(m.message).toContain(message);
      expect(answer.headers["x-should-retry"]).toBe("false");
    });
  }

  it("keeps job_failed for an engine refusal about anything else", () => {
    // Prepare
    const err = refusedWith("input[0]: token id 9906 is outside this model's vocabulary (622)");
    // Act
    const m = mapAskError(err);
    // Assess
    expect(m).toMatchObject({ status: 400, code: "job_failed" });
  });

  it("keeps job_failed for a refusal for another reason that quotes the request's words about a context window", () => {
    // Regression: any "context window", "context length" or "context size" in the engine's text was
    // taken for an overflow, also where the refusal quotes the app's own schema or text: the app was
    // told context_length_exceeded (LangChain trims the history, LiteLLM moves to its fallback model)
    // for a request that fits.
    // Prepare
    const err = refusedWith(
      'response_format: this engine cannot turn the schema into a grammar: unsupported "format": "uri" in {"description":"a page that fits the context window","format":"uri"}',
    );
    // Act
    const m = mapAskError(err);
    // Assess
    expect(m).toMatchObject({ status: 400, code: "job_failed" });
  });

  const routes: Array<[string, string, Record<string, unknown>]> = [
    ["/v1/chat/completions", "messages", { messages: [{ role: "user", content: "hi" }] }],
    ["/v1/responses", "input", { input: "hi" }],
    ["/v1/completions", "prompt", { prompt: "hi" }],
  ];
  for (const [path, param, fields] of routes) {
    it(`names ${param} on ${path}, as OpenAI does`, async () => {
      // Prepare
      const { url } = await startFakedProxy([{ id: MODEL, capabilities: caps({ completions: true }) }], {
        ask: async () => {
          throw refusedWith("messages: the prompt is 10020 tokens, the context window 2048");
        },
      });
      // Act
      const r = await fetch(`${url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL, ...fields }),
      });
      const body = (await r.json()) as { error: Record<string, unknown> };
      // Assess
      expect(r.status).toBe(400);
      expect(body.error).toMatchObject({ type: "invalid_request_error", code: "context_length_exceeded", param });
    });
  }

  it("names input on /v1/embeddings", async () => {
    // Prepare
    const { url } = await startFakedProxy([{ id: MODEL, capabilities: caps({ embeddings: true }) }], {
      embed: async () => {
        throw refusedWith("input[0] is 900 tokens, the embedding window 512");
      },
    });
    // Act
    const r = await fetch(`${url}/v1/embeddings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, input: ["a", "b"] }),
    });
    const body = (await r.json()) as { error: Record<string, unknown> };
    // Assess
    expect(r.status).toBe(400);
    expect(body.error).toMatchObject({ code: "context_length_exceeded", param: "input" });
  });
});

describe("regression: a text prompt whose sealed envelope passes the network's cap is OpenAI's context_length_exceeded", () => {
  // Regression: the coordinator's 413 envelope_too_large (a prompt under the token cap whose
  // envelope passes 200 KB) reached the app as 400 envelope_too_large, which no history trimming
  // looks for; past the token cap the same app was told context_length_exceeded.
  const tooLarge = () => new ApiError(413, "envelope_too_large", "the envelope exceeds 204800 bytes; shorten the prompt");

  const routes: Array<[string, string, Record<string, unknown>, Record<string, unknown>]> = [
    ["/v1/chat/completions", "messages", { messages: [{ role: "user", content: "hi" }] }, { completions: true }],
    ["/v1/responses", "input", { input: "hi" }, { completions: true }],
    ["/v1/completions", "prompt", { prompt: "hi" }, { completions: true }],
    ["/v1/embeddings", "input", { input: ["a"] }, { embeddings: true }],
  ];
  for (const [path, param, fields, capabilities] of routes) {
    it(`names ${param} on ${path}, not to be retried`, async () => {
      // Prepare
      const { url } = await startFakedProxy([{ id: MODEL, capabilities: caps(capabilities) }], {
        ask: async () => {
          throw tooLarge();
        },
        embed: async () => {
          throw tooLarge();
        },
      });
      // Act
      const r = await fetch(`${url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL, ...fields }),
      });
      const body = (await r.json()) as { error: Record<string, unknown> };
      // Assess
      expect(r.status).toBe(400);
      expect(r.headers.get("x-should-retry")).toBe("false");
      expect(body.error).toMatchObject({
        type: "invalid_request_error",
        code: "context_length_exceeded",
        param,
        message: "the envelope exceeds 204800 bytes; shorten the prompt",
      });
    });
  }

  // walk40: the SDK now refuses such a prompt itself, before a quote (AskInputError
  // prompt_too_large), naming its own field: "messages" also for a /v1/responses input or a
  // /v1/completions prompt it sent through the chat template. The app is told as before, the route's field named.
  for (const [path, param, fields, capabilities] of routes) {
    it(`walk40: the SDK's own prompt_too_large names ${param} on ${path}, as context_length_exceeded`, async () => {
      // Prepare
      const refused = () => new AskInputError("messages", "the prompt would seal to up to 217551 bytes", "prompt_too_large");
      const { url } = await startFakedProxy([{ id: MODEL, capabilities: caps(capabilities) }], {
        ask: async () => {
          throw refused();
        },
        embed: async () => {
          throw refused();
        },
      });
      // Act
      const r = await fetch(`${url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL, ...fields }),
      });
      const body = (await r.json()) as { error: Record<string, unknown> };
      // Assess
      expect(r.status).toBe(400);
      expect(body.error).toMatchObject({ type: "invalid_request_error", code: "context_length_exceeded", param });
    });
  }

  it("a job journal the proxy cannot write is its own fault: 500 server_error naming the journal, not a 502 from upstream", () => {
    // Act
    const m = mapAskError(
      new JobJournalError("/home/me/.cocoon/requester.key.jobs.jsonl", Object.assign(new Error("no space"), { code: "ENOSPC" })),
    );
    // Assess
    expect(m).toMatchObject({ status: 500, type: "server_error", code: "journal_unwritable", retryable: false });
    expect(m.message).toContain("ENOSPC");
  });

  it("keeps the SDK's 413 request_too_large for images as it was", () => {
    // Act
    const m = mapAskError(new AskInputError("messages", "the sealed request would take up to 300000 bytes", "request_too_large"));
    // Assess
    expect(m).toMatchObject({ status: 413, type: "invalid_request_error", code: "request_too_large", param: "messages" });
  });
});

describe("regression: missing funds are said in the app's terms", () => {
  // Regression: the 402 passed on the coordinator's sentence, "deposit more or lower maxTokens": an
  // SDK option the app never set (it names max_tokens, or nothing and gets cocoon serve's budget).
  it("names max_tokens, cocoon serve's default budget and cocoon deposit, with the amounts", () => {
    // Prepare
    const err = anApiError(402, "insufficient_funds", { needed: "123660", available: "0" });
    // Act
    const m = mapAskError(err);
    // Assess
    expect(m).toMatchObject({ status: 402, type: "insufficient_quota", code: "insufficient_funds" });
    expect(m.message).not.toContain("maxTokens");
    expect(m.message).toMatch(/^this request may cost up to 123660 nanoTON .* the account has 0 nanoTON available/);
    expect(m.message).toContain("max_tokens");
    expect(m.message).toContain("--max-tokens");
    expect(m.message).toContain("cocoon deposit");
  });

  it("on /v1/embeddings advises on the inputs, not max_tokens, which an embeddings request has none of", async () => {
    // Regression: an app with no funds left got, for its embeddings, "lower max_tokens
    // (max_completion_tokens, max_output_tokens) … cocoon serve's default budget (--max-tokens)":
    // fields and a flag that do not apply to embeddings, whose hold is their inputs' tokens alone.
    // Prepare
    const refused = anApiError(402, "insufficient_funds", { needed: "650", available: "0" });
    const { openai } = await startFakedProxy([{ id: MODEL, capabilities: caps({ embeddings: true }) }], {
      ask: async () => Promise.reject(refused),
      embed: async () => Promise.reject(refused),
    });
    // Act
    const embed = await openai.embeddings.create({ model: MODEL, input: ["a", "b"] }).catch((e: unknown) => e);
    const chat = await openai.chat.completions
      .create({ model: MODEL, messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    // Assess
    expect(embed).toMatchObject({ status: 402, code: "insufficient_funds", type: "insufficient_quota" });
    expect((embed as Error).message).toMatch(/^402 this request may cost up to 650 nanoTON .* the account has 0 nanoTON available/);
    expect((embed as Error).message).toContain("cocoon deposit");
    expect((embed as Error).message).toContain("fewer or shorter inputs");
    expect((embed as Error).message).not.toMatch(/max_tokens|max-tokens/);
    expect((chat as Error).message).toContain("lower max_tokens");
  });

  it("keeps the network's own sentence when it gives no amounts", () => {
    // Prepare
    const err = anApiError(402, "insufficient_funds");
    // Act
    const m = mapAskError(err);
    // Assess
    expect(m.message).toBe("the API said insufficient_funds");
  });
});

describe("regression: an unreachable coordinator is 503 coordinator_unavailable, to be retried later", () => {
  // BUG: the API client's `unreachable` (DNS, connection refused, reset) matched no code and came out
  // 502 upstream_error quoting the coordinator's URL and the socket error; OpenAI-style clients and
  // routers (LiteLLM's fallbacks, LangChain's retries) read 503 as "service unavailable, retry later".
  const refused = () =>
    new ApiError(
      0,
      "unreachable",
      "cannot reach the Cocoon API at https://api.cocoon.example (connect ECONNREFUSED 10.1.2.3:443); check that URL (--api, COCOON_API_URL) and your network connection",
    );

  it("answers 503 coordinator_unavailable with a retry-after, naming no address nor socket error", () => {
    // Prepare
    const err = refused();
    // Act
    const m = mapAskError(err);
    const answer = errorResponse(m);
    // Assess
    expect(m).toMatchObject({ status: 503, type: "service_unavailable", code: "coordinator_unavailable", param: null });
    expect(m.message).not.toMatch(/cocoon\.example|ECONNREFUSED|10\.1\.2\.3|COCOON_API_URL/);
    expect(answer.headers["retry-after"]).toBe(String(COORDINATOR_RETRY_AFTER_S));
    expect(answer.headers["x-should-retry"]).toBeUndefined();
  });

  const cases: Array<[string, unknown, number, string]> = [
    ["a gateway's 502 page in front of it", new ApiError(502, "bad_response", "non-JSON"), 503, "coordinator_unavailable"],
    ["a gateway's 504 page in front of it", new ApiError(504, "bad_response", "non-JSON"), 503, "coordinator_unavailable"],
    ["a gateway's 503 JSON without an error code", new ApiError(503, "http_error", "HTTP 503"), 503, "coordinator_unavailable"],
    ["the coordinator's own 500 (it answered)", anApiError(500, "internal"), 502, "internal"],
    ["an answer off its schema (status 0)", new ApiError(0, "bad_response", "off schema"), 502, "bad_response"],
    ["a non-JSON 200", new ApiError(200, "bad_response", "non-JSON"), 502, "bad_response"],
  ];
  for (const [what, err, status, code] of cases) {
    it(`answers ${status} ${code} for ${what}`, () => {
      // Prepare: err
      // Act
      const m = mapAskError(err);
      // Assess
      expect(m).toMatchObject({ status, code });
    });
  }

  it("gives the openai client a 503 it can act on, and serve's console the error itself", async () => {
    // Prepare
    const errors: unknown[] = [];
    const { url } = await startFakedProxy([MODEL], {
      ask: async () => {
        throw refused();
      },
      onError: (e) => void errors.push(e),
    });
    const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: "any", maxRetries: 0 });
    // Act
    const err = (await openai.chat.completions
      .create({ model: MODEL, messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    // Assess
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.status).toBe(503);
    expect(err.code).toBe("coordinator_unavailable");
    expect(err.headers?.get("retry-after")).toBe(String(COORDINATOR_RETRY_AFTER_S));
    expect(errors).toHaveLength(1);
    expect(String((errors[0] as Error).message)).toMatch(/ECONNREFUSED/);
  });
});

describe("regression: a job whose coordinator was lost after its submit went out is not to be retried", () => {
  // BUG: the SDK's `unreachable` after the submit had gone out (the connection lost while the
  // answer was awaited) came out 503 coordinator_unavailable like one that never left, and the
  // openai clients retried it: a second paid job while the first could still complete and be billed.
  const lost = () =>
    new JobOutcomeUnknownError(
      "job_0123456789abcdefghijklmnop",
      false,
      30_000,
      new ApiError(0, "unreachable", "the connection to the Cocoon API at https://api.cocoon.example was lost (socket hang up)"),
    );

  it("answers 502 job_outcome_unknown with x-should-retry: false, naming the job and no address", () => {
    // Prepare
    const err = lost();
    // Act
    const m = mapAskError(err);
    const answer = errorResponse(m);
    // Assess
    expect(m).toMatchObject({ status: 502, type: "upstream_error", code: "job_outcome_unknown", param: null });
    expect(m.message).toContain("job_0123456789abcdefghijklmnop");
    expect(m.message).toMatch(/may still complete and be billed/);
    expect(m.message).not.toMatch(/cocoon\.example|socket hang up/);
    expect(answer.headers["x-should-retry"]).toBe("false");
    expect(answer.headers["retry-after"]).toBeUndefined();
  });
});
