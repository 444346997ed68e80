/** The local coordinator logs through the same construction as Lambda (functions/adapters/log.ts), to a sink. */
export { createJsonLog } from "../functions/adapters/log";
