import middy, { type MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { bodyText, httpRequest, type HttpRequest, type HttpResponse } from "../../edge/http";
import { lambdaDeps, type DepsProvider } from "../deps";
import { failureResponse, invokeRoute, type Route } from "./middleware";

/**
 * API Gateway HTTP API (payload format 2.0). Lambda function URLs send the same shape
 * (aws-lambda's LambdaFunctionURLEvent is this type), without API Gateway's routing in front:
 * the route's own template then matches the path (see routeRequests).
 */
export type LambdaHttpEvent = APIGatewayProxyEventV2;
export type LambdaHttpResult = APIGatewayProxyStructuredResultV2;
export type LambdaHttpHandler = (event: LambdaHttpEvent, context: Context) => Promise<LambdaHttpResult>;

/** The v2 event as the neutral request; the host is where API Gateway (or the function URL) was reached. */
export function fromLambdaEvent(e: LambdaHttpEvent): HttpRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.headers ?? {})) if (v !== undefined) headers[k.toLowerCase()] = v;
  // Payload 2.0 moves cookies out of the headers.
  if (e.cookies?.length) headers.cookie = e.cookies.join("; ");
  return httpRequest({
    method: e.requestContext.http.method,
    path: e.rawPath,
    rawQuery: e.rawQueryString ?? "",
    headers,
    body: e.body ? (e.isBase64Encoded ? Buffer.from(e.body, "base64").toString("utf8") : e.body) : "",
    host: e.requestContext.domainName,
  });
}

export async function toLambdaResult(r: HttpResponse): Promise<LambdaHttpResult> {
  return { statusCode: r.status, headers: r.headers, body: await bodyText(r.body) };
}

/** A failure before any deps exist still reaches CloudWatch as one JSON line. */
const consoleLog = {
  error: (message: string, data?: Record<string, unknown>) => console.error(JSON.stringify({ level: "ERROR", message, ...data })),
};

/**
 * The Lambda side of the HTTP edge as middy middleware. `before` swaps the v2 event for the
 * neutral request, `after` maps the neutral response back (a chunked body is buffered: Lambda
 * response streaming would come in here, through middy's streamifyResponse), and `onError`
 * answers what fails outside the route, such as adapters that cannot be built at cold start,
 * with a code and a reference instead of API Gateway's bare 500.
 */
export function lambdaHttpEdge(where: string): MiddlewareObj<LambdaHttpEvent | HttpRequest, LambdaHttpResult | HttpResponse> {
  return {
    before: (request) => {
      request.event = fromLambdaEvent(request.event as LambdaHttpEvent);
    },
    after: async (request) => {
      request.response = await toLambdaResult(request.response as HttpResponse);
    },
    onError: async (request) => {
      request.response = await toLambdaResult(failureResponse(request.error, consoleLog, where));
    },
  };
}

/** The Lambda entry point for a route (API Gateway HTTP API or a function URL). */
export function lambdaHandler(route: Route, provider: DepsProvider = lambdaDeps): LambdaHttpHandler {
  const handler = middy<LambdaHttpEvent | HttpRequest, LambdaHttpResult | HttpResponse>()
    .use(lambdaHttpEdge(`${route.spec.method} ${route.spec.path}`))
    .handler(async (req) => invokeRoute(route, req as HttpRequest, await provider()));
  return handler as unknown as LambdaHttpHandler;
}
