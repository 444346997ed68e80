import type { IncomingMessage, ServerResponse } from "node:http";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import type { RunningAgent } from "../agent/runtime";
import { CocoonClient, JobOutcomeUnknownError } from "../client/sdk";
import { serveBackend, startServeProxy, type ServeProxy } from "../client/serve";
import { generateSigningKey } from "../core/crypto/keys";
import type { Store, WriteOp } from "../core/ports";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { MODEL, pollUntil } from "./helpers";

/**
 * The connection to the coordinator lost AFTER a job's submit went out (while its answer was
 * awaited): the job may exist and be billed, so neither the SDK nor an app retrying `cocoon serve`'s
 * answer may submit a second one. The SDK sends the submit again under its Idempotency-Key (the
 * coordinator answers with the job it took) or reads the job again, and goes on waiting; when it
 * cannot reach the coordinator again, the app gets a 502 it does not retry, naming the job.
 * Real local network; the coordinator's server drops the SDK's connections on cue.
 */

/** What the coordinator's server does with a request of the SDK: lose its answer (the job done, the socket closed instead of answering), or hang up at once. */
type Fate = "lose-answer" | "hang-up" | undefined;

const FUNDS = 50_000_000_000n;
/** How long the SDK tries to reach the coordinator again in these tests (its default is 30 s). */
const RECONNECT_MS = 1_500;

let net: LocalNetwork;
let agents: RunningAgent[];
/** decides each request's fate by "METHOD /route" (a job id as {id}); undefined: answered as usual */
let fate: (what: string) => Fate = () => undefined;
/** the SDK's requests of jobs as the coordinator saw them */
let seen: string[] = [];
/** job ids the coordinator logged "job submitted" for: one per job taken, whatever number of submits carried it */
let submittedJobs: string[] = [];

const routeOf = (req: IncomingMessage) => `${req.method} ${(req.url ?? "").split("?")[0]!.replace(/\/job_[0-9a-z]+/, "/{id}")}`;

/** Loses the answer to the first request of `what`, then lets `after` decide the others. */
function loseFirst(what: string, after: Fate = undefined) {
  let lost = false;
  fate = (w) => {
    if (lost) return after;
    if (w !== what) return undefined;
    lost = true;
    return "lose-answer";
  };
}

beforeAll(async () => {
  net = await startNetwork({
    chain: false,
    logSink: (line) => {
      if (!line.includes('"job submitted"')) return;
      submittedJobs.push(/"jobId":"(job_[0-9a-z]+)"/.exec(line)?.[1] ?? "?");
    },
  });
  // Beside the coordinator's own handler, which has started reading the request: it still
  // handles it (the job is taken), but its answer never reaches the SDK.
  net.server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    if (!req.url?.startsWith("/v1/jobs")) return;
    const what = routeOf(req);
    seen.push(what);
    const f = fate(what);
    if (f === "hang-up") req.socket.destroy();
    if (f === "lose-answer") {
      res.writeHead = (() => (req.socket.destroy(), res)) as typeof res.writeHead;
      res.end = (() => res) as typeof res.end;
    }
  });
  agents = await startLocalAgents(net.url, tempDir("cocoon-lost-connection-"), [{ name: "echo", priceBps: 10_000 }]);
}, 60_000);

afterAll(async () => {
  await Promise.all((agents ?? []).map((a) => a.stop()));
  await net?.stop();
});

beforeEach(() => {
  fate = () => undefined;
  seen = [];
  submittedJobs = [];
});

/** A funded client of its own (its balance tells what it was charged). */
async function aClient(reconnectMs = RECONNECT_MS): Promise<CocoonClient> {
  const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true, reconnectMs });
  await client.faucet(FUNDS);
  return client;
}

/** What the account was charged, once nothing is held for it any more. */
async function charged(client: CocoonClient): Promise<bigint> {
  const b = await pollUntil(
    "the hold to be settled",
    async () => {
      const v = await client.balance();
      return v.held === "0" ? v : undefined;
    },
    10_000,
  );
  return FUNDS - BigInt(b.available);
}

const submits = () => seen.filter((w) => w === "POST /v1/jobs").length;

/**
 * The coordinator slowed down inside the first submit (as a DynamoDB commit can be): the first
 * job's commit, its item and its hold, waits until `release()`; `parked` gives its job id once it
 * waits. `restore()` puts the coordinator's store back (and lets it go).
 */
function holdFirstCommit() {
  const store = net.deps.store;
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let parkedAs!: (jobId: string) => void;
  const parked = new Promise<string>((r) => (parkedAs = r));
  let held: string | undefined;
  const isJobPut = (op: WriteOp) => op.op === "put" && op.table === "jobs" && op.item.status === "assigned" && op.item.attempt === 0;
  net.deps.store = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== "transact") return Reflect.get(target, prop, receiver) as unknown;
      return async (ops: WriteOp[]) => {
        const put = ops.find(isJobPut);
        if (put?.op === "put" && held === undefined) {
          held = String(put.item.jobId);
          parkedAs(held);
          await released;
        }
        return target.transact(ops);
      };
    },
  }) as Store;
  return {
    parked,
    release,
    restore: () => {
      net.deps.store = store;
      release();
    },
  };
}

describe("SDK: the connection lost after the submit went out", () => {
  it("ask(): sends the submit again under its key, gets the one job's answer, and is charged for one job", async () => {
    // Prepare
    const client = await aClient();
    loseFirst("POST /v1/jobs");
    // Act
    const r = await client.ask({ model: MODEL, messages: [{ role: "user", content: "hello once" }] });
    // Assess
    expect(r.text.length).toBeGreaterThan(0);
    expect(submits()).toBe(2); // the lost one and the one sent again
    expect(submittedJobs).toEqual([r.jobId]); // one job taken
    expect(await charged(client)).toBe(BigInt(r.cost));
  }, 30_000);

  it("askStream(): reads the stream again after a lost read, and is charged for one job", async () => {
    // Prepare
    const client = await aClient();
    loseFirst("GET /v1/jobs/{id}/chunks");
    // Act
    const events = [];
    for await (const ev of client.askStream({ model: MODEL, messages: [{ role: "user", content: "hello stream" }] })) events.push(ev);
    // Assess
    const done = events.find((e) => e.type === "done");
    expect(done).toBeDefined();
    expect(submits()).toBe(1);
    expect(submittedJobs).toEqual([done!.jobId]);
    expect(await charged(client)).toBe(BigInt(done!.cost));
  }, 30_000);

  it("the coordinator not reached again: JobOutcomeUnknownError naming the job, after reconnectMs, and no second job", async () => {
    // Prepare
    const client = await aClient();
    loseFirst("POST /v1/jobs", "hang-up");
    const started = Date.now();
    // Act
    const err = await client.ask({ model: MODEL, messages: [{ role: "user", content: "hello lost" }] }).catch((e: unknown) => e);
    // Assess
    expect((err as { code?: unknown }).code).toBe("job_outcome_unknown");
    expect(err).toBeInstanceOf(JobOutcomeUnknownError);
    const e = err as JobOutcomeUnknownError;
    expect(submittedJobs).toHaveLength(1);
    expect(e.jobId).toBe(submittedJobs[0]);
    expect(e.message).toContain(e.jobId);
    expect(e.message).toMatch(/may still complete and be billed/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(RECONNECT_MS);
    expect(submits()).toBeGreaterThan(1); // sent again while it could not reach the coordinator
  }, 30_000);
});

describe("SDK: a submit sent again while the first is still being taken", () => {
  it("refused for its quote, expired meanwhile: the SDK reads the one job (never prepares a second), and is charged for one job", async () => {
    // Prepare: quotes of 20 s; the first submit's commit waits, its connection is lost meanwhile, and
    // the submit sent again finds no job yet and a quote the coordinator's clock (25 s on) calls expired
    const client = await aClient(5_000);
    const realNow = net.deps.clock.now;
    const ttl = net.deps.config.quoteTtlSeconds;
    net.deps.config.quoteTtlSeconds = 20;
    const commit = holdFirstCommit();
    let first: IncomingMessage | undefined;
    let resendStatus: number | undefined;
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      if (routeOf(req) !== "POST /v1/jobs") return;
      if (!first) {
        first = req;
        return;
      }
      if (resendStatus !== undefined) return;
      net.deps.clock.now = () => realNow() + 25_000;
      const writeHead = res.writeHead.bind(res) as (...a: unknown[]) => ServerResponse;
      res.writeHead = ((...a: unknown[]) => {
        resendStatus = typeof a[0] === "number" ? a[0] : res.statusCode;
        net.deps.clock.now = realNow; // the refusal is answered: the first submit's commit may land now
        commit.release();
        return writeHead(...a);
      }) as typeof res.writeHead;
    };
    net.server.on("request", onRequest);
    void commit.parked.then(() => first?.socket.destroy()); // the connection lost while the first is being taken
    try {
      // Act
      const r = await client.ask({ model: MODEL, messages: [{ role: "user", content: "hello slow commit" }] });
      // Assess
      expect(resendStatus).toBe(410); // quote_expired: the refusal that made the SDK prepare a second job
      // one job taken (the first submit's, whose commit was slow) and charged once
      expect({ jobs: submittedJobs, charged: await charged(client) }).toEqual({ jobs: [r.jobId], charged: BigInt(r.cost) });
      expect(await commit.parked).toBe(r.jobId);
      expect(submits()).toBe(2); // the lost one and the refused one, nothing under another job id
      expect(seen).toContain("GET /v1/jobs/{id}"); // read, not prepared again
    } finally {
      net.server.off("request", onRequest);
      net.deps.clock.now = realNow;
      net.deps.config.quoteTtlSeconds = ttl;
      commit.restore();
    }
  }, 30_000);
});

describe("SDK: a submit that never reached the coordinator's commit, its resend refused", () => {
  it("voids the first job id at once (no wait for reconnectMs), prepares the job again under a new id, and is charged for one job", async () => {
    // Prepare: quotes of 20 s; the first submit fails inside the coordinator before its commit (a
    // 500: to the SDK it may have been taken), and the resend, 25 s on by the coordinator's clock,
    // finds its quote expired. On the old code the SDK read the job until reconnectMs (10 s here)
    // and threw JobOutcomeUnknownError, though no job could ever be taken.
    const client = await aClient(10_000);
    const realNow = net.deps.clock.now;
    const ttl = net.deps.config.quoteTtlSeconds;
    net.deps.config.quoteTtlSeconds = 20;
    const store = net.deps.store;
    let failedId: string | undefined;
    net.deps.store = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop !== "transact") return Reflect.get(target, prop, receiver) as unknown;
        return async (ops: WriteOp[]) => {
          const put = ops.find((op) => op.op === "put" && op.table === "jobs" && op.item.status === "assigned");
          if (put?.op === "put" && failedId === undefined) {
            failedId = String(put.item.jobId);
            throw new Error("the store could not be reached"); // nothing committed
          }
          return target.transact(ops);
        };
      },
    }) as Store;
    let resendStatus: number | undefined;
    let posts = 0;
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      if (routeOf(req) !== "POST /v1/jobs" || ++posts !== 2) return;
      net.deps.clock.now = () => realNow() + 25_000;
      const writeHead = res.writeHead.bind(res) as (...a: unknown[]) => ServerResponse;
      res.writeHead = ((...a: unknown[]) => {
        resendStatus = typeof a[0] === "number" ? a[0] : res.statusCode;
        net.deps.clock.now = realNow;
        return writeHead(...a);
      }) as typeof res.writeHead;
    };
    net.server.on("request", onRequest);
    const started = Date.now();
    try {
      // Act
      const r = await client.ask({ model: MODEL, messages: [{ role: "user", content: "hello never taken" }] });
      // Assess
      expect(Date.now() - started).toBeLessThan(10_000); // at once, not after reconnectMs
      expect(resendStatus).toBe(410); // quote_expired
      expect(failedId).toBeDefined();
      expect(r.jobId).not.toBe(failedId); // prepared again under a new id
      expect(seen).toContain("POST /v1/jobs/{id}/void");
      // one job taken, charged once; the voided id is no job (404 to its own requester)
      expect({ jobs: submittedJobs, charged: await charged(client) }).toEqual({ jobs: [r.jobId], charged: BigInt(r.cost) });
      expect(await client.job(failedId!).catch((e: unknown) => (e as { code?: unknown }).code)).toBe("unknown_job");
    } finally {
      net.server.off("request", onRequest);
      net.deps.clock.now = realNow;
      net.deps.config.quoteTtlSeconds = ttl;
      net.deps.store = store;
    }
  }, 30_000);
});

describe("cocoon serve: an openai client that retries (maxRetries 2)", () => {
  let proxy: ServeProxy;
  let openai: OpenAI;
  let client: CocoonClient;
  let consoleErrors: unknown[];

  beforeAll(async () => {
    client = await aClient();
    proxy = await startServeProxy({ port: 0, ...serveBackend(client), onError: (e) => consoleErrors.push(e) });
    openai = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: "not-used", maxRetries: 2 });
  });
  afterAll(async () => {
    await proxy?.close();
  });
  beforeEach(() => {
    consoleErrors = [];
  });

  it("gets the answer of the one job when the submit's answer was lost: the app pays once", async () => {
    // Prepare
    const before = await charged(client);
    loseFirst("POST /v1/jobs");
    // Act
    const r = await openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hello proxy" }] });
    // Assess
    expect(r.choices[0]!.message.content?.length).toBeGreaterThan(0);
    expect(submittedJobs).toHaveLength(1);
    const job = await client.job(submittedJobs[0]!);
    expect((await charged(client)) - before).toBe(BigInt(job.cost!));
  }, 30_000);

  it("the coordinator not reached again: a 502 the client does not retry, naming the job; no second job", async () => {
    // Prepare
    let appRequests = 0;
    const counting = new OpenAI({
      baseURL: `${proxy.url}/v1`,
      apiKey: "not-used",
      maxRetries: 2,
      fetch: (url, init) => {
        appRequests++;
        return fetch(url, init);
      },
    });
    loseFirst("POST /v1/jobs", "hang-up");
    // Act
    const err = await counting.chat.completions
      .create({ model: MODEL, messages: [{ role: "user", content: "hello proxy lost" }] })
      .catch((e: unknown) => e);
    fate = () => undefined;
    // Assess
    expect(err).toBeInstanceOf(OpenAI.APIError);
    const e = err as InstanceType<typeof OpenAI.APIError>;
    expect(e.status).toBe(502);
    expect(e.code).toBe("job_outcome_unknown");
    expect(e.headers?.get?.("x-should-retry") ?? (e.headers as unknown as Record<string, string>)?.["x-should-retry"]).toBe("false");
    expect(submittedJobs).toHaveLength(1);
    expect(e.message).toContain(submittedJobs[0]);
    expect(appRequests).toBe(1);
    // the console (onError) is told too, with the job's id
    expect(String((consoleErrors[0] as Error | undefined)?.message)).toContain(submittedJobs[0]);
  }, 40_000);
});
