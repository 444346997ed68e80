import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { engineModels } from "../cli";
import { collectStream, EngineError } from "./engine";
import { createOpenAiEngine } from "./openai-http";
import { aRequest, errorOf } from "./engine-testing";

/**
 * Real engines' behaviours the adapter got wrong, each against a stand-in server on 127.0.0.1
 * that answers as the real one does (quoted in each test).
 */

interface StandIn {
  url: string;
  bodies: Array<Record<string, unknown>>;
  close(): Promise<void>;
}
const open: StandIn[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function standIn(handler: (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>) => void): Promise<StandIn> {
  const bodies: Array<Record<string, unknown>> = [];
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString("utf8")));
    req.on("end", () => {
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      if (raw) bodies.push(body);
      handler(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const s: StandIn = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    bodies,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  open.push(s);
  return s;
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
  res.end(JSON.stringify(body));
};

/**
 * llama-server while it loads its model (tools/server/server.cpp, middleware_server_state and
 * get_models): GET /v1/models is let through and lists the model with `"meta": null` (the meta
 * object comes once the model is ready); every other route answers 503
 * {"error":{"message":"Loading model","type":"unavailable_error","code":503}}.
 */
function llamaServer(state: { ready: boolean }) {
  return standIn((req, res) => {
    if (req.url === "/v1/models")
      return json(res, 200, {
        object: "list",
        data: [{ id: "qwen", object: "model", created: 0, owned_by: "llamacpp", meta: state.ready ? { n_ctx_train: 4096 } : null }],
      });
    if (!state.ready) return json(res, 503, { error: { message: "Loading model", type: "unavailable_error", code: 503 } });
    json(res, 200, {
      choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
      usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
    });
  });
}

describe("llama-server still loading its model", () => {
  it("is not up while its model list says meta: null, and is once the model is loaded", async () => {
    // Prepare
    const state = { ready: false };
    const server = await llamaServer(state);
    const engine = createOpenAiEngine({ baseUrl: server.url });

    // Act
    const loading = await errorOf(engine.models());
    const refused = await errorOf(engine.generate(aRequest({ model: "qwen" })));
    state.ready = true;
    const listed = await engine.models();

    // Assess: the list answers "down" exactly while the jobs would answer 503
    expect(loading).toBeInstanceOf(EngineError);
    expect((loading as EngineError).code).toBe("engine_unavailable");
    expect((loading as EngineError).message).toMatch(/still loading its model/);
    expect((refused as EngineError).details?.status).toBe(503);
    expect(listed).toEqual(["qwen"]);
  });

  it("keeps the agent from registering until the model is loaded (cocoon-agent's wait for its engine)", async () => {
    // Prepare
    const state = { ready: false };
    const server = await llamaServer(state);
    const engine = createOpenAiEngine({ baseUrl: server.url });
    const warnings: string[] = [];
    const log = { info() {}, warn: (msg: string) => void warnings.push(msg) };
    let waits = 0;
    const sleep = async () => {
      waits++;
      if (waits === 2) state.ready = true; // the load ends while the agent waits
    };

    // Act
    const models = await engineModels(engine, ["qwen"], log, { sleep });

    // Assess
    expect(models).toEqual(["qwen"]);
    expect(waits).toBe(2);
    expect(warnings.filter((w) => w.startsWith("engine not answering yet"))).toHaveLength(2);
  });

  it("still takes model lists without meta (vLLM, Ollama, LM Studio) and llama-server's router entries", async () => {
    // Prepare: vLLM {id, max_model_len}, Ollama {id: "llama3:8b", owned_by: "library"}, router {id, status}
    const server = await standIn((_req, res) =>
      json(res, 200, {
        object: "list",
        data: [
          { id: "meta-llama/Llama-3.1-8B-Instruct", object: "model", max_model_len: 8192 },
          { id: "llama3:8b", object: "model", owned_by: "library" },
          { id: "gemma", object: "model", owned_by: "llamacpp", status: { value: "unloaded" } },
        ],
      }),
    );

    // Act
    const models = await createOpenAiEngine({ baseUrl: server.url }).models();

    // Assess
    expect(models).toEqual(["meta-llama/Llama-3.1-8B-Instruct", "llama3:8b", "gemma"]);
  });
});

describe("request fields a requester's extra must not set", () => {
  it("never sends n_cmpl, llama-server's own name for n (several completions, the usage of any of them)", async () => {
    // llama-server (tools/server/server-schema.cpp): field_num("n_cmpl")->add_alias("n"), "Number of
    // completions to generate", up to its parallel slots. A requester's n_cmpl made it generate that
    // many for the price of one, and the stream's usage could be another completion's count.
    const server = await standIn((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end(
        `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "hi" }, finish_reason: "stop" }] })}\n\n` +
          `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 1 } })}\n\ndata: [DONE]\n\n`,
      );
    });
    const engine = createOpenAiEngine({ baseUrl: server.url });

    // Act
    await collectStream(engine.stream!(aRequest({ extra: { n_cmpl: 4, top_k: 40 } })));
    await collectStream(engine.streamCompletion!({ ...aRequest({ extra: { n_cmpl: 4 } }), prompt: "Once" }));

    // Assess
    expect(server.bodies[0]).not.toHaveProperty("n_cmpl");
    expect(server.bodies[0]).toMatchObject({ top_k: 40 });
    expect(server.bodies[1]).not.toHaveProperty("n_cmpl");
  });
});

describe("a server that streams no usage, whatever stream_options asks", () => {
  /**
   * Hugging Face text-generation-inference (huggingface/text-generation-inference#2531, open):
   * "OpenAI's /chat/completions endpoint has the option of returning a CompletionUsage object when
   * streaming ... TGI's implementation doesn't currently support this, however it is returned by
   * default in TGI when streaming=False". Older Ollama (ollama/ollama#4448) and llamafile before
   * its PR #713 answer the same way.
   */
  const tgi = () =>
    standIn((req, res, body) => {
      const chat = req.url === "/v1/chat/completions";
      if (body.stream === true) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        const piece = (text: string, finish: string | null) =>
          chat
            ? { choices: [{ index: 0, delta: { content: text }, finish_reason: finish }] }
            : { choices: [{ index: 0, text, finish_reason: finish }] };
        res.end(`data: ${JSON.stringify(piece("Hello", null))}\n\ndata: ${JSON.stringify(piece(" there", "stop"))}\n\ndata: [DONE]\n\n`);
        return;
      }
      json(res, 200, {
        choices: [
          chat
            ? { index: 0, message: { role: "assistant", content: "Hello there" }, finish_reason: "stop" }
            : { index: 0, text: "Hello there", finish_reason: "stop" },
        ],
        usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 },
      });
    });

  it("fails the first stream unbilled, then asks for whole answers, which carry the usage", async () => {
    // Prepare
    const server = await tgi();
    const engine = createOpenAiEngine({ baseUrl: server.url });

    // Act
    const first = await errorOf(collectStream(engine.stream!(aRequest())));
    const chat = await collectStream(engine.stream!(aRequest()));
    const text = await collectStream(engine.streamCompletion!({ ...aRequest(), prompt: "Say hello" }));

    // Assess: never billed without the engine's count, and only the first job lost
    expect(first.code).toBe("engine_bad_response");
    expect(first.message).toMatch(/usage/);
    expect(chat).toEqual({
      deltas: ["Hello there"],
      result: { text: "Hello there", usage: { promptTokens: 7, completionTokens: 2 }, finishReason: "stop", engine: expect.any(String) },
    });
    expect(text.result).toMatchObject({ text: "Hello there", usage: { promptTokens: 7, completionTokens: 2 } });
    expect(server.bodies.map((b) => b.stream)).toEqual([true, false, false]);
    expect(server.bodies[1]).not.toHaveProperty("stream_options");
  });
});
