/**
 * One `cocoon-agent start` per worker key (agent/instance-lock.ts): a second start in the same
 * home registered the worker again and every job the first one took then failed (bad_request),
 * found by walking the README's try-out (session 36). The guard must refuse only a start whose
 * key a running one proves it holds: a process that merely squats the (public) name must not
 * keep the agent from starting.
 */
import { createConnection, createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { generateSigningKey, sign } from "../core/crypto/keys";
import { loadOrCreateKey } from "../api-client/keys";
import { AlreadyRunningError, instanceName, type InstanceLock, lockWorker } from "./instance-lock";
import { runAgentCli } from "./cli-testing";

const held: InstanceLock[] = [];
const squatters: Server[] = [];
afterEach(async () => {
  for (const l of held.splice(0)) if (l.held) await l.release();
  await Promise.all(squatters.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** Factory: the guard for `key`, released after the test. */
async function lock(key = generateSigningKey()) {
  const l = await lockWorker(key);
  held.push(l);
  return l;
}

/** Factory: a process that binds a worker's instance name and answers each asker `reply`. */
async function squat(workerId: string, reply: (line: string) => string): Promise<void> {
  const s = createServer((socket) => {
    socket.setEncoding("utf8");
    socket.once("data", (line: string) => socket.end(reply(line.trim()) + "\n"));
  });
  squatters.push(s);
  await new Promise<void>((r) => s.listen(instanceName(workerId), r));
}

describe.runIf(process.platform === "linux")("the one-start-per-worker-key guard", () => {
  it("refuses a second holder of the same key, naming the running one's pid, and is free again once released", async () => {
    // Prepare
    const key = generateSigningKey();
    const first = await lockWorker(key);
    // Act
    const second = lockWorker(key);
    // Assess
    await expect(second).rejects.toBeInstanceOf(AlreadyRunningError);
    await expect(second).rejects.toMatchObject({ code: "already_running", holderPid: process.pid, workerId: key.id });
    expect(first.held).toBe(true);
    if (first.held) await first.release();
    expect((await lock(key)).held).toBe(true);
  });

  it("lets another worker's key start beside a running one", async () => {
    // Prepare
    await lock();
    // Act
    const other = await lock();
    // Assess
    expect(other.held).toBe(true);
  });

  it.each([
    ["answers no JSON", () => "hello"],
    [
      "signs with another key",
      (nonce: string) => JSON.stringify({ pid: 1, sig: Buffer.from(sign(generateSigningKey(), nonce)).toString("base64") }),
    ],
  ])("a squatter on the name that %s does not keep the agent from starting (no guard, and a reason)", async (_how, reply) => {
    // Prepare
    const key = generateSigningKey();
    await squat(key.id, reply);
    // Act
    const l = await lock(key);
    // Assess
    expect(l.held).toBe(false);
    expect(l.held ? "" : l.reason).toContain("cannot sign with this worker's key");
  });

  it("takes the guard when the holder it asks releases the name meanwhile (a start ending as another begins)", async () => {
    // Prepare: a holder that stops (releases the name) as it is asked, so no proof comes
    const key = generateSigningKey();
    const ending = createServer((socket) => {
      ending.close();
      socket.destroy();
    });
    await new Promise<void>((r) => ending.listen(instanceName(key.id), r));
    // Act
    const l = await lock(key);
    // Assess: the name is free, so this start holds it (unguarded, a third start would run beside it)
    expect(l.held).toBe(true);
    await expect(lockWorker(key)).rejects.toBeInstanceOf(AlreadyRunningError);
  });

  it("releases at once while an asker trickles bytes (a local process must not hold the agent's exit)", async () => {
    // Prepare: the guard held, and an asker that sends one byte of a nonce every 200 ms (each resets the 2 s idle timeout)
    const key = generateSigningKey();
    const l = await lockWorker(key);
    if (!l.held) throw new Error("the guard was not taken");
    const asker = createConnection(instanceName(key.id));
    await new Promise<void>((r) => asker.once("connect", () => r()));
    const trickle = setInterval(() => asker.write("a"), 200);
    const closed = new Promise<void>((r) => asker.once("close", () => r()));
    asker.on("error", () => {});
    try {
      // Act
      await l.release();
      // Assess: released without waiting for the asker (the test's timeout would end a wait of ~13 s), and the asker cut off
      await closed;
    } finally {
      clearInterval(trickle);
      asker.destroy();
    }
  }, 5_000); // a release that waits for the asker takes ~13 s (66 bytes at 200 ms): this bound is the assertion
});

describe("the guard where there are no abstract Unix sockets", () => {
  it("is not taken and says nothing (no warning on every start)", async () => {
    // Act
    const l = await lockWorker(generateSigningKey(), { platform: "darwin" });
    // Assess
    expect(l).toEqual({ held: false });
  });
});

describe.runIf(process.platform === "linux")("cocoon-agent start with a worker key a running start holds", () => {
  it("is refused with already_running and exit 78 before it serves metrics or registers, under --json too", async () => {
    // Prepare: the running start's guard; a closed API port, so a start that went on would retry registering forever
    const home = tempDir("cocoon-agent-twice-");
    await lock(loadOrCreateKey(join(home, "worker.key")));
    const argv = ["start", "--api", "http://127.0.0.1:1", "--tier", "dev", "--metrics-port", "0"];
    const within5s = (p: Promise<{ code: number; out: string; err: string }>) =>
      Promise.race([
        p,
        new Promise<{ code: number; out: string; err: string }>((r) =>
          setTimeout(() => r({ code: -1, out: "", err: "still running" }), 5_000),
        ),
      ]);
    // Act
    const text = await within5s(runAgentCli(argv, { COCOON_HOME: home }));
    const json = await within5s(runAgentCli([...argv, "--json"], { COCOON_HOME: home }));
    // Assess
    expect([text.code, json.code]).toEqual([78, 78]);
    expect(text.err).toMatch(/^error \[already_running\]: another cocoon-agent start \(pid \d+\) is serving worker /);
    expect(text.err).toContain(
      "Stop the running one first (Ctrl-C, or systemctl stop cocoon-agent), or start this one with its own COCOON_HOME (a new worker, with its own key)",
    );
    expect(text.out).not.toContain("metrics");
    expect(text.out).not.toContain("register");
    expect(JSON.parse(json.err.trim().split("\n").at(-1)!)).toMatchObject({ error: { code: "already_running" } });
  });
});
