/**
 * `cocoon cancel <jobId>` and `cocoon ask` interrupted by Ctrl-C: what they send and print. A
 * stand-in coordinator over real HTTP answers the routes they use (nothing else runs).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { createDevAttestation } from "../core/attestation/dev";
import { loadPolicy } from "../core/attestation/policy";
import { verifyAttestation } from "../core/attestation/verify";
import { b64u } from "../core/crypto/encoding";
import { replyHash, requestHash, sealReply } from "../core/crypto/envelope";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { signReceipt } from "../core/crypto/receipt";
import { makeReceiptBody } from "../core/crypto/testing";
import { DEFAULT_PRICING, jobCost } from "../core/pricing";
import type { EnvelopeHeader, RequestEnvelope } from "../events/envelope";
import { formatTon } from "../api-client/format";
import { loadOrCreateKey } from "../api-client/keys";
import { EX_INTERRUPTED, main } from "./cli";

const home = tempDir("cocoon-cli-cancel-");
process.env.COCOON_HOME = home; // no .cocoon/local.json of this checkout leaks in

const JOB_ID = "job_" + "0".repeat(26);
const MODEL = "test/model";
const CANCELLED_AT = Date.parse("2026-03-01T00:00:00Z");
const error = (status: number, code: string) => ({ status, body: { error: { code, message: `stand-in: ${code}` } } });

/** The stand-in's one worker: its keys, attested (dev) now. */
const worker = { signing: generateSigningKey(), kem: generateKemKey() };
const workerAttestation = createDevAttestation({
  hpkePublicKey: worker.kem.publicKey,
  signingPublicKey: worker.signing.publicKey,
  nonce: new Uint8Array(32),
  now: Date.now(),
});

/**
 * The job as an honest worker and coordinator finish it when its requester cancelled it after "Paris is":
 * the answer sealed to the job's reply key with finishReason "cancelled", the receipt billing what was generated.
 */
async function cancelledJob(envelope: RequestEnvelope) {
  const header: EnvelopeHeader = envelope.header;
  const v = await verifyAttestation(workerAttestation, { policy: loadPolicy(), now: Date.now(), allowDev: true, allowNone: false });
  if (!v.ok) throw new Error(v.reason);
  const usage = { promptTokens: 5, completionTokens: 2 };
  const reply = sealReply(
    header,
    worker.signing.id,
    new TextEncoder().encode(JSON.stringify({ text: "Paris is", usage, engine: "test", finishReason: "cancelled" })),
  );
  const body = makeReceiptBody(
    { workerId: worker.signing.id, signing: worker.signing, kem: worker.kem },
    {
      jobId: header.jobId,
      model: header.model,
      requestHash: requestHash(envelope),
      replyHash: replyHash(reply),
      usage,
      measurement: v.measurement,
    },
  );
  return {
    jobId: header.jobId,
    status: "completed",
    model: header.model,
    workerId: worker.signing.id,
    tier: "dev",
    attempt: 0,
    maxCost: header.maxCost,
    cost: String(jobCost(DEFAULT_PRICING, 100n, usage)),
    cancelledAt: Date.now(),
    reply,
    receipt: signReceipt(body, worker.signing),
    createdAt: 1,
    updatedAt: 2,
  };
}

/** The prepare answer that offers the stand-in's worker to `requester`. */
function prepareAnswer(requester: string) {
  const { signing, kem } = worker;
  const now = Date.now();
  const attestation = workerAttestation;
  const candidate = { workerId: signing.id, hpkePublicKey: b64u.encode(kem.publicKey), attestation, pricePerToken: "100", tier: "dev" };
  const quote = {
    v: 1,
    requester,
    model: MODEL,
    maxTokens: 256,
    maxPromptTokens: 1024,
    maxCost: "1000000",
    candidates: [{ workerId: candidate.workerId, hpkePublicKey: candidate.hpkePublicKey, pricePerToken: "100", tier: "dev" }],
    promptBps: 2_500,
    completionBps: 10_000,
    expiresAt: now + 60_000,
    mac: "AAAA",
  };
  return {
    jobId: JOB_ID,
    model: MODEL,
    maxTokens: 256,
    maxPromptTokens: 1024,
    maxCost: "1000000",
    candidates: [candidate],
    quoteExpiresAt: quote.expiresAt,
    quote,
  };
}

/**
 * The stand-in: a cancel is answered `cancel` (by job id); a submit is held open (a job the network
 * works on) and `onSubmit` told its job id; every request's method and path recorded.
 */
async function standIn() {
  const state = {
    requester: "",
    cancelled: true,
    /** submits are answered with the job finished as cancelled (instead of held open) */
    answerCancelled: false,
    jobs: new Map<string, unknown>(),
    seen: [] as string[],
    onSubmit: (_jobId: string) => {},
  };
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += String(c)));
    req.on("end", () => {
      const route = `${req.method} ${(req.url ?? "").split("?")[0]}`;
      state.seen.push(route);
      const send = (a: { status: number; body?: unknown }) =>
        res.writeHead(a.status, { "content-type": "application/json" }).end(a.body === undefined ? "" : JSON.stringify(a.body));
      const cancel = /^POST \/v1\/jobs\/(job_[0-9a-z]{26})\/cancel$/.exec(route);
      if (cancel)
        return send({
          status: 200,
          body: state.cancelled
            ? { jobId: cancel[1], status: "assigned", cancelled: true, cancelledAt: CANCELLED_AT }
            : { jobId: cancel[1], status: "completed", cancelled: false },
        });
      if (route === "GET /v1/routes") return send({ status: 404 });
      // what cocoon serve reads of the model before it asks (its capabilities)
      if (route === "GET /v1/models")
        return send({
          status: 200,
          body: {
            models: [
              {
                model: MODEL,
                workers: 1,
                tiers: { dev: 1 },
                price: { min: "100", median: "100", max: "100" },
                capabilities: { chat: true, completions: true, embeddings: false, streaming: true, tools: false, jsonSchema: false },
              },
            ],
          },
        });
      if (route === "POST /v1/sessions") return send(error(404, "sessions_unavailable"));
      if (route === "POST /v1/jobs/prepare") return send({ status: 200, body: prepareAnswer(state.requester) });
      if (route === "POST /v1/jobs" && state.answerCancelled) {
        const envelope = (JSON.parse(body) as { envelope: RequestEnvelope }).envelope;
        void cancelledJob(envelope).then((job) => {
          state.jobs.set(envelope.header.jobId, job);
          send({ status: 200, body: job });
        });
        return;
      }
      const read = /^GET \/v1\/jobs\/(job_[0-9a-z]{26})$/.exec(route);
      if (read && state.jobs.has(read[1]!)) return send({ status: 200, body: state.jobs.get(read[1]!) });
      if (route === "POST /v1/jobs") {
        // held open: the CLI's abort closes it
        state.onSubmit((JSON.parse(body) as { envelope: { header: { jobId: string } } }).envelope.header.jobId);
        return;
      }
      return send(error(404, "not_found"));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    state,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** `cocoon argv` with its output captured; `interrupts` receives the Ctrl-C handler the command listens with. */
async function cocoon(argv: string[], interrupts?: { press?: () => void }) {
  const o = { out: "", err: "" };
  const code = await main(
    argv,
    { write: (s: string) => (o.out += s) },
    { write: (s: string) => (o.err += s) },
    interrupts
      ? (handler) => {
          interrupts.press = handler;
          return () => (interrupts.press = undefined);
        }
      : undefined,
  );
  return { code, ...o };
}

/** `cocoon ask hello` of the stand-in's model from its dev worker. */
const ASK_HELLO_DEV = ["ask", "hello", "--model", MODEL, "--allow-dev", "--tier", "dev"];

/** A requester of its own (a fresh key file) against `url`, and its account. */
function requester(url: string) {
  const keyFile = join(mkdtempSync(join(home, "requester-")), "requester.key");
  return { args: ["--api", url, "--key", keyFile], account: loadOrCreateKey(keyFile).id };
}

describe("cocoon cancel <jobId>", () => {
  let c: Awaited<ReturnType<typeof standIn>>;
  beforeAll(async () => {
    c = await standIn();
  });
  afterAll(() => c.close());
  beforeEach(() => {
    c.state.seen = [];
    c.state.cancelled = true;
  });

  it("a running job: posts its cancel and says it was cancelled, and how it is billed", async () => {
    // Prepare
    const r = requester(c.url);
    // Act
    const { code, out, err } = await cocoon(["cancel", JOB_ID, ...r.args]);
    // Assess
    expect({ code, err }).toEqual({ code: 0, err: "" });
    expect(c.state.seen).toContain(`POST /v1/jobs/${JOB_ID}/cancel`);
    expect(out).toBe(
      `cancelled job ${JOB_ID} at 2026-03-01T00:00:00.000Z: its worker stops; it is billed only for what was generated, or refunded if nothing was (\`cocoon job ${JOB_ID}\` shows its bill once it ended)\n`,
    );
  });

  it("a job that already ended: says so, nothing changed; --json prints the coordinator's answer", async () => {
    // Prepare
    c.state.cancelled = false;
    const r = requester(c.url);
    // Act
    const human = await cocoon(["cancel", JOB_ID, ...r.args]);
    const json = await cocoon(["cancel", JOB_ID, ...r.args, "--json"]);
    // Assess
    expect(human).toEqual({ code: 0, err: "", out: `job ${JOB_ID} had already ended (completed): nothing to cancel, nothing changed\n` });
    expect({ code: json.code, err: json.err }).toEqual({ code: 0, err: "" });
    expect(JSON.parse(json.out)).toEqual({ jobId: JOB_ID, status: "completed", cancelled: false });
  });

  it("not a job id: a usage error (64), nothing sent", async () => {
    // Prepare
    const r = requester(c.url);
    // Act
    const { code, err } = await cocoon(["cancel", "job_NOPE", ...r.args]);
    // Assess
    expect(code).toBe(64);
    expect(err).toContain("must be a job id");
    expect(c.state.seen).toEqual([]);
  });
});

describe("cocoon ask, interrupted (Ctrl-C) while its job runs", () => {
  let c: Awaited<ReturnType<typeof standIn>>;
  beforeAll(async () => {
    c = await standIn();
  });
  afterAll(() => c.close());

  it.each([["--no-stream"], ["--json"], ["streamed"]])("%s: cancels the submitted job, says so on stderr, exits 130", async (mode) => {
    // Prepare: Ctrl-C once the job's submit reached the coordinator
    const r = requester(c.url);
    c.state.requester = r.account;
    const keys: { press?: () => void } = {};
    const submitted: string[] = [];
    c.state.seen = [];
    c.state.onSubmit = (jobId) => {
      submitted.push(jobId);
      keys.press?.();
    };
    // Act
    const { code, err } = await cocoon(
      ["ask", "hello", "--model", MODEL, "--allow-dev", "--tier", "dev", ...(mode === "streamed" ? [] : [mode]), ...r.args],
      keys,
    );
    // Assess
    expect(code).toBe(EX_INTERRUPTED);
    expect(submitted).toHaveLength(1);
    expect(c.state.seen.filter((s) => s.endsWith("/cancel"))).toEqual([`POST /v1/jobs/${submitted[0]}/cancel`]);
    expect(err).toContain(`interrupted; cancelled job ${submitted[0]}`);
    expect(keys.press).toBeUndefined(); // no longer listening once the command ended
  });
});

/** CLI processes the tests below started: one a failed test left running is killed after it. */
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

describe("cocoon ask ended by SIGTERM or SIGHUP (timeout(1), a closed terminal, a process manager) while its job runs (walk39)", () => {
  let c: Awaited<ReturnType<typeof standIn>>;
  beforeAll(async () => {
    c = await standIn();
  });
  afterAll(() => c.close());

  // SIGHUP takes the same listener (STOP_SIGNALS); one real process per case costs ~2 s, so one signal here
  it.each([["SIGTERM"]] as const)(
    "%s: the real CLI cancels the submitted job before it exits (it died at once: the job ran to its maxTokens, billed, its answer unreadable)",
    async (signal) => {
      // Prepare: the CLI in a process of its own, signalled once its submit reached the coordinator
      const r = requester(c.url);
      c.state.requester = r.account;
      c.state.seen = [];
      const submitted: string[] = [];
      const child = spawn(process.execPath, [join(import.meta.dirname, "../bin/cocoon.mjs"), ...ASK_HELLO_DEV, ...r.args], {
        env: { ...process.env, COCOON_HOME: home },
        stdio: ["ignore", "ignore", "pipe"],
      });
      children.push(child);
      let err = "";
      child.stderr.on("data", (d) => (err += String(d)));
      c.state.onSubmit = (jobId) => {
        submitted.push(jobId);
        child.kill(signal);
      };
      // Act
      const code = await new Promise<number | null>((resolve) => child.on("exit", (n) => resolve(n)));
      // Assess
      expect(submitted).toHaveLength(1);
      expect(c.state.seen.filter((s) => s.endsWith("/cancel"))).toEqual([`POST /v1/jobs/${submitted[0]}/cancel`]);
      expect(err).toContain(`interrupted; cancelled job ${submitted[0]}`);
      expect(code).toBe(EX_INTERRUPTED);
    },
  );
});

describe("cocoon serve stopped (Ctrl-C, SIGTERM) while an app's job runs (walk39)", () => {
  let c: Awaited<ReturnType<typeof standIn>>;
  beforeAll(async () => {
    c = await standIn();
  });
  afterAll(() => c.close());

  // one real process (~2 s); a streamed answer's stop was checked by hand against npm start (20 of 60 tokens billed)
  it.each([[false]])(
    "stream %s: cancels the job of each request still open before it exits (it died at once: the job ran to its max_tokens, billed)",
    async (stream) => {
      // Prepare: a proxy of its own on a free port, signalled once its job's submit reached the coordinator
      const r = requester(c.url);
      c.state.requester = r.account;
      c.state.seen = [];
      const submitted: string[] = [];
      const free = createServer();
      await new Promise<void>((ok) => free.listen(0, "127.0.0.1", ok));
      const port = (free.address() as AddressInfo).port;
      await new Promise((ok) => free.close(ok));
      const child = spawn(
        process.execPath,
        [join(import.meta.dirname, "../bin/cocoon.mjs"), "serve", "--port", String(port), "--allow-dev", ...r.args],
        { env: { ...process.env, COCOON_HOME: home }, stdio: ["ignore", "pipe", "pipe"] },
      );
      children.push(child);
      let err = "";
      child.stderr.on("data", (d) => (err += String(d)));
      await new Promise<void>((ok) => child.stdout.on("data", (d) => String(d).includes("OpenAI-compatible proxy") && ok()));
      c.state.onSubmit = (jobId) => {
        submitted.push(jobId);
        child.kill("SIGTERM");
      };
      // Act: the app's request, left open by the proxy's end
      const app = fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hello" }], max_tokens: 16, stream }),
      })
        .then((res) => res.text())
        .catch((e: unknown) => e);
      const code = await new Promise<number | null>((resolve) => child.on("exit", (n) => resolve(n)));
      await app;
      // Assess
      expect([submitted.length, err]).toEqual([1, expect.stringContaining("cocoon serve stopped")]);
      expect(c.state.seen.filter((s) => s.endsWith("/cancel"))).toEqual([`POST /v1/jobs/${submitted[0]}/cancel`]);
      expect(code).toBe(EX_INTERRUPTED);
    },
  );
});

describe("cocoon ask --json, interrupted (Ctrl-C): one JSON line naming the job (walk39)", () => {
  let c: Awaited<ReturnType<typeof standIn>>;
  beforeAll(async () => {
    c = await standIn();
  });
  afterAll(() => c.close());

  it("stderr is {error: {code: interrupted, details: {jobId, submitted, cancel}}}, exit 130 (it was a text note: no job id for a script)", async () => {
    // Prepare: Ctrl-C once the job's submit reached the coordinator
    const r = requester(c.url);
    c.state.requester = r.account;
    const keys: { press?: () => void } = {};
    const submitted: string[] = [];
    c.state.onSubmit = (jobId) => {
      submitted.push(jobId);
      keys.press?.();
    };
    // Act
    const { code, out, err } = await cocoon([...ASK_HELLO_DEV, "--json", ...r.args], keys);
    // Assess
    expect([code, out]).toEqual([EX_INTERRUPTED, ""]);
    expect(err.trim().split("\n")).toHaveLength(1);
    const e = JSON.parse(err).error;
    expect(e).toMatchObject({
      code: "interrupted",
      status: 0,
      details: { jobId: submitted[0], submitted: true, cancel: { jobId: submitted[0], cancelled: true } },
    });
    expect(e.message).toContain(`interrupted; cancelled job ${submitted[0]}`);
  });
});

describe("cocoon ask --timeout: a job still running when the command gives up is cancelled before it exits", () => {
  let c: Awaited<ReturnType<typeof standIn>>;
  beforeAll(async () => {
    c = await standIn();
  });
  afterAll(() => c.close());

  it.each([["--no-stream"], ["streamed"]])("%s: exits 2 with the timeout on stderr, the job's cancel already sent", async (mode) => {
    // Prepare: the stand-in holds the submit open (the job runs on and on)
    const r = requester(c.url);
    c.state.requester = r.account;
    const submitted: string[] = [];
    c.state.seen = [];
    c.state.onSubmit = (jobId) => void submitted.push(jobId);
    // Act
    const { code, err } = await cocoon([...ASK_HELLO_DEV, "--timeout", "1", ...(mode === "streamed" ? [] : [mode]), ...r.args]);
    // Assess
    expect(code).toBe(2);
    expect(submitted).toHaveLength(1);
    // Regression: it said only "did not finish within 1000 ms", not that the job was cancelled and billed for what was generated
    expect(err).toContain(
      `\nerror [timeout]: job ${submitted[0]} did not finish within 1000 ms; cancelled job ${submitted[0]} at ${new Date(CANCELLED_AT).toISOString()}: ` +
        `its worker stops; it is billed only for what was generated, or refunded if nothing was (\`cocoon job ${submitted[0]}\` shows its bill once it ended)\n`,
    );
    expect(c.state.seen.filter((s) => s.endsWith("/cancel"))).toEqual([`POST /v1/jobs/${submitted[0]}/cancel`]);
  });
});

describe("cocoon ask --timeout --json: the failure names the job it gave up on", () => {
  let c: Awaited<ReturnType<typeof standIn>>;
  beforeAll(async () => {
    c = await standIn();
  });
  afterAll(() => c.close());

  it("details.jobId is the job cancelled, for `cocoon job` (it was only inside the message)", async () => {
    // Prepare: the stand-in holds the submit open (the job runs on and on)
    const r = requester(c.url);
    c.state.requester = r.account;
    const submitted: string[] = [];
    c.state.onSubmit = (jobId) => void submitted.push(jobId);
    // Act
    const { code, out, err } = await cocoon([...ASK_HELLO_DEV, "--timeout", "1", "--json", ...r.args]);
    // Assess
    expect([code, out]).toEqual([2, ""]);
    expect(JSON.parse(err)).toEqual({
      error: { code: "timeout", message: expect.any(String), status: 0, details: { jobId: submitted[0] } },
    });
  });
});

describe("cocoon ask --max-price: a price cap per token", () => {
  let c: Awaited<ReturnType<typeof standIn>>;
  beforeAll(async () => {
    c = await standIn();
    c.state.answerCancelled = true; // a submit is answered at once
  });
  afterAll(() => c.close());

  it("a worker priced above it is not encrypted to (price_above_max, exit 2, nothing submitted); at its price it is", async () => {
    // Prepare: the stand-in's one worker asks 100 nanoTON per token (and the stand-in ignores the cap it is sent)
    const r = requester(c.url);
    c.state.requester = r.account;
    const ask = (cap: string) => cocoon([...ASK_HELLO_DEV, "--max-price", cap, "--json", ...r.args]);
    c.state.seen = [];
    // Act
    const below = await ask("99");
    const seenBelow = [...c.state.seen];
    c.state.seen = [];
    const at = await ask("100");
    // Assess
    expect([below.code, below.out]).toEqual([2, ""]);
    expect(JSON.parse(below.err)).toMatchObject({ error: { code: "price_above_max" } });
    expect(seenBelow).not.toContain("POST /v1/jobs");
    // at its price the job is sealed to it and submitted (the stand-in finishes every job as cancelled: job_cancelled, exit 2)
    expect(c.state.seen).toContain("POST /v1/jobs");
    expect(JSON.parse(at.out)).toMatchObject({ workerId: worker.signing.id, finishReason: "cancelled" });
    expect(JSON.parse(at.err)).toMatchObject({ error: { code: "job_cancelled" } });
  });

  it("a cap that is not a whole number of nanoTON is a usage error (64), nothing sent", async () => {
    // Prepare
    c.state.seen = [];
    // Act
    const r = await cocoon(["ask", "hello", "--model", MODEL, "--max-price", "0.5", ...requester(c.url).args]);
    // Assess
    expect(r.code).toBe(64);
    expect(r.err).toContain("must be a whole number of nanoTON");
    expect(c.state.seen).toEqual([]);
  });
});

describe("cocoon ask, its job cancelled while it ran (cocoon cancel from elsewhere)", () => {
  let c: Awaited<ReturnType<typeof standIn>>;
  beforeAll(async () => {
    c = await standIn();
    c.state.answerCancelled = true;
  });
  afterAll(() => c.close());

  /** The job the stand-in finished last (as cancelled): its id and what it was billed. */
  const lastJob = () => {
    const [jobId, job] = [...c.state.jobs.entries()].at(-1)!;
    return { jobId, cost: (job as { cost: string }).cost };
  };

  it.each([["--no-stream"], ["streamed"]])(
    "%s: prints what was generated, then one coded line that the job was cancelled and what it was billed; exits 2",
    async (mode) => {
      // Prepare
      const r = requester(c.url);
      c.state.requester = r.account;
      // Act
      const { code, out, err } = await cocoon([
        "ask",
        "capital of France?",
        "--model",
        MODEL,
        "--allow-dev",
        "--tier",
        "dev",
        ...(mode === "streamed" ? [] : [mode]),
        ...r.args,
      ]);
      // Assess: regression: it exited 0 with a note, so a script took the cut answer for a whole one
      const { jobId, cost } = lastJob();
      expect(code).toBe(2);
      expect(out).toMatch(/^Paris is\n/);
      expect(err.split("\n").filter((l) => /^(error|note)\b/.test(l))).toEqual([
        `error [job_cancelled]: job ${jobId} was cancelled before it finished (cocoon cancel): its answer stops where its worker stopped, ` +
          `and was billed ${cost} nanoTON for what was generated (\`cocoon job ${jobId}\` shows its bill)`,
      ]);
    },
  );

  it("--json: the answer (finishReason cancelled) on stdout, and the failure on stderr with the job, its status and bill; exits 2", async () => {
    // Prepare
    const r = requester(c.url);
    c.state.requester = r.account;
    // Act
    const { code, out, err } = await cocoon([
      "ask",
      "capital of France?",
      "--model",
      MODEL,
      "--allow-dev",
      "--tier",
      "dev",
      "--json",
      ...r.args,
    ]);
    // Assess
    const { jobId, cost } = lastJob();
    expect(code).toBe(2);
    expect(JSON.parse(out)).toMatchObject({
      jobId,
      text: "Paris is",
      finishReason: "cancelled",
      usage: { promptTokens: 5, completionTokens: 2 },
    });
    expect(err.endsWith("\n") && err.split("\n").length).toBe(2); // one line
    expect(JSON.parse(err)).toEqual({
      error: {
        code: "job_cancelled",
        status: 0,
        message: expect.stringContaining(`job ${jobId} was cancelled before it finished`),
        details: { jobId, status: "completed", cancelled: true, cost },
      },
    });
  });
});

describe("cocoon job <jobId>", () => {
  // Regression: the README tells users to read a job before asking again (after a timeout or a
  // lost connection), as client.job(jobId) does, but the CLI had no command for it.
  let c: Awaited<ReturnType<typeof standIn>>;
  beforeAll(async () => {
    c = await standIn();
    c.state.answerCancelled = true;
  });
  afterAll(() => c.close());

  it("prints its status, usage and cost; --json the coordinator's job as it answers it", async () => {
    // Prepare: a job asked (and ended) earlier
    const r = requester(c.url);
    c.state.requester = r.account;
    const asked = await cocoon(["ask", "capital of France?", "--model", MODEL, "--allow-dev", "--tier", "dev", "--json", ...r.args]);
    const jobId = (JSON.parse(asked.out) as { jobId: string }).jobId;
    const stored = c.state.jobs.get(jobId) as { cost: string; maxCost: string; cancelledAt: number };
    // Act
    const human = await cocoon(["job", jobId, ...r.args]);
    const json = await cocoon(["job", jobId, ...r.args, "--json"]);
    // Assess
    expect({ code: human.code, err: human.err }).toEqual({ code: 0, err: "" });
    expect(human.out).toBe(
      [
        `job ${jobId}: completed · model ${MODEL} · worker ${worker.signing.id} (tier dev)`,
        "  usage 5 prompt + 2 completion tokens (its receipt)",
        `  cost ${stored.cost} nanoTON (${formatTon(BigInt(stored.cost))}), held ${stored.maxCost}`,
        `  cancelled at ${new Date(stored.cancelledAt).toISOString()}`,
      ].join("\n") + "\n",
    );
    expect({ code: json.code, err: json.err }).toEqual({ code: 0, err: "" });
    expect(JSON.parse(json.out)).toEqual(stored);
  });

  it("a job the coordinator does not know: its refusal, exit 2", async () => {
    // Act
    const r = await cocoon(["job", JOB_ID, ...requester(c.url).args]);
    // Assess
    expect(r.code).toBe(2);
    expect(r.err).toBe("error [not_found]: stand-in: not_found\n");
  });
});
