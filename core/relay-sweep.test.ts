/**
 * coord42 (docs/security.md session 39, relay item B): a requester's own receives on its SQS
 * channel queue are billed to the operator, and nothing bounded them. The sweep
 * (core/relay-sweep.ts) deletes a queue read in a loop and revokes its account's channels for a
 * day; the session route (core/relay-access.ts) then vends that account nothing, not even a
 * renewal of a channel it counted this hour. An honest SDK's rate (24 empty receives a minute at
 * most: 8 loops of 20 s polls) is never touched.
 */
import { describe, expect, it } from "vitest";
import type { RelaySession } from "../events/relay";
import { makeJobWorld } from "./jobs/testing";
import type { Alert } from "./ports";
import { requesterRelaySession, type RelaySessionVendor } from "./relay-access";
import {
  HONEST_EMPTY_RECEIVES_PER_MINUTE,
  MAX_EMPTY_RECEIVES_PER_MINUTE,
  RELAY_REVOKE_MS,
  RELAY_SWEEP_LAG_MS,
  RELAY_SWEEP_WINDOW_MS,
  relayRevocationKey,
  sweepRelayChannels,
  type ChannelQueueWatch,
} from "./relay-sweep";

const SESSION: RelaySession = { transport: "http" };
const JOB = "job_01jdqv6x7s9k2m4n8p0r3t5w00";
const WINDOW_MINUTES = RELAY_SWEEP_WINDOW_MS / 60_000;
const BOUND = MAX_EMPTY_RECEIVES_PER_MINUTE * WINDOW_MINUTES;

/** The watch over channel queues named `q-<channel>`: each one's empty receives in the window asked (0 where not given). */
function fakeWatch(use: Record<string, number>, failRemove: string[] = []) {
  const asked: Array<{ queues: string[]; from: number; to: number }> = [];
  const removed: string[] = [];
  const watch: ChannelQueueWatch = {
    queueOf: (_account, channel) => `q-${channel}`,
    emptyReceives: (queues, from, to) => {
      asked.push({ queues: [...queues].sort(), from, to });
      return Promise.resolve(new Map(queues.filter((q) => use[q] !== undefined).map((q) => [q, use[q]!])));
    },
    remove: (q) => (failRemove.includes(q) ? Promise.reject(new Error("AccessDenied")) : (removed.push(q), Promise.resolve())),
  };
  return { watch, asked, removed };
}

function recordedAlerts() {
  const raised: Alert[] = [];
  return { raised, alerts: { raise: (a: Alert) => (raised.push(a), Promise.resolve()) } };
}

/** A vendor with channel queues (as SqsRelaySessionVendor) recording the channels it vended. */
function queueVendor() {
  const opened: string[] = [];
  const vendor: RelaySessionVendor = {
    channelQueues: true,
    forWorker: () => Promise.resolve(SESSION),
    forRequester: () => Promise.resolve(SESSION),
    forAccount: (_account, c) => (opened.push(c!), Promise.resolve(SESSION)),
  };
  return { vendor, opened };
}

/** Opens `channel` for `account` through the session route, as the SDK does: the claim lists it for the sweep. */
async function openChannel(w: ReturnType<typeof makeJobWorld>, account: string, channel: string) {
  await requesterRelaySession({ ...w.deps, relaySessions: queueVendor().vendor }, account, JOB, "account", channel);
}

/** Moves the clock past a sweep's lag and window, so that the window holds what was done before. */
const windowLater = (w: ReturnType<typeof makeJobWorld>) => w.advance(RELAY_SWEEP_LAG_MS + RELAY_SWEEP_WINDOW_MS);

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe("the relay sweep (coord42)", () => {
  it("a queue past the bound is deleted, its account's channels revoked for a day and an alert raised; the honest one next to it is untouched", async () => {
    // Prepare: an SDK at the most an honest one polls, and a loop of short polls (bound + 1)
    const w = makeJobWorld();
    const honest = await w.requester();
    const looper = await w.requester();
    await openChannel(w, honest.id, "chan_honest");
    await openChannel(w, looper.id, "chan_looper");
    const { watch, asked, removed } = fakeWatch({
      "q-chan_honest": HONEST_EMPTY_RECEIVES_PER_MINUTE * WINDOW_MINUTES,
      "q-chan_looper": BOUND + 1,
    });
    const { raised, alerts } = recordedAlerts();
    windowLater(w);
    // Act
    const report = await sweepRelayChannels(w.deps, watch, alerts);
    // Assess
    const now = w.clock.now();
    expect(asked).toEqual([
      { queues: ["q-chan_honest", "q-chan_looper"], from: now - RELAY_SWEEP_LAG_MS - RELAY_SWEEP_WINDOW_MS, to: now - RELAY_SWEEP_LAG_MS },
    ]);
    expect(report).toEqual({ queues: 2, revoked: [{ queue: "q-chan_looper", account: looper.id, emptyReceives: BOUND + 1 }], failed: [] });
    expect(removed).toEqual(["q-chan_looper"]);
    expect(await w.store.get("accounts", relayRevocationKey(looper.id))).toMatchObject({
      until: now + RELAY_REVOKE_MS,
      queue: "q-chan_looper",
    });
    expect(await w.store.get("accounts", relayRevocationKey(honest.id))).toBeUndefined();
    expect(raised).toEqual([
      expect.objectContaining({
        key: "relay.channel-revoked:q-chan_looper",
        severity: "warning",
        details: expect.objectContaining({ account: looper.id }),
      }),
    ]);
  });

  it("exactly the bound passes: five times the honest SDK's most", async () => {
    // Prepare
    const w = makeJobWorld();
    const r = await w.requester();
    await openChannel(w, r.id, "chan_00000000");
    const { watch, removed } = fakeWatch({ "q-chan_00000000": BOUND });
    windowLater(w);
    // Act
    const report = await sweepRelayChannels(w.deps, watch, recordedAlerts().alerts);
    // Assess
    expect(BOUND).toBe(5 * HONEST_EMPTY_RECEIVES_PER_MINUTE * WINDOW_MINUTES);
    expect(report.revoked).toEqual([]);
    expect(removed).toEqual([]);
  });

  it("a revoked account gets no channel session, new or renewed, until the day is over; then it does again", async () => {
    // Prepare: a funded account that opened a channel this hour, then looped on its queue
    const w = makeJobWorld();
    const r = await w.requester();
    const { vendor, opened } = queueVendor();
    const deps = { ...w.deps, relaySessions: vendor };
    await requesterRelaySession(deps, r.id, JOB, "account", "chan_00000000");
    windowLater(w);
    await sweepRelayChannels(w.deps, fakeWatch({ "q-chan_00000000": BOUND + 1 }).watch, recordedAlerts().alerts);
    // Act
    const renewal = await refusal(requesterRelaySession(deps, r.id, JOB, "account", "chan_00000000"));
    const fresh = await refusal(requesterRelaySession(deps, r.id, JOB, "account", "chan_00000001"));
    w.advance(RELAY_REVOKE_MS);
    await requesterRelaySession(deps, r.id, JOB, "account", "chan_00000002");
    // Assess
    expect(renewal).toMatchObject({ status: 403, code: "relay_channel_revoked", details: { retryAfterSeconds: RELAY_REVOKE_MS / 1000 } });
    expect(fresh).toMatchObject({ status: 403, code: "relay_channel_revoked" });
    expect(opened).toEqual(["chan_00000000", "chan_00000002"]);
  });

  it("review42 F1: a channel claimed in the window's hour or the hour before is measured, whether or not its queue still exists; one claimed two hours before is not", async () => {
    // Prepare: three channels of one account, claimed two hours, one hour and no hours before the sweep
    const w = makeJobWorld();
    const r = await w.requester();
    w.advance(3_600_000 - (w.clock.now() % 3_600_000) + 60_000); // 1 minute into an hour
    await openChannel(w, r.id, "chan_old_00");
    w.advance(3_600_000);
    await openChannel(w, r.id, "chan_last_hour");
    w.advance(3_600_000);
    await openChannel(w, r.id, "chan_this_hour");
    const { watch, asked } = fakeWatch({});
    // Act: 30 minutes into the hour, the window is wholly in it
    w.advance(29 * 60_000);
    const report = await sweepRelayChannels(w.deps, watch, recordedAlerts().alerts);
    // Assess: credentials last at most an hour, so the last hour's channel may still be read
    expect(asked.map((a) => a.queues)).toEqual([["q-chan_last_hour", "q-chan_this_hour"]]);
    expect(report.queues).toBe(2);
  });

  it("review42 F5: a queue whose revocation or removal fails is alerted and the sweep goes on to the others", async () => {
    // Prepare: three loopers; the first's queue cannot be deleted (AccessDenied)
    const w = makeJobWorld();
    const [a, b, c] = [await w.requester(), await w.requester(), await w.requester()];
    await openChannel(w, a.id, "chan_aaaaaaaa");
    await openChannel(w, b.id, "chan_bbbbbbbb");
    await openChannel(w, c.id, "chan_cccccccc");
    const { watch, removed } = fakeWatch({ "q-chan_aaaaaaaa": BOUND + 1, "q-chan_bbbbbbbb": BOUND + 1, "q-chan_cccccccc": BOUND + 1 }, [
      "q-chan_aaaaaaaa",
    ]);
    const { raised, alerts } = recordedAlerts();
    windowLater(w);
    // Act
    const report = await sweepRelayChannels(w.deps, watch, alerts);
    // Assess
    expect(report.failed).toEqual([{ queue: "q-chan_aaaaaaaa", account: a.id, error: "could not delete its queue: Error: AccessDenied" }]);
    expect(report.revoked.map((x) => x.queue).sort()).toEqual(["q-chan_bbbbbbbb", "q-chan_cccccccc"]);
    expect(removed.sort()).toEqual(["q-chan_bbbbbbbb", "q-chan_cccccccc"]);
    for (const r of [a, b, c]) expect(await w.store.get("accounts", relayRevocationKey(r.id))).toBeDefined();
    expect(raised.map((x) => [x.key, x.severity]).sort()).toEqual([
      ["relay.channel-revoke-failed:q-chan_aaaaaaaa", "critical"],
      ["relay.channel-revoked:q-chan_bbbbbbbb", "warning"],
      ["relay.channel-revoked:q-chan_cccccccc", "warning"],
    ]);
  });

  it("an alert that cannot be sent leaves the revocation done (logged, not thrown)", async () => {
    // Prepare
    const w = makeJobWorld();
    const r = await w.requester();
    await openChannel(w, r.id, "chan_00000000");
    const { watch, removed } = fakeWatch({ "q-chan_00000000": BOUND + 1 });
    windowLater(w);
    // Act
    const report = await sweepRelayChannels(w.deps, watch, { raise: () => Promise.reject(new Error("SNS down")) });
    // Assess
    expect(report.revoked).toHaveLength(1);
    expect(removed).toEqual(["q-chan_00000000"]);
    expect(await w.store.get("accounts", relayRevocationKey(r.id))).toBeDefined();
  });
});
