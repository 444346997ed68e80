/**
 * `cocoon ask` failures a requester hits before or after the coordinator answers, reported as
 * `error [code]` with exit 2 (64 for a bad option), never a stack trace: a --max-tokens past the
 * network's cap, a prompt past the prompt cap, a coordinator that went away mid-answer. Each of
 * them ended the command with an uncaught error and exit 1. Nothing here reaches a coordinator
 * (the API named is a closed port). And the commands that read what a key made refuse a key file
 * that is not there instead of making a new key.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { runCli } from "../api-client/cli-testing";
import { ApiError } from "../api-client/api";
import { MAX_JOB_PROMPT_TOKENS, MAX_JOB_TOKENS } from "../events/api";
import { failureNotice, main } from "./cli";
import { JobOutcomeUnknownError, JobRefundedError, JobTimeoutError } from "./sdk";

const home = tempDir("cocoon-cli-errors-");
process.env.COCOON_HOME = home; // no .cocoon/local.json of this checkout leaks in

const JOB_ID = "job_" + "0".repeat(26);
/** A requester of its own against a port nobody listens on, naming its model (no models request). */
const asking = (...more: string[]) => [
  "ask",
  "--api",
  "http://127.0.0.1:1",
  "--key",
  join(tempDir("cocoon-cli-errors-key-"), "requester.key"),
  "--model",
  "test/model",
  "--allow-dev",
  ...more,
];

describe("cocoon ask: input past the network's caps", () => {
  it("--max-tokens past the cap on a job's completion tokens is a usage error (64) naming the cap, as JSON with --json", async () => {
    // Act
    const text = await runCli(main, asking("--max-tokens", String(MAX_JOB_TOKENS + 1), "hello"));
    const json = await runCli(main, asking("--max-tokens", String(MAX_JOB_TOKENS + 1), "--json", "hello"));
    // Assess
    expect(text.code).toBe(64);
    expect(text.err).toContain(`must be at most ${MAX_JOB_TOKENS}`);
    expect(json.code).toBe(64);
    expect(JSON.parse(json.err)).toMatchObject({ error: { code: "usage_error", status: 0 } });
  });

  it("a prompt past the cap on a job's prompt tokens: error [prompt_too_large] naming the field and the limit, exit 2, stdout empty", async () => {
    // Prepare: words whose bytes (one token each at most) pass the cap
    const words = Array.from({ length: MAX_JOB_PROMPT_TOKENS / 1000 + 1 }, () => "a".repeat(999));
    // Act
    const text = await runCli(main, asking(...words));
    const json = await runCli(main, asking("--json", ...words));
    // Assess
    expect([text.code, text.out]).toEqual([2, ""]);
    // walk40: its own code (it was the generic invalid_request), the sealed request's cap named
    expect(text.err).toMatch(
      /^error \[prompt_too_large\]: the prompt would seal to up to \d+ bytes, past the network's cap of 204800 bytes/,
    );
    expect([json.code, json.out]).toEqual([2, ""]);
    expect(JSON.parse(json.err)).toMatchObject({ error: { code: "prompt_too_large", status: 0, details: { param: "messages" } } });
  });
});

describe("cocoon ask --file: a prompt longer than a command line takes", () => {
  it("the file's text is the prompt, after the words: past the prompt cap it is refused as the same prompt in words is", async () => {
    // Prepare: a file past the cap (one argument of a command line holds at most 128 KiB on Linux)
    const file = join(tempDir("cocoon-cli-errors-file-"), "prompt.txt");
    writeFileSync(file, "a".repeat(MAX_JOB_PROMPT_TOKENS + 1));
    // Act
    const r = await runCli(main, asking("--json", "--file", file, "summarise:"));
    // Assess: refused by the SDK before anything is sent, so the file was read into the prompt
    expect([r.code, r.out]).toEqual([2, ""]);
    expect(JSON.parse(r.err)).toMatchObject({ error: { code: "prompt_too_large", details: { param: "messages" } } });
  });

  it("a file past 1 MiB is refused prompt_file_too_large, exit 2, without reading on (--file /dev/zero read until memory ran out)", async () => {
    // Prepare
    const file = join(tempDir("cocoon-cli-errors-file-"), "big.txt");
    writeFileSync(file, "a".repeat((1 << 20) + 1));
    // Act
    const r = await runCli(main, asking("--json", "--file", file));
    const endless = await runCli(main, asking("--json", "--file", "/dev/zero"));
    // Assess
    expect([r.code, r.out, endless.code]).toEqual([2, "", 2]);
    expect(JSON.parse(r.err)).toMatchObject({ error: { code: "prompt_file_too_large" } });
    expect(JSON.parse(endless.err)).toMatchObject({ error: { code: "prompt_file_too_large" } });
  });

  it("no words and no file, or only blanks: a usage error (64); a file that cannot be read: prompt_file_unreadable, exit 2", async () => {
    // Act
    const none = await runCli(main, asking("--json"));
    const blank = await runCli(main, asking("--json", " "));
    const missing = await runCli(main, asking("--json", "--file", join(home, "no-such-prompt.txt")));
    // Assess
    expect([none.code, blank.code]).toEqual([64, 64]);
    expect(JSON.parse(none.err)).toMatchObject({ error: { code: "usage_error", details: { commander: "missingArgument" } } });
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.err)).toMatchObject({ error: { code: "prompt_file_unreadable" } });
  });
});

describe("failureNotice: what a failed command reports", () => {
  it("a refunded job: its code, and the job with what its worker reported, for `cocoon job` (the id was only inside the message)", () => {
    // Act
    const failure = { workerId: "W".repeat(43), code: "engine_unavailable" };
    const n = failureNotice(new JobRefundedError("job_failed", `job ${JOB_ID} was not answered (failed)`, failure, JOB_ID));
    // Assess
    expect(n).toMatchObject({ code: "job_failed", details: { jobId: JOB_ID, failure } });
  });

  it("a job whose outcome is unknown: its code, the job and whether it was submitted, and the command that reads it", () => {
    // Act
    const n = failureNotice(new JobOutcomeUnknownError(JOB_ID, true, 30_000, new Error("ECONNREFUSED")));
    // Assess
    expect(n).toMatchObject({ code: "job_outcome_unknown", details: { jobId: JOB_ID, submitted: true } });
    expect(n?.message).toContain(`before checking it (cocoon job ${JOB_ID})`);
    expect(n?.message).not.toContain("client.job");
  });

  it("a timeout names its job in details; an API error is reported as it is; a bug is not a notice (thrown on)", () => {
    // Prepare
    const api = new ApiError(402, "insufficient_funds", "no funds", { needed: "1" });
    // Act + Assess
    expect(failureNotice(new JobTimeoutError(JOB_ID, "late"))).toEqual({ code: "timeout", message: "late", details: { jobId: JOB_ID } });
    expect(failureNotice(api)).toBe(api);
    expect(failureNotice(new TypeError("a bug"))).toBeUndefined();
  });
});

describe("cocoon job / cancel / withdrawal / receipts verify: a key file that is not there", () => {
  it.each([
    ["job", JOB_ID],
    ["cancel", JOB_ID],
    ["withdrawal", "0"],
    // it made a new key, then the coordinator answered not_your_job (walk39)
    ["receipts verify", JOB_ID],
  ])("%s: refused (no_key, exit 2) and not made: a new key owns nothing (a mistyped --key read as not_your_job)", async (command, arg) => {
    // Prepare
    const keyFile = join(tempDir("cocoon-cli-errors-key-"), "typo.key");
    // Act
    const r = await runCli(main, [...command.split(" "), arg, "--api", "http://127.0.0.1:1", "--key", keyFile, "--json"]);
    // Assess
    expect([r.code, r.out]).toEqual([2, ""]);
    expect(JSON.parse(r.err)).toMatchObject({ error: { code: "no_key", status: 0 } });
    expect(JSON.parse(r.err).error.message).toContain(`there is no key file at ${keyFile}`);
    expect(existsSync(keyFile)).toBe(false);
  });
});
