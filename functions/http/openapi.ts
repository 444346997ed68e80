import { z } from "zod";
import { ErrorBody } from "../../events/common";
import { lambdaHandler } from "./lambda";
import { defineRoute, type Route } from "./middleware";
import { routes } from "./routes";

/** JSON Schema of what a client sends (io: input) or receives (io: output). */
const schemaOf = (s: z.ZodType, io: "input" | "output") => z.toJSONSchema(s, { io, unrepresentable: "any", target: "draft-2020-12" });

/** One parameter per field of a query or headers object; a field is required when it has no default and is not optional. */
function parametersOf(schema: z.ZodType | undefined, where: "query" | "header") {
  if (!(schema instanceof z.ZodObject)) return [];
  return Object.entries(schema.shape as Record<string, z.ZodType>).map(([key, field]) => ({
    // Header names are matched in lower case; documented in their usual spelling (Idempotency-Key).
    name: where === "header" ? key.replace(/(^|-)[a-z]/g, (c) => c.toUpperCase()) : key,
    in: where,
    required: !field.safeParse(undefined).success,
    schema: schemaOf(field, "input"),
  }));
}

/** OpenAPI 3.1 generated from the same zod schemas the handlers parse with (zod 4's JSON Schema output). */
export function buildOpenApi(all: Route[] = routes) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of all) {
    const s = r.spec;
    const parameters = [
      ...[...s.path.matchAll(/\{(\w+)\+?\}/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } })),
      ...parametersOf(s.query, "query"),
      ...parametersOf(s.headers, "header"),
    ];
    (paths[s.path] ??= {})[s.method.toLowerCase()] = {
      summary: s.summary,
      ...(s.auth === "signed" ? { security: [{ cocoonSignature: [] }] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(s.body ? { requestBody: { required: true, content: { "application/json": { schema: schemaOf(s.body, "input") } } } } : {}),
      responses: {
        [String(s.status ?? 200)]: {
          description: "success",
          ...(s.response ? { content: { "application/json": { schema: schemaOf(s.response, "output") } } } : {}),
        },
        "4XX": {
          description: "client error with a machine-readable code",
          content: { "application/json": { schema: schemaOf(ErrorBody, "output") } },
        },
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "Cocoon coordinator API", version: "1.0.0", description: "Confidential AI inference paid in TON" },
    components: {
      securitySchemes: {
        cocoonSignature: {
          type: "apiKey",
          in: "header",
          name: "x-cocoon-auth",
          description:
            'v2 key=<ed25519 pub b64url>,ts=<unix ms>,nonce=<b64url>,sig=<b64url> over "cocoon/v2/request", API host, method, path+query, sha256(body), Idempotency-Key (or empty), ts, nonce; joined by \\n',
        },
      },
    },
    paths,
  };
}

let doc: unknown;
export const route: Route = defineRoute(
  { method: "GET", path: "/openapi.json", summary: "This API's OpenAPI 3.1 document", auth: "none" },
  async () => (doc ??= buildOpenApi([...routes, route])),
);
export const handler = lambdaHandler(route);
