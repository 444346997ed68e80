/**
 * `cocoon-agent start` sets the worker key it made aside (`worker.key.unused-<time>`, never
 * deleted) when its engine refuses the start (a URL without /v1: exit 78) before it registered.
 * It must move only a key it wrote itself and that is still there as it wrote it: never a key
 * another start wrote, nor one put back in its place while the engine was waited for (vLLM loads
 * for minutes), which may hold a worker's earnings. And even its own key may be in use: another
 * start sharing the file may have registered with it meanwhile, so it is renamed, not deleted.
 */
import * as fs from "node:fs";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { tempDir } from "../test/temp-dir";
import { loadOrCreateKey } from "../api-client/keys";
import { runAgentCli } from "./cli-testing";
import { json, modelList, type StandIn, standIn } from "./engines/stand-in-testing";

/** Paths whose existence check answers "not there" (the moment before another start wrote the file). */
const hidden = vi.hoisted(() => new Set<string>());
vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof fs>();
  return { ...real, existsSync: (p: fs.PathLike) => !hidden.has(String(p)) && real.existsSync(p) };
});

const open: StandIn[] = [];
afterEach(async () => {
  hidden.clear();
  await Promise.all(open.splice(0).map((s) => s.close()));
});

/** Factory: a home holding a worker key made before this start (the machine's worker, with its earnings). */
function homeWithOldKey() {
  const home = tempDir("cocoon-agent-key-undo-");
  const spare = tempDir("cocoon-agent-key-old-");
  const old = join(spare, "worker.key");
  loadOrCreateKey(old);
  return { home, keyFile: join(home, "worker.key"), old, oldSeed: readFileSync(old, "utf8") };
}

/** Factory: vLLM at its origin (no /v1 in the URL the agent is given): start is refused, exit 78. `onFirst` runs before the first answer. */
async function vllmAtOrigin(onFirst: () => void = () => {}) {
  let first = true;
  const s = await standIn((req, res) => {
    if (first) {
      first = false;
      onFirst();
    }
    if (req.url === "/health") return void res.writeHead(200).end();
    if (req.url === "/v1/models") return json(res, 200, modelList(["m"]));
    json(res, 404, { detail: "Not Found" });
  });
  open.push(s);
  return s.url.replace(/\/v1$/, "");
}

const start = (home: string, engineUrl: string) =>
  runAgentCli(
    ["start", "--api", "http://127.0.0.1:1", "--tier", "dev", "--metrics-port", "0", "--engine", "openai", "--engine-url", engineUrl],
    { COCOON_HOME: home },
  );

describe("cocoon-agent start refused by its engine sets aside only the key it made", () => {
  it("a key put back in place while the engine was waited for is kept, not removed with the one start made", async () => {
    // Prepare: the user restores the machine's old key (as start's 'made a new worker key' warning suggests) during the wait
    const { home, keyFile, old, oldSeed } = homeWithOldKey();
    const engineUrl = await vllmAtOrigin(() => renameSync(old, keyFile));
    // Act
    const r = await start(home, engineUrl);
    // Assess
    expect(r.code).toBe(78);
    expect(r.out).toContain("made a new worker key");
    expect(readFileSync(keyFile, "utf8")).toBe(oldSeed);
  });

  it("a key another start wrote just after this one looked (both found none) is kept: this start did not make it", async () => {
    // Prepare: the key is there, but this start's existence check ran before the other start wrote it
    const { home, keyFile, oldSeed } = homeWithOldKey();
    writeFileSync(keyFile, oldSeed, { mode: 0o600 });
    hidden.add(keyFile);
    const engineUrl = await vllmAtOrigin();
    // Act
    const r = await start(home, engineUrl);
    // Assess
    expect(r.code).toBe(78);
    expect(readFileSync(keyFile, "utf8")).toBe(oldSeed);
  });

  it("a key it made and nothing replaced is set aside, not left in place (no refused start leaves a worker key)", async () => {
    // Prepare
    const home = tempDir("cocoon-agent-key-undo-fresh-");
    const engineUrl = await vllmAtOrigin();
    // Act
    const r = await start(home, engineUrl);
    // Assess
    expect(r.code).toBe(78);
    expect(fs.readdirSync(home)).toEqual([expect.stringMatching(/^worker\.key\.unused-/)]);
  });
});

describe("cocoon-agent start refused by its engine never deletes the key it made", () => {
  it("two first starts share one new key: the one that made it, refused after the other registered with it, sets it aside (0600) and says where", async () => {
    // Prepare: while this start waits for its engine, another start (a second service, a shell)
    // finds the key this one wrote, loads it and registers a worker that will earn under it
    const home = tempDir("cocoon-agent-key-undo-shared-");
    const keyFile = join(home, "worker.key");
    const other: { seed?: string; id?: string } = {};
    const engineUrl = await vllmAtOrigin(() => {
      other.seed = readFileSync(keyFile, "utf8");
      other.id = loadOrCreateKey(keyFile).id;
    });
    // Act
    const r = await start(home, engineUrl);
    // Assess: the other worker's key is still on disk, recoverable, and the log says where
    expect(r.code).toBe(78);
    const aside = fs.readdirSync(home).filter((n) => n.startsWith("worker.key.unused-"));
    expect(aside).toHaveLength(1);
    const file = join(home, aside[0]!);
    expect(readFileSync(file, "utf8")).toBe(other.seed);
    expect(loadOrCreateKey(file).id).toBe(other.id);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(keyFile)).toBe(false);
    const line = r.out
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.movedTo !== undefined);
    expect(line).toMatchObject({ level: "warn", keyFile, movedTo: file, workerId: other.id });
    expect(line!.msg).toContain(`move it back to ${keyFile}`);
  });

  it("status, finding no key, names the key set aside (redeem shares the message)", async () => {
    // Prepare: a start refused by its engine set its key aside
    const home = tempDir("cocoon-agent-key-undo-hint-");
    await start(home, await vllmAtOrigin());
    const [aside] = fs.readdirSync(home);
    // Act
    const r = await runAgentCli(["status", "--api", "http://127.0.0.1:1", "--metrics-port", "0"], { COCOON_HOME: home });
    // Assess
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error [no_key]: there is no worker key at ${join(home, "worker.key")}`);
    expect(r.err).toContain(`set a key it had made aside: ${join(home, aside!)}; if a worker ran with one of them, move it back`);
  });
});
