/**
 * DEV ONLY: the local default's ReceiptAnchor and PolicyRegistry live in the coordinator's
 * in-process TON sandbox, so CLIs read them, and the registry's test owners act, through these
 * routes. They answer 403 `dev_chain_disabled` everywhere else; on a real network the CLI
 * reads the contracts through toncenter itself and owners sign with their own wallets.
 *
 *   GET  /v1/dev/chain/anchor            the anchor contract's `latest` getter
 *   GET  /v1/dev/chain/policy            the registry's policy, multisig and open proposals
 *   POST /v1/dev/chain/policy/propose    {owner, policy}: test owner `owner` proposes
 *   POST /v1/dev/chain/policy/approve    {owner, id}
 *   POST /v1/dev/chain/policy/execute    {owner, id}: refused on chain below m approvals or before the time lock
 */
import type { CoreDeps } from "../../core/deps";
import { CocoonError } from "../../core/errors";
import { policyFromBody, type RegistryPolicy } from "../../core/policy-registry";
import { ChainAnchorView, DevPolicyOpView, DevPolicyProposeRequest, DevPolicyVoteRequest, PolicyStateView } from "../../events/receipts";
import { defineRoute } from "./middleware";

/** The sandbox contracts as these routes see them (local/contracts.ts devContractsFor implements it). */
export interface DevContracts {
  anchor(): Promise<ChainAnchorView>;
  policy(): Promise<PolicyStateView>;
  propose(owner: number, policy: RegistryPolicy): Promise<DevPolicyOpView>;
  approve(owner: number, id: number): Promise<DevPolicyOpView>;
  execute(owner: number, id: number): Promise<DevPolicyOpView>;
}

export interface DevContractsDeps {
  devContracts?: DevContracts;
}

function devContractsOf(deps: CoreDeps): DevContracts {
  const c = (deps as CoreDeps & DevContractsDeps).devContracts;
  if (!c)
    throw new CocoonError(
      403,
      "dev_chain_disabled",
      "this network has no local TON sandbox: read the anchor and the policy registry on chain (cocoon receipts verify / cocoon policy show --ton-endpoint …)",
    );
  return c;
}

export const anchorRoute = defineRoute(
  {
    method: "GET",
    path: "/v1/dev/chain/anchor",
    summary: "DEV ONLY: the local sandbox's receipt anchor contract (its latest getter)",
    auth: "signed",
    response: ChainAnchorView,
  },
  ({ deps }) => devContractsOf(deps).anchor(),
);

export const policyRoute = defineRoute(
  {
    method: "GET",
    path: "/v1/dev/chain/policy",
    summary: "DEV ONLY: the local sandbox's policy registry: policy, multisig, open proposals",
    auth: "signed",
    response: PolicyStateView,
  },
  ({ deps }) => devContractsOf(deps).policy(),
);

export const proposeRoute = defineRoute(
  {
    method: "POST",
    path: "/v1/dev/chain/policy/propose",
    summary: "DEV ONLY: a test owner of the local registry proposes a policy",
    auth: "signed",
    body: DevPolicyProposeRequest,
    response: DevPolicyOpView,
  },
  ({ deps, body }) => devContractsOf(deps).propose(body.owner, policyFromBody(body.policy)),
);

export const approveRoute = defineRoute(
  {
    method: "POST",
    path: "/v1/dev/chain/policy/approve",
    summary: "DEV ONLY: a test owner of the local registry approves a proposal",
    auth: "signed",
    body: DevPolicyVoteRequest,
    response: DevPolicyOpView,
  },
  ({ deps, body }) => devContractsOf(deps).approve(body.owner, body.id),
);

export const executeRoute = defineRoute(
  {
    method: "POST",
    path: "/v1/dev/chain/policy/execute",
    summary: "DEV ONLY: a test owner of the local registry executes an approved proposal after its time lock",
    auth: "signed",
    body: DevPolicyVoteRequest,
    response: DevPolicyOpView,
  },
  ({ deps, body }) => devContractsOf(deps).execute(body.owner, body.id),
);

export const devContractRoutes = [anchorRoute, policyRoute, proposeRoute, approveRoute, executeRoute];
