/**
 * Lambda bundles: each handler built as the stack builds it (SST 2.49.8's own esbuild, SST's
 * fixed options, then ours from stacks/bundling.ts: ESM, minified, split, @aws-sdk/* external,
 * zod namespace imports), then measured:
 *
 * - size: every file of the function's output (entry and all chunks: what its zip holds);
 * - cold import: a fresh `node` process imports the entry (and the chunks it statically
 *   needs), timed inside the process (Node's own start-up excluded);
 * - cold start to first answer: the same process then calls the handler once, with the
 *   environment the stack gives it and fake credentials: the deps are built (the DynamoDB
 *   client loaded from node_modules, as the runtime loads its own SDK) and an unsigned request
 *   is refused with 401 before any AWS call. The SQS consumer gets an empty batch; the chain
 *   watcher is only imported (its first call reads the chain).
 *
 * The median of a few fresh processes per handler. Output under .sst/bench-bundles (inside the
 * repository, so the external @aws-sdk/* resolves from node_modules).
 */
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { BuildOptions } from "esbuild";
import { HANDLER_ESBUILD, HANDLER_NODEJS, SST_FIXED } from "../stacks/bundling";
import type { BenchResult } from "./types";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const BUNDLE_TARGET_KB = 300;
export const COLD_IMPORT_TARGET_MS = 150;

/** Every deployable handler: a module under functions/{http,queue,schedule} exporting `handler`. */
export function handlerModules(): string[] {
  const out: string[] = [];
  for (const dir of ["http", "queue", "schedule"]) {
    for (const f of readdirSync(join(root, "functions", dir)).sort()) {
      if (!f.endsWith(".ts") || f.endsWith(".test.ts")) continue;
      if (/^export const handler\b/m.test(readFileSync(join(root, "functions", dir, f), "utf8"))) out.push(`${dir}/${f.slice(0, -3)}`);
    }
  }
  return out;
}

/** The esbuild SST bundles with (its own dependency, not ours). */
function sstEsbuild(): typeof import("esbuild") {
  return createRequire(join(root, "node_modules", "sst", "package.json"))("esbuild") as typeof import("esbuild");
}

export interface BuiltHandler {
  handler: string;
  entry: string;
  bytes: number;
  files: number;
  /** Packages left external that the output imports (statically or not). */
  externals: string[];
  /** Packages bundled into any of its files. */
  packages: string[];
}

/** Builds one handler exactly as SST would for the stack (see sst/runtime/handlers/node.js). */
export async function buildHandler(handler: string, outRoot = join(root, ".sst", "bench-bundles")): Promise<BuiltHandler> {
  const esbuild = sstEsbuild();
  const outdir = join(outRoot, handler);
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const { external, ...override } = HANDLER_ESBUILD;
  const options: BuildOptions = {
    ...SST_FIXED,
    entryPoints: [join(root, "functions", `${handler}.ts`)],
    external: ["sharp", "pg-native", ...(external ?? [])],
    keepNames: true, // SST's default, overridden below when ours says so
    logLevel: "silent",
    metafile: true,
    target: "esnext",
    splitting: HANDLER_NODEJS.splitting,
    outdir,
    sourcemap: HANDLER_NODEJS.sourcemap,
    minify: HANDLER_NODEJS.minify,
    ...override,
  };
  const result = await esbuild.build(options as never);
  const metafile = (
    result as {
      metafile: {
        inputs: Record<string, unknown>;
        outputs: Record<string, { bytes: number; imports: Array<{ path: string; external?: boolean }> }>;
      };
    }
  ).metafile;
  const outputs = Object.entries(metafile.outputs);
  const packages = new Set(Object.keys(metafile.inputs).flatMap((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f)?.[1] ?? []));
  const externals = new Set<string>();
  for (const [, o] of outputs) for (const i of o.imports) if (i.external && !i.path.startsWith("node:")) externals.add(i.path);
  const files = readdirSync(outdir).filter((f) => f.endsWith(".mjs"));
  const name = handler.split("/").at(-1)!;
  return {
    handler,
    entry: join(outdir, `${name}.mjs`),
    bytes: files.reduce((n, f) => n + statSync(join(outdir, f)).size, 0),
    files: files.length,
    externals: [...externals].sort(),
    packages: [...packages].sort(),
  };
}

/** The environment CloudFormation gives the functions (as test/stacks.test.ts resolves it), with fake credentials. */
export function lambdaEnv(handler: string): Record<string, string> {
  const account = "123456789012";
  const env: Record<string, string> = {
    COCOON_RUNTIME: "aws",
    COCOON_STAGE: "prod",
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
    AWS_SECRET_ACCESS_KEY: "unused",
    COCOON_TABLE: "prod-cocoon-Cocoon-DataTable-1X2Y3Z",
    COCOON_MATCHING_QUEUE_URL: `https://sqs.us-east-1.amazonaws.com/${account}/prod-cocoon-Cocoon-MatchingQueue-AbC123`,
    COCOON_WORKER_QUEUE_NAME_PREFIX: "cocoon-prod-",
    COCOON_WORKER_QUEUE_URL_PREFIX: `https://sqs.us-east-1.amazonaws.com/${account}/cocoon-prod-`,
    COCOON_WORKER_QUEUE_ARN_PREFIX: `arn:aws:sqs:us-east-1:${account}:cocoon-prod-`,
    COCOON_WORKER_DLQ_ARN: `arn:aws:sqs:us-east-1:${account}:prod-cocoon-Cocoon-WorkerDlq-XyZ789`,
  };
  if (/voucher|withdraw/.test(handler)) {
    env.COCOON_VAULT_ADDRESS = "0:" + "ab".repeat(32);
    env.COCOON_COORDINATOR_SEED = "07".repeat(32);
  }
  return env;
}

/** The script a fresh process runs: import, then (unless `importOnly`) one call; prints timings as JSON. */
const PROBE = `
const [entry, kind] = process.argv.slice(1);
const t0 = performance.now();
const mod = await import(entry);
const t1 = performance.now();
let status = null;
if (kind === "http" && mod.route.spec.auth === "none" && !["/openapi.json", "/v1/routes"].includes(mod.route.spec.path)) {
  // A public route that reads the table (GET /v1/models) cannot answer without AWS: import only.
} else if (kind === "http") {
  // The handler's own route, with made-up path parameters and no signature.
  const method = mod.route.spec.method;
  const p = mod.route.spec.path.replace(/{[^}]+}/g, "x");
  const routeKey = method + " " + mod.route.spec.path;
  const r = await mod.handler({ version: "2.0", routeKey, rawPath: p, rawQueryString: "", headers: {}, isBase64Encoded: false,
    requestContext: { http: { method, path: p, protocol: "HTTP/1.1", sourceIp: "203.0.113.7", userAgent: "bench" }, requestId: "r1", routeKey, stage: "$default", domainName: "bench.example" } }, {});
  status = r.statusCode;
} else if (kind === "sqs") {
  const r = await mod.handler({ Records: [] }, { getRemainingTimeInMillis: () => 30000 });
  status = r && Array.isArray(r.batchItemFailures) ? 200 : -1;
}
const t2 = performance.now();
process.stdout.write(JSON.stringify({ importMs: t1 - t0, firstMs: t2 - t0, status }) + "\\n");
process.exit(0);
`;

interface Probe {
  importMs: number;
  firstMs: number;
  status: number | null;
}

function probe(entry: string, kind: "http" | "sqs" | "import", env: Record<string, string>): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", PROBE, pathToFileURL(entry).href, kind], {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.on("exit", (code) => {
      const line = out.trim().split("\n").at(-1) ?? "";
      if (code === 0 && line.startsWith("{")) resolve(JSON.parse(line) as Probe);
      else reject(new Error(`${relative(root, entry)}: probe exited with ${code}: ${err.trim().split("\n").slice(-3).join(" | ")}`));
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
};

export interface HandlerMeasure extends BuiltHandler {
  importMs: number;
  firstMs: number | null;
  status: number | null;
}

export async function measureHandlers(o: { runs?: number; only?: string[] } = {}): Promise<HandlerMeasure[]> {
  const out: HandlerMeasure[] = [];
  for (const handler of handlerModules()) {
    if (o.only && !o.only.includes(handler)) continue;
    const built = await buildHandler(handler);
    const kind = handler.startsWith("http/") ? "http" : handler.startsWith("queue/") ? "sqs" : "import";
    const runs: Probe[] = [];
    // GET /v1/models reads the table before it can answer: measured to import only.
    const importOnly = kind === "import" || handler === "http/list-models";
    for (let i = 0; i < (o.runs ?? 3); i++) runs.push(await probe(built.entry, kind, lambdaEnv(handler)));
    const statuses = new Set(runs.map((r) => r.status));
    if (
      kind === "http" &&
      !importOnly &&
      // the two public routes that read nothing answer 200 unsigned; every other route refuses
      ![...statuses].every(
        (s) => s !== null && s >= 200 && s < 500 && (s >= 400 || ["http/openapi", "http/route-directory"].includes(handler)),
      )
    ) {
      throw new Error(`${handler}: the unsigned probe was answered ${[...statuses].join(",")}, expected a 4xx`);
    }
    out.push({
      ...built,
      importMs: median(runs.map((r) => r.importMs)),
      firstMs: importOnly ? null : median(runs.map((r) => r.firstMs)),
      status: runs[0]!.status,
    });
  }
  return out;
}

const r1 = (x: number) => Math.round(x * 10) / 10;

export async function benchBundles(o: { runs?: number } = {}): Promise<BenchResult[]> {
  const ms = await measureHandlers(o);
  const rows: BenchResult[] = [];
  const big = ms.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  const slow = ms.reduce((a, b) => (b.importMs > a.importMs ? b : a));
  const withinSize = ms.filter((m) => m.bytes / 1024 <= BUNDLE_TARGET_KB).length;
  const withinImport = ms.filter((m) => m.importMs <= COLD_IMPORT_TARGET_MS).length;
  rows.push(
    {
      name: `handler bundles within ${BUNDLE_TARGET_KB} KB and a ${COLD_IMPORT_TARGET_MS} ms cold import`,
      value: Math.min(withinSize, withinImport),
      unit: `of ${ms.length}`,
      target: `${ms.length} of ${ms.length}`,
      ok: withinSize === ms.length && withinImport === ms.length,
    },
    {
      name: `largest handler bundle (${big.handler}, all files)`,
      value: r1(big.bytes / 1024),
      unit: "KB",
      target: `≤ ${BUNDLE_TARGET_KB} KB`,
      ok: big.bytes / 1024 <= BUNDLE_TARGET_KB,
    },
    {
      name: `slowest cold import (${slow.handler}, fresh node process)`,
      value: r1(slow.importMs),
      unit: "ms",
      target: `≤ ${COLD_IMPORT_TARGET_MS} ms`,
      ok: slow.importMs <= COLD_IMPORT_TARGET_MS,
    },
  );
  const firsts = ms.filter((m) => m.firstMs !== null);
  const slowFirst = firsts.reduce((a, b) => (b.firstMs! > a.firstMs! ? b : a));
  rows.push({
    name: `slowest cold start to first answer (${slowFirst.handler}: import, deps with the DynamoDB client from node_modules, a 401)`,
    value: r1(slowFirst.firstMs!),
    unit: "ms",
    target: null,
    ok: null,
  });
  for (const m of ms) {
    rows.push({
      name: `bundle ${m.handler}: size (${m.files} files)`,
      value: r1(m.bytes / 1024),
      unit: "KB",
      target: `≤ ${BUNDLE_TARGET_KB} KB`,
      ok: m.bytes / 1024 <= BUNDLE_TARGET_KB,
      group: "bundles",
    });
    rows.push({
      name: `bundle ${m.handler}: cold import`,
      value: r1(m.importMs),
      unit: "ms",
      target: `≤ ${COLD_IMPORT_TARGET_MS} ms`,
      ok: m.importMs <= COLD_IMPORT_TARGET_MS,
      group: "bundles",
    });
    if (m.firstMs !== null)
      rows.push({
        name: `bundle ${m.handler}: cold start to first answer`,
        value: r1(m.firstMs),
        unit: "ms",
        target: null,
        ok: null,
        group: "bundles",
      });
  }
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const only = process.argv.slice(2);
  const ms = await measureHandlers({ only: only.length ? only : undefined });
  for (const m of ms) {
    console.log(
      `${m.handler.padEnd(28)} ${(m.bytes / 1024).toFixed(1).padStart(7)} KB ${String(m.files).padStart(2)} files  import ${m.importMs.toFixed(0).padStart(4)} ms  first ${m.firstMs === null ? "   -" : m.firstMs.toFixed(0).padStart(4)} ms  [${m.status}]  ext: ${m.externals.join(" ")}`,
    );
  }
}
