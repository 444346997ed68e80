import { z } from "zod";

// Module-level schemas are built in /* @__PURE__ */ IIFEs so that bundles drop unused ones (see events/api.ts).

/**
 * How a job's stream reaches its relay (docs/architecture.md §3, "Streaming"): the session a
 * worker or a requester is vended. Its own module because two others need it: events/relay.ts
 * (the relay routes, re-exported there) and events/api.ts (AgentJob.relay: the worker's session
 * rides in the dispatch), and events/relay.ts imports api.ts (JobView); a schema here keeps
 * both imports one-way, with nothing read before it is defined at module init.
 */

/** Short-lived AWS credentials (STS) a relay session carries; `expiration` in ms since the epoch. */
const RelayCredentials = /* @__PURE__ */ (() =>
  z.object({
    accessKeyId: z.string(),
    secretAccessKey: z.string(),
    sessionToken: z.string(),
    expiration: z.number().int(),
  }))();

/**
 * The STS role session name the coordinator gives the worker's relay credentials for one job
 * attempt (≤ 64 characters of [\w+=,.@-]: a job id and an attempt always fit). Over SQS the
 * requester reads it back in each message's SenderId (`<role id>:<session name>`), so a worker
 * can only speak for the job attempt it was dispatched: one that sends chunks for the account's
 * other jobs (its credentials reach the whole channel's queue) is ignored, never believed.
 */
export const relaySenderName = (jobId: string, attempt: number) => `w-${jobId}-${attempt}`;

/**
 * How to reach the relay for one job. "http": the coordinator's own routes (the local default,
 * and any deployment without a pub/sub relay). "iot-mqtt": AWS IoT Core, MQTT over WebSocket,
 * with short-lived credentials whose session policy names this job's topic and nothing else
 * (publish for the worker, subscribe and receive for the requester), or, for a requester that
 * asked for scope "account", its own account's topics and nothing else.
 */
export const RelaySession = /* @__PURE__ */ (() =>
  z.discriminatedUnion("transport", [
    z.object({ transport: z.literal("http") }),
    z.object({
      transport: z.literal("iot-mqtt"),
      /** the account's IoT data endpoint, e.g. abc123-ats.iot.us-east-1.amazonaws.com */
      endpoint: z.string().min(1).max(256),
      region: z.string().min(1).max(32),
      /**
       * the MQTT topic of this job's stream (the worker publishes to it, the requester subscribes),
       * or for an account-scoped requester session the filter of all its jobs' streams
       * (`<prefix>/r/<account>/+/+`: job id, then worker id)
       */
      topic: z.string().min(1).max(256),
      /** the only MQTT client id the credentials may connect with */
      clientId: z.string().min(1).max(128),
      credentials: RelayCredentials,
    }),
    z.object({
      /**
       * Amazon SQS (issue 12: a third of IoT Core's price per streamed job; bench/cost.ts): one
       * queue per account channel. The worker's credentials allow sqs:SendMessage to the queue of
       * the channel its job was submitted with, the requester's allow receiving from its own; each
       * chunk is one message (its body a RelayChunk, JSON). A queue hands a message to one reader and
       * may reorder or repeat: the SDK puts each job's chunks back in order, drops repeats, and
       * takes a chunk only from the sender named for its job and attempt (relaySenderName).
       */
      transport: z.literal("sqs"),
      region: z.string().min(1).max(32),
      queueUrl: z.string().url().max(512),
      credentials: RelayCredentials,
    }),
  ]))();
export type RelaySession = z.infer<typeof RelaySession>;

/**
 * Credentials with their expiry moved onto the holder's clock (`toLocal`: ApiClient.localTime).
 * STS stamps `expiration` by AWS's clock, which the coordinator's follows; a holder whose clock
 * was minutes off compared it with its own, so it renewed minutes early (ahead) or went on using
 * credentials past their end (behind).
 */
export const credentialsOnLocalClock = <C extends { expiration: number }>(c: C, toLocal: (serverMs: number) => number): C => ({
  ...c,
  expiration: toLocal(c.expiration),
});

/** A relay session with its credentials' expiry on the holder's clock (credentialsOnLocalClock). */
export function sessionOnLocalClock<S extends RelaySession>(s: S, toLocal: (serverMs: number) => number): S {
  return s.transport === "http" ? s : { ...s, credentials: credentialsOnLocalClock(s.credentials, toLocal) };
}
