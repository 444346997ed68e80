import { describe, expect, it } from "vitest";
import { z } from "zod";
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
        // a route that takes several wire shapes (POST /v1/agent/results: one result or a batch)
        // declares their union; each client route sends one of them, and reads its answer with
        // the answer's shape in the same place of the response's union
        const body = "body" in r ? r.body : undefined;
        if (body === s.body) expect(r.response).toBe(s.response);
        else {
          const at = s.body instanceof z.ZodUnion ? s.body.options.indexOf(body as never) : -1;
          expect(at, `${key(r)} sends a body the server declares`).toBeGreaterThanOrEqual(0);
          expect(s.response instanceof z.ZodUnion && s.response.options[at]).toBe(r.response);
        }
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
