/**
 * The transport-neutral HTTP edge (docs/architecture.md §7). Routes see only these two shapes;
 * each transport is a thin mapper onto them: API Gateway HTTP API and Lambda function URLs
 * (functions/http/lambda.ts), node:http (edge/node.ts, used by the local coordinator and by
 * `cocoon serve`). Nothing here imports AWS, a framework or the domain.
 */

/** A request as every transport hands it to a route. */
export interface HttpRequest {
  /** upper case */
  method: string;
  /** as sent, still percent-encoded: with `rawQuery`, what a request signature covers */
  path: string;
  /** the query string as sent, without "?" ("" when none) */
  rawQuery: string;
  /** the query decoded; a repeated name keeps its last value */
  query: Record<string, string>;
  /** lower-case names */
  headers: Record<string, string>;
  /** the body as UTF-8 text ("" when none) */
  body: string;
  /**
   * The host[:port] this server answers at, as the transport knows it (API Gateway's
   * domainName, the local server's own address), never the client's Host header.
   */
  host: string;
  /** Aborts when the client goes away before the answer is complete. */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  /**
   * Text, or chunks a transport writes as they come (server-sent events). The chunked form is
   * the seam for real streaming: node:http writes each chunk at once; Lambda buffers it today.
   */
  body: string | AsyncIterable<string>;
}

/** Builds a request from its transport's parts (the query is parsed here, the same way for all). */
export function httpRequest(p: Omit<HttpRequest, "query">): HttpRequest {
  const query: Record<string, string> = {};
  if (p.rawQuery) new URLSearchParams(p.rawQuery).forEach((v, k) => (query[k] = v));
  return { ...p, method: p.method.toUpperCase(), query };
}

const bigintAsString = (_k: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v);

/** JSON text; bigints as decimal strings. */
function toJson(value: unknown): string {
  // A replacer makes JSON.stringify call back into JS for every value; most answers hold no
  // bigint, and for one that does the plain call throws a TypeError (and only then is the
  // replacer needed): the same text either way.
  try {
    return JSON.stringify(value);
  } catch (e) {
    if (e instanceof TypeError) return JSON.stringify(value, bigintAsString);
    throw e;
  }
}

/** A JSON answer; bigints travel as decimal strings. */
export const jsonResponse = (status: number, value: unknown, headers: Record<string, string> = {}): HttpResponse => ({
  status,
  headers: { "content-type": "application/json", ...headers },
  body: toJson(value),
});

/** The whole body of a response as text (for transports that cannot stream). */
export async function bodyText(body: HttpResponse["body"]): Promise<string> {
  if (typeof body === "string") return body;
  let text = "";
  for await (const chunk of body) text += chunk;
  return text;
}

/** The request body is over the transport's limit: the failure that answers 413. */
export class BodyTooLargeError extends Error {
  override readonly name = "BodyTooLargeError";
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
  }
}

/** The transport cannot take this request now (a resource of its own is spent): the failure that answers 503. */
export class BusyError extends Error {
  override readonly name = "BusyError";
}
