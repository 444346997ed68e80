/** The cocoon-agent command line; HELP below is both its documentation and its --help. */
export const HELP = `cocoon-agent — run a Cocoon worker next to a GPU.
  cocoon-agent start --api URL [--engine builtin|openai] [--engine-url URL] [--model M ...]
                     [--price-bps N] [--capacity N] [--dev-attestation | --not-confidential] [--key FILE]
  cocoon-agent start --model-file PATH.gguf [--model NAME] [--threads N] [--gpu auto|cpu|cuda|vulkan|metal]
                     [--context-size N] ...
                     serves a GGUF file with the embedded llama.cpp engine (in a child process);
                     the file's SHA-256 is the model digest the agent attests to. Threads default
                     to half the cores; --gpu auto uses a GPU when a GPU build is installed
                     (agent/engines/README.md). \`npm run model:tiny\` writes a tiny test model
                     with RANDOM weights (its text means nothing).
  cocoon-agent status [--api URL] [--key FILE]
  cocoon-agent redeem [--payout-address ADDR] [--api URL] [--key FILE]
                     asks the coordinator for a voucher of everything earned; in the local
                     default it then sends the Redeem from this worker's sandbox wallet and
                     waits until the chain watcher records the payout
Attestation: real Intel TDX evidence through configfs-tsm when the VM has it; otherwise the
agent refuses to start unless --dev-attestation (SIMULATED) or --not-confidential is given.
`;
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { AttestationTier } from "../events/attestation";
import { generateKemKey } from "../core/crypto/keys";
import { ApiClient, ApiError } from "../client/api";
import { loadOrCreateKey } from "../client/keys";
import { formatTon } from "../client/format";
import { makeAttester } from "./attest";
import { detectQuoteProvider } from "./quote-provider";
import { startAgent } from "./runtime";
import { createBuiltinEngine } from "./engines/builtin";
import { createOpenAiEngine } from "./engines/openai-http";
import { type Engine, EngineError } from "./engines/engine";
import { createLlamaEngine } from "./engines/llama";
import type { GpuSetting } from "./engines/llama-protocol";

interface WorkerStatus {
  workerId: string;
  tier: string;
  jobs: number;
  promptTokens: number;
  completionTokens: number;
  earned: string;
  redeemed: string;
}

export interface Voucher {
  vault: string;
  worker: string;
  cumulative: string;
  expiry: number;
  signature: string;
}

export interface RedeemOutcome {
  voucher: Voucher;
  /** the Redeem transaction on the local sandbox (absent when only the voucher was fetched) */
  txHash?: string;
  /** nanoTON the vault paid this time */
  paid: string;
  /** no local sandbox: send `voucher` to the vault yourself (Redeem message, contracts/README.md) */
  sendYourself?: boolean;
  status: WorkerStatus;
}

/**
 * Voucher for everything earned (POST /v1/agents/voucher); with `send` (local default) the
 * Redeem goes from this worker's sandbox wallet (POST /v1/dev/wallet/redeem) and we wait until
 * the chain watcher recorded it (GET /v1/agents/me shows it redeemed).
 */
export async function redeemEarnings(api: ApiClient, o: { payoutAddress?: string; send?: boolean; timeoutMs?: number; pollMs?: number } = {}): Promise<RedeemOutcome> {
  let payoutAddress = o.payoutAddress;
  if (!payoutAddress) {
    try {
      payoutAddress = (await api.get<{ address: string }>("/v1/dev/wallet")).address;
    } catch (e) {
      if (e instanceof ApiError && e.code === "dev_chain_disabled") {
        throw new ApiError(400, "payout_address_required", "this network has no local sandbox wallet for you: pass --payout-address with your TON wallet address");
      }
      throw e;
    }
  }
  const voucher = await api.post<Voucher>("/v1/agents/voucher", { payoutAddress });
  const status0 = await api.get<WorkerStatus>("/v1/agents/me");
  if (o.send === false) return { voucher, paid: "0", status: status0 };
  if (BigInt(status0.redeemed) >= BigInt(voucher.cumulative)) return { voucher, paid: "0", status: status0 }; // all paid already
  let sent: { txHash: string; paid: string };
  try {
    sent = await api.post<{ txHash: string; paid: string }>("/v1/dev/wallet/redeem", { voucher });
  } catch (e) {
    if (e instanceof ApiError && e.code === "dev_chain_disabled") return { voucher, paid: "0", status: status0, sendYourself: true };
    throw e;
  }
  const deadline = Date.now() + (o.timeoutMs ?? 30_000);
  for (;;) {
    const status = await api.get<WorkerStatus>("/v1/agents/me");
    if (BigInt(status.redeemed) >= BigInt(voucher.cumulative)) return { voucher, txHash: sent.txHash, paid: sent.paid, status };
    if (Date.now() > deadline) {
      throw new ApiError(0, "redeem_not_recorded", `redeem ${sent.txHash} paid ${sent.paid} nanoTON on chain but the chain watcher has not recorded it within ${Math.round((o.timeoutMs ?? 30_000) / 1000)} s`);
    }
    await new Promise((r) => setTimeout(r, o.pollMs ?? 200));
  }
}

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") {
    (cmd === undefined ? err : out).write(HELP);
    return cmd === undefined ? 64 : 0;
  }
  const { values } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      api: { type: "string" },
      key: { type: "string" },
      engine: { type: "string", default: "builtin" },
      "engine-url": { type: "string" },
      model: { type: "string", multiple: true },
      "price-bps": { type: "string", default: "10000" },
      capacity: { type: "string", default: "1" },
      "dev-attestation": { type: "boolean" },
      "not-confidential": { type: "boolean" },
      json: { type: "boolean" },
      "payout-address": { type: "string" },
      "model-file": { type: "string" },
      threads: { type: "string" },
      gpu: { type: "string", default: "auto" },
      "context-size": { type: "string" },
    },
  });
  const home = resolve(process.env.COCOON_HOME ?? ".cocoon");
  const localFile = join(home, "local.json");
  const local: { apiUrl?: string } = existsSync(localFile) ? JSON.parse(readFileSync(localFile, "utf8")) : {};
  const apiUrl = values.api ?? process.env.COCOON_API_URL ?? local.apiUrl ?? "http://127.0.0.1:8787";
  const signingKey = loadOrCreateKey(values.key ?? join(home, "worker.key"));
  try {
    if (cmd === "status") {
      const api = new ApiClient(apiUrl, signingKey);
      const s = await api.get<WorkerStatus>("/v1/agents/me");
      out.write(values.json ? JSON.stringify(s, null, 2) + "\n" : `worker ${s.workerId} (tier ${s.tier})\n  jobs ${s.jobs} · tokens ${s.promptTokens} prompt + ${s.completionTokens} completion\n  earned ${formatTon(s.earned)} · redeemed ${formatTon(s.redeemed)}\n`);
      return 0;
    }
    if (cmd === "redeem") {
      const api = new ApiClient(apiUrl, signingKey);
      const r = await redeemEarnings(api, values["payout-address"] ? { payoutAddress: values["payout-address"] } : {});
      const text = r.sendYourself
        ? `voucher for ${formatTon(r.voucher.cumulative)} (cumulative) to ${r.voucher.worker}, valid until ${new Date(r.voucher.expiry * 1000).toISOString()}:\n${JSON.stringify(r.voucher)}\nsend it to vault ${r.voucher.vault} in a Redeem message (see contracts/README.md); the vault pays the difference to what it already paid`
        : r.txHash
        ? `redeemed on the local TON sandbox (not mainnet): paid ${formatTon(r.paid)} to ${r.voucher.worker}\n  tx ${r.txHash}\n  earned ${formatTon(r.status.earned)} · redeemed ${formatTon(r.status.redeemed)}`
        : `nothing new to redeem: voucher for ${formatTon(r.voucher.cumulative)} to ${r.voucher.worker}, already paid\n  earned ${formatTon(r.status.earned)} · redeemed ${formatTon(r.status.redeemed)}`;
      out.write(values.json ? JSON.stringify(r, null, 2) + "\n" : text + "\n");
      return 0;
    }
    if (cmd !== "start") {
      err.write("usage: cocoon-agent <start|status|redeem> [options]\n");
      return 64;
    }
    const tier: AttestationTier = values["dev-attestation"] ? "dev" : values["not-confidential"] ? "none" : "tdx";
    const quoteProvider = tier === "tdx" ? detectQuoteProvider({ dev: false }) : undefined;
    let engine: Engine;
    let modelDigests: Record<string, string> | undefined;
    if (values["model-file"]) {
      if ((values.model?.length ?? 0) > 1) {
        err.write("--model-file serves one model: give at most one --model NAME\n");
        return 64;
      }
      const llama = createLlamaEngine({
        modelFile: values["model-file"],
        ...(values.model?.[0] ? { modelName: values.model[0] } : {}),
        ...(values.threads ? { threads: positiveInt(values.threads, "--threads") } : {}),
        gpu: gpuSetting(values.gpu ?? "auto"),
        ...(values["context-size"] ? { contextSize: positiveInt(values["context-size"], "--context-size") } : {}),
        parallel: Number(values.capacity),
        onLog: (line) => err.write(`llama.cpp: ${line}\n`),
      });
      // Load before registering: a bad file fails here, not on the first paid job.
      const info = await llama.load();
      modelDigests = { [llama.modelName]: info.digest };
      out.write(
        `model ${llama.modelName}: ${info.file} sha256 ${info.digest} (${info.architecture}, context ${info.contextSize}, ${info.gpu === false ? `CPU, ${info.threads} threads` : `GPU ${info.gpu}`}, template ${info.chatWrapper}${info.tools ? " with tools" : ""}, loaded in ${info.loadMs} ms)\n` +
          (info.randomWeights ? "WARNING: this model has RANDOM weights: its text means nothing\n" : ""),
      );
      engine = llama;
    } else {
      engine =
        values.engine === "openai"
          ? createOpenAiEngine({ baseUrl: values["engine-url"] ?? "http://127.0.0.1:8000/v1" })
          : createBuiltinEngine();
    }
    const models = values["model-file"] ? await engine.models() : values.model?.length ? values.model : await engine.models();
    const kemKey = generateKemKey(); // made here, never written anywhere: it lives and dies with this VM
    try {
      const agent = await startAgent({
        apiUrl,
        signingKey,
        kemKey,
        engine,
        models: models.map((model) => ({ model, priceBps: Number(values["price-bps"]) })),
        capacity: Number(values.capacity),
        attest: makeAttester({ tier, signingKey, kemKey, ...(quoteProvider ? { quoteProvider } : {}), ...(modelDigests ? { modelDigests } : {}) }),
        log: { info: (m, d) => out.write(`${m} ${JSON.stringify(d ?? {})}\n`), warn: (m, d) => err.write(`${m} ${JSON.stringify(d ?? {})}\n`) },
      });
      out.write(`worker ${agent.workerId} serving ${models.join(", ")} with ${engine.name}; tier ${agent.tier}${tier === "dev" ? " (SIMULATED TEE)" : tier === "none" ? " (NOT confidential)" : ""}\n`);
      await new Promise<void>((r) => {
        process.once("SIGINT", r);
        process.once("SIGTERM", r);
      });
      await agent.stop();
    } finally {
      await engine.close?.();
    }
    return 0;
  } catch (e) {
    if (e instanceof ApiError) {
      err.write(`error [${e.code}]: ${e.message}\n`);
      return 2;
    }
    if (e instanceof EngineError) {
      err.write(`error [${e.code}]: ${e.message}\n`);
      return 1;
    }
    err.write(`error: ${(e as Error).message}\n`);
    return 1;
  }
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, got ${v}`);
  return n;
}

function gpuSetting(v: string): GpuSetting {
  if (v === "auto") return "auto";
  if (v === "cpu" || v === "false") return false;
  if (v === "cuda" || v === "vulkan" || v === "metal") return v;
  throw new Error(`--gpu must be auto, cpu, cuda, vulkan or metal, got ${v}`);
}

if (process.argv[1]?.endsWith("agent/cli.ts")) main(process.argv.slice(2)).then((c) => process.exit(c));
