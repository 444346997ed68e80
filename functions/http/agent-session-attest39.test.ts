/**
 * attest39: POST /v1/agents/session calls STS AssumeRole every time, and STS limits AssumeRole
 * per AWS account. Any key can register a tier-none worker, so one worker asking without end
 * could throttle every agent's sessions. Each worker now draws on an `agent_session` bucket,
 * taken before the worker is read or STS asked.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { defaultPolicy } from "../../core/attestation/policy";
import { DEFAULT_RATE_LIMITS } from "../../core/attestation/rate-limit";
import { DEFAULT_CORE_CONFIG } from "../../core/config";
import type { CoreDeps } from "../../core/deps";
import type { Item, Key, Queues, Store, TableName } from "../../core/ports";
import { StsSessionVendor } from "../adapters/sts-session";
import { route } from "./agent-session";

const ACCOUNT = "123456789012";
const EXPIRES = new Date(Date.UTC(2026, 10, 25, 13, 0, 0));
const sts = mockClient(STSClient);

/** A store holding a registered worker item for each of `workers`, and nothing else. */
function storeOf(workers: string[]): Store {
  const items = new Map(workers.map((w) => [`workers/${w}/worker`, { pk: w, sk: "worker", workerId: w } as Item]));
  return {
    get: async <T extends Item>(table: TableName, key: Key) => items.get(`${table}/${key.pk}/${key.sk}`) as T | undefined,
    query: async () => [],
    transact: async () => {},
  };
}

const queues: Queues = { send: async () => {}, receive: async () => [], delete: async () => {}, ensure: async () => {} };

/** Route deps on a clock the test moves, with a real vendor against the mocked STS. */
function world(workers: string[]) {
  const clock = { t: EXPIRES.getTime() - 3_600_000, now: () => clock.t };
  const sessions = new StsSessionVendor({
    client: new STSClient({ region: "us-east-1" }),
    roleArn: `arn:aws:iam::${ACCOUNT}:role/cocoon-AgentRole`,
    region: "us-east-1",
    durationSeconds: 3600,
    queueArnPrefix: `arn:aws:sqs:us-east-1:${ACCOUNT}:cocoon-`,
    queueUrlPrefix: `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/cocoon-`,
  });
  const deps = {
    store: storeOf(workers),
    queues,
    notifier: { notify: () => {}, wait: async () => {} },
    clock,
    log: { info: () => {}, warn: () => {}, error: () => {} },
    config: DEFAULT_CORE_CONFIG,
    policy: defaultPolicy,
    sessions,
  } as unknown as CoreDeps;
  const ask = (caller: string) => route.run({ deps, caller, body: undefined, query: undefined, params: {}, headers: {} });
  return { clock, ask };
}

/** What `act` rejects with (the test fails if it resolves). */
async function rejection(act: Promise<unknown>): Promise<unknown> {
  return act.then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
}

beforeEach(() => {
  sts.reset();
  sts.on(AssumeRoleCommand).resolves({
    Credentials: { AccessKeyId: "ASIAEXAMPLE", SecretAccessKey: "secret", SessionToken: "token", Expiration: EXPIRES },
  });
});

describe("agent sessions are limited per worker (attest39)", () => {
  it("past the bucket: 429 rate_limited and no AssumeRole; a session again after the refill; another worker unaffected", async () => {
    // Prepare
    const { clock, ask } = world(["worker-a", "worker-b"]);
    const { burst, perMinute } = DEFAULT_RATE_LIMITS.agent_session;
    // Act
    for (let i = 0; i < burst; i++) await ask("worker-a");
    const refused = await rejection(ask("worker-a"));
    const callsAfterRefusal = sts.commandCalls(AssumeRoleCommand).length;
    const other = await ask("worker-b");
    clock.t += Math.ceil(60_000 / perMinute);
    const again = await ask("worker-a");
    // Assess
    expect(refused).toMatchObject({ status: 429, code: "rate_limited", details: { action: "agent_session" } });
    expect(callsAfterRefusal).toBe(burst);
    expect(other).toMatchObject({ workerId: "worker-b" });
    expect(again).toMatchObject({ workerId: "worker-a" });
  });

  it("an unregistered key draws on its bucket too: not_a_worker until it is empty, then 429, never an AssumeRole", async () => {
    // Prepare
    const { ask } = world([]);
    const { burst } = DEFAULT_RATE_LIMITS.agent_session;
    // Act
    for (let i = 0; i < burst; i++) expect(await rejection(ask("stranger"))).toMatchObject({ code: "not_a_worker" });
    const last = await rejection(ask("stranger"));
    // Assess
    expect(last).toMatchObject({ code: "rate_limited" });
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
  });

  it("never refuses an honest agent: a session every 15 minutes with a retry after each, for a day", async () => {
    // Prepare
    const { clock, ask } = world(["worker-a"]);
    // Act, Assess: every call resolves
    for (let t = 0; t < 86_400_000; t += 900_000) {
      clock.t += 900_000;
      await ask("worker-a");
      await ask("worker-a");
    }
  });
});
