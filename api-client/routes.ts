/**
 * The coordinator's REST routes as clients call them: method, path, and the events/ schemas
 * of the body and the answer, the very objects the server's routes (functions/http/*.ts)
 * declare. api-client/routes.test.ts holds the two lists equal, route by route and schema by
 * schema, so a route added on one side only fails a test.
 */
import type { z } from "zod";
import {
  AgentSessionResponse,
  AgentWorkResponse,
  BalanceView,
  ChallengeAnswerRequest,
  ChallengeAnswerResponse,
  ChallengeRequest,
  ChallengeResponse,
  ChallengeView,
  FaucetRequest,
  HeartbeatRequest,
  HeartbeatResponse,
  LeaseRequest,
  LeaseResponse,
  JobView,
  CancelJobResponse,
  VoidJobResponse,
  RouteDirectory,
  SessionRequest,
  SessionResponse,
  ModelsResponse,
  NonceResponse,
  PrepareRequest,
  PrepareResponse,
  RegisterWorkerRequest,
  RegisterWorkerResponse,
  ResultRequest,
  ResultResponse,
  ResultBatchRequest,
  ResultBatchResponse,
  SubmitJobResponse,
  SubmitRequest,
  OpenTabRequest,
  TabView,
  WorkerStatusView,
} from "../events/api";
import {
  AgentRelaySessionRequest,
  RelayPublishRequest,
  RelayPublishResponse,
  RelayReadResponse,
  RelaySession,
  RelaySessionRequest,
} from "../events/relay";
import {
  DevDepositView,
  DevRedeemRequest,
  DevRedeemView,
  DevWalletView,
  OperatorStatusView,
  Voucher,
  VoucherRequest,
} from "../events/money";
import {
  ChainAnchorView,
  DevPolicyOpView,
  DevPolicyProposeRequest,
  DevPolicyVoteRequest,
  PolicyStateView,
  ReceiptProofView,
} from "../events/receipts";
import { DevWithdrawRequest, DevWithdrawView, SignedWithdrawalView, WithdrawalStatusView, WithdrawRequest } from "../events/withdrawals";

export interface ApiRoute {
  method: "GET" | "POST";
  /** API Gateway style, as the server declares it: /v1/jobs/{id} */
  path: string;
  body?: z.ZodType;
  response: z.ZodType;
  /** The route takes a session's MAC as well as a signature (the server's auth "session"): the client uses its session there. */
  session?: true;
}

const route = <const R extends ApiRoute>(r: R) => r;

export const API = {
  // requester
  prepareJob: route({ method: "POST", path: "/v1/jobs/prepare", body: PrepareRequest, response: PrepareResponse, session: true }),
  submitJob: route({ method: "POST", path: "/v1/jobs", body: SubmitRequest, response: SubmitJobResponse, session: true }),
  getJob: route({ method: "GET", path: "/v1/jobs/{id}", response: JobView, session: true }),
  /** stop a running job: its worker stops the engine; billed for what was generated, or refunded when nothing was */
  cancelJob: route({ method: "POST", path: "/v1/jobs/{id}/cancel", response: CancelJobResponse, session: true }),
  /** void a job id that holds no job of the caller: no submit of it commits any more (a lost submit, settled at once) */
  voidJob: route({ method: "POST", path: "/v1/jobs/{id}/void", response: VoidJobResponse, session: true }),
  openTab: route({ method: "POST", path: "/v1/tabs", body: OpenTabRequest, response: TabView, session: true }),
  getTab: route({ method: "GET", path: "/v1/tabs/{id}", response: TabView, session: true }),
  routeDirectory: route({ method: "GET", path: "/v1/routes", response: RouteDirectory }),
  account: route({ method: "GET", path: "/v1/account", response: BalanceView }),
  faucet: route({ method: "POST", path: "/v1/account/faucet", body: FaucetRequest, response: BalanceView }),
  models: route({ method: "GET", path: "/v1/models", response: ModelsResponse }),
  challenge: route({ method: "POST", path: "/v1/attestations", body: ChallengeRequest, response: ChallengeResponse }),
  getChallenge: route({ method: "GET", path: "/v1/attestations/{id}", response: ChallengeView }),
  withdraw: route({ method: "POST", path: "/v1/account/withdraw", body: WithdrawRequest, response: SignedWithdrawalView }),
  withdrawalStatus: route({ method: "GET", path: "/v1/account/withdrawals/{seqno}", response: WithdrawalStatusView }),
  receiptProof: route({ method: "GET", path: "/v1/receipts/{jobId}/proof", response: ReceiptProofView }),
  relaySession: route({ method: "POST", path: "/v1/jobs/{id}/relay", body: RelaySessionRequest, response: RelaySession }),
  /** the HTTP relay (the local default): long-poll a job's sealed chunks */
  readChunks: route({ method: "GET", path: "/v1/jobs/{id}/chunks", response: RelayReadResponse, session: true }),
  // worker agent
  workerNonce: route({ method: "POST", path: "/v1/agents/nonce", response: NonceResponse }),
  registerWorker: route({ method: "POST", path: "/v1/agents", body: RegisterWorkerRequest, response: RegisterWorkerResponse }),
  heartbeat: route({ method: "POST", path: "/v1/agents/heartbeat", body: HeartbeatRequest, response: HeartbeatResponse, session: true }),
  pollJobs: route({ method: "GET", path: "/v1/agent/jobs", response: AgentWorkResponse, session: true }),
  postResult: route({ method: "POST", path: "/v1/agent/results", body: ResultRequest, response: ResultResponse, session: true }),
  /** the same route, several results at once (issue 12): one outcome per item, in order */
  postResults: route({
    method: "POST",
    path: "/v1/agent/results",
    body: ResultBatchRequest,
    response: ResultBatchResponse,
    session: true,
  }),
  extendLease: route({ method: "POST", path: "/v1/agent/lease", body: LeaseRequest, response: LeaseResponse, session: true }),
  answerChallenge: route({
    method: "POST",
    path: "/v1/agent/attestations",
    body: ChallengeAnswerRequest,
    response: ChallengeAnswerResponse,
  }),
  workerStatus: route({ method: "GET", path: "/v1/agents/me", response: WorkerStatusView }),
  agentSession: route({ method: "POST", path: "/v1/agents/session", response: AgentSessionResponse }),
  /** a request session: signed, never by a session (api-client/api.ts opens and renews it) */
  openSession: route({ method: "POST", path: "/v1/sessions", body: SessionRequest, response: SessionResponse }),
  issueVoucher: route({ method: "POST", path: "/v1/agents/voucher", body: VoucherRequest, response: Voucher }),
  /** the operator's fees (the operator's key only) */
  issueOperatorVoucher: route({ method: "POST", path: "/v1/operator/voucher", body: VoucherRequest, response: Voucher }),
  /** the operator's fees, payout address and fee in force (the operator's key only) */
  operatorStatus: route({ method: "GET", path: "/v1/operator/status", response: OperatorStatusView }),
  agentRelaySession: route({ method: "POST", path: "/v1/agent/jobs/{id}/relay", body: AgentRelaySessionRequest, response: RelaySession }),
  /** the HTTP relay (the local default): append sealed chunks to a job's stream */
  publishChunks: route({
    method: "POST",
    path: "/v1/agent/jobs/{id}/chunks",
    body: RelayPublishRequest,
    response: RelayPublishResponse,
    session: true,
  }),
  // DEV ONLY: the local default's TON sandbox (403 dev_chain_disabled elsewhere)
  devWallet: route({ method: "GET", path: "/v1/dev/wallet", response: DevWalletView }),
  devDeposit: route({ method: "POST", path: "/v1/dev/wallet/deposit", body: FaucetRequest, response: DevDepositView }),
  devRedeem: route({ method: "POST", path: "/v1/dev/wallet/redeem", body: DevRedeemRequest, response: DevRedeemView }),
  devWithdraw: route({ method: "POST", path: "/v1/dev/wallet/withdraw", body: DevWithdrawRequest, response: DevWithdrawView }),
  devAnchor: route({ method: "GET", path: "/v1/dev/chain/anchor", response: ChainAnchorView }),
  devPolicy: route({ method: "GET", path: "/v1/dev/chain/policy", response: PolicyStateView }),
  devPolicyPropose: route({
    method: "POST",
    path: "/v1/dev/chain/policy/propose",
    body: DevPolicyProposeRequest,
    response: DevPolicyOpView,
  }),
  devPolicyApprove: route({ method: "POST", path: "/v1/dev/chain/policy/approve", body: DevPolicyVoteRequest, response: DevPolicyOpView }),
  devPolicyExecute: route({ method: "POST", path: "/v1/dev/chain/policy/execute", body: DevPolicyVoteRequest, response: DevPolicyOpView }),
} as const;

const matchers = Object.values(API).map((route: ApiRoute) => ({ route, re: new RegExp(`^${route.path.replace(/\{\w+\}/g, "[^/]+")}$`) }));

/** The route a concrete method and path (with or without a query) belong to. */
export function routeOf(method: "GET" | "POST", path: string): ApiRoute | undefined {
  const bare = path.split("?")[0]!;
  return matchers.find((m) => m.route.method === method && m.re.test(bare))?.route;
}
