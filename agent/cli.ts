/**
 * `cocoon-agent`, the worker CLI (commander: each command declares its own options, and
 * `cocoon-agent --help` / `cocoon-agent <command> --help` are generated from them). It talks to
 * the coordinator through api-client/ only: the agent carries no requester or coordinator code.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import type { AttestationTier } from "../events/attestation";
import { generateKemKey } from "../core/crypto/keys";
import { API, ApiClient, ApiError } from "../api-client/api";
import { formatTon } from "../api-client/format";
import { loadOrCreateKey } from "../api-client/keys";
import { redeemEarnings } from "../api-client/money";
import { collect, EX_USAGE, newProgram, positiveInt, runProgram, type Io } from "../api-client/program";
import { progressOn } from "../api-client/progress";
import { cliSettings, SettingsError } from "../api-client/settings";
import { makeAttester } from "./attest";
import { detectQuoteProvider } from "./quote-provider";
import { startAgent } from "./runtime";
import { createBuiltinEngine } from "./engines/builtin";
import { createOpenAiEngine } from "./engines/openai-http";
import { type Engine, EngineError } from "./engines/engine";
import { createLlamaEngine } from "./engines/llama";
import type { GpuSetting } from "./engines/llama-protocol";

interface ConnectionOptions {
  api?: string;
  key?: string;
  json?: boolean;
}

interface StartOptions extends ConnectionOptions {
  engine: "builtin" | "openai";
  engineUrl?: string;
  model: string[];
  priceBps: number;
  capacity: number;
  devAttestation?: boolean;
  notConfidential?: boolean;
  modelFile?: string;
  threads?: number;
  gpu: GpuSetting;
  contextSize?: number;
}

const ATTESTATION_HELP = `
Attestation: real Intel TDX evidence through configfs-tsm when the VM has it; otherwise the
agent refuses to start unless --dev-attestation (SIMULATED) or --not-confidential is given.
Settings: --api URL (or COCOON_API_URL; default: the local network's .cocoon/local.json) and
--key FILE (default .cocoon/worker.key, created on first use).
`;

const MODEL_FILE_HELP = `
With --model-file the agent serves a GGUF file with the embedded llama.cpp engine (in a child
process); the file's SHA-256 is the model digest the agent attests to. Threads default to half
the cores; --gpu auto uses a GPU when a GPU build is installed (agent/engines/README.md).
\`npm run model:tiny\` writes a tiny test model with RANDOM weights (its text means nothing).
`;

/** The options every command that talks to the API takes. */
function connection(cmd: Command): Command {
  return cmd
    .option("--api <url>", "the coordinator's API (default: COCOON_API_URL, the local network, http://127.0.0.1:8787)")
    .option("--key <file>", "the worker's Ed25519 key file, created on first use (default .cocoon/worker.key)")
    .option("--json", "print JSON (and no progress)");
}

function connect(o: ConnectionOptions) {
  const s = cliSettings({ api: o.api, key: o.key, defaultKeyName: "worker.key" });
  const signingKey = loadOrCreateKey(s.keyFile);
  return { apiUrl: s.apiUrl, signingKey, api: new ApiClient(s.apiUrl, signingKey) };
}

/** --gpu parser. */
function gpuSetting(v: string): GpuSetting {
  if (v === "auto") return "auto";
  if (v === "cpu" || v === "false") return false;
  if (v === "cuda" || v === "vulkan" || v === "metal") return v;
  throw new InvalidArgumentError("must be auto, cpu, cuda, vulkan or metal.");
}

export function buildProgram(io: Io, setCode: (code: number) => void): Command {
  const program = newProgram("cocoon-agent", "run a Cocoon worker next to a GPU", io).addHelpText("after", ATTESTATION_HELP);
  const print = (o: ConnectionOptions, v: unknown, text: string) => io.out.write((o.json ? JSON.stringify(v, null, 2) : text) + "\n");
  /** Runs a command body to its exit code; API and engine failures are reported with their code. */
  const run =
    <A extends unknown[]>(fn: (...args: A) => Promise<number | void>) =>
    async (...args: A) => {
      try {
        setCode((await fn(...args)) ?? 0);
      } catch (e) {
        if (e instanceof ApiError || e instanceof SettingsError) {
          io.err.write(`error [${e.code}]: ${e.message}\n`);
          setCode(2);
        } else if (e instanceof EngineError) {
          io.err.write(`error [${e.code}]: ${e.message}\n`);
          setCode(1);
        } else {
          io.err.write(`error: ${(e as Error).message}\n`);
          setCode(1);
        }
      }
    };

  connection(
    program
      .command("start")
      .description("attest, register and serve jobs until SIGINT/SIGTERM")
      .addOption(new Option("--engine <name>", "the inference engine: builtin (deterministic, not a model) or openai (an OpenAI-compatible server: vLLM, llama.cpp server, Ollama)").choices(["builtin", "openai"]).default("builtin"))
      .option("--engine-url <url>", "the OpenAI-compatible server (--engine openai)", "http://127.0.0.1:8000/v1")
      .addOption(new Option("--model <name>", "a model to offer (repeat for several; with --model-file: its name)").argParser(collect).default([] as string[], "what the engine lists"))
      .option("--price-bps <n>", "your price in basis points of the model's base price (10000 = 1.0)", positiveInt, 10_000)
      .option("--capacity <n>", "jobs run at once", positiveInt, 1)
      .addOption(new Option("--dev-attestation", "SIMULATED TDX evidence (local testing only; requesters must opt in)").conflicts("notConfidential"))
      .addOption(new Option("--not-confidential", 'no TEE at all: tier "none", chosen only by requesters who ask for it').conflicts("devAttestation"))
      .option("--model-file <path.gguf>", "serve this GGUF file with the embedded llama.cpp engine")
      .option("--threads <n>", "--model-file: CPU threads (default half the cores)", positiveInt)
      .option("--gpu <kind>", "--model-file: auto, cpu, cuda, vulkan or metal", gpuSetting, "auto" as GpuSetting)
      .option("--context-size <n>", "--model-file: context window in tokens", positiveInt)
      .addHelpText("after", MODEL_FILE_HELP),
  ).action(run(async (o: StartOptions) => start(o, io)));

  connection(program.command("status").description("the worker's jobs, tokens, and earned and redeemed nanoTON")).action(
    run(async (o: ConnectionOptions) => {
      const s = await connect(o).api.request(API.workerStatus);
      print(o, s, `worker ${s.workerId} (tier ${s.tier})\n  jobs ${s.jobs} · tokens ${s.promptTokens} prompt + ${s.completionTokens} completion\n  earned ${formatTon(s.earned)} · redeemed ${formatTon(s.redeemed)}`);
    }),
  );

  connection(
    program
      .command("redeem")
      .description(
        "ask the coordinator for a voucher of everything earned; in the local default, send the Redeem from this worker's sandbox wallet and wait until the chain watcher records the payout",
      )
      .option("--payout-address <address>", "the TON wallet to be paid (bound by the first voucher; default: your sandbox wallet on the local network)"),
  ).action(
    run(async (o: ConnectionOptions & { payoutAddress?: string }) => {
      const progress = progressOn(io.err, { quiet: o.json === true });
      let r;
      try {
        r = await redeemEarnings(connect(o).api, { ...(o.payoutAddress ? { payoutAddress: o.payoutAddress } : {}), onWait: (s) => progress.step(s) });
      } finally {
        progress.done();
      }
      const text = r.sendYourself
        ? `voucher for ${formatTon(r.voucher.cumulative)} (cumulative) to ${r.voucher.worker}, valid until ${new Date(r.voucher.expiry * 1000).toISOString()}:\n${JSON.stringify(r.voucher)}\nsend it to vault ${r.voucher.vault} in a Redeem message (see contracts/README.md); the vault pays the difference to what it already paid`
        : r.txHash
          ? `redeemed on the local TON sandbox (not mainnet): paid ${formatTon(r.paid)} to ${r.voucher.worker}\n  tx ${r.txHash}\n  earned ${formatTon(r.status.earned)} · redeemed ${formatTon(r.status.redeemed)}`
          : `nothing new to redeem: voucher for ${formatTon(r.voucher.cumulative)} to ${r.voucher.worker}, already paid\n  earned ${formatTon(r.status.earned)} · redeemed ${formatTon(r.status.redeemed)}`;
      print(o, r, text);
    }),
  );
  return program;
}

/** `cocoon-agent start`: the engine, then attestation and registration, then jobs until a signal. */
async function start(o: StartOptions, io: Io): Promise<number> {
  const { apiUrl, signingKey } = connect(o);
  const tier: AttestationTier = o.devAttestation ? "dev" : o.notConfidential ? "none" : "tdx";
  const quoteProvider = tier === "tdx" ? detectQuoteProvider({ dev: false }) : undefined;
  let engine: Engine;
  let modelDigests: Record<string, string> | undefined;
  if (o.modelFile) {
    if (o.model.length > 1) {
      io.err.write("--model-file serves one model: give at most one --model NAME\n");
      return EX_USAGE;
    }
    const llama = createLlamaEngine({
      modelFile: o.modelFile,
      ...(o.model[0] ? { modelName: o.model[0] } : {}),
      ...(o.threads ? { threads: o.threads } : {}),
      gpu: o.gpu,
      ...(o.contextSize ? { contextSize: o.contextSize } : {}),
      parallel: o.capacity,
      onLog: (line) => io.err.write(`llama.cpp: ${line}\n`),
    });
    // Load before registering: a bad file fails here, not on the first paid job.
    const info = await llama.load();
    modelDigests = { [llama.modelName]: info.digest };
    io.out.write(
      `model ${llama.modelName}: ${info.file} sha256 ${info.digest} (${info.architecture}, context ${info.contextSize}, ${info.gpu === false ? `CPU, ${info.threads} threads` : `GPU ${info.gpu}`}, template ${info.chatWrapper}${info.tools ? " with tools" : ""}, loaded in ${info.loadMs} ms)\n` +
        (info.randomWeights ? "WARNING: this model has RANDOM weights: its text means nothing\n" : ""),
    );
    engine = llama;
  } else {
    engine = o.engine === "openai" ? createOpenAiEngine({ baseUrl: o.engineUrl ?? "http://127.0.0.1:8000/v1" }) : createBuiltinEngine();
  }
  const models = o.modelFile ? await engine.models() : o.model.length ? o.model : await engine.models();
  const kemKey = generateKemKey(); // made here, never written anywhere: it lives and dies with this VM
  try {
    const agent = await startAgent({
      apiUrl,
      signingKey,
      kemKey,
      engine,
      models: models.map((model) => ({ model, priceBps: o.priceBps })),
      capacity: o.capacity,
      attest: makeAttester({ tier, signingKey, kemKey, ...(quoteProvider ? { quoteProvider } : {}), ...(modelDigests ? { modelDigests } : {}) }),
      log: { info: (m, d) => io.out.write(`${m} ${JSON.stringify(d ?? {})}\n`), warn: (m, d) => io.err.write(`${m} ${JSON.stringify(d ?? {})}\n`) },
    });
    io.out.write(`worker ${agent.workerId} serving ${models.join(", ")} with ${engine.name}; tier ${agent.tier}${tier === "dev" ? " (SIMULATED TEE)" : tier === "none" ? " (NOT confidential)" : ""}\n`);
    await new Promise<void>((r) => {
      process.once("SIGINT", r);
      process.once("SIGTERM", r);
    });
    await agent.stop();
  } finally {
    await engine.close?.();
  }
  return 0;
}

/** Runs `cocoon-agent` with `argv` (the arguments after the program name); resolves to the exit code. */
export async function main(argv: string[], out: Io["out"] = process.stdout, err: Io["err"] = process.stderr): Promise<number> {
  let code = 0;
  return runProgram(buildProgram({ out, err }, (c) => (code = c)), argv, () => code);
}

if (process.argv[1]?.endsWith("agent/cli.ts")) main(process.argv.slice(2)).then((c) => process.exit(c));
