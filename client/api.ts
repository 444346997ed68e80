import { signRequest } from "../core/crypto/request-auth";
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

/** Signs every call with the caller's Ed25519 key (DESIGN.md: no bearer secrets on the wire). */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly key: SigningKeyPair,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  async call<T>(method: "GET" | "POST", path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const text = body === undefined ? "" : JSON.stringify(body, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
    const auth = signRequest(this.key, { method, path, body: text });
    let res: Response;
    try {
      res = await this.fetchImpl(this.baseUrl + path, {
        method,
        headers: { "x-cocoon-auth": auth, ...(text ? { "content-type": "application/json" } : {}), ...headers },
        ...(text ? { body: text } : {}),
      });
    } catch (e) {
      throw new ApiError(0, "unreachable", `cannot reach the Cocoon API at ${this.baseUrl} (${(e as Error).message}); is the network running (npm start)?`);
    }
    const raw = await res.text();
    let parsed: unknown;
    try {
      parsed = raw ? JSON.parse(raw) : undefined;
    } catch {
      throw new ApiError(res.status, "bad_response", `the API answered ${res.status} with non-JSON`);
    }
    if (!res.ok) {
      const err = (parsed as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
      throw new ApiError(res.status, err?.code ?? "http_error", err?.message ?? `HTTP ${res.status}`, err?.details);
    }
    return parsed as T;
  }

  get = <T>(path: string) => this.call<T>("GET", path);
  post = <T>(path: string, body?: unknown, headers?: Record<string, string>) => this.call<T>("POST", path, body ?? {}, headers);
}
