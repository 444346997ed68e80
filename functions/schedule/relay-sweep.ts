/**
 * Scheduled function (EventBridge rate(15 minutes), only where the relay is SQS): one sweep of the
 * relay's channel queues (core/relay-sweep.ts). A queue read in a loop of receives (SQS bills each
 * to the operator) is deleted, its account's channels revoked for a day, and an alert raised.
 *
 * Environment (besides the store's, via functions/deps.ts):
 *   COCOON_RELAY_PREFIX      `<app>-<stage>`: the channel queues are `<prefix>-r-...`
 *   COCOON_ALERT_TOPIC_ARN   where the revocations are told (none: the function's log only)
 *   AWS_REGION               the queues' and CloudWatch's region
 */
import { z } from "zod";
import type { Alerts, Clock, Log, Store } from "../../core/ports";
import { sweepRelayChannels, type ChannelQueueWatch, type RelaySweepReport } from "../../core/relay-sweep";
import { ConfigError } from "../config";
import { depsOnce } from "./deps-once";

export interface RelaySweepDeps {
  store: Store;
  clock: Clock;
  log: Log;
  watch: ChannelQueueWatch;
  alerts: Alerts;
}

export function makeRelaySweepHandler(deps: RelaySweepDeps | (() => Promise<RelaySweepDeps>)) {
  const built = depsOnce(deps);
  return async (): Promise<RelaySweepReport> => {
    const d = await built();
    return sweepRelayChannels(d, d.watch, d.alerts);
  };
}

const SweepEnv = z.object({
  COCOON_RELAY_PREFIX: z.string().regex(/^[A-Za-z0-9_-]{1,37}$/, "must be 1–37 of A-Z a-z 0-9 _ -"),
  COCOON_ALERT_TOPIC_ARN: z.string().min(1).optional(),
  AWS_REGION: z
    .string()
    .regex(/^[a-z0-9-]{1,32}$/)
    .default("us-east-1"),
});

/** The deps on AWS, from the environment: the lean set's store, the SQS and CloudWatch watch, SNS alerts. */
export async function relaySweepDepsFromEnv(env: Record<string, string | undefined> = process.env): Promise<RelaySweepDeps> {
  const parsed = SweepEnv.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(String(issue.path[0]), `relay sweep: ${issue.path.join(".")} ${issue.message}`);
  }
  const e = parsed.data;
  const [{ lambdaDeps }, { SQSClient }, { SNSClient }, { RelayChannelWatch }, { SnsAlerts }] = await Promise.all([
    import("../deps"),
    import("@aws-sdk/client-sqs"),
    import("@aws-sdk/client-sns"),
    import("../adapters/relay-channel-watch"),
    import("../adapters/sns-alerts"),
  ]);
  const core = await lambdaDeps();
  const alerts: Alerts = e.COCOON_ALERT_TOPIC_ARN
    ? new SnsAlerts(new SNSClient({ region: e.AWS_REGION }), e.COCOON_ALERT_TOPIC_ARN)
    : { raise: () => Promise.resolve() };
  return {
    store: core.store,
    clock: core.clock,
    log: core.log,
    watch: new RelayChannelWatch({ sqs: new SQSClient({ region: e.AWS_REGION }), region: e.AWS_REGION, prefix: e.COCOON_RELAY_PREFIX }),
    alerts,
  };
}

export const handler = makeRelaySweepHandler(() => relaySweepDepsFromEnv());
