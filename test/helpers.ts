import { randomBytes } from "node:crypto";
import { generateKemKey, generateSigningKey, type SigningKeyPair } from "../core/crypto/keys";
import { apiHostOf, signRequest } from "../core/crypto/request-auth";
import { startNetwork, type LocalNetwork, type NetworkOptions } from "../local/network";
import { startLocalAgents } from "../local/agents";
import { startAgent, type RunningAgent } from "../agent/runtime";
import { makeAttester } from "../agent/attest";
import { createBuiltinEngine, BUILTIN_DEFAULT_MODEL } from "../agent/engines/builtin";
import type { JobSource } from "../agent/sources/job-source";
import { CocoonClient } from "../client/sdk";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const MODEL = BUILTIN_DEFAULT_MODEL;

/** A raw signed HTTP call, so tests can also forge, replay and age requests. */
export async function signedFetch(
  url: string,
  key: SigningKeyPair | undefined,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  o: { headers?: Record<string, string>; now?: number; nonce?: string; rawBody?: string; auth?: string } = {},
) {
  const text = o.rawBody ?? (body === undefined ? "" : JSON.stringify(body));
  const headers: Record<string, string> = { ...(text ? { "content-type": "application/json" } : {}), ...o.headers };
  const idempotencyKey = Object.entries(headers).find(([k]) => k.toLowerCase() === "idempotency-key")?.[1];
  const auth = o.auth ?? (key ? signRequest(key, { method, path, body: text, host: apiHostOf(url), idempotencyKey, ...(o.now !== undefined ? { now: o.now } : {}), ...(o.nonce ? { nonce: o.nonce } : {}) }) : undefined);
  if (auth) headers["x-cocoon-auth"] = auth;
  const res = await fetch(url + path, { method, headers, ...(text ? { body: text } : {}) });
  const json = (await res.json()) as any;
  return { status: res.status, json };
}

export interface TestNet {
  net: LocalNetwork;
  agents: RunningAgent[];
  logs: string[];
  sent: string[];
  client(o?: { fund?: bigint }): Promise<CocoonClient>;
  stop(): Promise<void>;
}

/** A network with logs and queue traffic captured, plus `agentCount` well-behaved dev agents. */
export async function startTestNet(o: { agents?: Array<{ priceBps: number }>; config?: NetworkOptions["config"] } = {}): Promise<TestNet> {
  const logs: string[] = [];
  const net = await startNetwork({ logSink: (l) => logs.push(l), ...(o.config ? { config: o.config } : {}) });
  const sent: string[] = [];
  const send = net.queues.send.bind(net.queues);
  net.queues.send = async (q, body, opts) => {
    sent.push(JSON.stringify(body));
    return send(q, body, opts);
  };
  const home = mkdtempSync(join(tmpdir(), "cocoon-agents-"));
  const agents = await startLocalAgents(
    net.url,
    home,
    (o.agents ?? [{ priceBps: 10_000 }, { priceBps: 12_000 }]).map((a, i) => ({ name: `agent-${i}`, priceBps: a.priceBps })),
  );
  const extra: RunningAgent[] = [];
  return {
    net,
    agents,
    logs,
    sent,
    async client(c = {}) {
      const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
      if (c.fund !== 0n) await client.faucet(c.fund ?? 10_000_000_000n);
      return client;
    },
    async stop() {
      await Promise.all([...agents, ...extra].map((a) => a.stop()));
      await net.stop();
    },
  };
}

/** An agent that registers and heartbeats but never takes a job off its queue. */
export async function startSilentAgent(apiUrl: string, priceBps: number): Promise<RunningAgent> {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const never: JobSource = { next: (s) => new Promise((r) => setTimeout(() => r([]), Math.min(s, 1) * 1000)) };
  return startAgent({
    apiUrl,
    signingKey,
    kemKey,
    engine: createBuiltinEngine(),
    models: [{ model: MODEL, priceBps }],
    attest: makeAttester({ tier: "dev", signingKey, kemKey }),
    jobSource: never,
    heartbeatMs: 1000,
  });
}

export const randomCanary = () => `CANARY-${randomBytes(9).toString("hex")}`;
