/**
 * Session 42: `cocoon serve` over the real SDK (serveBackend on a CocoonClient) serialises a
 * request once. Before, a chat with images was serialised by the proxy (its own size check,
 * requestPlaintextOf) and again by the SDK (sealableRequestOf, the bytes it seals); the size check
 * is now the SDK's alone, answered 413 request_too_large naming the route's field. The coordinator
 * is a stand-in on 127.0.0.1 that refuses everything and records what it was asked.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { generateSigningKey } from "../../core/crypto/keys";
import { caps } from "../../test/fixtures/serve-proxy";
import { startServeProxy } from "../serve";
import { CocoonClient } from "../sdk";
import { serveBackend } from "./sdk-backend";
import type { ServeProxy } from "./types";

const MODEL = "vl-model";
/** A PNG padded past its signature to `bytes`, as a data URL. */
const png = (bytes: number) =>
  `data:image/png;base64,${Buffer.concat([
    Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==", "base64"),
    Buffer.alloc(bytes, 7),
  ]).toString("base64")}`;
const imageParts = (url: string) => [
  { type: "text", text: "What is this?" },
  { type: "image_url", image_url: { url } },
];

let coordinator: Server;
/** what the stand-in coordinator was asked: method and path */
const asked: string[] = [];
let proxy: ServeProxy;

beforeAll(async () => {
  coordinator = createServer((req, res) => {
    asked.push(`${req.method} ${req.url?.split("?")[0]}`);
    req.resume();
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { code: "not_found", message: "a stand-in: nothing here" } }));
  });
  await new Promise<void>((r) => coordinator.listen(0, "127.0.0.1", r));
  const client = new CocoonClient({ apiUrl: `http://127.0.0.1:${(coordinator.address() as AddressInfo).port}`, key: generateSigningKey() });
  proxy = await startServeProxy({
    port: 0,
    ...serveBackend(client),
    listModels: async () => [{ id: MODEL, capabilities: caps({ vision: true }) }],
  });
});
afterAll(async () => {
  await proxy?.close();
  await new Promise((r) => coordinator?.close(r));
});
afterEach(() => {
  vi.restoreAllMocks();
  asked.length = 0;
});

async function post(path: string, body: unknown) {
  const res = await fetch(`${proxy.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { error?: { code: string; param: string | null; message: string } } };
}

/** How many times JSON.stringify was given a request plaintext (what is sealed: `kind` and the messages) during `f`. */
async function serialisations(f: () => Promise<unknown>): Promise<number> {
  const real = JSON.stringify.bind(JSON);
  let n = 0;
  vi.spyOn(JSON, "stringify").mockImplementation(((v: unknown, ...rest: [never, never]) => {
    if (typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === "chat" && "messages" in v) n++;
    return real(v, ...rest);
  }) as typeof JSON.stringify);
  await f();
  vi.restoreAllMocks();
  return n;
}

describe("session 42: cocoon serve serialises a request once (the SDK's sealableRequestOf)", () => {
  it("a chat with an image, or 64 KiB of text, is serialised once, by the SDK, before the network is asked for a quote", async () => {
    // Act
    const n = await serialisations(() =>
      post("/v1/chat/completions", { model: MODEL, messages: [{ role: "user", content: imageParts(png(1_000)) }] }),
    );
    const text = await serialisations(() =>
      post("/v1/chat/completions", { model: MODEL, messages: [{ role: "user", content: "x".repeat(64 * 1024) }] }),
    );
    // Assess: once each (a text chat was serialised once before too); the stand-in refused the prepare the SDK sent after it
    expect(n).toBe(1);
    expect(text).toBe(1);
    expect(asked).toContain("POST /v1/jobs/prepare");
  });

  it("images past the envelope's cap: 413 request_too_large from the SDK's own check, naming the route's field, nothing quoted", async () => {
    // Act
    const chat = await post("/v1/chat/completions", { model: MODEL, messages: [{ role: "user", content: imageParts(png(160_000)) }] });
    const responses = await post("/v1/responses", {
      model: MODEL,
      input: [
        {
          role: "user",
          content: [
            { type: "input_text", text: "What is this?" },
            { type: "input_image", image_url: png(160_000) },
          ],
        },
      ],
    });
    // Assess
    expect(chat.status).toBe(413);
    expect(chat.body.error).toMatchObject({ code: "request_too_large", param: "messages" });
    expect(chat.body.error!.message).toMatch(/fewer or smaller images/);
    expect(responses.status).toBe(413);
    expect(responses.body.error).toMatchObject({ code: "request_too_large", param: "input" });
    expect(asked.filter((a) => a.startsWith("POST /v1/jobs/prepare") || a === "POST /v1/jobs")).toEqual([]);
  });
});
