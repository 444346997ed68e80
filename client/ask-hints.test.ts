/**
 * `cocoon ask`'s first refusals in a requester's words (walk39): a mistyped --model read "see GET
 * /v1/models", and an account short of funds "deposit more or lower maxTokens" (an SDK field),
 * naming neither a command nor a flag. Against a stand-in coordinator on 127.0.0.1.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { runCli } from "../api-client/cli-testing";
import { routeStandIn, type StandInAnswer } from "../api-client/stand-in-testing";
import { editDistance, nearestModel, withFundsHint, withModelHint } from "./ask-hints";
import { main } from "./cli";

process.env.COCOON_HOME = tempDir("cocoon-ask-hints-"); // no .cocoon/local.json of this checkout leaks in

const served = {
  models: [
    { model: "cocoon-builtin-echo", workers: 2, tiers: { dev: 2 }, price: { min: "100", median: "110", max: "120" } },
    { model: "llama-3-8b", workers: 1, tiers: { dev: 1 }, price: { min: "100", median: "100", max: "100" } },
    { model: "gone-model", workers: 0, tiers: {}, price: { min: "100", median: "100", max: "100" } },
  ],
};

/** A coordinator whose prepare answers `refusal`, and whose model list is `served`; every other route 404. */
async function coordinator(refusal: StandInAnswer) {
  return routeStandIn((route) => {
    if (route === "GET /v1/models") return { status: 200, body: served };
    if (route === "POST /v1/jobs/prepare") return refusal;
    return { status: 404, body: { error: { code: "no_such_route", message: route } } };
  });
}

const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of closers) await c();
});

async function ask(refusal: StandInAnswer, ...args: string[]) {
  const c = await coordinator(refusal);
  closers.push(c.close);
  const key = join(tempDir("cocoon-ask-hints-key-"), "requester.key");
  return runCli(main, ["ask", "--api", c.url, "--key", key, "--allow-dev", "--json", ...args, "hello"]);
}

describe("cocoon ask: a model nobody serves", () => {
  it("names the nearest served model and the flag to give it, and lists what is served (not GET /v1/models)", async () => {
    // Act
    const r = await ask(
      { status: 404, body: { error: { code: "unknown_model", message: 'model "cocoon-builtin-ech" is not served; see GET /v1/models' } } },
      "--model",
      "cocoon-builtin-ech",
    );
    // Assess: the same code and status, exit 2; the message in a CLI user's words
    expect([r.code, r.out]).toEqual([2, ""]);
    const e = JSON.parse(r.err).error;
    expect([e.code, e.status]).toEqual(["unknown_model", 404]);
    expect(e.message).toContain("did you mean cocoon-builtin-echo? run cocoon ask again with --model cocoon-builtin-echo");
    expect(e.message).toContain("served here: cocoon-builtin-echo, llama-3-8b (`cocoon models`)");
    expect(e.message).not.toContain("GET /v1/models");
    expect(e.message).not.toContain("gone-model"); // no live worker
  });

  it("a name far from every served one: no guess, the list", async () => {
    // Act
    const r = await ask(
      { status: 404, body: { error: { code: "unknown_model", message: "see GET /v1/models" } } },
      "--model",
      "mistral-7b-instruct",
    );
    // Assess
    const e = JSON.parse(r.err).error;
    expect(e.code).toBe("unknown_model");
    expect(e.message).not.toContain("did you mean");
    expect(e.message).toContain("served here: cocoon-builtin-echo, llama-3-8b");
  });
});

describe("cocoon ask: too little balance", () => {
  it("names cocoon deposit, cocoon faucet and --max-tokens, with both amounts; code, status and details kept", async () => {
    // Act
    const r = await ask(
      {
        status: 402,
        body: {
          error: {
            code: "insufficient_funds",
            message: "this job may cost up to 31590 nanoTON but the account has 0 nanoTON available: deposit more or lower maxTokens",
            details: { needed: "31590", available: "0" },
          },
        },
      },
      "--model",
      "cocoon-builtin-echo",
    );
    // Assess
    expect([r.code, r.out]).toEqual([2, ""]);
    const e = JSON.parse(r.err).error;
    expect([e.code, e.status, e.details]).toEqual(["insufficient_funds", 402, { needed: "31590", available: "0" }]);
    expect(e.message).toContain("31590 nanoTON (0.00003159 TON)");
    expect(e.message).toContain("cocoon deposit <TON> (cocoon faucet on the local network)");
    expect(e.message).toContain("a lower --max-tokens");
    expect(e.message).not.toContain("maxTokens");
  });
});

describe("the hints' parts", () => {
  it("edit distance and the nearest name: a typo or a case slip, never a guess far off", () => {
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(editDistance("", "abc")).toBe(3);
    expect(nearestModel("Llama-3-8B", ["llama-3-8b", "qwen"])).toBe("llama-3-8b");
    expect(nearestModel("llama-3-70b", ["llama-3-8b"])).toBe("llama-3-8b");
    expect(nearestModel("gpt-4o", ["llama-3-8b", "cocoon-builtin-echo"])).toBeUndefined();
    expect(nearestModel("x", [])).toBeUndefined();
  });

  it("other errors, and a refusal without the details, come back as they were", async () => {
    const other = Object.assign(new Error("no"), { code: "no_workers" });
    const tab = Object.assign(new Error("tab short"), { code: "insufficient_funds" });
    expect(await withModelHint(other, "m", { models: async () => served })).toBe(other);
    expect(other.message).toBe("no");
    expect(withFundsHint(tab)).toBe(tab);
    expect(tab.message).toBe("tab short");
  });

  it("a model list that cannot be read: the refusal still names cocoon models", async () => {
    const e = Object.assign(new Error("see GET /v1/models"), { code: "unknown_model" });
    await withModelHint(e, "m", { models: () => Promise.reject(new Error("down")) });
    expect(e.message).toBe('model "m" is not served by any worker here; `cocoon models` lists those served');
  });
});
