import { ConditionFailedError, type Alert, type Alerts, type Clock, type Condition, type Log, type Store } from "../ports";

/**
 * Sends an alert at most once per key within `windowMs`. A failed send is not remembered, so
 * the next raise retries it.
 */
export function dedupAlerts(inner: Alerts, windowMs: number, clock: Clock): Alerts & { forget(key: string): void } {
  const sent = new Map<string, number>();
  return {
    async raise(alert: Alert) {
      const now = clock.now();
      const last = sent.get(alert.key);
      if (last !== undefined && now - last < windowMs) return;
      // claimed before the send, as storeDedupAlerts does: a second raise of the key while this
      // one is in flight is suppressed, not sent twice; a failed send gives the claim back
      sent.set(alert.key, now);
      try {
        await inner.raise(alert);
      } catch (e) {
        if (sent.get(alert.key) === now) sent.delete(alert.key);
        throw e;
      }
      if (sent.size > 10_000) for (const [k, t] of sent) if (now - t >= windowMs) sent.delete(k);
    },
    forget(key: string) {
      sent.delete(key);
    },
  };
}

/** Keeps every alert in memory (tests, local default). */
export function collectingAlerts(): Alerts & { raised: Alert[] } {
  const raised: Alert[] = [];
  return {
    raised,
    async raise(a: Alert) {
      raised.push(a);
    },
  };
}

/**
 * How long a claim whose send is not confirmed yet holds off other processes. A claim older than
 * this lost its process mid-send (a Lambda killed at its timeout while a channel hung) and is taken
 * over, so the alert is still sent: before, the claim alone suppressed the key for the whole
 * window, and an alert raised once per transaction (chain.unmatched-outflow:<tx>) was never sent,
 * as the next pass re-raised it into the claim and moved its cursor past the transaction. The chain
 * watcher runs every 60 s with a 55 s timeout, so its next pass re-raises at least 5 s after a
 * killed one. A send slower than this may be sent twice by a process racing it: a duplicate, not a loss.
 */
export const DEDUP_SEND_LEASE_MS = 5_000;

/**
 * Dedup that survives restarts (each Lambda invocation may be a fresh process): one item per
 * alert key in table "chain" (pk=`alert:<key>`), claimed with a conditional write before the send
 * (with `sendingUntil`, see DEDUP_SEND_LEASE_MS) and confirmed after it (the same item without it).
 */
export function storeDedupAlerts(inner: Alerts, store: Store, windowMs: number, clock: Clock): Alerts {
  return {
    async raise(alert: Alert) {
      const now = clock.now();
      const item = { pk: `alert:${alert.key}`, sk: "sent", sentAt: now, ttl: Math.ceil((now + windowMs) / 1000) + 86_400 };
      const claim = async (when: Condition) => {
        try {
          await store.transact([{ op: "put", table: "chain", item: { ...item, sendingUntil: now + DEDUP_SEND_LEASE_MS }, when }]);
          return true;
        } catch (e) {
          if (e instanceof ConditionFailedError) return false;
          throw e;
        }
      };
      const claimed =
        (await claim({ kind: "notExists" })) ||
        (await claim({ kind: "cmp", attr: "sentAt", op: "<=", value: now - windowMs })) ||
        // a claim never confirmed whose lease ran out: its process died before the send completed
        (await claim({ kind: "cmp", attr: "sendingUntil", op: "<=", value: now }));
      if (!claimed) return;
      try {
        await inner.raise(alert);
        // confirmed: only the window suppresses the key from now on (a failed confirmation at
        // worst lets the alert be sent again after the lease)
        await store
          .transact([{ op: "put", table: "chain", item, when: { kind: "cmp", attr: "sentAt", op: "=", value: now } }])
          .catch(() => undefined);
      } catch (e) {
        // release the claim so the next raise retries
        await store
          .transact([
            { op: "delete", table: "chain", key: { pk: item.pk, sk: item.sk }, when: { kind: "cmp", attr: "sentAt", op: "=", value: now } },
          ])
          .catch(() => undefined);
        throw e;
      }
    },
  };
}

/** Sends to every channel; one failing channel does not stop the others (throws afterwards). */
export function fanoutAlerts(channels: Alerts[]): Alerts {
  return {
    async raise(alert: Alert) {
      // async: a channel that throws at once is a rejection like any other, not the end of the fan-out
      const results = await Promise.allSettled(channels.map(async (c) => c.raise(alert)));
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason as unknown);
      if (failed.length > 0)
        throw new AggregateError(failed, `${failed.length} of ${channels.length} alert channels failed for ${alert.key}`);
    },
  };
}

/** Where outboxAlerts keeps the alerts its channel refused: table "chain", this pk, sk the alert's key. */
export const ALERT_OUTBOX_PK = "alert-outbox";
/** A kept alert is tried again after 1 min, then 2, 4, ... at most this long (the watcher's dedup window). */
const OUTBOX_MAX_BACKOFF_MS = 30 * 60_000;

export interface OutboxAlerts extends Alerts {
  /** Sends again the kept alerts whose retry is due (up to `limit` read); those that fail again stay. How many went out. */
  flush(limit?: number): Promise<number>;
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Alerts that never stop their caller for a channel's sake: a send that fails (SNS throttled, a
 * revoked Telegram token, one channel of a fan-out down) is kept in the store and sent again by
 * flush(), which the chain watcher runs before each pass, with a backoff. Before, the failure
 * propagated: the watcher's pass stopped at the transaction that raised it, and every deposit after
 * it went uncredited until all channels were back (anyone can make the vault raise one: a plain
 * transfer it sends back is chain.bounce:bounce). Only a store that cannot keep the alert either
 * makes raise() throw (nothing is lost: the caller's step fails and is retried).
 */
export function outboxAlerts(inner: Alerts, store: Store, clock: Clock, log?: Log): OutboxAlerts {
  const keep = async (alert: Alert, attempts: number, error: unknown) => {
    const now = clock.now();
    const retryAt = now + Math.min(OUTBOX_MAX_BACKOFF_MS, 60_000 * 2 ** Math.min(attempts, 10));
    const text = JSON.stringify(alert, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
    await store.transact([
      {
        op: "put",
        table: "chain",
        item: { pk: ALERT_OUTBOX_PK, sk: alert.key, alert: text, attempts: attempts + 1, failedAt: now, retryAt, error: errorText(error) },
      },
    ]);
    log?.warn("alert not sent: kept, sent again by a later pass", { key: alert.key, attempts: attempts + 1, error: errorText(error) });
  };
  return {
    async raise(alert) {
      try {
        await inner.raise(alert);
      } catch (e) {
        await keep(alert, 0, e).catch(() => {
          throw e;
        });
      }
    },
    async flush(limit = 100) {
      let sent = 0;
      for (const it of await store.query("chain", ALERT_OUTBOX_PK, { limit })) {
        if (typeof it.alert !== "string" || Number(it.retryAt) > clock.now()) continue;
        const alert = JSON.parse(it.alert) as Alert;
        try {
          await inner.raise(alert);
        } catch (e) {
          await keep(alert, Number(it.attempts) || 0, e);
          continue;
        }
        // only the failure it was: a newer one of the same key (raised meanwhile) stays kept
        await store
          .transact([
            {
              op: "delete",
              table: "chain",
              key: { pk: ALERT_OUTBOX_PK, sk: it.sk },
              when: { kind: "cmp", attr: "failedAt", op: "=", value: Number(it.failedAt) },
            },
          ])
          .catch(() => undefined);
        sent++;
      }
      return sent;
    },
  };
}
