/**
 * The sweep of the SQS relay's channel queues (coord42; docs/security.md session 39, relay item B).
 *
 * A requester's channel credentials (functions/adapters/relay-sqs.ts) allow sqs:ReceiveMessage on
 * its own channel queue, and SQS bills each call to the operator's account ($0.40 a million): a
 * loop of receives with no wait time costs the operator what the requester likes, past every
 * coordinator rate limit, and IAM cannot limit the rate. What can see it is CloudWatch: SQS
 * reports each queue's `NumberOfEmptyReceives` a minute. Every 15 minutes this sweep reads it for
 * every channel queue that could have been read in its window (one GetMetricData per 500 queues),
 * and a queue past the bound is revoked:
 *
 *  1. its account may open no relay channel for RELAY_REVOKE_MS (an item the session route reads,
 *     core/relay-access.ts: no new channel and no renewed credentials, so no new queue to loop on);
 *  2. the queue is deleted (the credentials in hand name only it);
 *  3. an alert names the account, the queue and its count.
 *
 * The revoked account's jobs are answered whole meanwhile (the SDK reads the stored reply when the
 * session route refuses it), so nothing of its work is lost. What the sweep bounds is the cost of
 * one abuse: its rate for at most a sweep's period plus CloudWatch's delay, once per account a
 * day, for accounts that hold funds (only they get channels).
 *
 * Which queues: not those that exist at sweep time (review42 F1: the requester's credentials may
 * delete its own queue, as the SDK's close() does, so a looper that deletes its queue before the
 * sweep and opens a new channel was never measured), but those the session route vended
 * credentials for. Each channel's first claim of an hour (core/relay-access.ts claimRelayChannel,
 * in the transaction that counts it) writes a SweptChannel item under that hour, naming its account
 * and channel; the queue's name follows from them (the watch's queueOf), and CloudWatch keeps a
 * deleted queue's metrics. Credentials last at most an hour (STS role chaining's most,
 * functions/adapters/relay-sts.ts), and a renewal in a later hour claims again, so a queue read
 * at time T was claimed in T's hour or the one before: the sweep reads the items of every hour
 * from the one before its window's first to its window's last.
 *
 * The honest rate: an SDK's receives are long polls of 20 s (the queue's default, and the
 * SDK's RECEIVE), an empty one returns after the whole wait, and an SDK runs at most 8 loops per
 * channel (client/relay-sqs.ts loopsFor): 24 empty receives a minute. A loop that errs waits a
 * second or more before it asks again, and errors are not empty receives. The bound is five times
 * that, so a renewal's second connection overlapping the first never comes near it.
 */
import type { CoreDeps } from "./deps";
import { CocoonError } from "./errors";
import { requesterAccount } from "./ledger";
import type { Alerts, Item } from "./ports";

/** Empty receives a minute one honest SDK makes at most on its channel: 8 loops of 20 s polls. */
export const HONEST_EMPTY_RECEIVES_PER_MINUTE = 24;
/** Past this many a minute, on average over a sweep's window, a channel queue is revoked. */
export const MAX_EMPTY_RECEIVES_PER_MINUTE = 5 * HONEST_EMPTY_RECEIVES_PER_MINUTE;
/** How long a revoked account may open no relay channel. */
export const RELAY_REVOKE_MS = 24 * 3_600_000;
/**
 * The window each sweep reads: its own period (the stack's schedule, rate(15 minutes)). Each run
 * requests one CloudWatch metric per channel queue ($0.01 per 1,000): at 15 minutes a channel
 * costs $0.00004 an hour, $0.67 per million jobs at 60 jobs an account-hour (bench/cost.ts); at 5
 * minutes it was $2, a sixth of the job's whole AWS cost, for a third of the abuse window.
 */
export const RELAY_SWEEP_WINDOW_MS = 15 * 60_000;
/** CloudWatch publishes SQS's minute a few minutes late: the window ends this long before now. */
export const RELAY_SWEEP_LAG_MS = 5 * 60_000;

/** What the sweep needs of the relay's queues (functions/adapters/relay-channel-watch.ts on AWS). */
export interface ChannelQueueWatch {
  /** The queue of `account`'s `channel` (functions/adapters/relay-sqs.ts relayQueueName), whether or not it exists now. */
  queueOf(account: string, channel: string): string;
  /** Each queue's empty receives in [fromMs, toMs), a deleted queue's included (0 where none were reported). */
  emptyReceives(queues: string[], fromMs: number, toMs: number): Promise<Map<string, number>>;
  /** Deletes `queue`; one that is gone already is no error. */
  remove(queue: string): Promise<void>;
}

const HOUR_MS = 3_600_000;

/**
 * A channel the session route vended credentials for in `hour` (table `accounts`, pk
 * `relay-swept#<hour>`, sk `<account>/<channel>`: `/` is in neither alphabet): the sweep's list of
 * queues to measure, which no requester can delete. Written once per channel and hour, in the
 * transaction that counts the channel (RELAY_CHANNELS_PER_HOUR); it lives until the last sweep
 * that reads its hour is over. One partition an hour for every account: DynamoDB takes 1,000
 * write units a second on a partition (a transaction's item costs 2), far above the rate at
 * which SDK clients open channels, and the sweep reads an hour with one Query, page by page.
 */
export interface SweptChannel extends Item {
  account: string;
  channel: string;
}
const sweptPk = (hour: number) => `relay-swept#${hour}`;
export function sweptChannelItem(account: string, channel: string, hour: number): SweptChannel {
  // the last sweep that reads `hour` runs before (hour + 2) h + the lag + the window: an hour more is slack
  return { pk: sweptPk(hour), sk: `${account}/${channel}`, account, channel, ttl: ((hour + 3) * HOUR_MS) / 1000 };
}

/** An account's relay revocation: table `accounts`, pk its requester account, sk `relay-revoked`. */
export interface RelayRevocation extends Item {
  until: number;
  queue: string;
  emptyReceives: number;
}
export const relayRevocationKey = (requester: string) => ({ pk: requesterAccount(requester), sk: "relay-revoked" });

/** 403 relay_channel_revoked: this account looped on its channel queue's receives; it gets no channel until `until`. */
export class RelayChannelRevokedError extends CocoonError {
  constructor(until: number, now: number) {
    super(
      403,
      "relay_channel_revoked",
      `this account's relay channels are revoked until ${new Date(until).toISOString()}: one of its channel queues was read far more often than an SDK reads (short polls in a loop); jobs are answered whole meanwhile`,
      { until, retryAfterSeconds: Math.max(1, Math.ceil((until - now) / 1000)) },
    );
  }
}

/** Throws RelayChannelRevokedError while `revocation` holds (the session route, before it vends anything). */
export function checkRelayRevocation(revocation: RelayRevocation | undefined, now: number): void {
  if (revocation && revocation.until > now) throw new RelayChannelRevokedError(revocation.until, now);
}

export interface RelaySweepReport {
  queues: number;
  revoked: Array<{ queue: string; account: string; emptyReceives: number }>;
  /** Queues past the bound whose revocation or removal failed (each alerted; the next sweep sees them again). */
  failed: Array<{ queue: string; account: string; error: string }>;
}

/** The channels claimed in any hour whose credentials could read during [fromMs, toMs): queue name → account. */
async function sweptQueues(store: CoreDeps["store"], watch: ChannelQueueWatch, fromMs: number, toMs: number): Promise<Map<string, string>> {
  const queues = new Map<string, string>();
  for (let hour = Math.floor(fromMs / HOUR_MS) - 1; hour <= Math.floor((toMs - 1) / HOUR_MS); hour++)
    for (const c of await store.query<SweptChannel>("accounts", sweptPk(hour))) queues.set(watch.queueOf(c.account, c.channel), c.account);
  return queues;
}

/** One sweep: reads the empty receives of every channel queue claimed for the window that ended RELAY_SWEEP_LAG_MS ago, revokes those past the bound. */
export async function sweepRelayChannels(
  deps: Pick<CoreDeps, "store" | "clock" | "log">,
  watch: ChannelQueueWatch,
  alerts: Alerts,
): Promise<RelaySweepReport> {
  const now = deps.clock.now();
  const to = now - RELAY_SWEEP_LAG_MS;
  const from = to - RELAY_SWEEP_WINDOW_MS;
  const owners = await sweptQueues(deps.store, watch, from, to);
  const use = await watch.emptyReceives([...owners.keys()], from, to);
  const bound = (MAX_EMPTY_RECEIVES_PER_MINUTE * RELAY_SWEEP_WINDOW_MS) / 60_000;
  const report: RelaySweepReport = { queues: owners.size, revoked: [], failed: [] };
  const raise = (alert: Parameters<Alerts["raise"]>[0]) =>
    alerts.raise(alert).catch((e: unknown) => deps.log.error("could not raise a relay sweep alert", { key: alert.key, error: String(e) }));
  for (const [queue, account] of owners) {
    const emptyReceives = use.get(queue) ?? 0;
    if (emptyReceives <= bound) continue;
    const details = { queue, account, emptyReceives, bound, until: now + RELAY_REVOKE_MS };
    // Each queue on its own (review42 F5): one that fails (throttling, AccessDenied) is told and
    // the rest are still revoked; the next sweep's window overlaps none of this one, so it is
    // alerted rather than left for later.
    let step = "revoke its account";
    try {
      // Revoked before the queue goes: a session asked between the two gets no credentials (nor a new queue).
      const item: RelayRevocation = {
        ...relayRevocationKey(account),
        until: now + RELAY_REVOKE_MS,
        queue,
        emptyReceives,
        ttl: Math.ceil((now + RELAY_REVOKE_MS) / 1000) + 3_600,
      };
      await deps.store.transact([{ op: "put", table: "accounts", item }]);
      step = "delete its queue";
      await watch.remove(queue);
    } catch (e) {
      const error = `could not ${step}: ${String(e)}`;
      report.failed.push({ queue, account, error });
      deps.log.error("relay sweep: a channel read in a loop was not revoked", { ...details, error });
      await raise({
        key: `relay.channel-revoke-failed:${queue}`,
        severity: "critical",
        title: `A relay channel queue had ${emptyReceives} empty receives in ${RELAY_SWEEP_WINDOW_MS / 60_000} minutes and the sweep could not ${step}: do it by hand`,
        details: { ...details, error },
      });
      continue;
    }
    report.revoked.push({ queue, account, emptyReceives });
    deps.log.warn("relay channel revoked: its queue was read in a loop", details);
    await raise({
      key: `relay.channel-revoked:${queue}`,
      severity: "warning",
      title: `A relay channel queue had ${emptyReceives} empty receives in ${RELAY_SWEEP_WINDOW_MS / 60_000} minutes: deleted, its account's channels revoked for a day`,
      details,
    });
  }
  return report;
}
