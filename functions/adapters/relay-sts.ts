/**
 * What the two relay vendors (relay-iot.ts: AWS IoT Core, relay-sqs.ts: Amazon SQS) share: one
 * AssumeRole of the RelayRole (stacks/Cocoon.ts) with a session policy that narrows it to one
 * job's or one channel's resources, and the role session names they give it.
 */
import type { STSClient } from "@aws-sdk/client-sts";
import { createHash } from "node:crypto";
import type { RelaySession } from "../../events/relay";
import { CocoonError, UnavailableError } from "../../core/errors";

export type RelayCredentials = Extract<RelaySession, { transport: "sqs" }>["credentials"];

/** STS's RoleSessionName: 2–64 characters of [\w+=,.@-]. */
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

/** A role session name `<kind>-<id>`, or `<kind>-<sha256(id), 40 hex>` where that does not fit. */
export function relaySessionName(kind: "w" | "r", id: string): string {
  const name = `${kind}-${id}`;
  return SESSION_NAME.test(name) ? name : `${kind}-${createHash("sha256").update(id).digest("hex").slice(0, 40)}`;
}

/**
 * A name that must be used as it is (the SQS requester matches the worker's against the
 * message's SenderId): never hashed, refused if STS would refuse it.
 */
export function exactSessionName(name: string): string {
  if (!SESSION_NAME.test(name))
    throw new CocoonError(500, "relay_misconfigured", `"${name}" is not a valid STS role session name (2–64 of [\\w+=,.@-])`);
  return name;
}

/**
 * How long a worker's relay credentials last, whatever COCOON_RELAY_SESSION_SECONDS says: the
 * least STS gives. IAM cannot bound how many messages a send credential sends (session 23): a
 * worker could flood its requester's channel, or spend IoT messages, until they expire, also
 * after its job ended. The agent asks again for a job that outlives them (agent/relay.ts).
 */
export const WORKER_RELAY_SESSION_SECONDS = 900;

/** 900 (the least STS gives) … 3600 (role chaining's most: Lambda's role assumes the RelayRole). */
export function checkRelayDuration(seconds: number): void {
  if (!Number.isInteger(seconds) || seconds < 900 || seconds > 3600)
    throw new CocoonError(500, "relay_misconfigured", `relay session duration ${seconds} s is outside 900–3600 s`);
}

export async function assumeRelayRole(
  o: { client: STSClient; roleArn: string; durationSeconds: number },
  name: string,
  policy: string,
): Promise<RelayCredentials> {
  const { AssumeRoleCommand } = await import("@aws-sdk/client-sts");
  const out = await o.client.send(
    new AssumeRoleCommand({ RoleArn: o.roleArn, RoleSessionName: name, DurationSeconds: o.durationSeconds, Policy: policy }),
  );
  const c = out.Credentials;
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
    throw new UnavailableError(
      "relay_session_unavailable",
      "STS returned no credentials; retry, or read the answer with GET /v1/jobs/{id}",
      1,
    );
  }
  return {
    accessKeyId: c.AccessKeyId,
    secretAccessKey: c.SecretAccessKey,
    sessionToken: c.SessionToken,
    expiration: c.Expiration.getTime(),
  };
}
