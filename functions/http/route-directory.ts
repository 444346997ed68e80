import { RouteDirectory } from "../../events/api";
import { ConfigError } from "../config";
import { lambdaHandler } from "./lambda";
import { defineRoute, type Route } from "./middleware";

/**
 * GET /v1/routes (issue 12): where each route answers besides the base URL. The stack gives every
 * route's function a Lambda function URL (no charge per request, where API Gateway's is $1.00 per
 * million) and passes them here as COCOON_ROUTE_URLS; the SDK and the agent read this once per
 * client and send each request straight to its function. Unsigned, like /openapi.json: it is the
 * same for everyone, and every route it names still checks its own signed requests.
 */
export function routeDirectoryRoute(urls: () => Record<string, string>): Route {
  return defineRoute(
    {
      method: "GET",
      path: "/v1/routes",
      summary: "Where each route answers besides this base URL (Lambda function URLs)",
      auth: "none",
      response: RouteDirectory,
    },
    async () => ({ urls: urls() }),
  );
}

/** COCOON_ROUTE_URLS (a JSON object "METHOD /path" → URL, set by the stack), checked once at cold start. */
export function routeUrlsFromEnv(raw: string | undefined): Record<string, string> {
  if (!raw) return {};
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ConfigError("COCOON_ROUTE_URLS", 'COCOON_ROUTE_URLS is not JSON: it must map route keys ("POST /v1/jobs") to URLs');
  }
  const r = RouteDirectory.shape.urls.safeParse(json);
  if (!r.success)
    throw new ConfigError(
      "COCOON_ROUTE_URLS",
      `COCOON_ROUTE_URLS: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  return r.data;
}

const fromEnv = routeUrlsFromEnv(process.env.COCOON_ROUTE_URLS);
export const route = routeDirectoryRoute(() => fromEnv);
export const handler = lambdaHandler(route);
