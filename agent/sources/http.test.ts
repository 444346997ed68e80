import { describe, expect, it } from "vitest";
import type { AgentCancel, AgentChallenge, AgentJob } from "../../events/api";
import type { ApiClient } from "../../api-client/api";
import { createHttpJobSource } from "./http";

const WORKER = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo";

function agentJob(n: number): AgentJob {
  const jobId = `job_01jdqv6x7s9k2m4n8p0r3t5w${String(n).padStart(2, "0")}`;
  return {
    jobId,
    attempt: 0,
    deadline: 1_800_000_000_000,
    envelope: {
      header: {
        v: 1,
        jobId,
        requester: "8Jk3n6vB0cQ1yZ2xW4tR5sP7oN9mL0kJ3hG5fD1sA2q",
        model: "m",
        maxTokens: 16,
        maxPromptTokens: 64,
        maxCost: "1500",
        replyKey: "q2Aw4Bs6Cd8Ef0Gh2Ij4Kl6Mn8Op0Qr2St4Uv6Wx8Yz",
      },
      nonce: "AAECAwQFBgcICQoL",
      payload: "c2VhbGVkIHBheWxvYWQ",
      keys: [{ workerId: WORKER, enc: "ZW5jYXBzdWxhdGVkLWtleQ", ct: "c2VhbGVkLWRhdGEta2V5" }],
    },
  };
}
const challenge = (n: number): AgentChallenge => ({
  kind: "challenge",
  challengeId: `chl_${String(n).padStart(26, "0")}`,
  nonce: "A".repeat(43),
  expiresAt: 1_800_000_000_000,
});

/** An API that answers the poll with `body` and records the paths asked for. */
const fakeApi = (body: unknown, paths: string[] = []): Pick<ApiClient, "requestJson"> => ({
  async requestJson(method, path) {
    paths.push(`${method} ${path}`);
    return body;
  },
});

describe("HTTP job source (issue 10: the poll's answer is parsed with its events/ schemas)", () => {
  it("returns the jobs and challenges of the answer, parsed; the wait is clamped to 0..20 s", async () => {
    // Prepare
    const paths: string[] = [];
    const source = createHttpJobSource(fakeApi({ jobs: [agentJob(1)], challenges: [challenge(1)] }, paths));
    // Act
    const batch = await source.next(45.7);
    // Assess
    expect(batch).toEqual({ jobs: [agentJob(1)], challenges: [challenge(1)], cancels: [] });
    expect(paths).toEqual(["GET /v1/agent/jobs?wait=20"]);
  });

  it("a malformed job or challenge is skipped and reported, never the batch; an older coordinator's { jobs } is fine", async () => {
    // Prepare
    const invalid: string[] = [];
    const bad = { ...agentJob(2), envelope: { ...agentJob(2).envelope, header: { ...agentJob(2).envelope.header, maxCost: 1.5 } } };
    const source = createHttpJobSource(
      fakeApi({ jobs: [bad, agentJob(3)], challenges: [{ kind: "challenge", challengeId: "nope" }, challenge(2)] }),
      {
        onInvalid: (i) => invalid.push(`${i.kind}: ${i.reason}`),
      },
    );
    // Act
    const batch = await source.next(20);
    const old = await createHttpJobSource(fakeApi({ jobs: [agentJob(4)] })).next(0);
    // Assess
    expect(batch).toEqual({ jobs: [agentJob(3)], challenges: [challenge(2)], cancels: [] });
    expect(invalid).toHaveLength(2);
    expect(invalid[0]).toMatch(/^job: envelope\.header\.maxCost/);
    expect(invalid[1]).toMatch(/^challenge: /);
    expect(old).toEqual({ jobs: [agentJob(4)], challenges: [], cancels: [] });
  });

  it("returns the cancels of the answer; a malformed cancel is skipped and reported as a cancel", async () => {
    // Prepare
    const invalid: string[] = [];
    const cancel: AgentCancel = { kind: "cancel", jobId: agentJob(5).jobId, attempt: 1 };
    const source = createHttpJobSource(
      fakeApi({ jobs: [agentJob(5)], challenges: [], cancels: [{ kind: "cancel", jobId: "nope", attempt: 0 }, cancel] }),
      { onInvalid: (i) => invalid.push(`${i.kind}: ${i.reason}`) },
    );
    // Act
    const batch = await source.next(20);
    // Assess
    expect(batch).toEqual({ jobs: [agentJob(5)], challenges: [], cancels: [cancel] });
    expect(invalid).toHaveLength(1);
    expect(invalid[0]).toMatch(/^cancel: jobId/);
  });

  it("an answer without a jobs list is a bad_response", async () => {
    await expect(createHttpJobSource(fakeApi({ work: [] })).next(1)).rejects.toMatchObject({ code: "bad_response" });
  });
});
