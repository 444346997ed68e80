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
  /** While set, a printed line comes here instead of the sink (the probe in `leanShape`). */
  capture: ((line: string) => void) | undefined;

  constructor(
    private readonly sink: (line: string) => void,
    serviceName: string,
  ) {
    super({ serviceName });
  }

  protected override printLog(_logLevel: number, log: LogItem): void {
    log.prepareForPrint();
    (this.capture ?? this.sink)(JSON.stringify(log.getAttributes(), this.getJsonReplacer()));
  }
}

/** Powertools' numeric thresholds of the three levels the Log port has. */
const LEVELS = { INFO: 12, WARN: 16, ERROR: 20 } as const;
/** Keys Powertools keeps for itself (it drops them from the data, with a warning). */
const RESERVED = new Set(["level", "message", "sampling_rate", "service", "timestamp"]);

/**
 * What every line of this logger starts with, when Powertools prints nothing but level,
 * message, timestamp, service and sampling rate (no pretty printing, sampling, Lambda
 * context or persistent keys): read from one line Powertools formats itself. Undefined when
 * the line has any other shape: then every line goes through Powertools.
 */
function leanShape(logger: SinkLogger): { service: string; samplingRate: number } | undefined {
  let probe = "";
  logger.capture = (line) => (probe = line);
  try {
    logger.error("probe");
  } finally {
    logger.capture = undefined;
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(probe) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const keys = Object.keys(parsed).join(",");
  const { service, sampling_rate: samplingRate, timestamp } = parsed;
  if (keys !== "level,message,timestamp,service,sampling_rate" || probe.includes("\n")) return undefined;
  if (typeof service !== "string" || typeof samplingRate !== "number" || typeof timestamp !== "string" || !timestamp.endsWith("Z"))
    return undefined;
  return { service, samplingRate };
}

/**
 * The line Powertools would print for a call whose data holds only primitives under
 * unreserved keys, written directly (Powertools spends tens of µs a line merging attributes
 * and stringifying through a replacer; the local coordinator logs twice per job). Undefined
 * when the call is anything else: then Powertools formats it. Per call, as Powertools reads
 * them: a TZ other than UTC and an X-Ray trace id (both change the line) also go to Powertools.
 * functions/adapters/log.test.ts checks both ways give the same line.
 */
function leanLine(
  shape: { service: string; samplingRate: number },
  level: keyof typeof LEVELS,
  message: string,
  data: Record<string, unknown> | undefined,
): string | undefined {
  const tz = process.env.TZ;
  if ((tz && !tz.includes("UTC")) || process.env._X_AMZN_TRACE_ID !== undefined) return undefined;
  const line: Record<string, unknown> = { level };
  if (message !== "") line.message = message;
  line.timestamp = new Date().toISOString();
  if (shape.service !== "") line.service = shape.service;
  line.sampling_rate = shape.samplingRate;
  if (data) {
    const proto: unknown = Object.getPrototypeOf(data);
    if (proto !== Object.prototype && proto !== null) return undefined; // an Error, a class instance
    for (const k in data) {
      if (!Object.prototype.hasOwnProperty.call(data, k)) continue;
      if (RESERVED.has(k)) return undefined;
      const v = data[k];
      if (v === undefined || v === null || v === "") continue;
      const t = typeof v;
      if (t === "bigint") line[k] = (v as bigint).toString();
      else if (t === "string" || t === "number" || t === "boolean") line[k] = v;
      else return undefined;
    }
  }
  return JSON.stringify(line);
}

/**
 * A JSON-lines Log: to `sink` when given (one line per call), else to stdout/stderr.
 * With a sink, lines Powertools would format plainly are written directly (`lean`, default
 * on; off: every line through Powertools, as the test compares).
 */
export function createJsonLog(sink?: (line: string) => void, service = DEFAULT_SERVICE, o: { lean?: boolean } = {}): Log {
  if (!sink) {
    const logger = new Logger({ serviceName: service });
    return {
      info: (message, data) => logger.info(message, data ?? {}),
      warn: (message, data) => logger.warn(message, data ?? {}),
      error: (message, data) => logger.error(message, data ?? {}),
    };
  }
  const logger = new SinkLogger(sink, service);
  const shape = o.lean === false ? undefined : leanShape(logger);
  // Read once: Powertools reads its level from the environment at construction, and nothing
  // can change it on a logger nobody else holds (its getter reads the environment per call).
  const threshold = logger.level;
  const emit = (level: keyof typeof LEVELS, message: string, data: Record<string, unknown> | undefined) => {
    if (shape) {
      // (no log buffer is configured, so a line under the threshold is nothing, as in Powertools)
      if (LEVELS[level] < threshold) return;
      const line = leanLine(shape, level, message, data);
      if (line !== undefined) return sink(line);
    }
    if (level === "INFO") logger.info(message, data ?? {});
    else if (level === "WARN") logger.warn(message, data ?? {});
    else logger.error(message, data ?? {});
  };
  return {
    info: (message, data) => emit("INFO", message, data),
    warn: (message, data) => emit("WARN", message, data),
    error: (message, data) => emit("ERROR", message, data),
  };
}
