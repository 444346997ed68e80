/**
 * The SDK's no_workers refusal on a local network whose (dev) workers the client does not accept:
 * the CLI and `cocoon serve` named --allow-dev, the SDK named no remedy. It now names its own
 * option (allowDev: true), and the CLI's and serve's hints replace it rather than add a second.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILTIN_DEFAULT_MODEL } from "../agent/engines/builtin";
import type { RunningAgent } from "../agent/runtime";
import { generateSigningKey } from "../core/crypto/keys";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { tempDir } from "../test/temp-dir";
import { withDevHint } from "./dev-hint";
import { CocoonClient } from "./sdk";

const ask = (client: CocoonClient, o: { tiers?: Array<"tdx" | "dev" | "none"> } = {}) =>
  client.ask({ model: BUILTIN_DEFAULT_MODEL, messages: [{ role: "user", content: "hi" }], maxTokens: 8, ...o }).then(
    () => undefined,
    (e: unknown) => e as { code?: string; message: string },
  );

describe("the SDK's no_workers on a local network whose dev workers it does not accept", () => {
  let net: LocalNetwork;
  let agents: RunningAgent[];
  beforeAll(async () => {
    net = await startNetwork({ chain: false });
    agents = await startLocalAgents(net.url, tempDir("cocoon-sdk-dev-hint-"), [{ name: "agent-1", priceBps: 10_000 }]);
  });
  afterAll(async () => {
    await Promise.all(agents?.map((a) => a.stop()) ?? []);
    await net?.stop();
  });

  it("names allowDev: true (the code stays no_workers); with tiers named, the tiers with dev added", async () => {
    // Prepare
    const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey() });
    const allowed = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
    // Act
    const plain = await ask(client);
    const tiers = await ask(allowed, { tiers: ["tdx"] });
    // Assess
    expect(plain?.code).toBe("no_workers");
    expect(plain?.message).toContain("no live worker in tiers [tdx]");
    expect(plain?.message).toContain(
      `(1 dev worker(s), with SIMULATED attestation, serve ${BUILTIN_DEFAULT_MODEL} here: ask again with allowDev: true in CocoonClient's options to accept them;`,
    );
    expect(tiers?.code).toBe("no_workers");
    expect(tiers?.message).toContain('here: ask again with tiers: ["tdx", "dev"] to accept them;');
  });

  it("the CLI's hint replaces the SDK's: one hint, naming the flag", async () => {
    // Prepare
    const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey() });
    const e = await ask(client);
    // Act
    const cli = (await withDevHint(e, BUILTIN_DEFAULT_MODEL, client, { optIn: "--allow-dev", retry: "run cocoon ask again" })) as Error;
    // Assess
    expect(cli.message).toContain("here: run cocoon ask again with --allow-dev to accept them;");
    expect(cli.message).not.toContain("allowDev: true");
    expect(cli.message.match(/dev worker\(s\)/g)).toHaveLength(1);
  });
});
