/**
 * Short-lived credentials for an agent to long-poll ITS OWN SQS queue directly (idle cost:
 * one SQS request per 20 s instead of a Lambda held for 20 s).
 *
 * The agent role (stacks: AgentRole) trusts only the agent-session function's role and allows
 * the four queue actions on `${arnPrefix}worker-*`; AssumeRole adds an inline session policy
 * naming exactly one queue ARN, so the effective permissions are the intersection: that
 * worker's queue, nothing else. Lambda → role is role chaining, capped at 1 hour.
 */
import { AssumeRoleCommand, type STSClient } from "@aws-sdk/client-sts";
import { createHash } from "node:crypto";
import { UnavailableError } from "../../core/errors";
import { ConfigError } from "../config";
import { AgentSessionResponse } from "../../events/api";

/** Wire shape of POST /v1/agents/session (move into events/api.ts when the lead takes it over). */
export { AgentSessionResponse };

export const AGENT_QUEUE_ACTIONS = [
  "sqs:ReceiveMessage",
  "sqs:DeleteMessage",
  "sqs:ChangeMessageVisibility",
  "sqs:GetQueueAttributes",
] as const;

/** The inline session policy: the four agent actions on one queue ARN, nothing else. */
export function sessionPolicy(queueArn: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Sid: "OwnQueueOnly", Effect: "Allow", Action: [...AGENT_QUEUE_ACTIONS], Resource: queueArn }],
  });
}

/** RoleSessionName: ≤ 64 chars of [\w+=,.@-]; a worker id (43 base64url chars) fits as is. */
export function roleSessionName(workerId: string): string {
  const name = `w-${workerId}`;
  if (/^[\w+=,.@-]{2,64}$/.test(name)) return name;
  return `w-${createHash("sha256").update(workerId).digest("hex").slice(0, 40)}`;
}

export interface StsSessionVendorOptions {
  client: STSClient;
  roleArn: string;
  region: string;
  /** 900–3600 (AssumeRole minimum; role chaining maximum). */
  durationSeconds: number;
  /** `arn:aws:sqs:<region>:<account>:${namePrefix}` and the matching URL prefix. */
  queueArnPrefix: string;
  queueUrlPrefix: string;
}

export class StsSessionVendor {
  constructor(private readonly o: StsSessionVendorOptions) {
    if (!Number.isInteger(o.durationSeconds) || o.durationSeconds < 900 || o.durationSeconds > 3600) {
      throw new ConfigError("COCOON_AGENT_SESSION_SECONDS", `agent session duration ${o.durationSeconds} s is outside 900–3600 s`);
    }
  }

  queueName(workerId: string) {
    return `worker-${workerId}`;
  }

  async vend(workerId: string): Promise<AgentSessionResponse> {
    const q = this.queueName(workerId);
    const out = await this.o.client.send(
      new AssumeRoleCommand({
        RoleArn: this.o.roleArn,
        RoleSessionName: roleSessionName(workerId),
        DurationSeconds: this.o.durationSeconds,
        Policy: sessionPolicy(this.o.queueArnPrefix + q),
      }),
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
      throw new UnavailableError("session_unavailable", "STS returned no credentials; retry, or fall back to GET /v1/agent/jobs", 1);
    }
    return {
      workerId,
      region: this.o.region,
      queueUrl: this.o.queueUrlPrefix + q,
      credentials: {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        sessionToken: c.SessionToken,
        expiration: c.Expiration.getTime(),
      },
    };
  }
}
