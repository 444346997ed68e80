/**
 * The signed-request HTTP client of the coordinator's API, shared by the requester (SDK, CLI)
 * and the worker agent. Every answer is parsed on arrival with the response schema the
 * server declares for that route (api-client/routes.ts, schemas from events/).
 */
import http from "node:http";
import https from "node:https";
import { z } from "zod";
import { ErrorBody } from "../events/common";
import { apiHostOf, signRequest } from "../core/crypto/request-auth";
import { b64u } from "../core/crypto/encoding";
import { generateKemKey } from "../core/crypto/keys";
import { openSealedSession, SESSION_RENEW_MS, SESSION_TTL_MS, sessionAuthHeader, type Session } from "../core/crypto/session-auth";
import type { SigningKeyPair } from "../core/crypto/keys";
import { RouteKey, RouteUrl } from "../events/api";
import { API, type ApiRoute, routeOf } from "./routes";

/** An error answered by the coordinator (or about its answer), with its machine-readable code. */
export class ApiError extends Error {
  override readonly name: string = "ApiError"; // widened: client/sdk.ts PriceAboveCapError names itself
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

// Keep-alive agents shared by every client: a job is several short calls, and a fresh TCP
// connection (or undici fetch's stream machinery, ~2 ms per POST here) would dominate them.
const agents = {
  "http:": new http.Agent({ keepAlive: true, maxSockets: 256 }),
  "https:": new https.Agent({ keepAlive: true, maxSockets: 256 }),
};

interface RawResponse {
  status: number;
  text: string;
  /** the server's Date header (whole seconds) */
  date: string | undefined;
  /** the session (as this.session held it) the request was authenticated with, if any */
  via?: Promise<Session | undefined>;
}

/**
 * What a request given up by its caller's signal rejects with, as fetch does: the signal's reason
 * (by default a DOMException named "AbortError"), or a named AbortError when the reason is no Error.
 */
export function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : Object.assign(new Error("aborted"), { name: "AbortError" });
}

/** Throws abortError when `signal` is aborted already (the SDK's waits use it too). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** A wait between retries, ended at once (rejecting) by an abort: nobody waits for the answer any more. */
export function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  throwIfAborted(signal);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Connection errors of requests whose bytes may have reached the server: the socket was connected
 * (for https, its TLS handshake done) when it failed. A POST failing so may have been carried out;
 * one failing before (DNS, refused, no route, a TLS error) never left this machine.
 */
const afterSending = new WeakSet<object>();

/**
 * One HTTP exchange. An aborted `signal` destroys the request (its socket closes, so the
 * coordinator stops holding a long poll for nobody) and rejects with abortError; one aborted
 * already sends nothing. A connection error is marked in `afterSending` when the request may
 * have reached the server.
 */
function send(url: URL, method: string, headers: Record<string, string>, body: string, signal?: AbortSignal): Promise<RawResponse> {
  const mod = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const settle = (f: () => void) => {
      signal?.removeEventListener("abort", onAbort);
      f();
    };
    // Node writes the request once its socket connects (a kept-alive one is connected already);
    // over TLS the request's bytes go out only after the handshake.
    let connected = false;
    const sentWith = (e: Error) => {
      if (connected) afterSending.add(e);
      return e;
    };
    const req = mod.request(url, { method, headers, agent: agents[url.protocol as "http:" | "https:"] }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        settle(() => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8"), date: res.headers.date })),
      );
      res.on("error", (e) => settle(() => reject(sentWith(e))));
    });
    req.on("socket", (s) => {
      if (!s.connecting) connected = true;
      else s.once(url.protocol === "https:" ? "secureConnect" : "connect", () => (connected = true));
    });
    // rejected first, so the error the destroyed socket then raises (whatever it is) is not what the caller sees
    const onAbort = () => {
      reject(abortError(signal!));
      req.destroy();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    req.on("error", (e) => settle(() => reject(sentWith(e))));
    req.end(body || undefined);
  });
}

type Method = "GET" | "POST";

/** Connection errors that mean the request never left this machine (safe to send again elsewhere). */
const NEVER_SENT = new Set(["ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH"]);

/** GET /v1/routes as the client reads it: entry by entry (RouteKey, RouteUrl), so one bad entry is left out, not the directory. */
const DirectoryEntries = z.object({ urls: z.record(z.string(), z.unknown()) });
/** A session refused for what it is (ended, not this deployment's, not taken here): the request did nothing, and is signed instead. */
const SESSION_REFUSED = /"code":"(bad_session|session_expired|sessions_unavailable|session_not_accepted)"/;
/** How long the client signs instead after a deployment said it has no sessions, or a handshake failed. */
const SESSIONS_OFF_MS = { unavailable: 10 * 60_000, failed: 60_000 };
/** Times a request answered 503 store_busy is sent again (waits ~0.2–0.4, 0.4–0.8, 0.8–1.6 s). */
export const STORE_BUSY_RETRIES = 3;

/** What `request` takes besides the route: path parameters, query, body (typed by the route's body schema) and headers. */
export interface RequestOptions<B> {
  params?: Record<string, string | number>;
  query?: Record<string, string | number>;
  body?: B;
  headers?: Record<string, string>;
  /**
   * Gives the request up: the HTTP request in flight is destroyed and the call rejects with
   * abortError (the signal's reason). Never sent again by any retry; not sent at all if aborted already.
   */
  signal?: AbortSignal;
}

type BodyOf<R> = R extends { body: z.ZodType } ? z.input<R["body"]> : never;

/** "/v1/jobs/{id}" + { id } + { wait: 20 } → "/v1/jobs/job_…?wait=20" */
export function pathOf(
  template: string,
  params: Record<string, string | number> = {},
  query: Record<string, string | number> = {},
): string {
  const path = template.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const v = params[name];
    if (v === undefined) throw new ApiError(0, "missing_path_parameter", `${template} needs the path parameter ${name}`);
    return encodeURIComponent(String(v));
  });
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString();
  return qs ? `${path}?${qs}` : path;
}

const describeIssues = (e: z.ZodError) => e.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");

/**
 * Signs every call with the caller's Ed25519 key (docs/architecture.md §6: no bearer secrets
 * on the wire), for the host of `baseUrl` (the deployment) and with the Idempotency-Key it sends;
 * on the hot path (routes marked `session`) it authenticates with a request session instead
 * (core/crypto/session-auth.ts: one signed handshake an hour, then an HMAC per request, which the
 * coordinator checks for a fraction of a signature's cost). A session that is refused, or a
 * deployment without sessions, costs nothing but the signature it falls back to.
 */
export class ApiClient {
  /** The deployment this client signs for: a signature made here is refused by any other API host. */
  readonly host: string;
  /** Server time minus our clock, learnt from a refused timestamp (the server accepts at most 5 s ahead). */
  private clockOffsetMs = 0;
  /**
   * Where each route answers besides `baseUrl` (GET /v1/routes, issue 12: on AWS, the routes'
   * Lambda function URLs, which cost nothing per request where API Gateway does), asked once.
   */
  private directory: Promise<Map<string, string>> | undefined;
  private directoryAgainAt = 0;
  /** The request session in use or being opened (one handshake however many requests wait for it). */
  private session: Promise<Session | undefined> | undefined;
  private sessionsOffUntil = 0;
  /**
   * Routes this client thought take sessions that the coordinator refused one on (401
   * session_not_accepted: its function is of another version than this client's route table):
   * signed from then on. Only that route; the others keep their session.
   */
  private readonly signedOnly = new Set<ApiRoute>();
  /** Requests sent, by how they were authenticated (what the bench and the tests read). */
  readonly sent = { signed: 0, session: 0 };

  readonly baseUrl: string;

  constructor(
    baseUrl: string,
    readonly key: SigningKeyPair,
    private readonly now: () => number = Date.now,
  ) {
    // "https://host/" is how URLs are often written: base + "/v1/…" asked "//v1/…", which no route takes.
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.host = apiHostOf(this.baseUrl);
  }

  /**
   * Calls one of the API's routes (`API.*`) and returns its answer parsed with the route's
   * response schema: a malformed answer is an ApiError `bad_response`, never a cast.
   */
  async request<R extends ApiRoute>(route: R, o: RequestOptions<BodyOf<R>> = {}): Promise<z.output<R["response"]>> {
    const path = pathOf(route.path, o.params, o.query);
    const json = await this.requestJson(route.method, path, o.body ?? (route.method === "POST" ? {} : undefined), o.headers, o.signal);
    return parseAnswer(route, path, json);
  }

  /**
   * A route's answer as JSON, unparsed: for callers that parse it piece by piece with the
   * route's element schemas (the agent's job poll skips a malformed item, not the batch).
   * An abort of `signal` (RequestOptions.signal) ends it wherever it is, and no retry below sends it again
   * (each goes through send, which sends nothing once the signal is aborted).
   */
  async requestJson(
    method: Method,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<unknown> {
    throwIfAborted(signal);
    let sessions = true;
    let first = await this.signAndSend(method, path, body, headers, sessions, signal);
    // A session refused at authentication did nothing: the request is signed instead (and so are
    // its retries below).
    const refused = first.status === 401 && first.via ? SESSION_REFUSED.exec(first.text)?.[1] : undefined;
    if (refused) {
      await this.sessionRefused(refused, first.via!, routeOf(method, path));
      sessions = false;
      first = await this.signAndSend(method, path, body, headers, sessions, signal);
    }
    // 503 store_busy: the coordinator's store kept conflicting and the request did nothing it
    // would not do again the same (every mutating route is idempotent by its own identity, and
    // a replay-guarded one is signed anew): sent again, a few times, after jittered waits.
    for (let i = 0; i < STORE_BUSY_RETRIES && first.status === 503 && /"code":"store_busy"/.test(first.text); i++) {
      await pause(200 * 2 ** i + Math.floor(Math.random() * 200 * 2 ** i), signal);
      first = await this.signAndSend(method, path, body, headers, sessions, signal);
    }
    // A timestamp refused as stale or ahead was refused before anything happened, so signing
    // again is safe; once, with the clock corrected by the server's Date header.
    if (first.status === 401 && first.date && /"code":"(future_request|stale_request)"/.test(first.text)) {
      // Date has whole seconds: aim at the top of that second, so the timestamp is never behind
      // the server (which a restarted coordinator reads as "signed before I started") and at
      // most 1 s ahead (it accepts 5 s).
      const offset = Date.parse(first.date) + 999 - this.now();
      if (Number.isFinite(offset) && Math.abs(offset - this.clockOffsetMs) > 1_000) {
        this.clockOffsetMs = offset;
        return this.answer(await this.signAndSend(method, path, body, headers, sessions, signal));
      }
    }
    return this.answer(first);
  }

  /**
   * By path: the route is found in `API` by method and path, and its answer parsed with that
   * route's schema. Prefer `request(API.x, …)`, which is typed by the schema.
   */
  async call(method: Method, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<unknown> {
    const route = routeOf(method, path);
    if (!route)
      throw new ApiError(0, "unknown_route", `${method} ${path.split("?")[0]} is not a route of the Cocoon API (api-client/routes.ts)`);
    return parseAnswer(route, path, await this.requestJson(method, path, body, headers));
  }

  get = (path: string) => this.call("GET", path);
  post = (path: string, body?: unknown, headers?: Record<string, string>) => this.call("POST", path, body ?? {}, headers);

  /** The URL a route answers at: its own (the directory's) or the base URL. */
  private async baseFor(method: Method, path: string): Promise<string> {
    if (!this.directory && this.now() < this.directoryAgainAt) return this.baseUrl;
    const urls = await (this.directory ??= this.readDirectory());
    if (urls.size === 0) return this.baseUrl; // everything at the base URL (the local default)
    const route = routeOf(method, path);
    return (route && urls.get(`${route.method} ${route.path}`)) ?? this.baseUrl;
  }

  /**
   * GET /v1/routes, unsigned. A coordinator without it (404) has none for good. Entries that are
   * not a route key and an origin (https where the base URL is) are left out, not the directory;
   * another failure sends everything to the base URL for a minute, then asks again.
   */
  private async readDirectory(): Promise<Map<string, string>> {
    try {
      const res = await send(new URL(this.baseUrl + API.routeDirectory.path), "GET", {}, "");
      if (res.status === 404) return new Map();
      const read = res.status === 200 ? DirectoryEntries.safeParse(JSON.parse(res.text)) : undefined;
      if (read?.success) {
        const https = new URL(this.baseUrl).protocol === "https:";
        return new Map(
          Object.entries(read.data.urls).flatMap(([k, v]) => {
            const url = RouteUrl.safeParse(v);
            // never from https down to http
            return RouteKey.safeParse(k).success && url.success && (!https || url.data.startsWith("https:")) ? [[k, url.data]] : [];
          }),
        );
      }
    } catch {
      // unreachable or not JSON: the request itself will say what is wrong
    }
    this.forgetDirectory();
    return new Map();
  }

  /** Everything to the base URL for a minute (a directory that failed, or a route URL that is gone), then the directory again. */
  private forgetDirectory() {
    this.directory = undefined;
    this.directoryAgainAt = this.now() + 60_000;
  }

  /**
   * The session to authenticate a request with, opened or renewed (SESSION_RENEW_MS before its
   * end, by server time) as needed; undefined when the client signs instead: sessions off, or
   * the handshake failed (the request must not fail for it).
   */
  private async currentSession(): Promise<{ promise: Promise<Session | undefined> } | undefined> {
    if (this.now() < this.sessionsOffUntil) return undefined;
    const pending = this.session;
    const held = pending && (await pending);
    if (held && held.expiresAt - SESSION_RENEW_MS > this.serverTime()) return { promise: pending };
    if (this.session === pending) this.session = this.openSession(); // one handshake for all who wait
    return this.session && { promise: this.session };
  }

  /** The coordinator's time as far as this client knows it (its clock plus the offset learnt from a refused timestamp). */
  serverTime(): number {
    return this.now() + this.clockOffsetMs;
  }

  /**
   * A time the coordinator sent (a quote's, a lease's, a challenge's expiresAt: its clock) on this
   * client's clock, by the offset learnt from a refused timestamp (0 until one was): what it
   * must be compared with `now` by, where clocks minutes apart would make it look spent or far off.
   */
  localTime(serverMs: number): number {
    return serverMs - this.clockOffsetMs;
  }

  /**
   * A signed handshake naming a fresh X25519 key, which the session key comes sealed to. A
   * failure leaves the client signing for a while (the request must not fail for it).
   */
  private async openSession(): Promise<Session | undefined> {
    try {
      const kem = generateKemKey();
      const sealed = await this.request(API.openSession, { body: { kem: b64u.encode(kem.publicKey) } });
      return openSealedSession(sealed, kem, this.key.id);
    } catch (e) {
      const unavailable = e instanceof ApiError && e.code === "sessions_unavailable";
      this.sessionsOffUntil = this.now() + (unavailable ? SESSIONS_OFF_MS.unavailable : SESSIONS_OFF_MS.failed);
      return undefined;
    }
  }

  /**
   * A session `via` was refused: dropped (unless another has replaced it meanwhile). Sessions stay
   * off for a while where the deployment has none, or where even a session opened a minute ago is
   * refused (its functions disagree on the secret, as during a rotation): each request would
   * otherwise cost a handshake, a refusal and a signature.
   */
  private async sessionRefused(code: string, via: Promise<Session | undefined>, route: ApiRoute | undefined): Promise<void> {
    // the session is fine, this route's function takes none: only the route is signed from now on
    if (code === "session_not_accepted" && route) return void this.signedOnly.add(route);
    if (this.session === via) this.session = undefined;
    const used = await via;
    const fresh = used !== undefined && used.expiresAt - SESSION_TTL_MS > this.serverTime() - 60_000;
    if (code === "sessions_unavailable" || code === "session_not_accepted")
      this.sessionsOffUntil = this.now() + SESSIONS_OFF_MS.unavailable;
    else if (fresh) this.sessionsOffUntil = this.now() + SESSIONS_OFF_MS.failed;
  }

  private async signAndSend(
    method: Method,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    sessions: boolean,
    signal?: AbortSignal,
  ): Promise<RawResponse> {
    const text = body === undefined ? "" : JSON.stringify(body, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
    const idempotencyKey = Object.entries(headers).find(([k]) => k.toLowerCase() === "idempotency-key")?.[1];
    const base = await this.baseFor(method, path);
    const route = routeOf(method, path);
    const via = sessions && route?.session && !this.signedOnly.has(route) ? (await this.currentSession())?.promise : undefined;
    const session = via && (await via);
    throwIfAborted(signal); // given up while the directory or a session was awaited: nothing signed, nothing counted
    const request = {
      method,
      path,
      body: text,
      // for the host it is sent to: another deployment's (or another route's function) refuses it
      host: base === this.baseUrl ? this.host : apiHostOf(base),
      idempotencyKey,
      now: Math.round(this.serverTime()),
    };
    const auth = session ? sessionAuthHeader(session, request) : signRequest(this.key, request);
    this.sent[session ? "session" : "signed"]++;
    let res: RawResponse;
    try {
      res = await send(
        new URL(base + path),
        method,
        {
          "x-cocoon-auth": auth,
          ...(text ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) } : {}),
          ...headers,
        },
        text,
        signal,
      );
    } catch (e) {
      // Given up by the caller: not a failure of the API, and not to be sent again anywhere.
      if (signal?.aborted) throw abortError(signal);
      // A route URL that no longer resolves or connects (a redeploy replaced its function) never
      // saw the request: ask the base URL instead, once.
      if (base !== this.baseUrl && NEVER_SENT.has((e as NodeJS.ErrnoException).code ?? "")) {
        this.forgetDirectory();
        return this.signAndSend(method, path, body, headers, sessions, signal);
      }
      // details.requestSent: whether the request may have reached the coordinator (a submit
      // failing so may have been taken: client/sdk.ts sends it again under its Idempotency-Key)
      const requestSent = afterSending.has(e as object);
      throw new ApiError(0, "unreachable", requestSent ? connectionLostMessage(base, e as Error) : unreachableMessage(base, e as Error), {
        requestSent,
      });
    }
    // Lambda's own 403/404 (not one of ours, which carry an error code): the function URL is gone; the handler never ran.
    if (base !== this.baseUrl && (res.status === 403 || res.status === 404) && !/"code"\s*:/.test(res.text)) {
      this.forgetDirectory();
      return this.signAndSend(method, path, body, headers, sessions, signal);
    }
    return session ? { ...res, via: via! } : res;
  }

  private answer(res: RawResponse): unknown {
    let parsed: unknown;
    try {
      parsed = res.text ? JSON.parse(res.text) : undefined;
    } catch {
      // Most often the URL is not the Cocoon API at all (another server, a proxy's error page): say which URL to check.
      throw new ApiError(
        res.status,
        "bad_response",
        `${this.baseUrl} answered ${res.status} with non-JSON: is that the Cocoon API? check that URL (--api, COCOON_API_URL)`,
      );
    }
    if (res.status < 200 || res.status >= 300) {
      const err = ErrorBody.safeParse(parsed);
      if (!err.success) {
        // Every 4xx of ours carries a coded error: an empty or foreign one (another server's 404,
        // a proxy's 403) most often means the URL is not the Cocoon API. A 5xx without one is a
        // gateway's or the platform's own failure, for which the URL may well be right.
        const hint =
          res.status < 500
            ? ` from ${this.baseUrl}, with no Cocoon error in it: is that the Cocoon API? check that URL (--api, COCOON_API_URL)`
            : "";
        throw new ApiError(res.status, "http_error", `HTTP ${res.status}${hint}`);
      }
      // Every route starts with /v1: an API URL that ends in /v1 (an OpenAI base URL's habit) asks /v1/v1/….
      const hint =
        err.data.error.code === "no_such_route" && /\/v1$/.test(this.baseUrl)
          ? `; the API URL (--api, COCOON_API_URL) is the coordinator's root, without /v1: ${this.baseUrl.replace(/\/v1$/, "")}`
          : "";
      throw new ApiError(res.status, err.data.error.code, err.data.error.message + hint, err.data.error.details);
    }
    return parsed;
  }
}

/**
 * 127.0.0.0/8, [::1] and localhost: where `npm start` serves the local network (and where a tdx
 * agent's engine must be). The one test of it (receipts verify's dev chain reader, the CLIs' dev
 * hints, the agent's engine check): a URL that does not parse is not loopback.
 */
export const isLoopbackUrl = (url: string): boolean => {
  let h: string;
  try {
    h = new URL(url).hostname;
  } catch {
    return false;
  }
  return h === "localhost" || h === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(h);
};

/**
 * Why a request got no answer, and what to check: the local network (`npm start`) only for a
 * loopback URL; for any other (a deployed coordinator) the URL itself and the network between.
 */
export function unreachableMessage(base: string, e: Error): string {
  return isLoopbackUrl(base)
    ? `cannot reach the Cocoon API at ${base} (${e.message}); is the local network running (npm start)?`
    : `cannot reach the Cocoon API at ${base} (${e.message}); check that URL (--api, COCOON_API_URL) and your network connection`;
}

/** A connection that failed after the request was sent: the request may have been carried out. */
const connectionLostMessage = (base: string, e: Error) =>
  `the connection to the Cocoon API at ${base} was lost after the request was sent (${e.message}); it may have been carried out`;

function parseAnswer<R extends ApiRoute>(route: R, path: string, json: unknown): z.output<R["response"]> {
  const r = route.response.safeParse(json);
  if (!r.success) {
    throw new ApiError(
      0,
      "bad_response",
      `the API's answer to ${route.method} ${path.split("?")[0]} does not match its schema (${describeIssues(r.error)})`,
      r.error.issues,
    );
  }
  return r.data as z.output<R["response"]>;
}

export { API };
