/**
 * Test fixtures for the agent's issue 13 tests: an OpenAI-compatible engine the test controls,
 * and the built agent bundle run as a child process.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * An OpenAI-compatible engine on 127.0.0.1 the test controls (`received` counts its generation
 * requests, not its model list or health probes): `hold` keeps chat requests
 * waiting (until `release()`), `delayMs` answers late, `kill()` drops every connection and
 * stops listening (the engine process died), `start()` comes back on the same port.
 */
export function startFakeEngine(model: string) {
  let server: Server | undefined;
  let port = 0;
  let hold = false;
  let delayMs = 0;
  let received = 0;
  const held: Array<() => void> = [];
  const answer = (res: ServerResponse) =>
    res.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({
        id: "x",
        object: "chat.completion",
        model,
        choices: [{ index: 0, message: { role: "assistant", content: "fake answer" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
      }),
    );
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on("end", () => {
      if (req.url?.endsWith("/models"))
        return void res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ object: "list", data: [{ id: model }] }));
      // the agent's health probe (llama-server's and vLLM's GET /health): answered, never held, not counted as a job
      if (req.url === "/health") return void res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
      // the agent's probes of the engine at start (llama-server's GET /props, Ollama's GET /api/version, TGI's GET /info:
      // agent/cli.ts engineKindAt) and its vision probe (/props): a server without them, as vLLM, not counted
      if (req.url === "/props" || req.url === "/api/version" || req.url === "/info")
        return void res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found"}');
      received++;
      if (hold) held.push(() => answer(res));
      else setTimeout(() => answer(res), delayMs);
    });
  };
  const f = {
    get url() {
      return `http://127.0.0.1:${port}/v1`;
    },
    get received() {
      return received;
    },
    set hold(v: boolean) {
      hold = v;
    },
    set delayMs(v: number) {
      delayMs = v;
    },
    async start() {
      server = createServer(handle);
      await new Promise<void>((r) => server!.listen(port, "127.0.0.1", () => r()));
      port = (server.address() as AddressInfo).port;
      return f;
    },
    release() {
      for (const h of held.splice(0)) h();
    },
    async kill() {
      held.splice(0);
      server?.closeAllConnections();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      server = undefined;
    },
  };
  return f;
}

export interface AgentProcess {
  child: ChildProcess;
  /** stdout lines parsed as JSON (the agent's log); other lines are kept as { text } */
  lines: Array<Record<string, unknown>>;
  stderr(): string;
  /** the first log line whose msg starts with `msg` (waits for it) */
  waitFor(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** resolves with the exit code (or signal name) */
  exited: Promise<number | string>;
}

/** `argv[0] argv[1..] start …`: the agent as a GPU owner runs it, its JSON log parsed line by line. */
/**
 * The command line of `cocoon-agent start` from the sources: node with tsx, `entry` (the CLI's
 * file, or `-e` code that runs it), against `api` on tier dev with any free metrics port, then `extra`.
 */
export const devStartArgv = (entry: string[], api: string, ...extra: string[]): string[] => [
  process.execPath,
  "--import",
  "tsx",
  ...entry,
  "start",
  "--api",
  api,
  "--tier",
  "dev",
  "--metrics-port",
  "0",
  ...extra,
];

export function spawnAgent(argv: string[], env: Record<string, string> = {}): AgentProcess {
  const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const lines: Array<Record<string, unknown>> = [];
  let err = "";
  let partial = "";
  const waiters: Array<() => void> = [];
  child.stdout!.on("data", (b: Buffer) => {
    partial += b.toString();
    const parts = partial.split("\n");
    partial = parts.pop()!;
    for (const p of parts) {
      if (!p.trim()) continue;
      try {
        lines.push(JSON.parse(p) as Record<string, unknown>);
      } catch {
        lines.push({ text: p });
      }
    }
    for (const w of waiters.splice(0)) w();
  });
  child.stderr!.on("data", (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | string>((r) => child.once("exit", (code, signal) => r(code ?? signal ?? -1)));
  const waitFor = (msg: string, timeoutMs = 20_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `no "${msg}" from the agent within ${timeoutMs} ms; stdout:\n${lines.map((l) => JSON.stringify(l)).join("\n")}\nstderr:\n${err}`,
            ),
          ),
        timeoutMs,
      );
      const look = () => {
        const hit = lines.find((l) => String(l.msg).startsWith(msg));
        if (hit) {
          clearTimeout(timer);
          resolve(hit);
        } else waiters.push(look);
      };
      void exited.then(() => {
        if (lines.some((l) => String(l.msg).startsWith(msg))) return look();
        clearTimeout(timer);
        reject(new Error(`the agent exited before "${msg}"; stdout:\n${lines.map((l) => JSON.stringify(l)).join("\n")}\nstderr:\n${err}`));
      });
      look();
    });
  return { child, lines, stderr: () => err, waitFor, exited };
}
