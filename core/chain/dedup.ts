import { ConditionFailedError, type Alert, type Alerts, type Clock, type Condition, type Store } from "../ports";

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
 * Dedup that survives restarts (each Lambda invocation may be a fresh process): one item per
 * alert key in table "chain" (pk=`alert:<key>`), claimed with a conditional write.
 */
export function storeDedupAlerts(inner: Alerts, store: Store, windowMs: number, clock: Clock): Alerts {
  return {
    async raise(alert: Alert) {
      const now = clock.now();
      const item = { pk: `alert:${alert.key}`, sk: "sent", sentAt: now, ttl: Math.ceil((now + windowMs) / 1000) + 86_400 };
      const claim = async (when: Condition) => {
        try {
          await store.transact([{ op: "put", table: "chain", item, when }]);
          return true;
        } catch (e) {
          if (e instanceof ConditionFailedError) return false;
          throw e;
        }
      };
      const claimed =
        (await claim({ kind: "notExists" })) || (await claim({ kind: "cmp", attr: "sentAt", op: "<=", value: now - windowMs }));
      if (!claimed) return;
      try {
        await inner.raise(alert);
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
