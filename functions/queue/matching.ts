import middy from "@middy/core";
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { MatchingMessage } from "../../events/queue";
import { handleMatchingMessage } from "../../core/jobs";
import type { CoreDeps } from "../../core/deps";
import { lambdaDeps, type DepsProvider } from "../deps";
import { withRelaySessions } from "../deps-relay";

/** A message that can never succeed: acknowledged (not retried) and logged. */
class PoisonMessageError extends Error {
  override readonly name = "PoisonMessageError";
}

async function processRecord(deps: CoreDeps, record: SQSRecord) {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    throw new PoisonMessageError("body is not JSON");
  }
  const msg = MatchingMessage.safeParse(body);
  if (!msg.success)
    throw new PoisonMessageError(
      `body is not a matching message: ${msg.error.issues.map((i) => i.path.join(".") + " " + i.message).join("; ")}`,
    );
  return handleMatchingMessage(deps, msg.data);
}

/**
 * Matching queue consumer (intake dispatches + delayed lease checks). Failed records are
 * reported as batchItemFailures so only they are redelivered; poison ones are dropped. On AWS its
 * dispatches (a failover's too) carry the worker's relay session (functions/deps-relay.ts).
 */
export function matchingHandler(provider: DepsProvider = withRelaySessions(lambdaDeps)) {
  return middy<SQSEvent, SQSBatchResponse>().handler(async (event, context) => {
    const deps = await provider();
    const processor = new BatchProcessor(EventType.SQS);
    return processPartialResponse(
      event,
      async (record: SQSRecord) => {
        try {
          return await processRecord(deps, record);
        } catch (e) {
          if (e instanceof PoisonMessageError) {
            deps.log.error("dropping poison message", { messageId: record.messageId, error: e.message });
            return "poison";
          }
          throw e;
        }
      },
      processor,
      { context },
    );
  });
}

export const handler = matchingHandler();
