/**
 * A stop asked before the agent is up (agent/runtime.ts startAgent's `signal`): SIGTERM while
 * registration waits out a down API, or while the evidence for it is being made. Before, the
 * registration could not be stopped at all: it retried on (for ever under the CLI) and, once
 * the API answered, registered a worker its owner had asked to stop.
 */
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { API, ApiClient, ApiError } from "../api-client/api";
import { startNetwork } from "../local/network";
import { MODEL } from "../test/helpers";
import { makeAttester } from "./attest";
import { createBuiltinEngine } from "./engines/builtin";
import { AgentStoppedError, startAgent, type AgentOptions } from "./runtime";

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

/** A port on 127.0.0.1 with nothing listening: every request is refused (an API that is down). */
async function closedPort(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

/**
 * A dev agent's options with its own keys; `warned` collects the messages it logs as warnings.
 * `gate` holds its evidence back until it resolves.
 */
function options(apiUrl: string, o: Partial<AgentOptions> = {}, gate?: () => Promise<void>) {
  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  const warned: string[] = [];
  const attest = makeAttester({ tier: "dev", signingKey, kemKey });
  return {
    warned,
    signingKey,
    options: {
      apiUrl,
      signingKey,
      kemKey,
      engine: createBuiltinEngine(),
      models: [{ model: MODEL }],
      attest: async (nonce, at) => {
        await gate?.();
        return attest(nonce, at);
      },
      log: { info() {}, warn: (m: string) => void warned.push(m) },
      ...o,
    } satisfies AgentOptions,
  };
}

/** `p`'s outcome if it settles within `ms`, else "pending". */
const within = (p: Promise<unknown>, ms: number) =>
  Promise.race([
    p.then(
      () => "resolved" as const,
      (e: unknown) => e,
    ),
    new Promise<"pending">((r) => setTimeout(() => r("pending"), ms)),
  ]);

const until = async (what: string, check: () => boolean, ms = 5_000) => {
  for (const t0 = Date.now(); !check(); await new Promise((r) => setTimeout(r, 10)))
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
};

describe("agent runtime: a stop before the agent is up", () => {
  it("ends a registration that waits out a down API at once, without waiting out its backoff", async () => {
    // Prepare: the API down, registration retrying for ever with waits of a minute
    const stop = new AbortController();
    const { options: o, warned } = options(await closedPort(), {
      registerRetryMs: Infinity,
      backoff: { baseMs: 60_000, capMs: 60_000, random: () => 0.99 },
      signal: stop.signal,
    });
    const starting = startAgent(o);
    starting.catch(() => {});
    await until("a failed registration", () => warned.includes("register failed"));
    // Act
    stop.abort();
    const outcome = await within(starting, 1_000);
    // Assess
    expect(outcome).toBeInstanceOf(AgentStoppedError);
    expect(warned.filter((m) => m === "register failed")).toHaveLength(1);
  });

  it("registers nothing once stopped, even when the evidence it was making arrives after the stop", async () => {
    // Prepare: the local network; an attester that answers only when the test says
    const net = await startNetwork({ chain: false });
    cleanup.push(() => net.stop());
    const stop = new AbortController();
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let asked = false;
    const { options: o, signingKey } = options(net.url, { signal: stop.signal }, () => {
      asked = true;
      return released;
    });
    const starting = startAgent(o);
    starting.catch(() => {});
    await until("the evidence asked for", () => asked);
    // Act: the stop comes while the evidence is made; then the evidence arrives
    stop.abort();
    release();
    const outcome = await within(starting, 2_000);
    const status = await new ApiClient(net.url, signingKey).request(API.workerStatus).then(
      () => "registered",
      (e: unknown) => (e instanceof ApiError ? e.code : String(e)),
    );
    // Assess: stopped, and the coordinator never heard of this worker
    expect(outcome).toBeInstanceOf(AgentStoppedError);
    expect(status).toBe("not_a_worker");
  });
});
