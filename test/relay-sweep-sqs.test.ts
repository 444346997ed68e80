/**
 * coord42 (docs/security.md session 39, relay item B) over the SQS stand-in on 127.0.0.1
 * (test/sqs-relay-standin.ts, which counts each receive that found nothing, as CloudWatch's
 * NumberOfEmptyReceives does): a requester that loops short receives on its channel queue with
 * its channel's credentials is caught by the same core sweep that runs on AWS
 * (core/relay-sweep.ts), its queue deleted under it and its account refused new channel sessions;
 * a reader that long-polls as the SDK does, on another channel, is left alone.
 *
 * The local default has no channel queues (its relay is the coordinator's HTTP routes, which
 * nothing outside bills per call), so there the sweep has nothing to read; this is the stand-in
 * AWS-shaped relay the tests use.
 */
import { CreateQueueCommand, DeleteQueueCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeJobWorld } from "../core/jobs/testing";
import { requesterRelaySession, type RelaySessionVendor } from "../core/relay-access";
import {
  MAX_EMPTY_RECEIVES_PER_MINUTE,
  RELAY_SWEEP_LAG_MS,
  RELAY_SWEEP_WINDOW_MS,
  relayRevocationKey,
  sweepRelayChannels,
  type ChannelQueueWatch,
} from "../core/relay-sweep";
import { credentialsFor, startSqsStandIn, type SqsStandIn } from "./sqs-relay-standin";

const PREFIX = "cocoon-test";
const REGION = "us-east-1";
const JOB = "job_01jdqv6x7s9k2m4n8p0r3t5w00";
const BOUND = (MAX_EMPTY_RECEIVES_PER_MINUTE * RELAY_SWEEP_WINDOW_MS) / 60_000;

let sqs: SqsStandIn;
let admin: SQSClient;

beforeAll(async () => {
  sqs = await startSqsStandIn();
  const { expiration: _e, ...vendorCredentials } = credentialsFor("vendor");
  admin = new SQSClient({ region: REGION, endpoint: sqs.url, credentials: vendorCredentials });
});
afterAll(async () => {
  await sqs?.close();
});

const nameOf = (url: string) => url.slice(url.lastIndexOf("/") + 1);

/** The sweep's watch over the stand-in: its counted empty receives, the account in the queue's readable name, DeleteQueue. */
function standInWatch(): ChannelQueueWatch {
  const urls = new Map<string, string>();
  return {
    emptyReceives: (from, to) => {
      for (const n of sqs.queueNames().filter((n) => n.startsWith(`${PREFIX}-r-`))) urls.set(n, `${sqs.url}/000000000000/${n}`);
      return Promise.resolve(
        [...urls.keys()].map((queue) => ({
          queue,
          emptyReceives: sqs.emptyReceives.filter((e) => nameOf(e.queueUrl) === queue && e.at >= from && e.at < to).length,
        })),
      );
    },
    ownerOf: (queue) => Promise.resolve(queue.slice(`${PREFIX}-r-`.length, `${PREFIX}-r-`.length + 43)),
    remove: async (queue) => {
      await admin.send(new DeleteQueueCommand({ QueueUrl: urls.get(queue)! }));
    },
  };
}

/** The requester's own SQS client on its channel, with the channel's credentials (what the session route vends). */
function requesterClient(channel: string) {
  const { expiration: _e, ...credentials } = credentialsFor(`r-${channel}`);
  return new SQSClient({ region: REGION, endpoint: sqs.url, credentials });
}

describe("the relay sweep over the SQS stand-in (coord42)", () => {
  it("a loop of short receives on one channel queue gets it deleted and its account refused new sessions; a long-polling reader is left alone", async () => {
    // Prepare: two funded requesters, each with a channel queue made as the vendor makes them
    const w = makeJobWorld();
    const looper = await w.requester();
    const reader = await w.requester();
    const queueUrlOf = async (account: string, channel: string) =>
      (
        await admin.send(
          new CreateQueueCommand({
            QueueName: `${PREFIX}-r-${account}-${channel}`,
            Attributes: { MessageRetentionPeriod: "120", VisibilityTimeout: "43200", ReceiveMessageWaitTimeSeconds: "20" },
          }),
        )
      ).QueueUrl!;
    const loopUrl = await queueUrlOf(looper.id, "chan_loop");
    const readUrl = await queueUrlOf(reader.id, "chan_read");
    const loop = requesterClient("chan_loop");
    const read = requesterClient("chan_read");
    // Act: the looper asks with no wait, one more time than the bound; the reader long-polls (1 s here, 20 s on AWS)
    const longPolls = Promise.all([1, 2].map(() => read.send(new ReceiveMessageCommand({ QueueUrl: readUrl, WaitTimeSeconds: 1 }))));
    for (let sent = 0; sent <= BOUND; sent += 100) {
      const n = Math.min(100, BOUND + 1 - sent);
      await Promise.all(Array.from({ length: n }, () => loop.send(new ReceiveMessageCommand({ QueueUrl: loopUrl, WaitTimeSeconds: 0 }))));
    }
    await longPolls;
    // the sweep's window ends RELAY_SWEEP_LAG_MS before its now (CloudWatch's delay): now is that much later
    const deps = { ...w.deps, clock: { now: () => Date.now() + RELAY_SWEEP_LAG_MS } };
    const report = await sweepRelayChannels(deps, standInWatch(), { raise: () => Promise.resolve() });
    // Assess
    expect(report.revoked).toEqual([{ queue: nameOf(loopUrl), account: looper.id, emptyReceives: BOUND + 1 }]);
    expect(sqs.queueNames()).toEqual([nameOf(readUrl)]);
    const after = await loop.send(new ReceiveMessageCommand({ QueueUrl: loopUrl, WaitTimeSeconds: 0 })).catch((e: unknown) => e);
    expect(String((after as Error).name)).toMatch(/QueueDoesNotExist|NonExistentQueue/);
    expect(await w.store.get("accounts", relayRevocationKey(looper.id))).toBeDefined();
    expect(await w.store.get("accounts", relayRevocationKey(reader.id))).toBeUndefined();
    // and the session route vends the looper nothing more, the reader as before
    const vendor: RelaySessionVendor = {
      channelQueues: true,
      forWorker: () => Promise.resolve({ transport: "http" }),
      forRequester: () => Promise.resolve({ transport: "http" }),
      forAccount: () => Promise.resolve({ transport: "http" }),
    };
    const routeDeps = { ...w.deps, relaySessions: vendor };
    const refused = await requesterRelaySession(routeDeps, looper.id, JOB, "account", "chan_loop").catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 403, code: "relay_channel_revoked" });
    expect(await requesterRelaySession(routeDeps, reader.id, JOB, "account", "chan_read")).toEqual({ transport: "http" });
  }, 60_000);
});
