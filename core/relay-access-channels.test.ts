/**
 * Session 23: a relay whose channels are queues in the operator's AWS account (SQS) opens them
 * only for accounts that hold funds, RELAY_CHANNELS_PER_HOUR a hour each; before, any key made
 * any number of queues (one CreateQueue per channel name it picked).
 */
import { describe, expect, it } from "vitest";
import type { RelaySession } from "../events/relay";
import { applyMovement, holdMovement, requesterAccount } from "./ledger";
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
    expect(refused).toMatchObject({ status: 403, code: "relay_needs_funds", message: expect.stringContaining("deposit, then ask again") });
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

  it("a requester whose whole balance is held by running jobs (nothing available) still holds funds and may open a channel", async () => {
    // Prepare
    const w = makeJobWorld();
    const r = await w.requester(1_000n);
    await applyMovement(w.store, holdMovement("job-a", r.id, 1_000n, w.clock.now()));
    const { vendor, opened } = queueVendor();
    // Act
    await requesterRelaySession({ ...w.deps, relaySessions: vendor }, r.id, JOB, "account", channel(0));
    // Assess
    expect(await w.balance(r.id)).toMatchObject({ available: 0n, held: 1_000n });
    expect(opened).toEqual([channel(0)]);
  });

  it("the refusal names the seconds left in the hour; the counts expire a minute after their hour", async () => {
    // Prepare: 20 min 34.567 s into the hour (T0 is on the hour)
    const w = makeJobWorld();
    w.advance(1_234_567);
    const r = await w.requester();
    const deps = { ...w.deps, relaySessions: queueVendor().vendor };
    for (let i = 0; i < RELAY_CHANNELS_PER_HOUR; i++) await requesterRelaySession(deps, r.id, JOB, "account", channel(i));
    // Act
    const refused = await refusal(requesterRelaySession(deps, r.id, JOB, "account", channel(RELAY_CHANNELS_PER_HOUR)));
    // Assess: 3600 − 1234.567 s, rounded up
    const hour = Math.floor(w.clock.now() / 3_600_000);
    const endOfHour = ((hour + 1) * 3_600_000) / 1000;
    expect(refused).toMatchObject({ details: { retryAfterSeconds: 2366 } });
    const pk = requesterAccount(r.id);
    expect((await w.store.get("accounts", { pk, sk: `relay-channels#${hour}` }))?.ttl).toBe(endOfHour + 60);
    expect((await w.store.get("accounts", { pk, sk: `relay-channel#${hour}#${channel(0)}` }))?.ttl).toBe(endOfHour + 60);
  });

  it("a channel asked for again this hour costs one read and no write, and is not counted twice", async () => {
    // Prepare
    const w = makeJobWorld();
    const r = await w.requester();
    const deps = { ...w.deps, relaySessions: queueVendor().vendor };
    await requesterRelaySession(deps, r.id, JOB, "account", channel(0));
    const writes = w.transacts.length;
    // Act
    await requesterRelaySession(deps, r.id, JOB, "account", channel(0));
    // Assess
    expect(w.transacts.length).toBe(writes);
    const hour = Math.floor(w.clock.now() / 3_600_000);
    expect((await w.store.get("accounts", { pk: requesterAccount(r.id), sk: `relay-channels#${hour}` }))?.n).toBe(1);
  });

  it("one new channel asked for twice at once (an SDK's two first jobs) opens for both and counts once", async () => {
    // Prepare
    const w = makeJobWorld();
    const r = await w.requester();
    const { vendor, opened } = queueVendor();
    const deps = { ...w.deps, relaySessions: vendor };
    // Act
    const both = await Promise.all([0, 1].map(() => refusal(requesterRelaySession(deps, r.id, JOB, "account", channel(7)))));
    // Assess
    expect(both).toEqual([undefined, undefined]);
    expect(opened).toEqual([channel(7), channel(7)]);
    const hour = Math.floor(w.clock.now() / 3_600_000);
    expect((await w.store.get("accounts", { pk: requesterAccount(r.id), sk: `relay-channels#${hour}` }))?.n).toBe(1);
  });

  it.each([
    ["making the hour's counter", 0],
    ["counting the channel", 1],
  ])("a store failure while %s is passed on (500, retried by the SDK), not read as the cap", async (_step, failing) => {
    // Prepare: the store refuses the `failing`-th transaction from now on (throttled)
    const w = makeJobWorld();
    const r = await w.requester();
    const { vendor, opened } = queueVendor();
    const failure = new Error("store: throttled");
    const transact = w.store.transact;
    let n = 0;
    w.store.transact = (ops) => (n++ === failing ? Promise.reject(failure) : transact(ops));
    // Act
    const e = await refusal(requesterRelaySession({ ...w.deps, relaySessions: vendor }, r.id, JOB, "account", channel(0)));
    // Assess
    expect(e).toBe(failure);
    expect(opened).toEqual([]);
  });
});
