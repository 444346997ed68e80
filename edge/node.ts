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

/**
 * The body as UTF-8 text. Read through 'data' and 'end' rather than the stream's async
 * iterator (which costs a promise per chunk and more per request); as with the iterator, a
 * body over the limit fails and destroys the stream, and a stream that closes or errs before
 * its end fails.
 */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      reject(e);
    };
    req.on("data", (c: Buffer) => {
      if (settled) return;
      size += c.length;
      if (size > limit) {
        fail(new BodyTooLargeError(limit));
        // Destroyed as the iterator did on leaving its loop, once the parser is done with the
        // bytes at hand: a body that arrived whole keeps its connection (the 413 is written),
        // one still streaming in is cut.
        setImmediate(() => req.destroy());
        return;
      }
      chunks.push(c);
    });
    req.once("end", () => {
      if (settled) return;
      settled = true;
      resolve(chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"));
    });
    req.once("error", fail);
    // (checked before the Error is made: every request closes, and an Error captures a stack)
    req.once("close", () => settled || fail(Object.assign(new Error("Premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" })));
  });
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

/** `signal` as a getter: the controller behind it is made on first read. */
function withSignal(req: HttpRequest, signal: () => AbortSignal): HttpRequest {
  return Object.defineProperty(req, "signal", { get: signal, enumerable: true, configurable: true });
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
    // The signal is made when a route first asks for it (most never do): an AbortController
    // per request is an EventTarget and a listener. One made after the client went away is
    // aborted already.
    let ctl: AbortController | undefined;
    let gone = false;
    res.on("close", () => {
      if (res.writableEnded) return;
      gone = true;
      ctl?.abort(new Error("client disconnected"));
    });
    const signal = () => {
      if (!ctl) {
        ctl = new AbortController();
        if (gone) ctl.abort(new Error("client disconnected"));
      }
      return ctl.signal;
    };
    const method = (req.method ?? "GET").toUpperCase();
    let path = "/";
    let answer: HttpResponse;
    try {
      const target = splitTarget(req.url ?? "/");
      path = target.path;
      const head = withSignal(httpRequest({ method, ...target, headers: headersOf(req), body: "", host: apiHost }), signal);
      const refused = o.guard?.(head);
      if (refused) answer = refused;
      else {
        head.body = await readBody(req, o.bodyLimit);
        answer = await o.handle(head);
      }
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
