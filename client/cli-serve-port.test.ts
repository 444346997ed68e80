/** `cocoon serve` on a port another program holds: one line with its code and the fix, exit 2, not a stack trace; and over a coordinator nobody answers: 503 to the app, the why on the console. */
import { createServer, type AddressInfo, type Server } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { main } from "./cli";

const home = tempDir("cocoon-serve-port-");

/** Factory: a port held by another listener, as by a first `cocoon serve`; closed by the returned function. */
async function takenPort(): Promise<{ port: number; release: () => Promise<void> }> {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as AddressInfo).port, release: () => new Promise<void>((r) => server.close(() => r())) };
}

function io() {
  const o = { out: "", err: "" };
  return { o, out: { write: (s: string) => (o.out += s) }, err: { write: (s: string) => (o.err += s) } };
}

describe("cocoon serve --port N with N in use", () => {
  it("says listen_failed, that the port is in use and which --port to try (exit 2), as text and as one JSON line", async () => {
    // Prepare: an API nobody answers on (serve does not call it before it listens)
    const { port, release } = await takenPort();
    const argv = ["serve", "--port", String(port), "--api", "http://127.0.0.1:1", "--key", join(home, "requester.key")];
    try {
      // Act
      const text = io();
      const textCode = await main(argv, text.out, text.err);
      const json = io();
      const jsonCode = await main([...argv, "--json"], json.out, json.err);
      // Assess
      expect([textCode, jsonCode]).toEqual([2, 2]);
      expect(text.o.out).toBe("");
      expect(text.o.err).toMatch(new RegExp(`^error \\[listen_failed\\]: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
      expect(text.o.err).toContain(`choose another port: cocoon serve --port ${port + 1}`);
      expect(text.o.err.trim().split("\n")).toHaveLength(1);
      expect(JSON.parse(json.o.err)).toMatchObject({ error: { code: "listen_failed", status: 0 } });
    } finally {
      await release();
    }
  });
});

describe("regression: cocoon serve when the coordinator cannot be reached", () => {
  // BUG: the app's answer was a 502 quoting the coordinator's URL and the socket error, and the
  // console said nothing. The app now gets 503 coordinator_unavailable without them; the console
  // (the person running serve) gets the why.
  it("answers the app 503 coordinator_unavailable and writes the address and the socket error as a warning", async () => {
    // Prepare: a free port for serve, an API nobody answers on
    const { port, release } = await takenPort();
    await release();
    const out = io();
    const argv = ["serve", "--port", String(port), "--api", "http://127.0.0.1:1", "--key", join(home, "requester.key")];
    void main(argv, out.out, out.err); // serves until the test process ends
    for (let i = 0; i < 100 && !out.o.out.includes("proxy on"); i++) await new Promise((r) => setTimeout(r, 50));
    // Act
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }),
    });
    const body = (await res.json()) as { error: { code: string; message: string } };
    // Assess
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).not.toBeNull();
    expect(body.error.code).toBe("coordinator_unavailable");
    expect(body.error.message).not.toMatch(/127\.0\.0\.1:1|ECONNREFUSED/);
    expect(out.o.err).toMatch(
      /^warning \[serve_coordinator_unavailable\]: cannot reach the Cocoon API at http:\/\/127\.0\.0\.1:1 .*ECONNREFUSED/m,
    );
  });
});
