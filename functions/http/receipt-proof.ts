import { ReceiptProofView } from "../../events/receipts";
import { receiptProof } from "../../core/receipts/read";
import { jobIdOf } from "./job-id";
import { lambdaHandler } from "./lambda";
import { defineRoute } from "./middleware";

/** A settled job's receipt, its audit path and the anchors that tie it to the ReceiptAnchor contract (issue 15). */
export const route = defineRoute(
  {
    method: "GET",
    path: "/v1/receipts/{jobId}/proof",
    summary:
      "A settled job's worker-signed receipt with its Merkle inclusion proof and the anchors up to the newest (requester or completing worker only); verify against the anchor contract's getter. Served while the coordinator keeps the job (COCOON_JOB_RETENTION_DAYS, 30 days after it ends by default); after that 410 job_records_expired",
    auth: "signed",
    // Reads only (as GET /v1/jobs/{id}): a replay changes nothing and answers the signer's own
    // receipt, so no request nonce is claimed. The stack grants it the table's reads only; with the
    // replay guard every request on AWS was refused the nonce's put (AccessDenied, a 500).
    replay: "idempotent",
    response: ReceiptProofView,
  },
  ({ deps, caller, params }) => {
    return receiptProof(deps, caller, jobIdOf(params, "jobId"));
  },
);
export const handler = lambdaHandler(route);
