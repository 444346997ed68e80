/**
 * The HTTP routes a refusal's reader goes to next, by the refusal's code. Core's messages say
 * what to do in words ("prepare a fresh one"), not where: core knows no routes (another edge, the
 * local in-process network, names them otherwise). The edge adds the route here, in parentheses
 * after the message, so an HTTP client still reads where to go. Only codes each of whose core
 * refusals points at the same route are listed; the codes themselves are unchanged.
 */
export const ROUTE_HINTS: Readonly<Record<string, string>> = {
  bad_registration_nonce: "POST /v1/agents/nonce",
  bad_quote: "POST /v1/jobs/prepare",
  quote_expired: "POST /v1/jobs/prepare",
  no_live_candidate: "POST /v1/jobs/prepare",
  unknown_worker: "POST /v1/jobs/prepare",
  no_workers: "see GET /v1/models",
  unknown_model: "see GET /v1/models",
  tab_expired: "POST /v1/tabs",
  relay_unavailable: "POST /v1/jobs/{id}/relay says how to reach the relay; GET /v1/jobs/{id} reads the answer",
};

/** A refusal's message with the route its code points at, if any. */
export function withRouteHint(code: string, message: string): string {
  const hint = Object.hasOwn(ROUTE_HINTS, code) ? ROUTE_HINTS[code] : undefined;
  return hint === undefined ? message : `${message} (${hint})`;
}
