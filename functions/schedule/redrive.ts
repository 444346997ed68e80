/**
 * Scheduled function (EventBridge rate(15 minutes)): one redrive of the matching dead-letter
 * queue (core/jobs/redrive.ts). A lease or tab close check that failed five deliveries in a row
 * goes back to the matching queue, up to MAX_REDRIVES times, so a store outage or a crash storm
 * does not leave money held for good. Its environment adds COCOON_MATCHING_DLQ_URL to the
 * common one (functions/config.ts).
 */
import { redriveMatching, type RedriveReport } from "../../core/jobs/redrive";
import { lambdaDeps, type DepsProvider } from "../deps";

export function makeRedriveHandler(provider: DepsProvider = lambdaDeps) {
  return async (): Promise<RedriveReport> => redriveMatching(await provider());
}

export const handler = makeRedriveHandler();
