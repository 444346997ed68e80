import type { Route } from "./middleware";
import { route as prepareJob } from "./prepare-job";
import { route as submitJob } from "./submit-job";
import { route as getJob } from "./get-job";
import { route as cancelJob } from "./cancel-job";
import { route as voidJob } from "./void-job";
import { route as openTab } from "./open-tab";
import { route as getTab } from "./get-tab";
import { route as getAccount } from "./get-account";
import { route as faucet } from "./faucet";
import { route as listModels } from "./list-models";
import { route as workerNonce } from "./worker-nonce";
import { route as registerWorker } from "./register-worker";
import { route as heartbeat } from "./heartbeat";
import { route as pollJobs } from "./poll-jobs";
import { route as postResult } from "./post-result";
import { route as extendLease } from "./extend-lease";
import { route as workerStatus } from "./worker-status";
import { route as agentSession } from "./agent-session";
import { route as openSession } from "./open-session";
import { route as issueVoucher } from "./issue-voucher";
import { route as issueOperatorVoucher } from "./issue-operator-voucher";
import { route as operatorStatus } from "./operator-status";
import { route as attestationChallenge } from "./attestation-challenge";
import { route as attestationAnswer } from "./attestation-answer";
import { route as attestationGet } from "./attestation-get";
import { chainFaucetRoute, depositRoute, redeemRoute, walletRoute, withdrawRoute as devWithdraw } from "./dev-wallet";
import { route as withdraw } from "./withdraw";
import { route as withdrawalStatus } from "./withdrawal-status";
import { route as relaySession } from "./relay-session";
import { route as relayWorkerSession } from "./relay-worker-session";
import { route as relayPublish } from "./relay-publish";
import { route as relayRead } from "./relay-read";
import { route as receiptProof } from "./receipt-proof";
import { devContractRoutes } from "./dev-contracts";

/** Every REST route except GET /openapi.json (which is generated from these). */
export const routes: Route[] = [
  prepareJob,
  submitJob,
  getJob,
  cancelJob,
  voidJob,
  openTab,
  getTab,
  getAccount,
  faucet,
  listModels,
  workerNonce,
  registerWorker,
  heartbeat,
  pollJobs,
  postResult,
  extendLease,
  workerStatus,
  agentSession,
  openSession,
  issueVoucher,
  issueOperatorVoucher,
  operatorStatus,
  attestationChallenge,
  attestationAnswer,
  attestationGet,
  withdraw,
  withdrawalStatus,
  relaySession,
  relayWorkerSession,
  receiptProof,
] as Route[];

/**
 * The HTTP relay: the coordinator carries a job's sealed chunks itself (an in-process relay,
 * core/relay-memory.ts). Mounted where there is one (the local default); on AWS the relay is
 * Amazon SQS (IoT Core a deploy option) and the session routes above vend credentials for it instead.
 */
export const httpRelayRoutes: Route[] = [relayPublish, relayRead] as Route[];

/**
 * DEV ONLY routes of the local default's TON sandbox (they refuse with 403 dev_chain_disabled
 * without one). The local network mounts them and swaps the ledger faucet for `chainFaucet`.
 */
export const devChainRoutes: Route[] = [walletRoute, depositRoute, redeemRoute, devWithdraw, ...devContractRoutes] as Route[];
export const chainFaucet = chainFaucetRoute as Route;
