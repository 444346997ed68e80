/**
 * coord42: the relay sweep (core/relay-sweep.ts) asks CloudWatch for each SQS channel queue's
 * empty receives every ASSUME.relaySweepSeconds while the queue exists; one channel per asking
 * account-hour is shared by that hour's jobs, so each job carries its share of those metrics.
 * The IoT relay has no channel queues and carries none.
 */
import { describe, expect, it } from "vitest";
import { ASSUME, PRICES, RELAY_AS_BUILT, RELAY_IOT, relayPricer, relayUse } from "./cost";

describe("the relay sweep in the cost model (coord42)", () => {
  it("an SQS job carries 3600 / sweep period / jobs per account-hour metrics requested, priced at CloudWatch's; an IoT job none", () => {
    // Prepare
    const job = { engineSeconds: 5, streamed: true };
    const share = 3600 / ASSUME.relaySweepSeconds / ASSUME.jobsPerAccountHour;
    // Act
    const sqs = relayUse(job, RELAY_AS_BUILT);
    const iot = relayUse(job, RELAY_IOT);
    const priced = relayPricer(RELAY_AS_BUILT)(job, "function-urls");
    const unswept = ASSUME.relaySweepSeconds;
    Object.assign(ASSUME, { relaySweepSeconds: Infinity });
    const withoutSweep = relayPricer(RELAY_AS_BUILT)(job, "function-urls");
    Object.assign(ASSUME, { relaySweepSeconds: unswept });
    // Assess
    expect(share).toBeCloseTo(4 / 60, 12);
    expect(sqs.sweepMetrics).toBeCloseTo(share, 12);
    expect(iot.sweepMetrics).toBe(0);
    expect(priced - withoutSweep).toBeCloseTo(share * PRICES.cloudWatchMetricRequested.usd, 15);
    expect(PRICES.cloudWatchMetricRequested.usd).toBe(0.01 / 1000);
  });
});
