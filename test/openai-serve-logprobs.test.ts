import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { createOpenAiEngine } from "../agent/engines/openai-http";
import type { RunningAgent } from "../agent/runtime";
import { type ServeProxy } from "../client/serve";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { serveOverNetwork } from "./fixtures/serve-proxy";

/**
 * Issue 11, "pass through instead of refusing: logprobs/top_logprobs": a model whose engine
 * returns log probabilities (an OpenAI-compatible server such as vLLM) says so in /v1/models,
 * and the official openai client gets them through cocoon serve, whole and streamed, sealed
 * like the text (they reveal the answer as much as the text does).
 */

const MODEL = "lp-model";
const WORDS = ["Log", " probs", " travel", " sealed"];
/** The fake server's log probability of word i, and its alternatives. */
const lp = (i: number) => -0.25 * (i + 1);
const tops = (i: number, k: number) => Array.from({ length: k }, (_, j) => ({ token: `alt${j}`, logprob: lp(i) - 1 - j, bytes: null }));

/** Asked this, the server answers LONG_TOKENS tokens in one piece, ignoring `stream: true` as some servers do. */
const LONG_PROMPT = "answer long, in one piece";
const LONG_TOKENS = Array.from({ length: 400 }, (_, i) => `中文${i % 10}`);
const longContent = (k: number) => LONG_TOKENS.map((t, i) => ({ token: t, logprob: -i / 1000, bytes: null, top_logprobs: tops(i, k) }));

/** What the fake server reports for an answer of `n` tokens to a prompt of 5. */
const usageOf = (n: number) => ({ prompt_tokens: 5, completion_tokens: n, total_tokens: 5 + n });

/**
 * The fake server's whole (unstreamed) chat.completion of `tokens`, with `logprobs` as given: one shape for
 * the short answer and the long one, which differ in nothing else.
 */
function answerWhole(res: ServerResponse, tokens: string[], logprobs: { content: unknown[] } | null): void {
  res.setHeader("content-type", "application/json").end(
    JSON.stringify({
      id: "x",
      object: "chat.completion",
      model: MODEL,
      choices: [{ index: 0, message: { role: "assistant", content: tokens.join("") }, finish_reason: "stop", logprobs }],
      usage: usageOf(tokens.length),
    }),
  );
}

interface Seen {
  body: Record<string, unknown>;
}

/** An OpenAI-shaped chat server that answers WORDS with a log probability per token when asked. */
async function startLogprobServer(): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const content = (k: number, i: number) => [{ token: WORDS[i]!, logprob: lp(i), bytes: null, top_logprobs: tops(i, k) }];
  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    if (req.url?.endsWith("/models")) return void res.end(JSON.stringify({ object: "list", data: [{ id: MODEL, max_model_len: 2048 }] }));
    const body = JSON.parse(raw) as Record<string, unknown>;
    seen.push({ body });
    const want = body.logprobs === true;
    const k = typeof body.top_logprobs === "number" ? body.top_logprobs : 0;
    if (JSON.stringify(body.messages).includes(LONG_PROMPT)) return void answerWhole(res, LONG_TOKENS, { content: longContent(k) });
    if (body.stream !== true) return void answerWhole(res, WORDS, want ? { content: WORDS.flatMap((_, i) => content(k, i)) } : null);
    res.writeHead(200, { "content-type": "text/event-stream" });
    WORDS.forEach((w, i) =>
      res.write(
        `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: w }, logprobs: want ? { content: content(k, i) } : null, finish_reason: null }] })}\n\n`,
      ),
    );
    res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\n`);
    res.write(`data: ${JSON.stringify({ choices: [], usage: usageOf(WORDS.length) })}\n\n`);
    res.end("data: [DONE]\n\n");
  };
  const server: Server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString("utf8")));
    req.on("end", () => handle(req, res, raw));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let upstream: Awaited<ReturnType<typeof startLogprobServer>>;
let net: LocalNetwork;
let agents: RunningAgent[];
let proxy: ServeProxy;
let openai: OpenAI;

beforeAll(async () => {
  upstream = await startLogprobServer();
  net = await startNetwork({ chain: false });
  agents = await startLocalAgents(net.url, tempDir("cocoon-logprobs-"), [
    {
      name: "lp",
      priceBps: 10_000,
      engine: createOpenAiEngine({ baseUrl: upstream.url, capabilities: { logprobs: true } }),
      models: [MODEL],
    },
  ]);
  ({ proxy, openai } = await serveOverNetwork(net.url));
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await Promise.all((agents ?? []).map((a) => a.stop()));
  await net?.stop();
  await upstream?.close();
});

const expected = (k: number) =>
  WORDS.map((w, i) => ({
    token: w,
    logprob: lp(i),
    top_logprobs: tops(i, k).map((t) => ({ token: t.token, logprob: t.logprob })),
  }));

describe("logprobs through cocoon serve, where the engine returns them", () => {
  it("lists the model with logprobs: true", async () => {
    // Act
    const models = (await openai.models.list()).data as Array<OpenAI.Models.Model & { capabilities?: Record<string, unknown> }>;
    // Assess
    expect(models.find((m) => m.id === MODEL)?.capabilities).toMatchObject({ chat: true, logprobs: true });
  });

  it("answers a chat with each token's log probability and its top alternatives (asked of the engine as sent)", async () => {
    // Act
    const r = await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "hi" }],
      logprobs: true,
      top_logprobs: 2,
    });
    // Assess
    expect(r.choices[0]!.message.content).toBe(WORDS.join(""));
    expect(r.choices[0]!.logprobs?.content).toMatchObject(expected(2));
    expect(r.choices[0]!.logprobs?.content?.[0]?.bytes).toEqual([...Buffer.from(WORDS[0]!, "utf8")]);
    expect(upstream.seen.at(-1)!.body).toMatchObject({ logprobs: true, top_logprobs: 2 });
  });

  it("streams them with the deltas they belong to", async () => {
    // Act
    const stream = await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "hi" }],
      logprobs: true,
      top_logprobs: 1,
      stream: true,
    });
    const got: OpenAI.Chat.ChatCompletionTokenLogprob[] = [];
    let text = "";
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      if (!c) continue;
      text += c.delta.content ?? "";
      got.push(...(c.logprobs?.content ?? []));
    }
    // Assess
    expect(text).toBe(WORDS.join(""));
    expect(got).toMatchObject(expected(1));
  });

  it("refuses them for /v1/completions with a 400 naming logprobs (they travel for chat answers only)", async () => {
    // Prepare
    const before = upstream.seen.length;
    // Act
    const e = await openai.completions.create({ model: MODEL, prompt: "Once", logprobs: 1 }).catch((err: unknown) => err);
    // Assess
    expect(e).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e).toMatchObject({ status: 400, param: "logprobs", code: "unsupported_parameter" });
    expect(upstream.seen.length).toBe(before);
  });

  it("refuses top_logprobs without logprobs: true (400 naming top_logprobs), as OpenAI does", async () => {
    // Prepare
    const before = upstream.seen.length;
    // Act
    const e = await openai.chat.completions
      .create({ model: MODEL, messages: [{ role: "user", content: "hi" }], top_logprobs: 2 })
      .catch((err: unknown) => err);
    // Assess
    expect(e).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e).toMatchObject({ status: 400, param: "top_logprobs" });
    expect(upstream.seen.length).toBe(before);
  });

  it("sends none when none were asked for (logprobs: null, and not asked of the engine)", async () => {
    // Act
    const r = await openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hi" }] });
    // Assess
    expect(r.choices[0]!.logprobs).toBeNull();
    expect(upstream.seen.at(-1)!.body.logprobs).toBeUndefined();
  });

  // Session 16: one delta carrying 400 tokens' log probabilities with 20 alternatives each
  // (~500 KB of them, five chunks' worth) failed the job: the agent put them all in one chunk,
  // past the sealer's 96 KiB (engine_error, the requester refunded and answered with a 5xx).
  it.each([false, true])("a long answer in one piece with 20 alternatives a token arrives whole (stream: %s)", async (stream) => {
    // Act
    const request = { model: MODEL, messages: [{ role: "user" as const, content: LONG_PROMPT }], logprobs: true, top_logprobs: 20 };
    let text = "";
    const got: OpenAI.Chat.ChatCompletionTokenLogprob[] = [];
    if (stream) {
      for await (const chunk of await openai.chat.completions.create({ ...request, stream: true })) {
        text += chunk.choices[0]?.delta.content ?? "";
        got.push(...(chunk.choices[0]?.logprobs?.content ?? []));
      }
    } else {
      const r = await openai.chat.completions.create(request);
      text = r.choices[0]!.message.content ?? "";
      got.push(...(r.choices[0]!.logprobs?.content ?? []));
    }
    // Assess
    expect(text).toBe(LONG_TOKENS.join(""));
    expect(got.map((t) => t.token)).toEqual(LONG_TOKENS);
    expect(got.map((t) => t.top_logprobs.length)).toEqual(LONG_TOKENS.map(() => 20));
    expect(got.at(-1)).toMatchObject({ logprob: -0.399 });
    expect(got.at(-1)?.top_logprobs[19]).toMatchObject({ token: "alt19", logprob: lp(399) - 1 - 19 });
  });
});
