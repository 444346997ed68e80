/**
 * Issue 13: the requester's side as a product. `npm run build:client` makes a package whose
 * `npm pack` tarball has ESM, .d.ts types and the `cocoon` CLI and nothing of the coordinator or
 * the agent; an empty project installs the tarball offline (its one dependency, zod, packed from
 * this repository's own node_modules: npm's cache may not hold zod's registry metadata, and a test
 * reaches no registry) and asks the local network a question through `import { CocoonClient } from "@cocoon/client"`.
 */
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { startNetwork, type LocalNetwork } from "../local/network";
import { startLocalAgents } from "../local/agents";
import type { RunningAgent } from "../agent/runtime";
import {
  buildClientPackage,
  CLIENT_PACKAGE_NAME,
  clientForbiddenInputs,
  packClientPackage,
  type ClientPackage,
} from "../scripts/build-client-package";
import { MODEL } from "./helpers";

const tmp = (what: string) => tempDir(`cocoon-${what}-`);

let pkg: ClientPackage;
let tarball: string;
let app: string;
let net: LocalNetwork;
let agents: RunningAgent[];

beforeAll(async () => {
  // zod's tarball (see below) is packed by its own npm process while the package builds here.
  const zodDir = tmp("zod-pack");
  const zodPacked = promisify(execFile)("npm", ["pack", "--silent", new URL("../node_modules/zod", import.meta.url).pathname], {
    cwd: zodDir,
    encoding: "utf8",
  });
  [pkg, net] = await Promise.all([buildClientPackage({ outDir: join(tmp("client-build"), "package") }), startNetwork({ chain: false })]);
  agents = await startLocalAgents(net.url, tmp("client-agents"), [{ name: "agent-0", priceBps: 10_000 }]);
  tarball = packClientPackage(pkg.dir, tmp("client-pack"));
  // An empty project that installs the tarball, offline: no registry. Its dependency zod comes
  // as a tarball of the very version it names, packed from our node_modules (it satisfies the
  // package's own "zod" range, so npm asks the registry for nothing).
  app = tmp("client-app");
  const zodTarball = join(zodDir, (await zodPacked).stdout.trim());
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "an-app", version: "1.0.0", private: true, type: "module" }));
  execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", zodTarball, tarball], {
    cwd: app,
    stdio: "pipe",
  });
}, 120_000);

afterAll(async () => {
  await Promise.all((agents ?? []).map((a) => a.stop()));
  await net?.stop();
});

describe("issue 13: the SDK as an installable package", () => {
  it("the tarball holds ESM, types, the cocoon CLI and a package.json naming them; nothing of the coordinator or the agent went in", () => {
    // Act
    const files = execFileSync("tar", ["tzf", tarball], { encoding: "utf8" }).split("\n").filter(Boolean);
    const manifest = JSON.parse(execFileSync("tar", ["xzf", tarball, "-O", "package/package.json"], { encoding: "utf8" })) as Record<
      string,
      any
    >;
    // Assess
    expect(files).toEqual(
      expect.arrayContaining([
        "package/package.json",
        "package/dist/index.js",
        "package/dist/cli.js",
        "package/types/client/index.d.ts",
        "package/types/client/sdk.d.ts",
      ]),
    );
    expect(files.filter((f) => /^package\/(types\/)?(functions|local|stacks|agent)\//.test(f))).toEqual([]);
    expect(manifest).toMatchObject({
      name: CLIENT_PACKAGE_NAME,
      type: "module",
      bin: { cocoon: "dist/cli.js" },
      exports: { ".": { import: "./dist/index.js", types: "./types/client/index.d.ts" } },
    });
    expect(Object.keys(manifest.dependencies)).toEqual(["zod"]);
    expect(clientForbiddenInputs(["agent/runtime.ts", "functions/http/routes.ts", "local/network.ts"])).toHaveLength(3);
    expect(pkg.inputs).toContain("client/sdk.ts");
    expect(clientForbiddenInputs(pkg.inputs)).toEqual([]);
  });

  it("an app that installed it imports CocoonClient by the package name and gets a verified answer from the local network", async () => {
    // Prepare
    writeFileSync(
      join(app, "ask.mjs"),
      `import { CocoonClient, generateSigningKey } from "${CLIENT_PACKAGE_NAME}";
const client = new CocoonClient({ apiUrl: process.env.API, key: generateSigningKey(), allowDev: true });
await client.faucet(10_000_000_000n);
const r = await client.ask({ model: ${JSON.stringify(MODEL)}, messages: [{ role: "user", content: "hello from an installed package" }], maxTokens: 32, tiers: ["dev"] });
console.log(JSON.stringify({ text: r.text, workerId: r.workerId, tier: r.tier, cost: r.cost.toString() }));
`,
    );
    // Act (not spawnSync: the network answering it runs in this process)
    const r = await promisify(execFile)(process.execPath, ["ask.mjs"], {
      cwd: app,
      env: { ...process.env, API: net.url },
      encoding: "utf8",
      timeout: 30_000,
    });
    // Assess
    expect(r.stderr).toBe("");
    const answer = JSON.parse(r.stdout) as { text: string; workerId: string; tier: string; cost: string };
    expect(answer.workerId).toBe(agents[0]!.workerId);
    expect(answer.tier).toBe("dev");
    expect(answer.text.length).toBeGreaterThan(0);
    expect(BigInt(answer.cost)).toBeGreaterThan(0n);
  });

  it("the installed cocoon CLI starts and prints its help", () => {
    // Act
    const r = spawnSync(join(app, "node_modules", ".bin", "cocoon"), ["--help"], { encoding: "utf8" });
    // Assess
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ {2}ask\b/m);
  });
});
