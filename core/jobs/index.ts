/**
 * Jobs: prepare, submit, dispatch and leases, the worker's poll and result, the requester's
 * reads. One file per stage; this index is the public API (importers use "core/jobs"), except the
 * Lambda handlers (functions/http), which import the stage they run: each bundle then carries
 * only that stage, and not, say, prepare's attestation checks in a read (issue 12, cold starts).
 */
export { prepareJob, renewQuote } from "./prepare";
export { submitJob, submitJobWithItem, jobIdempotencyKey, MAX_ENVELOPE_BYTES } from "./submit";
export { handleMatchingMessage, sendLeaseCheck } from "./dispatch";
export { MAX_REDRIVES, redriveMatching, type RedriveReport } from "./redrive";
export { extendLease, MAX_JOB_MS } from "./lease";
export { cancelJob } from "./cancel";
export { voidJob } from "./void";
export { pollJobs } from "./poll";
export { postResult, postResults, receiptProblems } from "./results";
export { getAccount, getJob, toView } from "./read";
export { getTab, handleTabClose, openTab, verifyTab } from "./tabs";
export { jobTopic, leaseMs, resultDigest, type JobCandidate, type JobItem } from "./items";
