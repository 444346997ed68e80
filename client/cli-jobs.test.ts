/**
 * `cocoon jobs` against a local network: the jobs this key's `cocoon ask` submitted, newest first,
 * each with its status and cost as the coordinator has it, read from the journal kept next to the
 * key (client/journal.ts); a job whose submit never landed shows as not submitted.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { runCli } from "../api-client/cli-testing";
import { loadOrCreateKey } from "../api-client/keys";
import { newJobId } from "../core/ids";
import { startTestNet, type TestNet } from "../test/helpers";
import { main } from "./cli";
import { JobJournal } from "./journal";

// every run names its API and key: no settings of this checkout's .cocoon/ are read
const home = tempDir("cocoon-cli-jobs-");

const cocoon = (argv: string[]) => runCli(main, argv);

describe("cocoon jobs against a local network", () => {
  let t: TestNet;
  beforeAll(async () => {
    t = await startTestNet();
  });
  afterAll(async () => t?.stop());
  const args = (name: string) => ["--api", t.net.url, "--key", join(home, `${name}.key`)];
  const ask = (name: string, prompt: string) =>
    cocoon(["ask", prompt, ...args(name), "--allow-dev", "--tier", "dev", "--max-tokens", "8", "--json"]);

  it("lists the key's asked jobs newest first, each with its status and the cost its ask was billed", async () => {
    // Prepare
    expect((await cocoon(["faucet", "5", ...args("asker")])).code).toBe(0);
    const first = await ask("asker", "the first question");
    const second = await ask("asker", "the second question");
    expect([first.code, second.code], first.err + second.err).toEqual([0, 0]);
    // Act
    const json = await cocoon(["jobs", ...args("asker"), "--json"]);
    const text = await cocoon(["jobs", ...args("asker")]);
    const newest = await cocoon(["jobs", ...args("asker"), "--limit", "1", "--json"]);
    // Assess
    expect(json.code, json.err).toBe(0);
    expect(json.json.jobs).toEqual([
      expect.objectContaining({ jobId: second.json.jobId, status: "completed", cost: second.json.cost, maxCost: second.json.maxCost }),
      expect.objectContaining({ jobId: first.json.jobId, status: "completed", cost: first.json.cost, maxCost: first.json.maxCost }),
    ]);
    expect(json.json.jobs[0].createdAt).toBeGreaterThanOrEqual(json.json.jobs[1].createdAt);
    expect(text.code).toBe(0);
    const [l1, l2] = text.out.split("\n");
    expect(l1).toMatch(new RegExp(`^${second.json.jobId} .* completed · cost ${second.json.cost} nanoTON \\(`));
    expect(l2).toMatch(new RegExp(`^${first.json.jobId} .* completed · cost ${first.json.cost} nanoTON \\(`));
    expect(newest.json.jobs.map((j: { jobId: string }) => j.jobId)).toEqual([second.json.jobId]);
    // the journal holds ids and amounts, never the prompt
    expect(readFileSync(join(home, "asker.key.jobs.jsonl"), "utf8")).not.toContain("question");
  });

  it("a submit the network refused (no funds) leaves its job in the journal, listed as not submitted; another key's list is its own", async () => {
    // Prepare: an account with nothing deposited: its submit is refused (402), its key made by the ask
    const refused = await ask("unfunded", "a question nobody pays for");
    expect(refused.code).toBe(2);
    expect(refused.err).toContain("insufficient_funds");
    // Act
    const json = await cocoon(["jobs", ...args("unfunded"), "--json"]);
    const text = await cocoon(["jobs", ...args("unfunded")]);
    const other = await cocoon(["jobs", ...args("bystander"), "--json"]);
    // Assess
    expect(json.code, json.err).toBe(0);
    expect(json.json.jobs).toEqual([expect.objectContaining({ status: "not_submitted" })]);
    expect(json.json.jobs[0]).not.toHaveProperty("cost");
    expect(text.out).toMatch(/^job_\w+ .* not submitted: the coordinator has no such job/);
    expect(other.code).toBe(2); // no key file: nothing of its own to list
    expect(other.err).toContain("no_key");
  });

  it("an ask whose job cannot be journaled is refused (exit 2, journal_unwritable) before its submit, not a stack trace", async () => {
    // Prepare: where the journal would be, a folder
    mkdirSync(join(home, "blocked.key.jobs.jsonl"), { recursive: true });
    expect((await cocoon(["faucet", "1", ...args("blocked")])).code).toBe(0);
    // Act
    const r = await ask("blocked", "a question with nowhere to note its job");
    const balance = await cocoon(["balance", ...args("blocked"), "--json"]);
    // Assess
    expect(r.code).toBe(2);
    expect(JSON.parse(r.err)).toMatchObject({ error: { code: "journal_unwritable" } });
    expect(balance.json.held).toBe("0"); // nothing submitted, nothing held
  });

  it("an empty list says where the journal is; usage errors are 64; an unreachable coordinator is 2; --help documents --limit", async () => {
    // Prepare: a key whose one job went to another API, where nothing answers
    const keyFile = join(home, "quiet.key");
    const elsewhere = "http://127.0.0.1:9";
    await new JobJournal(`${keyFile}.jobs.jsonl`).record({
      account: loadOrCreateKey(keyFile).id,
      api: elsewhere,
      jobId: newJobId(Date.now()),
      model: "some/model",
      createdAt: Date.now(),
      maxCost: "1000",
    });
    // Act
    const empty = await cocoon(["jobs", ...args("quiet")]);
    const badLimit = await cocoon(["jobs", ...args("quiet"), "--limit", "0"]);
    const unreachable = await cocoon(["jobs", "--api", elsewhere, "--key", keyFile, "--json"]);
    const help = await cocoon(["jobs", "--help"]);
    // Assess
    expect(empty.code).toBe(0);
    expect(empty.out).toContain(`no jobs of this key on this API in ${join(home, "quiet.key.jobs.jsonl")}`);
    expect(badLimit.code).toBe(64);
    expect(unreachable.code).toBe(2);
    expect(JSON.parse(unreachable.err)).toMatchObject({ error: { code: "unreachable" } });
    expect(help.code).toBe(0);
    for (const o of ["--limit", "--api", "--key", "--json"]) expect(help.out).toContain(o);
  });
});
