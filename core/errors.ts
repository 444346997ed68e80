import type { PriceAboveCapDetails } from "../events/api";

/**
 * Domain errors carry an HTTP-ish status and a machine-readable code. Handlers expose the
 * message only for status < 500, and for an UnavailableError (a 503 refused on purpose);
 * anything else becomes a generic answer with a correlation id.
 */
export class CocoonError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends CocoonError {
  constructor(message: string, details?: unknown) {
    super(400, "invalid_request", message, details);
  }
}
export class UnauthenticatedError extends CocoonError {
  constructor(code: string, message: string) {
    super(401, code, message);
  }
}
export class ForbiddenError extends CocoonError {
  constructor(code: string, message: string) {
    super(403, code, message);
  }
}
/** 403 not_a_worker: the signing key is no registered worker's, said so that an agent's owner knows what to run. */
export class NotAWorkerError extends ForbiddenError {
  constructor(workerId: string) {
    super(
      "not_a_worker",
      `worker ${workerId} is not registered (or was registered under another key): cocoon-agent start registers it; a worker registered before signs with the key it registered with (its COCOON_HOME, or --key)`,
    );
  }
}
export class NotFoundError extends CocoonError {
  constructor(code: string, message: string) {
    super(404, code, message);
  }
}
export class ConflictError extends CocoonError {
  constructor(code: string, message: string, details?: unknown) {
    super(409, code, message, details);
  }
}
/**
 * prepare's 409 when the price cap alone refused every live, listed, tier-matching worker matching
 * read (core/workers.ts matchCandidates cheapestAboveCap): the cheapest of them in its details, so
 * that a client tells "raise your cap" from "no worker is up" (409 no_workers) without reading
 * the message.
 */
export class PriceAboveCapError extends CocoonError {
  constructor(cap: bigint, cheapest: bigint, why: string) {
    super(
      409,
      "price_above_cap",
      `no worker can take this job now: ${why}; the cheapest live one asks ${cheapest}: raise maxPricePerToken to at least that, or wait for a cheaper worker`,
      { maxPricePerToken: cap.toString(), cheapestPricePerToken: cheapest.toString() } satisfies PriceAboveCapDetails,
    );
  }
}
export class InsufficientFundsError extends CocoonError {
  constructor(needed: bigint, available: bigint) {
    super(
      402,
      "insufficient_funds",
      `this job may cost up to ${needed} nanoTON but the account has ${available} nanoTON available: deposit more or lower maxTokens`,
      { needed: needed.toString(), available: available.toString() },
    );
  }
}
export class UnknownModelError extends CocoonError {
  constructor(model: string) {
    super(404, "unknown_model", `model "${model}" is not served by any registered worker`);
  }
}
export class GoneError extends CocoonError {
  constructor(code: string, message: string) {
    super(410, code, message);
  }
}
/** Too many calls of one kind from one key (core/attestation/rate-limit): retry after `retryAfterSeconds`. */
export class RateLimitedError extends CocoonError {
  constructor(action: string, retryAfterSeconds: number, limit: { burst: number; perMinute: number }) {
    super(
      429,
      "rate_limited",
      `too many ${action.replace(/_/g, " ")} calls from this key (at most ${limit.burst} at once, ${limit.perMinute} per minute): retry in ${retryAfterSeconds} s`,
      { action, retryAfterSeconds },
    );
  }
}
/**
 * A 503 the coordinator answers on purpose, in words written for the client: a feature this
 * deployment has not configured (payouts without the operator's key), or a state that passes (a
 * policy reading too old, writes that kept conflicting). The HTTP edge passes its message on,
 * where any other 5xx is hidden behind a reference (its text may be an internal failure's: a
 * table's name, an upstream's answer). `retryAfterSeconds`: when asking again may succeed
 * (details.retryAfterSeconds, the retry-after header); none for a configuration, which no retry mends.
 */
export class UnavailableError extends CocoonError {
  constructor(code: string, message: string, retryAfterSeconds?: number) {
    super(503, code, message, retryAfterSeconds !== undefined ? { retryAfterSeconds } : undefined);
  }
}
/** A tab holding less than the coordinator's floor (CoreConfig.minTabHold): details name the floor. */
export class TabTooSmallError extends CocoonError {
  constructor(held: bigint, minHold: bigint) {
    super(400, "tab_too_small", `a tab must hold at least ${minHold} nanoTON (slots × slotCost), this one holds ${held}`, {
      held: held.toString(),
      minHold: minHold.toString(),
    });
  }
}
/**
 * A sealed request past MAX_ENVELOPE_BYTES (as canonical JSON): refused by its size alone, at the
 * HTTP edge before anything is read and again at submit. Details name the limit and the size, as
 * a tab's floor is named, so a client can say by how much to shorten the prompt.
 */
export class EnvelopeTooLargeError extends CocoonError {
  constructor(bytes: number, limitBytes: number) {
    super(413, "envelope_too_large", `the envelope exceeds ${limitBytes} bytes; shorten the prompt`, { bytes, limitBytes });
  }
}
/** A worker registration that cannot be stored as asked (too many models, a model listed twice). */
export class RegistrationRefusedError extends CocoonError {
  constructor(code: "too_many_models" | "duplicate_model", message: string) {
    super(400, code, message);
  }
}
/**
 * None of the job's candidates is live now (issue 12): the SDK keeps a quote and reuses it, and
 * every worker it names has stopped or left since. Nothing was held: prepare again and resubmit.
 */
export class NoLiveCandidateError extends CocoonError {
  constructor(candidates: string[]) {
    super(409, "no_live_candidate", "none of this quote's candidates is live now: prepare a fresh quote and submit again", { candidates });
  }
}
