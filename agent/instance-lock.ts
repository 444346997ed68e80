/**
 * One `cocoon-agent start` per worker key at a time. A second start with the same key (a second
 * shell on the same COCOON_HOME, `start` by hand beside the systemd unit, a copied key) registers
 * the worker again with a new HPKE key: from then on jobs are sealed to the newer process, and the
 * first one, still polling as if nothing happened, fails each job it takes (bad_request) until one
 * of them stops; when the second one stops, its shutdown announcement takes the worker off the
 * candidate lists while the first still runs. Found by walking the README (session 36).
 *
 * The guard is a Linux abstract Unix socket named for the worker id: the kernel frees the name
 * when the process ends, however it ends (kill -9, OOM), so there is no stale lock file to judge
 * by a pid that may have been reused (a container restart gives the agent the same small pid).
 * The name has no file permissions, so anyone on the machine may bind it: a start that finds it
 * taken asks the holder to sign a fresh nonce with the worker key, and refuses only when the
 * signature holds. A holder that cannot sign is not this worker (a squatter must not keep the
 * agent from starting): the start goes on without the guard and says so. The name is per network
 * namespace: two containers with their own networks sharing one key are not seen. Elsewhere than
 * Linux there are no abstract sockets, and no guard.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { sign, type SigningKeyPair, verifySignature } from "../core/crypto/keys";

/** Another running start holds this worker's key: the start is refused (EX_CONFIG: no restart mends it). */
export class AlreadyRunningError extends Error {
  readonly code = "already_running";
  constructor(
    readonly workerId: string,
    readonly holderPid: number,
  ) {
    super(
      `another cocoon-agent start (pid ${holderPid}) is serving worker ${workerId} with this key: one key serves from one process at a time ` +
        "(a second start registers the worker again, and every job the first one takes then fails). Stop the running one first " +
        "(Ctrl-C, or systemctl stop cocoon-agent), or start this one with its own COCOON_HOME (a new worker, with its own key)",
    );
  }
}

/** What `lockWorker` got: the guard held until `release()`, or why there is none. */
export type InstanceLock = { held: true; release(): Promise<void> } | { held: false; reason?: string };

const NONCE_BYTES = 32;
/** The holder's answer to a nonce: its pid and its signature of the nonce with the worker key. */
const HolderProof = z.object({ pid: z.number().int().positive(), sig: z.string().max(200) });

/** The abstract socket name of a worker's running start (Linux: a leading NUL byte). */
export function instanceName(workerId: string): string {
  return `\0cocoon-agent/worker/${workerId}`;
}

const proofMessage = (nonce: string) => `cocoon-agent instance lock\n${nonce}`;

/** Answers one asker: reads its nonce line (bounded), writes {pid, sig} and closes. */
function answer(key: SigningKeyPair, socket: Socket): void {
  socket.setTimeout(2_000, () => socket.destroy());
  socket.on("error", () => socket.destroy());
  let got = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    got += chunk;
    const end = got.indexOf("\n");
    if (end < 0) {
      if (got.length > 2 * NONCE_BYTES + 2) socket.destroy();
      return;
    }
    const nonce = got.slice(0, end);
    if (!/^[0-9a-f]{64}$/.test(nonce)) return void socket.destroy();
    const sig = Buffer.from(sign(key, proofMessage(nonce))).toString("base64");
    socket.end(JSON.stringify({ pid: process.pid, sig }) + "\n");
  });
}

/** Asks the holder of `name` to prove it holds `key`: its pid when it does, undefined otherwise (or no answer in 2 s). */
async function provenHolder(name: string, key: SigningKeyPair): Promise<number | undefined> {
  const nonce = randomBytes(NONCE_BYTES).toString("hex");
  const reply = await new Promise<string | undefined>((resolve) => {
    let got = "";
    const socket = createConnection(name);
    socket.setEncoding("utf8");
    socket.setTimeout(2_000, () => socket.destroy());
    socket.on("connect", () => socket.write(nonce + "\n"));
    socket.on("data", (chunk: string) => {
      got += chunk;
      if (got.length > 1_000) socket.destroy();
    });
    socket.on("error", () => {});
    socket.on("close", () => resolve(got.includes("\n") ? got.slice(0, got.indexOf("\n")) : undefined));
  });
  if (reply === undefined) return undefined;
  let parsed;
  try {
    parsed = HolderProof.safeParse(JSON.parse(reply));
  } catch {
    return undefined;
  }
  if (!parsed.success) return undefined;
  return verifySignature(key.publicKey, proofMessage(nonce), Buffer.from(parsed.data.sig, "base64")) ? parsed.data.pid : undefined;
}

/**
 * The pid of the running start that proves it holds `key`, or undefined (none runs, or not Linux):
 * `status` asks it when the metrics port does not answer as this worker, so that an agent whose
 * port was taken at its start (a warning in its log only) is not reported "not running here".
 */
export async function runningHolder(key: SigningKeyPair, { platform = process.platform } = {}): Promise<number | undefined> {
  return platform === "linux" ? provenHolder(instanceName(key.id), key) : undefined;
}

function listen(server: Server, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(name, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/**
 * Takes the guard for `key`'s worker, held until `release()`; throws AlreadyRunningError when a
 * running start proves it holds the same key. `platform` is for tests.
 */
export async function lockWorker(key: SigningKeyPair, { platform = process.platform } = {}): Promise<InstanceLock> {
  if (platform !== "linux") return { held: false }; // no abstract Unix sockets: nothing to say on every start
  const name = instanceName(key.id);
  const askers = new Set<Socket>();
  const server = createServer((socket) => {
    askers.add(socket.on("close", () => askers.delete(socket)));
    answer(key, socket);
  });
  // twice: a holder that ended while it was asked (no proof) left the name free, and this start takes it
  for (let tries = 2; ; tries--) {
    try {
      await listen(server, name);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE") return { held: false, reason: (e as Error).message };
      const pid = await provenHolder(name, key);
      if (pid !== undefined) throw new AlreadyRunningError(key.id, pid);
      if (tries === 1)
        return { held: false, reason: "the worker's instance name is held by a process that cannot sign with this worker's key" };
    }
  }
  server.unref(); // the guard never keeps the process alive by itself
  server.on("error", () => {}); // a failed accept (out of descriptors) must not end an agent mid-jobs: the guard just answers less
  const release = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of askers) s.destroy(); // an asker trickling bytes must not hold the agent's exit
    });
  return { held: true, release };
}
