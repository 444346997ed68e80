/**
 * `npm run deploy -- --stage <stage>` and `npm run remove -- --stage <stage>`: what `npx sst
 * deploy` does, after the two checks it skips or hides.
 *
 * `sst deploy`, `sst build` and `sst remove` without usable AWS credentials (none, expired, or no
 * network) exited 0 after a few seconds, printing nothing (.sst/debug.log stopped at "Created AWS
 * client CloudFormationClient"), so the stacks' own settings check (checkDeployerEnv, which
 * refuses a malformed COCOON_VAULT_ADDRESS by name) was never reached either. Here, in order:
 *
 *   1. the stacks' settings checks for that stage, run alone (no synthesis): a refusal names the
 *      setting, before anything is built or any AWS call is made; a deploy to a production stage
 *      also needs every setting docs/deploy.md calls required (the stacks only warn);
 *   2. STS GetCallerIdentity with the credentials SST would use, under a short timeout: none,
 *      expired or unreachable is one coded line and exit 2; the account and region when fine;
 *   3. `remove` of a production stage only: its matching queue and that queue's DLQ must be empty
 *      (SQS's counts, under the same timeout). Removal deletes both, and they hold the only copy of
 *      in-flight jobs' sealed requests and the lease and close checks that settle or release every
 *      hold; the table (the money) is kept. A queue that still holds work is one coded line and
 *      exit 2, saying how to drain it; `--skip-drain-check` removes the stage unchecked;
 *   4. `sst deploy|remove --stage <stage>` with this terminal, its exit code passed on.
 *
 * `sst remove` synthesizes the stacks too (Stacks.synth, mode "remove"), so it runs the same
 * settings checks and is checked the same way here.
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { isProductionStage } from "../core/stages";

/** Exit codes: sysexits' EX_USAGE for a bad command line; 2 for a refusal (as the CLIs' `error [code]`). */
export const EX_USAGE = 64;
export const EX_REFUSED = 2;

/** How long the credentials check (and the drain check) may take, credential resolution (SSO, IMDS) included. */
export const CREDENTIALS_TIMEOUT_MS = 15_000;

/** `npm run remove` only: remove a production stage without asking its queues whether they are drained. */
export const SKIP_DRAIN_CHECK = "skip-drain-check";

/** A refusal before anything was deployed: printed as `error [code]: message`, never with a stack. */
export class DeployRefusedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "DeployRefusedError";
  }
}

/** A command line this script does not take: its usage, exit 64. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export type SstAction = "deploy" | "remove";

/**
 * `--stage <stage>` or `--stage=<stage>` (undefined without it); anything else, `--stage` without a
 * value included, is a UsageError. It used to be read as "the word after --stage, if any":
 * `npm run synth -- --stage=prod` or a bare `--stage` synthesized both stages without a word.
 */
export function parseStageOption(args: string[]): string | undefined {
  return parseOptions(args).stage;
}

/** parseStageOption, also taking the boolean `--<flag>`s named in `flags` (any other is a UsageError). */
function parseOptions(args: string[], flags: readonly string[] = []): { stage?: string; flags: Set<string> } {
  let values: Record<string, unknown>;
  const options: ParseArgsConfig["options"] = { stage: { type: "string" } };
  for (const f of flags) options[f] = { type: "boolean" };
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (e) {
    // node's words for "--stage --verbose" run over three lines
    const { code, message } = e as { code?: string; message: string };
    throw new UsageError(
      code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" ? "--stage needs a stage name: --stage <stage> or --stage=<stage>" : message,
    );
  }
  const set = new Set(flags.filter((f) => values[f] === true));
  const stage = values.stage as string | undefined;
  if (stage === undefined) return { flags: set };
  // SST's own rule for stage names (sst/project.js asks for one "that starts with a letter, followed by letters, numbers, or hyphens")
  if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(stage))
    throw new UsageError(`--stage "${stage}": a stage name starts with a letter, followed by letters, digits or "-"`);
  return { stage, flags: set };
}

/**
 * The settings checks the stacks run when they are built (stacks/Cocoon.ts: the stage name's
 * length, checkDeployerEnv, the route concurrency, the relay transport), run alone for `stage` on the deploying shell's
 * environment. Those throw plain Errors naming the setting; each becomes a DeployRefusedError.
 * Its warnings are left to the stack, which prints them while sst builds it. Loaded lazily:
 * importing the stacks loads sst and aws-cdk-lib (seconds).
 *
 * `deploy` to a production stage also refuses the settings docs/deploy.md calls required being
 * left out (missing_settings; the stack only warns of them, so that `npm run synth` and a remove
 * need none): every function's environment comes from this shell alone, and a redeploy from one
 * without the exports (a new terminal) took the keys, the custody seed and the chain's settings
 * off the running functions.
 */
export async function settingsPreflight(stage: string, env: NodeJS.ProcessEnv = process.env, action?: SstAction): Promise<void> {
  const { checkDeployerEnv, missingRequiredSettings, relayTransportFromEnv, routeConcurrencyFromEnv, workerQueuePrefix } =
    await import("./Cocoon");
  const { name, region } = await sstAppConfig(stage);
  try {
    workerQueuePrefix(name, stage);
    checkDeployerEnv(stage, env);
    routeConcurrencyFromEnv(env);
    relayTransportFromEnv(env);
  } catch (e) {
    if (!(e instanceof Error)) throw e;
    throw new DeployRefusedError("deploy_refused", e.message.replace(/^deploy refused: /, ""));
  }
  // SSM parameters and KMS keys are regional: the secrets made beside a key of another region are
  // not where the functions read them, and every function given one would fail its cold start
  const keyRegion = env.COCOON_SECRETS_KMS_KEY_ARN?.split(":")[3];
  if (keyRegion && keyRegion !== region)
    throw new DeployRefusedError(
      "deploy_refused",
      `COCOON_SECRETS_KMS_KEY_ARN is a key in ${keyRegion}, but stage ${stage} deploys to ${region} (AWS_REGION, else sst.config.ts's default): the functions read their SSM parameters in ${region}; deploy with AWS_REGION=${keyRegion}, or make the key and the parameters in ${region}`,
    );
  if (action !== "deploy" || !isProductionStage(stage)) return;
  const missing = missingRequiredSettings(stage, env).flatMap((m) => m.variables);
  if (missing.length > 0)
    throw new DeployRefusedError(
      "missing_settings",
      `the production stage ${stage} would be deployed without ${missing.join(", ")}: docs/deploy.md calls them required, and a deploy takes each function's settings from this shell alone (without them submits are refused, deposits are not credited, payouts are off); export them (docs/deploy.md, "Deploy") and deploy again`,
    );
}

export interface AwsIdentity {
  account: string;
  arn: string;
}

/** Who the default credential chain (AWS_PROFILE, env keys, SSO, instance roles: what SST uses) is, in `region`. */
export type WhoAmI = (region: string, signal: AbortSignal) => Promise<AwsIdentity>;

export const stsWhoAmI: WhoAmI = async (region, signal) => {
  const { STSClient, GetCallerIdentityCommand } = await import("@aws-sdk/client-sts");
  const sts = new STSClient({ region, maxAttempts: 1 });
  try {
    const r = await sts.send(new GetCallerIdentityCommand({}), { abortSignal: signal });
    return { account: r.Account ?? "?", arn: r.Arn ?? "?" };
  } finally {
    sts.destroy();
  }
};

const CREDENTIALS_FIX =
  "configure them with `aws configure`, set AWS_PROFILE to a configured profile, or sign in with `aws sso login` (--profile <name>)";

/** An STS failure as the refusal an operator can act on. */
export function credentialsRefusal(e: unknown): DeployRefusedError {
  const err = e as { name?: string; code?: string; message?: string; cause?: { code?: string } };
  const name = err.name ?? "";
  const what = `${name}${err.message ? `: ${err.message}` : ""}`;
  const code = err.code ?? err.cause?.code ?? "";
  if (/expired/i.test(`${name} ${err.message ?? ""}`))
    return new DeployRefusedError("aws_credentials_expired", `the AWS credentials have expired (${what}): renew them: ${CREDENTIALS_FIX}`);
  if (name === "CredentialsProviderError" || name === "TokenProviderError")
    return new DeployRefusedError("no_aws_credentials", `no AWS credentials found (${what}): ${CREDENTIALS_FIX}`);
  if (["InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException"].includes(name))
    return new DeployRefusedError("aws_credentials_invalid", `AWS refused these credentials (${what}): ${CREDENTIALS_FIX}`);
  if (
    name === "TimeoutError" ||
    name === "AbortError" ||
    /^(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH)$/.test(code)
  )
    return new DeployRefusedError(
      "aws_unreachable",
      `AWS STS did not answer (${what || code}): check the network (and any proxy), then try again`,
    );
  return new DeployRefusedError("aws_credentials_unusable", `the AWS credentials could not be checked (${what}): ${CREDENTIALS_FIX}`);
}

/** `ask(signal)`, given up (its signal aborted, a TimeoutError thrown) after timeoutMs. */
async function withinTimeout<T>(ask: (signal: AbortSignal) => Promise<T>, timeoutMs: number): Promise<T> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  // credential resolution (an SSO or IMDS lookup) runs before the request the signal aborts: raced too
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const e = new Error(`no answer within ${timeoutMs / 1000} s`);
      e.name = "TimeoutError";
      ac.abort(e);
      reject(e);
    }, timeoutMs);
  });
  try {
    return await Promise.race([ask(ac.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The credentials check: the identity, or a DeployRefusedError; never longer than timeoutMs. */
export async function checkCredentials(whoAmI: WhoAmI, region: string, timeoutMs = CREDENTIALS_TIMEOUT_MS): Promise<AwsIdentity> {
  try {
    return await withinTimeout((signal) => whoAmI(region, signal), timeoutMs);
  } catch (e) {
    throw credentialsRefusal(e);
  }
}

/** What one queue holds, by SQS's approximate counts (they may lag the queue by about a minute). */
export interface QueueDepth {
  queue: string;
  visible: number;
  inFlight: number;
  delayed: number;
}

/**
 * What a production stage's matching queue and its dead-letter queue hold, in `region`; [] when the
 * matching queue does not exist (the stage was never deployed there, or is removed already).
 */
export type StageQueueDepths = (stage: string, region: string, signal: AbortSignal) => Promise<QueueDepth[]>;

const SQS_COUNTS = {
  visible: "ApproximateNumberOfMessages",
  inFlight: "ApproximateNumberOfMessagesNotVisible",
  delayed: "ApproximateNumberOfMessagesDelayed",
} as const;

const queueMissing = (e: unknown) => ["QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"].includes((e as Error).name);

/**
 * The depths of the queue named `matchingQueue` and of the DLQ its redrive policy names (found there,
 * not by name: CloudFormation named it), with the credentials SST would use. A count SQS leaves out
 * is an error, never a 0.
 */
export async function sqsQueueDepths(region: string, matchingQueue: string, signal: AbortSignal): Promise<QueueDepth[]> {
  const { SQSClient, GetQueueUrlCommand, GetQueueAttributesCommand } = await import("@aws-sdk/client-sqs");
  const sqs = new SQSClient({ region, maxAttempts: 1 });
  const depthOf = async (queue: string, owner?: string) => {
    let url: string | undefined;
    try {
      ({ QueueUrl: url } = await sqs.send(new GetQueueUrlCommand({ QueueName: queue, QueueOwnerAWSAccountId: owner }), {
        abortSignal: signal,
      }));
    } catch (e) {
      if (queueMissing(e)) return undefined;
      throw e;
    }
    const { Attributes: a = {} } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: [...Object.values(SQS_COUNTS), "RedrivePolicy"] }),
      { abortSignal: signal },
    );
    const count = (attribute: string) => {
      const v = a[attribute as keyof typeof a];
      // a whole number as digits ("" and " " are 0 to Number())
      if (!v || !/^\d{1,15}$/.test(v)) throw new Error(`SQS gave no ${attribute} for ${queue}`);
      return Number(v);
    };
    const depth: QueueDepth = {
      queue,
      visible: count(SQS_COUNTS.visible),
      inFlight: count(SQS_COUNTS.inFlight),
      delayed: count(SQS_COUNTS.delayed),
    };
    const dlqArn = a.RedrivePolicy ? (JSON.parse(a.RedrivePolicy) as { deadLetterTargetArn?: string }).deadLetterTargetArn : undefined;
    return { depth, dlqArn };
  };
  try {
    const matching = await depthOf(matchingQueue);
    if (!matching) return [];
    // arn:<partition>:sqs:<region>:<account>:<name>
    const [, , , , account, dlqName] = matching.dlqArn?.split(":") ?? [];
    const dlq = dlqName ? await depthOf(dlqName, account) : undefined;
    return dlq ? [matching.depth, dlq.depth] : [matching.depth];
  } finally {
    sqs.destroy();
  }
}

/** The stage's matching queue, named as the stack names it, and its DLQ. */
export const stageQueueDepths: StageQueueDepths = async (stage, region, signal) => {
  const { matchingQueueName } = await import("./Cocoon");
  const { name } = await sstAppConfig(stage);
  return sqsQueueDepths(region, matchingQueueName(name, stage), signal);
};

const held = (d: QueueDepth) => d.visible + d.inFlight + d.delayed;

/**
 * The drain check before a production stage is removed: nothing, or a DeployRefusedError saying what
 * the queues hold and how to drain them (stage_not_drained), or that they could not be asked
 * (drain_unknown); never longer than timeoutMs.
 */
export async function checkDrained(
  depths: StageQueueDepths,
  stage: string,
  region: string,
  timeoutMs = CREDENTIALS_TIMEOUT_MS,
): Promise<void> {
  let found: QueueDepth[];
  try {
    found = await withinTimeout((signal) => depths(stage, region, signal), timeoutMs);
  } catch (e) {
    const err = e as { name?: string; message?: string };
    throw new DeployRefusedError(
      "drain_unknown",
      `could not ask the queues of the production stage ${stage} in ${region} whether they are drained (${err.name ?? "Error"}${err.message ? `: ${err.message}` : ""}): removing it deletes its matching queue and that queue's DLQ, which hold what settles or releases every open job's and tab's hold; allow sqs:GetQueueUrl and sqs:GetQueueAttributes on them and try again, or pass --${SKIP_DRAIN_CHECK} to remove it unchecked`,
    );
  }
  const busy = found.filter((d) => held(d) > 0);
  if (busy.length === 0) return;
  const what = busy.map((d) => `${d.queue} holds ${held(d)} (${d.visible} waiting, ${d.inFlight} in flight, ${d.delayed} delayed)`);
  throw new DeployRefusedError(
    "stage_not_drained",
    `the production stage ${stage} in ${region} is not drained: ${what.join("; ")}. Removing it deletes these queues, which hold the only copy of in-flight jobs' sealed requests and the lease and close checks that settle or release their holds; the table is kept, and those holds would stay held. Drain it first: stop new jobs and tabs reaching it, let the jobs in flight finish and the checks come due (up to a job's lease), redrive or inspect the DLQ, then remove again (docs/deploy.md, "Remove"); or pass --${SKIP_DRAIN_CHECK} to remove it anyway`,
  );
}

/** sst.config.ts's app settings for `stage` (its name, its region), as sst reads them. */
async function sstAppConfig(stage: string) {
  return (await import("../sst.config")).default.config({ stage });
}

/** The region SST deploys to: sst.config.ts's, as `sst deploy` without --region reads it. */
export async function deployRegion(stage: string): Promise<string> {
  const { region } = await sstAppConfig(stage);
  if (!region) throw new Error("sst.config.ts names no region");
  return region;
}

/** Runs `sst <action> --stage <stage>` with this terminal; resolves to its exit code (128 + n for a signal). */
export type RunSst = (action: SstAction, stage: string) => Promise<number>;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** `runSst` with the sst CLI script `cli` (tests give a stand-in script). */
export const sstRunner =
  (cli: string): RunSst =>
  (action, stage) =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [cli, action, "--stage", stage], { cwd: root, stdio: "inherit" });
      // Ctrl-C reaches sst from the terminal itself: stay to pass on its exit code; a TERM sent here only is passed on
      const onInt = () => {};
      const onTerm = () => child.kill("SIGTERM");
      process.on("SIGINT", onInt);
      process.on("SIGTERM", onTerm);
      child.on("error", reject);
      child.on("exit", (code, signal) => {
        process.off("SIGINT", onInt);
        process.off("SIGTERM", onTerm);
        resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
      });
    });

/** The sst CLI script `npx sst` runs. */
export const SST_CLI = path.join(root, "node_modules", "sst", "cli", "sst.js");

export const runSst: RunSst = sstRunner(SST_CLI);

export interface DeployDeps {
  preflight: (stage: string, action: SstAction) => Promise<void>;
  region: (stage: string) => Promise<string>;
  whoAmI: WhoAmI;
  /** `remove` of a production stage: what its queues hold (with the credentials checked before). */
  queueDepths: StageQueueDepths;
  sst: RunSst;
  out: (line: string) => void;
  err: (line: string) => void;
  timeoutMs?: number;
}

export const USAGE = `usage: npm run deploy -- --stage <stage>   |   npm run remove -- --stage <stage> [--${SKIP_DRAIN_CHECK}]`;

/** The whole command: settings, then credentials, then (removing a production stage) its queues, then sst. Resolves to the exit code. */
export async function deployCommand(action: SstAction, args: string[], deps: DeployDeps): Promise<number> {
  let stage: string;
  let skipDrainCheck: boolean;
  try {
    const given = parseOptions(args, action === "remove" ? [SKIP_DRAIN_CHECK] : []);
    // no default: a deploy names the stage it changes (npm run synth, which changes nothing, does both)
    if (given.stage === undefined) throw new UsageError("--stage <stage> is required (e.g. --stage prod or --stage dev)");
    stage = given.stage;
    skipDrainCheck = given.flags.has(SKIP_DRAIN_CHECK);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    deps.err(`error [usage]: ${e.message}`);
    deps.err(USAGE);
    return EX_USAGE;
  }
  try {
    await deps.preflight(stage, action);
    const region = await deps.region(stage);
    const who = await checkCredentials(deps.whoAmI, region, deps.timeoutMs);
    // a dev stage's table goes with it: nothing is left held
    if (action === "remove" && isProductionStage(stage)) {
      if (skipDrainCheck)
        deps.err(
          `warning: --${SKIP_DRAIN_CHECK}: the queues of the production stage ${stage} are not checked; open jobs' and tabs' holds may stay held`,
        );
      else await checkDrained(deps.queueDepths, stage, region, deps.timeoutMs);
    }
    deps.out(`${action === "deploy" ? "deploying" : "removing"} stage ${stage}: AWS account ${who.account} (${who.arn}), region ${region}`);
  } catch (e) {
    if (!(e instanceof DeployRefusedError)) throw e;
    deps.err(`error [${e.code}]: ${e.message}`);
    return EX_REFUSED;
  }
  return deps.sst(action, stage);
}

/** What `npm run deploy` and `npm run remove` run with: this shell's settings, STS, sst, the terminal. */
export const scriptDeps: DeployDeps = {
  preflight: (stage, action) => settingsPreflight(stage, process.env, action),
  region: deployRegion,
  whoAmI: stsWhoAmI,
  queueDepths: stageQueueDepths,
  sst: runSst,
  out: (l) => console.log(l),
  err: (l) => console.error(l),
};

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE ??= "1"; // the stacks load sst/constructs, thus AWS SDK v2 and its end-of-support notice
  const [action, ...args] = process.argv.slice(2);
  if (action !== "deploy" && action !== "remove") {
    console.error(`error [usage]: the first argument is deploy or remove, not ${action ?? "nothing"}\n${USAGE}`);
    process.exit(EX_USAGE);
  }
  deployCommand(action, args, scriptDeps).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e instanceof Error ? (e.stack ?? e.message) : e);
      process.exit(1);
    },
  );
}
