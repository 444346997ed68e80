/** A stand-in engine server on 127.0.0.1 for the suites that play a real engine's HTTP behaviour. */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface StandIn {
  /** The base URL an agent is given: http://127.0.0.1:<port>/v1 */
  url: string;
  /** Every request's method and path, in order ("GET /health"). */
  seen: string[];
  /** Every request's body as JSON (undefined: empty or not JSON), in the order of `seen`. */
  bodies: unknown[];
  /** Answers still held open (a hung engine's), ended by close(). */
  held: ServerResponse[];
  close(): Promise<void>;
}

/**
 * Starts a stand-in; `handler` answers each request (or leaves it hanging: push `res` to `held`),
 * given the request's body as JSON (undefined: empty or not JSON).
 */
export async function standIn(handler: (req: IncomingMessage, res: ServerResponse, s: StandIn, body: unknown) => void): Promise<StandIn> {
  const seen: string[] = [];
  const bodies: unknown[] = [];
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const at = bodies.push(undefined) - 1;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let body: unknown;
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : undefined;
      } catch {
        body = undefined;
      }
      bodies[at] = body;
      handler(req, res, s, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const s: StandIn = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    seen,
    bodies,
    held,
    close: () =>
      new Promise<void>((r) => {
        for (const h of held) h.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  return s;
}

export const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
  res.end(JSON.stringify(body));
};

export const text = (res: ServerResponse, status: number, body: string) => {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(body);
};

/** An OpenAI model list of `ids`. */
export const modelList = (ids: string[]) => ({ object: "list", data: ids.map((id) => ({ id, object: "model", owned_by: "x" })) });

/** A whole chat completion "ok" with usage. */
export const chatAnswer = {
  id: "c",
  object: "chat.completion",
  choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
};
