/**
 * `cocoon serve --api http://127.0.0.1:PORT` on a local network whose settings file does not name
 * that API (another port, another directory) accepts only tdx workers, and its workers are dev
 * ones: every request got a 503 "no live worker in tiers [tdx]" that did not say how to accept
 * them. On loopback, when the network lists dev workers for the model, the 503 names --allow-dev.
 */
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { ApiError } from "../../api-client/api";
import type { StreamEvent } from "../sdk";
import { startServeProxy, type ServeProxy } from "../serve";
import { serveBackend, type DevHint, type NetworkClient } from "./sdk-backend";

const MODEL = "qwen2-7b";
const HINT: DevHint = { optIn: "--allow-dev (or COCOON_ALLOW_DEV=1)", retry: "restart cocoon serve" };

let proxy: ServeProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

/** The coordinator's refusal (core/jobs/prepare.ts) when no worker of the accepted tiers is live. */
const noWorkers = (tiers = "tdx") =>
  new ApiError(409, "no_workers", `no worker can take this job now: no live worker in tiers [${tiers}]; see GET /v1/models`);

/** Factory: a proxy over an SDK whose every job is refused with `refusal`, on a network listing `tiers` for the model. */
async function proxyOver(tiers: Record<string, number>, devHint: DevHint | undefined, refusal: () => Error = noWorkers) {
  const client: NetworkClient = {
    ask: async () => Promise.reject(refusal()),
    askStream: () =>
      (async function* (): AsyncGenerator<StreamEvent> {
        yield* [];
        throw refusal();
      })(),
    embed: async () => Promise.reject(refusal()),
    models: async () => ({ models: [{ model: MODEL, workers: Object.values(tiers).reduce((a, b) => a + b, 0), tiers }] }),
  };
  proxy = await startServeProxy({ port: 0, ...serveBackend(client, devHint ? { devHint } : {}) });
  return new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "unused", maxRetries: 0 });
}

const chat = (openai: OpenAI, stream = false) =>
  openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hi" }], ...(stream ? { stream: true } : {}) }).then(
    async (r) => {
      if (stream) for await (const _ of r as AsyncIterable<unknown>);
      return undefined;
    },
    (e: unknown) => e as { status?: number; message: string },
  );

describe("cocoon serve's 503 for want of a tdx worker, on a loopback API whose dev workers are not accepted", () => {
  it.each([false, true])("names --allow-dev when the network lists dev workers for the model (stream: %s)", async (stream) => {
    // Prepare
    const openai = await proxyOver({ dev: 2 }, HINT);
    // Act
    const e = await chat(openai, stream);
    // Assess
    expect(e?.status).toBe(503);
    expect(e?.message).toContain("no live worker in tiers [tdx]");
    expect(e?.message).toContain(`2 dev worker(s), with SIMULATED attestation, serve ${MODEL} here: restart cocoon serve with --allow-dev`);
  });

  it("says nothing of it where no dev worker serves the model, or where dev was asked for already", async () => {
    // Prepare
    const none = await proxyOver({ none: 1 }, HINT);
    const noDev = await chat(none);
    await proxy?.close();
    const asked = await proxyOver({ dev: 1 }, HINT, () => noWorkers("tdx, dev"));
    const withDev = await chat(asked);
    // Assess
    expect([noDev?.status, withDev?.status]).toEqual([503, 503]);
    expect(noDev?.message).not.toContain("--allow-dev");
    expect(withDev?.message).not.toContain("--allow-dev");
  });

  it("off loopback (no hint given: cocoon serve gives none) dev workers are never suggested", async () => {
    // Prepare
    const openai = await proxyOver({ dev: 3 }, undefined);
    // Act
    const e = await chat(openai);
    // Assess
    expect(e?.status).toBe(503);
    expect(e?.message).not.toContain("--allow-dev");
  });
});
