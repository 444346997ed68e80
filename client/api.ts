import http from "node:http";
import https from "node:https";
import { apiHostOf, signRequest } from "../core/crypto/request-auth";
import type { SigningKeyPair } from "../core/crypto/keys";

/** An error answered by the coordinator, with its machine-readable code. */
export class ApiError extends Error {
  override readonly name = "ApiError";
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
}

function send(url: URL, method: string, headers: Record<string, string>, body: string): Promise<RawResponse> {
  const mod = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method, headers, agent: agents[url.protocol as "http:" | "https:"] }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8"), date: res.headers.date }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body || undefined);
  });
}

/**
 * Signs every call with the caller's Ed25519 key (DESIGN.md: no bearer secrets on the wire),
 * for the host of `baseUrl` (the deployment) and with the Idempotency-Key it sends.
 */
export class ApiClient {
  /** The deployment this client signs for: a signature made here is refused by any other API host. */
  readonly host: string;
  /** Server time minus our clock, learnt from a refused timestamp (the server accepts at most 5 s ahead). */
  private clockOffsetMs = 0;

  constructor(
    readonly baseUrl: string,
    readonly key: SigningKeyPair,
    private readonly now: () => number = Date.now,
  ) {
    this.host = apiHostOf(baseUrl);
  }

  async call<T>(method: "GET" | "POST", path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const first = await this.signAndSend(method, path, body, headers);
    // A timestamp refused as stale or ahead was refused before anything happened, so signing
    // again is safe; once, with the clock corrected by the server's Date header.
    if (first.status === 401 && first.date && /"code":"(future_request|stale_request)"/.test(first.text)) {
      // Date has whole seconds: aim at the top of that second, so the timestamp is never behind
      // the server (which a restarted coordinator reads as "signed before I started") and at
      // most 1 s ahead (it accepts 5 s).
      const offset = Date.parse(first.date) + 999 - this.now();
      if (Number.isFinite(offset) && Math.abs(offset - this.clockOffsetMs) > 1_000) {
        this.clockOffsetMs = offset;
        return this.answer<T>(await this.signAndSend(method, path, body, headers));
      }
    }
    return this.answer<T>(first);
  }

  private async signAndSend(method: "GET" | "POST", path: string, body: unknown, headers: Record<string, string>): Promise<RawResponse> {
    const text = body === undefined ? "" : JSON.stringify(body, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
    const idempotencyKey = Object.entries(headers).find(([k]) => k.toLowerCase() === "idempotency-key")?.[1];
    const auth = signRequest(this.key, { method, path, body: text, host: this.host, idempotencyKey, now: Math.round(this.now() + this.clockOffsetMs) });
    let res: RawResponse;
    try {
      res = await send(new URL(this.baseUrl + path), method, {
        "x-cocoon-auth": auth,
        ...(text ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) } : {}),
        ...headers,
      }, text);
    } catch (e) {
      throw new ApiError(0, "unreachable", `cannot reach the Cocoon API at ${this.baseUrl} (${(e as Error).message}); is the network running (npm start)?`);
    }
    return res;
  }

  private answer<T>(res: RawResponse): T {
    let parsed: unknown;
    try {
      parsed = res.text ? JSON.parse(res.text) : undefined;
    } catch {
      throw new ApiError(res.status, "bad_response", `the API answered ${res.status} with non-JSON`);
    }
    if (res.status < 200 || res.status >= 300) {
      const err = (parsed as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
      throw new ApiError(res.status, err?.code ?? "http_error", err?.message ?? `HTTP ${res.status}`, err?.details);
    }
    return parsed as T;
  }

  get = <T>(path: string) => this.call<T>("GET", path);
  post = <T>(path: string, body?: unknown, headers?: Record<string, string>) => this.call<T>("POST", path, body ?? {}, headers);
}
