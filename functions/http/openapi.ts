import { OpenAPIRegistry, OpenApiGeneratorV31 } from "@asteasolutions/zod-to-openapi";
import { ErrorBody } from "../../events/common";
import { defineRoute, lambdaHandler, type Route } from "./middleware";
import { routes } from "./routes";

/** OpenAPI 3.1 generated from the same zod schemas the handlers parse with. */
export function buildOpenApi(all: Route[] = routes) {
  const registry = new OpenAPIRegistry();
  registry.registerComponent("securitySchemes", "cocoonSignature", {
    type: "apiKey",
    in: "header",
    name: "x-cocoon-auth",
    description: "v1 key=<ed25519 pub b64url>,ts=<unix ms>,nonce=<b64url>,sig=<b64url> over method, path+query, sha256(body), ts, nonce",
  });
  for (const r of all) {
    const s = r.spec;
    registry.registerPath({
      method: s.method.toLowerCase() as "get" | "post",
      path: s.path,
      summary: s.summary,
      ...(s.auth === "signed" ? { security: [{ cocoonSignature: [] }] } : {}),
      request: {
        ...(s.body ? { body: { content: { "application/json": { schema: s.body } } } } : {}),
        ...(s.query ? { query: s.query as never } : {}),
      },
      responses: {
        [s.status ?? 200]: {
          description: "success",
          ...(s.response ? { content: { "application/json": { schema: s.response } } } : {}),
        },
        "4XX": { description: "client error with a machine-readable code", content: { "application/json": { schema: ErrorBody } } },
      },
    });
  }
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: "3.1.0",
    info: { title: "Cocoon coordinator API", version: "1.0.0", description: "Confidential AI inference paid in TON" },
  });
}

let doc: unknown;
export const route = defineRoute(
  { method: "GET", path: "/openapi.json", summary: "This API's OpenAPI 3.1 document", auth: "none" },
  async () => (doc ??= buildOpenApi()),
);
export const handler = lambdaHandler(route);
