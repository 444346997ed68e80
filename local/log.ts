import type { Log } from "../core/ports";

/** JSON-lines logger (the same shape Powertools writes on Lambda), to any sink. */
export function createJsonLog(sink: (line: string) => void, service = "cocoon-coordinator"): Log {
  const write = (level: string, message: string, data?: Record<string, unknown>) =>
    sink(JSON.stringify({ level, message, service, timestamp: new Date().toISOString(), ...data }));
  return {
    info: (m, d) => write("INFO", m, d),
    warn: (m, d) => write("WARN", m, d),
    error: (m, d) => write("ERROR", m, d),
  };
}
