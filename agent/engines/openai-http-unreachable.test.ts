/**
 * An engine the agent cannot reach is said as it failed, for the URL the owner gave: nothing
 * listening on its port, TLS to a plain server (real sockets); a name that does not resolve, a
 * server that hangs up or does not speak HTTP (by their codes). None of these is a path problem (no path is read before a connection), so none blames
 * the URL's /v1, which the owner's URL here has.
 */
import { createServer as createHttpServer } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { errorOf } from "./engine-testing";
import { createOpenAiEngine, unreachableWhy } from "./openai-http";

const servers: Array<{ close(cb: () => void): void }> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

/** A port nothing listens on: one a listener held and gave back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** The engine at `baseUrl`'s failure to list its models (the call start waits on). */
const modelsAt = (baseUrl: string) => errorOf(createOpenAiEngine({ baseUrl, timeoutMs: 5_000 }).models());

describe("an engine URL with /v1 that cannot be reached", () => {
  it("says nothing listens on its host and port when the connection is refused", async () => {
    // Prepare
    const port = await closedPort();
    // Act
    const err = await modelsAt(`http://127.0.0.1:${port}/v1`);
    // Assess
    expect(err.code).toBe("engine_unavailable");
    expect(err.message).toBe(
      `cannot reach the engine at http://127.0.0.1:${port}/v1/models: nothing is listening on 127.0.0.1:${port} (ECONNREFUSED): is the server running, on that port?`,
    );
  });

  it("says TLS failed when the URL says https to a plain-http server", async () => {
    // Prepare
    const server = createHttpServer((_req, res) => res.end("{}"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    servers.push(server);
    const { port } = server.address() as AddressInfo;
    // Act
    const err = await modelsAt(`https://127.0.0.1:${port}/v1`);
    // Assess
    expect(err.code).toBe("engine_unavailable");
    expect(err.message).toMatch(/TLS to 127\.0\.0\.1:\d+ failed|closed the connection before answering/);
    expect(err.message).not.toContain("must include /v1");
  });
});

describe("unreachableWhy: each failure said for its host", () => {
  const url = "http://gpu-box:8000/v1/models";
  it.each([
    ["ENOTFOUND", "the host name gpu-box does not resolve (ENOTFOUND)"],
    ["EAI_AGAIN", "the host name gpu-box does not resolve (EAI_AGAIN)"],
    ["UND_ERR_CONNECT_TIMEOUT", "gpu-box:8000 did not accept a connection (UND_ERR_CONNECT_TIMEOUT)"],
    ["EHOSTUNREACH", "gpu-box:8000 did not accept a connection (EHOSTUNREACH)"],
    ["UND_ERR_SOCKET", "gpu-box:8000 closed the connection before answering (UND_ERR_SOCKET)"],
    ["HPE_INVALID_CONSTANT", "gpu-box:8000 did not answer HTTP (HPE_INVALID_CONSTANT)"],
    ["ERR_SSL_WRONG_VERSION_NUMBER", "TLS to gpu-box:8000 failed (ERR_SSL_WRONG_VERSION_NUMBER)"],
    ["DEPTH_ZERO_SELF_SIGNED_CERT", "TLS to gpu-box:8000 failed (DEPTH_ZERO_SELF_SIGNED_CERT)"],
    ["EWHATEVER", "the connection to gpu-box:8000 failed (EWHATEVER)"],
  ])("%s", (code, said) => {
    // Act
    const why = unreachableWhy(url, code);
    // Assess
    expect(why.startsWith(said)).toBe(true);
    expect(why).not.toContain("/v1");
  });
});
