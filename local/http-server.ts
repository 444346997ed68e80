import type { Server } from "node:http";
import type { CoreDeps } from "../core/deps";
import { listenNode } from "../edge/node";
import { failureResponse, MAX_PAYLOAD_BYTES, refuseUnread, routeRequests, type Route } from "../functions/http/middleware";

/** What a Lambda takes (its 6 MB request), so that a body refused on AWS is refused here and one taken there is taken here. */
const BODY_LIMIT = MAX_PAYLOAD_BYTES;

/**
 * Serves the coordinator's routes over HTTP on 127.0.0.1: node:http mapped onto the neutral
 * edge, routed and run by the same code a Lambda runs (routeRequests). Requests are signed for
 * this server's own address (issue 9 #12), as its URL says it, never for any Host header a
 * replayer chooses: on loopback, `localhost` with its port too (signedHostOf). Failures outside a route answer by the same mapping as inside one: an
 * oversize body 413, an unreadable target 400 malformed_path, anything else 500 with a reference.
 * A request no route takes, or one without credentials for a route that needs them, is refused
 * before its body is read (refuseUnread).
 */
export async function startHttpServer(opts: {
  routes: Route[];
  deps: CoreDeps;
  port: number;
  host?: string;
}): Promise<{ server: Server; url: string }> {
  const refuse = refuseUnread(opts.routes, opts.deps.log);
  const handle = routeRequests(opts.routes, opts.deps);
  let alias: string | undefined; // "localhost:<port>" on loopback, "" elsewhere: known once listening

  const { server, url } = await listenNode({
    host: opts.host ?? "127.0.0.1",
    port: opts.port,
    bodyLimit: BODY_LIMIT,
    // A body declared past the limit is a 413 on any path, as it was before the guard (the edge
    // refuses it unread too): the guard takes the rest.
    guard: (req) => (Number(req.headers["content-length"]) > BODY_LIMIT ? undefined : refuse(req)),
    handle: (req) => {
      alias ??= localhostAliasOf(req.host);
      req.host = signedHostOf(req.host, req.headers.host, alias);
      return handle(req);
    },
    fail: (e, req) => failureResponse(e, opts.deps.log, `${req.method} ${req.path}`),
  });
  server.keepAliveTimeout = 65_000;
  return { server, url };
}

/**
 * "localhost:<port>" for a server listening on a loopback address (127.0.0.0/8, [::1]) at `host` ("127.0.0.1:8787"); "" otherwise.
 * Plain "localhost" on port 80: the host a client of http://localhost signs and sends (the default port is left out of both).
 */
export function localhostAliasOf(host: string): string {
  const { hostname, port } = new URL(`http://${host}`);
  return /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname === "[::1]" ? (port ? `localhost:${port}` : "localhost") : "";
}

/**
 * The host a request to this server must be signed for: its own (`own`, from its address), or
 * `localhost:<port>` where the client named it so (its Host header) and this server listens on
 * loopback, where that name reaches it (clients sign the host of their API URL: --api
 * http://localhost:8787 was refused bad_signature). Only the same port on this machine's loopback:
 * a signature for any other deployment (another port, another host) still does not verify here,
 * and a server listening elsewhere takes its own address alone.
 */
export function signedHostOf(own: string, hostHeader: string | undefined, alias: string): string {
  return alias !== "" && hostHeader?.toLowerCase() === alias ? alias : own;
}
