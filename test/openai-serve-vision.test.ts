import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { createOpenAiEngine } from "../agent/engines/openai-http";
import type { RunningAgent } from "../agent/runtime";
import type { ServeProxy } from "../client/serve";
import { IMAGE_PROMPT_TOKENS } from "../events/images";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { FAKE_IMAGE_TOKENS, startFakeOpenAiServer, type FakeOpenAiServer } from "./fixtures/openai-server";
import { serveOverNetwork } from "./fixtures/serve-proxy";

/**
 * Images end to end: an OpenAI app sends image_url parts (and the Responses API's input_image)
 * to cocoon serve unchanged; the SDK seals them, the coordinator routes and holds by the header
 * alone, the worker opens them and hands its OpenAI-compatible engine (a stand-in llama-server on
 * 127.0.0.1 whose GET /props says vision, found by the agent's default --engine-vision auto) the
 * same parts. A model whose workers do not read images is refused at the proxy, naming the part,
 * and nothing reaches its engine.
 */

const VL = "vl-model";
const TEXT = "text-model";
const PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

let seeing: FakeOpenAiServer;
let blind: FakeOpenAiServer;
let net: LocalNetwork;
let agents: RunningAgent[];
let proxy: ServeProxy;
let openai: OpenAI;

beforeAll(async () => {
  seeing = await startFakeOpenAiServer({ models: [VL], vision: true, props: { modalities: { vision: true } } });
  blind = await startFakeOpenAiServer({ models: [TEXT], props: { modalities: { vision: false } } });
  net = await startNetwork({ chain: false });
  agents = await startLocalAgents(net.url, tempDir("cocoon-vision-"), [
    { name: "vl", priceBps: 10_000, engine: createOpenAiEngine({ baseUrl: seeing.url, visionFromProps: true }), models: [VL] },
    { name: "text", priceBps: 10_000, engine: createOpenAiEngine({ baseUrl: blind.url, visionFromProps: true }), models: [TEXT] },
  ]);
  ({ proxy, openai } = await serveOverNetwork(net.url));
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await Promise.all((agents ?? []).map((a) => a.stop()));
  await net?.stop();
  await seeing?.close();
  await blind?.close();
});

/** The last chat request the stand-in engine got: its messages. */
const lastMessages = (s: FakeOpenAiServer) =>
  (s.requests.filter((r) => r.path === "/v1/chat/completions").at(-1)?.body as { messages?: unknown } | undefined)?.messages;

const IMAGE_MESSAGE: OpenAI.Chat.ChatCompletionMessageParam = {
  role: "user",
  content: [
    { type: "text", text: "What is in this picture?" },
    { type: "image_url", image_url: { url: PNG, detail: "low" } },
  ],
};

describe("images through cocoon serve and the network", () => {
  it("lists vision for the model whose workers read images, and not for the other", async () => {
    // Act
    const models = (await openai.models.list()).data as Array<OpenAI.Models.Model & { capabilities?: Record<string, unknown> }>;
    // Assess
    expect(models.find((m) => m.id === VL)?.capabilities).toMatchObject({ chat: true, vision: true });
    expect(models.find((m) => m.id === TEXT)?.capabilities).toMatchObject({ chat: true, vision: false });
  });

  it("answers a chat with an image: the engine gets the very parts the app sent, and the bill is its count", async () => {
    // Act
    const r = await openai.chat.completions.create({ model: VL, messages: [IMAGE_MESSAGE] });
    // Assess
    expect(r.choices[0]!.message.content).toBe("Fake answer to: What is in this picture?");
    expect(lastMessages(seeing)).toStrictEqual([IMAGE_MESSAGE]);
    // the stand-in's count: 5 words, 1 for the turn, FAKE_IMAGE_TOKENS for the image (held: IMAGE_PROMPT_TOKENS)
    expect(r.usage?.prompt_tokens).toBe(5 + 1 + FAKE_IMAGE_TOKENS);
    expect(r.usage!.prompt_tokens).toBeLessThan(IMAGE_PROMPT_TOKENS);
  });

  it("streams an answer to an image", async () => {
    // Act
    const stream = await openai.chat.completions.create({ model: VL, messages: [IMAGE_MESSAGE], stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    // Assess
    expect(text).toBe("Fake answer to: What is in this picture?");
    expect(lastMessages(seeing)).toStrictEqual([IMAGE_MESSAGE]);
  });

  it("passes the Responses API's input_image to the engine as a chat image part", async () => {
    // Act
    const r = await openai.responses.create({
      model: VL,
      input: [
        {
          role: "user",
          content: [
            { type: "input_text", text: "Describe it" },
            { type: "input_image", image_url: PNG, detail: "auto" },
          ],
        },
      ],
    });
    // Assess
    expect(r.output_text).toBe("Fake answer to: Describe it");
    expect(lastMessages(seeing)).toStrictEqual([
      {
        role: "user",
        content: [
          { type: "text", text: "Describe it" },
          { type: "image_url", image_url: { url: PNG, detail: "auto" } },
        ],
      },
    ]);
  });

  it("refuses an image for the model whose workers do not read images, naming the part; its engine is never asked", async () => {
    // Prepare
    const before = blind.requests.length;
    // Act
    const err = await openai.chat.completions.create({ model: TEXT, messages: [IMAGE_MESSAGE] }).catch((e: unknown) => e);
    // Assess
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).code).toBe("unsupported_content");
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("messages.0.content.1");
    expect(blind.requests.slice(before).filter((r) => r.path === "/v1/chat/completions")).toHaveLength(0);
  });

  it("refuses a remote image URL with remote_image_url before anything is held", async () => {
    // Act
    const err = await openai.chat.completions
      .create({
        model: VL,
        messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://example.com/cat.png" } }] }],
      })
      .catch((e: unknown) => e);
    // Assess
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).code).toBe("remote_image_url");
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("messages.0.content.0");
  });
});
