import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { generateKemKey, generateSigningKey, type SigningKeyPair } from "../core/crypto/keys";
import { apiHostOf, signRequest } from "../core/crypto/request-auth";
import { startNetwork, type LocalNetwork, type NetworkOptions } from "../local/network";
import { startLocalAgents } from "../local/agents";
import { startAgent, type AgentLog, type RunningAgent } from "../agent/runtime";
import { makeAttester } from "../agent/attest";
import { createBuiltinEngine, BUILTIN_DEFAULT_MODEL } from "../agent/engines/builtin";
import type { JobSource } from "../agent/sources/job-source";
import { CocoonClient, type StreamEvent } from "../client/sdk";
import { join } from "node:path";
import { tempDir } from "./temp-dir";

export { tempDir } from "./temp-dir";

export const MODEL = BUILTIN_DEFAULT_MODEL;

/** Every event of a stream, and its last, which must be "done". */
export async function collectStream(
  it: AsyncIterable<StreamEvent>,
): Promise<{ events: StreamEvent[]; done: Extract<StreamEvent, { type: "done" }> }> {
  const events: StreamEvent[] = [];
  for await (const ev of it) events.push(ev);
  const done = events.at(-1);
  if (done?.type !== "done") throw new Error("no done");
  return { events, done };
}

/** The text the deltas of a stream add up to. */
export const streamText = (events: StreamEvent[]) =>
  events
    .filter((e) => e.type === "delta")
    .map((e) => (e.type === "delta" ? e.text : ""))
    .join("");

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
  const auth =
    o.auth ??
    (key
      ? signRequest(key, {
          method,
          path,
          body: text,
          host: apiHostOf(url),
          idempotencyKey,
          ...(o.now !== undefined ? { now: o.now } : {}),
          ...(o.nonce ? { nonce: o.nonce } : {}),
        })
      : undefined);
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
  // a dataDir of our own (removed after the file's tests): privacy tests read its files after stop()
  const net = await startNetwork({
    dataDir: tempDir("cocoon-net-"),
    logSink: (l) => logs.push(l),
    ...(o.config ? { config: o.config } : {}),
  });
  const sent: string[] = [];
  const send = net.queues.send.bind(net.queues);
  net.queues.send = async (q, body, opts) => {
    sent.push(JSON.stringify(body));
    return send(q, body, opts);
  };
  const home = tempDir("cocoon-agents-");
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

/** An agent that registers and heartbeats (serving `model`) but never takes a job off its queue. */
export async function startSilentAgent(apiUrl: string, priceBps: number, log?: AgentLog, model = MODEL): Promise<RunningAgent> {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const never: JobSource = { next: (s) => new Promise((r) => setTimeout(() => r([]), Math.min(s, 1) * 1000)) };
  return startAgent({
    apiUrl,
    signingKey,
    kemKey,
    engine: createBuiltinEngine({ models: [model] }),
    models: [{ model, priceBps }],
    attest: makeAttester({ tier: "dev", signingKey, kemKey }),
    jobSource: never,
    heartbeatMs: 1000,
    ...(log ? { log } : {}),
  });
}

/** A dev agent with the built-in engine that answers its jobs, its log kept (privacy tests scan it too). */
export async function startAnsweringAgent(apiUrl: string, priceBps: number, log: AgentLog): Promise<RunningAgent> {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  return startAgent({
    apiUrl,
    signingKey,
    kemKey,
    engine: createBuiltinEngine(),
    models: [{ model: MODEL, priceBps }],
    capacity: 4,
    attest: makeAttester({ tier: "dev", signingKey, kemKey }),
    log,
  });
}

/** An agent log that keeps each line as JSON text in `lines`. */
export function agentLogTo(lines: string[]): AgentLog {
  const put = (level: string) => (msg: string, data?: Record<string, unknown>) =>
    void lines.push(JSON.stringify({ level, msg, ...data }, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
  return { info: put("info"), warn: put("warn") };
}

export const randomCanary = () => `CANARY-${randomBytes(9).toString("hex")}`;

// ---------------------------------------------------------------- the coordinator as a child process

export interface CoordinatorProcess {
  url: string;
  port: number;
  pid: number;
  /** what the process printed so far (stdout and stderr), for failure messages */
  output(): string;
  /** kill -9: no clean stop, no last save; resolves once the process is gone */
  kill9(): Promise<void>;
  /** SIGTERM: the coordinator's clean stop; resolves once the process exited */
  stop(): Promise<void>;
}

const repoRoot = join(fileURLToPath(new URL(".", import.meta.url)), "..");

/**
 * `npm start`'s coordinator alone (local/main.ts with COCOON_COORDINATOR_ONLY=1: handlers, LMDB
 * store, sandbox chain and watcher) in its own process, serving on 127.0.0.1. `port` 0 takes a
 * free one; pass the first start's port to come back on the same address.
 */
export async function startCoordinatorProcess(o: {
  home: string;
  port?: number;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}): Promise<CoordinatorProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "local/main.ts"], {
    cwd: repoRoot,
    env: { ...process.env, COCOON_HOME: o.home, PORT: String(o.port ?? 0), COCOON_COORDINATOR_ONLY: "1", ...o.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the coordinator did not come up within ${o.readyTimeoutMs ?? 30_000} ms:\n${out}`));
    }, o.readyTimeoutMs ?? 30_000);
    const look = () => {
      const m = /Cocoon coordinator up at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout.off("data", look);
        resolve(m[1]!);
      }
    };
    child.stdout.on("data", look);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the coordinator exited (${child.exitCode ?? child.signalCode}) before it was up:\n${out}`));
    });
  });
  return {
    url,
    port: Number(new URL(url).port),
    pid: child.pid!,
    output: () => out,
    async kill9() {
      if (!gone()) child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (gone()) return;
      child.kill("SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), 15_000)));
      const how = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (how === "late") {
        child.kill("SIGKILL");
        await exited;
        throw new Error(`the coordinator did not stop within 15 s of SIGTERM:\n${out}`);
      }
    },
  };
}

/** Polls `check` every `everyMs` until it returns something other than undefined; throws once `timeoutMs` passed. */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
