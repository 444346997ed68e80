/**
 * Notifier on Lambda: containers share no memory, so there is nobody to wake. `wait` sleeps a
 * short slice (≤ 250 ms) and the long-polling handler re-reads the store; `notify` is a no-op.
 * (Alerts over SNS: functions/adapters/sns-alerts.ts, deduplicated by core/chain/dedup.ts.)
 */
import type { Notifier } from "../../core/ports";

export const LAMBDA_WAIT_SLICE_MS = 250;

export class LambdaNotifier implements Notifier {
  constructor(private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))) {}

  notify(_topic: string): void {
    // Nobody listens across Lambda containers; waiters re-read the store.
  }

  async wait(_topic: string, ms: number): Promise<void> {
    if (ms <= 0) return;
    await this.sleep(Math.min(ms, LAMBDA_WAIT_SLICE_MS));
  }
}
