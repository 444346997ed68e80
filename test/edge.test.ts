import { readdirSync, readFileSync, existsSync } from "node:fs";
import { request } from "node:http";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { jsonResponse, type HttpRequest } from "../edge/http";
import { listenNode } from "../edge/node";
import { createRouter } from "../edge/router";

const root = path.resolve(import.meta.dirname, "..");

describe("edge/router: the one router", () => {
  const router = createRouter([
    { method: "GET", path: "/v1/jobs/{id}", value: "get-job" },
    { method: "POST", path: "/v1/jobs/prepare", value: "prepare" },
    { method: "GET", path: "/v1/models/{id+}", value: "model" },
    { method: "GET", path: "/openapi.json", value: "openapi" },
  ]);

  it("prefers literal segments over parameters, whatever the table order, and decodes parameters", () => {
    expect(router.match("POST", "/v1/jobs/prepare")).toEqual({ kind: "found", value: "prepare", params: {} });
    expect(router.match("GET", "/v1/jobs/prepare")).toEqual({ kind: "found", value: "get-job", params: { id: "prepare" } });
    expect(router.match("get", "/v1/jobs/a%20b")).toEqual({ kind: "found", value: "get-job", params: { id: "a b" } });
    expect(router.match("GET", "/v1/models/qwen/qwen2-7b")).toEqual({ kind: "found", value: "model", params: { id: "qwen/qwen2-7b" } });
  });

  it("answers 405 with the allowed methods, 404 for unknown paths, and takes literal dots literally", () => {
    expect(router.match("DELETE", "/v1/jobs/prepare")).toEqual({ kind: "method_not_allowed", allowed: ["POST", "GET"] });
    expect(router.match("GET", "/v1/jobs")).toEqual({ kind: "not_found" });
    expect(router.match("GET", "/v1/jobs/a/b")).toEqual({ kind: "not_found" });
    expect(router.match("GET", "/openapiXjson")).toEqual({ kind: "not_found" });
  });

  it("a parameter that does not percent-decode is a URIError (callers answer 400)", () => {
    expect(() => router.match("GET", "/v1/jobs/%E0%A4%A")).toThrow(URIError);
  });
});

describe("edge/node: node:http as a thin mapper", () => {
  it("hands the route the request as sent and writes a chunked body chunk by chunk (the streaming seam)", async () => {
    // Prepare: a body whose second chunk is only produced after the client has read the first
    let seen: HttpRequest | undefined;
    let firstArrived!: () => void;
    const arrived = new Promise<void>((r) => (firstArrived = r));
    const { server, url, apiHost } = await listenNode({
      host: "127.0.0.1",
      port: 0,
      bodyLimit: 100,
      handle: async (req) => {
        seen = req;
        return {
          status: 200,
          headers: { "content-type": "text/plain" },
          body: (async function* () {
            yield "first;";
            await arrived;
            yield "second";
          })(),
        };
      },
      fail: (e) => jsonResponse(500, { error: String(e) }),
    });
    try {
      // Act
      const text = await new Promise<string>((resolve, reject) => {
        const req = request(
          `${url}/v1/x%2Fy?b=2&a=%20&b=3`,
          { method: "POST", headers: { "X-Mixed-Case": "v", host: "evil.example" } },
          (res) => {
            let got = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => {
              got += c;
              if (got === "first;") firstArrived();
            });
            res.on("end", () => resolve(got));
          },
        );
        req.on("error", reject);
        req.end("hello");
      });
      // Assess
      expect(text).toBe("first;second");
      expect(seen).toMatchObject({
        method: "POST",
        path: "/v1/x%2Fy",
        rawQuery: "b=2&a=%20&b=3",
        query: { a: " ", b: "3" },
        body: "hello",
        host: apiHost,
      });
      expect(seen!.headers["x-mixed-case"]).toBe("v");
      expect(apiHost).toBe(new URL(url).host);
    } finally {
      server.close();
    }
  });

  it("an oversize body is the only failure that is a BodyTooLargeError; a guard refuses before the body is read", async () => {
    // Prepare
    const failures: string[] = [];
    let handled = 0;
    const { server, url } = await listenNode({
      host: "127.0.0.1",
      port: 0,
      bodyLimit: 10,
      guard: (req) => (req.path === "/guarded" ? jsonResponse(403, { guarded: true }) : undefined),
      handle: async () => (handled++, jsonResponse(200, {})),
      fail: (e) => (failures.push((e as Error).name), jsonResponse(599, {})),
    });
    try {
      // Act
      const big = await fetch(`${url}/x`, { method: "POST", body: "x".repeat(11) });
      const guarded = await fetch(`${url}/guarded`, { method: "POST", body: "x".repeat(11) });
      // Assess
      expect(big.status).toBe(599);
      expect(failures).toEqual(["BodyTooLargeError"]);
      expect(guarded.status).toBe(403);
      expect(handled).toBe(0);
    } finally {
      server.close();
    }
  });
});

/** Every module specifier imported by a file (static, dynamic and type-only imports). */
function importsOf(file: string): string[] {
  const src = readFileSync(file, "utf8");
  return [...src.matchAll(/(?:^|\n)\s*(?:import|export)\b[^"'`;]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)].map(
    (m) => (m[1] ?? m[2])!,
  );
}

/** The files reachable from `entry` through relative imports, and the packages they import. */
function closure(entry: string): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of importsOf(file)) {
      if (!spec.startsWith(".")) {
        packages.add(spec);
        continue;
      }
      const base = path.resolve(path.dirname(file), spec);
      const target = [`${base}.ts`, path.join(base, "index.ts"), base].find((f) => existsSync(f) && f.endsWith(".ts"));
      if (target) visit(target);
    }
  };
  visit(entry);
  return { files: [...files].map((f) => path.relative(root, f)), packages: [...packages] };
}

describe("local/ is free of the Lambda edge", () => {
  it("the local HTTP server reaches no aws-lambda types, no middy and no Lambda mapper", () => {
    // Act
    const { files, packages } = closure(path.join(root, "local/http-server.ts"));
    // Assess
    expect(files).toContain("functions/http/middleware.ts");
    expect(packages).not.toContain("aws-lambda");
    expect(packages).not.toContain("@middy/core");
    expect(files).not.toContain("functions/http/lambda.ts");
  });

  it("no file in local/ imports aws-lambda for HTTP or builds an API Gateway event", () => {
    // Prepare: the SQS event-source emulation (local/queues.ts) is the queue edge, split apart elsewhere
    const queueEdge = new Set(["local/queues.ts", "local/queues.test.ts", "local/sqs-consumer.ts"]);
    const local = readdirSync(path.join(root, "local"), { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts"))
      .map((f) => path.join("local", f));
    // Act
    const offenders = local.filter((f) => importsOf(path.join(root, f)).includes("aws-lambda") && !queueEdge.has(f));
    const fakeEvents = local.filter((f) => /APIGatewayProxy|requestContext|rawQueryString/.test(readFileSync(path.join(root, f), "utf8")));
    // Assess
    expect(local.length).toBeGreaterThan(5);
    expect(offenders).toEqual([]);
    expect(fakeEvents).toEqual([]);
  });
});
