/**
 * What `cocoon-agent start` makes of the engine's prompt cache (agent/cli.ts engineKindAt,
 * engineStartNotes). On llama-server each job takes a slot of its own (openai-http.ts,
 * slotsFromProps): a capacity above its total_slots queued the extra jobs in the adapter while
 * the network could have sent them to a free worker, so the capacity offered is capped at
 * total_slots, with a warning naming both numbers and the settings. Ollama and TGI keep one
 * prompt cache for all requesters with no per-request control: one warning says what to do.
 * vLLM (its cache_salt keeps requesters apart) and llama-server get no such warning.
 */
import { writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { tempDir } from "../test/temp-dir";
import { loadOrCreateKey } from "../api-client/keys";
import { engineKindAt } from "./cli";
import { runAgentCli } from "./cli-testing";
import { json, modelList, type StandIn, standIn, text } from "./engines/stand-in-testing";
import type { AgentOptions } from "./runtime";

/** What start() passed to startAgent; the stand-in then fails, so start() returns without serving. */
const started: AgentOptions[] = [];
vi.mock("./runtime", async (importOriginal) => ({
  ...(await importOriginal<typeof import("./runtime")>()),
  startAgent: async (o: AgentOptions) => {
    started.push(o);
    throw new Error("startAgent stand-in: options captured");
  },
}));

const open: StandIn[] = [];
beforeEach(() => void started.splice(0));
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

type Route = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Factory: a stand-in engine listing model "m" under /v1, answering `extra` routes, 404 elsewhere (as `notFound` says). */
async function engine(extra: Route, notFound: (res: ServerResponse) => void = (res) => json(res, 404, { detail: "Not Found" })) {
  const s = await standIn((req, res) => {
    if (req.url === "/v1/models") return json(res, 200, modelList(["m"]));
    if (req.url === "/health") return void res.writeHead(200).end();
    if (!extra(req, res)) notFound(res);
  });
  open.push(s);
  return s;
}

const llamaServer = (totalSlots: number) =>
  engine((req, res) => {
    if (req.url !== "/props") return false;
    json(res, 200, { total_slots: totalSlots, default_generation_settings: { n_ctx: 4096 }, modalities: { vision: false } });
    return true;
  });
const ollama = () =>
  engine(
    (req, res) => {
      if (req.url !== "/api/version") return false;
      json(res, 200, { version: "0.5.7" });
      return true;
    },
    (res) => text(res, 404, "404 page not found"),
  );
const tgi = () =>
  engine((req, res) => {
    if (req.url !== "/info") return false;
    json(res, 200, { model_id: "m", model_dtype: "torch.float16", router: "text-generation-router", version: "3.0.1" });
    return true;
  });
const vllm = () => engine(() => false);

/**
 * `cocoon-agent start` (dev tier) on the OpenAI-compatible engine `s`, from a home with a config
 * file and a worker key (so that start's only warnings are about the engine); its log lines and
 * the options it gave startAgent.
 */
async function startOn(s: StandIn, extra: string[] = []) {
  const home = tempDir("cocoon-agent-engine-cache-");
  writeFileSync(join(home, "agent.json"), JSON.stringify({}));
  loadOrCreateKey(join(home, "worker.key"));
  const argv = ["start", "--tier", "dev", "--api", "http://127.0.0.1:9", "--metrics-port", "0", "--engine", "openai"];
  const r = await runAgentCli([...argv, "--engine-url", s.url, ...extra], { COCOON_HOME: home });
  const lines = r.out
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { level: string; msg: string } & Record<string, unknown>);
  return { ...r, lines, warns: lines.filter((l) => l.level === "warn"), options: started.at(-1) };
}

describe("cocoon-agent start on llama-server: the capacity offered is capped at its slot count", () => {
  it("capacity 4, total_slots 1: startAgent is given engineCapacity 1 (it registers 1) and one warning names both numbers and the settings", async () => {
    // Prepare
    const s = await llamaServer(1);
    // Act
    const r = await startOn(s, ["--capacity", "4"]);
    // Assess
    expect(r.err).toContain("options captured");
    expect(r.options).toMatchObject({ capacity: 4, engineCapacity: 1 });
    expect(r.warns).toHaveLength(1);
    expect(r.warns[0]).toMatchObject({ capacity: 4, totalSlots: 1, offered: 1 });
    expect(r.warns[0]!.msg).toContain("capacity 4 is above llama-server's 1 slot(s)");
    expect(r.warns[0]!.msg).toContain("--parallel 4");
    expect(r.warns[0]!.msg).toContain("maxConcurrentJobs (--capacity, COCOON_MAX_JOBS or agent.json) to 1");
    // llama-server is not asked what Ollama or TGI would answer
    expect(s.seen.filter((l) => l === "GET /api/version" || l === "GET /info")).toEqual([]);
  });

  it.each([
    [1, 1],
    [2, 4],
  ])(
    "capacity %i, total_slots %i: nothing logged, the capacity kept (the slot count was read: engineCapacity)",
    async (capacity, slots) => {
      // Prepare
      const s = await llamaServer(slots);
      // Act
      const r = await startOn(s, ["--capacity", String(capacity)]);
      // Assess
      expect(r.err).toContain("options captured");
      expect(r.warns).toEqual([]);
      expect(r.options!.capacity).toBe(capacity);
      expect(r.options!.engineCapacity).toBe(slots);
    },
  );
});

describe("cocoon-agent start on an engine with one prompt cache for all requesters", () => {
  it("Ollama (GET /api/version): one warning that says what to do; the start goes on", async () => {
    // Prepare
    const s = await ollama();
    // Act
    const r = await startOn(s, ["--capacity", "4"]);
    // Assess
    expect(r.err).toContain("options captured");
    expect(r.warns).toHaveLength(1);
    expect(r.warns[0]).toMatchObject({ engine: "ollama" });
    expect(r.warns[0]!.msg).toContain("the engine is Ollama, which keeps one prompt cache for all requesters");
    expect(r.warns[0]!.msg).toContain("Run this server for one requester only");
    expect(r.warns[0]!.msg).toContain("llama-server or vLLM");
    expect(r.options).toMatchObject({ capacity: 4 });
    expect(r.options!.engineCapacity).toBeUndefined();
  });

  it("TGI (GET /info with model_id and router): one warning naming PREFIX_CACHING=0 as recalled", async () => {
    // Prepare
    const s = await tgi();
    // Act
    const r = await startOn(s);
    // Assess
    expect(r.err).toContain("options captured");
    expect(r.warns).toHaveLength(1);
    expect(r.warns[0]).toMatchObject({ engine: "tgi" });
    expect(r.warns[0]!.msg).toContain("the engine is TGI (text-generation-inference), which keeps one prompt cache for all requesters");
    expect(r.warns[0]!.msg).toContain("PREFIX_CACHING=0 in its environment: recalled, check your version");
    expect(r.options!.engineCapacity).toBeUndefined();
  });

  it("vLLM (each of those routes 404s): no warning, and only the engine's own routes were asked", async () => {
    // Prepare
    const s = await vllm();
    // Act
    const r = await startOn(s, ["--capacity", "4"]);
    // Assess
    expect(r.err).toContain("options captured");
    expect(r.warns).toEqual([]);
    expect(r.options).toMatchObject({ capacity: 4 });
    expect(r.options!.engineCapacity).toBeUndefined();
    expect(s.seen).toEqual(expect.arrayContaining(["GET /props", "GET /api/version", "GET /info"]));
  });
});

describe("engineKindAt", () => {
  it("asks nothing but the engine: a redirect elsewhere is not followed (read as other)", async () => {
    // Prepare: an engine whose /api/version and /info send the agent to another server
    const elsewhere = await standIn((_req, res) => json(res, 200, { version: "1", model_id: "m", router: "r", total_slots: 1 }));
    open.push(elsewhere);
    const s = await engine((req, res) => {
      res.writeHead(302, { location: `${elsewhere.url.replace(/\/v1$/, "")}${req.url}` }).end();
      return true;
    });
    // Act
    const kind = await engineKindAt(s.url);
    // Assess
    expect(kind).toEqual({ kind: "other" });
    expect(elsewhere.seen).toEqual([]);
  });

  it("an engine that never answers those routes is given up on within the bound (read as other)", async () => {
    // Prepare
    const s = await engine((_req, res) => {
      s.held.push(res);
      return true;
    });
    const t0 = Date.now();
    // Act
    const kind = await engineKindAt(s.url, { timeoutMs: 200 });
    // Assess
    expect(kind).toEqual({ kind: "other" });
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it("sends the engine's key, as the adapter does (llama-server --api-key)", async () => {
    // Prepare
    const s = await engine((req, res) => {
      if (req.url !== "/props") return false;
      if (req.headers.authorization !== "Bearer k") return (void json(res, 401, { error: { message: "Invalid API Key" } }), true);
      json(res, 200, { total_slots: 3 });
      return true;
    });
    // Act + Assess
    expect(await engineKindAt(s.url, { apiKey: "k" })).toEqual({ kind: "llama-server", totalSlots: 3 });
    expect(await engineKindAt(s.url)).toEqual({ kind: "other" });
  });
});
