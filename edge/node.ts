import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { BodyTooLargeError, httpRequest, type HttpRequest, type HttpResponse } from "./http";

/**
 * node:http as a thin mapper onto the neutral edge: the local coordinator (local/http-server.ts)
 * and `cocoon serve` (client/serve.ts) both listen through it.
 */
export interface NodeEdgeOptions {
  host: string;
  port: number;
  /** Largest request body read; past it the request fails with BodyTooLargeError. */
  bodyLimit: number;
  handle(req: HttpRequest): Promise<HttpResponse>;
  /** Runs before the body is read (its `body` is ""): an answer here refuses the request unread. */
  guard?(req: HttpRequest): HttpResponse | undefined;
  /** The answer for a failure outside `handle`: an unreadable target, an oversize body, a broken connection. */
  fail(e: unknown, req: { method: string; path: string }): HttpResponse;
  /** A chunked body that failed after its head was sent: the connection is cut, this is told why. */
  streamFailed?(e: unknown): void;
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new BodyTooLargeError(limit);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * The request target split as sent (like API Gateway's rawPath and rawQueryString), so the
 * path a client signed is the path checked. An absolute-form target is reduced to its path;
 * one that does not parse is a URIError (400).
 */
function splitTarget(target: string): { path: string; rawQuery: string } {
  if (!target.startsWith("/")) {
    try {
      const u = new URL(target);
      return { path: u.pathname, rawQuery: u.search.slice(1) };
    } catch {
      throw new URIError("request target is not a valid URL");
    }
  }
  const q = target.indexOf("?");
  return q < 0 ? { path: target, rawQuery: "" } : { path: target.slice(0, q), rawQuery: target.slice(q + 1) };
}

function headersOf(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

async function write(res: ServerResponse, r: HttpResponse, streamFailed?: (e: unknown) => void): Promise<void> {
  if (typeof r.body === "string") {
    res.writeHead(r.status, { "content-length": String(Buffer.byteLength(r.body)), ...r.headers });
    res.end(r.body);
    return;
  }
  res.writeHead(r.status, r.headers);
  try {
    for await (const chunk of r.body) res.write(chunk);
    res.end();
  } catch (e) {
    streamFailed?.(e);
    res.destroy();
  }
}

/** Listens on host:port; `url` is this server's address, `apiHost` the host[:port] requests carry as `host`. */
export function listenNode(o: NodeEdgeOptions): Promise<{ server: Server; url: string; port: number; apiHost: string }> {
  // Set once listening: requests are only served after that.
  let apiHost = "";
  const server = createServer(async (req, res) => {
    const ctl = new AbortController();
    res.on("close", () => {
      if (!res.writableEnded) ctl.abort(new Error("client disconnected"));
    });
    const method = (req.method ?? "GET").toUpperCase();
    let path = "/";
    let answer: HttpResponse;
    try {
      const target = splitTarget(req.url ?? "/");
      path = target.path;
      const head = httpRequest({ method, ...target, headers: headersOf(req), body: "", host: apiHost, signal: ctl.signal });
      answer = o.guard?.(head) ?? (await o.handle({ ...head, body: await readBody(req, o.bodyLimit) }));
    } catch (e) {
      answer = o.fail(e, { method, path });
    }
    await write(res, answer, o.streamFailed).catch(() => res.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => {
      server.off("error", reject);
      const { port } = server.address() as AddressInfo;
      const url = `http://${o.host.includes(":") ? `[${o.host}]` : o.host}:${port}`;
      apiHost = new URL(url).host.toLowerCase();
      resolve({ server, url, port, apiHost });
    });
  });
}
