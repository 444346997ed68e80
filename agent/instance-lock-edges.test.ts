/**
 * The one-start-per-worker-key guard's wire (agent/instance-lock.ts), edge by edge: what the
 * holder answers and to what, how long an asker or a squatter may hold either side, and that a
 * proof is bound to the asker's nonce. Each case here is a mutant of session 36's guard that the
 * tests of instance-lock.test.ts let through (session 37's mutation run).
 */
import { createConnection, createServer, type Server } from "node:net";
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { generateSigningKey, sign, type SigningKeyPair, verifySignature } from "../core/crypto/keys";
import { instanceName, type InstanceLock, lockWorker } from "./instance-lock";

const held: InstanceLock[] = [];
const squatters: Server[] = [];
afterEach(async () => {
  for (const l of held.splice(0)) if (l.held) await l.release();
  await Promise.all(squatters.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** Factory: the guard for a fresh key, held (released after the test). */
async function holding(key: SigningKeyPair = generateSigningKey()) {
  const l = await lockWorker(key);
  if (!l.held) throw new Error("the guard was not taken");
  held.push(l);
  return { key, lock: l };
}

/** The message a holder signs for `nonce`: the wire format, written out here rather than imported. */
const proofOf = (nonce: string) => `cocoon-agent instance lock\n${nonce}`;

/**
 * Asks the holder of `workerId`'s name: writes each of `pieces` in turn (a tick apart), then
 * resolves with everything it answered once it closes the connection.
 */
function ask(workerId: string, pieces: string[]): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    const socket = createConnection(instanceName(workerId));
    socket.setEncoding("utf8");
    socket.on("data", (c: string) => (got += c));
    socket.on("error", () => {});
    socket.on("close", () => resolve(got));
    socket.once("connect", async () => {
      for (const p of pieces) {
        socket.write(p);
        await new Promise((r) => setTimeout(r, 5));
      }
    });
  });
}

/** The pid and whether the holder's answer proves `key` over `nonce`. */
function proof(answer: string, key: SigningKeyPair, nonce: string) {
  const { pid, sig } = JSON.parse(answer.trim()) as { pid: number; sig: string };
  return { pid, valid: verifySignature(key.publicKey, proofOf(nonce), Buffer.from(sig, "base64")) };
}

/** Factory: a process squatting `workerId`'s name that answers each asker by `answer` (its socket is its own). */
async function squat(workerId: string, answer: (socket: import("node:net").Socket) => void) {
  const s = createServer(answer);
  squatters.push(s);
  await new Promise<void>((r) => s.listen(instanceName(workerId), r));
}

describe.runIf(process.platform === "linux")("the holder's answers", () => {
  it("answers a nonce that arrives in pieces (a stream has no message bounds), signed over the nonce with the worker key", async () => {
    // Prepare
    const { key } = await holding();
    const nonce = randomBytes(32).toString("hex");
    // Act: 10 characters, the other 54, then the newline; and all 64 before the newline
    const inThree = await ask(key.id, [nonce.slice(0, 10), nonce.slice(10), "\n"]);
    const inTwo = await ask(key.id, [nonce, "\n"]);
    // Assess
    expect(proof(inThree, key, nonce)).toEqual({ pid: process.pid, valid: true });
    expect(proof(inTwo, key, nonce)).toEqual({ pid: process.pid, valid: true });
  });

  it.each([
    ["a word", "hello"],
    ["a nonce with a prefix", `x${"a".repeat(64)}`],
    ["a nonce with a suffix", `${"a".repeat(64)}x`],
    ["a nonce one character short", "a".repeat(63)],
    ["an empty line", ""],
  ])("signs nothing but a fresh 64-hex nonce: %s is closed unanswered", async (_what, line) => {
    // Prepare
    const { key } = await holding();
    // Act
    const answer = await ask(key.id, [`${line}\n`]);
    // Assess
    expect(answer).toBe("");
  });

  it("cuts off an asker that sends more than a nonce line without a newline, even while it keeps sending", async () => {
    // Prepare
    const { key } = await holding();
    const socket = createConnection(instanceName(key.id));
    socket.on("error", () => {});
    const closed = new Promise<void>((r) => socket.once("close", () => r()));
    await new Promise<void>((r) => socket.once("connect", () => r()));
    // Act: 67 characters and no newline, then one more every 100 ms (each resets the holder's 2 s idle timeout)
    socket.write("a".repeat(67));
    const trickle = setInterval(() => socket.write("a"), 100);
    try {
      // Assess: cut off (a holder that waited for the newline would keep the asker, and its bytes, for good)
      await closed;
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  }, 5_000);

  it("an asker that hangs up before the answer does not take the holder down, which answers the next one", async () => {
    // Prepare
    const { key } = await holding();
    // Act: ten askers that send a nonce and hang up at once (the holder's write then fails: EPIPE)
    for (let i = 0; i < 10; i++) {
      const socket = createConnection(instanceName(key.id));
      socket.on("error", () => {});
      await new Promise<void>((r) => socket.once("connect", () => r()));
      socket.write(`${randomBytes(32).toString("hex")}\n`);
      socket.destroy();
    }
    const nonce = randomBytes(32).toString("hex");
    const answer = await ask(key.id, [`${nonce}\n`]);
    // Assess
    expect(proof(answer, key, nonce).valid).toBe(true);
  });
});

describe.runIf(process.platform === "linux")("what a start takes for proof", () => {
  it("a replayed proof (the running start's genuine answer to another nonce) does not refuse the start", async () => {
    // Prepare: a local process asks the running start once and keeps its answer; the start ends; the process squats the name replaying it
    const { key, lock } = await holding();
    const recorded = await ask(key.id, [`${randomBytes(32).toString("hex")}\n`]);
    held.splice(held.indexOf(lock), 1);
    await lock.release();
    await squat(key.id, (socket) => socket.once("data", () => socket.end(recorded)));
    // Act
    const l = await lockWorker(key);
    held.push(l);
    // Assess: not refused (a replay would keep this worker from ever starting again), and said
    expect(l.held).toBe(false);
    expect(l.held ? "" : l.reason).toContain("cannot sign with this worker's key");
  });

  it.each([
    ["JSON of another shape", '{"hello":1}\n'],
    ["a pid that is no pid", '{"pid":0,"sig":""}\n'],
  ])("a squatter answering %s does not keep the agent from starting", async (_what, answer) => {
    // Prepare
    const key = generateSigningKey();
    await squat(key.id, (socket) => socket.once("data", () => socket.end(answer)));
    // Act
    const l = await lockWorker(key);
    held.push(l);
    // Assess
    expect(l.held).toBe(false);
  });

  it("a running start's proof that arrives in pieces is still a proof: the start is refused", async () => {
    // Prepare: a holder of the key (another process's guard, as this test plays it) that writes its answer in two pieces
    const key = generateSigningKey();
    await squat(key.id, (socket) => {
      socket.setEncoding("utf8");
      socket.once("data", (line: string) => {
        const answer = JSON.stringify({ pid: 4242, sig: Buffer.from(sign(key, proofOf(line.trim()))).toString("base64") }) + "\n";
        socket.write(answer.slice(0, 20));
        setTimeout(() => socket.end(answer.slice(20)), 20);
      });
    });
    // Act
    const second = lockWorker(key);
    // Assess
    await expect(second).rejects.toMatchObject({ code: "already_running", holderPid: 4242 });
  });

  it("a silent peer is let go after its 2 s: a squatter that never answers (a stopped start) does not hold the start, nor a silent asker the holder", async () => {
    // Prepare: a squatter that accepts and says nothing; a held guard and an asker that connects and says nothing
    const key = generateSigningKey();
    await squat(key.id, (socket) => void socket.resume()); // reads (and ignores) the nonce, so that it sees the asker hang up
    const { key: heldKey } = await holding();
    const asker = createConnection(instanceName(heldKey.id));
    asker.on("error", () => {});
    const askerDropped = new Promise<void>((r) => asker.once("close", () => r()));
    // Act
    const [l] = await Promise.all([lockWorker(key), askerDropped]);
    held.push(l);
    // Assess: both came back (either waiting for good would end at the test's timeout)
    expect(l.held).toBe(false);
  }, 10_000);

  it("a squatter that answers endlessly without a newline is cut off: the start goes on without the guard", async () => {
    // Prepare: 1,001 characters, then one more every 100 ms (each resets the asker's 2 s idle timeout)
    const key = generateSigningKey();
    await squat(key.id, (socket) => {
      socket.on("error", () => {});
      socket.write("x".repeat(1_001));
      const trickle = setInterval(() => socket.write("x"), 100);
      socket.on("close", () => clearInterval(trickle));
    });
    // Act
    const l = await lockWorker(key);
    held.push(l);
    // Assess
    expect(l.held).toBe(false);
  }, 5_000); // an asker that read on for good would never return: this bound is the assertion
});
