import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import type { CoreDeps } from "../core/deps";
import { errorBody, invokeRoute, json, type Route } from "../functions/http/middleware";

interface CompiledRoute {
  route: Route;
  method: string;
  pattern: RegExp;
  names: string[];
}

function compile(route: Route): CompiledRoute {
  const names: string[] = [];
  const src = route.spec.path.replace(/\{(\w+)\}/g, (_m, n: string) => {
    names.push(n);
    return "([^/]+)";
  });
  return { route, method: route.spec.method, pattern: new RegExp(`^${src}$`), names };
}

const BODY_LIMIT = 1024 * 1024;

/** The request body is over the limit: the only failure that answers 413. */
class BodyTooLargeError extends Error {
  override readonly name = "BodyTooLargeError";
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new BodyTooLargeError(`request body exceeds ${limit} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The request target as a URL; an absolute-form target that does not parse is a URIError (400). */
function requestUrl(target: string | undefined): URL {
  try {
    return new URL(target ?? "/", "http://localhost");
  } catch {
    throw new URIError("request target is not a valid URL");
  }
}

/**
 * What a failure outside the route answers (inside it, invokeRoute maps errors): an
 * oversize body 413, a path that does not percent-decode 400 (API Gateway refuses it with a
 * 400 as well), anything else a 500 with a reference, detail in the log only (issue 9 #11).
 */
function failureResult(e: unknown, deps: CoreDeps, method: string, path: string) {
  if (e instanceof BodyTooLargeError) return json(413, errorBody("body_too_large", `request body exceeds ${BODY_LIMIT} bytes`));
  if (e instanceof URIError) return json(400, errorBody("malformed_path", "the request path does not decode: a malformed percent-encoding (like %E0%A4%A) or not a URL; percent-encode it as UTF-8"));
  const ref = randomUUID();
  deps.log.error("http server error", { ref, method, path, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
  return json(500, errorBody("internal_error", `internal error; reference ${ref}`));
}

/**
 * Serves routes over HTTP on 127.0.0.1 by turning each request into the API Gateway HTTP
 * API (payload v2) event the Lambda handler would get, and running the same route code.
 */
export function startHttpServer(opts: { routes: Route[]; deps: CoreDeps; port: number; host?: string }): Promise<{ server: Server; url: string }> {
  const compiled = opts.routes.map(compile);
  // The host clients sign for (issue 9 #12): this server's own address, as its URL says it,
  // never the request's Host header, which a replayer chooses. Set once listening.
  let domainName = "";
  const server = createServer(async (req, res) => {
    const method = (req.method ?? "GET").toUpperCase();
    let result;
    let url = new URL("http://localhost/");
    try {
      url = requestUrl(req.url);
      const body = await readBody(req, BODY_LIMIT);
      const hit = compiled.find((c) => c.method === method && c.pattern.test(url.pathname));
      if (!hit) {
        const known = compiled.some((c) => c.pattern.test(url.pathname));
        result = known
          ? json(405, errorBody("method_not_allowed", `${method} is not allowed on ${url.pathname}`))
          : json(404, errorBody("no_such_route", `no route ${method} ${url.pathname}; see GET /openapi.json`));
      } else {
        const m = hit.pattern.exec(url.pathname)!;
        const pathParameters: Record<string, string> = {};
        hit.names.forEach((n, i) => (pathParameters[n] = decodeURIComponent(m[i + 1]!)));
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
        const query: Record<string, string> = {};
        url.searchParams.forEach((v, k) => (query[k] = v));
        const event: APIGatewayProxyEventV2 = {
          version: "2.0",
          routeKey: `${hit.method} ${hit.route.spec.path}`,
          rawPath: url.pathname,
          rawQueryString: url.search.slice(1),
          headers,
          queryStringParameters: Object.keys(query).length ? query : undefined,
          pathParameters,
          body: body || undefined,
          isBase64Encoded: false,
          requestContext: {
            accountId: "local",
            apiId: "local",
            domainName,
            domainPrefix: "local",
            http: { method, path: url.pathname, protocol: "HTTP/1.1", sourceIp: req.socket.remoteAddress ?? "", userAgent: headers["user-agent"] ?? "" },
            requestId: `${Date.now()}`,
            routeKey: `${hit.method} ${hit.route.spec.path}`,
            stage: "$default",
            time: new Date().toISOString(),
            timeEpoch: Date.now(),
          },
        };
        result = await invokeRoute(hit.route, event, opts.deps);
      }
    } catch (e) {
      result = failureResult(e, opts.deps, method, url.pathname);
    }
    res.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>);
    res.end(result.body ?? "");
  });
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host ?? "127.0.0.1", () => {
      const addr = server.address();
      const port = typeof addr === "object" && addr ? addr.port : opts.port;
      const url = `http://${opts.host ?? "127.0.0.1"}:${port}`;
      domainName = new URL(url).host;
      resolve({ server, url });
    });
  });
}
