/**
 * `npm run mutation [-- <file> ...] [--summary] [--timeout-min N]`
 *
 * Mutation testing of the money and trust paths (issue 14) with Stryker (stryker.config.mjs):
 * one Stryker run per file (`--mutate <file>`, one worker), each against only the tests that
 * can reach it (TESTS below, narrowed further per mutant by Stryker's per-test coverage), each
 * writing reports/mutation/<file>.json. Then it prints, per file, the score (killed + timed out
 * over all valid mutants: survivors and uncovered ones count against it) and every surviving
 * mutant with its line and replacement.
 *
 *   npm run mutation                         # every file of FILES, one after another
 *   npm run mutation -- core/ledger.ts       # one file
 *   npm run mutation -- --summary            # only print what the reports on disk say
 *
 * A run that passes --timeout-min (default 15) is stopped and recorded as not finished.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The files of issue 14, in the order they are worth running (money and auth first). */
const FILES = [
  "core/ledger.ts",
  "core/auth.ts",
  "core/crypto/request-auth.ts",
  "core/crypto/receipt.ts",
  "core/payouts.ts",
  "core/withdrawals.ts",
  "core/jobs/results.ts",
  "core/jobs/submit.ts",
  "core/jobs/prepare.ts",
  "core/jobs/dispatch.ts",
  "core/jobs/lease.ts",
  "core/jobs/items.ts",
  "core/jobs/poll.ts",
  "core/jobs/read.ts",
  "core/jobs/quote.ts",
  "core/chain/watcher.ts",
  // the SDK's verification of a completed job (receipt, measurement, usage, bill): one function of a large file
  "client/sdk.ts#checkCompletedJob",
  // the chain watcher's reading of the vault's transactions (what is credited as a deposit), lean since issue 12
  "functions/adapters/ton-vault-tx.ts#normalizeVaultTx",
  // the SQS relay (issue 12): whom a chunk is taken from and in what order (the SDK), and what
  // each party's credentials allow (the coordinator's session policies)
  "client/relay-sqs.ts",
  "functions/adapters/relay-sqs.ts",
  // money and trust code written after issue 14's pass: tabs and batched settlement (what a
  // requester pays and a worker earns), dead-letter redrive, session keys (who may call), who
  // may read an answer, the receipt log and its anchoring and proofs, the worker registry
  "core/jobs/tabs.ts",
  "core/jobs/settle.ts",
  "core/jobs/redrive.ts",
  "core/crypto/session-auth.ts",
  "core/relay-access.ts",
  "core/receipts/merkle.ts",
  "core/receipts/proof.ts",
  "core/receipts/log.ts",
  "core/receipts/anchor.ts",
  "core/workers.ts",
  // not mutation-tested before session 14: chain money, the reply's crypto, the policy registry, challenges
  "core/chain/store-ledger.ts",
  "core/crypto/reply-stream.ts",
  "client/reply.ts",
  "core/crypto/envelope.ts",
  "core/policy-registry.ts",
  "core/challenges.ts",
  "core/chain/dedup.ts",
  "core/receipts/anchoring.ts",
  "core/store-rules.ts",
  "client/tab-keeper.ts",
  "functions/http/middleware.ts",
  "core/crypto/keys.ts",
  "agent/execute.ts",
  "functions/adapters/dynamo-store.ts",
  // session 16: the attestation stack (what a requester's privacy rests on)
  "core/attestation/tdx/tcb.ts",
  "core/attestation/tdx/verify.ts",
  "core/attestation/tdx/x509.ts",
  "core/attestation/tdx/quote.ts",
  "core/attestation/tdx/signatures.ts",
  "core/attestation/verify.ts",
  "core/attestation/policy.ts",
  // session 17: what the chain watcher reads deposits with, what signs withdrawals, the local
  // store's transaction semantics, the requester's HPKE, and the attestation's DER and cache
  "functions/adapters/ton-boc.ts",
  "functions/adapters/ton-cells.ts",
  "functions/adapters/ton-wallet-v5.ts",
  "local/store-semantics.ts",
  "core/crypto/hpke.ts",
  "core/attestation/tdx/der.ts",
  "core/attestation/tdx/cache.ts",
  // what every hash and signature is computed over (canonical JSON, base64url), who may read a
  // relay queue (the coordinator's STS session policies, the local relay), the local queues' SQS semantics
  "core/crypto/encoding.ts",
  "core/crypto/padding.ts",
  "functions/adapters/relay-sessions.ts",
  "core/relay-memory.ts",
  "local/queues.ts",
  // not mutation-tested before session 18: what reads deposits off the chain, the collateral's
  // revocation lists, registration's rate limits, the local durable store, the agent's relay
  "functions/adapters/ton-tx.ts",
  "core/attestation/tdx/prepare-collateral.ts",
  "core/attestation/tdx/collateral.ts",
  "core/attestation/rate-limit.ts",
  "local/store-lmdb.ts",
  "agent/relay.ts",
  "functions/adapters/toncenter-client.ts",
  "api-client/money.ts",
  "agent/sources/sqs.ts",
  "agent/engines/openai-http.ts",
  "functions/adapters/sqs-queues.ts",
  "functions/adapters/ton-chain.ts",
  "functions/schedule/chain-watcher.ts",
  "functions/config.ts",
  "local/sqs-consumer.ts",
  // session 19: the OpenAI-compatible proxy existing apps talk to (what it answers, its errors), the agent's metrics
  "client/serve/chat-completions.ts",
  "client/serve/responses.ts",
  "client/serve/answer.ts",
  "client/serve/completions.ts",
  "client/serve/errors.ts",
  "client/serve/capabilities.ts",
  "agent/metrics.ts",
  // session 21: the GPU owner's job loop, and the requester SDK's quote, limits and candidate checks
  // (what a requester is charged for and whom its prompt is sealed to), method by method
  "agent/runtime.ts",
  "client/sdk.ts#limitsOf",
  "client/sdk.ts#requestPlaintextOf",
  // session 41: the request serialised once (the bytes size-checked are the bytes sealed) and a kept quote's candidates
  "client/sdk.ts#requestTextOf",
  "client/sdk.ts#refuseOversized",
  "client/sdk.ts#sealableRequestOf",
  "client/sdk.ts#keptCandidates",
  "client/sdk.ts#checkQuoteFees",
  "client/sdk.ts#verifyCandidates",
  "client/sdk.ts#fromKeptQuote",
  "client/sdk.ts#renewalDue",
  "client/sdk.ts#checkWithdrawal",
  // a requester's cancel: who may, cancelledAt written once, the AgentCancel to the worker (the
  // refund of a cancelled job and the lease's 409 job_cancelled are dispatch.ts's and lease.ts's)
  "core/jobs/cancel.ts",
  // issue 14's test gaps: the SDK's checks of fresh evidence (its tier, the keys of the
  // candidate it is sealed to, dev only with allowDev) and the tiers a job asks for by default
  "client/sdk.ts#challenge",
  "client/sdk.ts#freshCandidates",
  "client/sdk.ts#defaultTiers",
  // session 36's guards, tested in session 37: one agent per worker key, the requester's job
  // journal, durable file replacement (withdrawal state, agent config), the deploy preflight, the
  // model-file check; and session 37's seed mapping (which text a seed gives)
  "agent/instance-lock.ts",
  "client/journal.ts",
  "api-client/durable-file.ts",
  "stacks/deploy.ts",
  "agent/model-file.ts",
  "agent/engines/engine.ts#engineSeed",
];

/** Test files (globs) that exercise each file; anything not listed gets DEFAULT_TESTS. */
// policy-enforcement.test.ts: the registry's price weights a job is quoted, held and billed under (issue 15)
const JOB_TESTS = ["core/jobs/*.test.ts", "core/policy-enforcement.test.ts", "test/idempotency-concurrency.test.ts"];
// the attestation suites (the TDX quote with its collateral from ../shared/attestation, dev evidence, limits)
const ATTESTATION_TESTS = ["core/attestation/**/*.test.ts", "test/attestation-size.test.ts"];
const TON_ADAPTER_TESTS = [
  "functions/adapters/ton-boc*.test.ts",
  "functions/adapters/ton-cells*.test.ts",
  "functions/adapters/ton-vault-tx*.test.ts",
];
// the OpenAI-compatible proxy's suites: its unit suite, the conformance and compatibility suites, the serve e2e suites
const SERVE_TESTS = [
  "client/serve*.test.ts",
  "client/serve/*.test.ts",
  "test/openai-*.test.ts",
  "test/serve-*.test.ts",
  "test/proxy-disconnect.test.ts",
  "test/ask-deadline-limits.test.ts",
];
// the agent's job loop: its unit suites and the suites that start a real agent against a local network
const AGENT_RUNTIME_TESTS = [
  "agent/*.test.ts",
  "test/agent-*.test.ts",
  "test/clock-skew.test.ts",
  "test/crash.test.ts",
  "test/job-integrity.test.ts",
];
// the requester SDK's suites and the end-to-end suites that ask through it
const SDK_TESTS = [
  "client/sdk*.test.ts",
  "client/tab-keeper*.test.ts",
  "test/e2e.test.ts",
  "test/quote*.test.ts",
  "test/withdraw-e2e.test.ts",
];
// the AWS reader's walk down the vault's history (VaultHistoryReader)
const VAULT_READER_TESTS = [
  "functions/adapters/ton-vault-tx*.test.ts",
  "functions/adapters/ton-vault-backlog.test.ts",
  "functions/adapters/ton-chain.test.ts",
  "functions/adapters/toncenter-client.test.ts",
];
// the operator's fee (session 28): its amount and shard (core/ledger.ts) and where it is posted (a
// settlement, a tab's close, the job's answer, the receipt log that rebuilds a settlement, the operator's voucher)
const OPERATOR_FEE_TESTS = [
  "core/ledger*.test.ts",
  "core/jobs/operator-fee*.test.ts",
  "core/jobs/settle*.test.ts",
  "core/jobs/results*.test.ts",
  "core/jobs/tabs*.test.ts",
  "core/payouts-operator.test.ts",
  "core/receipts/log*.test.ts",
  "core/policy-enforcement.test.ts",
];
const TESTS: Record<string, string[]> = {
  ...Object.fromEntries(["operatorFee", "operatorFeeShard"].map((m) => [`core/ledger.ts#${m}`, OPERATOR_FEE_TESTS])),
  "core/jobs/submit.ts#operatorFeeBpsOf": [
    "core/jobs/operator-fee*.test.ts",
    "core/policy-enforcement.test.ts",
    "core/jobs/prepare-registry.test.ts",
  ],
  "core/jobs/tabs.ts#closeTab": ["core/jobs/tabs*.test.ts"],
  // the operator's voucher (session 28): the core's suites and the route's (its COCOON_OPERATOR_KEY)
  ...Object.fromEntries(
    ["issueOperatorVoucher", "operatorKeyId"].map((m) => [
      `core/payouts.ts#${m}`,
      ["core/payouts-operator.test.ts", "test/operator-voucher-route.test.ts"],
    ]),
  ),
  "functions/http/issue-operator-voucher.ts": ["test/operator-voucher-route.test.ts", "functions/http/issue-operator-voucher.test.ts"],
  // the cancel suites: the core's (who, once, the worker told, the refund or settlement after) and the route's
  "core/jobs/cancel.ts": ["core/jobs/cancel*.test.ts", "test/cancel-route.test.ts"],
  "core/ledger.ts": [
    "core/ledger.test.ts",
    "core/ledger-ops.test.ts",
    "core/withdrawals.test.ts",
    "core/payouts.test.ts",
    "core/chain/*.test.ts",
    "events/money.test.ts",
    ...JOB_TESTS,
  ],
  "core/auth.ts": ["core/auth.test.ts", "core/crypto/request-auth*.test.ts"],
  "core/crypto/padding.ts": ["core/crypto/padding.test.ts", "test/privacy-lengths.test.ts"],
  "core/crypto/request-auth.ts": ["core/crypto/request-auth*.test.ts", "core/auth.test.ts"],
  "core/crypto/receipt.ts": ["core/crypto/receipt*.test.ts", "core/jobs/results.test.ts", "client/sdk.test.ts"],
  "core/payouts.ts": ["core/payouts*.test.ts", "test/idempotency-concurrency.test.ts", "test/operator-voucher-route.test.ts"],
  "core/withdrawals.ts": ["core/withdrawals*.test.ts", "test/idempotency-concurrency.test.ts"],
  // withdrawals*.test.ts: the withdrawal-after-release alert is raised from a released reservation (core/withdrawals.ts)
  "core/chain/watcher.ts": ["core/chain/*.test.ts", "core/withdrawals*.test.ts"],
  "client/sdk.ts#checkCompletedJob": ["client/sdk*.test.ts"],
  // the AWS reader's walk of the vault's history (session 22: walked once, kept, resumed; session
  // 23: durable in the store, no request over toncenter's 100), method by method
  ...Object.fromEntries(
    ["getVaultTransactions", "pageAbove", "walkDown", "topAbove", "readPage"].map((m) => [
      `functions/adapters/ton-vault-tx.ts#${m}`,
      VAULT_READER_TESTS,
    ]),
  ),
  // the walk's durable progress (session 23): its store, and the reader and the watcher Lambda that resume it
  "core/chain/vault-walk.ts": [
    "core/chain/vault-walk*.test.ts",
    "functions/adapters/ton-vault-backlog.test.ts",
    "functions/schedule/chain-watcher-edges.test.ts",
  ],
  // `cocoon withdraw` (session 23): the saved Idempotency-Key, resumes, the unfinished-withdrawal refusal
  "client/commands/withdraw.ts#withdrawCommand": ["client/commands/withdraw*.test.ts", "test/cli-money-withdraw.test.ts"],
  "functions/adapters/ton-vault-tx.ts#normalizeVaultTx": [
    "functions/adapters/ton-vault-tx.test.ts",
    // the rules one by one: the differential tests above read a wrong rule the same on both sides
    "functions/adapters/ton-vault-tx-rules.test.ts",
    "functions/adapters/ton-chain*.test.ts",
    "functions/adapters/toncenter-client.test.ts",
    "core/chain/*.test.ts",
    "contracts/vault*.test.ts",
  ],
  "client/relay-sqs.ts": ["client/relay-sqs.test.ts"],
  "functions/adapters/relay-sqs.ts": ["functions/adapters/relay-sqs.test.ts", "functions/adapters/relay-sessions.test.ts"],
  "core/crypto/session-auth.ts": ["core/crypto/session-auth*.test.ts", "core/auth.test.ts", "core/crypto/request-auth*.test.ts"],
  "core/relay-access.ts": ["core/relay-access*.test.ts", "core/relay-memory.test.ts", "core/jobs/dispatch-relay.test.ts"],
  "core/receipts/merkle.ts": ["core/receipts/*.test.ts", "functions/schedule/anchor.test.ts"],
  "core/receipts/proof.ts": ["core/receipts/*.test.ts", "functions/schedule/anchor.test.ts"],
  "core/receipts/log.ts": ["core/receipts/*.test.ts", "functions/schedule/anchor.test.ts", ...JOB_TESTS],
  "core/receipts/anchor.ts": ["core/receipts/*.test.ts", "functions/schedule/anchor.test.ts"],
  "core/chain/store-ledger.ts": [
    "core/chain/*.test.ts",
    "core/withdrawals*.test.ts",
    "core/payouts*.test.ts",
    "functions/schedule/chain-watcher.test.ts",
  ],
  "core/crypto/reply-stream.ts": [
    "core/crypto/reply-stream*.test.ts",
    "client/reply.test.ts",
    "agent/execute.test.ts",
    "test/stream-ttft.test.ts",
  ],
  // test/stream.test.ts and client/serve.test.ts: the StreamVerifier against relayed chunks (gaps, reorders, mismatches)
  "client/reply.ts": [
    "client/reply*.test.ts",
    "client/sdk*.test.ts",
    "core/jobs/results-large.test.ts",
    "test/stream.test.ts",
    "client/serve.test.ts",
  ],
  "core/crypto/envelope.ts": ["core/crypto/*.test.ts", "client/reply.test.ts", "agent/execute.test.ts"],
  "core/policy-registry.ts": [
    "core/policy-registry*.test.ts",
    "core/policy-enforcement.test.ts",
    "core/jobs/prepare-registry.test.ts",
    "client/sdk-registry.test.ts",
    "agent/registry-policy.test.ts",
  ],
  "core/challenges.ts": [
    "core/challenges*.test.ts",
    "core/registration.test.ts",
    "core/jobs/poll-lease-edges.test.ts",
    "core/workers*.test.ts",
  ],
  "core/workers.ts": ["core/workers*.test.ts", "core/registration.test.ts", "core/challenges.test.ts", "core/offer-sharding.test.ts"],
  "core/chain/dedup.ts": ["core/chain/*.test.ts", "functions/schedule/chain-watcher.test.ts", "core/withdrawals.test.ts"],
  "core/receipts/anchoring.ts": ["core/receipts/*.test.ts", "functions/schedule/anchor.test.ts", "bench/anchoring.test.ts"],
  "core/store-rules.ts": [
    "local/store*.test.ts",
    "core/store-rules*.test.ts",
    "functions/adapters/dynamo-store.test.ts",
    "core/jobs/results-large.test.ts",
  ],
  "client/tab-keeper.ts": ["client/tab-keeper.test.ts", "test/sdk-tabs.test.ts", "test/serve-tabs.test.ts", "core/jobs/tabs*.test.ts"],
  "functions/http/middleware.ts": [
    "functions/http/middleware.test.ts",
    "test/edge.test.ts",
    "test/handlers.test.ts",
    "test/handler-fuzz.test.ts",
    "test/auth-e2e.test.ts",
  ],
  // not every crypto suite: the 65,537-chunk stream tests cover every signing call and make a run take an hour
  "core/crypto/keys.ts": [
    "core/crypto/keys*.test.ts",
    "core/crypto/hpke.test.ts",
    "core/crypto/request-auth*.test.ts",
    "core/crypto/session-auth*.test.ts",
    "core/crypto/receipt-format.test.ts",
    "api-client/api.test.ts",
  ],
  "agent/execute.ts": ["agent/execute*.test.ts", "agent/relay.test.ts"],
  "functions/adapters/dynamo-store.ts": ["functions/adapters/dynamo-*.test.ts", "core/store-rules*.test.ts"],
  ...Object.fromEntries(["tcb", "verify", "x509", "quote", "signatures"].map((f) => [`core/attestation/tdx/${f}.ts`, ATTESTATION_TESTS])),
  "core/attestation/verify.ts": ATTESTATION_TESTS,
  "core/attestation/policy.ts": [...ATTESTATION_TESTS, "core/policy-registry*.test.ts"],
  "core/attestation/tdx/der.ts": ATTESTATION_TESTS,
  "core/attestation/tdx/cache.ts": ATTESTATION_TESTS,
  "functions/adapters/ton-boc.ts": TON_ADAPTER_TESTS,
  // the whole file is ~950 mutants (over an hour here): its BOC parser, what reads toncenter's answers, alone
  "functions/adapters/ton-boc.ts#parseBoc": TON_ADAPTER_TESTS,
  "functions/adapters/ton-cells.ts": TON_ADAPTER_TESTS,
  "functions/adapters/ton-wallet-v5.ts": ["functions/adapters/ton-wallet-v5*.test.ts", "functions/adapters/toncenter-*.test.ts"],
  "local/store-semantics.ts": ["local/store*.test.ts", "local/memory-store*.test.ts", "core/store-rules*.test.ts"],
  // not the 65,537-chunk stream suites (an hour a run)
  "core/crypto/encoding.ts": [
    "core/crypto/encoding*.test.ts",
    "core/crypto/envelope*.test.ts",
    "core/crypto/request-auth*.test.ts",
    "core/crypto/receipt*.test.ts",
  ],
  "functions/adapters/relay-sessions.ts": ["functions/adapters/relay-sessions*.test.ts", "functions/adapters/relay-sqs*.test.ts"],
  "core/relay-memory.ts": ["core/relay-memory*.test.ts", "core/relay-access*.test.ts"],
  "local/queues.ts": ["local/queues*.test.ts", "local/sqs-consumer*.test.ts", "local/replay-guard*.test.ts"],
  "core/crypto/hpke.ts": ["core/crypto/hpke*.test.ts", "core/crypto/envelope*.test.ts", "core/crypto/keys*.test.ts"],
  "functions/adapters/ton-tx.ts": [...TON_ADAPTER_TESTS, "functions/adapters/ton-tx*.test.ts"],
  "core/attestation/tdx/prepare-collateral.ts": ATTESTATION_TESTS,
  "core/attestation/tdx/collateral.ts": ATTESTATION_TESTS,
  "core/attestation/rate-limit.ts": ["core/attestation/rate-limit*.test.ts", "core/registration*.test.ts", "core/challenges*.test.ts"],
  "local/store-lmdb.ts": ["local/store*.test.ts", "core/store-rules*.test.ts"],
  "agent/relay.ts": ["agent/relay*.test.ts", "agent/execute*.test.ts"],
  "functions/adapters/toncenter-client.ts": ["functions/adapters/toncenter-*.test.ts", "functions/adapters/ton-wallet-v5*.test.ts"],
  "api-client/money.ts": ["api-client/money*.test.ts"],
  "agent/sources/sqs.ts": ["agent/sources/sqs*.test.ts"],
  "agent/engines/openai-http.ts": ["agent/engines/openai-http*.test.ts"],
  "functions/adapters/sqs-queues.ts": ["functions/adapters/sqs-queues*.test.ts"],
  "functions/adapters/ton-chain.ts": ["functions/adapters/ton-chain*.test.ts", "functions/schedule/chain-watcher*.test.ts"],
  "functions/schedule/chain-watcher.ts": ["functions/schedule/chain-watcher*.test.ts"],
  "functions/config.ts": [
    "functions/config*.test.ts",
    "functions/adapters/aws-config*.test.ts",
    "functions/adapters/aws-core-deps*.test.ts",
  ],
  "local/sqs-consumer.ts": ["local/sqs-consumer*.test.ts", "local/queues*.test.ts"],
  "client/serve/chat-completions.ts": SERVE_TESTS,
  "client/serve/responses.ts": SERVE_TESTS,
  "client/serve/answer.ts": SERVE_TESTS,
  "client/serve/completions.ts": SERVE_TESTS,
  "client/serve/errors.ts": SERVE_TESTS,
  "client/serve/capabilities.ts": SERVE_TESTS,
  "agent/metrics.ts": ["agent/observability*.test.ts", "agent/metrics*.test.ts"],
  "agent/runtime.ts": AGENT_RUNTIME_TESTS,
  "agent/backoff.ts": ["agent/backoff.test.ts"],
  "agent/instance-lock.ts": ["agent/instance-lock*.test.ts"],
  "client/journal.ts": ["client/journal*.test.ts", "client/cli-jobs.test.ts"],
  "api-client/durable-file.ts": ["api-client/durable-file.test.ts", "agent/config.test.ts"],
  "stacks/deploy.ts": ["stacks/deploy*.test.ts"],
  "agent/model-file.ts": ["agent/model-file.test.ts", "agent/cli-keys.test.ts"],
  "agent/engines/engine.ts#engineSeed": ["agent/engines/engine-seed.test.ts", "agent/execute-edges.test.ts"],
  // the fresh-evidence suites: the SDK's (stubbed API) and the one against a local network
  ...Object.fromEntries(
    ["challenge", "freshCandidates", "defaultTiers"].map((m) => [
      `client/sdk.ts#${m}`,
      ["client/sdk*.test.ts", "test/fresh-attestation.test.ts"],
    ]),
  ),
  ...Object.fromEntries(
    [
      "limitsOf",
      "requestPlaintextOf",
      "requestTextOf",
      "refuseOversized",
      "sealableRequestOf",
      "keptCandidates",
      "checkQuoteFees",
      "verifyCandidates",
      "fromKeptQuote",
      "renewalDue",
      "checkWithdrawal",
    ].map((m) => [`client/sdk.ts#${m}`, SDK_TESTS]),
  ),
};
const DEFAULT_TESTS = JOB_TESTS;

const REPORTS = "reports/mutation";
const reportPath = (spec: string) => join(REPORTS, spec.replace(/[\\/]/g, "__").replace("#", "--").replace(/\.ts$/, "") + ".json");
const fileOf = (spec: string) => spec.split("#")[0]!;

/**
 * "file#fn" → "file:start-end", the lines of `function fn(` up to the first "}" alone on a line
 * after it (found when the run starts, so edits elsewhere in the file do not shift it).
 */
function mutateSpec(spec: string): string {
  const [file, fn] = spec.split("#");
  if (!fn) return spec;
  const lines = readFileSync(file!, "utf8").split("\n");
  // a top-level `function fn(` or a class method `  [private] [async] fn(`, up to the "}" at its indent
  const head = new RegExp(`^(\\s*)(?:export )?(?:(?:async )?function\\*? ${fn}\\(|(?:(?:private|public|static|async) )*${fn}\\()`);
  const start = lines.findIndex((l) => head.test(l));
  if (start < 0) throw new Error(`${spec}: no function or method ${fn} in ${file}`);
  const indent = head.exec(lines[start]!)![1]!;
  const end = lines.findIndex((l, i) => i > start && l === `${indent}}`);
  return `${file}:${start + 1}-${end + 1}`;
}
const runLog = join(REPORTS, "runs.json");

interface Mutant {
  id: string;
  mutatorName: string;
  replacement?: string;
  status: "Killed" | "Survived" | "NoCoverage" | "Timeout" | "CompileError" | "RuntimeError" | "Ignored" | "Pending";
  location: { start: { line: number; column: number }; end: { line: number; column: number } };
}
interface Report {
  files: Record<string, { source: string; mutants: Mutant[] }>;
}
interface RunRecord {
  file: string;
  finished: boolean;
  seconds: number;
  at: string;
}

interface FileScore {
  file: string;
  killed: number;
  timeout: number;
  survived: number;
  noCoverage: number;
  errors: number;
  /** (killed + timeout) / (killed + timeout + survived + noCoverage), in percent */
  score: number;
  survivors: Array<{ line: number; column: number; mutator: string; original: string; replacement: string }>;
}

/** Score and survivors of one file's report (Stryker's definition: errors do not count either way). */
function scoreReport(file: string, report: Report): FileScore | undefined {
  const entry = Object.entries(report.files).find(([p]) => p.replace(/\\/g, "/").endsWith(fileOf(file)));
  if (!entry) return undefined;
  const [, { source, mutants }] = entry;
  const lines = source.split("\n");
  const count = (s: Mutant["status"]) => mutants.filter((m) => m.status === s).length;
  const killed = count("Killed");
  const timeout = count("Timeout");
  const survived = count("Survived");
  const noCoverage = count("NoCoverage");
  const errors = count("CompileError") + count("RuntimeError");
  const valid = killed + timeout + survived + noCoverage;
  const survivors = mutants
    .filter((m) => m.status === "Survived" || m.status === "NoCoverage")
    .sort((a, b) => a.location.start.line - b.location.start.line || a.location.start.column - b.location.start.column)
    .map((m) => {
      const { start, end } = m.location;
      const original =
        start.line === end.line
          ? lines[start.line - 1]!.slice(start.column - 1, end.column - 1)
          : `${lines[start.line - 1]!.slice(start.column - 1)} …`;
      return {
        line: start.line,
        column: start.column,
        mutator: m.status === "NoCoverage" ? `${m.mutatorName} (no test reaches it)` : m.mutatorName,
        original,
        replacement: m.replacement ?? "",
      };
    });
  return { file, killed, timeout, survived, noCoverage, errors, score: valid ? (100 * (killed + timeout)) / valid : 100, survivors };
}

const oneLine = (s: string, max = 70) => {
  const t = s.replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
};

function readRuns(): RunRecord[] {
  return existsSync(runLog) ? (JSON.parse(readFileSync(runLog, "utf8")) as RunRecord[]) : [];
}

function summarise(files: string[]): void {
  const runs = readRuns();
  const rows: string[] = [];
  for (const file of files) {
    const run = runs.filter((r) => r.file === file).at(-1);
    const path = reportPath(file);
    if (!existsSync(path)) {
      rows.push(
        `| ${file} | ${run && !run.finished ? `not finished (stopped after ${Math.round(run.seconds / 60)} min)` : "not run"} | | | | |`,
      );
      continue;
    }
    const s = scoreReport(file, JSON.parse(readFileSync(path, "utf8")) as Report);
    if (!s) {
      rows.push(`| ${file} | no mutants in report | | | | |`);
      continue;
    }
    rows.push(
      `| ${file} | ${s.score.toFixed(1)} % | ${s.killed + s.timeout} | ${s.survived} | ${s.noCoverage} | ${run ? `${Math.round(run.seconds)} s` : ""} |`,
    );
    if (s.survivors.length) {
      console.log(`\n${file}: ${s.survivors.length} surviving mutant(s)`);
      for (const m of s.survivors)
        console.log(`  ${file}:${m.line}:${m.column}  ${m.mutator}: ${oneLine(m.original, 60)}  →  ${oneLine(m.replacement, 60)}`);
    }
  }
  console.log("\n| file | score (killed) | killed + timed out | survived | no coverage | run time |\n|---|---|---|---|---|---|");
  for (const r of rows) console.log(r);
}

async function runOne(file: string, timeoutMin: number): Promise<RunRecord> {
  // a method spec (file#name) without tests of its own is run against its file's
  const tests = TESTS[file] ?? TESTS[fileOf(file)] ?? DEFAULT_TESTS;
  const started = Date.now();
  console.log(`\n=== ${file} (tests: ${tests.join(", ")})`);
  const child = spawn(process.execPath, ["scripts/stryker-run.mjs", mutateSpec(file)], {
    stdio: "inherit",
    env: { ...process.env, MUTATION_TESTS: tests.join(","), MUTATION_REPORT: reportPath(file) },
  });
  let stopped = false;
  const timer = setTimeout(() => {
    stopped = true;
    console.log(`\n${file}: still running after ${timeoutMin} min; stopping it (recorded as not finished)`);
    child.kill("SIGTERM");
  }, timeoutMin * 60_000);
  const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
  clearTimeout(timer);
  const record = { file, finished: !stopped && code === 0, seconds: (Date.now() - started) / 1000, at: new Date().toISOString() };
  if (!stopped && code !== 0) console.log(`${file}: stryker exited with ${code}`);
  return record;
}

async function main() {
  const args = process.argv.slice(2);
  const summaryOnly = args.includes("--summary");
  const t = args.indexOf("--timeout-min");
  const timeoutMin = t >= 0 ? Number(args[t + 1]) : 15;
  const named = args.filter((a, i) => !a.startsWith("--") && !(t >= 0 && i === t + 1));
  const files = named.length ? named : FILES;
  mkdirSync(REPORTS, { recursive: true });
  if (!summaryOnly) {
    for (const file of files) {
      const record = await runOne(file, timeoutMin);
      writeFileSync(runLog, JSON.stringify([...readRuns().filter((r) => r.file !== file), record], null, 2) + "\n");
    }
  }
  summarise(files);
}

await main();
