/**
 * A price cap below every live worker, end to end on a local network: the coordinator's 409
 * price_above_cap (not no_workers) reaches the SDK as a PriceAboveCapError carrying the cheapest
 * price, `cocoon ask --max-price` as one coded line naming the flag and the price to give it, and
 * `cocoon serve`'s mapping as an OpenAI-shaped 409 with that code that clients do not retry.
 */
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILTIN_DEFAULT_MODEL } from "../agent/engines/builtin";
import type { RunningAgent } from "../agent/runtime";
import { ApiError } from "../api-client/api";
import { generateSigningKey } from "../core/crypto/keys";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { tempDir } from "../test/temp-dir";
import { main } from "./cli";
import { CocoonClient, PriceAboveCapError } from "./sdk";
import { errorResponse, mapAskError } from "./serve/errors";

const home = tempDir("cocoon-price-cap-");
process.env.COCOON_HOME = home; // no .cocoon/local.json of this checkout leaks in

/** `cocoon argv` with its output captured. */
async function cocoon(argv: string[]) {
  const o = { out: "", err: "" };
  const code = await main(argv, { write: (s: string) => (o.out += s) }, { write: (s: string) => (o.err += s) });
  return { code, ...o };
}

/** What `p` was rejected with (it must be). */
const rejection = (p: Promise<unknown>) =>
  p.then(
    () => expect.unreachable("not refused"),
    (e: unknown) => e,
  );

describe("a price cap below every live worker", () => {
  let net: LocalNetwork;
  let agents: RunningAgent[];
  /** the one worker's price per token, as `cocoon models` lists it */
  let price: bigint;
  beforeAll(async () => {
    net = await startNetwork({ chain: false });
    agents = await startLocalAgents(net.url, tempDir("cocoon-price-cap-agents-"), [{ name: "agent-1", priceBps: 10_000 }]);
    const listed = await new CocoonClient({ apiUrl: net.url, key: generateSigningKey() }).models();
    price = BigInt(listed.models.find((m) => m.model === BUILTIN_DEFAULT_MODEL)!.price!.min);
  });
  afterAll(async () => {
    await Promise.all(agents?.map((a) => a.stop()) ?? []);
    await net?.stop();
  });

  const ask = (client: CocoonClient, maxPricePerToken: bigint) =>
    client.ask({
      model: BUILTIN_DEFAULT_MODEL,
      messages: [{ role: "user", content: "hi" }],
      maxTokens: 8,
      tiers: ["dev"],
      maxPricePerToken,
    });

  it("the SDK throws a PriceAboveCapError (an ApiError 409 price_above_cap) with the cap and the cheapest price", async () => {
    // Prepare
    const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
    // Act
    const e = await rejection(ask(client, price - 1n));
    // Assess
    expect(e).toBeInstanceOf(PriceAboveCapError);
    expect(e).toBeInstanceOf(ApiError);
    const p = e as PriceAboveCapError;
    expect({ name: p.name, status: p.status, code: p.code, cap: p.maxPricePerToken, cheapest: p.cheapestPricePerToken }).toEqual({
      name: "PriceAboveCapError",
      status: 409,
      code: "price_above_cap",
      cap: price - 1n,
      cheapest: price,
    });
  });

  it("cocoon ask --max-price: one coded line naming the cheapest price and the flag (exit 2); --json its details", async () => {
    // Prepare
    const args = ["ask", "hi", "--model", BUILTIN_DEFAULT_MODEL, "--allow-dev", "--max-tokens", "8", "--api", net.url];
    const key = ["--key", join(home, "requester.key")];
    // Act
    const human = await cocoon([...args, ...key, "--max-price", String(price - 1n)]);
    const json = await cocoon([...args, ...key, "--max-price", String(price - 1n), "--json"]);
    // Assess
    expect({ code: human.code, out: human.out }).toEqual({ code: 2, out: "" });
    // (progress lines first: stderr is no terminal here)
    expect(human.err.split("\n").filter((l) => l.startsWith("error "))).toEqual([
      `error [price_above_cap]: every live worker you accept for this model asks more than --max-price ${price - 1n} nanoTON per token; ` +
        `the cheapest asks ${price}: run cocoon ask again with --max-price ${price} (or more), or later for a cheaper worker`,
    ]);
    expect({ code: json.code, out: json.out }).toEqual({ code: 2, out: "" });
    expect(JSON.parse(json.err)).toEqual({
      error: {
        code: "price_above_cap",
        status: 409,
        message: expect.stringContaining(`--max-price ${price}`),
        details: { maxPricePerToken: String(price - 1n), cheapestPricePerToken: String(price) },
      },
    });
  });

  it("without dev workers accepted, the refusal is still the tiers' (no_workers, with the dev hint): the cap refused nobody", async () => {
    // Act
    const r = await cocoon(["ask", "hi", "--model", BUILTIN_DEFAULT_MODEL, "--tier", "tdx", "--max-price", "1", "--api", net.url]);
    // Assess
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error \[no_workers\]: .*no live worker in tiers \[tdx\].*--allow-dev --tier tdx,dev/m);
  });

  it("cocoon serve --max-price: the app gets 409 price_above_cap, asked once (its client does not retry it)", async () => {
    // Regression: cocoon serve had no price cap (only cocoon ask and the SDK did), so an app behind
    // the proxy paid whatever the worker that answered asked.
    // Prepare: a free port for serve, and the app's openai client counting what it sends
    const free = createServer();
    await new Promise<void>((r) => free.listen(0, "127.0.0.1", r));
    const port = (free.address() as AddressInfo).port;
    await new Promise<void>((r) => free.close(() => r()));
    const out = { text: "" };
    const argv = ["serve", "--port", String(port), "--api", net.url, "--allow-dev", "--key", join(home, "serve.key")];
    void main([...argv, "--max-price", String(price - 1n)], { write: (s: string) => (out.text += s) }, { write: () => true }); // serves until the test process ends
    for (let i = 0; i < 100 && !out.text.includes("proxy on"); i++) await new Promise((r) => setTimeout(r, 50));
    let sent = 0;
    const openai = new OpenAI({
      baseURL: `http://127.0.0.1:${port}/v1`,
      apiKey: "unused",
      maxRetries: 2,
      fetch: (url, init) => (sent++, fetch(url, init)),
    });
    // Act
    const e = await rejection(
      openai.chat.completions.create({ model: BUILTIN_DEFAULT_MODEL, messages: [{ role: "user", content: "hi" }] }),
    );
    // Assess
    expect(e).toBeInstanceOf(OpenAI.APIError);
    expect(e).toMatchObject({ status: 409, code: "price_above_cap", type: "invalid_request_error" });
    expect(sent).toBe(1);
  });

  it("cocoon serve's mapping: an OpenAI-shaped 409 price_above_cap, marked not to retry", async () => {
    // Prepare
    const e = await rejection(ask(new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true }), price - 1n));
    // Act
    const r = errorResponse(mapAskError(e));
    // Assess
    expect(r.status).toBe(409);
    expect(r.headers["x-should-retry"]).toBe("false");
    // (the coordinator's sentence says maxPricePerToken, an SDK option; the proxy's cap is its --max-price)
    expect(JSON.parse(r.body as string)).toEqual({
      error: {
        type: "invalid_request_error",
        code: "price_above_cap",
        param: null,
        message:
          `every live worker of this model asks more than cocoon serve's --max-price ${price - 1n} nanoTON per token; ` +
          `the cheapest asks ${price}: start cocoon serve with --max-price ${price} (or more), or wait for a cheaper worker`,
      },
    });
  });
});
