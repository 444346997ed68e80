/**
 * The OpenAPI 3.1 document of GET /openapi.json, generated from the same zod schemas the
 * handlers parse with (zod 4's JSON Schema output) and committed as openapi.json, which the
 * route serves (issue 12: generating it at run time put every route's implementation and
 * zod's JSON Schema conversion into the function, 353 KB; served from the file it is a
 * handler like the others). openapi.test.ts fails while the file differs from what this
 * generates; regenerate with
 *
 *   npx tsx functions/http/openapi-doc.ts
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { ErrorBody } from "../../events/common";
import type { Route } from "./middleware";
import { route as openapiRoute } from "./openapi";
import { route as routeDirectory } from "./route-directory";
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
      ...(s.auth === "session" ? { security: [{ cocoonSignature: [] }, { cocoonSession: [] }] } : {}),
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
        cocoonSession: {
          type: "apiKey",
          in: "header",
          name: "x-cocoon-auth",
          description:
            's1 token=<POST /v1/sessions token>,ts=<unix ms>,nonce=<b64url>,mac=<b64url>: HMAC-SHA256 under the session key over "cocoon/v1/session-request\\n" and the string a v2 signature covers; only on routes that list it',
        },
      },
    },
    paths,
  };
}

/** What GET /openapi.json serves: every REST route and itself. */
export const openApiDocument = () => buildOpenApi([...routes, openapiRoute, routeDirectory]);

/** The committed document, as JSON.stringify writes it (the file's own format). */
export const openApiJson = () => JSON.stringify(openApiDocument(), null, 2) + "\n";

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(new URL("./openapi.json", import.meta.url), openApiJson());
  console.log("wrote functions/http/openapi.json");
}
