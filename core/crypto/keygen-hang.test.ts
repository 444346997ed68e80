/**
 * Issue 14 (found by the handler fuzz: 100k-request runs stalled for good at random points):
 * on Node 20, a key pair from node:crypto's key generation whose KeyGenJob is collected by a GC
 * that runs while the key is exported as JWK (rawPublicKey) deadlocks the process: the job's
 * destructor waits for the mutex the export holds (gdb: ExportJWKEdKey → GC →
 * ~KeyGenJob → uv_mutex_lock). Any process that makes keys often hangs sooner or later: an
 * agent seals every reply with a fresh HPKE key, the SDK every request. Keys are now imported
 * from random bytes. This runs the key making of an agent and the SDK in a child process with
 * small young-generation space (GCs often); the old code hung in 5 runs of 6 here, this one
 * finishes in seconds.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const script = fileURLToPath(new URL("../../test/fixtures/keygen-stress.ts", import.meta.url));

describe("issue 14: making keys never hangs the process", () => {
  it("issue 14: 60,000 signing keys, KEM keys and HPKE encapsulations under GC pressure finish (the KeyGenJob/JWK-export deadlock)", () => {
    // Act
    const r = spawnSync(process.execPath, ["--max-semi-space-size=1", "--import", "tsx", script, "60000"], {
      encoding: "utf8",
      timeout: 60_000,
    });
    // Assess: a hang is killed by the timeout (signal SIGTERM, no output)
    expect({ signal: r.signal, status: r.status, out: r.stdout.trim() }).toEqual({ signal: null, status: 0, out: "made 60000 keys" });
  }, 90_000);
});
