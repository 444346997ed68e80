/**
 * `cocoon-agent status` and `redeem` for a key the coordinator has never seen registered (found
 * walking the README, session 36: run before the first start, or in a shell whose COCOON_HOME or
 * --api is not the running agent's). They printed the API's own words, "register with POST
 * /v1/agents first", which is no step a GPU owner takes: the message now names the worker, the
 * coordinator asked, and the fix (start, or this worker's home and API URL).
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { routeStandIn } from "../api-client/stand-in-testing";
import { loadOrCreateKey } from "../api-client/keys";
import { tempDir } from "../test/temp-dir";
import { runAgentCli } from "./cli-testing";

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

/** Factory: a coordinator that knows no worker: every agent route answers 403 not_a_worker, as core/workers.ts does. */
async function coordinatorWithoutWorker() {
  const api = await routeStandIn((route) =>
    route === "GET /v1/routes" || route === "POST /v1/sessions"
      ? { status: 404, body: { error: { code: "not_found", message: route } } }
      : {
          status: 403,
          body: {
            error: {
              code: "not_a_worker",
              message: "worker w1 is not registered (or was registered under another key): cocoon-agent start registers it",
            },
          },
        },
  );
  open.push(api);
  return api.url;
}

describe("cocoon-agent status and redeem for a worker that never registered", () => {
  it.each([
    ["status", ["status", "--metrics-port", "1"]],
    ["redeem", ["redeem"]],
  ])("%s: exit 2, naming the worker, the coordinator and `cocoon-agent start`, under --json too", async (_cmd, argv) => {
    // Prepare: a key made by init, never started
    const home = tempDir("cocoon-agent-unregistered-");
    const id = loadOrCreateKey(join(home, "worker.key")).id;
    const api = await coordinatorWithoutWorker();
    // Act
    const text = await runAgentCli([...argv, "--api", api], { COCOON_HOME: home });
    const json = await runAgentCli([...argv, "--api", api, "--json"], { COCOON_HOME: home });
    // Assess
    expect([text.code, json.code]).toEqual([2, 2]);
    expect(text.err).toContain(
      `error [not_a_worker]: worker ${id} is not registered with the coordinator at ${api}: cocoon-agent start registers it`,
    );
    expect(text.err).not.toContain("POST /v1/agents");
    expect(JSON.parse(json.err.trim().split("\n").at(-1)!)).toMatchObject({ error: { code: "not_a_worker", status: 403 } });
  });
});

describe("cocoon-agent status and redeem with an API URL the coordinator has no route under", () => {
  it.each([
    ["status", ["status", "--metrics-port", "1"]],
    ["redeem", ["redeem"]],
  ])("%s: names the setting and the URL after the coordinator's words, as start does", async (_cmd, argv) => {
    // Prepare: a key made by init; the API URL with a path the coordinator does not serve
    const home = tempDir("cocoon-agent-wrong-api-");
    loadOrCreateKey(join(home, "worker.key"));
    const api = await routeStandIn((route) => ({
      status: 404,
      body: { error: { code: "no_such_route", message: `no route ${route}; see GET /openapi.json` } },
    }));
    open.push(api);
    // Act
    const r = await runAgentCli([...argv, "--api", `${api.url}/cocoon`], { COCOON_HOME: home });
    // Assess
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /^error \[no_such_route\]: no route .*; see GET \/openapi.json; check apiUrl \(--api, COCOON_API_URL or agent.json\): /,
    );
    expect(r.err).toContain(`${api.url}/cocoon must be the coordinator's own root URL`);
  });
});
