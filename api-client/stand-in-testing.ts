/**
 * Test factory: a stand-in coordinator over real HTTP on 127.0.0.1 that answers each request by
 * its route ("METHOD /path", the query left off) with JSON; for CLI tests that need only a few
 * routes. Imported by tests only.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export type StandInAnswer = { status: number; body?: unknown };

export async function routeStandIn(answer: (route: string) => StandInAnswer): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const a = answer(`${req.method} ${(req.url ?? "").split("?")[0]}`);
      res.writeHead(a.status, { "content-type": "application/json" }).end(a.body === undefined ? "" : JSON.stringify(a.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
