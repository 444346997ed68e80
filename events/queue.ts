import { z } from "zod";
import { JobId } from "./common";
import { AgentJob, TabId } from "./api";
import { RequestEnvelope } from "./envelope";

// Module-level schemas are built in /* @__PURE__ */ IIFEs so that bundles drop unused ones (see events/api.ts).

/**
 * Times a matching message came back from the dead-letter queue (core/jobs/redrive.ts): set by
 * the redriver only, so a message that keeps failing is left there for the operator after
 * MAX_REDRIVES instead of cycling for ever.
 */
const redrives = /* @__PURE__ */ (() => z.number().int().nonnegative().optional())();

/**
 * The job's sealed request, carried by every matching message that may hand the job to a worker
 * (core/jobs/items.ts envelopeItemStored): it fits, since submit refuses an envelope over
 * MAX_ENVELOPE_BYTES (200 KiB of SQS's 256 KiB). Absent from messages sent before it existed
 * (and from core/recovery.ts's, on the local store): the job's envelope item is read instead.
 */
const envelope = /* @__PURE__ */ (() => RequestEnvelope.optional())();

/** Intake queue: a submitted job to be dispatched (retries and reassignments also travel here). */
export const IntakeMessage = /* @__PURE__ */ (() =>
  z.object({
    type: z.literal("dispatch"),
    jobId: JobId,
    attempt: z.number().int().nonnegative(),
    envelope,
    redrives,
  }))();
export type IntakeMessage = z.infer<typeof IntakeMessage>;

/**
 * Delayed message: fires when a lease runs out; stale ones (attempt moved on) are dropped. It is
 * sent before the commit that creates the job or moves it to `attempt`, so it may come first:
 * it then waits for that commit, re-sent with `awaitUntil` (ms, set on its first early arrival)
 * until then (core/jobs/dispatch.ts).
 */
export const LeaseCheckMessage = /* @__PURE__ */ (() =>
  z.object({
    type: z.literal("lease"),
    jobId: JobId,
    attempt: z.number().int().nonnegative(),
    awaitUntil: z.number().int().nonnegative().optional(),
    envelope,
    redrives,
  }))();
export type LeaseCheckMessage = z.infer<typeof LeaseCheckMessage>;

/**
 * Delayed message: a tab's close (core/jobs/tabs.ts). Sent before the commit that opens the tab,
 * like a lease check, and re-sent until the tab can close (SQS delays at most 900 s).
 */
export const TabCloseMessage = /* @__PURE__ */ (() =>
  z.object({
    type: z.literal("tab"),
    tabId: TabId,
    awaitUntil: z.number().int().nonnegative().optional(),
    redrives,
  }))();
export type TabCloseMessage = z.infer<typeof TabCloseMessage>;

export const MatchingMessage = /* @__PURE__ */ (() => z.discriminatedUnion("type", [IntakeMessage, LeaseCheckMessage, TabCloseMessage]))();
export type MatchingMessage = z.infer<typeof MatchingMessage>;

/**
 * Per-worker dispatch queue: carries the job with its (ciphertext-only) envelope so an agent
 * polling SQS directly needs no API call to start work. Stays under SQS's 256 KiB message limit
 * for prompts up to ~180 KiB; larger envelopes are refused at submit.
 */
export const DispatchMessage = AgentJob;
export type DispatchMessage = z.infer<typeof DispatchMessage>;
