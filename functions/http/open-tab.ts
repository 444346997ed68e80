import { OpenTabRequest, TabView } from "../../events/api";
import { openTab } from "../../core/jobs/tabs";
import { lambdaHandler } from "./lambda";
import { lambdaSecretDeps } from "../deps-secrets";
import { defineRoute, IdempotencyHeaders } from "./middleware";

export const route = defineRoute(
  {
    method: "POST",
    path: "/v1/tabs",
    summary:
      "Open a tab (Idempotency-Key header required): hold slots × slotCost once, then submit up to `slots` jobs under it with no hold of their own; it closes after it expires and its jobs end, paying each worker and returning the rest",
    auth: "session",
    // The Idempotency-Key names the tab: a replay answers the same tab and holds nothing more.
    replay: "idempotent",
    body: OpenTabRequest,
    headers: IdempotencyHeaders,
    response: TabView,
    status: 201,
  },
  async ({ deps, caller, body, headers }) => (await openTab(deps, caller, body, headers["idempotency-key"])).view,
);
// the session key (and the quote key) from SSM where the stack names their parameters
export const handler = lambdaHandler(route, lambdaSecretDeps);
