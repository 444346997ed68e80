/**
 * `npm run build:client`: the requester's side as an installable package, in
 * dist/client-package/ (then `npm pack` there, or `npm run build:client -- --pack`):
 *
 *   dist/index.js   ESM: CocoonClient and the key helpers (client/index.ts)
 *   dist/cli.js     the `cocoon` CLI (client/cli.ts)
 *   types/…         .d.ts for the SDK (client/index.d.ts and what it refers to)
 *   package.json    name @cocoon/client, exports, bin, one dependency: zod (its types are in ours)
 *
 * Everything but zod is bundled in, so an app installs one package (and zod) and nothing of
 * the coordinator (functions/, local/, stacks/) or the agent (agent/) is in it:
 * test/client-package.test.ts packs it, installs the tarball offline into an empty project
 * and asks the local network a question from there.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type BuildOptions, type Metafile } from "esbuild";
import ts from "typescript";

export const REPO_ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");
export const CLIENT_PACKAGE_NAME = "@cocoon/client";
export const DEFAULT_CLIENT_OUT = join(REPO_ROOT, "dist", "client-package");

/** What the requester's package must never carry. */
export const CLIENT_FORBIDDEN_INPUTS: RegExp[] = [
  /^functions\//,
  /^local\//,
  /^stacks\//,
  /^agent\//,
  /^bench\//,
  /^test\//,
  /aws-cdk/,
  /node_modules\/(sst|lmdb|@ton\/sandbox|@aws-sdk|@aws-lambda-powertools|node-llama-cpp)\//,
];

export interface ClientPackage {
  dir: string;
  name: string;
  version: string;
  /** source files esbuild read for dist/ (repository-relative) */
  inputs: string[];
}

const rootPackage = () =>
  JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string; dependencies: Record<string, string> };

export async function buildClientPackage(o: { outDir?: string } = {}): Promise<ClientPackage> {
  const dir = resolve(o.outDir ?? DEFAULT_CLIENT_OUT);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "dist"), { recursive: true });
  const root = rootPackage();
  // Some bundled dependencies are CommonJS and require node's built-ins.
  const requireBanner =
    'import { createRequire as __cocoonCreateRequire } from "node:module"; const require = __cocoonCreateRequire(import.meta.url);';
  const common: BuildOptions = {
    absWorkingDir: REPO_ROOT,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    // zod is a dependency of the package (its types are part of ours): one copy, the app's.
    external: ["zod"],
    banner: { js: requireBanner },
    legalComments: "eof",
    metafile: true,
    logLevel: "silent",
  };
  // esbuild works in its own process: the bundles are made while tsc writes the declarations here.
  const bundling = Promise.all([
    build({ ...common, entryPoints: ["client/index.ts"], outfile: join(dir, "dist", "index.js") }),
    build({
      ...common,
      stdin: {
        contents: 'import { main } from "./client/cli";\nmain(process.argv.slice(2)).then((code) => process.exit(code));\n',
        resolveDir: REPO_ROOT,
        sourcefile: "cocoon-cli-entry.ts",
        loader: "ts",
      },
      outfile: join(dir, "dist", "cli.js"),
      banner: { js: `#!/usr/bin/env node\n${requireBanner}` },
    }),
  ]);

  // Declarations only, without a type check (the repository's own `tsc` checks the sources).
  const program = ts.createProgram([join(REPO_ROOT, "client", "index.ts")], {
    declaration: true,
    emitDeclarationOnly: true,
    noCheck: true,
    outDir: join(dir, "types"),
    rootDir: REPO_ROOT,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    strict: true,
    skipLibCheck: true,
    resolveJsonModule: true,
    esModuleInterop: true,
    types: ["node"],
  });
  const emitted = program.emit();
  // (emitSkipped is set whenever some input has nothing to emit, e.g. a JSON module: judge by the entry's file.)
  if (!existsSync(join(dir, "types", "client", "index.d.ts")))
    throw new Error(
      `the SDK's declarations were not emitted: ${ts.formatDiagnostics(emitted.diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => REPO_ROOT, getNewLine: () => "\n" })}`,
    );

  const [sdk, cli] = await bundling;
  const version = root.version;
  const pkg = {
    name: CLIENT_PACKAGE_NAME,
    version,
    description:
      "Cocoon requester SDK and CLI: confidential AI inference paid in TON; verifies workers' attestation, seals prompts, opens answers",
    type: "module",
    engines: { node: ">=20" },
    exports: { ".": { types: "./types/client/index.d.ts", import: "./dist/index.js" }, "./package.json": "./package.json" },
    types: "./types/client/index.d.ts",
    bin: { cocoon: "dist/cli.js" },
    files: ["dist", "types", "README.md"],
    dependencies: { zod: root.dependencies.zod },
    license: "MIT",
  };
  writeFileSync(join(dir, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
  writeFileSync(
    join(dir, "README.md"),
    [
      `# ${CLIENT_PACKAGE_NAME}`,
      "",
      "Ask the Cocoon network from code: the SDK verifies each candidate worker's attestation, seals the prompt to the workers that passed, and opens and checks the signed answer.",
      "",
      "```ts",
      `import { CocoonClient, loadOrCreateKey } from "${CLIENT_PACKAGE_NAME}";`,
      'const client = new CocoonClient({ apiUrl: "https://<coordinator>", key: loadOrCreateKey(".cocoon/requester.key") });',
      'const r = await client.ask({ model: "llama-3-8b", messages: [{ role: "user", content: "hi" }], maxTokens: 256 });',
      "console.log(r.text, r.usage, r.cost, r.workerId, r.tier);",
      "```",
      "",
      "`npx cocoon --help` for the CLI (ask, balance, deposit, withdraw, models, serve: an OpenAI-compatible proxy).",
      "",
    ].join("\n"),
  );
  return { dir, name: CLIENT_PACKAGE_NAME, version, inputs: [...new Set([...inputsOf(sdk.metafile), ...inputsOf(cli.metafile)])].sort() };
}

const inputsOf = (m: Metafile | undefined) => Object.keys(m?.inputs ?? {});

export function clientForbiddenInputs(inputs: string[]): string[] {
  return inputs.filter((i) => CLIENT_FORBIDDEN_INPUTS.some((re) => re.test(i)));
}

/** `npm pack` of the built package into `dest`; returns the tarball's path. */
export function packClientPackage(dir: string, dest: string): string {
  mkdirSync(dest, { recursive: true });
  const out = execFileSync("npm", ["pack", "--json", "--pack-destination", dest], {
    cwd: dir,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const [info] = JSON.parse(out) as Array<{ filename: string }>;
  return join(dest, info!.filename);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const p = await buildClientPackage();
  const bad = clientForbiddenInputs(p.inputs);
  if (bad.length) {
    process.stderr.write(`the client package pulled in code it must not carry:\n  ${bad.join("\n  ")}\n`);
    process.exit(1);
  }
  process.stdout.write(`${p.name}@${p.version} in ${p.dir}\n`);
  if (process.argv.includes("--pack")) process.stdout.write(`packed ${packClientPackage(p.dir, join(REPO_ROOT, "dist"))}\n`);
}
