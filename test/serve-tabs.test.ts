/**
 * `cocoon serve --tabs N` (issue 12): the CLI's OpenAI-compatible proxy, run as a user runs it
 * (its own process, a key file), draws its jobs on tabs of N slots: the coordinator sees a tab of
 * N slots opened by that key and the proxied jobs under it, holding nothing of their own.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { loadOrCreateKey } from "../api-client/keys";
import { CocoonClient } from "../client/sdk";
import type { JobItem } from "../core/jobs";
import type { TabItem } from "../core/jobs/tabs";
import { MODEL, startTestNet, type TestNet } from "./helpers";

/** `cocoon serve` in its own process; resolves with its base URL once it says where it listens. */
async function startServe(
  apiUrl: string,
  keyFile: string,
  extra: string[],
): Promise<{ url: string; child: ChildProcess; printed: () => string }> {
  const port = await freePort(); // the CLI takes no port 0
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "client/cli.ts", "serve", "--port", String(port), "--api", apiUrl, "--key", keyFile, "--allow-dev", ...extra],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cocoon serve did not start: ${out}`)), 30_000);
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /proxy on (http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
    child.on("exit", (code) => (clearTimeout(timer), reject(new Error(`cocoon serve exited ${code}: ${out}`))));
  });
  return { url, child, printed: () => out };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const chat = (url: string, content: string) =>
  fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content }], max_tokens: 16 }),
  });

describe("issue 12: cocoon serve --tabs", () => {
  let t: TestNet;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    t = await startTestNet();
  }, 60_000);
  afterAll(async () => {
    for (const c of children) c.kill("SIGKILL");
    await t?.stop();
  });

  const items = () => (t.net.store as unknown as { scan(table: string): Array<Record<string, unknown>> }).scan("jobs");

  it("the proxy's jobs go under a tab of that many slots, opened by the proxy's key, and hold nothing of their own", async () => {
    // Prepare: a funded key file, the proxy on it
    const keyFile = join(tempDir("cocoon-serve-tabs-"), "requester.key");
    const key = loadOrCreateKey(keyFile);
    await new CocoonClient({ apiUrl: t.net.url, key, allowDev: true }).faucet(10_000_000_000n);
    const serve = await startServe(t.net.url, keyFile, ["--tabs", "4"]);
    children.push(serve.child);

    // Act: two chat completions through the proxy
    const answers = [await chat(serve.url, "first"), await chat(serve.url, "second")];

    // Assess
    for (const a of answers) expect(a.status).toBe(200);
    const tabs = items().filter((i) => i.sk === "tab" && i.requester === key.id) as unknown as TabItem[];
    expect(tabs.map((x) => ({ slots: x.slots, status: x.status }))).toEqual([{ slots: 4, status: "open" }]);
    const jobs = items().filter((i) => i.sk === "job" && i.requester === key.id) as unknown as JobItem[];
    expect(jobs).toHaveLength(2);
    for (const j of jobs) {
      expect(j).toMatchObject({ status: "completed", tab: tabs[0]!.tabId });
      expect(j.holdInJob).toBeUndefined();
    }
  }, 60_000);

  it("without --tabs, the same proxy holds per job and opens no tab", async () => {
    const keyFile = join(tempDir("cocoon-serve-notabs-"), "requester.key");
    const key = loadOrCreateKey(keyFile);
    await new CocoonClient({ apiUrl: t.net.url, key, allowDev: true }).faucet(10_000_000_000n);
    const serve = await startServe(t.net.url, keyFile, []);
    children.push(serve.child);

    expect((await chat(serve.url, "third")).status).toBe(200);

    expect(items().filter((i) => i.sk === "tab" && i.requester === key.id)).toEqual([]);
    const jobs = items().filter((i) => i.sk === "job" && i.requester === key.id) as unknown as JobItem[];
    expect(jobs.map((j) => ({ status: j.status, tab: j.tab }))).toEqual([{ status: "completed", tab: undefined }]);
  }, 60_000);

  it("session 23 privacy review: with dev workers allowed, the startup says they can read the prompts (OpenAI clients never show x-cocoon-tier)", async () => {
    // Prepare
    const keyFile = join(tempDir("cocoon-serve-dev-"), "requester.key");
    loadOrCreateKey(keyFile);
    // Act: --allow-dev (startServe passes it)
    const serve = await startServe(t.net.url, keyFile, []);
    children.push(serve.child);
    for (const until = Date.now() + 5_000; !/SIMULATED/.test(serve.printed()) && Date.now() < until;)
      await new Promise((r) => setTimeout(r, 50));
    // Assess
    expect(serve.printed()).toMatch(/accepting dev workers too: their attestation is SIMULATED, whoever runs them can read your prompts/);
  }, 60_000);
});
