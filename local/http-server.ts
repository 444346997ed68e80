import type { Server } from "node:http";
import type { CoreDeps } from "../core/deps";
import { listenNode } from "../edge/node";
import { failureResponse, MAX_PAYLOAD_BYTES, refuseUnread, routeRequests, type Route } from "../functions/http/middleware";

/** What a Lambda takes (its 6 MB request), so that a body refused on AWS is refused here and one taken there is taken here. */
const BODY_LIMIT = MAX_PAYLOAD_BYTES;

/**
 * Serves the coordinator's routes over HTTP on 127.0.0.1: node:http mapped onto the neutral
 * edge, routed and run by the same code a Lambda runs (routeRequests). Requests are signed for
 * this server's own address (issue 9 #12), as its URL says it, never for the Host header, which
 * a replayer chooses. Failures outside a route answer by the same mapping as inside one: an
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
  const { server, url } = await listenNode({
    host: opts.host ?? "127.0.0.1",
    port: opts.port,
    bodyLimit: BODY_LIMIT,
    // A body declared past the limit is a 413 on any path, as it was before the guard (the edge
    // refuses it unread too): the guard takes the rest.
    guard: (req) => (Number(req.headers["content-length"]) > BODY_LIMIT ? undefined : refuse(req)),
    handle: routeRequests(opts.routes, opts.deps),
    fail: (e, req) => failureResponse(e, opts.deps.log, `${req.method} ${req.path}`),
  });
  server.keepAliveTimeout = 65_000;
  return { server, url };
}
