import { describe, expect, it } from "vitest";
import {
  accountConnectionsPerJob,
  ASSUME,
  heldTdxSaving,
  itemKind,
  measuredAsk,
  measuredEngine,
  meteredQueues,
  meteredStore,
  PRICES,
  priceJob,
  quietReadsPerJob,
  RELAY_AS_BUILT,
  RELAY_IOT,
  RELAY_PER_JOB,
  relayChunkWireBytes,
  relayPricer,
  relayUse,
  sampleWorkload,
  total,
  CHUNK_BYTES_PER_RECEIPT,
  windowedReadUnits,
  windowQueryFloor,
  WORKLOAD,
  type MeasuredJob,
} from "./cost";
import { collectStream } from "../agent/engines/engine";
import { CostMeter } from "./cost";
import { createLocalQueues } from "../local/queues";
import { createMemoryStore } from "../local/memory-store";
import { promptBytesOf } from "./cost-job";

/** One job of made-up counts: a submit (10 WRU, 2 RRU, 1 SQS send) and a result (4 WRU), 1 ms of work each. */
function measured(): MeasuredJob {
  const route = (wru: number, rru: number, sqs: number) => ({
    invocations: 1,
    rru,
    wru,
    sqs,
    awsCalls: 0,
    logBytes: 0,
    ownMs: [1],
    waitMs: 0,
    responseBytes: 0,
    storedGbMonths: 0,
    permanentGb: 0,
  });
  return {
    jobs: 1,
    matchingMessages: 0,
    jobReadUnits: 1,
    items: new Map(),
    routes: new Map([
      ["POST /v1/jobs", route(10, 2, 1)],
      ["POST /v1/agent/results", route(4, 0, 0)],
    ]),
  };
}

describe("cost model: the workload", () => {
  it("draws engine times with the stated median and p95, and the stated streamed share, the same for the same seed", () => {
    // Act
    const a = sampleWorkload();
    const b = sampleWorkload();
    const sorted = a.map((j) => j.engineSeconds).sort((x, y) => x - y);
    // Assess
    expect(a.slice(0, 5)).toEqual(b.slice(0, 5));
    expect(sorted[Math.floor(sorted.length / 2)]!).toBeCloseTo(WORKLOAD.engineMedianSeconds, 0);
    expect(sorted[Math.floor(sorted.length * 0.95)]! / WORKLOAD.engineP95Seconds).toBeGreaterThan(0.95);
    expect(sorted[Math.floor(sorted.length * 0.95)]! / WORKLOAD.engineP95Seconds).toBeLessThan(1.05);
    expect(a.filter((j) => j.streamed).length / a.length).toBeCloseTo(WORKLOAD.streamedShare, 1);
  });
});

describe("issue 12, cost honesty: the measured job carries the workload's prompt and answer", () => {
  it("the measured ask's prompt is WORKLOAD.promptBytes; its engine answers WORKLOAD.answerBytes within its maxTokens, a chunk's worth (textBytesPerSecond × chunkSeconds) a delta", async () => {
    // Prepare
    const ask = measuredAsk("m");
    // Act
    const { result, deltas } = await collectStream(measuredEngine("m").stream!(ask));
    // Assess
    expect(promptBytesOf(ask.messages)).toBe(WORKLOAD.promptBytes);
    expect(Buffer.byteLength(result.text)).toBe(WORKLOAD.answerBytes);
    expect(result.finishReason).toBe("stop");
    expect(deltas.length).toBe(Math.ceil(WORKLOAD.answerBytes / (WORKLOAD.textBytesPerSecond * WORKLOAD.chunkSeconds)));
    expect(deltas[0]!.length).toBe(WORKLOAD.textBytesPerSecond * WORKLOAD.chunkSeconds);
  });

  it("the answer size is textBytesPerSecond × the workload's mean engine time", () => {
    // Act
    const workload = sampleWorkload();
    const mean = workload.reduce((a, j) => a + j.engineSeconds, 0) / workload.length;
    // Assess
    expect(Math.round(WORKLOAD.textBytesPerSecond * mean)).toBe(WORKLOAD.answerBytes);
  });
});

describe("issue 12: the sealed request rides the lease check, not the table", () => {
  it("the metered store bills as DynamoDB does, so the job's envelope is not stored (Store.billedWrites)", () => {
    expect(meteredStore(createMemoryStore(), new CostMeter()).billedWrites).toBe(true);
  });

  it("a lease check is billed per 64 KiB step of its body: one carrying a 5.5 KB envelope is one request, one near the 200 KiB cap four", async () => {
    // Prepare
    const meter = new CostMeter();
    const queues = meteredQueues(createLocalQueues(), meter);
    const check = (payloadBytes: number) => ({
      type: "lease",
      jobId: "job_0",
      attempt: 0,
      envelope: { payload: "x".repeat(payloadBytes) },
    });
    // Act
    await meter.als.run({ route: "typical", waitMs: 0 }, () => queues.send("matching", check(5_500)));
    await meter.als.run({ route: "largest", waitMs: 0 }, () => queues.send("matching", check(200 * 1024)));
    // Assess
    expect(meter.routes.get("typical")?.sqs).toBe(1);
    expect(meter.routes.get("largest")?.sqs).toBe(4);
  });
});

describe("cost model: pricing a measured job", () => {
  const workload = [{ engineSeconds: 10, streamed: false }];
  const noRelay = () => 0;

  it("provisioned capacity prices a write unit at WCU-hour ÷ 3,600 ÷ utilisation, on-demand at the WRU price", () => {
    const od = priceJob(measured(), { frontDoor: "function-urls", delivery: "relay", capacity: "on-demand" }, noRelay, workload).perJob;
    const pv = priceJob(measured(), { frontDoor: "function-urls", delivery: "relay", capacity: "provisioned" }, noRelay, workload).perJob;
    expect(od.dynamo).toBeCloseTo(14 * PRICES.dynamoWriteUnit.usd + 2 * PRICES.dynamoReadUnit.usd, 12);
    expect(pv.dynamo).toBeCloseTo(
      (14 * PRICES.dynamoWcuHour.usd + 2 * PRICES.dynamoRcuHour.usd) / 3600 / ASSUME.provisionedUtilization,
      12,
    );
  });

  it("API Gateway adds its price per request; function URLs add nothing", () => {
    const api = priceJob(measured(), { frontDoor: "api-gateway", delivery: "relay", capacity: "on-demand" }, noRelay, workload).perJob;
    const urls = priceJob(measured(), { frontDoor: "function-urls", delivery: "relay", capacity: "on-demand" }, noRelay, workload).perJob;
    expect(api.frontDoor).toBeCloseTo(2 * PRICES.apiHttpRequest.usd, 12);
    expect(urls.frontDoor).toBe(0);
  });

  it("holding the submit's Lambda bills the engine time at the function's memory and the re-reads; the relay bills what its pricer says", () => {
    const relay = priceJob(
      measured(),
      { frontDoor: "function-urls", delivery: "relay", capacity: "on-demand" },
      () => 1e-6,
      workload,
    ).perJob;
    const hold = priceJob(measured(), { frontDoor: "function-urls", delivery: "hold", capacity: "on-demand" }, () => 1e-6, workload).perJob;
    const heldSeconds = 10 * (ASSUME.lambdaMemoryMb / 1024) * PRICES.lambdaArmGbSecond.usd;
    expect(hold.lambda - relay.lambda).toBeCloseTo(heldSeconds, 12);
    expect(hold.dynamo - relay.dynamo).toBeCloseTo((10 / ASSUME.waitSliceSeconds) * PRICES.dynamoReadUnit.usd, 12);
    expect(relay.delivery).toBeCloseTo(1e-6, 12);
    expect(hold.delivery).toBe(0);
    expect(total(hold)).toBeGreaterThan(total(relay));
  });
});

describe("issue 12: the relay's IoT Core messages, item by item", () => {
  it("a streamed job with a connection per job: connect, subscribe, one publish and one delivery per chunk; QoS 1 adds the requester's PUBACK of each", () => {
    // Prepare
    const job = { engineSeconds: 5, streamed: true };
    // Act
    const q0 = relayUse(job, RELAY_PER_JOB);
    const q1 = relayUse(job, { ...RELAY_PER_JOB, publishQos: 1 });
    // Assess: 5 s at one chunk a second, plus the first
    expect(q0).toMatchObject({ connect: 1, subscribe: 1, publish: 6, delivery: 6, puback: 0, connectionMinutes: 1, sessionCalls: 2 });
    expect(q1.puback).toBe(6);
  });

  it("issue 12, IoT Core with one connection per account: the account's connection, subscription and session shared by its jobs; an answer not asked as a stream is one message (relayWhole)", () => {
    // Prepare: a connection takes jobs for 900 − 120 − 60 = 720 s: 5 an hour, shared by the account's jobs of that hour
    const shared = 3600 / 720 / ASSUME.jobsPerAccountHour;
    // Act
    const whole = relayUse({ engineSeconds: 5, streamed: false }, RELAY_IOT);
    const streamed = relayUse({ engineSeconds: 5, streamed: true }, RELAY_IOT);
    // Assess
    expect(accountConnectionsPerJob()).toBeCloseTo(shared, 12);
    expect(streamed).toMatchObject({ publish: 6, delivery: 6, puback: 0 });
    expect(whole).toMatchObject({ publish: 1, delivery: 1, puback: 0 });
    expect(whole.connect).toBeCloseTo(shared, 12);
    expect(whole.subscribe).toBeCloseTo(shared, 12);
    expect(whole.sessionCalls).toBeCloseTo(1 + shared, 12); // the worker's job-scoped session, and the account's share
    expect(whole.connectionMinutes).toBeCloseTo(60 / ASSUME.jobsPerAccountHour, 12);
  });

  it("a whole answer as one message (relayWhole) is one chunk, counted in 5 KB steps on IoT Core; chunked like a stream it would be more", () => {
    // Prepare
    const long = { engineSeconds: 30, streamed: false }; // ~9 KB of text: two steps each way
    // Act
    const u = relayUse(long, RELAY_IOT);
    // Assess
    expect(Math.ceil((WORKLOAD.textBytesPerSecond * 30) / 5120)).toBeGreaterThan(1);
    expect(u.publish).toBeGreaterThan(1);
    expect(u.publish).toBeLessThan(relayUse(long, { ...RELAY_IOT, wholeAnswer: "streamed" }).publish);
    expect(u.delivery).toBe(u.publish);
  });
});

describe("issue 12: the SQS relay's requests (as built), item by item", () => {
  it("a streamed job: each chunk one send and one receive (64 KiB steps), no IoT messages or connection minutes, the channel queue's create and delete shared by the account's jobs", () => {
    // Prepare
    const shared = accountConnectionsPerJob();
    // Act
    const u = relayUse({ engineSeconds: 5, streamed: true }, RELAY_AS_BUILT);
    // Assess: 5 s at one chunk a second, plus the first: 6 sends, 6 receives
    expect(RELAY_AS_BUILT.transport).toBe("sqs");
    expect(u.sqsRequests).toBeCloseTo(12 + 2 * shared, 12);
    expect(u).toMatchObject({ connect: 0, subscribe: 0, publish: 0, delivery: 0, puback: 0, connectionMinutes: 0 });
    expect(u.sessionCalls).toBeCloseTo(shared, 12); // the worker's session came with the dispatch
    expect(relayUse({ engineSeconds: 5, streamed: true }, { ...RELAY_AS_BUILT, workerSession: "asked" }).sessionCalls).toBeCloseTo(
      1 + shared,
      12,
    );
  });

  it("an answer published whole: one send, one receive, and an empty long poll per 20 s it was silent; a chunk past 64 KiB bills a request per step each way", () => {
    // Prepare: the one chunk carries the opener (+200) and the receipt (+450)
    const shared = accountConnectionsPerJob();
    const steps = Math.ceil((relayChunkWireBytes(WORKLOAD.textBytesPerSecond * 300) + 650) / (64 * 1024));
    // Act
    const short = relayUse({ engineSeconds: 5, streamed: false }, RELAY_AS_BUILT);
    const long = relayUse({ engineSeconds: 300, streamed: false }, RELAY_AS_BUILT);
    // Assess
    expect(short.sqsRequests).toBeCloseTo(2 + 2 * shared, 12);
    expect(steps).toBeGreaterThan(1);
    expect(long.sqsRequests).toBeCloseTo(2 * steps + 300 / 20 + 2 * shared, 12);
  });

  it("issue 12, cost honesty: every chunk's bytes leave AWS once, to the requester, priced at the data-transfer-out price", () => {
    // Prepare: one message carrying the whole answer, the opener (+200) and the receipt (+450)
    const job = { engineSeconds: 5, streamed: false };
    const bytes = relayChunkWireBytes(WORKLOAD.textBytesPerSecond * 5) + 650;
    const u = relayUse(job, RELAY_AS_BUILT);
    // Act
    const priced = relayPricer(RELAY_AS_BUILT)(job, "function-urls");
    // Assess: the rest is the requests and the account's share of its session call
    expect(u.outBytes).toBe(bytes);
    expect(relayUse(job, RELAY_IOT).outBytes).toBe(0);
    const requests = u.sqsRequests * PRICES.sqsRequest.usd + u.sweepMetrics * PRICES.cloudWatchMetricRequested.usd;
    expect(priced - requests).toBeGreaterThan((bytes / 1e9) * PRICES.dataTransferOutGb.usd);
    expect(priced - requests - (bytes / 1e9) * PRICES.dataTransferOutGb.usd).toBeLessThan(PRICES.sqsRequest.usd);
  });

  it("priced at the SQS request price: a streamed job's relay costs less on SQS than on IoT Core", () => {
    // Prepare
    const job = { engineSeconds: 6, streamed: true };
    // Act
    const sqs = relayPricer(RELAY_AS_BUILT)(job, "function-urls");
    const iot = relayPricer(RELAY_IOT)(job, "function-urls");
    // Assess
    expect(sqs).toBeLessThan(iot / 2);
  });

  it("issue 12: over the relay the submit is not held and no read follows the final chunk (relay-read prices the read it replaced); held, that read is not made", () => {
    // Prepare: the measured job plus one GET of the completed job, carrying the job's view (1,000 bytes, also in the submit's answer)
    const m = measured();
    m.routes.set("GET /v1/jobs/{id}", { ...m.routes.get("POST /v1/agent/results")!, wru: 0, rru: 1, responseBytes: 1000 });
    m.routes.get("POST /v1/jobs")!.responseBytes = 1200;
    const choice = { frontDoor: "function-urls" as const, delivery: "relay" as const, capacity: "on-demand" as const };
    const short = [{ engineSeconds: 9, streamed: false }]; // shorter than the relay's quiet spell: never read
    // Act
    const relay = priceJob(m, choice, () => 0, short);
    const hold = priceJob(m, { ...choice, delivery: "hold" }, () => 0, short);
    const relayRead = priceJob(m, { ...choice, delivery: "relay-read" }, () => 0, short);
    // Assess
    const routesOf = (r: typeof relay) => r.byRoute.map(([k]) => k);
    expect(routesOf(relay)).not.toContain("GET /v1/jobs/{id}");
    expect(routesOf(relayRead)).toContain("GET /v1/jobs/{id}");
    expect(routesOf(hold)).not.toContain("GET /v1/jobs/{id}");
    expect(total(relayRead.perJob)).toBeGreaterThan(total(relay.perJob));
    const submit = (r: typeof relay) => r.byRoute.find(([k]) => k === "POST /v1/jobs")![1];
    expect(submit(relay).transfer).toBeCloseTo((200 / 1e9) * PRICES.dataTransferOutGb.usd, 15); // the view goes out once
    expect(submit(hold).transfer).toBeCloseTo((1200 / 1e9) * PRICES.dataTransferOutGb.usd, 15);
    expect(submit(hold).lambda - submit(relay).lambda).toBeCloseTo(9 * (ASSUME.lambdaMemoryMb / 1024) * PRICES.lambdaArmGbSecond.usd, 12);
  });

  it("issue 12: an ask() answer published whole is read once per quiet spell of the relay while it generates; a streamed one never", () => {
    // Prepare
    const m = measured();
    m.routes.set("GET /v1/jobs/{id}", { ...m.routes.get("POST /v1/agent/results")!, wru: 0, rru: 1, responseBytes: 1000 });
    const choice = { frontDoor: "function-urls" as const, delivery: "relay" as const, capacity: "on-demand" as const };
    const read = (workload: Array<{ engineSeconds: number; streamed: boolean }>) =>
      priceJob(m, choice, () => 0, workload).byRoute.find(([k]) => k === "GET /v1/jobs/{id}")?.[1];
    const once = priceJob(m, { ...choice, delivery: "relay-read" }, () => 0, [{ engineSeconds: 1, streamed: false }]).byRoute.find(
      ([k]) => k === "GET /v1/jobs/{id}",
    )![1];
    // Act + Assess: 25 s of silence is two quiet spells of 10 s; a stream is never silent
    expect(quietReadsPerJob([{ engineSeconds: 25, streamed: false }])).toBe(2);
    expect(quietReadsPerJob([{ engineSeconds: 25, streamed: true }])).toBe(0);
    expect(total(read([{ engineSeconds: 25, streamed: false }])!)).toBeCloseTo(2 * total(once), 15);
    expect(read([{ engineSeconds: 25, streamed: true }])).toBeUndefined();
  });

  it("before the SDK's subscriber (ask-held): a whole answer waits on the submit (held, no relay); a streamed one pays the relay and the held wait", () => {
    // Prepare
    const whole = [{ engineSeconds: 10, streamed: false }];
    const streamed = [{ engineSeconds: 10, streamed: true }];
    const choice = { frontDoor: "function-urls" as const, delivery: "ask-held" as const, capacity: "on-demand" as const };
    // Act
    const w = priceJob(measured(), choice, () => 1e-6, whole).perJob;
    const s = priceJob(measured(), choice, () => 1e-6, streamed).perJob;
    const hold = priceJob(measured(), { ...choice, delivery: "hold" }, () => 1e-6, whole).perJob;
    // Assess
    expect(w.delivery).toBe(0);
    expect(w.lambda).toBeCloseTo(hold.lambda, 12);
    expect(s.delivery).toBeCloseTo(1e-6, 12);
    expect(s.lambda).toBeCloseTo(hold.lambda, 12);
  });
});

describe("issue 12: the anchorer's later work per job", () => {
  it("its inbox deletes and receipt index puts are priced as plain writes, its index items as stored for the retention", () => {
    // Prepare: 2 entries per job, one of them a receipt (1 delete each, 1 index put)
    const m = {
      ...measured(),
      anchorer: { deleteWru: 2, indexWru: 1, indexGb: 1e-6, readBytes: 0, entries: 2, windowBytes: 0, windowEntries: 0 },
    };
    const choice = { frontDoor: "function-urls" as const, delivery: "relay" as const, capacity: "on-demand" as const };
    // Act
    const { byRoute } = priceJob(m, choice, () => 0, [{ engineSeconds: 1, streamed: false }]);
    const anchorer = byRoute.find(([r]) => r.startsWith("anchorer"))?.[1];
    // Assess
    expect(anchorer?.dynamo).toBeCloseTo(3 * PRICES.dynamoWriteUnit.usd, 12);
    expect(anchorer?.storage).toBeCloseTo(
      1e-6 * ASSUME.permanentItemMonths * (PRICES.dynamoStorageGbMonth.usd + PRICES.dynamoPitrGbMonth.usd),
      15,
    );
  });
});

describe("issue 12: the anchorer over the time-windowed receipt log", () => {
  it("writes nothing a job: reads each entry 1.5 times strongly and once eventually by each of the three passes, its chunk share four times", () => {
    // Prepare: one receipt entry of 4,096 B for one job, in the time-windowed log (no inbox entry)
    const m = {
      ...measured(),
      anchorer: { deleteWru: 0, indexWru: 0, indexGb: 0, readBytes: 0, entries: 0, windowBytes: 4096, windowEntries: 1 },
    };
    const choice = { frontDoor: "function-urls" as const, delivery: "relay" as const, capacity: "on-demand" as const };
    // Act
    const anchorer = priceJob(m, choice, () => 0, [{ engineSeconds: 1, streamed: false }]).byRoute.find(([r]) =>
      r.startsWith("anchorer"),
    )?.[1];
    // Assess: 1.5 + 3 × ½ read units of the entry, 4 × 75 / 4096 of its chunk share; no write unit, nothing stored by the anchorer
    const rru = 1.5 + 3 * 0.5 + (4 * CHUNK_BYTES_PER_RECEIPT) / 4096;
    expect(windowedReadUnits(m.anchorer)).toBeCloseTo(rru, 12);
    expect(anchorer?.dynamo).toBeCloseTo(rru * PRICES.dynamoReadUnit.usd, 15);
    expect(anchorer?.storage).toBe(0);
  });

  it("the queries' floor: 16 partitions a minute, eight minutes a cut at 300 s (420 s of range, and the minute it starts in), three passes", () => {
    // Act
    const f = windowQueryFloor(300, 120);
    // Assess: 16 × 8 × 60 / 300 = 25.6 cut queries a minute (1 unit each), 48 pass queries (½ unit each)
    expect(f.queriesPerMinute).toBeCloseTo(25.6 + 48, 12);
    expect(f.rruPerMonth).toBeCloseTo((25.6 + 24) * 60 * 24 * 30, 6);
  });
});

describe("issue 12: the breakdown's item kinds under tabs", () => {
  it("blanks a tab's id as it does a job's, so every tab's items are one row", () => {
    // Act
    const kinds = [
      itemKind("jobs", { pk: "tab_yyspsv197y8kw3ct7kkj70zv0a", sk: "tab" }),
      itemKind("jobs", { pk: "tab_q32p2yhv6a7m3pt52c0t5c0xea", sk: "tab" }),
      itemKind("ledger", { pk: "tabclose:tab_q32p2yhv6a7m3pt52c0t5c0xea", sk: "tx" }),
    ];
    // Assess
    expect(kinds).toEqual(["jobs tab_<id> / tab", "jobs tab_<id> / tab", "ledger tabclose:tab_<id> / tx"]);
  });
});

describe("cost model: a renewal's candidates whose documents the requester holds (PrepareRequest.held)", () => {
  it("a TDX worker (the fixture quote and collateral): its worker item is several read units, its summary one half unit; the document (over 20 KB) is not sent", () => {
    // Act
    const t = heldTdxSaving();
    // Assess: 22.8 KB is 6 units of 4 KB, read eventually (3 RRU); the summary under 4 KB (0.5)
    expect(t.workerBytes).toBeGreaterThan(5 * 4096);
    expect(t.workerBytes).toBeLessThanOrEqual(6 * 4096);
    expect(t.summaryBytes).toBeLessThan(1024);
    expect(t.rruPerCandidate).toBe(2.5);
    expect(t.responseBytesPerCandidate).toBeGreaterThan(20_000);
  });
});

describe("issue 12: the cost bench's network", () => {
  it("starts on the metered store, which keeps no envelopes (the restart recovery is for the local store only)", async () => {
    // Act
    const { startNetwork } = await import("../local/network");
    const net = await startNetwork({ store: meteredStore(createMemoryStore(), new CostMeter()), chain: false });
    // Assess
    try {
      expect(net.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+/);
    } finally {
      await net.stop();
    }
  });
});
