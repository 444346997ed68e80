/**
 * The coordinator alone in its own process (as it runs in any real deployment), for the
 * network benchmark: prints its URL on stdout, stops on SIGTERM. Without the TON sandbox and
 * the chain watcher (chain: false): on AWS the watcher is another function on a schedule and
 * the chain is TON itself, so neither belongs to the per-job cost of the request path.
 *
 * Counts the HTTP requests it serves, by method and route; a line "stats" on stdin answers
 * with one JSON line of those counts.
 */
import { createInterface } from "node:readline";
import { startNetwork } from "../local/network";

const net = await startNetwork({ chain: false, config: { livenessMs: 60_000 } });
const requests: Record<string, number> = {};
const route = (method: string, url: string) => `${method} ${url.split("?")[0]!.replace(/job_[0-9a-z]{26}/g, "{id}")}`;
net.server.prependListener("request", (req: { method?: string; url?: string }) => {
  const k = route(req.method ?? "GET", req.url ?? "/");
  requests[k] = (requests[k] ?? 0) + 1;
});
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "stats") process.stdout.write(JSON.stringify({ requests }) + "\n");
});
process.stdout.write(JSON.stringify({ url: net.url }) + "\n");
process.once("SIGTERM", () => void net.stop().then(() => process.exit(0)));
