/**
 * `cocoon-agent start` stopped the moment it says "serving": what `systemctl stop` right after the
 * unit came up sends, and what the kill -9 test's restarted agent was sent (its flake, under CI
 * load: the agent died by the SIGTERM instead of draining). The agent runs from the sources, as a
 * process, and sends itself the SIGTERM from inside the write of its "serving" line: the earliest
 * moment a reader of that line could send one, every time, where a test sending it from outside
 * lands there only when the agent is preempted right after the write.
 */
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNetwork, type LocalNetwork } from "../local/network";
import { devStartArgv, spawnAgent } from "../test/agent-fixtures";
import { tempDir } from "../test/temp-dir";

const cli = pathToFileURL(join(fileURLToPath(new URL(".", import.meta.url)), "cli.ts")).href;

/** `main(argv)` of agent/cli.ts, its log passed on to stdout, a SIGTERM to itself as "serving" is written. */
const selfStopping = `
import { main } from ${JSON.stringify(cli)};
const out = {
  write(s) {
    process.stdout.write(s);
    if (/"msg":"serving"/.test(s)) process.kill(process.pid, "SIGTERM");
    return true;
  },
};
process.exit(await main(process.argv.slice(1), out));
`;

let net: LocalNetwork;
beforeAll(async () => {
  net = await startNetwork({ chain: false });
}, 30_000);
afterAll(async () => {
  await net?.stop();
});

describe("cocoon-agent start: a SIGTERM on the serving line", () => {
  // BUG (fixed): the start's signal listeners came off before the drain's went on, and "serving"
  // was logged between the two. With no listener Node gives SIGTERM back its default action, and
  // the kernel ended the process with it (143) instead of the drain.
  it("drains and exits 0", async () => {
    // Prepare
    const agent = spawnAgent(devStartArgv(["--input-type=module", "-e", selfStopping], net.url), {
      COCOON_HOME: tempDir("cocoon-agent-serving-"),
      COCOON_POLL_WAIT_SECONDS: "1",
    });
    try {
      // Act
      const code = await agent.exited;
      // Assess
      expect(code, agent.stderr()).toBe(0);
      expect(agent.lines.some((l) => l.msg === "serving")).toBe(true);
      expect(agent.lines.some((l) => l.msg === "shutting down" && l.signal === "SIGTERM")).toBe(true);
    } finally {
      if (agent.child.exitCode === null) agent.child.kill("SIGKILL");
    }
  }, 60_000);
});
