/**
 * `npm start`: the whole Cocoon network on this machine, then a demo job end to end.
 *   coordinator (real handlers over HTTP on 127.0.0.1:$PORT, LMDB store, in-process queues)
 *   + local agents (SIMULATED dev attestation, built-in deterministic engine: not a real model)
 *   + a TON sandbox (@ton/sandbox, in this process: NOT mainnet) with the Cocoon vault deployed,
 *     and the chain watcher crediting deposits / recording payouts in the ledger
 *   + a requester who deposits sandbox TON into the vault, asks one question, and the worker
 *     that answered redeems its earnings at the vault.
 *   + one agent on the embedded llama.cpp engine serving a GGUF file: by default the project's
 *     tiny model with RANDOM weights (its text means nothing; generated at start if missing),
 *     or a real model with COCOON_MODEL_FILE=path.gguf or `npm start -- --model-file path.gguf`
 *     (COCOON_NO_MODEL_FILE=1 skips it).
 * COCOON_EXIT_AFTER_DEMO=1 stops after the demo (used by tests and CI smoke runs).
 * COCOON_COORDINATOR_ONLY=1 starts the coordinator alone (handlers, LMDB store, sandbox chain
 * and watcher) and serves until SIGINT/SIGTERM: no local agents, no demo; agents and requesters
 * come from elsewhere (test/crash.test.ts runs it as a child process, kills it with kill -9 and
 * starts it again on the same data). COCOON_LEASE_BASE_SECONDS / COCOON_LEASE_MS_PER_TOKEN
 * shorten the job leases (tests of recovery). COCOON_JOB_RETENTION_DAYS: how long a job's records
 * are kept after it ends (8 to 3650, default 30; core/jobs/retention.ts), as on AWS.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { startNetwork } from "./network";
import { checkJobRetentionDays } from "../core/config";
import { startLocalAgents, startModelFileAgent, type ModelFileAgent } from "./agents";
import { modelFileProblem } from "../agent/model-file";
import { loadOrCreateKey } from "../api-client/keys";
import { formatTon } from "../api-client/format";
import { depositAndWait, redeemEarnings } from "../api-client/money";
import { CocoonClient } from "../client/sdk";
import { formatAnswer } from "../client/format";
import { BUILTIN_DEFAULT_MODEL } from "../agent/engines/builtin";
import type { LocalNetworkFile } from "../events/local";
import { OperatorEnv } from "../functions/operator-env";

const home = resolve(process.env.COCOON_HOME ?? ".cocoon");
const argModelFile = (() => {
  const i = process.argv.indexOf("--model-file");
  return i >= 0 ? process.argv[i + 1] : process.argv.find((a) => a.startsWith("--model-file="))?.slice("--model-file=".length);
})();
const modelFile = argModelFile ?? (process.env.COCOON_MODEL_FILE || undefined);
const modelFileSetting = argModelFile !== undefined ? "--model-file" : "COCOON_MODEL_FILE";

/**
 * A model file the user named must be served: one that cannot be read stops the start here (exit
 * 1), before anything starts, rather than a network without it that exits 0 after its demo.
 */
if (modelFile !== undefined && process.env.COCOON_NO_MODEL_FILE !== "1") {
  const why = modelFileProblem(modelFile);
  if (why) {
    console.error(
      `error: ${modelFileSetting} ${modelFile} cannot be read: ${why}; check the path, or leave it out to serve the tiny test model`,
    );
    process.exit(1);
  }
}

/**
 * A whole number from the environment (undefined when unset); anything else stops the start
 * with one line naming the variable (exit 1), not a stack trace from deep in the listen call.
 */
function intEnv(name: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === "") return undefined;
  if (!/^\d+$/.test(v) || Number(v) > max) {
    console.error(`error: ${name} must be a whole number${max < Number.MAX_SAFE_INTEGER ? ` from 0 to ${max}` : ""}, got "${v}"`);
    process.exit(1);
  }
  return Number(v);
}
const port = intEnv("PORT", 65_535) ?? 8787;
/**
 * COCOON_OPERATOR_KEY by the rule the deploy and the Lambdas apply (functions/operator-env.ts), so
 * a key npm start takes is one AWS takes too; malformed: one line naming it (exit 1), before anything starts.
 */
const operatorKey = (() => {
  const r = OperatorEnv.safeParse(process.env);
  if (r.success) return r.data.COCOON_OPERATOR_KEY;
  console.error(
    `error: COCOON_OPERATOR_KEY ${r.error.issues[0]!.message}: print it with \`npx cocoon operator key\` (COCOON_OPERATOR_KEY=<hex>), or unset it`,
  );
  process.exit(1);
})();
const leaseBaseSeconds = intEnv("COCOON_LEASE_BASE_SECONDS");
const leaseMsPerToken = intEnv("COCOON_LEASE_MS_PER_TOKEN");
/** COCOON_JOB_RETENTION_DAYS by the rule AWS applies (core/config.ts checkJobRetentionDays): a bad value exits before anything starts. */
const jobRetentionDays = (() => {
  const days = intEnv("COCOON_JOB_RETENTION_DAYS");
  if (days === undefined) return undefined;
  try {
    return checkJobRetentionDays(days);
  } catch (e) {
    console.error(`error: COCOON_JOB_RETENTION_DAYS: ${(e as Error).message}`);
    process.exit(1);
  }
})();
// the network's keys live here: a new home is the user's alone (an existing one keeps its mode; the key files are 0600 either way)
mkdirSync(home, { recursive: true, mode: 0o700 });
const config = {
  ...(leaseBaseSeconds !== undefined ? { leaseBaseSeconds } : {}),
  ...(leaseMsPerToken !== undefined ? { leaseMsPerToken } : {}),
  ...(jobRetentionDays !== undefined ? { jobRetentionDays } : {}),
};

const net = await startNetwork({
  dataDir: join(home, "data"),
  port,
  config,
  ...(process.env.COCOON_LOG === "1" ? { logSink: (l: string) => console.log(l) } : {}),
  // the operator's public key (hex), as on AWS: POST /v1/operator/voucher pays it the fees
  ...(operatorKey ? { operatorKey } : {}),
}).catch((e: NodeJS.ErrnoException) => {
  // Most often a second `npm start`: said with the fix, not as a stack trace.
  if (e.code !== "EADDRINUSE") throw e;
  console.error(
    `error: 127.0.0.1:${port} is in use (another npm start, or another program): stop it, or start on another port: PORT=${port + 1} npm start`,
  );
  process.exit(1);
});
const localFile: LocalNetworkFile = { apiUrl: net.url, allowDevAttestation: true, startedAt: new Date().toISOString() };
writeFileSync(join(home, "local.json"), JSON.stringify(localFile, null, 2));
/**
 * On Ctrl-C (or a TERM), said before the stop: it printed nothing, as if the network and its money
 * were gone. The home keeps it all, and the next `npm start` takes it up again.
 */
function onStopSignal(stop: () => Promise<void>) {
  const note = (signal: NodeJS.Signals) => {
    console.log(
      `\n${signal}: stopping the local network; its state stays in ${home} (the ledger and jobs, the sandbox chain, the keys): npm start takes it up again (delete the folder to start afresh)`,
    );
    void stop().then(() => process.exit(0));
  };
  process.once("SIGINT", note);
  process.once("SIGTERM", note);
}

if (process.env.COCOON_COORDINATOR_ONLY === "1") {
  // the handler before the line that says it is up: whoever reads that line may Ctrl-C at once
  // (a signal between the two took node's default action: killed, no note, no clean stop)
  onStopSignal(() => net.stop());
  console.log(`Cocoon coordinator up at ${net.url}  (data: ${net.dataDir}, pid ${process.pid})`);
} else {
  await demo();
}

/** `npm start`: local agents, then one job end to end (and a redemption at the vault). */
async function demo() {
  const agents = await startLocalAgents(net.url, home, [
    { name: "agent-1", priceBps: 10_000 },
    { name: "agent-2", priceBps: 12_000 },
  ]);

  let gguf: ModelFileAgent | undefined;
  if (process.env.COCOON_NO_MODEL_FILE !== "1") {
    try {
      gguf = await startModelFileAgent(net.url, home, modelFile ? { modelFile } : {});
    } catch (e) {
      // the file the user named (read above) did not load: said, and the start fails, as for one that cannot be read
      if (modelFile !== undefined) {
        console.error(`error: the GGUF agent did not start on ${modelFileSetting} ${modelFile}: ${(e as Error).message}`);
        await net.stop().catch(() => undefined);
        process.exit(1);
      }
      console.error(`the GGUF agent did not start (${(e as Error).message}); the network runs without it`);
    }
  }

  console.log(`Cocoon local network up at ${net.url}  (data: ${net.dataDir})`);
  console.log(
    `  store: LMDB (durable, transactional) · queues: in-process, SQS-shaped · relay: in-process (streamed answers, sealed chunk by chunk)`,
  );
  for (const a of agents)
    console.log(
      `  worker ${a.workerId.slice(0, 12)}… tier=${a.tier} (SIMULATED TEE) model=${BUILTIN_DEFAULT_MODEL} engine=builtin-deterministic (not a real model)`,
    );
  if (gguf) {
    console.log(
      `  worker ${gguf.agent.workerId.slice(0, 12)}… tier=${gguf.agent.tier} (SIMULATED TEE) model=${gguf.model} engine=llama.cpp (embedded) file=${gguf.info.file} sha256=${gguf.info.digest.slice(0, 16)}…`,
    );
    if (gguf.tiny || gguf.info.randomWeights)
      console.log(
        `    ^ RANDOM WEIGHTS: this model's text means nothing (the project's own tiny test model). Serve a real one: COCOON_MODEL_FILE=path.gguf npm start`,
      );
  }

  const requester = loadOrCreateKey(join(home, "requester.key"));
  const client = new CocoonClient({ apiUrl: net.url, key: requester, allowDev: true });
  if (net.chain)
    console.log(
      `  TON: local sandbox (NOT mainnet), vault ${net.chain.vaultAddress.toRawString()}${net.chain.restored ? " (restored)" : ""} · chain watcher every 500 ms`,
    );
  const bal = await client.balance();
  if (BigInt(bal.available) < 1_000_000_000n) {
    if (net.chain) {
      const d = await depositAndWait(client.api, 10_000_000_000n); // `cocoon deposit 10`
      console.log(
        `deposit: ${formatTon(d.amount)} from the sandbox test wallet into the vault, tx ${d.txHash.slice(0, 16)}…, credited by the chain watcher`,
      );
    } else await client.faucet(10_000_000_000n); // 10 TON of dev play money (ledger only)
  }

  const prompt = process.env.COCOON_DEMO_PROMPT ?? "Hello Cocoon! What is private inference?";
  console.log(`\nDemo job: "${prompt}"`);
  try {
    // Streamed: each piece is printed once its sealed chunk verified; the receipt and bill at the end.
    const r = await printStream(client, BUILTIN_DEFAULT_MODEL, prompt);
    console.log(formatAnswer({ ...r, text: "" }).replace(/^\n/, ""));
    if (gguf) {
      console.log(
        `\nThe same through the GGUF agent (${gguf.model}${gguf.tiny || gguf.info.randomWeights ? ": RANDOM WEIGHTS, the text means nothing" : ""}):`,
      );
      const g = await printStream(client, gguf.model, prompt, 24);
      console.log(formatAnswer({ ...g, text: "" }).replace(/^\n/, ""));
    }
    const after = await client.balance();
    console.log(`requester ${requester.id.slice(0, 12)}… balance: ${after.available} nanoTON available, ${after.held} held`);
    const worker = agents.find((a) => a.workerId === r.workerId);
    if (net.chain && worker) {
      const red = await redeemEarnings(worker.api);
      console.log(
        `worker ${r.workerId.slice(0, 12)}… redeemed its voucher at the vault: paid ${red.paid} nanoTON (earned ${red.status.earned}, redeemed ${red.status.redeemed})`,
      );
    }
    if (net.chain) {
      const vault = await net.chain.vaultBalance();
      const owed = await net.chainLedger.liabilities();
      console.log(
        `vault balance ${formatTon(vault)} ≥ ledger liabilities ${formatTon(owed)} (requester balances + unredeemed earnings; the rest is the owner's gas reserve)`,
      );
    }
  } catch (e) {
    console.error(`demo job failed: ${(e as Error).message}`);
    process.exitCode = 1;
  }

  const stop = async () => {
    await Promise.all([...agents, ...(gguf ? [gguf.agent] : [])].map((a) => a.stop()));
    await gguf?.engine.close();
    await net.stop();
  };
  if (process.env.COCOON_EXIT_AFTER_DEMO === "1") {
    await stop();
    process.exit(process.exitCode ?? 0);
  } else {
    onStopSignal(stop); // before the line that invites Ctrl-C (see the coordinator-only start above)
    console.log(`\nNetwork running. In another shell:  npx cocoon ask "hello"   (Ctrl-C to stop)`);
  }
}

/** One question through askStream, its text printed as it arrives; returns the verified result. */
async function printStream(client: CocoonClient, model: string, prompt: string, maxTokens = 64) {
  for await (const ev of client.askStream({ model, messages: [{ role: "user", content: prompt }], maxTokens, tiers: ["tdx", "dev"] })) {
    if (ev.type === "delta" && ev.text) process.stdout.write(ev.text);
    else if (ev.type === "restart") process.stdout.write(`\n[worker failed; ${ev.workerId.slice(0, 8)} starts over]\n`);
    else if (ev.type === "done") {
      process.stdout.write("\n");
      return ev;
    }
  }
  throw new Error("the stream ended without an answer");
}
