import { describe, expect, it } from "vitest";
import { chainFaucet, devChainRoutes, httpRelayRoutes, routes } from "../functions/http/routes";
import { route as routeDirectory } from "../functions/http/route-directory";
import { API, routeOf } from "./routes";

/** Every route the coordinator serves (the local default mounts the dev chain routes and the HTTP relay too). */
const server = [...routes, ...devChainRoutes, ...httpRelayRoutes, chainFaucet, routeDirectory].map((r) => r.spec);
const client = Object.entries(API);
const key = (r: { method: string; path: string }) => `${r.method} ${r.path}`;

describe("issue 10: one schema per wire shape, used by the server and by the clients", () => {
  it("every server route is known to the API client, and every client route is served", () => {
    expect(new Set(client.map(([, r]) => key(r)))).toEqual(new Set(server.map(key)));
  });

  it.each(client)(
    "%s: the client parses the answer with the very schema the server declares (and sends the body it parses)",
    (_name, r) => {
      const declared = server.filter((s) => key(s) === key(r));
      expect(declared.length).toBeGreaterThan(0);
      for (const s of declared) {
        expect(s.response, `${key(r)} declares a response schema`).toBeDefined();
        expect(r.response).toBe(s.response);
        expect("body" in r ? r.body : undefined).toBe(s.body);
        // the client uses its session exactly where the server takes one
        expect("session" in r && r.session === true, `${key(r)}: session on the client iff auth "session" on the server`).toBe(
          s.auth === "session",
        );
      }
    },
  );

  it("a concrete path finds its route; a query is ignored; an unknown path finds none", () => {
    expect(routeOf("GET", "/v1/jobs/job_01jdqv6x7s9k2m4n8p0r3t5w00?wait=20")).toBe(API.getJob);
    expect(routeOf("POST", "/v1/agents")).toBe(API.registerWorker);
    expect(routeOf("POST", "/v1/agents/nonce")).toBe(API.workerNonce);
    expect(routeOf("GET", "/v1/account/withdrawals/3")).toBe(API.withdrawalStatus);
    expect(routeOf("GET", "/v1/jobs")).toBeUndefined();
    expect(routeOf("POST", "/v1/jobs/x/y")).toBeUndefined();
  });
});
