/**
 * Requesters share a worker's llama-server, which ignores `cache_salt`: it gives a job the idle
 * slot whose cached prompt shares the longest prefix with it (slot_prompt_similarity) and reuses
 * that prefix (cache_prompt, on by default), so a requester could time whether a guess at the
 * start of another requester's prompt is cached. With slotsFromProps (the agent's default) the
 * adapter reads the slot count from GET /props, pins each job to a slot of its own (`id_slot`), one
 * job a slot at a time, and lets a job reuse a slot's cache (`cache_prompt: true`) only where that
 * slot last held its own requester's prompt. The old adapter sent neither field: the server chose
 * the slot by similarity and reused whatever prefix it held.
 *
 * Against a stand-in llama-server on 127.0.0.1 that answers as tools/server does (GET /props with
 * total_slots; chat and text completions, whole or streamed) and records which slot each job used.
 */
import type { ServerResponse } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { configuredEngine } from "../cli";
import { createOpenAiEngine, createSlotPool } from "./openai-http";
import { aRequest, errorOf } from "./engine-testing";
import type { EngineStreamEvent } from "./engine";
import { chatAnswer, json, modelList, type StandIn, standIn as startStandIn } from "./stand-in-testing";

const open: StandIn[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

const ALICE = "a".repeat(32);
const BOB = "b".repeat(32);
const CAROL = "c".repeat(32);

type Job = { id_slot?: unknown; cache_prompt?: unknown; cache_salt?: unknown; stream?: unknown };

const completionAnswer = {
  id: "c",
  object: "text_completion",
  choices: [{ index: 0, text: "ok", finish_reason: "stop" }],
  usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
};

/** llama-server's SSE answer: one delta, the finish with usage, [DONE]. */
function sse(res: ServerResponse, chat: boolean) {
  res.writeHead(200, { "content-type": "text/event-stream" });
  const piece = chat ? { delta: { content: "ok" } } : { text: "ok" };
  res.write(`data: ${JSON.stringify({ choices: [{ index: 0, ...piece }] })}\n\n`);
  res.write(
    `data: ${JSON.stringify({ choices: [{ index: 0, ...(chat ? { delta: {} } : { text: "" }), finish_reason: "stop" }], usage: chatAnswer.usage })}\n\n`,
  );
  res.end("data: [DONE]\n\n");
}

/**
 * Factory: a stand-in llama-server with `slots` slots. `props` replaces its GET /props answer
 * (status and body); `hold` keeps job answers open until `answerAll`/`answerSlot`; `refuse` gives a
 * job's error status. It counts jobs running at once on one slot (`overlaps`), which must stay 0.
 */
async function llamaServer(
  o: {
    slots?: number;
    props?: () => { status: number; body: unknown };
    hold?: boolean;
    /** with hold: a streamed job's head and first delta are sent at once, the rest held */
    firstDelta?: boolean;
    refuse?: (job: Job) => number | undefined;
    /** true: the job's connection is cut with no answer (the server died under it) */
    cut?: (job: Job) => boolean;
    /** GET /health's status (default 200) */
    health?: () => number;
  } = {},
) {
  const running = new Map<number, number>();
  const pending: Array<{ slot: number; answer: () => void }> = [];
  let overlaps = 0;
  const s = await startStandIn((req, res, _s, body) => {
    if (req.method === "GET" && req.url === "/props") {
      const p = o.props?.() ?? {
        status: 200,
        body: { default_generation_settings: { n_ctx: 4096 }, total_slots: o.slots ?? 1, modalities: { vision: false } },
      };
      return json(res, p.status, p.body);
    }
    if (req.method === "GET" && req.url === "/v1/models") return json(res, 200, modelList(["m"]));
    if (req.method === "GET" && req.url === "/health") return json(res, o.health?.() ?? 200, { status: "ok" });
    const job = (body ?? {}) as Job;
    if (o.cut?.(job)) return void res.socket?.destroy();
    const chat = req.url === "/v1/chat/completions";
    const embeddingAnswer = { object: "list", data: [{ index: 0, embedding: [0.5, 0.5] }], usage: { prompt_tokens: 3, total_tokens: 3 } };
    const slot = typeof job.id_slot === "number" ? job.id_slot : -1;
    running.set(slot, (running.get(slot) ?? 0) + 1);
    if (slot >= 0 && running.get(slot)! > 1) overlaps++;
    const answer = () => {
      running.set(slot, running.get(slot)! - 1);
      const status = o.refuse?.(job);
      if (status) return json(res, status, { error: { code: status, message: "refused by the stand-in", type: "server_error" } });
      if (req.url === "/v1/embeddings") return json(res, 200, embeddingAnswer);
      if (job.stream === true) return sse(res, chat);
      json(res, 200, chat ? chatAnswer : completionAnswer);
    };
    if (o.hold && o.firstDelta && job.stream === true) {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "o" } }] })}\n\n`);
      pending.push({ slot, answer: () => res.end() });
    } else if (o.hold) pending.push({ slot, answer });
    else answer();
  });
  open.push(s);
  const jobs = () => s.bodies.filter((_, i) => s.seen[i]!.startsWith("POST")) as Job[];
  return {
    s,
    jobs,
    /** [id_slot, cache_prompt] of each job, in the order the server got them */
    pins: () => jobs().map((j) => [j.id_slot, j.cache_prompt]),
    overlaps: () => overlaps,
    propsReads: () => s.seen.filter((l) => l === "GET /props").length,
    answerSlot(slot: number) {
      const i = pending.findIndex((p) => p.slot === slot);
      if (i < 0) throw new Error(`no job is held on slot ${slot}`);
      pending.splice(i, 1)[0]!.answer();
    },
    answerAll() {
      for (const p of pending.splice(0)) p.answer();
    },
    /** Waits until the server has got `n` jobs. */
    async jobsSeen(n: number) {
      for (let i = 0; i < 1000 && jobs().length < n; i++) await new Promise((r) => setTimeout(r, 5));
      expect(jobs()).toHaveLength(n);
    },
  };
}

const llamaEngine = (url: string, over: Parameters<typeof createOpenAiEngine>[0] = { baseUrl: url }) =>
  createOpenAiEngine({ ...over, baseUrl: url, slotsFromProps: true });

async function drain(s: AsyncIterable<EngineStreamEvent>) {
  for await (const ev of s) if (ev.type === "done") return ev.result;
  throw new Error("stream ended without done");
}

const chatOf = (scope: string | undefined, signal?: AbortSignal) =>
  aRequest({ ...(scope ? { cacheScope: scope } : {}), ...(signal ? { signal } : {}) });

describe("openai-http on llama-server: a slot per job, its cache reused only by the requester who left it", () => {
  it("one slot, two requesters: the second requester's job is pinned to it without the first's cache; the first's reuse resumes only once the slot holds its prompt again", async () => {
    // Prepare
    const server = await llamaServer({ slots: 1 });
    const engine = llamaEngine(server.s.url);
    // Act
    for (const scope of [ALICE, ALICE, BOB, ALICE, ALICE]) await engine.generate(chatOf(scope));
    // Assess: the old adapter sent neither field (the server reused whatever prefix the slot held)
    expect(server.pins()).toEqual([
      [0, false], // nothing known of the slot: it may hold a prompt from before the agent started
      [0, true], // Alice's own
      [0, false], // Bob's job on a slot that holds Alice's prompt: evaluated whole
      [0, false], // and Alice's after Bob's
      [0, true],
    ]);
    expect(server.jobs().map((j) => j.cache_salt)).toEqual([ALICE, ALICE, BOB, ALICE, ALICE]);
  });

  it("two slots: each requester keeps a slot of its own; a third takes the one longest unused, and its former owner starts over elsewhere", async () => {
    // Prepare
    const server = await llamaServer({ slots: 2 });
    const engine = llamaEngine(server.s.url);
    // Act
    for (const scope of [ALICE, BOB, ALICE, BOB, CAROL, ALICE]) await engine.generate(chatOf(scope));
    // Assess
    expect(server.pins()).toEqual([
      [0, false],
      [1, false],
      [0, true],
      [1, true],
      [0, false], // Carol: slot 0 was used less recently than slot 1
      [1, false], // Alice: no slot holds her prompt now; slot 1 (Bob's) is the stalest
    ]);
  });

  it("pins every job path (chat, streamed chat, completion, streamed completion), with the salt still sent", async () => {
    // Prepare
    const server = await llamaServer({ slots: 1 });
    const engine = llamaEngine(server.s.url);
    // Act
    await engine.generate(chatOf(ALICE));
    await drain(engine.stream!(chatOf(ALICE)));
    await engine.complete!({ model: "m", prompt: "p", maxTokens: 8, cacheScope: ALICE });
    const last = await drain(engine.streamCompletion!({ model: "m", prompt: "p", maxTokens: 8, cacheScope: ALICE }));
    // Assess
    expect(last.text).toBe("ok");
    expect(server.s.seen.filter((l) => l.startsWith("POST"))).toEqual([
      "POST /v1/chat/completions",
      "POST /v1/chat/completions",
      "POST /v1/completions",
      "POST /v1/completions",
    ]);
    expect(server.pins()).toEqual([
      [0, false],
      [0, true],
      [0, true],
      [0, true],
    ]);
    expect(server.jobs().every((j) => j.cache_salt === ALICE)).toBe(true);
    expect(server.propsReads()).toBe(1);
  });

  it("jobs in flight at once run on different slots; one more waits for a free slot, never shares one", async () => {
    // Prepare: answers held until the test lets them go
    const server = await llamaServer({ slots: 2, hold: true });
    const engine = llamaEngine(server.s.url);
    // Act: three requesters' jobs at once
    const alice = engine.generate(chatOf(ALICE));
    const bob = drain(engine.stream!(chatOf(BOB)));
    await server.jobsSeen(2);
    const carol = engine.generate(chatOf(CAROL));
    await new Promise((r) => setTimeout(r, 50));
    const beforeAFree = server.jobs().length;
    server.answerSlot(0); // Alice's job ends
    await alice;
    await server.jobsSeen(3);
    server.answerAll();
    await Promise.all([bob, carol]);
    // Assess
    expect(beforeAFree).toBe(2); // Carol's waited: both slots were busy
    expect(server.pins()).toEqual([
      [0, false],
      [1, false],
      [0, false], // Carol on the slot Alice left, without Alice's cache
    ]);
    expect(server.overlaps()).toBe(0);
  });

  it("a job the server may not have run leaves its slot unknown, unless the slot held that requester's prompt before", async () => {
    // Prepare: the second and the fourth jobs are refused (500)
    let n = 0;
    const server = await llamaServer({ slots: 1, refuse: () => (++n === 2 || n === 4 ? 500 : undefined) });
    const engine = llamaEngine(server.s.url);
    // Act
    await engine.generate(chatOf(ALICE));
    const alicesFailed = await errorOf(engine.generate(chatOf(ALICE)));
    await engine.generate(chatOf(ALICE));
    const bobsFailed = await errorOf(engine.generate(chatOf(BOB)));
    await engine.generate(chatOf(BOB));
    await engine.generate(chatOf(BOB));
    // Assess
    expect([alicesFailed.code, bobsFailed.code]).toEqual(["engine_unavailable", "engine_unavailable"]);
    expect(server.pins()).toEqual([
      [0, false],
      [0, true], // refused: the slot holds Alice's prompt either way
      [0, true],
      [0, false], // Bob's, refused: the slot may hold Alice's prompt, or part of Bob's
      [0, false], // so Bob's next reuses nothing
      [0, true],
    ]);
  });

  it("a stream cut after its first delta leaves the slot its requester's: a cancelled job's prompt re-count reuses it", async () => {
    // Prepare: the server streams one delta, then holds the rest
    const server = await llamaServer({ slots: 1, hold: true, firstDelta: true });
    const engine = llamaEngine(server.s.url);
    const ctl = new AbortController();
    // Act: Alice's first job (nothing to reuse), cancelled once its first delta came; then her re-count
    const stream = engine.stream!(chatOf(ALICE, ctl.signal))[Symbol.asyncIterator]();
    const first = await stream.next();
    ctl.abort();
    const cut = await errorOf(stream.next());
    server.answerAll();
    const recount = engine.generate({ ...chatOf(ALICE), maxTokens: 1 });
    await server.jobsSeen(2);
    server.answerAll();
    await recount;
    // Assess
    expect(first.value).toMatchObject({ type: "delta", text: "o" });
    expect(cut.code).toBe("engine_aborted");
    expect(server.pins()).toEqual([
      [0, false],
      [0, true],
    ]);
  });

  it("a stream its caller aborts frees its slot, left unknown; a job aborted while it waits for a slot is never sent", async () => {
    // Prepare
    const server = await llamaServer({ slots: 1, hold: true });
    const engine = llamaEngine(server.s.url, { baseUrl: server.s.url, timeoutMs: 5_000 });
    const first = new AbortController();
    const waiting = new AbortController();
    // Act: Alice's stream holds the only slot; Bob's job waits for it and is aborted
    const alice = drain(engine.stream!(chatOf(ALICE, first.signal)));
    await server.jobsSeen(1);
    const bob = engine.generate(chatOf(BOB, waiting.signal));
    await new Promise((r) => setTimeout(r, 20));
    waiting.abort();
    const bobError = await errorOf(bob);
    first.abort();
    const aliceError = await errorOf(alice);
    server.answerAll();
    const next = engine.generate(chatOf(ALICE));
    await server.jobsSeen(2);
    server.answerAll();
    await next;
    // Assess
    expect(bobError.code).toBe("engine_aborted");
    expect(bobError.message).toMatch(/while it waited for a free slot/);
    expect(aliceError.code).toBe("engine_aborted");
    expect(server.pins()).toEqual([
      [0, false],
      [0, false], // Alice again: her aborted stream may have left the slot half-written
    ]);
  });

  it("a requester's own id_slot, slot_id or cache_prompt never reach the server", async () => {
    // Prepare
    const server = await llamaServer({ slots: 2 });
    const engine = llamaEngine(server.s.url);
    await engine.generate(chatOf(ALICE));
    // Act: Bob asks for Alice's slot and its cache
    await engine.generate(aRequest({ cacheScope: BOB, extra: { id_slot: 0, slot_id: 0, cache_prompt: true, top_k: 5 } }));
    // Assess
    expect(server.jobs()[1]).toMatchObject({ id_slot: 1, cache_prompt: false, top_k: 5 });
    expect(server.jobs()[1]).not.toHaveProperty("slot_id");
  });

  it("a job without a cache scope is pinned too, reuses nothing, and leaves nothing another job reuses", async () => {
    // Prepare
    const server = await llamaServer({ slots: 1 });
    const engine = llamaEngine(server.s.url);
    // Act
    await engine.generate(chatOf(undefined));
    await engine.generate(chatOf(undefined));
    await engine.generate(chatOf(ALICE));
    // Assess
    expect(server.pins()).toEqual([
      [0, false],
      [0, false],
      [0, false],
    ]);
  });
});

describe("openai-http on llama-server: an embedding, which the server places itself", () => {
  it("leaves every slot unknown: the next job reuses nothing, and one in flight meanwhile records nothing", async () => {
    // Prepare: a server that answers embeddings too; Bob's job is held while Carol's embedding runs
    const server = await llamaServer({ slots: 2, hold: true });
    const engine = llamaEngine(server.s.url);
    const first = engine.generate(chatOf(ALICE));
    await server.jobsSeen(1);
    server.answerAll();
    await first;
    // Act
    const bob = engine.generate(chatOf(BOB));
    await server.jobsSeen(2);
    const embedding = engine.embed!({ model: "m", input: ["carol's text"] });
    await server.jobsSeen(3);
    server.answerSlot(-1); // the embedding ends first, Bob's job after it
    await embedding;
    server.answerAll();
    await bob;
    const alice = engine.generate(chatOf(ALICE));
    await server.jobsSeen(4);
    server.answerAll();
    await alice;
    const bobAgain = engine.generate(chatOf(BOB));
    await server.jobsSeen(5);
    server.answerAll();
    await bobAgain;
    // Assess
    expect(server.s.seen.filter((l) => l.startsWith("POST"))[2]).toBe("POST /v1/embeddings");
    expect(server.jobs()[2]).not.toHaveProperty("id_slot");
    expect(server.pins()).toEqual([
      [0, false],
      [1, false],
      [undefined, undefined], // the embedding
      [0, false], // Alice, back on her slot: its content is unknown since the embedding
      [1, false], // Bob, back on his: his job overlapped the embedding, so the slot was never recorded as his
    ]);
  });
});

describe("openai-http on llama-server: a server seen down may come back with fewer slots", () => {
  // Found by the session 33 review: the slot count was read once, for the agent's life. A
  // llama-server restarted with a smaller --parallel takes id_slot modulo its own count
  // (server-context.cpp get_slot_by_id wraps it), so two of the pool's slots became one of the
  // server's, and a requester's job was sent cache_prompt: true onto the slot another requester's
  // prompt had just filled. After a job got no answer (its connection cut, or refused) or a 503
  // (llama-server loading its model), or a failed health probe, /props is read again and the pool
  // starts knowing nothing.
  const before = [
    [0, false],
    [1, false],
    [2, false],
  ];
  it.each([
    ["a job's connection cut (streamed)", "cut", "stream"],
    ["a job answered 503 while the server loads its model", "503", "chat"],
    ["an embedding answered 503", "503", "embed"],
  ] as const)("%s: the next jobs are pinned within the new slot count, with no cache taken as known", async (_what, how, kind) => {
    // Prepare: three slots, each holding one requester's prompt; then the server restarts with two
    let slots = 3;
    /** the restart: the first job after it meets the server going down */
    let restarting = false;
    const down = () => restarting && !(restarting = false);
    const server = await llamaServer({
      props: () => ({ status: 200, body: { total_slots: slots } }),
      cut: () => how === "cut" && down(),
      refuse: () => (how === "503" && down() ? 503 : undefined),
    });
    const engine = llamaEngine(server.s.url);
    const job = (scope: string) => (kind === "stream" ? drain(engine.stream!(chatOf(scope))) : engine.generate(chatOf(scope)));
    for (const scope of [ALICE, BOB, CAROL]) await job(scope);
    slots = 2;
    restarting = true;
    // Act: the job that meets the restart fails; then Alice's and Carol's next jobs
    const failed = await errorOf(kind === "embed" ? engine.embed!({ model: "m", input: ["dave's text"] }) : job(ALICE));
    await job(ALICE);
    await job(CAROL);
    // Assess: on the old adapter Carol's went to slot 2 (the server's 0, Alice's prompt) with cache_prompt true
    expect(failed.code).toBe("engine_unavailable");
    const after = server.pins().slice(4);
    expect(server.pins().slice(0, 3)).toEqual(before);
    expect(after).toEqual(
      kind === "embed"
        ? [
            [0, false],
            [1, false],
          ]
        : [
            [1, false], // the longest unused of the two slots left (the failed job was Alice's, on slot 0)
            [0, false],
          ],
    );
    expect(server.propsReads()).toBe(2);
  });

  it("a job waiting for a slot when another fails so is granted it knowing nothing, before /props is read again", async () => {
    // Prepare: two slots holding Alice's and Carol's prompts; then each's next job held on its own
    // slot, and Carol's third waiting; Carol's second meets the server going down
    let armed = false;
    const server = await llamaServer({
      slots: 2,
      hold: true,
      cut: (j) => armed && j.cache_salt === CAROL && !(armed = false),
    });
    const engine = llamaEngine(server.s.url);
    const first = [engine.generate(chatOf(ALICE)), engine.generate(chatOf(CAROL))];
    await server.jobsSeen(2);
    server.answerAll();
    await Promise.all(first);
    armed = true;
    const alice = engine.generate(chatOf(ALICE));
    await server.jobsSeen(3);
    // Act
    const cut = errorOf(engine.generate(chatOf(CAROL)));
    const waiting = engine.generate(chatOf(CAROL));
    await server.jobsSeen(5);
    server.answerAll();
    await Promise.all([alice, waiting]);
    // Assess: on the old adapter the waiting job went out cache_prompt: true on the slot of a server just seen down
    expect((await cut).code).toBe("engine_unavailable");
    expect(server.pins()).toEqual([
      [0, false],
      [1, false],
      [0, true],
      [1, true], // cut
      [1, false],
    ]);
  });

  it("its /props read again answered 503 (still loading): that job fails unsent, the next one asks again", async () => {
    // Prepare
    let slots = 2;
    let loading = false;
    const server = await llamaServer({
      props: () =>
        loading ? { status: 503, body: { error: { code: 503, message: "Loading model" } } } : { status: 200, body: { total_slots: slots } },
      refuse: () => (loading ? 503 : undefined),
    });
    const engine = llamaEngine(server.s.url);
    await engine.generate(chatOf(ALICE));
    await engine.generate(chatOf(BOB));
    // Act: the server restarts with one slot; a job meets it loading, and so does the next one's /props
    slots = 1;
    loading = true;
    const met = await errorOf(engine.generate(chatOf(ALICE)));
    const unsent = await errorOf(engine.generate(chatOf(BOB)));
    loading = false;
    await engine.generate(chatOf(BOB));
    // Assess
    expect([met.code, unsent.code]).toEqual(["engine_unavailable", "engine_unavailable"]);
    expect(server.pins()).toEqual([
      [0, false],
      [1, false],
      [0, true], // refused 503
      [0, false], // Bob's, after /props said one slot
    ]);
    expect(server.propsReads()).toBe(3);
  });

  it("a failed health probe: the next jobs read /props again", async () => {
    // Prepare
    let slots = 3;
    let healthy = true;
    const server = await llamaServer({ props: () => ({ status: 200, body: { total_slots: slots } }), health: () => (healthy ? 200 : 503) });
    const engine = llamaEngine(server.s.url);
    for (const scope of [ALICE, BOB, CAROL]) await engine.generate(chatOf(scope));
    // Act: the agent's idle probe finds the server loading again, now with two slots
    slots = 2;
    healthy = false;
    const probed = await errorOf(engine.health!());
    healthy = true;
    await engine.health!();
    await engine.generate(chatOf(ALICE));
    await engine.generate(chatOf(CAROL));
    // Assess
    expect(probed.code).toBe("engine_unavailable");
    expect(server.pins()).toEqual([...before, [0, false], [1, false]]);
    expect(server.propsReads()).toBe(2);
  });
});

describe("openai-http: servers without llama-server's slots are sent no slot fields (vLLM unchanged)", () => {
  it("a server whose GET /props is 404 (vLLM, Ollama, SGLang, TGI): no id_slot or cache_prompt, the salt as before, /props asked once", async () => {
    // Prepare
    const server = await llamaServer({ props: () => ({ status: 404, body: { detail: "Not Found" } }) });
    const engine = llamaEngine(server.s.url);
    // Act
    await engine.generate(chatOf(ALICE));
    await drain(engine.stream!(chatOf(BOB)));
    // Assess
    for (const j of server.jobs()) {
      expect(j).not.toHaveProperty("id_slot");
      expect(j).not.toHaveProperty("cache_prompt");
    }
    expect(server.jobs().map((j) => j.cache_salt)).toEqual([ALICE, BOB]);
    expect(server.propsReads()).toBe(1);
  });

  it("a /props without total_slots (LM Studio's 200 error, an unknown server) is not pinned", async () => {
    // Prepare
    const server = await llamaServer({ props: () => ({ status: 200, body: { error: "Unexpected endpoint or method." } }) });
    const engine = llamaEngine(server.s.url);
    // Act
    await engine.generate(chatOf(ALICE));
    // Assess
    expect(server.jobs()[0]).not.toHaveProperty("id_slot");
  });

  it("without slotsFromProps (the adapter's default) nothing asks /props and no slot field is sent", async () => {
    // Prepare
    const server = await llamaServer({ slots: 2 });
    const engine = createOpenAiEngine({ baseUrl: server.s.url });
    // Act
    await engine.generate(chatOf(ALICE));
    // Assess
    expect(server.propsReads()).toBe(0);
    expect(server.jobs()[0]).not.toHaveProperty("id_slot");
    expect(server.jobs()[0]).toMatchObject({ cache_salt: ALICE });
  });

  it("a /props that says the server is not ready (503 while loading): the job fails unsent (engine_unavailable), and the next job asks again", async () => {
    // Prepare
    let loading = true;
    const server = await llamaServer({
      slots: 1,
      props: () =>
        loading
          ? { status: 503, body: { error: { code: 503, message: "Loading model", type: "unavailable_error" } } }
          : { status: 200, body: { total_slots: 1 } },
    });
    const engine = llamaEngine(server.s.url);
    // Act
    const first = await errorOf(engine.generate(chatOf(ALICE)));
    loading = false;
    await engine.generate(chatOf(ALICE));
    // Assess
    expect(first.code).toBe("engine_unavailable");
    expect(first.message).toMatch(/\/props answered HTTP 503: Loading model/);
    expect(server.propsReads()).toBe(2);
    expect(server.pins()).toEqual([[0, false]]);
  });

  it("the agent's engine (configuredEngine) reads the slots: its jobs on llama-server are pinned", async () => {
    // Prepare
    const server = await llamaServer({ slots: 1 });
    const engine = configuredEngine({ engine: "openai", engineUrl: server.s.url, engineLogprobs: "off" });
    // Act
    await engine.generate(chatOf(ALICE));
    await engine.generate(chatOf(BOB));
    // Assess
    expect(server.pins()).toEqual([
      [0, false],
      [0, false],
    ]);
  });
});

describe("createSlotPool", () => {
  it("hands freed slots to waiting jobs in arrival order, each its own slot", async () => {
    // Prepare
    const pool = createSlotPool(1);
    const held = await pool.acquire(ALICE, undefined, "e");
    const order: string[] = [];
    // Act
    const b = pool.acquire(BOB, undefined, "e").then((l) => (order.push("bob"), l));
    const c = pool.acquire(CAROL, undefined, "e").then((l) => (order.push("carol"), l));
    held.release(true);
    const bob = await b;
    bob.release(true);
    const carol = await c;
    // Assess
    expect(order).toEqual(["bob", "carol"]);
    expect([held.cachePrompt, bob.cachePrompt, carol.cachePrompt]).toEqual([false, false, false]);
    carol.release(true);
    const again = await pool.acquire(CAROL, undefined, "e");
    expect(again).toMatchObject({ slot: 0, cachePrompt: true });
  });

  it("resized smaller: nothing known, no slot at or above the count handed out, and nothing recorded while a job is still out on one", async () => {
    // Prepare: three slots holding Alice's, Bob's and Carol's prompts; Carol's next job still out on slot 2
    const pool = createSlotPool(3);
    for (const scope of [ALICE, BOB, CAROL]) (await pool.acquire(scope, undefined, "e")).release(true);
    const carolOut = await pool.acquire(CAROL, undefined, "e");
    // Act: the server came back with two slots (slot 2 is its slot 0)
    pool.resize(2);
    const alice = await pool.acquire(ALICE, undefined, "e");
    alice.release(true); // the server may run Carol's job on this slot after Alice's
    const aliceAgain = await pool.acquire(ALICE, undefined, "e");
    aliceAgain.release(true);
    carolOut.release(true);
    const bob = await pool.acquire(BOB, undefined, "e");
    bob.release(true);
    const bobAgain = await pool.acquire(BOB, undefined, "e");
    const aliceLast = await pool.acquire(ALICE, undefined, "e");
    // Assess
    expect(carolOut).toMatchObject({ slot: 2, cachePrompt: true });
    expect([alice.cachePrompt, aliceAgain.cachePrompt]).toEqual([false, false]);
    expect(bobAgain).toMatchObject({ slot: bob.slot, cachePrompt: true }); // Carol's job is in: known again
    expect(aliceLast.cachePrompt).toBe(false); // nothing recorded while Carol's was out
    expect([alice, aliceAgain, bob, bobAgain, aliceLast].every((l) => l.slot < 2)).toBe(true);
  });

  it("resized larger while jobs wait for a slot: the new slots go to them at once, not after a busy one frees", async () => {
    // Prepare: one slot, held; Bob and Carol wait for it
    const pool = createSlotPool(1);
    const held = await pool.acquire(ALICE, undefined, "e");
    const granted: string[] = [];
    const bob = pool.acquire(BOB, undefined, "e").then((l) => (granted.push("bob"), l));
    const carol = pool.acquire(CAROL, undefined, "e").then((l) => (granted.push("carol"), l));
    // Act: the server came back with three slots; Alice's job is still out
    pool.resize(3);
    await new Promise((resolve) => setImmediate(resolve));
    // Assess
    expect(granted).toEqual(["bob", "carol"]);
    expect([(await bob).slot, (await carol).slot]).toEqual([1, 2]);
    held.release(true);
  });

  it("resized larger: the new slots are handed out, each to one job", async () => {
    const pool = createSlotPool(1);
    pool.resize(3);
    const leases = await Promise.all([ALICE, BOB, CAROL].map((scope) => pool.acquire(scope, undefined, "e")));
    expect(leases.map((l) => [l.slot, l.cachePrompt])).toEqual([
      [0, false],
      [1, false],
      [2, false],
    ]);
  });
});
