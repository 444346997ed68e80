/**
 * Session 42 (a requester's walk): `cocoon jobs`'s progress line counts its jobs in English
 * ("reading 1 job", not "reading 1 jobs"). The coordinator is a stand-in on 127.0.0.1 that
 * knows no job, so each journaled one reads back as not submitted.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { runCli } from "../api-client/cli-testing";
import { loadOrCreateKey } from "../api-client/keys";
import { newJobId } from "../core/ids";
import { main } from "./cli";
import { JobJournal } from "./journal";

let coordinator: Server;
let api: string;
beforeAll(async () => {
  coordinator = createServer((req, res) => {
    req.resume();
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { code: "unknown_job", message: "no such job" } }));
  });
  await new Promise<void>((r) => coordinator.listen(0, "127.0.0.1", r));
  api = `http://127.0.0.1:${(coordinator.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => coordinator?.close(r)));

/** A key whose journal lists `n` jobs on the stand-in's API. */
async function keyWithJobs(n: number): Promise<string> {
  const file = join(tempDir("cocoon-jobs42-"), "requester.key");
  const key = loadOrCreateKey(file);
  const journal = new JobJournal(`${file}.jobs.jsonl`);
  for (let i = 0; i < n; i++)
    await journal.record({ account: key.id, api, jobId: newJobId(Date.now()), model: "m", createdAt: Date.now() + i, maxCost: "1" });
  return file;
}

describe("session 42: cocoon jobs says how many jobs it reads", () => {
  it.each([
    [1, "reading 1 job from the coordinator"],
    [2, "reading 2 jobs from the coordinator"],
  ])("%i journaled: %s", async (n, line) => {
    // Prepare
    const key = await keyWithJobs(n);
    // Act
    const r = await runCli(main, ["jobs", "--api", api, "--key", key]);
    // Assess
    expect(r.code, r.err).toBe(0);
    expect(r.err.split("\n")).toContain(line);
    expect(r.out.match(/not submitted/g)).toHaveLength(n);
  });
});
