/**
 * Issue 12: requests that reach Lambda without API Gateway. On AWS every route's function also
 * answers at its own function URL and GET /v1/routes names them; the SDK and the agent send each
 * request to its route's URL, signed for that URL's host. Here a second edge on 127.0.0.1 (the
 * same handlers over the same store, at another host:port, as a function URL is another host in
 * front of the same code and table) stands in for the function URLs of the two hot routes.
 */
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { generateSigningKey } from "../core/crypto/keys";
import { apiHostOf, signRequest } from "../core/crypto/request-auth";
import { startNetwork, type LocalNetwork } from "../local/network";
import { startLocalAgents } from "../local/agents";
import { startHttpServer } from "../local/http-server";
import { routes } from "../functions/http/routes";
import { routeUrlsFromEnv } from "../functions/http/route-directory";
import { ConfigError } from "../functions/config";
import type { RunningAgent } from "../agent/runtime";
import { BUILTIN_DEFAULT_MODEL } from "../agent/engines/builtin";
import { API, ApiClient } from "../api-client/api";
import { CocoonClient } from "../client/sdk";

let net: LocalNetwork;
let agents: RunningAgent[];
/** the stand-in for the routes' function URLs: the same handlers, another host:port */
let side: http.Server;
let sideUrl: string;
const atBase: string[] = [];
const atSide: string[] = [];

beforeAll(async () => {
  net = await startNetwork({ chain: false, dataDir: tempDir("cocoon-routes-") });
  net.server.on("request", (req: http.IncomingMessage) => atBase.push(`${req.method} ${req.url?.split("?")[0]}`));
  ({ server: side, url: sideUrl } = await startHttpServer({ routes, deps: net.deps, port: 0 }));
  side.on("request", (req: http.IncomingMessage) => atSide.push(`${req.method} ${req.url?.split("?")[0]}`));
  net.routeUrls["POST /v1/jobs"] = sideUrl;
  net.routeUrls["POST /v1/agent/results"] = `${sideUrl}/`; // a function URL ends with a slash: the directory drops it
  agents = await startLocalAgents(net.url, tempDir("cocoon-routes-agents-"), [{ name: "a", priceBps: 10_000 }]);
}, 60_000);

afterAll(async () => {
  await Promise.all((agents ?? []).map((a) => a.stop()));
  side?.close();
  await net?.stop();
});

describe("issue 12: GET /v1/routes and per-route URLs (Lambda function URLs on AWS)", () => {
  it("the directory names the routes that answer elsewhere, unsigned, with the trailing slash dropped", async () => {
    // Act
    const res = await fetch(`${net.url}/v1/routes`);
    // Assess
    expect(res.status).toBe(200);
    expect(API.routeDirectory.response.parse(await res.json())).toEqual({
      urls: { "POST /v1/jobs": sideUrl, "POST /v1/agent/results": sideUrl },
    });
  });

  it("COCOON_ROUTE_URLS is checked at cold start by the same schema: route keys to origins, the trailing slash dropped", () => {
    expect(routeUrlsFromEnv('{"POST /v1/jobs":"https://abc.lambda-url.us-east-1.on.aws/"}')).toEqual({
      "POST /v1/jobs": "https://abc.lambda-url.us-east-1.on.aws",
    });
    expect(() => routeUrlsFromEnv('{"POST /v1/jobs":"https://abc.example/prefix"}')).toThrow(ConfigError);
    expect(() => routeUrlsFromEnv('{"PUT /v1/jobs":"https://abc.example"}')).toThrow(ConfigError);
    expect(() => routeUrlsFromEnv("not json")).toThrow(ConfigError);
  });

  it("a job's submit and its worker's result go to their routes' URLs, signed for that host; the rest stays at the base URL", async () => {
    // Prepare
    const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
    await client.faucet(1_000_000_000n);
    const from = { base: atBase.length, side: atSide.length };
    // Act
    const r = await client.ask({
      model: BUILTIN_DEFAULT_MODEL,
      messages: [{ role: "user", content: "which door did this come through?" }],
      maxTokens: 16,
      tiers: ["dev"],
    });
    await expect.poll(() => atSide.slice(from.side)).toContain("POST /v1/agent/results");
    // Assess: verified as always (receipt, bill), and the two hot requests never touched the base URL
    expect(r.text.length).toBeGreaterThan(0);
    expect(r.receipt?.body.jobId).toBe(r.jobId);
    expect(atSide.slice(from.side).sort()).toEqual(["POST /v1/agent/results", "POST /v1/jobs"]);
    expect(atBase.slice(from.base)).not.toContain("POST /v1/jobs");
    expect(atBase.slice(from.base)).not.toContain("POST /v1/agent/results");
    expect(atBase.slice(from.base)).toContain("POST /v1/jobs/prepare"); // not in the directory: the base URL
    client.close();
  });

  it("a request signed for the base URL's host is refused at a route's URL (the host is in the signature)", async () => {
    // Prepare: an account, and a request for it signed for the base URL's host
    const key = generateSigningKey();
    await new ApiClient(net.url, key).request(API.faucet, { body: { amount: "1000" } });
    const sign = (host: string) => signRequest(key, { method: "GET", path: "/v1/account", body: "", host, now: Date.now() });
    // Act: sent to the route's URL (another host) instead; and, as a control, signed for that host
    const refused = await fetch(`${sideUrl}/v1/account`, { headers: { "x-cocoon-auth": sign(apiHostOf(net.url)) } });
    const accepted = await fetch(`${sideUrl}/v1/account`, { headers: { "x-cocoon-auth": sign(apiHostOf(sideUrl)) } });
    // Assess
    expect(refused.status).toBe(401);
    expect(accepted.status).toBe(200);
  });

  it("a coordinator without the directory (404): every request goes to its base URL, and the directory is asked once", async () => {
    // Prepare: the second edge serves the routes but no GET /v1/routes, as a coordinator from before it
    const api = new ApiClient(sideUrl, generateSigningKey());
    const from = atSide.length;
    // Act
    await api.request(API.faucet, { body: { amount: "1000" } });
    await api.request(API.account);
    // Assess
    expect(atSide.slice(from)).toEqual(["GET /v1/routes", "POST /v1/account/faucet", "GET /v1/account"]);
  });

  describe("a directory that is wrong or goes stale", () => {
    /** a port nothing listens on: a function URL whose function is gone */
    const closed = "http://127.0.0.1:1";
    const restore = () => {
      for (const k of Object.keys(net.routeUrls)) delete net.routeUrls[k];
      net.routeUrls["POST /v1/jobs"] = sideUrl;
      net.routeUrls["POST /v1/agent/results"] = sideUrl;
    };

    it("entries that are not a route key and an origin are left out, the rest kept", async () => {
      // Prepare
      net.routeUrls["PUT /v1/account"] = sideUrl; // not a route key this client knows how to name
      net.routeUrls["GET /v1/account"] = `${sideUrl}/prefix`; // not an origin
      net.routeUrls["POST /v1/account/faucet"] = sideUrl;
      const api = new ApiClient(net.url, generateSigningKey());
      const from = { base: atBase.length, side: atSide.length };
      // Act
      await api.request(API.faucet, { body: { amount: "1000" } });
      await api.request(API.account);
      // Assess
      expect(atSide.slice(from.side)).toEqual(["POST /v1/account/faucet"]);
      expect(atBase.slice(from.base)).toEqual(["GET /v1/routes", "GET /v1/account"]);
      restore();
    });

    it("a route URL that refuses connections: the request goes to the base URL instead, and so do the next ones for a while", async () => {
      // Prepare
      net.routeUrls["POST /v1/account/faucet"] = closed;
      net.routeUrls["GET /v1/account"] = closed;
      const api = new ApiClient(net.url, generateSigningKey());
      const from = atBase.length;
      // Act
      const funded = await api.request(API.faucet, { body: { amount: "1000" } });
      const again = await api.request(API.account);
      // Assess: answered, from the base URL; the directory not asked again meanwhile
      expect(funded.available).toBe("1000");
      expect(again.available).toBe("1000");
      expect(atBase.slice(from)).toEqual(["GET /v1/routes", "POST /v1/account/faucet", "GET /v1/account"]);
      restore();
    });

    it("a directory that fails (not JSON): every request to the base URL, the directory not asked before each", async () => {
      // Prepare: a base that answers the directory with garbage and passes the rest on to the second edge
      const handlers = side.listeners("request") as Array<(req: http.IncomingMessage, res: http.ServerResponse) => void>;
      const seen: string[] = [];
      const broken = http.createServer((req, res) => {
        seen.push(`${req.method} ${req.url?.split("?")[0]}`);
        if (req.url === "/v1/routes") return res.writeHead(500).end("<html>oops</html>");
        handlers.forEach((h) => h.call(side, req, res));
      });
      await new Promise<void>((r) => broken.listen(0, "127.0.0.1", r));
      const port = (broken.address() as { port: number }).port;
      const api = new ApiClient(`http://127.0.0.1:${port}`, generateSigningKey());
      // Act: refused for the host (the second edge signs for its own), but answered: what matters is where they went
      await api.request(API.models).catch(() => undefined);
      await api.request(API.models).catch(() => undefined);
      // Assess
      expect(seen).toEqual(["GET /v1/routes", "GET /v1/models", "GET /v1/models"]);
      broken.close();
    });
  });
});
