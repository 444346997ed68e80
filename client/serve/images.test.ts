/**
 * Images in chat messages through cocoon serve: OpenAI's image_url content parts (and the
 * Responses API's input_image) reach the network as content parts for a model whose listing says
 * vision; a remote URL, a data URL that is not strict base64 of the type it names, a model without
 * vision are refused before anything reaches the network (nothing quoted, held or paid), each with
 * its code and the part it is about; a request past the envelope's cap is the SDK's to refuse, also
 * before anything is quoted.
 */
import { afterEach, describe, expect, it } from "vitest";
import { MAX_ENVELOPE_BYTES } from "../../events/envelope";
import { anAnswer, caps, closeProxies, startFakedProxy } from "../../test/fixtures/serve-proxy";
import { AskInputError, requestPlaintextOf } from "../sdk";
import { askOptions } from "./sdk-backend";
import { mapAskError } from "./errors";
import type { ModelInfo } from "./types";

const MODEL = "vl-model";
/** A 1×1 PNG, as a data URL. */
const PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

afterEach(closeProxies);

const aModel = (vision: boolean | undefined): ModelInfo => ({
  id: MODEL,
  capabilities: caps(vision === undefined ? {} : { vision }),
});

/** POST `path` with `body` as JSON; the status and the parsed answer. */
async function post(url: string, path: string, body: unknown) {
  const res = await fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as { error?: { code: string; param: string | null; message: string } } };
}

/** A chat with one user message of text and an image at `url` (part 1). */
const imageChat = (url: string, detail?: string) => ({
  model: MODEL,
  messages: [
    { role: "system", content: "Describe." },
    {
      role: "user",
      content: [
        { type: "text", text: "What is this?" },
        { type: "image_url", image_url: { url, ...(detail ? { detail } : {}) } },
      ],
    },
  ],
});

describe("cocoon serve: image_url parts", () => {
  it("passes a data: URL image to the network as content parts, in order, for a model whose listing says vision", async () => {
    // Prepare
    const { url, calls } = await startFakedProxy([aModel(true)]);
    // Act
    const r = await post(url, "/v1/chat/completions", imageChat(PNG, "low"));
    // Assess
    expect(r.status).toBe(200);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.messages![0]).toEqual({ role: "system", content: "Describe." });
    expect(calls[0]!.messages![1]!.content).toEqual([
      { type: "text", text: "What is this?" },
      { type: "image_url", image_url: { url: PNG, detail: "low" } },
    ]);
  });

  it("keeps a user message of text parts only as its text (the sealed request is as before images)", async () => {
    // Prepare
    const { url, calls } = await startFakedProxy([aModel(true)]);
    // Act
    const r = await post(url, "/v1/chat/completions", {
      model: MODEL,
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "a" },
            { type: "text", text: "b" },
          ],
        },
      ],
    });
    // Assess
    expect(r.status).toBe(200);
    expect(calls[0]!.messages![0]!.content).toBe("ab");
  });

  it("refuses a remote http(s) image URL with 400 remote_image_url naming the part, saying why", async () => {
    // Prepare
    const { url, calls } = await startFakedProxy([aModel(true)]);
    // Act
    const https = await post(url, "/v1/chat/completions", imageChat("https://example.com/cat.png"));
    const http = await post(url, "/v1/chat/completions", imageChat("HTTP://example.com/cat.png"));
    // Assess
    for (const r of [https, http]) {
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ code: "remote_image_url", param: "messages.1.content.1" });
      expect(r.body.error!.message).toMatch(/data:image.*reveal the request to that host/);
    }
    expect(calls).toHaveLength(0);
  });

  it.each([
    ["base64 with a stray character", PNG.replace("iVBOR", "iVB*R")],
    ["base64 without its padding", PNG.replace(/=+$/, "")],
    ["base64 whose last character carries bits that decode to nothing", PNG.replace(/g==$/, "h==")],
    ["bytes that are not the type it names", PNG.replace("image/png", "image/jpeg")],
    ["a type that is not taken", PNG.replace("image/png", "image/svg+xml")],
    ["no base64 at all", "data:image/png,hello"],
    ["an empty image", "data:image/png;base64,"],
  ])("refuses a data URL with %s: 400 invalid_image_url naming the part", async (_what, bad) => {
    // Prepare
    const { url, calls } = await startFakedProxy([aModel(true)]);
    // Act
    const r = await post(url, "/v1/chat/completions", imageChat(bad));
    // Assess
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: "invalid_image_url", param: "messages.1.content.1" });
    expect(calls).toHaveLength(0);
  });

  it.each([
    ["vision: false", false],
    ["no vision in its capabilities (an older agent)", undefined],
  ])("refuses an image for a model whose listing has %s: 400 unsupported_content naming the part", async (_what, vision) => {
    // Prepare
    const { url, calls } = await startFakedProxy([aModel(vision)]);
    // Act
    const r = await post(url, "/v1/chat/completions", imageChat(PNG));
    // Assess
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: "unsupported_content", param: "messages.1.content.1" });
    expect(r.body.error!.message).toMatch(/does not read images/);
    expect(calls).toHaveLength(0);
  });

  it("refuses an image for a model listed without capabilities at all (its workers cannot say they read images)", async () => {
    // Prepare
    const { url, calls } = await startFakedProxy([MODEL]);
    // Act
    const r = await post(url, "/v1/chat/completions", imageChat(PNG));
    // Assess
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: "unsupported_content", param: "messages.1.content.1" });
    expect(calls).toHaveLength(0);
  });

  it("refuses an image outside a user message as before (unsupported_content)", async () => {
    // Prepare
    const { url, calls } = await startFakedProxy([aModel(true)]);
    // Act
    const r = await post(url, "/v1/chat/completions", {
      model: MODEL,
      messages: [{ role: "system", content: [{ type: "image_url", image_url: { url: PNG } }] }],
    });
    // Assess
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: "unsupported_content", param: "messages.0.content.0" });
    expect(calls).toHaveLength(0);
  });

  it("answers 413 request_too_large when the SDK refuses a request whose images carry it past the envelope's cap", async () => {
    // Prepare: a PNG padded with bytes after its signature, ~160 KB of base64 (under the cap alone,
    // past it sealed); the network's ask checks the size as the SDK does, before anything is quoted
    // (session 42: the proxy no longer serialises the request for a check of its own, see
    // serialise-once42.test.ts for the real SDK)
    const { url, calls } = await startFakedProxy([aModel(true)], {
      ask: async (req) => {
        requestPlaintextOf(askOptions(req), false);
        return anAnswer(MODEL);
      },
    });
    const big = Buffer.concat([Buffer.from(PNG.split(",")[1]!, "base64"), Buffer.alloc(120_000, 7)]).toString("base64");
    const justUnder = Buffer.concat([Buffer.from(PNG.split(",")[1]!, "base64"), Buffer.alloc(100_000, 7)]).toString("base64");
    // Act
    const tooBig = await post(url, "/v1/chat/completions", imageChat(`data:image/png;base64,${big}`));
    const fits = await post(url, "/v1/chat/completions", imageChat(`data:image/png;base64,${justUnder}`));
    // Assess
    expect(big.length).toBeLessThan(MAX_ENVELOPE_BYTES);
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.error).toMatchObject({ code: "request_too_large", param: "messages" });
    expect(tooBig.body.error!.message).toMatch(/fewer or smaller images/);
    expect(fits.status).toBe(200);
    expect(calls).toHaveLength(2);
  });
});

describe("cocoon serve: the Responses API's input_image", () => {
  it("passes an input_image data URL as a chat image part, and refuses a remote one naming the part", async () => {
    // Prepare
    const { url, calls } = await startFakedProxy([aModel(true)]);
    const input = (image_url: string) => [
      {
        role: "user",
        content: [
          { type: "input_text", text: "What is this?" },
          { type: "input_image", image_url, detail: "high" },
        ],
      },
    ];
    // Act
    const ok = await post(url, "/v1/responses", { model: MODEL, instructions: "Describe.", input: input(PNG) });
    const remote = await post(url, "/v1/responses", { model: MODEL, input: input("https://example.com/cat.png") });
    const file = await post(url, "/v1/responses", {
      model: MODEL,
      input: [{ role: "user", content: [{ type: "input_image", file_id: "file-123" }] }],
    });
    // Assess
    expect(ok.status).toBe(200);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.messages![1]!.content).toEqual([
      { type: "text", text: "What is this?" },
      { type: "image_url", image_url: { url: PNG, detail: "high" } },
    ]);
    expect(remote.status).toBe(400);
    expect(remote.body.error).toMatchObject({ code: "remote_image_url", param: "input.0.content.1" });
    expect(file.status).toBe(400);
    expect(file.body.error).toMatchObject({ code: "unsupported_content", param: "input.0.content.0" });
  });

  it("refuses an input_image for a model without vision, naming the input item's part", async () => {
    // Prepare
    const { url, calls } = await startFakedProxy([aModel(false)]);
    // Act
    const r = await post(url, "/v1/responses", {
      model: MODEL,
      instructions: "Describe.",
      input: [{ role: "user", content: [{ type: "input_image", image_url: PNG }] }],
    });
    // Assess
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: "unsupported_content", param: "input.0.content.0" });
    expect(calls).toHaveLength(0);
  });
});

describe("mapAskError: the SDK's image refusals (a backend that asks the SDK itself)", () => {
  it("answers request_too_large 413 and remote_image_url / invalid_image_url 400, naming the part", () => {
    // Act
    const tooLarge = mapAskError(new AskInputError("messages", "too large", "request_too_large"));
    const remote = mapAskError(new AskInputError("messages.0.content.1", "remote", "remote_image_url"));
    const invalidUrl = mapAskError(new AskInputError("messages.0.content.1", "bad", "invalid_image_url"));
    // Assess
    expect(tooLarge).toMatchObject({ status: 413, type: "invalid_request_error", code: "request_too_large", param: "messages" });
    expect(remote).toMatchObject({ status: 400, type: "invalid_request_error", code: "remote_image_url", param: "messages.0.content.1" });
    expect(invalidUrl).toMatchObject({ status: 400, code: "invalid_image_url", param: "messages.0.content.1" });
  });
});
