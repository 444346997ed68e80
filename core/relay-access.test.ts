/**
 * issue 12, the SQS relay's channels: a job submitted with a relay channel keeps it, and the
 * worker's relay session is asked for that channel (the vendor scopes the worker's sends to that
 * one queue); the requester's account session carries its own channel to the vendor.
 */
import { describe, expect, it } from "vitest";
import type { RelaySession } from "../events/relay";
import { submitJob } from "./jobs/submit";
import { makeJobWorld } from "./jobs/testing";
import type { JobItem } from "./jobs/items";
import { requesterRelaySession, workerRelaySession, type RelaySessionVendor } from "./relay-access";

const HTTP: RelaySession = { transport: "http" };

/** A vendor that records what it was asked. */
function recordingVendor() {
  const asked: Array<{ kind: string; args: unknown[] }> = [];
  const vendor: RelaySessionVendor = {
    forWorker: (...args) => (asked.push({ kind: "worker", args }), Promise.resolve(HTTP)),
    forRequester: (...args) => (asked.push({ kind: "requester", args }), Promise.resolve(HTTP)),
    forAccount: (...args) => (asked.push({ kind: "account", args }), Promise.resolve(HTTP)),
  };
  return { vendor, asked };
}

async function submitted(channel?: string) {
  const w = makeJobWorld();
  const worker = await w.worker();
  const r = await w.requester();
  const { envelope, header, quote } = await w.sealedJob(r, { candidates: 1 });
  await submitJob(w.deps, r.id, envelope, `submit-${header.jobId}`, quote, channel ? { relayChannel: channel } : {});
  return { w, worker, r, jobId: header.jobId };
}

describe("relay channels (issue 12: the SQS relay)", () => {
  it("a job submitted with a channel keeps it, and the worker's session is asked for that channel", async () => {
    // Prepare
    const { w, worker, r, jobId } = await submitted("chan_0123456789");
    const { vendor, asked } = recordingVendor();
    // Act
    await workerRelaySession({ ...w.deps, relaySessions: vendor }, worker.id, jobId, 0);
    // Assess
    expect((await w.store.get<JobItem>("jobs", { pk: jobId, sk: "job" }))!.relayChannel).toBe("chan_0123456789");
    expect(asked).toEqual([{ kind: "worker", args: [{ jobId, attempt: 0, requester: r.id, relayChannel: "chan_0123456789" }, worker.id] }]);
  });

  it("a job submitted without a channel stores none and asks the vendor without one", async () => {
    // Prepare
    const { w, worker, r, jobId } = await submitted();
    const { vendor, asked } = recordingVendor();
    // Act
    await workerRelaySession({ ...w.deps, relaySessions: vendor }, worker.id, jobId, 0);
    // Assess
    expect((await w.store.get<JobItem>("jobs", { pk: jobId, sk: "job" }))!.relayChannel).toBeUndefined();
    expect(asked).toEqual([{ kind: "worker", args: [{ jobId, attempt: 0, requester: r.id }, worker.id] }]);
  });

  it("the requester's account session carries its channel to the vendor; a job-scoped one does not", async () => {
    // Prepare
    const { w, r, jobId } = await submitted();
    const { vendor, asked } = recordingVendor();
    const deps = { ...w.deps, relaySessions: vendor };
    // Act
    await requesterRelaySession(deps, r.id, jobId, "account", "chan_abcdefghij");
    await requesterRelaySession(deps, r.id, jobId, "job");
    // Assess
    expect(asked).toEqual([
      { kind: "account", args: [r.id, "chan_abcdefghij"] },
      { kind: "requester", args: [jobId, r.id] },
    ]);
  });
});
