/**
 * Session 23 review (resource exhaustion) of the HTTP edge: what one client can make the
 * coordinator hold (connections, buffered bodies, long-polls) and for how long. Every test runs
 * on 127.0.0.1 with counts and waits of a few and seconds at most.
 */
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Server } from "node:http";
import { generateSigningKey } from "../core/crypto/keys";
import { signRequest } from "../core/crypto/request-auth";
import { makeJobWorld } from "../core/jobs/testing";
import { bodyText, httpRequest, jsonResponse, type HttpRequest } from "../edge/http";
import { listenNode, MAX_CONNECTIONS, SERVER_TIMEOUTS } from "../edge/node";
import { defineRoute, failureResponse, routeRequests, WaitQuery, type Route } from "../functions/http/middleware";
import { routes } from "../functions/http/routes";
import { startHttpServer } from "../local/http-server";
import type { LocalNotifier } from "../local/notifier";

// ---------------------------------------------------------------- factories

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

/** Factory: a node edge whose route answers `{ ok: true }` after `answerAfterMs`. */
async function edge(
  o: {
    bodyLimit?: number;
    bodyBudget?: number;
    headersTimeoutMs?: number;
    requestTimeoutMs?: number;
    answerAfterMs?: number;
    maxConnections?: number;
  } = {},
) {
  const failures: string[] = [];
  const { server, port } = await listenNode({
    host: "127.0.0.1",
    port: 0,
    bodyLimit: o.bodyLimit ?? 1000,
    ...(o.headersTimeoutMs !== undefined ? { headersTimeoutMs: o.headersTimeoutMs } : {}),
    ...(o.requestTimeoutMs !== undefined ? { requestTimeoutMs: o.requestTimeoutMs } : {}),
    ...(o.bodyBudget !== undefined ? { bodyBudget: o.bodyBudget } : {}),
    ...(o.maxConnections !== undefined ? { maxConnections: o.maxConnections } : {}),
    handle: async () => {
      await new Promise((r) => setTimeout(r, o.answerAfterMs ?? 0));
      return jsonResponse(200, { ok: true });
    },
    fail: (e, req) => (failures.push((e as Error).name), failureResponse(e, { error: () => {} }, req.path)),
  });
  servers.push(server);
  return { server, port, failures };
}

/** A raw TCP client: what it has received, and whether the server closed it, within `ms`. */
function rawClient(port: number) {
  const socket = connect(port, "127.0.0.1");
  sockets.push(socket);
  let received = "";
  let closed = false;
  socket.setEncoding("utf8");
  socket.on("data", (d: string) => (received += d));
  socket.on("close", () => (closed = true));
  socket.on("error", () => {});
  return {
    write: (s: string) => socket.write(s),
    /** Waits until `done()` or `ms`, whichever is first, and says what was seen. */
    async within(ms: number, done: () => boolean = () => closed) {
      const until = Date.now() + ms;
      while (!done() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      return { received, closed };
    },
    get received() {
      return received;
    },
  };
}

const HOST = "coordinator.test";

/** Factory: a GET signed by `key` at the deps' clock (the query is part of the signed path). */
function signedGet(key: ReturnType<typeof generateSigningKey>, now: number, path: string, query: string): HttpRequest {
  const auth = signRequest(key, { method: "GET", path: `${path}?${query}`, body: "", host: HOST, now });
  return httpRequest({ method: "GET", path, rawQuery: query, headers: { "x-cocoon-auth": auth }, body: "", host: HOST });
}

/** Factory: a signed long-poll route that answers only when the test opens its gate, counting the runs it started. */
function gatedWaitRoute() {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const started = { n: 0 };
  const route = defineRoute(
    { method: "GET", path: "/v1/hold", summary: "hold", auth: "signed", replay: "idempotent", query: WaitQuery },
    async () => {
      started.n++;
      await gate;
      return { ok: true };
    },
  );
  return { route: route as Route, open, started };
}

// ---------------------------------------------------------------- tests

describe("session 23: request bodies and slow clients at the node edge", () => {
  it("a declared Content-Length over the limit is refused at once, before a byte of the body arrives", async () => {
    // Prepare: a client that announces 1 MB and sends none of it
    const { port, failures } = await edge({ bodyLimit: 1000 });
    const c = rawClient(port);
    // Act
    c.write("POST /x HTTP/1.1\r\nhost: a\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n");
    const seen = await c.within(2_000, () => c.received.includes("\r\n\r\n"));
    // Assess: the 413 came without the body (the old edge waited for the body, to buffer up to the limit)
    expect(seen.received).toMatch(/^HTTP\/1\.1 413 /);
    expect(failures).toEqual(["BodyTooLargeError"]);
  });

  it("bodies being read share one budget: past it a body is refused 503 server_busy, and finished reads give their bytes back", async () => {
    // Prepare: room for 1000 body bytes in all; one client holds 600 of them, its body unfinished
    const { port, failures } = await edge({ bodyLimit: 800, bodyBudget: 1000 });
    const holder = rawClient(port);
    holder.write("POST /a HTTP/1.1\r\nhost: a\r\ncontent-length: 700\r\nconnection: close\r\n\r\n" + "x".repeat(600));
    await holder.within(200, () => false);
    const second = rawClient(port);
    // Act: a second body of 500 bytes arrives while the first still holds 600
    second.write("POST /b HTTP/1.1\r\nhost: a\r\ncontent-length: 500\r\nconnection: close\r\n\r\n" + "y".repeat(500));
    const refused = await second.within(2_000, () => second.received.includes("}"));
    holder.write("x".repeat(100));
    const finished = await holder.within(2_000, () => holder.received.includes("}"));
    const third = rawClient(port);
    third.write("POST /c HTTP/1.1\r\nhost: a\r\ncontent-length: 800\r\nconnection: close\r\n\r\n" + "z".repeat(800));
    const after = await third.within(2_000, () => third.received.includes("}"));
    // Assess
    expect(refused.received).toMatch(/^HTTP\/1\.1 503 /);
    expect(refused.received).toContain('"code":"server_busy"');
    expect(refused.received.toLowerCase()).toContain("retry-after: 1");
    expect(failures).toEqual(["BusyError"]);
    expect(finished.received).toMatch(/^HTTP\/1\.1 200 /);
    expect(after.received).toMatch(/^HTTP\/1\.1 200 /);
  });

  it("a body trickled slower than requestTimeout is cut (408), and the answer of a long request is not", async () => {
    // Prepare: short timeouts, a route that answers after the request timeout has passed
    const { port } = await edge({ headersTimeoutMs: 200, requestTimeoutMs: 400, answerAfterMs: 900 });
    const slow = rawClient(port);
    const patient = rawClient(port);
    // Act: one client trickles its body a byte at a time; the other sends at once and waits for the answer
    slow.write("POST /x HTTP/1.1\r\nhost: a\r\ncontent-length: 100\r\n\r\n");
    const trickle = setInterval(() => slow.write("x"), 100);
    patient.write("GET /x HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n");
    const cut = await slow.within(3_000);
    clearInterval(trickle);
    const answered = await patient.within(3_000);
    // Assess
    expect(cut.closed).toBe(true);
    expect(cut.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(answered.received).toMatch(/^HTTP\/1\.1 200 /);
  });

  it("headers trickled slower than headersTimeout are cut", async () => {
    // Prepare
    const { port } = await edge({ headersTimeoutMs: 200, requestTimeoutMs: 400 });
    const c = rawClient(port);
    // Act: a header line every 100 ms, never the blank line that ends them
    c.write("GET /x HTTP/1.1\r\n");
    let i = 0;
    const trickle = setInterval(() => c.write(`x-h${i++}: v\r\n`), 100);
    const seen = await c.within(3_000);
    clearInterval(trickle);
    // Assess
    expect(seen.closed).toBe(true);
  });

  it("the edge's defaults are a minute for a request and 20 s for its headers, not node's 300 s and 60 s", async () => {
    // Prepare / Act
    const { server } = await edge();
    // Assess
    expect(SERVER_TIMEOUTS).toEqual({ headersMs: 20_000, requestMs: 60_000 });
    expect(server.headersTimeout).toBe(20_000);
    expect(server.requestTimeout).toBe(60_000);
  });
});

describe("session 23 leads: connections held at once", () => {
  it("past maxConnections a new connection is closed unanswered; the ones held are served, and room comes back as they close", async () => {
    // Prepare: a server of 2 connections, both held by clients that have not finished their headers
    const { port } = await edge({ maxConnections: 2 });
    const held = [rawClient(port), rawClient(port)];
    for (const c of held) c.write("GET /x HTTP/1.1\r\nhost: a\r\n");
    await held[0]!.within(200, () => false);
    // Act
    const third = rawClient(port);
    third.write("GET /x HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n");
    const refused = await third.within(2_000);
    held[0]!.write("connection: close\r\n\r\n");
    const served = await held[0]!.within(2_000);
    const fourth = rawClient(port);
    fourth.write("GET /x HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n");
    const later = await fourth.within(2_000);
    // Assess: the old server took every connection
    expect(refused).toEqual({ received: "", closed: true });
    expect(served.received).toMatch(/^HTTP\/1\.1 200 /);
    expect(later.received).toMatch(/^HTTP\/1\.1 200 /);
  });

  it("the edge holds at most 10,000 connections by default (node:http's default is no limit)", async () => {
    // Prepare / Act
    const { server } = await edge();
    // Assess
    expect(MAX_CONNECTIONS).toBe(10_000);
    expect(server.maxConnections).toBe(10_000);
  });
});

describe("session 23: the local coordinator refuses what no route takes before reading the body", () => {
  it("a 6 MB body announced to an unknown path, or to a signed route without credentials, is answered unread", async () => {
    // Prepare: the coordinator's own routes on a job world; clients that announce a body and send none
    const w = makeJobWorld();
    const { server, url } = await startHttpServer({ routes, deps: w.deps, port: 0 });
    servers.push(server);
    const port = Number(new URL(url).port);
    const head = (target: string) =>
      `POST ${target} HTTP/1.1\r\nhost: a\r\ncontent-type: application/json\r\ncontent-length: ${6 * 1024 * 1024 - 1}\r\n\r\n`;
    const nowhere = rawClient(port);
    const anonymous = rawClient(port);
    // Act
    nowhere.write(head("/v1/nowhere"));
    anonymous.write(head("/v1/jobs"));
    const a = await nowhere.within(2_000, () => nowhere.received.includes("}"));
    const b = await anonymous.within(2_000, () => anonymous.received.includes("}"));
    // Assess: the answers routeRequests gives, without the 6 MB (the old server waited for it all)
    expect(a.received).toMatch(/^HTTP\/1\.1 404 /);
    expect(a.received).toContain('"code":"no_such_route"');
    expect(b.received).toMatch(/^HTTP\/1\.1 401 /);
    expect(b.received).toContain('"code":"missing_auth"');
  });
});

describe("session 23: long-polls one caller can hold", () => {
  it("a caller past maxWaitsPerCaller open long-polls gets 429 too_many_waits; wait=0 and other callers are not counted", async () => {
    // Prepare: two long-polls held open by one key (the cap), a route that answers when told
    const w = makeJobWorld();
    const { route, open, started } = gatedWaitRoute();
    const handle = routeRequests([route], w.deps, { maxWaitsPerCaller: 2 });
    const key = generateSigningKey();
    const other = generateSigningKey();
    const held = [handle(signedGet(key, w.clock.now(), "/v1/hold", "wait=5")), handle(signedGet(key, w.clock.now(), "/v1/hold", "wait=5"))];
    // Act
    // (raced with a moment: a third that was let in would wait for the gate)
    const third = await Promise.race([
      handle(signedGet(key, w.clock.now(), "/v1/hold", "wait=5")),
      new Promise<{ status: "still waiting"; headers: Record<string, string>; body: string }>((r) =>
        setTimeout(() => r({ status: "still waiting", headers: {}, body: "{}" }), 200),
      ),
    ]);
    const noWait = handle(signedGet(key, w.clock.now(), "/v1/hold", "wait=0"));
    const otherKey = handle(signedGet(other, w.clock.now(), "/v1/hold", "wait=5"));
    await new Promise((r) => setImmediate(r));
    open();
    const answered = await Promise.all([...held, noWait, otherKey]);
    const afterwards = await handle(signedGet(key, w.clock.now(), "/v1/hold", "wait=5"));
    // Assess
    expect(third.status).toBe(429);
    expect(third.headers["retry-after"]).toBe("1");
    expect(JSON.parse(await bodyText(third.body))).toMatchObject({ error: { code: "too_many_waits", details: { limit: 2 } } });
    expect(answered.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(started.n).toBe(5); // the refused one never ran: the 2 held, wait=0, the other key, afterwards
    expect(afterwards.status).toBe(200); // the slots came back
  });

  it("long-polls whose clients went away right after asking are let go: none is left waiting (the old code kept 1024, the cap)", async () => {
    // Prepare: a job that will not finish (its worker never answers), served on 127.0.0.1 on the real clock
    const w = makeJobWorld();
    w.clock.now = () => Date.now();
    const { r, header } = await w.submitted(1);
    const { server, url } = await startHttpServer({ routes, deps: w.deps, port: 0 });
    servers.push(server);
    const port = Number(new URL(url).port);
    const target = `/v1/jobs/${header.jobId}?wait=20`;
    const asks = 1100; // the default cap (MAX_WAITS_PER_CALLER) is 1024
    // Act: each client sends its long-poll and hangs up once it is written
    const askAndLeave = () =>
      new Promise<void>((done) => {
        const auth = signRequest(r, { method: "GET", path: target, body: "", host: new URL(url).host });
        const s = connect(port, "127.0.0.1", () =>
          s.write(`GET ${target} HTTP/1.1\r\nhost: a\r\nx-cocoon-auth: ${auth}\r\n\r\n`, () => (s.destroy(), done())),
        );
        s.on("error", () => done());
      });
    for (let i = 0; i < asks; i += 20) await Promise.all(Array.from({ length: Math.min(20, asks - i) }, askAndLeave));
    // (until the count of waiters stops moving: every request was read and run)
    const pending = () => (w.deps.notifier as LocalNotifier).pending();
    for (let last = -1, until = Date.now() + 5_000; pending() !== last && Date.now() < until;) {
      last = pending();
      await new Promise((res) => setTimeout(res, 250));
    }
    // Assess: the waits took the request's signal (the old code held a listener and a timer per
    // waiter until it timed out, 20 s: 1024 of them, MAX_WAITS_PER_CALLER, the rest refused 429)
    expect(pending()).toBe(0);
  });
});
