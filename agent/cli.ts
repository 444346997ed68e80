/**
 * cocoon-agent — run a Cocoon worker next to a GPU.
 *   cocoon-agent start --api URL [--engine builtin|openai] [--engine-url URL] [--model M ...]
 *                      [--price-bps N] [--capacity N] [--dev-attestation | --not-confidential] [--key FILE]
 *   cocoon-agent status [--api URL] [--key FILE]
 * Attestation: real Intel TDX evidence through configfs-tsm when the VM has it; otherwise the
 * agent refuses to start unless --dev-attestation (SIMULATED) or --not-confidential is given.
 */
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

export async function main(argv: string[], out = process.stdout, err = process.stderr): Promise<number> {
  const [cmd, ...rest] = argv;
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
    },
  });
  const home = resolve(process.env.COCOON_HOME ?? ".cocoon");
  const apiUrl = values.api ?? process.env.COCOON_API_URL ?? "http://127.0.0.1:8787";
  const signingKey = loadOrCreateKey(values.key ?? join(home, "worker.key"));
  try {
    if (cmd === "status") {
      const api = new ApiClient(apiUrl, signingKey);
      const s = await api.get<{ workerId: string; tier: string; jobs: number; promptTokens: number; completionTokens: number; earned: string; redeemed: string }>("/v1/agents/me");
      out.write(values.json ? JSON.stringify(s, null, 2) + "\n" : `worker ${s.workerId} (tier ${s.tier})\n  jobs ${s.jobs} · tokens ${s.promptTokens} prompt + ${s.completionTokens} completion\n  earned ${formatTon(s.earned)} · redeemed ${formatTon(s.redeemed)}\n`);
      return 0;
    }
    if (cmd !== "start") {
      err.write("usage: cocoon-agent <start|status> [options]\n");
      return 64;
    }
    const tier: AttestationTier = values["dev-attestation"] ? "dev" : values["not-confidential"] ? "none" : "tdx";
    const quoteProvider = tier === "tdx" ? detectQuoteProvider({ dev: false }) : undefined;
    const engine =
      values.engine === "openai"
        ? createOpenAiEngine({ baseUrl: values["engine-url"] ?? "http://127.0.0.1:8000/v1" })
        : createBuiltinEngine();
    const models = values.model?.length ? values.model : await engine.models();
    const kemKey = generateKemKey(); // made here, never written anywhere: it lives and dies with this VM
    const agent = await startAgent({
      apiUrl,
      signingKey,
      kemKey,
      engine,
      models: models.map((model) => ({ model, priceBps: Number(values["price-bps"]) })),
      capacity: Number(values.capacity),
      attest: makeAttester({ tier, signingKey, kemKey, ...(quoteProvider ? { quoteProvider } : {}) }),
      log: { info: (m, d) => out.write(`${m} ${JSON.stringify(d ?? {})}\n`), warn: (m, d) => err.write(`${m} ${JSON.stringify(d ?? {})}\n`) },
    });
    out.write(`worker ${agent.workerId} serving ${models.join(", ")} with ${engine.name}; tier ${agent.tier}${tier === "dev" ? " (SIMULATED TEE)" : tier === "none" ? " (NOT confidential)" : ""}\n`);
    await new Promise<void>((r) => {
      process.once("SIGINT", r);
      process.once("SIGTERM", r);
    });
    await agent.stop();
    return 0;
  } catch (e) {
    if (e instanceof ApiError) {
      err.write(`error [${e.code}]: ${e.message}\n`);
      return 2;
    }
    err.write(`error: ${(e as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1]?.endsWith("agent/cli.ts")) main(process.argv.slice(2)).then((c) => process.exit(c));
