/**
 * An API URL the coordinator cannot serve this worker at: `init --api http://host/v1` was
 * accepted, and every `start` then asked POST /v1/v1/… and exited 2 (no_such_route), which the
 * systemd unit restarted until its start limit. init now refuses a /v1 API URL, and start exits
 * 78 (EX_CONFIG, not restarted) when the coordinator refuses the registration for its settings
 * (no_such_route, bad_signature).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { routeStandIn } from "../api-client/stand-in-testing";
import { tempDir } from "../test/temp-dir";
import { runAgentCli } from "./cli-testing";
import { EX_CONFIG } from "./config";
import { standIn } from "./engines/stand-in-testing";

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

describe("cocoon-agent init with an API URL that ends in /v1", () => {
  it.each(["http://127.0.0.1:8787/v1", "https://api.example.org/v1/"])(
    "%s: refused (exit 78) naming the URL without /v1; nothing written",
    async (api) => {
      // Prepare
      const home = tempDir("cocoon-agent-init-api-v1-");
      // Act
      const r = await runAgentCli(["init", "--api", api, "--tier", "none"], { COCOON_HOME: home });
      // Assess
      expect(r.code).toBe(EX_CONFIG);
      expect(r.err).toContain(
        `apiUrl (--api): must be the API's base URL, without /v1 (the agent asks /v1/… under it): ${api.replace(/\/v1\/?$/, "")}`,
      );
      expect(existsSync(join(home, "agent.json"))).toBe(false);
      expect(existsSync(join(home, "worker.key"))).toBe(false);
    },
  );

  it("a base URL with another path is accepted (an API behind a path prefix)", async () => {
    // Act
    const r = await runAgentCli(["init", "--api", "https://gw.example.org/cocoon", "--tier", "none"], {
      COCOON_HOME: tempDir("cocoon-agent-init-api-path-"),
    });
    // Assess
    expect(r.code).toBe(0);
  });
});

describe("cocoon-agent start refused by the coordinator for its settings", () => {
  it.each([
    [404, "no_such_route", "no route POST /v1/v1/agents/register; see GET /openapi.json"],
    [401, "bad_signature", "x-cocoon-auth signature does not verify: … using this API's host (api.example.org) …"],
  ])("%s %s: exit 78 (the unit does not restart it), with the coordinator's code and the setting to fix", async (status, code, message) => {
    // Prepare: a coordinator that refuses every call so (an API URL it does not serve this worker at)
    const api = await routeStandIn(() => ({ status, body: { error: { code, message } } }));
    open.push(api);
    // Act
    const r = await runAgentCli(["start", "--api", api.url, "--tier", "dev", "--metrics-port", "0"], {
      COCOON_HOME: tempDir("cocoon-agent-start-refused-"),
    });
    // Assess
    expect(r.err).toContain(`error [${code}]: ${message}`);
    // the coordinator's words name a route or a host: the setting to change is named after them
    expect(r.err).toContain(`; check apiUrl (--api, COCOON_API_URL or agent.json): ${api.url} must be the coordinator's own root URL`);
    expect(r.code).toBe(EX_CONFIG);
  });
});

describe("cocoon-agent start at a URL that is not the Cocoon API", () => {
  it.each([
    ["an engine's or web server's 404 page", 404, "text/plain", "404 page not found", "bad_response"],
    ["a proxy's 403 with no Cocoon error", 403, "application/json", '{"message":"Forbidden"}', "http_error"],
  ])("%s: exit 78 (the unit does not restart it), naming the URL to check", async (_name, status, type, body, code) => {
    // Prepare: another server where the API should be (--api given an engine's port, owner40's walk)
    const other = await standIn((_req, res) => void res.writeHead(status, { "content-type": type }).end(body));
    open.push(other);
    const url = other.url.replace(/\/v1$/, "");
    // Act
    const r = await runAgentCli(["start", "--api", url, "--tier", "dev", "--metrics-port", "0"], {
      COCOON_HOME: tempDir("cocoon-agent-start-not-api-"),
    });
    // Assess
    expect(r.err).toContain(`error [${code}]: `);
    expect(r.err).toContain(`is that the Cocoon API? check that URL (--api, COCOON_API_URL)`);
    expect(r.code).toBe(EX_CONFIG);
  });
});
