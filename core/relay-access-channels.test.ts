/**
 * Session 23: a relay whose channels are queues in the operator's AWS account (SQS) opens them
 * only for accounts that hold funds, RELAY_CHANNELS_PER_HOUR a hour each; before, any key made
 * any number of queues (one CreateQueue per channel name it picked).
 */
import { describe, expect, it } from "vitest";
import type { RelaySession } from "../events/relay";
import { makeJobWorld } from "./jobs/testing";
import { RELAY_CHANNELS_PER_HOUR, requesterRelaySession, type RelaySessionVendor } from "./relay-access";

const SESSION: RelaySession = { transport: "http" };
const JOB = "job_01jdqv6x7s9k2m4n8p0r3t5w00";
const channel = (i: number) => `chan_${String(i).padStart(8, "0")}`;

/** A vendor with channel queues (as SqsRelaySessionVendor) that records the channels it was asked to open. */
function queueVendor(channelQueues = true) {
  const opened: string[] = [];
  const vendor: RelaySessionVendor = {
    channelQueues,
    forWorker: () => Promise.resolve(SESSION),
    forRequester: () => Promise.resolve(SESSION),
    forAccount: (_account, c) => (opened.push(c!), Promise.resolve(SESSION)),
  };
  return { vendor, opened };
}

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe("session 23: relay channels that are queues are capped per account", () => {
  it(`a funded account opens ${RELAY_CHANNELS_PER_HOUR} channels an hour; the next is 429 too_many_channels with a retry time, and no queue is made`, async () => {
    // Prepare
    const w = makeJobWorld();
    const r = await w.requester();
    const { vendor, opened } = queueVendor();
    const deps = { ...w.deps, relaySessions: vendor };
    for (let i = 0; i < RELAY_CHANNELS_PER_HOUR; i++) await requesterRelaySession(deps, r.id, JOB, "account", channel(i));
    // Act
    const refused = await refusal(requesterRelaySession(deps, r.id, JOB, "account", channel(RELAY_CHANNELS_PER_HOUR)));
    // Assess
    expect(refused).toMatchObject({
      status: 429,
      code: "too_many_channels",
      details: { limit: RELAY_CHANNELS_PER_HOUR, retryAfterSeconds: expect.any(Number) },
    });
    expect(opened).toHaveLength(RELAY_CHANNELS_PER_HOUR);
  });

  it("a channel already opened this hour is asked for again freely (an SDK client renewing its credentials); the next hour has room again", async () => {
    // Prepare
    const w = makeJobWorld();
    const r = await w.requester();
    const { vendor, opened } = queueVendor();
    const deps = { ...w.deps, relaySessions: vendor };
    for (let i = 0; i < RELAY_CHANNELS_PER_HOUR; i++) await requesterRelaySession(deps, r.id, JOB, "account", channel(i));
    // Act
    await requesterRelaySession(deps, r.id, JOB, "account", channel(0));
    w.advance(3_600_000);
    await requesterRelaySession(deps, r.id, JOB, "account", channel(RELAY_CHANNELS_PER_HOUR));
    // Assess
    expect(opened).toEqual([
      ...Array.from({ length: RELAY_CHANNELS_PER_HOUR }, (_, i) => channel(i)),
      channel(0),
      channel(RELAY_CHANNELS_PER_HOUR),
    ]);
  });

  it("a burst of new channels at once cannot pass the cap (the counter's condition, not a count read first)", async () => {
    // Prepare
    const w = makeJobWorld();
    const r = await w.requester();
    const { vendor, opened } = queueVendor();
    const deps = { ...w.deps, relaySessions: vendor };
    // Act
    const results = await Promise.all(
      Array.from({ length: RELAY_CHANNELS_PER_HOUR * 2 }, (_, i) => refusal(requesterRelaySession(deps, r.id, JOB, "account", channel(i)))),
    );
    // Assess
    expect(opened).toHaveLength(RELAY_CHANNELS_PER_HOUR);
    expect(results.filter((e) => (e as { code?: string } | undefined)?.code === "too_many_channels")).toHaveLength(RELAY_CHANNELS_PER_HOUR);
  });

  it("an account without funds (any fresh key) is 403 relay_needs_funds and makes no queue; other accounts' channels are not counted against it", async () => {
    // Prepare
    const w = makeJobWorld();
    const stranger = await w.requester(0n);
    const busy = await w.requester();
    const other = await w.requester();
    const { vendor, opened } = queueVendor();
    const deps = { ...w.deps, relaySessions: vendor };
    for (let i = 0; i < RELAY_CHANNELS_PER_HOUR; i++) await requesterRelaySession(deps, busy.id, JOB, "account", channel(i));
    // Act
    const refused = await refusal(requesterRelaySession(deps, stranger.id, JOB, "account", channel(99)));
    await requesterRelaySession(deps, other.id, JOB, "account", channel(0));
    // Assess
    expect(refused).toMatchObject({ status: 403, code: "relay_needs_funds" });
    expect(opened).toHaveLength(RELAY_CHANNELS_PER_HOUR + 1);
  });

  it("a relay whose channels make nothing (IoT Core ignores them) is not capped", async () => {
    // Prepare
    const w = makeJobWorld();
    const r = await w.requester(0n);
    const { vendor, opened } = queueVendor(false);
    const deps = { ...w.deps, relaySessions: vendor };
    // Act
    for (let i = 0; i <= RELAY_CHANNELS_PER_HOUR; i++) await requesterRelaySession(deps, r.id, JOB, "account", channel(i));
    // Assess
    expect(opened).toHaveLength(RELAY_CHANNELS_PER_HOUR + 1);
  });
});
