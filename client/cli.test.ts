import { createServer } from "node:net";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { BUILTIN_DEFAULT_MODEL } from "../agent/engines/builtin";
import { pollUntil, startTestNet, type TestNet } from "../test/helpers";
import { main } from "./cli";

const home = tempDir("cocoon-cli-");
process.env.COCOON_HOME = home; // no .cocoon/local.json of this checkout leaks in

function io() {
  const o = { out: "", err: "" };
  return { o, out: { write: (s: string) => (o.out += s) }, err: { write: (s: string) => (o.err += s) } };
}

describe("cocoon CLI against a local network", () => {
  let t: TestNet;
  beforeAll(async () => {
    t = await startTestNet();
  });
  afterAll(async () => t?.stop());
  const args = (name: string) => ["--api", t.net.url, "--key", join(home, `${name}.key`)];

  it("issue 10: faucet amounts are parsed exactly (no float); a non-amount is refused with invalid_amount, not a crash", async () => {
    // Act
    const ok = io();
    const code = await main(["faucet", "1.000000001", ...args("faucet"), "--json"], ok.out, ok.err);
    const bad = io();
    const badCode = await main(["faucet", "abc", ...args("faucet"), "--json"], bad.out, bad.err);
    const sci = io();
    const sciCode = await main(["faucet", "1e3", ...args("faucet"), "--json"], sci.out, sci.err);
    // Assess
    expect([code, ok.o.err]).toEqual([0, ""]);
    expect(JSON.parse(ok.o.out).available).toBe("1000000001");
    expect([badCode, bad.o.out]).toEqual([2, ""]);
    expect(JSON.parse(bad.o.err)).toMatchObject({ error: { code: "invalid_amount", status: 0 } }); // --json: failures as JSON too
    expect(sciCode).toBe(2);
  });

  it("ask without --json shows each step of the wait on stderr (plain lines: not a terminal) and the verified answer on stdout", async () => {
    // Prepare
    const fund = io();
    expect(await main(["faucet", "5", ...args("asker")], fund.out, fund.err)).toBe(0);
    // Act
    const r = io();
    const code = await main(
      ["ask", "what", "is", "a", "vault?", ...args("asker"), "--allow-dev", "--tier", "dev", "--max-tokens", "16"],
      r.out,
      r.err,
    );
    // Assess
    expect(code).toBe(0);
    expect(r.o.out).toContain("verified: attestation ✓");
    const steps = r.o.err.trim().split("\n");
    expect(steps[0]).toBe("asking the coordinator for candidates and a quote");
    expect(steps.some((s) => /^job job_\w+ sealed to \d workers?; waiting for the answer$/.test(s))).toBe(true);
    expect(r.o.err).not.toContain("\r");
  });

  it("issue 11: ask prints the answer's tokens as they arrive (several writes before the verification lines), and --no-stream prints it whole", async () => {
    // Prepare: the stream sends a relay message per delta (COCOON_STREAM_INTERVAL_MS is read by the in-process agents at each job)
    process.env.COCOON_STREAM_INTERVAL_MS = "1";
    const fund = io();
    expect(await main(["faucet", "5", ...args("streamer")], fund.out, fund.err)).toBe(0);
    const writes: string[] = [];
    const err = io();
    // Act
    const code = await main(
      ["ask", "count", "the", "words", "of", "this", "question", ...args("streamer"), "--allow-dev", "--tier", "dev", "--max-tokens", "16"],
      { write: (s: string) => void writes.push(s) },
      err.err,
    );
    const whole = io();
    const wholeCode = await main(
      [
        "ask",
        "count",
        "the",
        "words",
        "of",
        "this",
        "question",
        ...args("streamer"),
        "--allow-dev",
        "--tier",
        "dev",
        "--max-tokens",
        "16",
        "--no-stream",
      ],
      whole.out,
      whole.err,
    );
    delete process.env.COCOON_STREAM_INTERVAL_MS;
    // Assess
    expect([code, wholeCode]).toEqual([0, 0]);
    const verification = writes.findIndex((w) => w.includes("verified: attestation ✓"));
    expect(verification).toBeGreaterThan(1);
    const streamedText = writes.slice(0, verification).join("");
    expect(whole.o.out.startsWith(streamedText)).toBe(true);
  });

  it("serve --max-tokens sets the budget of a request that names none (OpenAI's runs to the model's limit; the proxy's default is 1024)", async () => {
    // Prepare: an app that never sends max_tokens, and a funded key for the proxy
    const fund = io();
    expect(await main(["faucet", "5", ...args("server")], fund.out, fund.err)).toBe(0);
    const port = await freePort();
    const served = io();
    const exited = main(["serve", "--port", String(port), "--max-tokens", "4", ...args("server"), "--allow-dev"], served.out, served.err);
    const started = await Promise.race([
      pollUntil("the proxy to listen", () => (served.o.out.includes("OpenAI-compatible proxy on") ? true : undefined), 10_000, 20),
      exited.then((code) => `serve exited with ${code}: ${served.o.err}`),
    ]);
    expect(started).toBe(true);
    // Act
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: BUILTIN_DEFAULT_MODEL, messages: [{ role: "user", content: "Tell me everything." }] }),
    });
    // Assess: the builtin engine's answer is longer than 4 tokens, so the budget cut it
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: Array<{ finish_reason: string }>; usage: { completion_tokens: number } };
    expect(body.choices[0]!.finish_reason).toBe("length");
    expect(body.usage.completion_tokens).toBe(4);
  });

  it("serve --model-alias: an app that hard-codes gpt-4o-mini is served by the aliased Cocoon model, and the startup line lists the aliases", async () => {
    // Prepare: a funded key for the proxy; the app knows only OpenAI's model names
    const fund = io();
    expect(await main(["faucet", "5", ...args("aliaser")], fund.out, fund.err)).toBe(0);
    const port = await freePort();
    const served = io();
    const exited = main(
      [
        "serve",
        "--port",
        String(port),
        "--model-alias",
        `gpt-4o-mini=${BUILTIN_DEFAULT_MODEL}`,
        "--model-alias",
        `gpt-4o=${BUILTIN_DEFAULT_MODEL}`,
        ...args("aliaser"),
        "--allow-dev",
      ],
      served.out,
      served.err,
    );
    const started = await Promise.race([
      pollUntil("the proxy to listen", () => (served.o.out.includes("OpenAI-compatible proxy on") ? true : undefined), 10_000, 20),
      exited.then((code) => `serve exited with ${code}: ${served.o.err}`),
    ]);
    expect(started).toBe(true);
    const openai = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "unused", maxRetries: 0 });
    // Act
    const r = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }], max_tokens: 4 });
    const listed = (await openai.models.list()).data.map((m) => m.id);
    // Assess: answered by the network's model (a job was billed), named as the app asked
    expect(r.model).toBe("gpt-4o-mini");
    expect(r.usage?.completion_tokens).toBeGreaterThan(0);
    expect(listed).toEqual(expect.arrayContaining(["gpt-4o-mini", "gpt-4o", BUILTIN_DEFAULT_MODEL]));
    expect(served.o.out).toContain(`model aliases: gpt-4o-mini → ${BUILTIN_DEFAULT_MODEL}, gpt-4o → ${BUILTIN_DEFAULT_MODEL}`);
  });

  it.each([
    ["a malformed pair", ["--model-alias", "gpt-4o-mini"], /"gpt-4o-mini" is not <openai-name>=<cocoon-model>/],
    ["an empty target", ["--model-alias", "gpt-4o-mini="], /is not <openai-name>=<cocoon-model>/],
    ["an alias defined twice", ["--model-alias", "gpt-4o-mini=a", "--model-alias", "gpt-4o-mini=b"], /"gpt-4o-mini" is defined twice/],
    [
      "an alias of an alias",
      ["--model-alias", "gpt-4o=gpt-4o-mini", "--model-alias", "gpt-4o-mini=a"],
      /itself an alias|another alias serves/,
    ],
  ])("serve refuses %s as a usage error (64), before it listens", async (_what, flags, message) => {
    // Act
    const r = io();
    const code = await main(["serve", "--port", String(await freePort()), ...flags, ...args("server")], r.out, r.err);
    // Assess
    expect(code).toBe(64);
    expect(r.o.err).toMatch(/option '--model-alias <openai-name=cocoon-model>' argument/);
    expect(r.o.err).toMatch(message);
    expect(r.o.out).toBe("");
  });

  it("serve on a loopback API without --allow-dev (no local.json names it): the startup line and the 503 for want of a tdx worker name --allow-dev", async () => {
    // Prepare: the local network's workers are dev ones; this home has no local.json, so dev is not accepted
    const fund = io();
    expect(await main(["faucet", "5", ...args("tdx-only")], fund.out, fund.err)).toBe(0);
    const port = await freePort();
    const served = io();
    const exited = main(["serve", "--port", String(port), ...args("tdx-only")], served.out, served.err);
    const started = await Promise.race([
      pollUntil("the proxy to listen", () => (served.o.out.includes("OpenAI-compatible proxy on") ? true : undefined), 10_000, 20),
      exited.then((code) => `serve exited with ${code}: ${served.o.err}`),
    ]);
    expect(started).toBe(true);
    // Act
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: BUILTIN_DEFAULT_MODEL, max_tokens: 4, messages: [{ role: "user", content: "hi" }] }),
    });
    // Assess
    expect(served.o.out).toContain("only attested (tdx) workers");
    expect(res.status).toBe(503);
    const { error } = (await res.json()) as { error: { message: string } };
    expect(error.message).toContain("no live worker in tiers [tdx]");
    expect(error.message).toMatch(/dev worker\(s\), with SIMULATED attestation, serve \S+ here: restart cocoon serve with --allow-dev/);
  });

  it.each([
    ["no --tier", [], "run cocoon ask again with --allow-dev (or COCOON_ALLOW_DEV=1) to accept them"],
    [
      "--tier tdx (which --allow-dev alone does not widen)",
      ["--tier", "tdx"],
      "run cocoon ask again with --allow-dev --tier tdx,dev to accept them",
    ],
  ])(
    "ask on a loopback API without --allow-dev (no local.json names it), %s: the refusal for want of a tdx worker names the opt-in",
    async (_what, tier, optIn) => {
      // Prepare: the local network's workers are dev ones; this home has no local.json, so dev is not accepted
      const fund = io();
      expect(await main(["faucet", "5", ...args("tdx-asker")], fund.out, fund.err)).toBe(0);
      // Act
      const r = io();
      const code = await main(["ask", "hi", ...args("tdx-asker"), ...tier, "--max-tokens", "4", "--no-stream"], r.out, r.err);
      // Assess
      expect(code).toBe(2);
      expect(r.o.err).toContain("no live worker in tiers [tdx]");
      expect(r.o.err).toMatch(/\d+ dev worker\(s\), with SIMULATED attestation, serve \S+ here: /);
      expect(r.o.err).toContain(optIn);
    },
  );

  it("ask with --allow-dev is served by the same dev workers (the opt-in the hint names works)", async () => {
    // Prepare
    const fund = io();
    expect(await main(["faucet", "5", ...args("dev-asker")], fund.out, fund.err)).toBe(0);
    // Act
    const r = io();
    const code = await main(["ask", "hi", ...args("dev-asker"), "--allow-dev", "--max-tokens", "4", "--no-stream"], r.out, r.err);
    // Assess
    expect(code, r.o.err).toBe(0);
    expect(r.o.err).not.toContain("--allow-dev");
  });

  it("serve refuses a --max-tokens past the network's cap on one job, before it listens", async () => {
    // Act
    const r = io();
    const code = await main(["serve", "--port", String(await freePort()), "--max-tokens", "40000", ...args("server")], r.out, r.err);
    // Assess
    expect(code).not.toBe(0);
    expect(r.o.err).toMatch(/at most 32768/);
    expect(r.o.out).toBe("");
  });
});

/** A port nobody listens on now (`serve --port` takes no 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
