import { TabId, TabView } from "../../events/api";
import { getTab } from "../../core/jobs/tabs";
import { CocoonError } from "../../core/errors";
import { lambdaHandler } from "./lambda";
import { lambdaSecretDeps } from "../deps-secrets";
import { defineRoute } from "./middleware";

export const route = defineRoute(
  {
    method: "GET",
    path: "/v1/tabs/{id}",
    summary: "Read one of your tabs: open or closed, when it closes, and once closed what its jobs cost",
    auth: "session",
    replay: "idempotent",
    response: TabView,
  },
  ({ deps, caller, params }) => {
    const id = TabId.safeParse(params.id);
    if (!id.success) throw new CocoonError(400, "invalid_tab_id", "path parameter id must look like tab_<26 lowercase base32 chars>");
    return getTab(deps, caller, id.data);
  },
);
// the session key (and the quote key) from SSM where the stack names their parameters
export const handler = lambdaHandler(route, lambdaSecretDeps);
