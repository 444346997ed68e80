/**
 * `cocoon serve --model-alias`: an app that hard-codes OpenAI's model names (gpt-4o-mini,
 * text-embedding-3-small, LangChain's and LlamaIndex's defaults) was answered 404
 * model_not_found, so a base-URL swap alone did not move it to Cocoon. With an alias the job runs
 * on the aliased Cocoon model, checked against that model's capabilities, and the answer names
 * the model as the app asked (OpenAI's clients and LangChain read it back: response_metadata.model_name).
 * Through the official openai client on a proxy over a faked network (loopback only).
 */
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { anAnswer, caps, closeProxies, startFakedProxy } from "../../test/fixtures/serve-proxy";
import { addModelAlias, ModelAliasError, modelAliasTable, parseModelAlias } from "./aliases";
import { ServeProxyError } from "./errors";
import type { EmbedRequest, ServeProxyOptions } from "./types";
import { startServeProxy } from "../serve";

const COCOON = "qwen2-7b";
const EMBEDDER = "bge-small";
const APP = "gpt-4o-mini";
const hi = [{ role: "user" as const, content: "Capital of France?" }];

afterEach(closeProxies);

/** A network offering a chat model and an embedding model, behind a proxy with `aliases`. */
async function aliasedProxy(aliases: Record<string, string>, o: Partial<ServeProxyOptions> = {}) {
  const embeds: EmbedRequest[] = [];
  const proxy = await startFakedProxy(
    [
      { id: COCOON, capabilities: caps({ completions: true }) },
      { id: EMBEDDER, capabilities: caps({ chat: false, streaming: false, embeddings: true }) },
    ],
    {
      modelAliases: aliases,
      ask: async () => anAnswer(COCOON),
      embed: async (req) => (embeds.push(req), { ...anAnswer(EMBEDDER), vectors: [[0.5, 0.25]], usage: { promptTokens: 3 } }),
      ...o,
    },
  );
  return { ...proxy, embeds };
}

/** The error the official client throws for `act`. */
async function apiError(act: () => Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  const err = await act().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpenAI.APIError);
  return err as InstanceType<typeof OpenAI.APIError>;
}

describe("an app asking for an OpenAI model name is served by the aliased Cocoon model", () => {
  it("chat completions: the job asks for the Cocoon model, the answer names gpt-4o-mini", async () => {
    // Prepare
    const { openai, calls } = await aliasedProxy({ [APP]: COCOON });
    // Act
    const r = await openai.chat.completions.create({ model: APP, messages: hi });
    // Assess
    expect(calls.map((c) => c.model)).toEqual([COCOON]);
    expect(r.model).toBe(APP);
    expect(r.choices[0]!.message.content).toBe("Paris.");
  });

  it("streamed chat completions: every chunk names gpt-4o-mini", async () => {
    // Prepare
    const { openai, calls } = await aliasedProxy({ [APP]: COCOON });
    // Act
    const stream = await openai.chat.completions.create({ model: APP, messages: hi, stream: true });
    const models: string[] = [];
    let text = "";
    for await (const chunk of stream) {
      models.push(chunk.model);
      text += chunk.choices[0]?.delta.content ?? "";
    }
    // Assess
    expect(calls.map((c) => c.model)).toEqual([COCOON]);
    expect(text).toBe("Paris.");
    expect(new Set(models)).toEqual(new Set([APP]));
  });

  it("completions (gpt-3.5-turbo-instruct)", async () => {
    // Prepare
    const { openai, calls } = await aliasedProxy({ "gpt-3.5-turbo-instruct": COCOON });
    // Act
    const r = await openai.completions.create({ model: "gpt-3.5-turbo-instruct", prompt: "The capital of France is" });
    // Assess
    expect(calls.map((c) => c.model)).toEqual([COCOON]);
    expect(r.model).toBe("gpt-3.5-turbo-instruct");
  });

  it("the Responses API", async () => {
    // Prepare
    const { openai, calls } = await aliasedProxy({ "gpt-4o": COCOON });
    // Act
    const r = await openai.responses.create({ model: "gpt-4o", input: "Capital of France?" });
    // Assess
    expect(calls.map((c) => c.model)).toEqual([COCOON]);
    expect(r.model).toBe("gpt-4o");
    expect(r.output_text).toBe("Paris.");
  });

  it("embeddings (text-embedding-3-small)", async () => {
    // Prepare
    const { openai, embeds } = await aliasedProxy({ "text-embedding-3-small": EMBEDDER });
    // Act
    const r = await openai.embeddings.create({ model: "text-embedding-3-small", input: "hello" });
    // Assess
    expect(embeds.map((e) => e.model)).toEqual([EMBEDDER]);
    expect(r.model).toBe("text-embedding-3-small");
    expect(r.data[0]!.embedding).toEqual([0.5, 0.25]);
  });

  it("a name with no alias is asked as it is", async () => {
    // Prepare
    const { openai, calls } = await aliasedProxy({ [APP]: COCOON });
    // Act
    const r = await openai.chat.completions.create({ model: COCOON, messages: hi });
    // Assess
    expect(calls.map((c) => c.model)).toEqual([COCOON]);
    expect(r.model).toBe(COCOON);
  });

  it("an alias wins over a network model of the same name", async () => {
    // Prepare: the network also offers a model called gpt-4o-mini
    const { openai, calls } = await aliasedProxy(
      { [APP]: COCOON },
      {
        listModels: async () => [
          { id: COCOON, capabilities: caps() },
          { id: APP, capabilities: caps() },
        ],
      },
    );
    // Act
    await openai.chat.completions.create({ model: APP, messages: hi });
    const listed = await openai.models.list();
    // Assess
    expect(calls.map((c) => c.model)).toEqual([COCOON]);
    expect(listed.data.filter((m) => m.id === APP)).toEqual([expect.objectContaining({ id: APP, alias_of: COCOON })]);
  });
});

describe("what the app cannot do through an alias is refused as for the aliased model", () => {
  it("a feature the aliased model lacks is a 400 naming the field (and the model that lacks it)", async () => {
    // Prepare: the Cocoon model has no function calling
    const { openai, calls } = await aliasedProxy({ [APP]: COCOON });
    const tools = [{ type: "function" as const, function: { name: "lookup", parameters: { type: "object" } } }];
    // Act
    const err = await apiError(() => openai.chat.completions.create({ model: APP, messages: hi, tools }));
    // Assess
    expect([err.status, err.code, err.param]).toEqual([400, "unsupported_parameter", "tools"]);
    expect(err.message).toContain(`"${COCOON}"`);
    expect(calls).toEqual([]);
  });

  it("embeddings through an alias of a chat-only model are a 400 naming model", async () => {
    // Prepare
    const { openai, embeds } = await aliasedProxy({ "text-embedding-3-small": COCOON });
    // Act
    const err = await apiError(() => openai.embeddings.create({ model: "text-embedding-3-small", input: "hello" }));
    // Assess
    expect([err.status, err.param]).toEqual([400, "model"]);
    expect(embeds).toEqual([]);
  });

  it("an alias whose model no worker offers is a 404 model_not_found naming the alias and its target", async () => {
    // Prepare
    const { openai, calls } = await aliasedProxy({ [APP]: "not-on-offer" });
    // Act
    const err = await apiError(() => openai.chat.completions.create({ model: APP, messages: hi }));
    const card = await apiError(() => openai.models.retrieve(APP));
    // Assess
    expect([err.status, err.code, err.param]).toEqual([404, "model_not_found", "model"]);
    expect(err.message).toContain(APP);
    expect(err.message).toContain("not-on-offer");
    expect(card.status).toBe(404);
    expect(calls).toEqual([]);
  });
});

describe("GET /v1/models lists the aliases", () => {
  it("as models of their own id, with the aliased model's capabilities; an alias of a model not on offer is not listed", async () => {
    // Prepare
    const { openai } = await aliasedProxy({ [APP]: COCOON, "text-embedding-3-small": EMBEDDER, "gpt-4o": "not-on-offer" });
    // Act
    const listed = (await openai.models.list()).data as Array<OpenAI.Models.Model & Record<string, unknown>>;
    // Assess
    const byId = new Map(listed.map((m) => [m.id, m]));
    expect([...byId.keys()].sort()).toEqual([EMBEDDER, "gpt-4o-mini", COCOON, "text-embedding-3-small"].sort());
    expect(byId.get(APP)).toEqual({ ...byId.get(COCOON), id: APP, alias_of: COCOON });
    expect(byId.get("text-embedding-3-small")).toMatchObject({ alias_of: EMBEDDER, capabilities: { embeddings: true, chat: false } });
  });

  it("GET /v1/models/{alias} answers the alias's card", async () => {
    // Prepare
    const { openai } = await aliasedProxy({ [APP]: COCOON });
    // Act
    const card = (await openai.models.retrieve(APP)) as OpenAI.Models.Model & Record<string, unknown>;
    // Assess
    expect(card).toMatchObject({ id: APP, object: "model", alias_of: COCOON, capabilities: { chat: true, completions: true } });
  });
});

describe("the alias table is checked before the proxy listens", () => {
  it.each([
    ["gpt-4o-mini", "no ="],
    ["=qwen2-7b", "no alias"],
    ["gpt-4o-mini=", "no target"],
    ["gpt-4o-mini=qwen=2", "two ="],
    ["gpt 4o=qwen2-7b", "whitespace"],
  ])("a malformed pair (%s: %s) is a ModelAliasError saying the form", (pair) => {
    // Act + Assess
    expect(() => parseModelAlias(pair)).toThrow(ModelAliasError);
    expect(() => parseModelAlias(pair)).toThrow(/<openai-name>=<cocoon-model>/);
  });

  it("a well-formed pair keeps slashes, colons and dots of real model names", () => {
    // Act + Assess
    expect(parseModelAlias("gpt-4o-mini=Qwen/Qwen2.5-7B-Instruct:q4")).toEqual(["gpt-4o-mini", "Qwen/Qwen2.5-7B-Instruct:q4"]);
  });

  it("an alias defined twice is refused, even with the same target", () => {
    // Prepare
    const table = addModelAlias(new Map(), APP, COCOON);
    // Act + Assess
    expect(() => addModelAlias(table, APP, "llama-3-8b")).toThrow(expect.objectContaining({ code: "duplicate_model_alias" }));
    expect(() => addModelAlias(table, APP, COCOON)).toThrow(/defined twice/);
  });

  it("an alias of an alias, in either order, or of itself, is refused", () => {
    // Act + Assess
    const chained = expect.objectContaining({ code: "chained_model_alias" });
    expect(() => addModelAlias(new Map([["gpt-4o", APP]]), APP, COCOON)).toThrow(chained);
    expect(() => addModelAlias(new Map([[APP, COCOON]]), "gpt-4o", APP)).toThrow(chained);
    expect(() => addModelAlias(new Map(), APP, APP)).toThrow(chained);
    expect(modelAliasTable({ [APP]: COCOON, "gpt-4o": COCOON })).toEqual(
      new Map([
        [APP, COCOON],
        ["gpt-4o", COCOON],
      ]),
    );
  });

  it("startServeProxy refuses a bad table with ServeProxyError invalid_model_alias, before it listens", async () => {
    // Act
    const err = await startServeProxy({ port: 0, ask: async () => anAnswer(COCOON), modelAliases: { a: "b", b: "c" } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Assess
    expect(err).toBeInstanceOf(ServeProxyError);
    expect(err).toMatchObject({ code: "invalid_model_alias" });
  });
});
