import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { BodyTooLargeError, BusyError, httpRequest, type HttpRequest, type HttpResponse } from "./http";

/**
 * node:http as a thin mapper onto the neutral edge: the local coordinator (local/http-server.ts)
 * and `cocoon serve` (client/serve.ts) both listen through it.
 */
export interface NodeEdgeOptions {
  host: string;
  port: number;
  /**
   * Largest request body read; past it the request fails with BodyTooLargeError (a declared
   * Content-Length past it fails before a byte of the body is read).
   */
  bodyLimit: number;
  /**
   * How long a client may take to send its headers, and its whole request (headers and body).
   * Defaults: SERVER_TIMEOUTS. The answer is not covered: a long-poll answers after these.
   */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /**
   * Request body bytes this server buffers at once over all requests still being read (default
   * BODY_BUDGET_BYTES); a body that would pass it fails with BusyError (503), its connection cut.
   */
  bodyBudget?: number;
  /** Connections held at once (default MAX_CONNECTIONS); past it node:http closes a new one unanswered. */
  maxConnections?: number;
  handle(req: HttpRequest): Promise<HttpResponse>;
  /** Runs before the body is read (its `body` is ""): an answer here refuses the request unread. */
  guard?(req: HttpRequest): HttpResponse | undefined;
  /** The answer for a failure outside `handle`: an unreadable target, an oversize body, a broken connection. */
  fail(e: unknown, req: { method: string; path: string }): HttpResponse;
  /** A chunked body that failed after its head was sent: the connection is cut, this is told why. */
  streamFailed?(e: unknown): void;
}

/**
 * node:http holds any number of connections, and each may buffer a body of up to bodyLimit (6 MB
 * on the coordinator) before it is authenticated: a thousand clients sending slowly held 6 GB.
 * A quarter GiB is forty of the largest bodies at once, far above honest traffic (bodies are
 * mostly under a few KB), and a full budget refuses only the bodies that arrive while it is full.
 */
export const BODY_BUDGET_BYTES = 256 * 1024 * 1024;

/**
 * node:http holds any number of connections: each costs a file descriptor and a socket's buffers
 * (tens of KB), and a long-poll or an idle keep-alive holds one for up to a minute, so a client
 * opening connections without end ran the process out of descriptors (EMFILE), for every
 * client. Past this many, a new connection is closed at once (node's maxConnections) and the
 * ones held go on. Ten thousand is far above one coordinator's honest clients (the SDK keeps a
 * few per process, the per-key long-polls are capped at 1024); the process's descriptor limit
 * (`ulimit -n`, often 1024 by default) must be above it for the cap, not EMFILE, to act first.
 */
export const MAX_CONNECTIONS = 10_000;

/** Body bytes buffered now by the requests still being read, per server. */
interface Budget {
  left: number;
}

/**
 * The body as UTF-8 text. Read through 'data' and 'end' rather than the stream's async
 * iterator (which costs a promise per chunk and more per request); as with the iterator, a
 * body over the limit fails and destroys the stream, and a stream that closes or errs before
 * its end fails. Its bytes count against the server's budget while it is read.
 */
function readBody(req: IncomingMessage, limit: number, budget: Budget): Promise<string> {
  // A body declared too large is refused unread: reading up to the limit first would buffer
  // bodyLimit bytes for a request already known to fail (the connection is cut after the 413).
  const declared = Number(req.headers["content-length"]);
  if (declared > limit) {
    setImmediate(() => req.destroy());
    return Promise.reject(new BodyTooLargeError(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    // the bytes buffered so far go back to the budget however the read ends
    const release = () => void (budget.left += size);
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      release();
      reject(e);
    };
    req.on("data", (c: Buffer) => {
      if (settled) return;
      if (c.length > budget.left) {
        fail(new BusyError("the server is reading too many request bodies at once"));
        setImmediate(() => req.destroy());
        return;
      }
      size += c.length;
      budget.left -= c.length;
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
      release();
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

/**
 * node:http's defaults let a client take 60 s over its headers and 300 s over its request: a
 * body trickled a byte at a time holds its connection, and up to bodyLimit bytes of buffer, for
 * five minutes (slowloris). A request of the largest body (6 MB) still arrives well inside a
 * minute on any link the network serves. Node checks them every `connectionsCheckingInterval`.
 */
export const SERVER_TIMEOUTS = { headersMs: 20_000, requestMs: 60_000 } as const;

/** Listens on host:port; `url` is this server's address, `apiHost` the host[:port] requests carry as `host`. */
export function listenNode(o: NodeEdgeOptions): Promise<{ server: Server; url: string; port: number; apiHost: string }> {
  // Set once listening: requests are only served after that.
  let apiHost = "";
  const headersTimeout = o.headersTimeoutMs ?? SERVER_TIMEOUTS.headersMs;
  const requestTimeout = o.requestTimeoutMs ?? SERVER_TIMEOUTS.requestMs;
  const options = {
    headersTimeout,
    // node:http wants requestTimeout >= headersTimeout (0 would turn it off)
    requestTimeout: Math.max(requestTimeout, headersTimeout),
    // checked at a tenth of the shortest timeout (node's default is every 30 s), at most once a second
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(headersTimeout / 10))),
  };
  const budget: Budget = { left: o.bodyBudget ?? BODY_BUDGET_BYTES };
  const server = createServer(options, async (req, res) => {
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
        head.body = await readBody(req, o.bodyLimit, budget);
        answer = await o.handle(head);
      }
    } catch (e) {
      answer = o.fail(e, { method, path });
    }
    await write(res, answer, o.streamFailed).catch(() => res.destroy());
  });
  server.maxConnections = o.maxConnections ?? MAX_CONNECTIONS;
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
