/**
 * The one construction of the core's Log port: AWS Lambda Powertools' JSON logger (level,
 * message, service, timestamp, the data as top-level keys, bigints as strings). On Lambda it
 * writes to stdout/stderr, where CloudWatch Logs keeps the lines and Logs Insights queries
 * them; the local coordinator (local/log.ts) passes a sink and gets the very same lines.
 * Callers log identifiers, codes and sizes only: never a prompt, an answer or a key.
 */
import { Logger, type LogItem } from "@aws-lambda-powertools/logger";
import type { Log } from "../../core/ports";

export const DEFAULT_SERVICE = "cocoon-coordinator";

/** Powertools prints through a private console; `printLog` is its extension point for another output. */
class SinkLogger extends Logger {
  constructor(
    private readonly sink: (line: string) => void,
    serviceName: string,
  ) {
    super({ serviceName });
  }

  protected override printLog(_logLevel: number, log: LogItem): void {
    log.prepareForPrint();
    this.sink(JSON.stringify(log.getAttributes(), this.getJsonReplacer()));
  }
}

/** A JSON-lines Log: to `sink` when given (one line per call), else to stdout/stderr. */
export function createJsonLog(sink?: (line: string) => void, service = DEFAULT_SERVICE): Log {
  const logger = sink ? new SinkLogger(sink, service) : new Logger({ serviceName: service });
  return {
    info: (message, data) => logger.info(message, data ?? {}),
    warn: (message, data) => logger.warn(message, data ?? {}),
    error: (message, data) => logger.error(message, data ?? {}),
  };
}
