/**
 * Offline synthesis of the SST v2 app: no AWS credentials, no network.
 *
 * `sst build` cannot run offline (it asks STS who we are, then looks up the bootstrap stack,
 * forever). With NODE_ENV=test SST skips the bootstrap, so we do what `sst build` does by
 * hand: load the project config (sst/project.js, an internal path of sst 2.49.8: keep it
 * pinned), run the stacks function on an `App` from sst/constructs with a fixed account and
 * region, `await app.finish()` (this bundles every function with esbuild), and synthesize.
 *
 *   npm run synth                 # stages prod and dev, summary on stdout, assembly in .sst/synth/<stage>
 *   npm run synth -- --stage prod   # or --stage=prod; a refused setting: one `error [deploy_refused]` line, exit 2
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { App } from "sst/constructs";
import type { Stack } from "aws-cdk-lib";
import { DeployRefusedError, EX_REFUSED, EX_USAGE, parseStageOption, settingsPreflight, UsageError } from "./deploy";

export const SYNTH_ACCOUNT = "123456789012";
export const SYNTH_REGION = "us-east-1";

export interface SynthOptions {
  stage?: string;
  account?: string;
  region?: string;
  /** Where the cloud assembly goes; default .sst/synth/<stage>. */
  outdir?: string;
  /**
   * false: skip esbuild and give every function a placeholder bundle (structure-only checks of
   * a second stage in tests; bundling is the slow part). Default true.
   */
  bundle?: boolean;
}

export interface SynthResult {
  app: App;
  stacks: Stack[];
  outdir: string;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Make SST's per-function `npm install` (run even when nothing is to be installed) offline and quiet. */
function offlineNpm() {
  process.env.npm_config_offline = "true";
  process.env.npm_config_audit = "false";
  process.env.npm_config_fund = "false";
  process.env.npm_config_update_notifier = "false";
  process.env.npm_config_loglevel = "error";
}

/**
 * SST runs `npm install` in every function's bundle folder even when its package.json lists no
 * dependency (ours never do: nothing is forced external), which only writes an empty lockfile and
 * costs a second of npm start-up per function (about 40 s of a prod synth). Put an `npm` first on
 * PATH that skips exactly that case and hands anything else to the real npm; returns the undo.
 */
async function skipEmptyNpmInstall(): Promise<() => void> {
  const fs = await import("node:fs/promises");
  const os = await import("node:os");
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "cocoon-synth-npm-"));
  const saved = process.env.PATH;
  const script = [
    "#!/bin/sh",
    `PATH=${JSON.stringify(saved ?? "")}`,
    "export PATH",
    `if [ "$1" = install ] && [ "$(cat package.json 2>/dev/null)" = '{"dependencies":{}}' ]; then exit 0; fi`,
    'exec npm "$@"',
    "",
  ].join("\n");
  await fs.writeFile(path.join(dir, "npm"), script, { mode: 0o755 });
  process.env.PATH = `${dir}${path.delimiter}${saved ?? ""}`;
  return () => {
    process.env.PATH = saved;
    void fs.rm(dir, { recursive: true, force: true });
  };
}

export async function synthesize(o: SynthOptions = {}): Promise<SynthResult> {
  const stage = o.stage ?? "prod";
  const region = o.region ?? SYNTH_REGION;
  const account = o.account ?? SYNTH_ACCOUNT;
  const outdir = o.outdir ?? path.join(root, ".sst", "synth", stage);
  process.env.NODE_ENV = "test"; // SST: no bootstrap lookups, no live-lambda permissions
  offlineNpm();

  const { initProject, useProject } = await import("sst/project.js");
  const { App } = await import("sst/constructs");
  const { Stack } = await import("aws-cdk-lib");
  const config = (await import("../sst.config")).default;

  const cwd = process.cwd();
  process.chdir(root); // SST resolves handler paths against the working directory
  const restore = o.bundle === false ? await placeholderBundles() : () => {};
  const restorePath = process.platform === "win32" ? () => {} : await skipEmptyNpmInstall();
  try {
    await initProject({ stage, region, root });
    const project = useProject();
    const app = new App({ mode: "deploy", stage, name: project.config.name, region, account }, { outdir });
    await config.stacks(app);
    await app.finish();
    app.synth();
    const stacks = app.node.children.filter((c): c is Stack => c instanceof Stack);
    return { app, stacks, outdir };
  } finally {
    restorePath();
    restore();
    process.chdir(cwd);
  }
}

/** Swap SST's Node.js build (esbuild) for a one-line placeholder bundle; returns the undo. */
async function placeholderBundles(): Promise<() => void> {
  const fs = await import("node:fs/promises");
  const { useRuntimeHandlers } = await import("sst/runtime/handlers.js");
  const { LAMBDA_RUNTIME } = await import("./Cocoon");
  const node = useRuntimeHandlers().for(LAMBDA_RUNTIME);
  const build = node.build;
  node.build = async (input) => {
    await fs.writeFile(path.join(input.out, "index.mjs"), "export const handler = async () => {};\n");
    return { type: "success", handler: "index.handler" };
  };
  return () => {
    node.build = build;
  };
}

/**
 * `npm run synth [-- --stage <stage>]`: resolves to the exit code. A settings refusal is one line,
 * `error [deploy_refused]: <setting> …` (it was the Error's whole stack trace), found by the
 * stacks' checks run alone before the stage is synthesized; any other failure keeps its stack.
 */
export async function synthCommand(args: string[]): Promise<number> {
  let stage: string | undefined;
  try {
    stage = parseStageOption(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`error [usage]: ${e.message}\nusage: npm run synth [-- --stage <stage>]   (without --stage: prod and dev)`);
    return EX_USAGE;
  }
  const { Template } = await import("aws-cdk-lib/assertions");
  for (const s of stage ? [stage] : ["prod", "dev"]) {
    const t0 = performance.now();
    try {
      await settingsPreflight(s);
    } catch (e) {
      if (!(e instanceof DeployRefusedError)) throw e;
      console.error(`error [${e.code}]: ${e.message}`);
      return EX_REFUSED;
    }
    const { stacks, outdir } = await synthesize({ stage: s });
    for (const stack of stacks) {
      const resources = Template.fromStack(stack).toJSON().Resources as Record<string, { Type: string }>;
      const byType = new Map<string, number>();
      for (const r of Object.values(resources)) byType.set(r.Type, (byType.get(r.Type) ?? 0) + 1);
      console.log(
        `${stack.stackName}: ${Object.keys(resources).length} resources (${s}, ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
      );
      for (const [type, n] of [...byType].sort()) console.log(`  ${String(n).padStart(3)}  ${type}`);
    }
    console.log(`  cloud assembly: ${path.relative(process.cwd(), outdir)}`);
  }
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  synthCommand(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e instanceof Error ? (e.stack ?? e.message) : e);
      process.exit(1);
    },
  );
}
