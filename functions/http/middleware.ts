import { randomUUID } from "node:crypto";
import { z, ZodError } from "zod";
import { authenticateRequest, ReplayGuardFullError, type AuthMode, type ReplayPolicy } from "../../core/auth";
import type { CoreDeps } from "../../core/deps";
import { AuthError } from "../../core/crypto/errors";
import { parseAuthHeader } from "../../core/crypto/request-auth";
import { CocoonError, UnauthenticatedError, UnavailableError } from "../../core/errors";
import { BodyTooLargeError, BusyError, jsonResponse, type HttpRequest, type HttpResponse } from "../../edge/http";
import { createRouter } from "../../edge/router";
import { withRouteHint } from "./route-hints";

/**
 * One route = its contract (method, path, auth, zod schemas for body, query and headers) + a
 * function of parsed input. It knows no transport: it runs on the neutral request of
 * edge/http.ts, which the Lambda mapper (./lambda.ts) and node:http (edge/node.ts) build.
 * Schemas come from events/; the OpenAPI document (./openapi.ts) is generated from them.
 */
export interface RouteSpec<B extends Part, Q extends Part, H extends Part> {
  method: "GET" | "POST";
  path: string; // API Gateway style: /v1/jobs/{id}
  summary: string;
  /**
   * "signed": an Ed25519 signature; "session": a signature or a session's MAC (core/auth.ts
   * AuthMode: the hot path takes sessions, which cost a fraction of a verification); "none".
   */
  auth: AuthMode | "none";
  /**
   * Signed routes: "guard" (default) refuses a replayed request through the replay guard (a
   * store write per request on AWS); "idempotent" skips it because a replay changes nothing
   * (core/auth.ts ReplayPolicy).
   */
  replay?: ReplayPolicy;
  body?: B;
  query?: Q;
  /** A zod object keyed by lower-case header names (the signature header is the security scheme, not listed here). */
  headers?: H;
  response?: z.ZodType;
  status?: number;
}

type Part = z.ZodType | undefined;
type Infer<T> = T extends z.ZodType ? z.output<T> : undefined;
/** A route without a headers schema is given none (an empty object). */
type InferHeaders<T> = T extends z.ZodType ? z.output<T> : Record<string, never>;

export interface RouteInput<B, Q, H> {
  deps: CoreDeps;
  caller: string; // key id of the signer ("" for auth: none)
  /** The signed request's nonce ("" for auth: none): an identity an idempotent route may key its effect by. */
  requestNonce?: string;
  body: B;
  /**
   * The body's size as the request carried it (UTF-8 bytes, before parsing), for a route with a
   * body: a cap on the request (a result batch's 5 MiB) reads it here rather than serialising
   * the parsed body again. Absent where the input was not read from a request.
   */
  bodyBytes?: number;
  query: Q;
  headers: H;
  params: Record<string, string>;
  /**
   * Aborts when the client goes away before its answer is written (node:http: the local
   * coordinator); absent where no transport tells (Lambda), and for a call that does not wait
   * (query `wait` 0 or none). A long-poll passes it into its wait, so a client that hangs up
   * frees its waiter (a timer and a listener) at once rather than after up to maxWaitSeconds.
   */
  readonly signal?: AbortSignal;
}

export interface Route<B extends Part = Part, Q extends Part = Part, H extends Part = Part> {
  spec: RouteSpec<B, Q, H>;
  run(input: RouteInput<Infer<B>, Infer<Q>, InferHeaders<H>>): Promise<unknown>;
}

export function defineRoute<B extends Part = undefined, Q extends Part = undefined, H extends Part = undefined>(
  spec: RouteSpec<B, Q, H>,
  run: (input: RouteInput<Infer<B>, Infer<Q>, InferHeaders<H>>) => Promise<unknown>,
): Route<B, Q, H> {
  return { spec, run };
}

/**
 * Lambda's synchronous payload limit, 6 MB, for the request (the whole event) and for the
 * response (the JSON of the result, whose body is JSON once more) each: API Gateway and function
 * URLs pass nothing larger. What a route answers must fit (a reply is capped for it:
 * events/envelope.ts MAX_REPLY_BYTES), and the local server reads requests up to it, as Lambda
 * takes them.
 */
export const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

export const errorBody = (code: string, message: string, details?: unknown) => ({
  error: { code, message, ...(details !== undefined ? { details } : {}) },
});

// ---------------------------------------------------------------- shared schemas

/** The Idempotency-Key of money-moving POSTs: the same key on every retry of one request. */
export const IdempotencyKey = z
  .string({ error: "send an Idempotency-Key header (8-128 chars of A-Z a-z 0-9 _ . : -), the same one on every retry of this request" })
  .regex(/^[A-Za-z0-9_.:-]{8,128}$/, {
    error: "an Idempotency-Key is 8-128 chars of A-Z a-z 0-9 _ . : -, the same one on every retry of this request",
  })
  .meta({
    description:
      "The same key on every retry of one request: a replay with the same body answers as before, with another body 422 idempotency_key_reused. Signed (x-cocoon-auth).",
  });

/** The one header schema of requests that move money: submit, withdraw. */
export const IdempotencyHeaders = z.object({ "idempotency-key": IdempotencyKey });
/** The same header where it is optional (the dev faucets: without it every call is new). */
export const OptionalIdempotencyHeaders = IdempotencyHeaders.partial();

/** The machine-readable code of a header that fails its schema (kept from before headers were declared). */
const HEADER_ERROR_CODES: Record<string, string> = { "idempotency-key": "missing_idempotency_key" };

/** Query strings carry numbers as text. */
export const WaitQuery = z.object({ wait: z.coerce.number().int().min(0).max(60).default(0) });

// ---------------------------------------------------------------- running a route

/** Zod issues → one message that names each bad field and what it should be. */
function describeZod(where: string, e: ZodError) {
  const issues = e.issues.map((i) => ({ path: [where, ...i.path.map(String)].join("."), message: i.message }));
  return { message: issues.map((i) => `${i.path}: ${i.message}`).join("; "), issues };
}

function parsePart<T extends Part>(schema: T, value: unknown, where: "body" | "query" | "headers"): Infer<T> {
  if (!schema) return undefined as Infer<T>;
  let r: ReturnType<NonNullable<T>["safeParse"]>;
  try {
    r = schema.safeParse(value) as typeof r;
  } catch (e) {
    // JSON.parse takes any depth, but a refinement that serialises an unknown-typed field (an
    // attestation's collateral) overflows the stack on one nested thousands deep: the caller's fault
    if (e instanceof RangeError) throw new CocoonError(400, "invalid_request", `${where} is nested too deeply to read`);
    throw e;
  }
  if (!r.success) {
    const d = describeZod(where, r.error);
    const code = where === "headers" ? (HEADER_ERROR_CODES[String(r.error.issues[0]?.path[0])] ?? "invalid_header") : "invalid_request";
    throw new CocoonError(400, code, d.message, d.issues);
  }
  return r.data as Infer<T>;
}

/**
 * A refusal that says when to come back (a rate limit, too many waits, too many channels: its
 * details' retryAfterSeconds) says it in Retry-After too, the header HTTP clients and proxies
 * read; the body alone reached only our own SDK.
 */
function retryAfterOf(details: unknown): Record<string, string> {
  const s = typeof details === "object" && details !== null ? (details as { retryAfterSeconds?: unknown }).retryAfterSeconds : undefined;
  return typeof s === "number" && Number.isFinite(s) && s >= 0 ? { "retry-after": String(Math.ceil(s)) } : {};
}

/**
 * What a failure answers, wherever it happens: a CocoonError under 500, or an UnavailableError
 * (a 503 on purpose), its own status, code and message; an oversize body 413; a transport out of room for bodies, or a full replay guard, 503
 * server_busy; a path that
 * does not percent-decode 400 (API Gateway refuses it with a 400 as well); anything else a 500
 * with a reference, its detail in the log only.
 */
export function failureResponse(e: unknown, log: Pick<CoreDeps["log"], "error">, where: string): HttpResponse {
  if (e instanceof ReplayGuardFullError)
    return jsonResponse(503, errorBody(e.code, e.message, e.details), { "retry-after": String(e.retryAfterSeconds) });
  // a 503 refused on purpose (a feature not configured, a stale policy): its words are the client's, its retry-after only where asking again may help
  if ((e instanceof CocoonError && e.status < 500) || e instanceof UnavailableError)
    return jsonResponse(e.status, errorBody(e.code, withRouteHint(e.code, e.message), e.details), retryAfterOf(e.details));
  if (e instanceof BodyTooLargeError) return jsonResponse(413, errorBody("body_too_large", e.message));
  if (e instanceof BusyError) return jsonResponse(503, errorBody("server_busy", `${e.message}; try again shortly`), { "retry-after": "1" });
  if (e instanceof URIError) {
    return jsonResponse(
      400,
      errorBody(
        "malformed_path",
        "the request path does not decode: a malformed percent-encoding (like %E0%A4%A) or not a URL; percent-encode it as UTF-8",
      ),
    );
  }
  const ref = randomUUID();
  log.error("unhandled error", { ref, route: where, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
  const code = e instanceof CocoonError ? e.code : "internal_error";
  const status = e instanceof CocoonError ? e.status : 500;
  // 503: nothing was done, and the same request may be sent again (the store was busy)
  return jsonResponse(status, errorBody(code, `internal error; reference ${ref}`), status === 503 ? { "retry-after": "1" } : {});
}

/**
 * Long-polls (a query `wait` above 0) one caller may hold open at once in this process. Each
 * holds a timer and a listener on its job's notifier topic until it is answered, runs out
 * (maxWaitSeconds) or its client goes away (the waits take the request's signal, RouteInput).
 * A job's waiters are all its requester's, so this bounds every topic too. The SDK holds about two per job
 * in flight (the job, its chunks) and an agent one: 512 jobs in flight from one key. On Lambda a
 * container runs one request at a time: the count never passes one.
 */
export const MAX_WAITS_PER_CALLER = 1024;

/** A caller over MAX_WAITS_PER_CALLER: 429 too_many_waits, try again in a second. */
export class TooManyWaitsError extends CocoonError {
  constructor(limit: number) {
    super(429, "too_many_waits", `this key already holds ${limit} long-polls (?wait=) open; wait for one to answer, or poll with wait=0`, {
      limit,
      retryAfterSeconds: 1,
    });
  }
}

/** Open long-polls per caller; a caller is in the map only while it holds one. */
type WaitCounts = Map<string, number>;

const isLongPoll = (query: unknown) =>
  typeof query === "object" &&
  query !== null &&
  typeof (query as { wait?: unknown }).wait === "number" &&
  (query as { wait: number }).wait > 0;

/** Runs `run` holding one of the caller's long-poll slots (a call without `wait` takes none). */
async function holdingWait<T>(waits: WaitCounts, limit: number, caller: string, query: unknown, run: () => Promise<T>): Promise<T> {
  if (!caller || !isLongPoll(query)) return run();
  const held = waits.get(caller) ?? 0;
  if (held >= limit) throw new TooManyWaitsError(limit);
  waits.set(caller, held + 1);
  try {
    return await run();
  } finally {
    const left = (waits.get(caller) ?? 1) - 1;
    if (left > 0) waits.set(caller, left);
    else waits.delete(caller);
  }
}

/** Runs one matched route: authenticate, parse body, query and headers, call, map errors. Never leaks a 5xx message. */
async function runRoute(
  route: Route,
  req: HttpRequest,
  params: Record<string, string>,
  deps: CoreDeps,
  waits: WaitCounts,
  maxWaits: number,
): Promise<HttpResponse> {
  try {
    const signer =
      route.spec.auth !== "none"
        ? await authenticateRequest(
            deps,
            {
              method: req.method,
              path: req.path + (req.rawQuery ? `?${req.rawQuery}` : ""),
              body: req.body,
              authHeader: req.headers["x-cocoon-auth"],
              // From the transport (not a client header): the deployment the signature must name.
              host: req.host,
              idempotencyKey: req.headers["idempotency-key"],
            },
            route.spec.replay,
            route.spec.auth,
          )
        : undefined;
    const caller = signer?.keyId ?? "";
    let parsedJson: unknown = undefined;
    if (route.spec.body) {
      try {
        parsedJson = req.body ? JSON.parse(req.body) : undefined;
      } catch {
        throw new CocoonError(400, "invalid_json", "request body is not valid JSON");
      }
    }
    const body = parsePart(route.spec.body, parsedJson, "body");
    const query = parsePart(route.spec.query, req.query, "query");
    const headers = route.spec.headers ? parsePart(route.spec.headers, req.headers, "headers") : {};
    const input = { deps, caller, requestNonce: signer?.nonce ?? "", body, query, headers, params };
    // Given to long-polls only, through a getter: the edge makes its signal (an AbortController
    // and a listener) on first read, and a call that does not wait has no use for it.
    const longPoll = isLongPoll(query);
    Object.defineProperty(input, "signal", { get: () => (longPoll ? req.signal : undefined), enumerable: true });
    // Measured on first read (a result batch's cap), not for every request with a body
    Object.defineProperty(input, "bodyBytes", {
      get: () => (route.spec.body ? Buffer.byteLength(req.body, "utf8") : undefined),
      enumerable: true,
    });
    const result = await holdingWait(waits, maxWaits, caller, query, () => route.run(input));
    return jsonResponse(route.spec.status ?? 200, result);
  } catch (e) {
    return failureResponse(e, deps.log, `${route.spec.method} ${route.spec.path}`);
  }
}

/**
 * The routes as one request handler: match method and path through the shared router (404
 * no_such_route, 405 method_not_allowed, 400 malformed_path), then run the route. The local
 * server serves every route through it; a Lambda serves its one route through it, so a
 * function URL (no API Gateway routing in front) gets the same path parameters and refusals.
 */
export function routeRequests(
  routes: Route[],
  deps: CoreDeps,
  o: { maxWaitsPerCaller?: number } = {},
): (req: HttpRequest) => Promise<HttpResponse> {
  const router = routerOf(routes);
  const waits: WaitCounts = new Map();
  const maxWaits = o.maxWaitsPerCaller ?? MAX_WAITS_PER_CALLER;
  return async (req) => {
    try {
      const hit = router.match(req.method, req.path);
      if (hit.kind === "found") return await runRoute(hit.value, req, hit.params, deps, waits, maxWaits);
      return unrouted(req, hit);
    } catch (e) {
      return failureResponse(e, deps.log, `${req.method} ${req.path}`);
    }
  };
}

const routerOf = (routes: Route[]) => createRouter(routes.map((r) => ({ method: r.spec.method, path: r.spec.path, value: r })));

/** The answer for a request no route takes: 405 with the methods allowed, else 404. */
function unrouted(req: HttpRequest, hit: { kind: "method_not_allowed"; allowed: string[] } | { kind: "not_found" }): HttpResponse {
  if (hit.kind === "method_not_allowed")
    return jsonResponse(405, errorBody("method_not_allowed", `${req.method} is not allowed on ${req.path}`), {
      allow: hit.allowed.join(", "),
    });
  return jsonResponse(404, errorBody("no_such_route", `no route ${req.method} ${req.path}; see GET /openapi.json`));
}

/**
 * What a transport that reads the body itself (edge/node.ts `guard`) can refuse before reading
 * it, with the answer routeRequests would give after: no such route (404, 405), and a request
 * to an authenticated route that carries no credentials at all (401 missing_auth). Without it a
 * stranger's 6 MB body to any path was buffered and hashed before the refusal.
 */
export function refuseUnread(routes: Route[], log: Pick<CoreDeps["log"], "error">): (req: HttpRequest) => HttpResponse | undefined {
  const router = routerOf(routes);
  return (req) => {
    try {
      const hit = router.match(req.method, req.path);
      if (hit.kind !== "found") return unrouted(req, hit);
      if (hit.value.spec.auth !== "none" && req.headers["x-cocoon-auth"] === undefined) parseAuthHeader(undefined);
      return undefined;
    } catch (e) {
      const err = e instanceof AuthError ? new UnauthenticatedError(e.code, e.message) : e;
      return failureResponse(err, log, `${req.method} ${req.path}`);
    }
  };
}

/** Runs one route on a neutral request (matching its path template for the parameters). */
export function invokeRoute(route: Route, req: HttpRequest, deps: CoreDeps): Promise<HttpResponse> {
  return routeRequests([route], deps)(req);
}
