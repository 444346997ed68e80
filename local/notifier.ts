/**
 * The local Notifier: in-process, a set of waiters per topic. `wait(topic, ms)` resolves on the
 * next `notify(topic)`, after `ms`, or when its signal aborts, whichever is first, and always
 * removes itself and its timer, so any number of timed-out or abandoned waits leaves nothing
 * behind. A Set, not an EventEmitter: an emitter's removeListener scans the topic's other
 * listeners, so 20,000 abandoned waits on one job cost seconds of CPU (quadratic); a Set
 * removes one in O(1).
 */
import type { Notifier } from "../core/ports";

export interface LocalNotifier extends Notifier {
  /** Waits currently pending on a topic (all topics when omitted). */
  pending(topic?: string): number;
}

type Waiter = (data: unknown) => void;

export function createLocalNotifier(): LocalNotifier {
  // a topic is in the map only while it has waiters
  const topics = new Map<string, Set<Waiter>>();
  return {
    notify(topic: string, data?: unknown): void {
      const waiters = topics.get(topic);
      if (!waiters) return;
      // Taken out whole: a wait begun while these are woken waits for the next notify.
      topics.delete(topic);
      for (const wake of waiters) wake(data ?? true);
    },

    /** Resolves with what notify passed (true when nothing), or undefined when `ms` ran out or `signal` aborted. */
    wait(topic: string, ms: number, signal?: AbortSignal): Promise<unknown> {
      if (signal?.aborted) return Promise.resolve(undefined);
      return new Promise<unknown>((resolve) => {
        let waiters = topics.get(topic);
        if (!waiters) topics.set(topic, (waiters = new Set()));
        const mine = waiters;
        const stop = () => done(undefined);
        const done: Waiter = (data) => {
          clearTimeout(timer);
          mine.delete(done);
          if (mine.size === 0 && topics.get(topic) === mine) topics.delete(topic);
          signal?.removeEventListener("abort", stop);
          resolve(data);
        };
        const timer = setTimeout(done, Math.max(0, ms));
        mine.add(done);
        signal?.addEventListener("abort", stop, { once: true });
      });
    },

    pending(topic?: string): number {
      if (topic !== undefined) return topics.get(topic)?.size ?? 0;
      let n = 0;
      for (const waiters of topics.values()) n += waiters.size;
      return n;
    },
  };
}
