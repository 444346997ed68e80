/**
 * An API URL whose scheme the coordinator does not speak: `--api https://…` at a plain-HTTP
 * coordinator failed every registration with OpenSSL's "wrong version number", and `--api
 * http://…` at a TLS one with "socket hang up"; start waited both out forever as "unreachable".
 * They are the setting's fault: exit 78 (EX_CONFIG, not restarted by the unit) naming apiUrl.
 * An outage (refused, reset by a server that is no TLS server) is still waited out.
 */
import { createServer as createTlsServer } from "node:https";
import { createServer as createNetServer, type AddressInfo, type Server } from "node:net";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { afterEach, describe, expect, it } from "vitest";
import { ApiClient, ApiError } from "../api-client/api";
import { routeStandIn } from "../api-client/stand-in-testing";
import { generateSigningKey } from "../core/crypto/keys";
import { tempDir } from "../test/temp-dir";
import { runAgentCli } from "./cli-testing";
import { EX_CONFIG } from "./config";
import { apiSchemeMismatch } from "./runtime";

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

const pem = (label: string, der: ArrayBuffer) => {
  const lines = Buffer.from(der)
    .toString("base64")
    .match(/.{1,64}/g)!;
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
};

/** A throwaway self-signed P-256 certificate for 127.0.0.1, and its key, as PEM. */
async function selfSigned(): Promise<{ cert: string; key: string }> {
  const alg = { name: "ECDSA", namedCurve: "P-256" } as const;
  const pair = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as import("node:crypto").webcrypto.CryptoKeyPair;
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = new asn1js.Integer({ value: 1 });
  const name = new pkijs.RelativeDistinguishedNames({
    typesAndValues: [new pkijs.AttributeTypeAndValue({ type: "2.5.4.3", value: new asn1js.Utf8String({ value: "127.0.0.1" }) })],
  });
  cert.subject = name;
  cert.issuer = name;
  cert.notBefore.value = new Date("2020-01-01T00:00:00Z");
  cert.notAfter.value = new Date("2049-01-01T00:00:00Z");
  await cert.subjectPublicKeyInfo.importKey(pair.publicKey);
  await cert.sign(pair.privateKey, "SHA-256");
  return {
    cert: pem("CERTIFICATE", cert.toSchema().toBER(false)),
    key: pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", pair.privateKey)),
  };
}

/** A coordinator behind TLS (any answer will do: the agent's plain requests never get one). */
async function tlsCoordinator(): Promise<number> {
  const server = createTlsServer(await selfSigned(), (_req, res) => res.writeHead(404).end("{}"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  open.push({ close: () => new Promise((r) => server.close(r)) });
  return (server.address() as AddressInfo).port;
}

/** A server that takes each connection and drops it at once (a coordinator restarting, a proxy resetting). */
async function resetting(): Promise<number> {
  const server: Server = createNetServer((socket) => socket.destroy());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  open.push({ close: () => new Promise((r) => server.close(r)) });
  return (server.address() as AddressInfo).port;
}

const start = (api: string, home: string) =>
  runAgentCli(["start", "--api", api, "--tier", "dev", "--metrics-port", "0"], { COCOON_HOME: tempDir(home) });

describe("cocoon-agent start with an API URL of the wrong scheme", () => {
  it("https:// at a plain-HTTP coordinator: exit 78 naming apiUrl and the http:// URL", async () => {
    // Prepare
    const api = await routeStandIn(() => ({ status: 404, body: { error: { code: "no_such_route", message: "no" } } }));
    open.push(api);
    const https = api.url.replace(/^http:/, "https:");
    // Act
    const r = await start(https, "cocoon-agent-https-at-http-");
    // Assess: the old agent retried forever ("unreachable", wrong version number)
    expect(r.err).toContain(`apiUrl (--api, COCOON_API_URL or agent.json): ${https} is https, but the server at`);
    expect(r.err).toContain(`use ${api.url}`);
    expect(r.code).toBe(EX_CONFIG);
  });

  it("http:// at a TLS coordinator: exit 78 naming apiUrl and the https:// URL", async () => {
    // Prepare
    const port = await tlsCoordinator();
    // Act
    const r = await start(`http://127.0.0.1:${port}`, "cocoon-agent-http-at-https-");
    // Assess: the old agent retried forever ("socket hang up")
    expect(r.err).toContain(`apiUrl (--api, COCOON_API_URL or agent.json): http://127.0.0.1:${port} is http, but the server at`);
    expect(r.err).toContain(`use https://127.0.0.1:${port}`);
    expect(r.code).toBe(EX_CONFIG);
  });
});

describe("apiSchemeMismatch: an outage is no config error", () => {
  /** What the agent's API client throws asking `url`. */
  const failureAt = async (url: string) => {
    const e = await new ApiClient(url, generateSigningKey()).requestJson("GET", "/v1/health").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    return e;
  };

  it("a connection reset by a server that answers no TLS handshake: left to the retries", async () => {
    // Prepare
    const url = `http://127.0.0.1:${await resetting()}`;
    const e = await failureAt(url);
    // Act + Assess
    expect((e as ApiError).code).toBe("unreachable");
    expect(await apiSchemeMismatch(url, e)).toBeUndefined();
  });

  it("a refused connection, at http:// or https://: left to the retries", async () => {
    // Prepare: a port nothing listens on (a server's, closed)
    const port = await resetting();
    await open.pop()!.close();
    for (const url of [`http://127.0.0.1:${port}`, `https://127.0.0.1:${port}`]) {
      const e = await failureAt(url);
      // Act + Assess
      expect(await apiSchemeMismatch(url, e)).toBeUndefined();
    }
  });
});
