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
 * How long before the Lambda's own deadline an unfinished call is answered, as middy's
 * timeoutEarly did: a 500 with a reference in our words, rather than the function killed
 * with the answer API Gateway makes up.
 */
export const TIMEOUT_EARLY_MS = 5;

/** The call ran into its Lambda's deadline (TIMEOUT_EARLY_MS before it): answered as a 500 with a reference. */
export class LambdaTimeoutError extends Error {
  override readonly name = "LambdaTimeoutError";
}

/**
 * The Lambda entry point for a route (API Gateway HTTP API or a function URL): the v2 event
 * as the neutral request, the neutral answer mapped back (a chunked body is buffered), and
 * what fails outside the route, such as adapters that cannot be built at cold start, answered
 * with a code and a reference instead of API Gateway's bare 500. A plain function, not middy:
 * middy's module loads node:stream/web and friends at cold start for response streaming and
 * middleware chains that no handler here uses.
 */
export function lambdaHandler(route: Route, provider: DepsProvider = lambdaDeps): LambdaHttpHandler {
  const where = `${route.spec.method} ${route.spec.path}`;
  return async (event, context) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = async () => toLambdaResult(await invokeRoute(route, fromLambdaEvent(event), await provider()));
      // context.getRemainingTimeInMillis is absent outside Lambda (tests, containers): no deadline then
      if (typeof context?.getRemainingTimeInMillis !== "function") return await answer();
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new LambdaTimeoutError(`the call ran into its Lambda's deadline`)),
          context.getRemainingTimeInMillis() - TIMEOUT_EARLY_MS,
        );
      });
      return await Promise.race([answer(), deadline]);
    } catch (e) {
      return toLambdaResult(failureResponse(e, consoleLog, where));
    } finally {
      clearTimeout(timer);
    }
  };
}
