/**
 * The local Notifier: an in-process EventEmitter. `wait(topic, ms)` resolves on the next
 * `notify(topic)`, after `ms`, or when its signal aborts, whichever is first, and always removes
 * its listener and timer, so any number of timed-out or abandoned waits leaves nothing behind.
 */
import { EventEmitter } from "node:events";
import type { Notifier } from "../core/ports";

export interface LocalNotifier extends Notifier {
  /** Waits currently pending on a topic (all topics when omitted). */
  pending(topic?: string): number;
}

export function createLocalNotifier(): LocalNotifier {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0); // many GET ?wait= requests may wait on one job
  return {
    notify(topic: string, data?: unknown): void {
      emitter.emit(topic, data ?? true);
    },

    /** Resolves with what notify passed (true when nothing), or undefined when `ms` ran out or `signal` aborted. */
    wait(topic: string, ms: number, signal?: AbortSignal): Promise<unknown> {
      if (signal?.aborted) return Promise.resolve(undefined);
      return new Promise<unknown>((resolve) => {
        const stop = () => done(undefined);
        const done = (data?: unknown) => {
          clearTimeout(timer);
          emitter.removeListener(topic, done);
          signal?.removeEventListener("abort", stop);
          resolve(data);
        };
        const timer = setTimeout(done, Math.max(0, ms));
        emitter.on(topic, done);
        signal?.addEventListener("abort", stop, { once: true });
      });
    },

    pending(topic?: string): number {
      if (topic !== undefined) return emitter.listenerCount(topic);
      return emitter.eventNames().reduce((n, t) => n + emitter.listenerCount(t), 0);
    },
  };
}
