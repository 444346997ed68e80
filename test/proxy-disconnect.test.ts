import type { IncomingMessage, ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { tempDir } from "./temp-dir";
import { createBuiltinEngine } from "../agent/engines/builtin";
import type { Engine } from "../agent/engines/engine";
import type { RunningAgent } from "../agent/runtime";
import { CocoonClient } from "../client/sdk";
import { mapAskError, serveBackend, startServeProxy, type AskStreamEvent, type ClientGone, type ServeProxy } from "../client/serve";
import { openStream, streamResponse } from "../client/serve/answer";
import { generateSigningKey } from "../core/crypto/keys";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { pollUntil } from "./helpers";

/**
 * An app that closes its connection while `cocoon serve` waits on the network (a killed curl,
 * an aborted fetch): the proxy aborts the SDK's call at once (and the SDK cancels the job, which
 * test/cancel-e2e.test.ts and client/serve/cancel.test.ts check), writes nothing more, and reports
 * no error: `onClientGone` is told once, `onError` never. The SDK's own request to the coordinator
 * (a submit or job read that waits for the answer) is closed at once too, not left for the
 * coordinator to answer into. Real local network, raw sockets on 127.0.0.1.
 */

const SLOW = "slow-echo";
const SLOW_EMBED = "slow-embed";
/** A chat answer of ~30 tokens takes ~6 s at this pace: a disconnect lands well before it. */
const MS_PER_TOKEN = 200;
const EMBED_MS = 4000;

/** An embeddings engine that takes EMBED_MS to answer. */
function slowEmbedEngine(): Engine {
  return {
    ...createBuiltinEngine({ models: [SLOW_EMBED] }),
    capabilities: async () => ({ chat: false, completions: false, embeddings: true, streaming: false, tools: false, jsonSchema: false }),
    embed: async (req) => {
      await new Promise((r) => setTimeout(r, EMBED_MS));
      return { vectors: req.input.map(() => [0.25, 0.5]), usage: { promptTokens: 2 }, engine: "slow-embed" };
    },
  };
}

/** One call of the SDK through the proxy, and when it ended. */
interface Call {
  kind: "ask" | "askStream" | "embed";
  endedAt?: number;
  error?: unknown;
}

let net: LocalNetwork;
let agents: RunningAgent[];
let proxy: ServeProxy;
let calls: Call[] = [];
let errors: unknown[] = [];
let gone: ClientGone[] = [];
let submitted = 0;

/** One of the SDK's requests to the coordinator (/v1/jobs…; the agents' are /v1/agent…), as the coordinator's server saw it. */
interface CoordinatorRequest {
  what: string;
  startedAt: number;
  endedAt?: number;
  /** false: the SDK closed it before the coordinator answered */
  answered?: boolean;
}
let coordinatorRequests: CoordinatorRequest[] = [];

beforeAll(async () => {
  net = await startNetwork({ chain: false, logSink: (line) => void (line.includes('"job submitted"') && submitted++) });
  // beside the coordinator's own handler: it only watches
  net.server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    if (!req.url?.startsWith("/v1/jobs")) return;
    const r: CoordinatorRequest = { what: `${req.method} ${req.url.split("?")[0]}`, startedAt: Date.now() };
    coordinatorRequests.push(r);
    res.on("close", () => {
      r.endedAt = Date.now();
      r.answered = res.writableEnded;
    });
  });
  agents = await startLocalAgents(net.url, tempDir("cocoon-proxy-disconnect-"), [
    { name: "slow", priceBps: 10_000, engine: createBuiltinEngine({ models: [SLOW], delayMsPerToken: MS_PER_TOKEN }), models: [SLOW] },
    { name: "embed", priceBps: 10_000, engine: slowEmbedEngine(), models: [SLOW_EMBED] },
  ]);
  const sdk = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
  await sdk.faucet(50_000_000_000n);
  const backend = serveBackend(sdk);
  /** The backend's promise, with when it settled recorded. */
  const watched = async <T>(call: Call, p: Promise<T>): Promise<T> => {
    calls.push(call);
    try {
      return await p;
    } catch (e) {
      call.error = e;
      throw e;
    } finally {
      call.endedAt = Date.now();
    }
  };
  proxy = await startServeProxy({
    port: 0,
    ...backend,
    ask: (req) => watched({ kind: "ask" }, backend.ask(req)),
    embed: (req) => watched({ kind: "embed" }, backend.embed!(req)),
    askStream: (req) =>
      (async function* () {
        const call: Call = { kind: "askStream" };
        calls.push(call);
        try {
          yield* backend.askStream!(req);
        } catch (e) {
          call.error = e;
          throw e;
        } finally {
          call.endedAt = Date.now();
        }
      })(),
    onError: (e) => errors.push(e),
    onClientGone: (g) => gone.push(g),
  });
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await Promise.all((agents ?? []).map((a) => a.stop()));
  await net?.stop();
});

beforeEach(() => {
  calls = [];
  errors = [];
  gone = [];
  coordinatorRequests = [];
});

/** A POST on a raw socket (so the test decides when the connection dies); `sendBytes` cuts the body short. */
function rawPost(path: string, body: unknown, sendBytes?: number): { socket: Socket; received: () => string } {
  const u = new URL(proxy.url);
  const socket = connect(Number(u.port), u.hostname);
  const data = Buffer.from(JSON.stringify(body));
  let received = "";
  socket.on("data", (d: Buffer) => (received += d.toString("utf8")));
  socket.on("error", () => {});
  socket.write(`POST ${path} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\nContent-Length: ${data.length}\r\n\r\n`);
  socket.write(sendBytes === undefined ? data : data.subarray(0, sendBytes));
  return { socket, received: () => received };
}

const chat = (stream: boolean) => ({
  model: SLOW,
  messages: [{ role: "user", content: "Tell me about the capital of France, the river, the bridges and the museums." }],
  max_tokens: 64,
  stream,
});

/** Kills the connection once the job is at the network; resolves with the SDK call, once it ended. */
async function cutAfterSubmit(path: string, body: unknown, kind: Call["kind"]) {
  const before = submitted;
  const postedAt = Date.now();
  const { socket } = rawPost(path, body);
  await pollUntil("the job to be submitted", () => (submitted > before ? true : undefined), 5000, 5);
  const cutAt = Date.now();
  socket.destroy();
  // this call's requests waiting on its job (one a previous test left behind is not; nor is a
  // cancel: a previous test's, asked again a second after a 404, can start inside this window)
  const open = coordinatorRequests.filter((r) => r.startedAt >= postedAt && r.endedAt === undefined && !r.what.endsWith("/cancel"));
  const call = await pollUntil("the SDK call to end", () => calls.find((c) => c.kind === kind && c.endedAt), 5000, 5);
  return { call, waitedMs: call.endedAt! - cutAt, open, cutAt };
}

/**
 * The SDK's requests that were waiting on the coordinator when the app went away were closed by
 * the SDK (unanswered) within `ms` of it, not held until the coordinator answered (the job's end).
 */
async function expectClosedBySdk(open: CoordinatorRequest[], cutAt: number, ms = 1000) {
  expect(open.length).toBeGreaterThan(0);
  await pollUntil("the SDK's requests to the coordinator to end", () => (open.every((r) => r.endedAt) ? true : undefined), 10_000, 5);
  for (const r of open) {
    expect(r.endedAt! - cutAt, `${r.what} ended this long after the app went away`).toBeLessThan(ms);
    expect(r.answered, `${r.what} answered`).toBe(false);
  }
}

describe("cocoon serve, an app that goes away before its answer", () => {
  it("chat, stream: false: the SDK call is aborted at once, no error is reported, onClientGone is told once", async () => {
    // Act
    const { call, waitedMs, open, cutAt } = await cutAfterSubmit("/v1/chat/completions", chat(false), "ask");
    // Assess: the proxy stopped waiting long before the job's ~6 s answer, and so did its submit to the coordinator
    expect(waitedMs).toBeLessThan(1000);
    expect(call.error).toMatchObject({ message: "client disconnected" });
    await expectClosedBySdk(open, cutAt);
    await pollUntil("the proxy's verdict", () => (gone.length || errors.length ? true : undefined), 2000, 5);
    expect(errors).toEqual([]);
    expect(gone).toEqual([{ requestId: expect.stringMatching(/^req_/), method: "POST", path: "/v1/chat/completions" }]);
  }, 20_000);

  it("chat, stream: true, mid-stream: the network's stream is closed at once, no error is reported, onClientGone is told once", async () => {
    // Prepare: the answer has begun to arrive
    const { socket, received } = rawPost("/v1/chat/completions", chat(true));
    await pollUntil("a first delta", () => (/"delta":\{"content":"[^"]/.test(received()) ? true : undefined), 5000, 5);
    // Act
    const cutAt = Date.now();
    socket.destroy();
    // Assess
    const call = await pollUntil("the network's stream to end", () => calls.find((c) => c.kind === "askStream" && c.endedAt), 5000, 5);
    expect(call.endedAt! - cutAt).toBeLessThan(1000);
    await pollUntil("the proxy's verdict", () => (gone.length || errors.length ? true : undefined), 2000, 5);
    expect(errors).toEqual([]);
    expect(gone).toEqual([{ requestId: expect.stringMatching(/^req_/), method: "POST", path: "/v1/chat/completions" }]);
  }, 15_000);

  it("chat, stream: true, before the first delta: the SDK call is aborted at once, no error is reported", async () => {
    // Act
    const { waitedMs } = await cutAfterSubmit("/v1/chat/completions", chat(true), "askStream");
    // Assess
    expect(waitedMs).toBeLessThan(1000);
    await pollUntil("the proxy's verdict", () => (gone.length || errors.length ? true : undefined), 2000, 5);
    expect(errors).toEqual([]);
    expect(gone).toHaveLength(1);
  }, 15_000);

  it("embeddings: the SDK call is aborted at once, no error is reported, onClientGone is told once", async () => {
    // Act
    const { call, waitedMs, open, cutAt } = await cutAfterSubmit("/v1/embeddings", { model: SLOW_EMBED, input: "hello" }, "embed");
    // Assess: the proxy stopped waiting long before the worker's EMBED_MS answer, and so did its submit to the coordinator
    expect(waitedMs).toBeLessThan(1000);
    expect(call.error).toMatchObject({ message: "client disconnected" });
    await expectClosedBySdk(open, cutAt);
    await pollUntil("the proxy's verdict", () => (gone.length || errors.length ? true : undefined), 2000, 5);
    expect(errors).toEqual([]);
    expect(gone).toEqual([{ requestId: expect.stringMatching(/^req_/), method: "POST", path: "/v1/embeddings" }]);
  }, 20_000);

  it("a body cut short by a closed connection is no error and asks nothing of the network", async () => {
    // Act
    const before = submitted;
    const { socket } = rawPost("/v1/chat/completions", chat(false), 20);
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    // Assess
    await pollUntil("the proxy's verdict", () => (gone.length || errors.length ? true : undefined), 2000, 5);
    expect(errors).toEqual([]);
    expect(gone).toEqual([{ requestId: expect.stringMatching(/^req_/), method: "POST", path: "/v1/chat/completions" }]);
    expect(calls).toEqual([]);
    expect(submitted).toBe(before);
  });
});

describe("streamResponse, an app that goes away mid-stream", () => {
  it("writes nothing more, not even [DONE], and tells onGone instead of onError", async () => {
    // Prepare: a stream that has sent one delta and waits for the next
    let more!: () => void;
    const waiting = new Promise<void>((r) => (more = r));
    const events = async function* (): AsyncGenerator<AskStreamEvent> {
      yield { type: "delta", text: "one", jobId: "job_x" };
      await waiting;
      yield { type: "delta", text: " two", jobId: "job_x" };
    };
    const ctl = new AbortController();
    const onError = vi.fn();
    const onGone = vi.fn();
    const res = streamResponse(
      {
        id: "chatcmpl-x",
        object: "chat.completion.chunk",
        created: 0,
        model: SLOW,
        includeUsage: true,
        n: 1,
        choice: (index, item) => ({ index, item }),
      },
      [await openStream(events())],
      { signal: ctl.signal, mapError: mapAskError, onError, onGone },
    );
    const body = (res.body as AsyncIterable<string>)[Symbol.asyncIterator]();
    const sent: string[] = [];
    while (!sent.some((s) => s.includes('"one"'))) sent.push(((await body.next()) as IteratorYieldResult<string>).value);
    // Act
    const pending = body.next();
    ctl.abort(new Error("client disconnected"));
    more();
    const after: string[] = [];
    for (let r = await pending; !r.done; r = await body.next()) after.push(r.value);
    // Assess
    expect(after).toEqual([]);
    expect(onGone).toHaveBeenCalledTimes(1);
    expect(onError).not.toHaveBeenCalled();
  });
});
