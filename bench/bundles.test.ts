/**
 * Guards the bundle budget where it is easiest to lose: no request handler (HTTP routes, the
 * queue consumer) may carry TON code (issue 12: the signing routes build the vault's cells
 * themselves, the registry routes read the chain watcher's snapshot; a dynamic import in shared
 * code is enough to put a chunk into every split bundle) or the AWS SDK (the runtime's), and
 * each stays within 300 KB. Only the scheduled functions talk to TON, and they too without a TON
 * library (their cells, BOCs and wallet are functions/adapters/ton-*.ts).
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { BUNDLE_TARGET_KB, buildHandler, handlerModules, lambdaEnv } from "./bundles";

describe("Lambda bundles, built as the stack builds them", () => {
  it("checks every function the stack deploys: the tables below come from a directory scan, and an empty table runs no test", () => {
    // Prepare: each handler stacks/*.ts names, as route("http/x", ...) or "functions/<dir>/x.handler"
    const stacks = readdirSync(join(__dirname, "..", "stacks"))
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
      .map((f) => readFileSync(join(__dirname, "..", "stacks", f), "utf8"))
      .join("\n");
    const deployed = new Set([...stacks.matchAll(/"(?:functions\/)?((?:http|queue|schedule)\/[a-z-]+)(?:\.handler)?"/g)].map((m) => m[1]!));
    // Act
    const checked = handlerModules();
    // Assess
    expect(deployed.size).toBeGreaterThan(20);
    expect([...deployed].filter((h) => !checked.includes(h))).toEqual([]);
  });

  // Each build has its own out folder and esbuild works in its own process: the builds run at once.
  it.concurrent.each(handlerModules().filter((h) => !h.startsWith("schedule/")))(
    "%s: no TON, no bundled AWS SDK, within the size budget",
    async (handler) => {
      // Act
      const b = await buildHandler(handler);
      // Assess
      expect(b.packages.filter((p) => p.startsWith("@ton/") || p === "axios")).toEqual([]);
      expect(b.packages.filter((p) => p.startsWith("@aws-sdk/"))).toEqual([]);
      expect(b.externals).toContain("@aws-sdk/client-dynamodb");
      expect(b.bytes / 1024).toBeLessThanOrEqual(BUNDLE_TARGET_KB);
    },
    60_000,
  );

  it("the guard can see TON code: a module that imports @ton/core (ton-chain.ts, the local default's reader) bundles it", async () => {
    const b = await buildHandler("adapters/ton-chain");
    expect(b.packages).toContain("@ton/core");
  }, 60_000);

  it.concurrent.each(handlerModules().filter((h) => h.startsWith("schedule/")))(
    "%s: no TON library (issue 12: functions/adapters/ton-*.ts), no axios, within the size budget",
    async (handler) => {
      const b = await buildHandler(handler);
      expect(b.packages.filter((p) => p.startsWith("@ton/") || p === "axios" || p === "mime-db" || p === "tweetnacl")).toEqual([]);
      expect(b.bytes / 1024).toBeLessThanOrEqual(BUNDLE_TARGET_KB);
    },
    60_000,
  );

  it("embeds the OpenAPI document gzipped, and the built handler serves it whole", async () => {
    // Prepare
    const committed: unknown = JSON.parse(readFileSync(join(__dirname, "..", "functions", "http", "openapi.json"), "utf8"));
    const b = await buildHandler("http/openapi");
    const call = `const m = await import(${JSON.stringify(pathToFileURL(b.entry).href)});
      const r = await m.handler({ version: "2.0", routeKey: "GET /openapi.json", rawPath: "/openapi.json", rawQueryString: "", headers: {}, isBase64Encoded: false,
        requestContext: { http: { method: "GET", path: "/openapi.json", protocol: "HTTP/1.1", sourceIp: "203.0.113.7", userAgent: "t" }, requestId: "r1", routeKey: "GET /openapi.json", stage: "$default", domainName: "t.example" } }, {});
      process.stdout.write(JSON.stringify({ status: r.statusCode, body: r.body }));`;

    // Act
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", call], {
      env: { PATH: process.env.PATH ?? "", ...lambdaEnv("http/openapi") },
      encoding: "utf8",
    });
    const served = JSON.parse(run.stdout) as { status: number; body: string };

    // Assess: the document is not in the bundle as text, and what the handler serves is the committed document
    expect(b.bytes / 1024).toBeLessThan(260);
    expect(served.status).toBe(200);
    expect(JSON.parse(served.body)).toEqual(committed);
  }, 60_000);

  it("a handler's bundle drops the schemas its route never reads (events/ builds them in PURE IIFEs): GET /v1/jobs/{id} carries no attestation challenge, worker registration, tab or route directory", async () => {
    // Act
    const b = await buildHandler("http/get-job");
    const dir = dirname(b.entry);
    const code = readdirSync(dir)
      .filter((f) => f.endsWith(".mjs"))
      .map((f) => readFileSync(join(dir, f), "utf8"))
      .join("\n");

    // Assess: each message is in one schema of events/api.ts only; the job's own schema is kept
    expect(code).toContain("must look like job_");
    const unread = ["must look like chl_", "models per worker", "must look like tab_", "must name a route as"];
    expect(unread.filter((message) => code.includes(message))).toEqual([]);
  }, 60_000);
});
