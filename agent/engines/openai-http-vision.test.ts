/**
 * Whether an OpenAI-compatible engine reads images (its `vision` capability): as its owner says
 * (capabilities.vision, the agent's --engine-vision on|off), or with visionFromProps (the agent's
 * default, --engine-vision auto) as llama-server's GET /props says: `modalities.vision` true when
 * it was started with a multimodal projector. A server without /props (vLLM, Ollama: 404), an
 * older llama-server without `modalities`, or one that cannot be reached, is taken as no.
 */
import { afterEach, describe, expect, it } from "vitest";
import { startFakeOpenAiServer, type FakeOpenAiServer } from "../../test/fixtures/openai-server";
import { createOpenAiEngine } from "./openai-http";

const MODEL = "fake-model";
let server: FakeOpenAiServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** llama-server's GET /props, as it answers with `--mmproj` (vision) or without. */
const llamaProps = (vision: boolean) => ({
  default_generation_settings: { n_ctx: 4096 },
  total_slots: 1,
  model_path: "/models/gemma-3-4b-it-Q4_K_M.gguf",
  modalities: { vision, audio: false },
  build_info: "b6000",
});

describe("openai-http: vision from llama-server's /props", () => {
  it.each([
    ["says vision (started with --mmproj)", llamaProps(true), true],
    ["says no vision", llamaProps(false), false],
    ["has no modalities (an older llama-server)", { total_slots: 1 }, false],
    ["has no /props (vLLM, Ollama: 404)", undefined, false],
  ])("a server that %s: vision %s", async (_what, props, vision) => {
    // Prepare
    server = await startFakeOpenAiServer({ models: [MODEL], ...(props ? { props } : {}) });
    const engine = createOpenAiEngine({ baseUrl: server.url, visionFromProps: true });
    // Act
    const caps = await engine.capabilities!(MODEL);
    // Assess
    expect(caps.vision).toBe(vision);
    expect(caps.chat).toBe(true);
    expect(server.requests.filter((r) => r.path === "/props")).toHaveLength(1);
  });

  it("reads /props once; a read that failed is taken as no, and asked again once propsRetryMs passed (not before)", async () => {
    // Prepare: the first GET /props does not get through (the server restarting)
    server = await startFakeOpenAiServer({ models: [MODEL], props: llamaProps(true) });
    let cut = 1;
    const fetchImpl: typeof fetch = async (url, init) => {
      if (String(url).endsWith("/props") && cut-- > 0) throw new TypeError("fetch failed");
      return fetch(url, init);
    };
    const engine = createOpenAiEngine({ baseUrl: server.url, visionFromProps: true, fetchImpl, propsRetryMs: 200 });
    // Act
    const first = await engine.capabilities!(MODEL);
    const soon = await engine.capabilities!(MODEL);
    await new Promise((r) => setTimeout(r, 250));
    const later = await engine.capabilities!(MODEL);
    const after = await engine.capabilities!(MODEL);
    // Assess: the failed read, no read while waiting, then one read that holds
    expect([first.vision, soon.vision, later.vision, after.vision]).toEqual([false, false, true, true]);
    expect(server.requests.filter((r) => r.path === "/props")).toHaveLength(1);
  });

  it("the owner's setting wins over /props and asks nothing; without either, no vision and no /props read", async () => {
    // Prepare
    server = await startFakeOpenAiServer({ models: [MODEL], props: llamaProps(true) });
    // Act
    const off = await createOpenAiEngine({ baseUrl: server.url, visionFromProps: true, capabilities: { vision: false } }).capabilities!(
      MODEL,
    );
    const on = await createOpenAiEngine({ baseUrl: server.url, capabilities: { vision: true } }).capabilities!(MODEL);
    const unsaid = await createOpenAiEngine({ baseUrl: server.url }).capabilities!(MODEL);
    // Assess
    expect([off.vision, on.vision, unsaid.vision ?? false]).toEqual([false, true, false]);
    expect(server.requests.filter((r) => r.path === "/props")).toHaveLength(0);
  });
});
