/**
 * issue 12: GET /openapi.json serves the committed openapi.json; this keeps it what the routes'
 * schemas generate (openapi-doc.ts), so a route changed without regenerating fails here.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { openApiJson } from "./openapi-doc";
import { route } from "./openapi";

describe("GET /openapi.json", () => {
  it("serves the committed document, and it is what the routes' schemas generate now (else: npx tsx functions/http/openapi-doc.ts)", async () => {
    // Prepare
    const committed = readFileSync(new URL("./openapi.json", import.meta.url), "utf8");

    // Act
    const generated = openApiJson();
    const served = await route.run({} as Parameters<typeof route.run>[0]);

    // Assess
    expect(committed, "functions/http/openapi.json is stale: run npx tsx functions/http/openapi-doc.ts").toBe(generated);
    expect(served).toEqual(JSON.parse(committed));
  });
});
