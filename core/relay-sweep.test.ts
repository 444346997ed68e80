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

/** Channel queues as the watch sees them: each its owner and its empty receives in the window asked. */
function fakeWatch(queues: Record<string, { owner?: string; emptyReceives: number }>) {
  const asked: Array<[number, number]> = [];
  const removed: string[] = [];
  const watch: ChannelQueueWatch = {
    emptyReceives: (from, to) => {
      asked.push([from, to]);
      return Promise.resolve(
        Object.entries(queues)
          .filter(([q]) => !removed.includes(q))
          .map(([queue, { emptyReceives }]) => ({ queue, emptyReceives })),
      );
    },
    ownerOf: (q) => Promise.resolve(queues[q]?.owner),
    remove: (q) => (removed.push(q), Promise.resolve()),
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
    const { watch, asked, removed } = fakeWatch({
      "cocoon-t-r-honest": { owner: honest.id, emptyReceives: HONEST_EMPTY_RECEIVES_PER_MINUTE * WINDOW_MINUTES },
      "cocoon-t-r-looper": { owner: looper.id, emptyReceives: BOUND + 1 },
    });
    const { raised, alerts } = recordedAlerts();
    // Act
    const report = await sweepRelayChannels(w.deps, watch, alerts);
    // Assess
    const now = w.clock.now();
    expect(asked).toEqual([[now - RELAY_SWEEP_LAG_MS - RELAY_SWEEP_WINDOW_MS, now - RELAY_SWEEP_LAG_MS]]);
    expect(report).toEqual({ queues: 2, revoked: [{ queue: "cocoon-t-r-looper", account: looper.id, emptyReceives: BOUND + 1 }] });
    expect(removed).toEqual(["cocoon-t-r-looper"]);
    expect(await w.store.get("accounts", relayRevocationKey(looper.id))).toMatchObject({
      until: now + RELAY_REVOKE_MS,
      queue: "cocoon-t-r-looper",
    });
    expect(await w.store.get("accounts", relayRevocationKey(honest.id))).toBeUndefined();
    expect(raised).toEqual([
      expect.objectContaining({
        key: "relay.channel-revoked:cocoon-t-r-looper",
        severity: "warning",
        details: expect.objectContaining({ account: looper.id }),
      }),
    ]);
  });

  it("exactly the bound passes: five times the honest SDK's most", async () => {
    // Prepare
    const w = makeJobWorld();
    const r = await w.requester();
    const { watch, removed } = fakeWatch({ "cocoon-t-r-q": { owner: r.id, emptyReceives: BOUND } });
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
    await sweepRelayChannels(
      w.deps,
      fakeWatch({ "cocoon-t-r-q": { owner: r.id, emptyReceives: BOUND + 1 } }).watch,
      recordedAlerts().alerts,
    );
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

  it("a queue whose owner cannot be told (an untagged queue of an older deploy) is still deleted and told, and no account is revoked", async () => {
    // Prepare
    const w = makeJobWorld();
    const { watch, removed } = fakeWatch({ "cocoon-t-r-0123abcd": { emptyReceives: BOUND * 10 } });
    const { raised, alerts } = recordedAlerts();
    const writes = w.transacts.length;
    // Act
    const report = await sweepRelayChannels(w.deps, watch, alerts);
    // Assess
    expect(report.revoked).toEqual([{ queue: "cocoon-t-r-0123abcd", emptyReceives: BOUND * 10 }]);
    expect(removed).toEqual(["cocoon-t-r-0123abcd"]);
    expect(w.transacts.length).toBe(writes);
    expect(raised).toHaveLength(1);
  });

  it("an alert that cannot be sent leaves the revocation done (logged, not thrown)", async () => {
    // Prepare
    const w = makeJobWorld();
    const r = await w.requester();
    const { watch, removed } = fakeWatch({ "cocoon-t-r-q": { owner: r.id, emptyReceives: BOUND + 1 } });
    // Act
    const report = await sweepRelayChannels(w.deps, watch, { raise: () => Promise.reject(new Error("SNS down")) });
    // Assess
    expect(report.revoked).toHaveLength(1);
    expect(removed).toEqual(["cocoon-t-r-q"]);
    expect(await w.store.get("accounts", relayRevocationKey(r.id))).toBeDefined();
  });
});
