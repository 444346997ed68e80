import document from "./openapi.json";
import { lambdaHandler } from "./lambda";
import { defineRoute, type Route } from "./middleware";

/**
 * GET /openapi.json: the document generated from the routes' zod schemas (openapi-doc.ts) and
 * committed beside this file. Served from the file, not generated here (issue 12): this
 * function then carries none of the routes it documents.
 */
export const route: Route = defineRoute(
  { method: "GET", path: "/openapi.json", summary: "This API's OpenAPI 3.1 document", auth: "none" },
  async () => document,
);
export const handler = lambdaHandler(route);
