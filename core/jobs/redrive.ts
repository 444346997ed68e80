/**
 * Redrive of the matching dead-letter queue. A lease check or a tab's close check that failed
 * maxReceiveCount deliveries in a row (a store outage, a crash storm) lands in the DLQ, and with
 * durable queues nothing else sends another: the job's hold, or the tab's, would stay held for
 * good. A scheduled run sends each one back to the matching queue (checks are idempotent, so a
 * copy that was handled after all changes nothing), counting its trips in `redrives`; one that
 * came back MAX_REDRIVES times already is left in the DLQ for the operator (its alarm), so a
 * message that can never succeed does not cycle for ever.
 */
import { MatchingMessage } from "../../events/queue";
import type { CoreDeps } from "../deps";
import { loggable } from "./dispatch";

/** Trips back from the DLQ before a message is left there (at the stack's 15-minute schedule: 4 hours). */
export const MAX_REDRIVES = 16;
/** Messages one run moves at most (the rest wait for the next run). */
export const REDRIVE_BATCH_LIMIT = 500;

export interface RedriveReport {
  /** sent back to the matching queue */
  redriven: number;
  /** left in the DLQ: unreadable, or back MAX_REDRIVES times already */
  left: number;
}

export async function redriveMatching(deps: Pick<CoreDeps, "queues" | "log">, limit = REDRIVE_BATCH_LIMIT): Promise<RedriveReport> {
  const report: RedriveReport = { redriven: 0, left: 0 };
  while (report.redriven + report.left < limit) {
    // a 1 s long poll: an empty short poll may miss messages SQS holds on other hosts. Those left
    // stay invisible for the visibility timeout, so this run does not see them again.
    const batch = await deps.queues.receive("matching-dlq", {
      max: Math.min(10, limit - report.redriven - report.left),
      waitSeconds: 1,
      visibilitySeconds: 300,
    });
    if (batch.length === 0) break;
    for (const m of batch) {
      const msg = parse(m.body);
      if (!msg) {
        deps.log.error("dead-lettered matching message left: not a matching message", { messageId: m.id });
        report.left++;
        continue;
      }
      const trips = msg.redrives ?? 0;
      if (trips >= MAX_REDRIVES) {
        deps.log.error("dead-lettered matching message left for the operator: it failed after every redrive", {
          messageId: m.id,
          redrives: trips,
          message: loggable(msg),
        });
        report.left++;
        continue;
      }
      // sent before the delete: a crash between the two redrives it twice, which is harmless
      await deps.queues.send("matching", { ...msg, redrives: trips + 1 });
      await deps.queues.delete("matching-dlq", m.receiptHandle);
      report.redriven++;
    }
  }
  if (report.redriven + report.left > 0) deps.log.info("matching dead-letter queue redriven", { ...report });
  return report;
}

function parse(body: string): MatchingMessage | undefined {
  try {
    const r = MatchingMessage.safeParse(JSON.parse(body));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
