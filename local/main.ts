/**
 * `npm start`: the whole Cocoon network on this machine, then a demo job end to end.
 *   coordinator (real handlers over HTTP on 127.0.0.1:$PORT, LMDB store, in-process queues)
 *   + local agents (SIMULATED dev attestation, built-in deterministic engine: not a real model)
 *   + a TON sandbox (@ton/sandbox, in this process: NOT mainnet) with the Cocoon vault deployed,
 *     and the chain watcher crediting deposits / recording payouts in the ledger
 *   + a requester who deposits sandbox TON into the vault, asks one question, and the worker
 *     that answered redeems its earnings at the vault.
 * COCOON_EXIT_AFTER_DEMO=1 stops after the demo (used by tests and CI smoke runs).
 * COCOON_COORDINATOR_ONLY=1 starts the coordinator alone (handlers, LMDB store, sandbox chain
 * and watcher) and serves until SIGINT/SIGTERM: no local agents, no demo; agents and requesters
 * come from elsewhere (test/crash.test.ts runs it as a child process, kills it with kill -9 and
 * starts it again on the same data). COCOON_LEASE_BASE_SECONDS / COCOON_LEASE_MS_PER_TOKEN
 * shorten the job leases (tests of recovery).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { startNetwork } from "./network";
import { startLocalAgents } from "./agents";
import { loadOrCreateKey } from "../api-client/keys";
import { formatTon } from "../api-client/format";
import { depositAndWait, redeemEarnings } from "../api-client/money";
import { CocoonClient } from "../client/sdk";
import { formatAnswer } from "../client/format";
import { BUILTIN_DEFAULT_MODEL } from "../agent/engines/builtin";
import type { LocalNetworkFile } from "../events/local";

const home = resolve(process.env.COCOON_HOME ?? ".cocoon");
const port = Number(process.env.PORT ?? 8787);
mkdirSync(home, { recursive: true });

/** A whole number from the environment (undefined when unset); anything else stops the start. */
function intEnv(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === "") return undefined;
  if (!/^\d+$/.test(v)) throw new Error(`${name} must be a whole number, got "${v}"`);
  return Number(v);
}
const leaseBaseSeconds = intEnv("COCOON_LEASE_BASE_SECONDS");
const leaseMsPerToken = intEnv("COCOON_LEASE_MS_PER_TOKEN");
const config = { ...(leaseBaseSeconds !== undefined ? { leaseBaseSeconds } : {}), ...(leaseMsPerToken !== undefined ? { leaseMsPerToken } : {}) };

const net = await startNetwork({ dataDir: join(home, "data"), port, config, logSink: (l) => process.env.COCOON_LOG === "1" && console.log(l) });
const localFile: LocalNetworkFile = { apiUrl: net.url, allowDevAttestation: true, startedAt: new Date().toISOString() };
writeFileSync(join(home, "local.json"), JSON.stringify(localFile, null, 2));
if (process.env.COCOON_COORDINATOR_ONLY === "1") {
  console.log(`Cocoon coordinator up at ${net.url}  (data: ${net.dataDir}, pid ${process.pid})`);
  const stop = () => void net.stop().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
} else {
  await demo();
}

/** `npm start`: local agents, then one job end to end (and a redemption at the vault). */
async function demo() {
  const agents = await startLocalAgents(net.url, home, [
    { name: "agent-1", priceBps: 10_000 },
    { name: "agent-2", priceBps: 12_000 },
  ]);

  console.log(`Cocoon local network up at ${net.url}  (data: ${net.dataDir})`);
  console.log(`  store: LMDB (durable, transactional) · queues: in-process, SQS-shaped`);
  for (const a of agents) console.log(`  worker ${a.workerId.slice(0, 12)}… tier=${a.tier} (SIMULATED TEE) engine=builtin-deterministic (not a real model)`);

  const requester = loadOrCreateKey(join(home, "requester.key"));
  const client = new CocoonClient({ apiUrl: net.url, key: requester, allowDev: true });
  if (net.chain) console.log(`  TON: local sandbox (NOT mainnet), vault ${net.chain.vaultAddress.toRawString()}${net.chain.restored ? " (restored)" : ""} · chain watcher every 500 ms`);
  const bal = await client.balance();
  if (BigInt(bal.available) < 1_000_000_000n) {
    if (net.chain) {
      const d = await depositAndWait(client.api, 10_000_000_000n); // `cocoon deposit 10`
      console.log(`deposit: ${formatTon(d.amount)} from the sandbox test wallet into the vault, tx ${d.txHash.slice(0, 16)}…, credited by the chain watcher`);
    } else await client.faucet(10_000_000_000n); // 10 TON of dev play money (ledger only)
  }

  const prompt = process.env.COCOON_DEMO_PROMPT ?? "Hello Cocoon! What is private inference?";
  console.log(`\nDemo job: "${prompt}"`);
  try {
    const r = await client.ask({ model: BUILTIN_DEFAULT_MODEL, messages: [{ role: "user", content: prompt }], maxTokens: 64, tiers: ["tdx", "dev"] });
    console.log(formatAnswer(r));
    const after = await client.balance();
    console.log(`requester ${requester.id.slice(0, 12)}… balance: ${after.available} nanoTON available, ${after.held} held`);
    const worker = agents.find((a) => a.workerId === r.workerId);
    if (net.chain && worker) {
      const red = await redeemEarnings(worker.api);
      console.log(`worker ${r.workerId.slice(0, 12)}… redeemed its voucher at the vault: paid ${red.paid} nanoTON (earned ${red.status.earned}, redeemed ${red.status.redeemed})`);
    }
    if (net.chain) {
      const vault = await net.chain.vaultBalance();
      const owed = await net.chainLedger.liabilities();
      console.log(`vault balance ${formatTon(vault)} ≥ ledger liabilities ${formatTon(owed)} (requester balances + unredeemed earnings; the rest is the owner's gas reserve)`);
    }
  } catch (e) {
    console.error(`demo job failed: ${(e as Error).message}`);
    process.exitCode = 1;
  }

  const stop = async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await net.stop();
  };
  if (process.env.COCOON_EXIT_AFTER_DEMO === "1") {
    await stop();
    process.exit(process.exitCode ?? 0);
  } else {
    console.log(`\nNetwork running. In another shell:  npx cocoon ask "hello"   (Ctrl-C to stop)`);
    process.once("SIGINT", () => void stop().then(() => process.exit(0)));
    process.once("SIGTERM", () => void stop().then(() => process.exit(0)));
  }
}
