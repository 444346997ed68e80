/**
 * The agent's SQS job source end to end (issue 12): a real agent (startAgent) on the real local
 * network, whose coordinator vends agent sessions as on AWS (POST /v1/agents/session answers the
 * worker's queue URL and short-lived credentials) and keeps its worker queues on SQS (the real
 * adapter, functions/adapters/sqs-queues.ts), both on the SQS stand-in on 127.0.0.1
 * (test/sqs-relay-standin.ts: local-aws-sqs behind a proxy that checks SigV4). The agent then
 * long-polls its queue there itself (agent/sources/sqs.ts), not GET /v1/agent/jobs.
 *
 * A malformed message on that queue is reported in the agent's metrics (the status document's
 * lastError and the error counter), as the HTTP source reports a malformed item, and the valid
 * job beside it still runs.
 */
import { CreateQueueCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { tempDir } from "./temp-dir";
import type { AgentSessionResponse } from "../events/api";
import type { QueueName, Queues } from "../core/ports";
import { SqsQueues } from "../functions/adapters/sqs-queues";
import { startNetwork, type LocalNetwork } from "../local/network";
import { startAgent, type RunningAgent } from "../agent/runtime";
import { makeAttester } from "../agent/attest";
import { createBuiltinEngine } from "../agent/engines/builtin";
import { generateKemKey, generateSigningKey } from "../core/crypto/keys";
import { CocoonClient } from "../client/sdk";
import { MODEL, agentLogTo, pollUntil } from "./helpers";
import { credentialsFor, startSqsStandIn, type SqsStandIn } from "./sqs-relay-standin";

const PREFIX = "cocoon-test-";
const REGION = "us-east-1";
const ACCOUNT = "123456789012"; // local-aws-sqs's account in its queue URLs and ARNs
/** the role session name of the credentials the coordinator vends the agent (the stand-in reports each call's) */
const AGENT_SESSION = "agent-session";

let sqs: SqsStandIn;
let net: LocalNetwork;
let agent: RunningAgent;
let admin: SQSClient;
let workerQueues: SqsQueues;
const agentLines: string[] = [];
/** what the coordinator was asked (method and path), in order */
const requests: string[] = [];

beforeAll(async () => {
  // The SDK warns on each call that the queue URL's host (the stand-in) is not SQS's regional endpoint: expected here.
  const warn = console.warn.bind(console);
  vi.spyOn(console, "warn").mockImplementation((...a: unknown[]) => {
    if (!String(a[0]).startsWith("QueueUrl=")) warn(...a);
  });
  sqs = await startSqsStandIn();
  const { expiration: _e, ...coordinatorCredentials } = credentialsFor("coordinator");
  admin = new SQSClient({ region: REGION, endpoint: sqs.url, credentials: coordinatorCredentials });
  // the worker queues' dead-letter queue (the stacks make it; local-aws-sqs checks a redrive target exists)
  await admin.send(new CreateQueueCommand({ QueueName: `${PREFIX}worker-dlq` }));
  workerQueues = new SqsQueues({
    client: admin,
    matchingUrl: `${sqs.url}/${ACCOUNT}/${PREFIX}matching-unused`,
    namePrefix: PREFIX,
    urlPrefix: `${sqs.url}/${ACCOUNT}/${PREFIX}`,
    workerDlqArn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${PREFIX}worker-dlq`,
  });
  net = await startNetwork({ chain: false, dataDir: tempDir("cocoon-agent-sqs-") });
  net.server.on("request", (req: { method?: string; url?: string }) => requests.push(`${req.method} ${req.url}`));
  // As on AWS: worker queues on SQS (matching stays in process), and agent sessions vended for them.
  const local = net.deps.queues;
  const onSqs = (q: QueueName) => q.startsWith("worker-");
  const queues: Queues = {
    send: (q, body, o) => (onSqs(q) ? workerQueues.send(q, body, o) : local.send(q, body, o)),
    receive: (q, o) => (onSqs(q) ? workerQueues.receive(q, o) : local.receive(q, o)),
    delete: (q, h) => (onSqs(q) ? workerQueues.delete(q, h) : local.delete(q, h)),
    ensure: (q) => (onSqs(q) ? workerQueues.ensure(q) : local.ensure(q)),
  };
  net.deps.queues = queues;
  const sessions = {
    vend: async (workerId: string): Promise<AgentSessionResponse> => ({
      workerId,
      region: REGION,
      queueUrl: workerQueues.urlOf(`worker-${workerId}`),
      credentials: credentialsFor(AGENT_SESSION),
    }),
  };
  (net.deps as { sessions?: typeof sessions }).sessions = sessions;

  const signingKey = generateSigningKey();
  const kemKey = generateKemKey();
  agent = await startAgent({
    apiUrl: net.url,
    signingKey,
    kemKey,
    engine: createBuiltinEngine(),
    models: [{ model: MODEL, priceBps: 10_000 }],
    capacity: 2,
    attest: makeAttester({ tier: "dev", signingKey, kemKey }),
    log: agentLogTo(agentLines),
    pollWaitSeconds: 1,
    heartbeatMs: 500,
    tickMs: 100,
    backoff: { baseMs: 50, capMs: 400 },
  });
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await net?.stop();
  // the agent leaves its poll in flight (1 s at most): closing the stand-in under it keeps a connection open seconds longer
  if (sqs) await pollUntil("the agent's last receive to end", () => (sqs.receiving() === 0 ? true : undefined), 2_000, 10).catch(() => {});
  await sqs?.close();
  vi.restoreAllMocks();
});

describe("issue 12: the agent's SQS job source (real agent, coordinator vending sessions, SQS stand-in)", () => {
  it("a malformed message on the agent's queue is reported (lastError invalid_message, error counter); the valid job beside it runs", async () => {
    // Prepare: the agent long-polls its own queue on SQS with the vended credentials
    const queueUrl = workerQueues.urlOf(`worker-${agent.workerId}`);
    expect(agentLines.some((l) => l.includes("job source: SQS"))).toBe(true);
    await pollUntil(
      "the agent's first receive on its queue",
      () => sqs.calls.find((c) => c.action === "ReceiveMessage" && c.queueUrl === queueUrl && c.caller === AGENT_SESSION),
      5_000,
      10,
    );
    const client = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
    await client.faucet(10_000_000_000n);
    // Act: a message that is no job and no challenge on the agent's queue, then a real job
    await admin.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ hello: "world" }) }));
    const r = await client.ask({
      model: MODEL,
      messages: [{ role: "user", content: "a real one beside it" }],
      maxTokens: 8,
      tiers: ["dev"],
      candidates: 1,
      timeoutMs: 10_000,
    });
    // the malformed message was sent first; whichever receive took it, it is reported at once
    const reported = await pollUntil("the malformed message reported", () => agent.metrics.doc().lastError, 2_000, 10).catch(
      () => agent.metrics.doc().lastError,
    );
    // Assess: reported in the status document and the error counter
    expect(reported).toMatchObject({ code: "invalid_message", msg: expect.stringContaining("malformed SQS message") });
    expect(agent.metrics.render()).toMatch(/cocoon_agent_errors_total\{[^}]*code="invalid_message"[^}]*\} 1\b/);
    // the real job came over SQS too and was answered by this agent, which never polled over HTTP
    expect(r.workerId).toBe(agent.workerId);
    const delivered = sqs.delivered.filter((m) => m.queueUrl === queueUrl).map((m) => JSON.parse(m.body) as { jobId?: string });
    expect(delivered).toHaveLength(2);
    expect(delivered).toEqual(expect.arrayContaining([{ hello: "world" }, expect.objectContaining({ jobId: r.jobId })]));
    expect(requests.filter((q) => q.startsWith("GET /v1/agent/jobs"))).toEqual([]);
    expect(agent.metrics.doc().state).toBe("serving");
  });
});
