import { beforeEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { STSClient, AssumeRoleCommand } from "@aws-sdk/client-sts";
import type { Item, Key, QueueName, Queues, Store, TableName } from "../../core/ports";
import type { CoreDeps } from "../../core/deps";
import { DEFAULT_CORE_CONFIG } from "../../core/config";
import { defaultPolicy } from "../../core/attestation/policy";
import { AgentSessionResponse, StsSessionVendor, roleSessionName, sessionPolicy } from "./sts-session";
import { createAgentSession, route as agentSessionRoute } from "../http/agent-session";

const ACCOUNT = "123456789012";
const WORKER = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo";
const ROLE = `arn:aws:iam::${ACCOUNT}:role/prod-cocoon-Cocoon-AgentRole-1A2B3C`;
const ARN_PREFIX = `arn:aws:sqs:us-east-1:${ACCOUNT}:cocoon-prod-`;
const URL_PREFIX = `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/cocoon-prod-`;
const EXPIRES = new Date(Date.UTC(2026, 10, 25, 13, 0, 0));

const sts = mockClient(STSClient);

function makeVendor(durationSeconds = 3600) {
  return new StsSessionVendor({
    client: new STSClient({ region: "us-east-1" }),
    roleArn: ROLE,
    region: "us-east-1",
    durationSeconds,
    queueArnPrefix: ARN_PREFIX,
    queueUrlPrefix: URL_PREFIX,
  });
}

function fakeStore(items: Record<string, Item>): Store {
  return {
    get: async <T extends Item>(table: TableName, key: Key) => items[`${table}/${key.pk}/${key.sk}`] as T | undefined,
    query: async () => [],
    transact: async () => {},
  };
}

function fakeQueues(ensured: string[]): Queues {
  return {
    send: async () => {},
    receive: async () => [],
    delete: async () => {},
    ensure: async (q: QueueName) => {
      ensured.push(q);
    },
  };
}

const registered = () => ({ [`workers/${WORKER}/worker`]: { pk: WORKER, sk: "worker", workerId: WORKER } });

beforeEach(() => {
  sts.reset();
  sts.on(AssumeRoleCommand).resolves({
    Credentials: {
      AccessKeyId: "ASIAEXAMPLEEXAMPLE12",
      SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      SessionToken: "FwoGZXIvYXdzEBYaDEXAMPLETOKEN",
      Expiration: EXPIRES,
    },
  });
});

describe("agent sessions (STS)", () => {
  it("AssumeRole carries a session policy allowing only the four queue actions on this worker's queue", async () => {
    // Act
    const session = await makeVendor(900).vend(WORKER);

    // Assess
    const input = sts.commandCalls(AssumeRoleCommand)[0]!.args[0].input;
    expect(input).toEqual({
      RoleArn: ROLE,
      RoleSessionName: `w-${WORKER}`,
      DurationSeconds: 900,
      Policy: sessionPolicy(`${ARN_PREFIX}worker-${WORKER}`),
    });
    expect(JSON.parse(input.Policy!)).toEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "OwnQueueOnly",
          Effect: "Allow",
          Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
          Resource: `${ARN_PREFIX}worker-${WORKER}`,
        },
      ],
    });
    expect(AgentSessionResponse.parse(session)).toEqual({
      workerId: WORKER,
      region: "us-east-1",
      queueUrl: `${URL_PREFIX}worker-${WORKER}`,
      credentials: {
        accessKeyId: "ASIAEXAMPLEEXAMPLE12",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        sessionToken: "FwoGZXIvYXdzEBYaDEXAMPLETOKEN",
        expiration: EXPIRES.getTime(),
      },
    });
  });

  it("a duration outside 900–3600 s is refused when the vendor is built", () => {
    expect(() => makeVendor(7200)).toThrow(expect.objectContaining({ code: "config_invalid", variable: "COCOON_AGENT_SESSION_SECONDS" }));
    expect(() => makeVendor(600)).toThrow(expect.objectContaining({ code: "config_invalid" }));
  });

  it("role session names stay within STS's 64 characters of [\\w+=,.@-]", () => {
    expect(roleSessionName(WORKER)).toBe(`w-${WORKER}`);
    expect(roleSessionName("x".repeat(80))).toMatch(/^w-[0-9a-f]{40}$/);
  });

  it("STS answering without credentials is a 503 session_unavailable", async () => {
    sts.on(AssumeRoleCommand).resolves({});
    await expect(makeVendor().vend(WORKER)).rejects.toMatchObject({ status: 503, code: "session_unavailable" });
  });

  it("createAgentSession ensures the worker's queue, then vends", async () => {
    const ensured: string[] = [];
    const s = await createAgentSession({ store: fakeStore(registered()), queues: fakeQueues(ensured), sessions: makeVendor() }, WORKER);
    expect(ensured).toEqual([`worker-${WORKER}`]);
    expect(s.queueUrl).toBe(`${URL_PREFIX}worker-${WORKER}`);
  });

  it("an unregistered key gets 403 not_a_worker and no credentials", async () => {
    const ensured: string[] = [];
    await expect(
      createAgentSession({ store: fakeStore({}), queues: fakeQueues(ensured), sessions: makeVendor() }, WORKER),
    ).rejects.toMatchObject({
      status: 403,
      code: "not_a_worker",
    });
    expect(sts.calls()).toHaveLength(0);
    expect(ensured).toEqual([]);
  });
});

describe("POST /v1/agents/session route", () => {
  const deps = (extra: object): CoreDeps =>
    ({
      store: fakeStore(registered()),
      queues: fakeQueues([]),
      notifier: { notify: () => {}, wait: async () => {} },
      clock: { now: () => EXPIRES.getTime() - 3_600_000 },
      log: { info: () => {}, warn: () => {}, error: () => {} },
      config: DEFAULT_CORE_CONFIG,
      policy: defaultPolicy,
      ...extra,
    }) as CoreDeps;

  it("is a signed POST that answers the session of the caller", async () => {
    expect(agentSessionRoute.spec).toMatchObject({ method: "POST", path: "/v1/agents/session", auth: "signed" });
    const out = await agentSessionRoute.run({
      deps: deps({ sessions: makeVendor() }),
      caller: WORKER,
      body: undefined,
      query: undefined,
      params: {},
      headers: {},
    });
    expect(AgentSessionResponse.parse(out).workerId).toBe(WORKER);
  });

  it("on a network without SQS (the local default) answers 404 sessions_unavailable", async () => {
    await expect(
      agentSessionRoute.run({ deps: deps({}), caller: WORKER, body: undefined, query: undefined, params: {}, headers: {} }),
    ).rejects.toMatchObject({
      status: 404,
      code: "sessions_unavailable",
    });
  });
});
