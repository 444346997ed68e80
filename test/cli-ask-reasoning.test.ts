import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { createOpenAiEngine } from "../agent/engines/openai-http";
import type { RunningAgent } from "../agent/runtime";
import { main } from "../client/cli";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { OLLAMA_MODEL, startReasoningServer, THOUGHTS, VLLM_MODEL, WORDS, type ReasoningServer } from "./fixtures/reasoning-server";

/**
 * `cocoon ask` and a reasoning model: the SDK gives its thinking apart from the answer (on each
 * streamed delta and on the whole answer), but the CLI printed the text only, so a reasoning
 * model sat silent while it thought. The thinking now goes to stderr (dimmed on a terminal,
 * tagged otherwise) so that stdout stays the answer alone; --no-reasoning leaves it out; --json
 * has it as `reasoning`. Through the real agent, network and SDK, with an engine stand-in that thinks.
 */

const home = tempDir("cocoon-cli-reasoning-");
process.env.COCOON_HOME = home; // no .cocoon/local.json of this checkout leaks in

let upstream: ReasoningServer;
let net: LocalNetwork;
let agents: RunningAgent[];

const THOUGHT = THOUGHTS.join("");
const ANSWER = WORDS.join("");

beforeAll(async () => {
  upstream = await startReasoningServer();
  net = await startNetwork({ chain: false });
  agents = await startLocalAgents(net.url, join(home, "agents"), [
    { name: "think", priceBps: 10_000, engine: createOpenAiEngine({ baseUrl: upstream.url }), models: [VLLM_MODEL, OLLAMA_MODEL] },
  ]);
  const fund = sinks();
  expect(await main(["faucet", "50", ...account()], fund.out, fund.err)).toBe(0);
}, 60_000);

afterAll(async () => {
  await Promise.all((agents ?? []).map((a) => a.stop()));
  await net?.stop();
  await upstream?.close();
});

const account = () => ["--api", net.url, "--key", join(home, "asker.key")];
const connection = () => [...account(), "--allow-dev", "--tier", "dev"];

/** stdout and stderr of one run; `tty`: stderr says it is a terminal. */
function sinks(tty = false) {
  const o = { out: "", err: "" };
  return {
    o,
    out: { write: (s: string) => (o.out += s) },
    err: { write: (s: string) => (o.err += s), ...(tty ? { isTTY: true } : {}) },
  };
}

async function ask(model: string, flags: string[] = [], tty = false) {
  const r = sinks(tty);
  const code = await main(["ask", "hi", "--model", model, "--max-tokens", "64", ...connection(), ...flags], r.out, r.err);
  return { code, ...r.o };
}

describe.each([
  { dialect: "reasoning_content (vLLM, llama-server)", model: VLLM_MODEL },
  { dialect: "reasoning (Ollama)", model: OLLAMA_MODEL },
])("cocoon ask prints a reasoning model's thinking on stderr: $dialect", ({ model }) => {
  it("streamed: the thinking on stderr as it comes, the answer alone on stdout", async () => {
    // Act
    const r = await ask(model);
    // Assess
    expect(r.code).toBe(0);
    expect(r.err).toContain(`[thinking] ${THOUGHT}\n`);
    expect(r.out.startsWith(`${ANSWER}\n`)).toBe(true);
    expect(r.out).not.toContain(THOUGHTS[0]);
    expect(r.out).toContain("verified: attestation ✓");
  });
});

describe("cocoon ask and a reasoning model's thinking", () => {
  it("on a terminal the thinking is dimmed (as the network delivers it) and ended by a newline, with no tag", async () => {
    // Act
    const r = await ask(VLLM_MODEL, [], true);
    // Assess
    expect(r.code).toBe(0);
    // eslint-disable-next-line no-control-regex
    const dimmed = [...r.err.matchAll(/\x1b\[2m([^\x1b]*)\x1b\[22m/g)].map((m) => m[1]).join("");
    expect(dimmed).toBe(THOUGHT);
    expect(r.err.endsWith("\x1b[22m\n")).toBe(true);
    expect(r.err).not.toContain("[thinking]");
    expect(r.out.startsWith(`${ANSWER}\n`)).toBe(true);
  });

  it("--no-stream: the thinking on stderr, the answer alone on stdout", async () => {
    // Act
    const r = await ask(VLLM_MODEL, ["--no-stream"]);
    // Assess
    expect(r.code).toBe(0);
    expect(r.err).toContain(`[thinking] ${THOUGHT}\n`);
    expect(r.out.startsWith(`${ANSWER}\n`)).toBe(true);
    expect(r.out).not.toContain(THOUGHTS[0]);
  });

  it("--no-reasoning leaves the thinking out, streamed or not", async () => {
    // Act
    const streamed = await ask(VLLM_MODEL, ["--no-reasoning"]);
    const whole = await ask(VLLM_MODEL, ["--no-reasoning", "--no-stream"]);
    // Assess
    for (const r of [streamed, whole]) {
      expect(r.code).toBe(0);
      expect(r.err + r.out).not.toContain(THOUGHTS[0]);
      expect(r.out.startsWith(`${ANSWER}\n`)).toBe(true);
    }
  });

  it("--json has the thinking as `reasoning` beside `text`, and nothing on stderr", async () => {
    // Act
    const r = await ask(VLLM_MODEL, ["--json"]);
    // Assess
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ text: ANSWER, reasoning: THOUGHT });
    expect(r.err).toBe("");
  });
});
