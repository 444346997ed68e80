/**
 * The sweep of the SQS relay's channel queues (coord42; docs/security.md session 39, relay item B).
 *
 * A requester's channel credentials (functions/adapters/relay-sqs.ts) allow sqs:ReceiveMessage on
 * its own channel queue, and SQS bills each call to the operator's account ($0.40 a million): a
 * loop of receives with no wait time costs the operator what the requester likes, past every
 * coordinator rate limit, and IAM cannot limit the rate. What can see it is CloudWatch: SQS
 * reports each queue's `NumberOfEmptyReceives` a minute. Every 15 minutes this sweep reads it for
 * every channel queue (one GetMetricData per 500 queues), and a queue past the bound is revoked:
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
  /** Every channel queue that exists now, with its empty receives in [fromMs, toMs) (0 where none were reported). */
  emptyReceives(fromMs: number, toMs: number): Promise<Array<{ queue: string; emptyReceives: number }>>;
  /** The account (the requester's key id) whose channel `queue` is; undefined when that cannot be told. */
  ownerOf(queue: string): Promise<string | undefined>;
  /** Deletes `queue`; one that is gone already is no error. */
  remove(queue: string): Promise<void>;
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
  revoked: Array<{ queue: string; account?: string; emptyReceives: number }>;
}

/** One sweep: reads every channel queue's empty receives over the window that ended RELAY_SWEEP_LAG_MS ago, revokes those past the bound. */
export async function sweepRelayChannels(
  deps: Pick<CoreDeps, "store" | "clock" | "log">,
  watch: ChannelQueueWatch,
  alerts: Alerts,
): Promise<RelaySweepReport> {
  const now = deps.clock.now();
  const to = now - RELAY_SWEEP_LAG_MS;
  const use = await watch.emptyReceives(to - RELAY_SWEEP_WINDOW_MS, to);
  const bound = (MAX_EMPTY_RECEIVES_PER_MINUTE * RELAY_SWEEP_WINDOW_MS) / 60_000;
  const report: RelaySweepReport = { queues: use.length, revoked: [] };
  for (const { queue, emptyReceives } of use) {
    if (emptyReceives <= bound) continue;
    const account = await watch.ownerOf(queue);
    // Revoked before the queue goes: a session asked between the two gets no credentials (nor a new queue).
    if (account !== undefined) {
      const item: RelayRevocation = {
        ...relayRevocationKey(account),
        until: now + RELAY_REVOKE_MS,
        queue,
        emptyReceives,
        ttl: Math.ceil((now + RELAY_REVOKE_MS) / 1000) + 3_600,
      };
      await deps.store.transact([{ op: "put", table: "accounts", item }]);
    }
    await watch.remove(queue);
    report.revoked.push({ queue, ...(account !== undefined ? { account } : {}), emptyReceives });
    const details = {
      queue,
      account: account ?? "unknown (an untagged queue of an older deploy)",
      emptyReceives,
      bound,
      until: now + RELAY_REVOKE_MS,
    };
    deps.log.warn("relay channel revoked: its queue was read in a loop", details);
    await alerts
      .raise({
        key: `relay.channel-revoked:${queue}`,
        severity: "warning",
        title: `A relay channel queue had ${emptyReceives} empty receives in ${RELAY_SWEEP_WINDOW_MS / 60_000} minutes: deleted, its account's channels revoked for a day`,
        details,
      })
      .catch((e: unknown) => deps.log.error("could not raise the relay revocation alert", { queue, error: String(e) }));
  }
  return report;
}
