import middy from "@middy/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { randomUUID } from "node:crypto";
import { z, ZodError } from "zod";
import { authenticate } from "../../core/auth";
import type { CoreDeps } from "../../core/deps";
import { CocoonError } from "../../core/errors";
import { lambdaDeps, type DepsProvider } from "../deps";

/**
 * One route = its contract (method, path, auth, zod schemas) + a function of parsed input.
 * `lambdaHandler(route)` adapts it to API Gateway (HTTP API, payload v2) with middy; the
 * local server adapts the very same route with its own deps. Schemas come from events/.
 */
export interface RouteSpec<B extends z.ZodType | undefined, Q extends z.ZodType | undefined> {
  method: "GET" | "POST";
  path: string; // API Gateway style: /v1/jobs/{id}
  summary: string;
  auth: "signed" | "none";
  body?: B;
  query?: Q;
  response?: z.ZodType;
  status?: number;
}

export interface RouteInput<B, Q> {
  deps: CoreDeps;
  caller: string; // key id of the signer ("" for auth: none)
  body: B;
  query: Q;
  params: Record<string, string>;
  headers: Record<string, string | undefined>;
}

type Infer<T> = T extends z.ZodType ? z.output<T> : undefined;

export interface Route<B extends z.ZodType | undefined = z.ZodType | undefined, Q extends z.ZodType | undefined = z.ZodType | undefined> {
  spec: RouteSpec<B, Q>;
  run(input: RouteInput<Infer<B>, Infer<Q>>): Promise<unknown>;
}

export function defineRoute<B extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined>(
  spec: RouteSpec<B, Q>,
  run: (input: RouteInput<Infer<B>, Infer<Q>>) => Promise<unknown>,
): Route<B, Q> {
  return { spec, run };
}

export const json = (statusCode: number, value: unknown, headers: Record<string, string> = {}): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)),
});

export const errorBody = (code: string, message: string, details?: unknown) => ({ error: { code, message, ...(details !== undefined ? { details } : {}) } });

/** Zod issues → one message that names each bad field and what it should be. */
function describeZod(where: string, e: ZodError) {
  const issues = e.issues.map((i) => ({ path: [where, ...i.path.map(String)].join("."), message: i.message }));
  return { message: issues.map((i) => `${i.path}: ${i.message}`).join("; "), issues };
}

function parsePart<T extends z.ZodType | undefined>(schema: T, value: unknown, where: string): Infer<T> {
  if (!schema) return undefined as Infer<T>;
  const r = schema.safeParse(value);
  if (!r.success) {
    const d = describeZod(where, r.error);
    throw new CocoonError(400, "invalid_request", d.message, d.issues);
  }
  return r.data as Infer<T>;
}

/** Run a route on an API Gateway v2 event: auth, parse, call, map errors. Never leaks a 5xx message. */
export async function invokeRoute(route: Route, event: APIGatewayProxyEventV2, deps: CoreDeps): Promise<APIGatewayProxyStructuredResultV2> {
  const headers: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(event.headers ?? {})) headers[k.toLowerCase()] = v;
  try {
    const rawBody = event.body ? (event.isBase64Encoded ? Buffer.from(event.body, "base64").toString("utf8") : event.body) : "";
    const path = event.rawPath + (event.rawQueryString ? `?${event.rawQueryString}` : "");
    const caller =
      route.spec.auth === "signed"
        ? await authenticate(deps, {
            method: event.requestContext.http.method,
            path,
            body: rawBody,
            authHeader: headers["x-cocoon-auth"],
            // The host API Gateway routed by (not a client header): the deployment the signature must name.
            host: event.requestContext.domainName,
            idempotencyKey: headers["idempotency-key"],
          })
        : "";
    let parsedJson: unknown = undefined;
    if (route.spec.body) {
      try {
        parsedJson = rawBody ? JSON.parse(rawBody) : undefined;
      } catch {
        throw new CocoonError(400, "invalid_json", "request body is not valid JSON");
      }
    }
    const body = parsePart(route.spec.body, parsedJson, "body");
    const query = parsePart(route.spec.query, event.queryStringParameters ?? {}, "query");
    const result = await route.run({ deps, caller, body, query, params: (event.pathParameters ?? {}) as Record<string, string>, headers });
    return json(route.spec.status ?? 200, result);
  } catch (e) {
    if (e instanceof CocoonError && e.status < 500) return json(e.status, errorBody(e.code, e.message, e.details));
    const ref = randomUUID();
    deps.log.error("unhandled error", { ref, route: `${route.spec.method} ${route.spec.path}`, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    const code = e instanceof CocoonError ? e.code : "internal_error";
    return json(e instanceof CocoonError ? e.status : 500, errorBody(code, `internal error; reference ${ref}`));
  }
}

/** The Lambda entry point for a route. */
export function lambdaHandler(route: Route, provider: DepsProvider = lambdaDeps) {
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>().handler(async (event) => invokeRoute(route, event, await provider()));
}

/** The Idempotency-Key header of money-moving POSTs: the same key on every retry of one request. */
export const IdempotencyKey = z.string().regex(/^[A-Za-z0-9_.:-]{8,128}$/);

/** Query strings carry numbers as text. */
export const WaitQuery = z.object({ wait: z.coerce.number().int().min(0).max(60).default(0) });
