/**
 * `cocoon-agent`, the worker CLI (commander: each command declares its own options, and
 * `cocoon-agent --help` / `cocoon-agent <command> --help` are generated from them). It talks to
 * the coordinator through api-client/ only: the agent carries no requester or coordinator code.
 *
 * Settings come from the config file `cocoon-agent init` writes (agent/config.ts), then the
 * environment, then flags; `start` logs JSON lines to stdout and serves /metrics and /status on
 * 127.0.0.1; `status` reads both the coordinator and the running agent.
 */
import { existsSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import { z } from "zod";
import type { AttestationTier } from "../events/attestation";
import type { Voucher } from "../events/money";
import { generateKemKey } from "../core/crypto/keys";
import { API, ApiClient, ApiError, isLoopbackUrl } from "../api-client/api";
import { formatTon, parseTon } from "../api-client/format";
import { loadKey, loadOrMakeKey } from "../api-client/keys";
import { redeemEarnings, type WorkerStatus } from "../api-client/money";
import { collect, newProgram, positiveInt, reportError, reportWarning, runProgram, type Io } from "../api-client/program";
import { progressOn } from "../api-client/progress";
import { cliSettings, SettingsError } from "../api-client/settings";
import { makeAttester, ownImageDigest, voucherCheck } from "./attest";
import { collateralSource, type CollateralSource } from "./collateral";
import { PolicyCache } from "../core/policy-registry";
import {
  type AgentConfig,
  type AgentConfigInput,
  ConfigError,
  configPath,
  EX_CONFIG,
  type FlagValues,
  resolveConfig,
  SETTINGS,
  StateWriteError,
  stateWriteError,
  writeConfig,
} from "./config";
import { givenSettings, keptSettings, settingChanges } from "./config-rewrite";
import { backoff, type BackoffOptions, sleepUnlessAborted, unlessAborted } from "./backoff";
import { jsonLog } from "./log";
import { AgentStatusDoc, createAgentMetrics, serveMetrics, tierLabel } from "./metrics";
import { CONFIGFS_TSM_ROOT, detectQuoteProvider, QuoteProviderError } from "./quote-provider";
import { AgentStoppedError, startAgent } from "./runtime";
import { agentVersionLine } from "./version";
import { modelFileDamage, modelFileProblem } from "./model-file";
import { AlreadyRunningError, type InstanceLock, lockWorker, runningHolder } from "./instance-lock";
import { createBuiltinEngine } from "./engines/builtin";
import { createOpenAiEngine, EngineUrlError, SlotProps } from "./engines/openai-http";
import { type Engine, EngineError, isKeyRefusal } from "./engines/engine";
import { createLlamaEngine } from "./engines/llama";
import { redeemCost, redeemDue, redeemFeeWarning, redeemInstructions, redeemMessage } from "../api-client/vault-messages";
import type { GpuSetting } from "./engines/llama-protocol";

interface ConnectionOptions {
  api?: string;
  key?: string;
  json?: boolean;
}

/** The config settings as flags (all optional: unset flags leave the file's or the environment's value). */
interface SettingFlags {
  config?: string;
  payoutAddress?: string;
  engine?: string;
  engineUrl?: string;
  engineKey?: string;
  engineLogprobs?: string;
  engineVision?: string;
  model: string[];
  priceBps?: number;
  capacity?: number;
  tier?: string;
  modelFile?: string;
  threads?: number;
  gpu?: string;
  contextSize?: number;
  redeemThreshold?: string;
  metricsPort?: number;
  registry?: string;
  tonEndpoint?: string;
  tonApiKey?: string;
  policyMaxAge?: number;
  engineHealthEvery?: number;
  engineTimeoutsBeforeDown?: number;
  pccsUrl?: string;
}

interface StartOptions extends ConnectionOptions, SettingFlags {
  devAttestation?: boolean;
  notConfidential?: boolean;
  logEngine?: boolean;
}

const ATTESTATION_HELP = `
Tiers: tdx (confidential: real Intel TDX evidence through configfs-tsm) is the default; the
agent refuses to start without a TDX quote provider unless you choose --tier none (the home
tier: no TEE, listed as NOT confidential, chosen only by requesters who ask for it) or --tier
dev (SIMULATED evidence, local testing only).
Settings: the config file (cocoon-agent init; default $COCOON_HOME/agent.json or
./.cocoon/agent.json, or --config / COCOON_AGENT_CONFIG), then COCOON_* variables, then flags.
The key: --key FILE (default $COCOON_HOME/worker.key or ./.cocoon/worker.key, made by init or
the first start, never by status or redeem; never printed; kept across upgrades and init --force).
`;

const MODEL_FILE_HELP = `
With --model-file the agent serves a GGUF file with the embedded llama.cpp engine (in a child
process); the file's SHA-256 is the model digest the agent attests to. Threads default to half
the cores; --gpu auto uses a GPU when a GPU build is installed (agent/engines/README.md).
\`npm run model:tiny\` writes a tiny test model with RANDOM weights (its text means nothing).
`;

/**
 * The options every command that talks to the API takes. `makesKey`: start makes a missing key;
 * status and redeem only read one (connect's `create: false`), so their help must not say "created".
 */
function connection(cmd: Command, { makesKey = true }: { makesKey?: boolean } = {}): Command {
  return cmd
    .option("--api <url>", "the coordinator's API (default: the config file, COCOON_API_URL, the local network, http://127.0.0.1:8787)")
    .option(
      "--key <file>",
      makesKey
        ? "the worker's Ed25519 key file, created on first use (default $COCOON_HOME/worker.key, ./.cocoon/worker.key)"
        : "the worker's Ed25519 key file, as cocoon-agent init made it; never created here (default $COCOON_HOME/worker.key, ./.cocoon/worker.key)",
    )
    .option("--json", "print JSON (and no progress)");
}

/** The settings a config file holds, as flags (init writes them, start overrides with them). */
function settingFlags(cmd: Command): Command {
  return cmd
    .option("--config <file>", "the config file (default: COCOON_AGENT_CONFIG, $COCOON_HOME/agent.json, ./.cocoon/agent.json)")
    .option("--payout-address <address>", "your TON wallet: payouts go there (bound by the first voucher)")
    .addOption(
      new Option(
        "--engine <name>",
        "builtin (deterministic, not a model), openai (an OpenAI-compatible server: vLLM, llama.cpp server, Ollama) or llama (--model-file); default builtin",
      ).choices(["builtin", "openai", "llama"]),
    )
    .option("--engine-url <url>", "the OpenAI-compatible server (--engine openai; default http://127.0.0.1:8000/v1)")
    .option("--engine-key <key>", "--engine openai: the server's API key, sent as a Bearer token (default: COCOON_ENGINE_KEY)")
    .addOption(
      new Option(
        "--engine-logprobs <on|off>",
        "--engine openai: the server returns log probabilities, so requesters may ask for them (default off)",
      ).choices(["on", "off"]),
    )
    .addOption(
      new Option(
        "--engine-vision <auto|on|off>",
        "--engine openai: the server reads images (default auto: as llama-server's /props says; on for a vision model on vLLM or Ollama)",
      ).choices(["auto", "on", "off"]),
    )
    .addOption(
      new Option("--model <name>", "a model to offer (repeat for several; default: what the engine lists; with --model-file: its name)")
        .argParser(collect)
        .default([] as string[]),
    )
    .option("--price-bps <n>", "your price in basis points of the model's base price (10000 = 1.0, the default)", positiveInt)
    .option("--capacity <n>", "jobs run at once at most (default 1; also bounded by the engine)", positiveInt)
    .addOption(
      new Option("--tier <tier>", "tdx (confidential, default), none (home tier: NOT confidential) or dev (SIMULATED)").choices([
        "tdx",
        "none",
        "dev",
      ]),
    )
    .option("--model-file <path.gguf>", "serve this GGUF file with the embedded llama.cpp engine")
    .option("--threads <n>", "--model-file: CPU threads (default half the cores)", positiveInt)
    .option("--gpu <kind>", "--model-file: auto (default), cpu, cuda, vulkan or metal", gpuSetting)
    .option("--context-size <n>", "--model-file: context window in tokens", positiveInt)
    .option("--redeem-threshold <ton>", 'redeem earnings automatically once this much TON is unredeemed (default 10; "0": never)')
    .option("--metrics-port <n>", "GET /metrics and /status on 127.0.0.1 (default 9464; 0: any free port)", port)
    .option(
      "--registry <address>",
      "the PolicyRegistry contract: run jobs only while it lists this worker (issue 15; needs --ton-endpoint)",
    )
    .option("--ton-endpoint <url>", "toncenter JSON-RPC the registry is read through")
    .option("--ton-api-key <key>", "toncenter API key (default: COCOON_TON_API_KEY)")
    .option(
      "--pccs-url <url>",
      "tdx: the PCCS (or Intel PCS) the quote's collateral is fetched from (default https://api.trustedservices.intel.com)",
    )
    .option("--policy-max-age <s>", "refuse jobs while the newest registry reading is older than this (default 600)", positiveInt)
    .option(
      "--engine-health-every <ms>",
      "while no job runs, probe the engine's health check this often (default 30000; at least 1000)",
      positiveInt,
    )
    .option(
      "--engine-timeouts-before-down <n>",
      "this many job timeouts in a row, each confirmed by a one-token canary the engine left unanswered with nothing else running, take the worker off the candidate lists (default 3)",
      positiveInt,
    );
}

/** The flags the user gave, by config setting. */
function flagsOf(o: SettingFlags & { devAttestation?: boolean; notConfidential?: boolean; api?: string }): FlagValues {
  const tier = o.devAttestation ? "dev" : o.notConfidential ? "none" : o.tier;
  const f: FlagValues = {
    apiUrl: o.api,
    payoutAddress: o.payoutAddress,
    engine: o.engine,
    engineUrl: o.engineUrl,
    engineKey: o.engineKey,
    engineLogprobs: o.engineLogprobs,
    engineVision: o.engineVision,
    modelFile: o.modelFile,
    threads: o.threads,
    gpu: o.gpu,
    contextSize: o.contextSize,
    models: o.model,
    priceBps: o.priceBps,
    maxConcurrentJobs: o.capacity,
    tier,
    redeemThresholdTon: o.redeemThreshold,
    metricsPort: o.metricsPort,
    registryAddress: o.registry,
    tonEndpoint: o.tonEndpoint,
    tonApiKey: o.tonApiKey,
    policyMaxAgeSeconds: o.policyMaxAge,
    pccsUrl: o.pccsUrl,
    engineHealthEveryMs: o.engineHealthEvery,
    engineTimeoutsBeforeDown: o.engineTimeoutsBeforeDown,
  };
  return Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)) as FlagValues;
}

/** --gpu parser: the config's names ("cpu" for no GPU; "false" taken for cpu). */
function gpuSetting(v: string): string {
  if (v === "false") return "cpu";
  if (["auto", "cpu", "cuda", "vulkan", "metal"].includes(v)) return v;
  throw new InvalidArgumentError("must be auto, cpu, cuda, vulkan or metal.");
}

function port(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65_535) throw new InvalidArgumentError("must be a port number (0 to 65535).");
  return n;
}

/**
 * `create: false` (status, redeem: they only read): a missing key is an error that says to run
 * init, never made here: a new key is a new worker, with nothing earned, and would then be
 * taken for this machine's.
 */
function connect(o: ConnectionOptions, config?: AgentConfig, { create = true }: { create?: boolean } = {}) {
  const s = cliSettings({ api: o.api ?? config?.apiUrl, key: o.key, defaultKeyName: "worker.key" });
  // made: this call wrote the file (not merely found none first: another start may write it in between)
  const { key: signingKey, made } = create ? makeKeyIn(s.keyFile) : { key: existingKey(s.keyFile), made: false };
  return { apiUrl: s.apiUrl, keyFile: s.keyFile, made, signingKey, api: new ApiClient(s.apiUrl, signingKey) };
}

/** loadOrMakeKey, a state directory it cannot write reported as such (StateWriteError). */
function makeKeyIn(file: string) {
  try {
    return loadOrMakeKey(file);
  } catch (e) {
    throw stateWriteError(e, file);
  }
}

function existingKey(file: string) {
  try {
    return loadKey(file);
  } catch (e) {
    if (e instanceof SettingsError && e.code === "no_key")
      throw new SettingsError(
        // the state directory first: an owner in a shell without the service's COCOON_HOME who ran
        // init as told made a second worker, with nothing earned, beside the running one
        `there is no worker key at ${file}: if an agent runs on this machine, point COCOON_HOME at its state directory (the service's: /var/lib/cocoon-agent, as its user) or --key at its key file; ` +
          `otherwise run \`cocoon-agent init\` first (it makes the key: a new worker)${asideHint(file)}`,
        "no_key",
      );
    throw e;
  }
}

/**
 * init's payout line without an address. It named `redeem --payout-address` as the way to set one
 * later, but the first payout binds the worker to its address: a try-out's first redeem bound it
 * to the sandbox wallet, and every later --payout-address was refused (payout_address_mismatch).
 */
const NO_PAYOUT_ADDRESS =
  "(none set: on the local network this worker's sandbox wallet, which its first payout binds it to; set yours before that: init --force --payout-address <wallet>)";

const tonOrZero = (v: string) => formatTon(parseTon(v));

/**
 * Why a redeem threshold loses money, or undefined: one under what a Redeem costs makes every
 * automatic payout cost more than it pays (the local network's agent sends it; elsewhere the
 * voucher it logs loses money when sent). `cocoon-agent redeem` warned of it (redeem_below_fee),
 * the automatic payout never did, and init and start took such a threshold without a word.
 */
function thresholdBelowCost(threshold: string): string | undefined {
  const t = parseTon(threshold);
  if (t <= 0n || t >= redeemCost(false)) return undefined;
  return (
    `the redeem threshold ${formatTon(t)} is below what one Redeem costs (≈ ${formatTon(redeemCost(false))} in network fees; ` +
    `≈ ${formatTon(redeemCost(true))} for a first one to an address): each automatic payout would cost more than it pays; ` +
    "set --redeem-threshold to a few TON (vouchers are cumulative: waiting loses nothing), or 0 to redeem only by hand"
  );
}

export function buildProgram(io: Io, setCode: (code: number) => void): Command {
  const program = newProgram(
    "cocoon-agent",
    "run a Cocoon worker next to a GPU",
    io,
    () => agentVersionLine(),
    "print the version (the agent's bundle: with its SHA-256)",
  ).addHelpText("after", ATTESTATION_HELP);
  const print = (o: ConnectionOptions, v: unknown, text: string) => io.out.write((o.json ? JSON.stringify(v, null, 2) : text) + "\n");
  /** Runs a command body to its exit code; API, config and engine failures are reported with their code. */
  const run =
    <A extends unknown[]>(fn: (...args: A) => Promise<number | void>) =>
    async (...args: A) => {
      try {
        setCode((await fn(...args)) ?? 0);
      } catch (e) {
        // the options are the action's last argument but one (commander passes the Command last)
        const json = (args[args.length - 2] as ConnectionOptions | undefined)?.json;
        if (e instanceof ConfigError) {
          reportError(io, json, e);
          setCode(EX_CONFIG);
        } else if (e instanceof StateWriteError) {
          reportError(io, json, e);
          setCode(e.code === "state_unwritable" ? EX_CONFIG : 1);
        } else if (e instanceof ApiError || e instanceof SettingsError) {
          reportError(io, json, e);
          setCode(2);
        } else if (e instanceof EngineError) {
          // not its details: they are for the log, and may quote the engine's own answer
          reportError(io, json, { code: e.code, message: e.message });
          setCode(1);
        } else if (json) {
          reportError(io, json, { code: "internal_error", message: (e as Error).message });
          setCode(1);
        } else {
          io.err.write(`error: ${(e as Error).message}\n`);
          setCode(1);
        }
      }
    };

  settingFlags(
    program
      .command("init")
      .description("write the config file (checked), and make the worker's key here (inside the VM; never printed)")
      .option("--api <url>", "the coordinator's API")
      .option(
        "--key <file>",
        "where the worker's key is made, or kept if it exists (default $COCOON_HOME/worker.key, ./.cocoon/worker.key)",
      )
      .option("--force", "rewrite an existing config file: the settings given here change, the others are kept (each change is listed)"),
  ).action(run(async (o: SettingFlags & ConnectionOptions & { force?: boolean }) => init(o, io)));

  connection(
    settingFlags(
      program
        .command("start")
        .description("attest, register and serve jobs until SIGINT/SIGTERM (then drain: no new jobs, running ones finish)")
        .addOption(
          new Option(
            "--dev-attestation",
            "same as --tier dev: SIMULATED TDX evidence (local testing only; requesters must opt in)",
          ).conflicts("notConfidential"),
        )
        .addOption(
          new Option("--not-confidential", "same as --tier none: no TEE at all, chosen only by requesters who ask for it").conflicts(
            "devAttestation",
          ),
        )
        .option("--log-engine", "copy the llama.cpp child's stderr into the log (may echo request text; off by default)")
        .addHelpText("after", MODEL_FILE_HELP),
    ),
  ).action(run(async (o: StartOptions) => start(o, io)));

  connection(
    program
      .command("status")
      .description(
        "jobs and tokens today, earned / redeemed TON, uptime and the last error (the coordinator's and the running agent's view)",
      )
      .option("--config <file>", "the config file (for the metrics port)")
      .option("--metrics-port <n>", "where the running agent serves /status (default: the config's, 9464)", port),
    { makesKey: false },
  ).action(run(async (o: ConnectionOptions & { config?: string; metricsPort?: number }) => status(o, io)));

  connection(
    program
      .command("redeem")
      .description(
        "ask the coordinator for a voucher of everything earned; in the local default, send the Redeem from this worker's sandbox wallet and wait until the chain watcher records the payout",
      )
      .option(
        "--payout-address <address>",
        "the TON wallet to be paid (bound by the first voucher; default: the config's, else your sandbox wallet on the local network)",
      )
      .option("--config <file>", "the config file (for the API and the payout address)"),
    { makesKey: false },
  ).action(
    run(async (o: ConnectionOptions & { payoutAddress?: string; config?: string }) => {
      const { config } = resolveConfig({ file: configPath(o.config), flags: flagsOf({ model: [], ...o }) });
      const payoutAddress = o.payoutAddress ?? config.payoutAddress;
      const { api, signingKey } = connect(o, config, { create: false }); // before anything is read from the chain or the API
      const progress = progressOn(io.err, { quiet: o.json === true });
      let r;
      try {
        const registry = await registryOf(config);
        r = await redeemEarnings(api, {
          ...(payoutAddress ? { payoutAddress } : {}),
          onWait: (s) => progress.step(s),
          ...(registry ? { checkVoucher: voucherCheck(registry) } : {}),
        }).catch((e: unknown) => {
          throw unregistered(e, signingKey.id, api.baseUrl);
        });
      } finally {
        progress.done();
      }
      const message = r.sendYourself ? redeemMessage(r.voucher) : undefined;
      const text = message
        ? `voucher for ${formatTon(r.voucher.cumulative)} (cumulative) to ${r.voucher.worker}, valid until ${new Date(r.voucher.expiry * 1000).toISOString()}: NOT paid yet. ` +
          redeemInstructions(r.voucher, message)
        : r.txHash
          ? `redeemed on the local TON sandbox (not mainnet): paid ${formatTon(r.paid)} to ${r.voucher.worker}\n  tx ${r.txHash}\n  earned ${formatTon(r.status.earned)} · redeemed ${formatTon(r.status.redeemed)}`
          : `nothing new to redeem: voucher for ${formatTon(r.voucher.cumulative)} to ${r.voucher.worker}, already paid\n  earned ${formatTon(r.status.earned)} · redeemed ${formatTon(r.status.redeemed)}`;
      // What this Redeem pays (or paid), and whether it is the first to the payout address: below
      // what it costs, sending it loses money.
      // (the payout wallet read on chain where a TON endpoint is configured: a claim the vault
      // refused deployed it with nothing booked redeemed)
      const walletActive = r.sendYourself ? await payoutWalletOnChain(config, r.voucher) : undefined;
      const { due, first } = redeemDue(r, BigInt(r.status.redeemed), walletActive);
      const feeWarning = redeemFeeWarning(due, { sent: r.txHash !== undefined, ...(first !== undefined ? { first } : {}) });
      if (feeWarning) reportWarning(io, o.json, { code: feeWarning.code, message: feeWarning.message });
      print(o, { ...r, ...(message ? { message } : {}), ...(feeWarning ? { feeWarning } : {}) }, text);
    }),
  );
  return program;
}

/** `cocoon-agent init`: settings from env and flags, checked, written with every default spelled out; the key made here. */
async function init(o: SettingFlags & ConnectionOptions & { force?: boolean }, io: Io): Promise<number> {
  const file = configPath(o.config);
  if (existsSync(file) && !o.force) {
    io.err.write(`${file} exists already: edit it, or run init again with --force and the settings to change (the others are kept)\n`);
    return EX_CONFIG;
  }
  // --force keeps what the file being replaced set and this init does not (agent/config-rewrite.ts).
  // Passed as flags: no key this init gives (flag or COCOON_*) is among them, so they stay below both.
  // (commander gives --model as [] when not given: not a setting, or it would hide the kept one)
  const flags = Object.fromEntries(Object.entries(flagsOf({ ...o })).filter(([, v]) => !(Array.isArray(v) && !v.length))) as FlagValues;
  const old = existsSync(file) ? oldSettings(file) : undefined;
  const keep = old?.settings ? keptSettings(old.settings, givenSettings(flags, process.env)) : { kept: {}, dropped: [] };
  const { config } = resolveConfig({ file, readFile: false, flags: { ...(keep.kept as FlagValues), ...flags } });
  const apiUrl = config.apiUrl ?? cliSettings({ defaultKeyName: "worker.key" }).apiUrl;
  const written: AgentConfigInput = { apiUrl, ...config };
  writeConfig(file, written);
  const changes = old?.settings ? settingChanges(old.settings, written as Record<string, unknown>) : [];
  // (one the new file holds anyway, a default such as engineVision "auto", is no news)
  const lost = keep.dropped.filter((k) => JSON.stringify(old?.settings?.[k]) !== JSON.stringify(written[k]));
  const kept = existsSync(cliSettings({ api: apiUrl, key: o.key, defaultKeyName: "worker.key" }).keyFile);
  const { signingKey, keyFile } = connect({ ...o, api: apiUrl });
  const confidential = config.tier === "tdx";
  const modelProblem =
    config.engine === "llama" ? (modelFileProblem(config.modelFile!) ?? (await modelFileDamage(config.modelFile!))) : undefined;
  const noTdx = confidential && !existsSync(CONFIGFS_TSM_ROOT);
  const belowCost = thresholdBelowCost(config.redeemThresholdTon);
  // A second agent on the machine (one per GPU) inited with the default port: its start found the
  // port taken and served no metrics, and only its log said so. Said here, before the start.
  const portHolder = config.metricsPort ? (await localStatus(`http://127.0.0.1:${config.metricsPort}`))?.workerId : undefined;
  const withConfig = o.config ? ` --config ${o.config}` : "";
  io.out.write(
    [
      `wrote ${file}`,
      ...(old?.settings
        ? [
            changes.length ? `  changed: ${changes.join("; ")}` : "  no setting changed",
            ...(lost.length
              ? [`  not kept, as they belonged to the engine replaced: ${lost.join(", ")} (give them again if they still apply)`]
              : []),
          ]
        : old
          ? [`  the old file could not be read (${old.unreadable}): written from this init's settings and the defaults only`]
          : []),
      `  API ${apiUrl}`,
      `  engine ${config.engine}${config.engine === "openai" ? ` at ${config.engineUrl}` : config.engine === "llama" ? ` serving ${config.modelFile}` : " (deterministic, not a model)"}; models ${config.models.length ? config.models.join(", ") : "(what the engine lists)"}`,
      `  price ${config.priceBps} bps · up to ${config.maxConcurrentJobs} job(s) at once · tier ${tierLabel(config.tier)}`,
      `  payouts to ${config.payoutAddress ?? NO_PAYOUT_ADDRESS}; redeemed automatically at ${tonOrZero(config.redeemThresholdTon)}`,
      `  metrics on http://127.0.0.1:${config.metricsPort}/metrics`,
      kept
        ? `worker key ${keyFile} (kept: the same worker and earnings as before; its secret is never printed): worker id ${signingKey.id}`
        : `worker key ${keyFile} (made here, mode 0600; its secret is never printed): worker id ${signingKey.id}`,
      ...(confidential
        ? []
        : [`WARNING: tier ${config.tier} is NOT confidential: you can read every prompt this machine serves, and requesters see that`]),
      // start refuses a 404 under such a URL (engineModels); said here, before the first start
      ...(config.engine === "openai" && !/\/v\d+\/?$/.test(config.engineUrl)
        ? [
            `WARNING: the engine URL ${config.engineUrl} has no /v1 segment: OpenAI-compatible servers (vLLM, llama-server, Ollama) serve their API under /v1, and start refuses (exit 78) a URL the engine answers 404 under: most likely you mean init --force --engine-url ${config.engineUrl.replace(/\/+$/, "")}/v1`,
          ]
        : []),
      ...(belowCost ? [`WARNING: ${belowCost}`] : []),
      ...(portHolder && portHolder !== signingKey.id
        ? [
            `WARNING: metrics port ${config.metricsPort} is held by another agent on this machine (worker ${portHolder}): this one's start would serve no metrics, and status would read the other's; give it its own: init --force --metrics-port <port>${withConfig}`,
          ]
        : []),
      // start refuses such a file (modelFileReadable), after init has said "next: cocoon-agent start"
      ...(modelProblem
        ? [
            `WARNING: the model file ${config.modelFile} cannot be served: ${modelProblem}; start refuses it (exit 78): check the path (and that the user the agent runs as may read it), then init --force --model-file <path.gguf>`,
          ]
        : []),
      // Said here rather than first at start: tdx is the default, and most first machines have no TDX.
      ...(noTdx
        ? [
            `WARNING: no TDX quote interface at ${CONFIGFS_TSM_ROOT} on this machine: start will refuse tier tdx here; run it inside a TDX confidential VM, or choose --tier none (NOT confidential) with init --force`,
          ]
        : []),
      // start would refuse tier tdx here (no_tee, exit 78): the next step that works is the home tier, written by init
      // (--force keeps this init's other settings)
      // a model file start refuses: "next: start" sent the owner to that refusal (exit 78)
      modelProblem
        ? `next: cocoon-agent init --force --model-file <path.gguf>${withConfig} naming a GGUF file this user can read, then cocoon-agent start${withConfig}`
        : noTdx
          ? `next: cocoon-agent init --force --tier none${withConfig}, then cocoon-agent start${withConfig}; or run start inside a TDX confidential VM`
          : `next: cocoon-agent start${withConfig}`,
    ].join("\n") + "\n",
  );
  return 0;
}

/**
 * The settings of the config file init --force replaces, as the file holds them (checked as start
 * would read them, without the environment); a file that is no valid config is named, and not kept.
 */
function oldSettings(file: string): { settings?: Record<string, unknown>; unreadable?: string } {
  try {
    resolveConfig({ file, env: {} });
    return { settings: JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown> };
  } catch (e) {
    return { unreadable: (e as Error).message.replace(/\s*\n\s*/g, " ") };
  }
}

/** ton/payout-wallet.ts toncenterPayoutWalletActive through the config's TON endpoint (loaded only here, as registryOf's reader). */
async function payoutWalletOnChain(config: AgentConfig, v: Voucher): Promise<boolean | undefined> {
  const { toncenterPayoutWalletActive } = await import("../ton/payout-wallet");
  return toncenterPayoutWalletActive({ endpoint: config.tonEndpoint, apiKey: config.tonApiKey }, v);
}

/** issue 15: the policy registry the settings name, read by the agent itself through toncenter (not the coordinator's word). */
async function registryOf(config: AgentConfig) {
  if (!config.registryAddress) return undefined;
  // ton/, not client/policy-source.ts: the agent's bundle carries no requester code (scripts/build-agent.ts)
  const { toncenterPolicySource } = await import("../ton/registry");
  const source = await toncenterPolicySource({
    address: config.registryAddress,
    endpoint: config.tonEndpoint!,
    ...(config.tonApiKey ? { apiKey: config.tonApiKey } : {}),
  });
  return new PolicyCache(source, {
    maxAgeSeconds: config.policyMaxAgeSeconds,
    refreshSeconds: Math.min(60, Math.max(1, Math.floor(config.policyMaxAgeSeconds / 4))),
    now: Date.now,
  });
}

/** `cocoon-agent start`: settings, the engine, metrics, then attestation and registration, then jobs until a signal. */
/**
 * The engine a config names, other than a model file (start() loads that itself): an
 * OpenAI-compatible server, which returns log probabilities only where its owner says so
 * (engineLogprobs: the server cannot be asked), or the built-in deterministic engine.
 */
export function configuredEngine(
  config: Pick<AgentConfig, "engine" | "engineUrl" | "engineKey" | "engineLogprobs"> & Partial<Pick<AgentConfig, "engineVision">>,
): Engine {
  const vision = config.engineVision ?? "auto";
  return config.engine === "openai"
    ? createOpenAiEngine({
        baseUrl: config.engineUrl,
        ...(config.engineKey ? { apiKey: config.engineKey } : {}),
        capabilities: {
          ...(config.engineLogprobs === "on" ? { logprobs: true } : {}),
          ...(vision !== "auto" ? { vision: vision === "on" } : {}),
        },
        visionFromProps: vision === "auto",
        // llama-server keeps one prompt cache for all; its slots are kept apart per requester (docs/security.md)
        slotsFromProps: true,
      })
    : createBuiltinEngine();
}

/** What a server at the engine URL says it is, read once at start (engineKindAt). */
export type EngineKind =
  /** llama-server: GET /props says its slot count (its --parallel); the adapter pins each job to one (openai-http.ts) */
  | { kind: "llama-server"; totalSlots: number }
  /** Ollama (GET /api/version) and TGI (GET /info): one prompt cache for all requests, no per-request control */
  | { kind: "ollama" }
  | { kind: "tgi" }
  /** vLLM, SGLang, anything else, or a server that did not answer in time: nothing said */
  | { kind: "other" };

/** Ollama's GET /api/version. */
const OllamaVersion = z.object({ version: z.string().min(1).max(100) }).loose();
/** TGI's GET /info: its model and its router's name. */
const TgiInfo = z.object({ model_id: z.string().min(1), router: z.string().min(1) }).loose();

/**
 * Which of the servers whose prompt cache matters to requesters is at `engineUrl`: GET /props
 * (llama-server), then GET /api/version (Ollama) and GET /info (TGI), beside /v1 as the adapter
 * reads /props and /health. Only the engine's own URL is asked (a redirect is not followed), each
 * read is bounded by `timeoutMs`, and any failure reads as "other": this only adds a cap or a
 * warning to a start that goes on whatever it finds.
 */
export async function engineKindAt(
  engineUrl: string,
  o: { apiKey?: string; timeoutMs?: number; signal?: AbortSignal; fetchImpl?: typeof fetch } = {},
): Promise<EngineKind> {
  const origin = engineUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
  const fetchImpl = o.fetchImpl ?? fetch;
  const read = async <T>(path: string, shape: z.ZodType<T>): Promise<T | undefined> => {
    const signals = [AbortSignal.timeout(o.timeoutMs ?? 3_000), ...(o.signal ? [o.signal] : [])];
    try {
      const res = await fetchImpl(`${origin}${path}`, {
        method: "GET",
        headers: { accept: "application/json", ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) },
        redirect: "manual",
        signal: AbortSignal.any(signals),
      });
      if (res.status !== 200) {
        await res.body?.cancel();
        return undefined;
      }
      const got = shape.safeParse(JSON.parse(await res.text()));
      return got.success ? got.data : undefined;
    } catch {
      return undefined;
    }
  };
  const props = await read("/props", SlotProps);
  if (props) return { kind: "llama-server", totalSlots: props.total_slots };
  const [ollama, tgi] = await Promise.all([read("/api/version", OllamaVersion), read("/info", TgiInfo)]);
  if (tgi) return { kind: "tgi" };
  if (ollama) return { kind: "ollama" };
  return { kind: "other" };
}

/**
 * What start does with what the engine said (engineKindAt), given the owner's job capacity.
 * llama-server runs one job a slot (the adapter pins each job to a slot of its own): a capacity
 * above its slot count would queue the extra jobs in the adapter while the network could have
 * sent them to a free worker, so the capacity offered at registration is capped at total_slots
 * (the coordinator reads it only then) and the owner is told which setting to change. Ollama
 * and TGI share one prompt cache among all requesters: a warning says how to keep them apart.
 * The lines name settings and counts only: the host reads the agent's log.
 */
export function engineStartNotes(
  kind: EngineKind,
  capacity: number,
): { engineCapacity?: number; warnings: Array<{ msg: string; data: Record<string, unknown> }> } {
  const capacitySetting = `maxConcurrentJobs (${SETTINGS.maxConcurrentJobs.flag}, ${SETTINGS.maxConcurrentJobs.env} or agent.json)`;
  const shared =
    "keeps one prompt cache for all requesters and takes no per-request control of it: a requester who lands on this worker " +
    "can time whether a guessed start of another requester's prompt is cached. Run this server for one requester only, ";
  switch (kind.kind) {
    case "llama-server": {
      const slots = kind.totalSlots;
      if (capacity <= slots) return { engineCapacity: slots, warnings: [] };
      return {
        engineCapacity: slots,
        warnings: [
          {
            msg:
              `capacity ${capacity} is above llama-server's ${slots} slot(s) (total_slots in its GET /props, its --parallel): ` +
              `each job takes a slot of its own, so this worker offers ${slots} job(s) at once; to run ${capacity}, ` +
              `restart llama-server with --parallel ${capacity}, or set ${capacitySetting} to ${slots} to silence this`,
            data: { capacity, totalSlots: slots, offered: slots },
          },
        ],
      };
    }
    case "ollama":
      return {
        warnings: [
          {
            msg:
              `the engine is Ollama, which ${shared}or serve with llama-server or vLLM, whose caches the agent keeps apart ` +
              `per requester (Ollama has no switch to turn its prompt cache off that we know of)`,
            data: { engine: "ollama" },
          },
        ],
      };
    case "tgi":
      return {
        warnings: [
          {
            msg:
              `the engine is TGI (text-generation-inference), which ${shared}or turn its prefix cache off ` +
              `(PREFIX_CACHING=0 in its environment: recalled, check your version), or serve with llama-server or vLLM, ` +
              `whose caches the agent keeps apart per requester`,
            data: { engine: "tgi" },
          },
        ],
      };
    default:
      return { warnings: [] };
  }
}

/**
 * What a tdx agent's settings could give its host that the attestation does not show (session 23
 * privacy review): an engine off this machine receives every prompt in the clear (another
 * container inside the same confidential VM is fine; a server on the host is not), and
 * --log-engine copies the llama.cpp child's lines, which can quote request text, into the log.
 * Both are the operator's to choose unless the image measures its settings (docs/attestation.md),
 * so they are said at start, not refused.
 */
export function tdxPrivacyWarnings(
  tier: AttestationTier,
  config: Pick<AgentConfig, "engine" | "engineUrl">,
  logEngine: boolean,
  coreLimit?: string,
  nodeFlags: readonly string[] = [],
  swaps?: string,
): string[] {
  if (tier !== "tdx") return [];
  const out: string[] = [];
  // Session 31: flags (on the command line or in NODE_OPTIONS, which the host may set where the
  // image lets it) that open the agent's memory: an inspector reads and changes everything in it,
  // heap snapshots write it to disk (near the heap limit: on the way to a crash, unasked).
  const opening = nodeFlags.filter((f) => /^--(inspect|debug|heapsnapshot-signal|heapsnapshot-near-heap-limit)(?:[-=]|$)/.test(f));
  if (opening.length)
    out.push(
      `node runs with ${opening.join(" ")}: an inspector reads the agent's memory (every prompt, answer and key) and heap snapshots write it to disk; start node without them`,
    );
  // Session 31 privacy review: a requester can make llama.cpp abort (some malformed inputs do),
  // and a core dump of the engine child holds every running job's prompt and answer (of several
  // requesters when `parallel` > 1); of the agent, its keys too. Written to this VM's disk or
  // shipped off by a crash handler, that is plaintext outside memory, which the host may read.
  if (coreLimit !== undefined && coreLimit !== "0")
    out.push(
      `core dumps are on (soft limit ${coreLimit}): a crash of the agent or its engine would write their memory, running jobs' prompts and answers included, to disk; ` +
        "set LimitCORE=0 (deploy/cocoon-agent.service does) or run the container with --ulimit core=0",
    );
  // Session 42 privacy review: TDX encrypts the VM's memory, not what it writes to a disk. Pages
  // swapped out to a disk the host provides are the agent's and its engine's memory in the clear:
  // running jobs' prompts and answers, and the HPKE private key that opens every sealed request the
  // operator's queues still hold. Compressed RAM (zram) stays in memory.
  const onDisk = swapDevicesOnDisk(swaps);
  if (onDisk.length)
    out.push(
      `swap is on (${onDisk.join(", ")}): memory paged out to disk holds prompts, answers and the agent's private key in the clear; ` +
        "run without swap (deploy/cocoon-agent.service sets MemorySwapMax=0), or only zram or swap encrypted with a key made inside this VM",
    );
  if (config.engine === "openai") {
    if (!isLoopbackUrl(config.engineUrl))
      out.push(
        `the engine at ${config.engineUrl} is not on this machine's loopback: prompts reach it in the clear; it must run inside this confidential VM`,
      );
  }
  if (logEngine)
    out.push("--log-engine copies the engine's own lines into the log: they can quote request text; whoever reads the log reads them");
  return out;
}

/** The swap devices in /proc/swaps text that are not compressed RAM (zram): none for undefined or no swap. */
export function swapDevicesOnDisk(swaps: string | undefined): string[] {
  if (!swaps) return [];
  return swaps
    .split("\n")
    .slice(1) // the header line: Filename Type Size Used Priority
    .map((line) => line.trim().split(/\s+/)[0])
    .filter((device): device is string => !!device && !device.startsWith("/dev/zram"));
}

/** This machine's /proc/swaps; undefined where /proc cannot tell. */
function ownSwaps(): string | undefined {
  try {
    return readFileSync("/proc/swaps", "utf8");
  } catch {
    return undefined;
  }
}

/** The soft core-file size limit in /proc/<pid>/limits text ("0", a byte count or "unlimited"); undefined without that line. */
export function coreLimitOf(limits: string): string | undefined {
  return /^Max core file size\s+(\S+)/m.exec(limits)?.[1];
}

/** This process's soft core-file limit (its engine child inherits it); undefined where /proc cannot tell. */
function ownCoreLimit(): string | undefined {
  try {
    return coreLimitOf(readFileSync("/proc/self/limits", "utf8"));
  } catch {
    return undefined;
  }
}

/**
 * The coordinator's refusals of a registration that only the settings mend: no_such_route (an
 * API URL with a path the API does not have), bad_signature (a URL that is not the API's own
 * host, which requests are signed for).
 */
const REGISTRATION_REFUSALS = new Set(["no_such_route", "bad_signature"]);

/**
 * A registration answered 4xx with no Cocoon error in it (api-client/api.ts: bad_response, a page
 * that is not JSON; http_error, JSON of no Cocoon shape): the API URL names another server (an
 * engine's port, a web server's 404 page). It ended start with exit 2, which the unit restarted
 * every 15 s until its start limit, the README calling a wrong API URL a configuration error
 * (walking the README, owner40). 408 and 429 are a proxy's passing refusals: restarted.
 */
function notTheApi(e: ApiError): boolean {
  return (
    (e.code === "bad_response" || e.code === "http_error") && e.status >= 400 && e.status < 500 && e.status !== 408 && e.status !== 429
  );
}

/**
 * Whether start failed on what no restart mends, though it comes as an API or engine error:
 * EX_CONFIG, which the unit does not restart (it used to restart exit 2 and 1 every 15 s until its
 * start limit). The embedded engine unavailable before it ever loaded: node-llama-cpp not
 * installed beside the bundle, or no llama.cpp binary for this machine.
 */
function refusedBySetup(e: unknown, config: AgentConfig, at: { ready: boolean; registered: boolean }): e is ApiError | EngineError {
  if (e instanceof ApiError) return REGISTRATION_REFUSALS.has(e.code) || (!at.registered && notTheApi(e));
  return e instanceof EngineError && e.code === "engine_unavailable" && config.engine === "llama" && !at.ready;
}

/**
 * A registration refusal (REGISTRATION_REFUSALS) as the operator reads it: the coordinator's
 * words name a route or a host, not the setting to change ("no route POST /cocoon/v1/agents/nonce"
 * after a typo in --api), so the setting and the URL the agent used are named after them.
 */
function registrationRefusal(e: Pick<ApiError, "message">, apiUrl: string): string {
  return (
    `${e.message}; check apiUrl (${SETTINGS.apiUrl.flag}, ${SETTINGS.apiUrl.env} or agent.json): ${apiUrl} must be the coordinator's own root URL, ` +
    "as npm start prints it or as the deploy's ApiUrl output names it (without /v1, and not through a proxy that changes the host)"
  );
}

/** What loadKey / loadOrCreateKey refuse a key file for (api-client/keys.ts): an operator's fix, never a retry's. */
const KEY_FILE_REFUSALS = new Set(["key_file_too_open", "key_file_unreadable", "key_file_malformed"]);

async function start(o: StartOptions, io: Io): Promise<number> {
  const { config, file, fromFile } = resolveConfig({ file: configPath(o.config), flags: flagsOf(o) });
  // What this machine and these settings refuse is refused before anything is written: a start
  // that cannot run must not leave a worker key (a new worker, with its own id) or a state
  // directory behind, which a later start with the right settings would take for this worker's.
  const tier: AttestationTier = config.tier;
  let quoteProvider: ReturnType<typeof detectQuoteProvider> | undefined;
  try {
    quoteProvider = tier === "tdx" ? detectQuoteProvider({ dev: false }) : undefined;
  } catch (e) {
    // No TDX here: the tier setting does not fit this machine, and no restart changes that.
    // EX_CONFIG (not restarted by the unit), with its code, rather than exit 1 (internal_error under --json).
    if (e instanceof QuoteProviderError && e.code === "no_tee") {
      reportError(io, o.json, e);
      return EX_CONFIG;
    }
    throw e;
  }
  // A file that is not there (a typo, an unmounted disk) is the setting's fault, and no
  // restart mends it: EX_CONFIG naming the setting, rather than exit 1 (model_invalid),
  // which the unit restarted every 15 s until its start limit.
  if (config.engine === "llama") await modelFileReadable(config.modelFile!);
  // The builtin engine's list is known without asking anything: a model it does not serve is
  // refused here too, before the key is made (it used to be refused after, leaving a new worker's key).
  if (config.engine === "builtin" && config.models.length) builtinModels(config.models, await createBuiltinEngine().models());
  let connected: ReturnType<typeof connect>;
  try {
    connected = connect(o, config);
  } catch (e) {
    // A key file refused as it is (others may read it, this user cannot, it holds no key) stays
    // refused on every restart: EX_CONFIG, which systemd does not restart (RestartPreventExitStatus=78
    // in deploy/cocoon-agent.service), rather than 2, retried every 15 s until its start limit.
    if (e instanceof SettingsError && KEY_FILE_REFUSALS.has(e.code)) {
      reportError(io, o.json, e);
      return EX_CONFIG;
    }
    throw e;
  }
  const { signingKey } = connected;
  const log = jsonLog({ write: (s) => void io.out.write(s) });
  if (fromFile) log.info("config", { file });
  else log.warn("no config file: defaults, COCOON_* variables and flags only (cocoon-agent init writes one)", { file });
  // Before anything serves or registers: a second start with this key would take the worker's
  // jobs from the running one (agent/instance-lock.ts). No restart mends it: EX_CONFIG.
  let lock: InstanceLock;
  try {
    lock = await lockWorker(signingKey);
  } catch (e) {
    if (!(e instanceof AlreadyRunningError)) throw e;
    reportError(io, o.json, e);
    return EX_CONFIG;
  }
  if (!lock.held && lock.reason)
    log.warn("a second start with this worker key would not be noticed", { reason: lock.reason, workerId: signingKey.id });
  try {
    return await startLocked(o, io, { config, tier, quoteProvider, connected, log });
  } finally {
    if (lock.held) await lock.release();
  }
}

/** start() once this process holds the worker's key alone: metrics, then the engine and the agent. */
async function startLocked(
  o: StartOptions,
  io: Io,
  x: {
    config: AgentConfig;
    tier: AttestationTier;
    quoteProvider: ReturnType<typeof detectQuoteProvider> | undefined;
    connected: ReturnType<typeof connect>;
    log: ReturnType<typeof jsonLog>;
  },
): Promise<number> {
  const { config, tier, quoteProvider, connected, log } = x;
  const { apiUrl, signingKey } = connected;
  // A start that makes the key is a new worker with nothing earned: said, so that a wrong
  // COCOON_HOME or --key (a service started with another state directory) is seen at once.
  if (connected.made)
    log.warn(
      `made a new worker key: this is a new worker, with nothing earned; if this machine had a worker, point --key or COCOON_HOME at its key${asideHint(connected.keyFile)}`,
      {
        keyFile: connected.keyFile,
        workerId: connected.signingKey.id,
      },
    );
  // Served before the engine is waited for (vLLM loads for minutes): `status` then shows this
  // worker "starting" instead of "not running here".
  const metrics = createAgentMetrics();
  metrics.redeemThreshold(parseTon(config.redeemThresholdTon));
  metrics.setIdentity(signingKey.id, tier);
  let served: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  try {
    served = await serveMetrics(metrics, config.metricsPort);
  } catch (e) {
    // `status` reads this port: another agent on it (one per GPU) would be read instead of this one.
    log.warn("metrics not served", {
      port: config.metricsPort,
      error: (e as Error).message,
      hint: "give each agent on this machine its own metricsPort (--metrics-port, COCOON_METRICS_PORT; 0: any free port), and run status with the same one",
    });
  }
  // The key is made before the engine is waited for (so that `status` shows a first start as
  // "starting" while vLLM loads), but a start its engine refuses (a URL without /v1, no model
  // listed, a model file that does not load) must not leave a new worker's key behind, which a
  // later start would take for this machine's, without its "new worker" warning. One this start
  // made is set aside, never deleted: another start sharing the file may have read it and
  // registered a worker with it meanwhile, and the file is the only way to redeem that worker's
  // earnings.
  const engine = { ready: false, registered: false };
  try {
    // tdx: Intel's collateral for the quote, cached beside the key (the state directory)
    const collateral =
      tier === "tdx"
        ? collateralSource({ stateDir: dirname(connected.keyFile), ...(config.pccsUrl ? { pccsUrl: config.pccsUrl } : {}), log })
        : undefined;
    return await serving(o, io, { config, apiUrl, signingKey, tier, quoteProvider, collateral, log, metrics, served, engine });
  } catch (e) {
    if (connected.made && !engine.ready && holdsKey(connected.keyFile, connected.signingKey.id)) {
      try {
        const movedTo = setAside(connected.keyFile);
        log.warn(
          `set the worker key this start made aside, to ${movedTo}: the start was refused before it registered. If another start of this worker was running with it, move it back to ${connected.keyFile}; otherwise it holds nothing and may be deleted`,
          { keyFile: connected.keyFile, movedTo, workerId: connected.signingKey.id },
        );
      } catch (moveError) {
        // the refusal is what start reports: a key that could not be moved stays where it is
        log.warn("could not set the worker key this start made aside: it stays in place", {
          keyFile: connected.keyFile,
          error: (moveError as Error).message,
        });
      }
    }
    if (refusedBySetup(e, config, engine)) {
      reportError(
        io,
        o.json,
        // (a page that is not the API's names the URL to check already)
        e instanceof EngineError || !REGISTRATION_REFUSALS.has(e.code)
          ? { code: e.code, message: e.message }
          : { code: e.code, message: registrationRefusal(e, apiUrl) },
      );
      return EX_CONFIG;
    }
    throw e;
  } finally {
    await served?.close();
  }
}

/**
 * Moves a key file aside, next to it (`<file>.unused-<UTC time>`), keeping its mode (0600): a
 * rename, so that nothing, not even a key read by another start meanwhile, is ever lost.
 * Returns where it went.
 */
function setAside(file: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  let aside = `${file}.unused-${stamp}`;
  // a rename overwrites: a name taken (two set aside in one millisecond) gets the pid too
  if (existsSync(aside)) aside += `-${process.pid}`;
  renameSync(file, aside);
  return aside;
}

/** Keys a refused start set aside next to `file`, as a hint for a message about a missing or new key ("" when none). */
function asideHint(file: string): string {
  let names: string[];
  try {
    names = readdirSync(dirname(file)).filter((n) => n.startsWith(`${basename(file)}.unused-`));
  } catch {
    return "";
  }
  if (!names.length) return "";
  const shown = names
    .sort()
    .map((n) => join(dirname(file), n))
    .join(", ");
  return ` (a refused start set a key it had made aside: ${shown}; if a worker ran with one of them, move it back to ${file})`;
}

/**
 * Whether `file` still holds the key `id`: the engine's wait lasts minutes, in which the file may
 * have been replaced (this machine's old worker key put back after start said it made a new one),
 * and that key, with its earnings, must not go with the one this start made. Unreadable: no.
 */
function holdsKey(file: string, id: string): boolean {
  try {
    return loadKey(file).id === id;
  } catch {
    return false;
  }
}

/** `start` once its metrics are served: the engine loaded or waited for, then the agent until it stops. */
async function serving(
  o: StartOptions,
  io: Io,
  x: {
    config: ReturnType<typeof resolveConfig>["config"];
    apiUrl: string;
    signingKey: ReturnType<typeof connect>["signingKey"];
    tier: AttestationTier;
    quoteProvider: ReturnType<typeof detectQuoteProvider> | undefined;
    collateral: CollateralSource | undefined;
    log: ReturnType<typeof jsonLog>;
    metrics: ReturnType<typeof createAgentMetrics>;
    served: Awaited<ReturnType<typeof serveMetrics>> | undefined;
    /** set once the engine answered with the models to offer: a failure before it is the engine's refusal */
    engine: { ready: boolean; registered?: boolean };
  },
): Promise<number> {
  const { config, apiUrl, signingKey, tier, quoteProvider, collateral, log, metrics, served } = x;
  // Signals are listened for from here on, not only once the agent is up: a SIGTERM while the
  // engine loaded or registration retried ended the process with 143 (killed by the signal)
  // rather than the clean stop `systemctl stop` asks for. Until registration, one aborts this.
  const stop = stopOnSignals(process, log);
  const { signal } = stop;
  const stopped = () => new AgentStoppedError();
  let engine: Engine | undefined;
  try {
    let modelDigests: Record<string, string> | undefined;
    let engineCapacity: number | undefined;
    if (config.engine === "llama") {
      // (its file was found readable in start, before the key was made)
      const gpu: GpuSetting = config.gpu === "cpu" ? false : (config.gpu as GpuSetting);
      const llama = createLlamaEngine({
        modelFile: config.modelFile!,
        ...(config.models[0] ? { modelName: config.models[0] } : {}),
        ...(config.threads ? { threads: config.threads } : {}),
        gpu,
        ...(config.contextSize ? { contextSize: config.contextSize } : {}),
        parallel: config.maxConcurrentJobs,
        // llama.cpp's own lines can quote the request: off the log unless asked for.
        ...(o.logEngine ? { onLog: (line: string) => log.info("llama.cpp", { line }) } : {}),
      });
      engine = llama; // closed in the finally below, a load in progress included (its child is killed)
      engineCapacity = config.maxConcurrentJobs;
      // Load before registering: a bad file fails here, not on the first paid job. Said before it
      // starts: a large model loads for minutes, in which the log said nothing after "config".
      log.info("loading model", { file: config.modelFile, gpu: config.gpu });
      const info = await unlessAborted(llama.load(), signal, stopped);
      modelDigests = { [llama.modelName]: info.digest };
      log.info("model loaded", {
        model: llama.modelName,
        file: info.file,
        sha256: info.digest,
        architecture: info.architecture,
        contextSize: info.contextSize,
        device: info.gpu === false ? `CPU, ${info.threads} threads` : `GPU ${info.gpu}`,
        template: info.chatWrapper,
        loadMs: info.loadMs,
        ...(info.randomWeights ? { warning: "this model has RANDOM weights: its text means nothing" } : {}),
      });
    } else {
      engine = configuredEngine(config);
    }
    const models =
      config.engine === "llama"
        ? await engine.models()
        : config.engine === "openai"
          ? await engineModels(engine, config.models, log, { signal, onWait: (e) => metrics.error("engine", e.code, e.message) })
          : config.models.length
            ? builtinModels(config.models, await engine.models())
            : await engine.models();
    x.engine.ready = true;
    if (config.engine === "openai") {
      // Read once the engine answers: the capacity offered goes to the coordinator with the registration, never after.
      const kind = await engineKindAt(config.engineUrl, { ...(config.engineKey ? { apiKey: config.engineKey } : {}), signal });
      const notes = engineStartNotes(kind, config.maxConcurrentJobs);
      if (notes.engineCapacity) engineCapacity = notes.engineCapacity;
      for (const w of notes.warnings) log.warn(w.msg, w.data);
    }
    const kemKey = generateKemKey(); // made here, never written anywhere: it lives and dies with this VM
    if (tier !== "tdx") io.err.write(`WARNING: tier ${tierLabel(tier)}: requesters who choose it accept that you can read their prompts\n`);
    const nodeFlags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/).filter(Boolean)];
    for (const w of tdxPrivacyWarnings(
      tier,
      config,
      o.logEngine === true,
      tier === "tdx" ? ownCoreLimit() : undefined,
      nodeFlags,
      tier === "tdx" ? ownSwaps() : undefined,
    ))
      log.warn(w);
    // Off the local network (dev) there is no sandbox wallet to pay: each payout check would fail
    // with payout_address_required, and only once the threshold was reached. Say it now.
    if (!config.payoutAddress && tier !== "dev" && parseTon(config.redeemThresholdTon) > 0n)
      log.warn(
        "no payoutAddress set: earnings accrue but cannot be paid out; set it with cocoon-agent init --force --payout-address <your TON wallet>",
        {
          redeemThresholdTon: config.redeemThresholdTon,
        },
      );
    const belowCost = thresholdBelowCost(config.redeemThresholdTon);
    if (belowCost) log.warn(belowCost, { redeemThresholdTon: config.redeemThresholdTon });
    const registry = await unlessAborted(registryOf(config), signal, stopped);
    const image = ownImageDigest(tier);
    const pollWait = Number(process.env.COCOON_POLL_WAIT_SECONDS ?? "20");
    const agent = await startAgent({
      apiUrl,
      signingKey,
      kemKey,
      engine,
      models: models.map((model) => ({ model, priceBps: config.priceBps })),
      capacity: config.maxConcurrentJobs,
      ...(engineCapacity ? { engineCapacity } : {}),
      attest: makeAttester({
        tier,
        signingKey,
        kemKey,
        ...(quoteProvider ? { quoteProvider } : {}),
        ...(collateral ? { collateral } : {}),
        ...(modelDigests ? { modelDigests } : {}),
      }),
      // told the coordinator's collateral age bound before each registration's evidence
      ...(collateral ? { collateral } : {}),
      log,
      metrics,
      registerRetryMs: Infinity,
      pollWaitSeconds: Number.isFinite(pollWait) && pollWait >= 0 ? Math.min(20, pollWait) : 20,
      redeem: { threshold: parseTon(config.redeemThresholdTon), ...(config.payoutAddress ? { payoutAddress: config.payoutAddress } : {}) },
      ...(registry ? { policy: { registry, ...(image ? { image } : {}), ...(modelDigests ? { modelDigests } : {}) } } : {}),
      engineHealth: { everyMs: config.engineHealthEveryMs, timeoutsBeforeDown: config.engineTimeoutsBeforeDown },
      signal,
    });
    x.engine.registered = true;
    log.info("serving", {
      workerId: agent.workerId,
      models,
      engine: engine.name,
      tier: agent.tier,
      confidential: agent.tier === "tdx",
      tierLabel: tierLabel(agent.tier as AttestationTier),
      ...(served ? { metrics: `${served.url}/metrics` } : {}),
    });
    // (a signal that came once registered, while the job source was being set up, drains at once)
    await stop.drain(agent);
    return 0;
  } catch (e) {
    if (!(e instanceof AgentStoppedError)) throw e;
    log.info("stopped before registering: nothing to drain", { signal: stop.received() });
    return 0; // what a drain exits with: the stop the owner asked for
  } finally {
    // listened for until the engine is closed too: a signal then is noted, not a 143
    try {
      await engine?.close?.();
    } finally {
      stop.dispose();
    }
  }
}

/**
 * SIGINT and SIGTERM for the whole of `start`, from before the engine is loaded until it is
 * closed. Until `drain(agent)` (a model loading, an engine or an API waited for, registration
 * retrying) the first signal aborts `signal`, which every wait of the start takes. `drain(agent)`
 * waits for the first signal, or takes the one that came while starting, and drains (no new jobs,
 * the running ones finish); a signal while draining stops at once: the agent is stopped without
 * waiting for its running jobs (their leases fail them over to other workers) and the drain
 * resolves, so the process can exit. Any other signal is only noted: the stop is under way and
 * each of its steps is bounded. `dispose()` stops listening (idempotent).
 *
 * One listener per signal, on the whole time: what changes from one phase to the next is what it
 * does, never the listener. When a signal's last listener goes, Node gives the signal back its
 * default action, and one that comes then is not kept for the next listener: the kernel ends the
 * process with it (143). The start's listeners used to come off before the drain's went on, and
 * "serving" was logged between the two: a stop sent on that line (`systemctl stop` once the unit
 * is up, the kill -9 test's SIGTERM) could land there, under load, and kill the agent undrained.
 */
export function stopOnSignals(
  signals: Pick<NodeJS.EventEmitter, "on" | "off">,
  log: { info(msg: string, data?: Record<string, unknown>): void; warn(msg: string, data?: Record<string, unknown>): void },
): {
  signal: AbortSignal;
  received(): string | undefined;
  drain(agent: { drain(): Promise<void>; stop(): Promise<void> }): Promise<void>;
  dispose(): void;
} {
  const abort = new AbortController();
  let first: string | undefined;
  const noted = (name: string) => log.info("stopping already", { signal: name });
  /** what the next signal does, replaced as the start goes on */
  let next = (name: string) => {
    first = name;
    log.info("stopping before the agent is up", { signal: name });
    abort.abort(new AgentStoppedError());
    next = noted;
  };
  const onInt = () => next("SIGINT");
  const onTerm = () => next("SIGTERM");
  signals.on("SIGINT", onInt);
  signals.on("SIGTERM", onTerm);
  return {
    signal: abort.signal,
    received: () => first,
    async drain(agent) {
      let stoppedHard!: () => void;
      const stopped = new Promise<void>((r) => (stoppedHard = r));
      const hard = () => {
        log.warn("second signal: stopping now, without waiting for the running jobs (their leases fail them over)");
        void agent.stop().catch(() => {});
        stoppedHard();
        next = noted;
      };
      if (first === undefined)
        await new Promise<void>((r) => {
          next = (name) => {
            first = name;
            next = hard;
            r();
          };
        });
      else next = hard;
      log.info("shutting down", { signal: first });
      // It used to await the drain here even after a second signal: stop() waits for running jobs
      // too, so "stops at once" waited for the longest generation to end.
      await Promise.race([agent.drain(), stopped]);
      next = noted; // the drain is over: a signal while the engine closes has no jobs to stop
    },
    dispose() {
      signals.off("SIGINT", onInt);
      signals.off("SIGTERM", onTerm);
    },
  };
}

/**
 * The built-in engine answers only the names it lists: a model named in the config and not
 * among them used to be registered anyway, and every job for it failed (model_not_served)
 * until the owner read the log. Refused at start instead, naming the setting.
 */
export function builtinModels(configured: string[], served: string[]): string[] {
  const missing = configured.filter((m) => !served.includes(m));
  if (missing.length)
    throw new ConfigError(
      `models (--model, COCOON_MODELS or agent.json): the builtin engine (deterministic, not a model) serves only ${served.join(", ")}, not ${missing.join(", ")}; ` +
        "serve a real model with --engine openai --engine-url URL or --model-file FILE.gguf, or drop --model",
    );
  return configured;
}

/** Throws ConfigError, naming the setting, unless `file` is a regular file this user can read. */
export async function modelFileReadable(file: string): Promise<void> {
  const why = modelFileProblem(file);
  if (why)
    throw new ConfigError(
      `modelFile (--model-file, COCOON_MODEL_FILE or agent.json): cannot read the model file ${file}: ${why}; check the path (and that the user the agent runs as may read it)`,
    );
  const damage = await modelFileDamage(file);
  if (damage) throw new ConfigError(`modelFile (--model-file, COCOON_MODEL_FILE or agent.json): ${damage}`);
}

/** Engine errors that mean "not up (yet)": the server is starting, restarting or overloaded. */
const ENGINE_NOT_UP = new Set(["engine_unavailable", "engine_timeout", "engine_crashed"]);

/**
 * The models to offer from an OpenAI-compatible server, once it answers. The agent used to
 * exit 1 when the server was not up yet (vLLM takes minutes to load a model after boot; the
 * unit's restarts then raced it), or, with models configured, register and take jobs it could
 * only fail. It now waits with backoff before registering, and says which configured models
 * the server does not list (their jobs would fail).
 */
export async function engineModels(
  engine: Pick<Engine, "models" | "name" | "health">,
  configured: string[],
  log: { info(msg: string, data?: Record<string, unknown>): void; warn(msg: string, data?: Record<string, unknown>): void },
  o: {
    backoff?: BackoffOptions;
    sleep?: (ms: number) => Promise<void>;
    signal?: AbortSignal;
    /** each failed try that is waited out: status's "last error" (it said "none" while start waited, the reason only in the log) */
    onWait?: (e: EngineError) => void;
  } = {},
): Promise<string[]> {
  const wait = backoff(o.backoff);
  const sleep = o.sleep ?? ((ms: number) => sleepUnlessAborted(ms, o.signal));
  const stopped = () => new AgentStoppedError();
  for (;;) {
    // a stop (SIGTERM) while the engine is waited for ends the wait: it used to wait on
    if (o.signal?.aborted) throw stopped();
    let listed: string[];
    try {
      // The health check first, where the engine has one: llama-server and others list their
      // models before the model is loaded (or after the engine behind the list has died).
      listed = await unlessAborted(
        (async () => {
          await engine.health?.();
          return engine.models();
        })(),
        o.signal,
        stopped,
      );
    } catch (e) {
      if (e instanceof AgentStoppedError) throw e;
      // A 404 under an engine URL without /v1: the setting's fault, which no wait mends (it
      // used to be waited on forever as "not answering yet"). EX_CONFIG: the unit does not restart it.
      if (e instanceof EngineUrlError) throw new ConfigError(`engineUrl (--engine-url, COCOON_ENGINE_URL or agent.json): ${e.message}`);
      if (!(e instanceof EngineError)) throw e;
      // The engine refuses the agent's key (vLLM and llama-server started with --api-key): a
      // setting no wait mends, which was waited on for ever as "not answering yet" (the unit
      // active, the worker never registered). EX_CONFIG: the unit does not restart it.
      if (isKeyRefusal(e)) throw new ConfigError(`engineKey (--engine-key, COCOON_ENGINE_KEY or agent.json): ${e.message}`);
      if (!ENGINE_NOT_UP.has(e.code)) {
        // An answer that is no model list (another kind of server on that port, or a wrong path)
        // stays one on every restart: the setting's fault, EX_CONFIG, rather than exit 1, which
        // the unit restarted every 15 s until its start limit.
        if (!configured.length)
          throw new ConfigError(
            `engineUrl (--engine-url, COCOON_ENGINE_URL or agent.json): ${e.message}; is it the API root of an OpenAI-compatible server (vLLM, llama-server, Ollama)? If the server has no model list, name its models with --model`,
          );
        // Some servers have no usable model list: the owner named the models, so serve those.
        log.warn("the engine's model list could not be read: serving the configured models", { code: e.code, error: e.message });
        return configured;
      }
      const ms = wait.next();
      o.onWait?.(e);
      log.warn("engine not answering yet: waiting before registering", {
        engine: engine.name,
        code: e.code,
        error: e.message,
        retryInMs: ms,
      });
      await sleep(ms);
      continue;
    }
    if (wait.failures > 0) log.info("engine answers", { engine: engine.name, models: listed });
    // Ollama with nothing pulled lists no model ("data": null); other servers always list the one they were started with.
    const none = `the engine at ${engine.name} lists no models: with Ollama, pull one first (ollama pull <model>); vLLM, llama-server and SGLang list the model they were started with`;
    if (!listed.length && !configured.length) throw new EngineError("model_not_served", none, { engine: engine.name });
    const missing = configured.filter((m) => !listed.includes(m));
    if (missing.length)
      log.warn("the engine does not list these configured models: their jobs will fail", {
        missing,
        listed,
        ...(listed.length ? {} : { hint: none }),
      });
    return configured.length ? configured : listed;
  }
}

/** `cocoon-agent status`: the coordinator's account of the worker, and the running agent's own. */
async function status(o: ConnectionOptions & { config?: string; metricsPort?: number }, io: Io): Promise<number> {
  const { config } = resolveConfig({
    file: configPath(o.config),
    flags: { ...(o.api ? { apiUrl: o.api } : {}), ...(o.metricsPort !== undefined ? { metricsPort: o.metricsPort } : {}) },
  });
  const { api, signingKey } = connect(o, config, { create: false });
  const metricsUrl = `http://127.0.0.1:${o.metricsPort ?? config.metricsPort}`;
  const [remote, local] = await Promise.allSettled([api.request(API.workerStatus), localStatus(metricsUrl)]);
  // Another agent on that port (a second GPU's agent, or this one's port was taken at start) is
  // not this worker: its jobs and uptime were shown as this worker's.
  const answered = local.status === "fulfilled" ? local.value : undefined;
  const other = answered && answered.workerId !== signingKey.id ? answered.workerId : undefined;
  const doc = other ? undefined : answered;
  // No answer as this worker there, yet a start may run it: one whose port was taken at its start
  // (its log's "metrics not served"), or started with another --metrics-port. It proves itself
  // on the instance lock (agent/instance-lock.ts); "not running here" sent its owner looking for
  // a stopped agent.
  if (remote.status === "rejected" && !doc) throw unregistered(remote.reason, signingKey.id, api.baseUrl);
  const pid = doc ? undefined : await runningHolder(signingKey);
  const s: WorkerStatus | undefined = remote.status === "fulfilled" ? remote.value : undefined;
  const tier = (s?.tier ?? doc?.tier)!;
  const json = {
    ...(s ?? {}),
    tier,
    tierLabel: tierLabel(tier),
    confidential: tier === "tdx",
    agent: doc ?? null,
    ...(pid !== undefined ? { runningPid: pid } : {}),
    ...(s ? {} : { apiError: (remote as PromiseRejectedResult).reason?.message }),
  };
  const lines = [`worker ${s?.workerId ?? doc?.workerId} · tier ${tierLabel(tier)}`];
  if (doc) {
    const state = doc.state === "cannot_attest" ? "cannot attest (off the candidate lists)" : doc.state;
    lines.push(`  running: up ${duration(doc.uptimeSeconds)} · ${state} · ${doc.inFlight}/${doc.capacity} job(s) in flight`);
    lines.push(
      `  today (${doc.today.day} UTC): ${doc.today.jobs} job(s) · ${doc.today.promptTokens + doc.today.completionTokens} tokens (${doc.today.promptTokens} prompt + ${doc.today.completionTokens} completion) · ${doc.today.failed} failed · earned ${formatTon(doc.today.earned)}`,
    );
  } else if (pid !== undefined) {
    lines.push(
      `  running (pid ${pid}), but ${other ? `${metricsUrl}/status is worker ${other}'s, another agent` : `nothing answers on ${metricsUrl}/status`}: ` +
        `its own numbers are not shown. Started with another --metrics-port? Run status with that one. Its log says "metrics not served" ` +
        "when the port was taken at its start: restart it with a port of its own (--metrics-port, COCOON_METRICS_PORT)",
    );
  } else if (other) {
    lines.push(
      `  not running here: ${metricsUrl}/status is worker ${other}'s, another agent (give each agent its own --metrics-port, and status the same one)`,
    );
  } else {
    lines.push(`  not running here (nothing answers on ${metricsUrl}/status)`);
  }
  if (s) {
    lines.push(`  all time: ${s.jobs} job(s) · ${s.promptTokens} prompt + ${s.completionTokens} completion tokens`);
    lines.push(
      `  earned ${formatTon(s.earned)} · redeemed ${formatTon(s.redeemed)} · unredeemed ${formatTon(BigInt(s.earned) - BigInt(s.redeemed))}${doc ? ` · ${BigInt(doc.redeemThreshold) > 0n ? `auto-redeem at ${formatTon(doc.redeemThreshold)}` : "auto-redeem off"}` : ""}`,
    );
  } else if (doc?.attestError && notAWorker(remote)) {
    // a first start waiting for its collateral: the coordinator answered, it does not know the worker yet
    lines.push("  not registered with the coordinator yet: the agent registers once it can attest (below)");
  } else {
    lines.push(`  the coordinator did not answer: ${(remote as PromiseRejectedResult).reason?.message}`);
    // an outage read as "no earnings shown" asks whether they are lost: the running agent's last reading says what stands
    if (doc?.account)
      lines.push(
        `  earned ${formatTon(doc.account.earned)} · redeemed ${formatTon(doc.account.redeemed)} at the coordinator's last answer (${new Date(doc.account.checkedAt).toISOString()}); earnings are kept there, not lost while it is down`,
      );
  }
  if (doc?.lastRedeem)
    lines.push(
      `  last payout ${new Date(doc.lastRedeem.at).toISOString()}: ${doc.lastRedeem.sendYourself ? `voucher for ${formatTon(doc.lastRedeem.cumulative)} waiting to be sent` : `paid ${formatTon(doc.lastRedeem.paid)}`}`,
    );
  // while the engine does not answer, why (a job failed since says only its code)
  if (doc?.engineError && (doc.state === "starting" || doc.state === "engine_down"))
    lines.push(`  engine not answering (${new Date(doc.engineError.at).toISOString()}): ${doc.engineError.msg}`);
  // why it cannot attest, in the owner's words, then the agent's own
  if (doc?.attestError)
    lines.push(
      `  cannot attest since ${new Date(doc.attestError.since).toISOString()} (last try ${new Date(doc.attestError.at).toISOString()}): ` +
        `${attestTroubleWords(doc.attestError)} [${doc.attestError.code}] ${doc.attestError.msg}`,
    );
  lines.push(`  last error: ${doc?.lastError ? `${new Date(doc.lastError.at).toISOString()} ${doc.lastError.msg}` : "none"}`);
  io.out.write((o.json ? JSON.stringify(json, null, 2) : lines.join("\n")) + "\n");
  return 0;
}

const notAWorker = (r: PromiseSettledResult<unknown>) =>
  r.status === "rejected" && r.reason instanceof ApiError && r.reason.code === "not_a_worker";

/**
 * Why a running agent cannot attest (its /status attestError), said for its owner: what is wrong,
 * and that the agent waits it out on its own (no restart needed), with what the owner can check.
 */
function attestTroubleWords(a: Pick<NonNullable<AgentStatusDoc["attestError"]>, "code" | "refused">): string {
  if (a.refused)
    return "the coordinator refuses this worker's evidence: off the candidate lists; the agent fetches fresh collateral and tries again on a backoff, and serves once it is accepted.";
  if (a.code === "collateral_stale")
    return "no Intel collateral that passes: the PCCS (pccsUrl, COCOON_PCCS_URL) cannot be reached or serves none fresh, and nothing cached passes; the agent retries on a backoff and registers once it arrives (no restart needed).";
  if (a.code === "collateral_not_yet_valid")
    return "the PCCS serves collateral that is not valid yet (dates in the future): check that it serves Intel's collateral, and the clocks; the agent retries on a backoff.";
  if (a.code === "quote_unreadable") return "the platform's quote names no collateral the agent can read (its PCK certificate).";
  return "its evidence cannot be made.";
}

/**
 * The coordinator's not_a_worker, as status and redeem report it: its words (older coordinators:
 * "register with POST /v1/agents first") do not name the coordinator asked, while the owner's fix
 * is to start the agent, or to point status at the home or the coordinator the running agent uses. A wrong API URL (no_such_route,
 * bad_signature) names the setting, as start does. Any other error as it came.
 */
function unregistered(e: unknown, workerId: string, apiUrl: string): unknown {
  if (e instanceof ApiError && REGISTRATION_REFUSALS.has(e.code))
    return new ApiError(e.status, e.code, registrationRefusal(e, apiUrl), e.details);
  if (!(e instanceof ApiError) || e.code !== "not_a_worker") return e;
  return new ApiError(
    e.status,
    e.code,
    `worker ${workerId} is not registered with the coordinator at ${apiUrl}: cocoon-agent start registers it; if it runs already, ` +
      "run this with its COCOON_HOME (or --key) and its API URL",
    e.details,
  );
}

/** The running agent's /status, or undefined when none answers there. */
async function localStatus(url: string): Promise<AgentStatusDoc | undefined> {
  try {
    const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) return undefined;
    const r = AgentStatusDoc.safeParse(await res.json());
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

function duration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** Runs `cocoon-agent` with `argv` (the arguments after the program name); resolves to the exit code. */
export async function main(argv: string[], out: Io["out"] = process.stdout, err: Io["err"] = process.stderr): Promise<number> {
  let code = 0;
  return runProgram(
    buildProgram({ out, err }, (c) => (code = c)),
    argv,
    () => code,
  );
}

if (process.argv[1]?.endsWith("agent/cli.ts")) main(process.argv.slice(2)).then((c) => process.exit(c));
