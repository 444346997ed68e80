/**
 * coord42 (docs/security.md session 39, relay item B) over the SQS stand-in on 127.0.0.1
 * (test/sqs-relay-standin.ts, which counts each receive that found nothing, as CloudWatch's
 * NumberOfEmptyReceives does): a requester that loops short receives on its channel queue with
 * its channel's credentials is caught by the same core sweep that runs on AWS
 * (core/relay-sweep.ts), its queue deleted under it and its account refused new channel sessions;
 * a reader that long-polls as the SDK does, on another channel, is left alone; and a looper that
 * deletes its own queue before the sweep (review42 F1) is caught all the same.
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
import { relayQueueName } from "../functions/adapters/relay-sqs";
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

/** The sweep's watch over the stand-in: the vendor's queue names, their counted empty receives (a deleted queue's too, as CloudWatch keeps them), DeleteQueue. */
function standInWatch(): ChannelQueueWatch {
  return {
    queueOf: (account, channel) => relayQueueName(PREFIX, account, channel),
    emptyReceives: (queues, from, to) =>
      Promise.resolve(
        new Map(
          queues.map((queue) => [queue, sqs.emptyReceives.filter((e) => nameOf(e.queueUrl) === queue && e.at >= from && e.at < to).length]),
        ),
      ),
    remove: async (queue) => {
      await admin.send(new DeleteQueueCommand({ QueueUrl: `${sqs.url}/000000000000/${queue}` })).catch((e: unknown) => {
        if (!/QueueDoesNotExist|NonExistentQueue/.test(String((e as Error).name))) throw e;
      });
    },
  };
}

/** The session route over the stand-in, as SqsRelaySessionVendor: the claim (which lists the channel for the sweep), then CreateQueue. */
function openChannel(w: ReturnType<typeof makeJobWorld>, account: string, channel: string) {
  const vendor: RelaySessionVendor = {
    channelQueues: true,
    forWorker: () => Promise.resolve({ transport: "http" }),
    forRequester: () => Promise.resolve({ transport: "http" }),
    forAccount: async (a, c) => {
      await admin.send(
        new CreateQueueCommand({
          QueueName: relayQueueName(PREFIX, a, c!),
          Attributes: { MessageRetentionPeriod: "120", VisibilityTimeout: "43200", ReceiveMessageWaitTimeSeconds: "20" },
        }),
      );
      return { transport: "http" };
    },
  };
  // the stand-in stamps receives with the real clock: the claim (and its hour) must too
  return requesterRelaySession({ ...w.deps, clock: { now: () => Date.now() }, relaySessions: vendor }, account, JOB, "account", channel);
}

const refusalOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

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
    const queueUrlOf = async (account: string, channel: string) => {
      await openChannel(w, account, channel);
      return `${sqs.url}/000000000000/${relayQueueName(PREFIX, account, channel)}`;
    };
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
    // (and a second more: the stand-in may stamp the last receives a few ms after their answer, and the window ends before its end)
    const deps = { ...w.deps, clock: { now: () => Date.now() + RELAY_SWEEP_LAG_MS + 1_000 } };
    const report = await sweepRelayChannels(deps, standInWatch(), { raise: () => Promise.resolve() });
    // Assess
    expect(report.revoked).toEqual([{ queue: nameOf(loopUrl), account: looper.id, emptyReceives: BOUND + 1 }]);
    expect(sqs.queueNames()).toContain(nameOf(readUrl));
    expect(sqs.queueNames()).not.toContain(nameOf(loopUrl));
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

  it("review42 F1: a looper that deletes its own queue before the sweep and opens a new channel is revoked all the same", async () => {
    // Prepare: a funded requester opens a channel through the session route, as the SDK does
    const w = makeJobWorld();
    const looper = await w.requester();
    await openChannel(w, looper.id, "chan_evade1");
    const url = `${sqs.url}/000000000000/${relayQueueName(PREFIX, looper.id, "chan_evade1")}`;
    const loop = requesterClient("chan_evade1");
    // Act: zero-wait receives past the bound, then DeleteQueue with its own credentials (allowed: the SDK's close()), then a new channel
    for (let sent = 0; sent <= BOUND; sent += 100) {
      const n = Math.min(100, BOUND + 1 - sent);
      await Promise.all(Array.from({ length: n }, () => loop.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 0 }))));
    }
    await loop.send(new DeleteQueueCommand({ QueueUrl: url }));
    await openChannel(w, looper.id, "chan_evade2");
    // (and a second more: the stand-in may stamp the last receives a few ms after their answer, and the window ends before its end)
    const deps = { ...w.deps, clock: { now: () => Date.now() + RELAY_SWEEP_LAG_MS + 1_000 } };
    const report = await sweepRelayChannels(deps, standInWatch(), { raise: () => Promise.resolve() });
    // Assess: the deleted queue was measured and its account revoked; the new channel is refused
    expect(sqs.queueNames()).not.toContain(nameOf(url));
    expect(report.revoked).toEqual([{ queue: nameOf(url), account: looper.id, emptyReceives: BOUND + 1 }]);
    expect(report.failed).toEqual([]);
    expect(await w.store.get("accounts", relayRevocationKey(looper.id))).toMatchObject({ queue: nameOf(url) });
    expect(await refusalOf(openChannel(w, looper.id, "chan_evade3"))).toMatchObject({ status: 403, code: "relay_channel_revoked" });
  }, 60_000);
});
