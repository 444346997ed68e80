/**
 * Scheduled function (EventBridge rate): one pass of the chain watcher. The logic lives in
 * core/chain/watcher.ts; this file only builds it from deps/config.
 *
 * Environment (besides the store's, via functions/deps.ts):
 *   COCOON_TON_ENDPOINT        toncenter JSON-RPC, e.g. https://toncenter.com/api/v2/jsonRPC
 *   COCOON_TON_API_KEY         optional toncenter key (a secret: on AWS COCOON_TON_API_KEY_PARAM may name its SSM SecureString)
 *   COCOON_TON_QUORUM_ENDPOINTS  optional, comma-separated: more toncenter-compatible JSON-RPC URLs of
 *                              other operators (each on its own host, none COCOON_TON_ENDPOINT's;
 *                              asked without the API key). Set, the watcher proceeds only on what
 *                              every endpoint agrees on (functions/adapters/toncenter-quorum.ts):
 *                              chain.endpoints-disagree (critical), chain.endpoint-down (warning)
 *   COCOON_VAULT_ADDRESS       the vault's address
 *   COCOON_ALERT_TOPIC_ARN     SNS topic (optional if Telegram is set)
 *   COCOON_TELEGRAM_BOT_TOKEN, COCOON_TELEGRAM_CHAT_ID   optional Telegram channel (the token a secret:
 *                              on AWS COCOON_TELEGRAM_BOT_TOKEN_PARAM may name its SSM SecureString)
 *   COCOON_CHAIN_LAG_SECONDS   lag alert threshold, default 600
 *   COCOON_ANCHOR_ADDRESS      optional: the ReceiptAnchor contract; each pass then also checks
 *                              the anchors against the coordinator's log (issue 15: anchor.overdue,
 *                              anchor.mismatch; core/receipts/anchoring.ts checkAnchors)
 *   COCOON_ANCHOR_OVERDUE_SECONDS  default 900 (three 300 s intervals)
 *   COCOON_REGISTRY_ADDRESS    optional: the PolicyRegistry contract; each pass then also reads its
 *                              policy and keeps it in the store, where the request routes read it
 *                              (issue 15, issue 12: core/policy-registry.ts publishPolicySnapshot;
 *                              the routes carry no TON client and refuse a reading older than their
 *                              bound, 503 policy_stale, so a watcher that stops reading stops them)
 */
import { z } from "zod";
import type { Alerts, Clock, Log, Store } from "../../core/ports";
import { fanoutAlerts, outboxAlerts, storeDedupAlerts } from "../../core/chain/dedup";
import type { ChainReader } from "../../core/chain/ports";
import { createChainLedger } from "../../core/chain/store-ledger";
import { StoreVaultWalk } from "../../core/chain/vault-walk";
import { runWatcher, type WatcherReport } from "../../core/chain/watcher";
import { checkAnchors, type AnchorCheckReport } from "../../core/receipts/anchoring";
import { StoreAnchorLog } from "../../core/receipts/log";
import type { AnchorReader } from "../../core/receipts/proof";
import { publishPolicySnapshot, type PolicySource } from "../../core/policy-registry";
import { depsOnce } from "./deps-once";
import { TonEndpoint } from "../../events/common";
import { SECRET_FIELDS, tonAddressField } from "../env-fields";

export interface ChainWatcherDeps {
  store: Store;
  clock: Clock;
  log: Log;
  /**
   * The chain, or what builds it for a pass from the pass's alerts (deduplicated and kept like the
   * watcher's): the quorum reader raises its own (toncenter-quorum.ts).
   */
  reader: ChainReader | ((alerts: Alerts) => ChainReader);
  /**
   * The vault `reader` reads (raw "wc:hex"): each pass binds the store to it, and refuses a store
   * bound to another vault (chain.vault-changed; core/chain/vault-binding.ts). Required, as
   * runWatcher's: deps built without it would run the watcher unbound.
   */
  vault: string;
  /** raw channels; the handler deduplicates them through the store */
  alerts: Alerts;
  lagThresholdSeconds?: number;
  dedupWindowMs?: number;
  pageSize?: number;
  maxPages?: number;
  /** issue 15: the anchor contract's getter; when set each pass checks the anchors too */
  anchorReader?: AnchorReader;
  anchorOverdueSeconds?: number;
  /** issue 15: the policy registry to read each pass and keep in the store for the request routes */
  policy?: { registry: string; source: PolicySource };
}

/** What a pass did with the registry's policy: the reading stored (or already there), or why none was. */
export type PolicySnapshotReport = { version: number; readAt: number; written: boolean } | { error: string };

/** The watcher's report as JSON (bigints as decimal strings), less the cursor. */
export type ChainWatcherSummary = Omit<WatcherReport, "cursor" | "vaultBalance" | "liabilities"> & {
  vaultBalance: string | null;
  liabilities: string | null;
  anchors?: AnchorCheckReport;
  policy?: PolicySnapshotReport;
};

export function summarize({ cursor: _cursor, vaultBalance, liabilities, ...rest }: WatcherReport): ChainWatcherSummary {
  return { ...rest, vaultBalance: vaultBalance?.toString() ?? null, liabilities: liabilities?.toString() ?? null };
}

export function makeChainWatcherHandler(deps: ChainWatcherDeps | (() => Promise<ChainWatcherDeps>)) {
  const built = depsOnce(deps);
  return async (): Promise<ChainWatcherSummary> => {
    const d = await built();
    const deduped = storeDedupAlerts(d.alerts, d.store, d.dedupWindowMs ?? 30 * 60_000, d.clock);
    // A channel that fails never stops the pass (the deposits after the transaction that raised
    // would go uncredited): the watcher's and the anchor check's alerts are kept in the store and
    // sent again first thing in later passes.
    const alerts = outboxAlerts(deduped, d.store, d.clock, d.log);
    await alerts
      .flush()
      .catch((e: unknown) => d.log.error("alert outbox not flushed", { error: e instanceof Error ? e.message : String(e) }));
    // First and on its own: a pass that fails below still keeps the routes' policy fresh. (Its
    // alert is raised again by every pass while the registry is unreadable: not kept.)
    const policy = d.policy ? await refreshPolicy(d.store, d.policy, deduped, d.log) : undefined;
    const report = await runWatcher({
      reader: typeof d.reader === "function" ? d.reader(alerts) : d.reader,
      // the same ledger construction as the local default (redemptions drain vch:<id>)
      ledger: createChainLedger(d.store),
      alerts,
      now: () => d.clock.now(),
      lagThresholdSeconds: d.lagThresholdSeconds ?? 600,
      pageSize: d.pageSize,
      maxPages: d.maxPages,
      vault: d.vault,
    });
    const summary: ChainWatcherSummary = { ...summarize(report), ...(policy ? { policy } : {}) };
    if (d.anchorReader) {
      summary.anchors = await checkAnchors({
        log: new StoreAnchorLog(d.store),
        reader: d.anchorReader,
        alerts,
        now: () => d.clock.now(),
        overdueSeconds: d.anchorOverdueSeconds ?? 900,
      });
    }
    d.log.info("chain watcher pass", { ...summary });
    return summary;
  };
}

/**
 * Reads the registry and stores the reading for the request routes. A failed read is alerted
 * (once per dedup window) and reported, not thrown: the routes keep acting on the stored reading
 * until it is older than their bound, then refuse (503 policy_stale) until a read succeeds.
 */
async function refreshPolicy(
  store: Store,
  p: NonNullable<ChainWatcherDeps["policy"]>,
  alerts: Alerts,
  log: Log,
): Promise<PolicySnapshotReport> {
  try {
    const reading = await p.source.read();
    const written = await publishPolicySnapshot(store, p.registry, reading);
    return { version: reading.version, readAt: reading.readAt, written };
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    log.error("policy registry read failed", { registry: p.registry, error });
    // An alert channel that fails (SNS throttled, a revoked bot token) must not stop the pass:
    // the watcher, which credits deposits, runs after this.
    await alerts
      .raise({
        key: "policy.read_failed",
        severity: "warning",
        title:
          "The policy registry could not be read: the routes that register and match workers refuse (503) once the stored reading is too old",
        details: { registry: p.registry, error },
      })
      .catch((a: unknown) => log.error("policy.read_failed alert not sent", { error: a instanceof Error ? a.message : String(a) }));
    return { error };
  }
}

/** A threshold in whole seconds; checked at deploy too (stacks/Cocoon.ts checkDeployerEnv), so the message names the unit. */
const seconds = (fallback: number) =>
  z.coerce
    .number("must be a whole number of seconds")
    .int("must be a whole number of seconds")
    .positive("must be a whole number of seconds above 0")
    .default(fallback);

/**
 * COCOON_TON_QUORUM_ENDPOINTS: the other endpoints of the quorum, comma-separated, each a
 * TonEndpoint. Each on a host of its own, COCOON_TON_ENDPOINT's included: two URLs of one
 * operator are one witness, not two.
 */
const QuorumEndpoints = z
  .string()
  .transform((s) =>
    s
      .split(",")
      .map((u) => u.trim())
      .filter((u) => u !== ""),
  )
  .pipe(z.array(TonEndpoint));

export const ChainEnv = z.object({
  COCOON_TON_ENDPOINT: TonEndpoint,
  COCOON_TON_QUORUM_ENDPOINTS: QuorumEndpoints.optional(),
  COCOON_TON_API_KEY: SECRET_FIELDS.COCOON_TON_API_KEY.optional(),
  COCOON_VAULT_ADDRESS: tonAddressField("the vault's"),
  COCOON_ALERT_TOPIC_ARN: z.string().optional(),
  COCOON_TELEGRAM_BOT_TOKEN: SECRET_FIELDS.COCOON_TELEGRAM_BOT_TOKEN.optional(),
  COCOON_TELEGRAM_CHAT_ID: z.string().optional(),
  COCOON_CHAIN_LAG_SECONDS: seconds(600),
  COCOON_ANCHOR_ADDRESS: tonAddressField("the ReceiptAnchor contract's").optional(),
  COCOON_ANCHOR_OVERDUE_SECONDS: seconds(900),
  COCOON_REGISTRY_ADDRESS: tonAddressField("the PolicyRegistry contract's").optional(),
});

/**
 * Why the quorum's endpoints are not independent (a host named twice, COCOON_TON_ENDPOINT's
 * included: two URLs of one operator are one witness, not two); null when they are. Checked at
 * cold start (with ChainEnv) and at deploy (stacks/Cocoon.ts), where ChainEnv is read field by field.
 */
export function quorumHostClash(e: { COCOON_TON_ENDPOINT?: string; COCOON_TON_QUORUM_ENDPOINTS?: string[] }): string | null {
  const urls = [...(e.COCOON_TON_ENDPOINT ? [e.COCOON_TON_ENDPOINT] : []), ...(e.COCOON_TON_QUORUM_ENDPOINTS ?? [])];
  const hosts = urls.map((u) => new URL(u).host);
  const again = hosts.find((h, i) => hosts.indexOf(h) !== i);
  return again === undefined
    ? null
    : `names ${again} twice (COCOON_TON_ENDPOINT included): each endpoint of the quorum must be another operator's, on a host of its own`;
}

/** ChainEnv as the Lambda reads it, its endpoints independent. */
const ChainLambdaEnv = ChainEnv.superRefine((e, ctx) => {
  const clash = quorumHostClash(e);
  if (clash) ctx.addIssue({ code: "custom", path: ["COCOON_TON_QUORUM_ENDPOINTS"], message: clash });
});

/**
 * Lambda entry: AWS deps + toncenter + SNS/Telegram, built once per cold start. No TON library
 * in the bundle (issue 12): toncenter over fetch, its BOCs read by functions/adapters/ton-boc.ts
 * and ton-tx.ts, the getters decoded by ton-getters.ts, each checked against @ton/core in its
 * tests; the vault's history is read by the same normalizeVaultTx as the local default's, its
 * walk down toncenter's newest-first pages kept in the store (core/chain/vault-walk.ts).
 */
export async function lambdaChainWatcherDeps(): Promise<ChainWatcherDeps> {
  // the toncenter key and the alert bot's token from their SSM parameters where the stack names
  // them (COCOON_TON_API_KEY_PARAM, COCOON_TELEGRAM_BOT_TOKEN_PARAM), read once per container
  const { loadLambdaEnv } = await import("../secrets");
  const env = ChainLambdaEnv.parse(await loadLambdaEnv());
  const [
    { lambdaSecretDeps },
    { ToncenterClient },
    { parseTonAddress, rawAddress },
    { SNSClient },
    { VaultHistoryReader },
    { SnsAlerts },
    { TelegramAlerts },
    { ToncenterAnchorReader, ToncenterPolicySource },
    { ChainCheckedHistory },
    { QuorumChainReader, endpointName, toncenterMember },
  ] = await Promise.all([
    import("../deps-secrets"),
    import("../adapters/toncenter-client"),
    import("../adapters/ton-cells"),
    import("@aws-sdk/client-sns"),
    import("../adapters/ton-vault-tx"),
    import("../adapters/sns-alerts"),
    import("../adapters/telegram-alerts"),
    import("../adapters/ton-getters"),
    import("../adapters/toncenter-chain-check"),
    import("../adapters/toncenter-quorum"),
  ]);
  // the store's config from the same read: lambdaDeps' (the bare environment) would refuse the
  // toncenter key's `_PARAM` as not read (functions/config.ts)
  const core = await lambdaSecretDeps();
  const channels: Alerts[] = [];
  if (env.COCOON_ALERT_TOPIC_ARN) channels.push(new SnsAlerts(new SNSClient({}), env.COCOON_ALERT_TOPIC_ARN));
  if (env.COCOON_TELEGRAM_BOT_TOKEN && env.COCOON_TELEGRAM_CHAT_ID) {
    channels.push(new TelegramAlerts({ token: env.COCOON_TELEGRAM_BOT_TOKEN, chatId: env.COCOON_TELEGRAM_CHAT_ID }));
  }
  // toncenter over fetch: TonClient's calls and decoding without axios or @ton/core (issue 12)
  const client = new ToncenterClient({ endpoint: env.COCOON_TON_ENDPOINT, apiKey: env.COCOON_TON_API_KEY });
  const vault = parseTonAddress(env.COCOON_VAULT_ADDRESS);
  // Every page of the history checked to be one chain of the vault's (toncenter-chain-check.ts). The
  // walk down it is kept in the store: a cold start resumes it (a flood of vault transactions
  // longer than one pass walks cannot stall the watcher; ton-vault-tx.ts).
  const primary = new VaultHistoryReader(new ChainCheckedHistory(client), vault, {
    walk: new StoreVaultWalk(core.store, () => core.clock.now()),
    // toncenter's sync time: a pass vouches for no more of the chain than toncenter has seen,
    // so a lagging toncenter cannot get a landed withdrawal released as expired
    chainState: () => client.getContractState(vault),
  });
  let reader: ChainWatcherDeps["reader"] = primary;
  const others = env.COCOON_TON_QUORUM_ENDPOINTS ?? [];
  if (others.length > 0) {
    // The quorum: each other endpoint with its own client (no API key: it is toncenter's), its
    // own checked history and its walk in this container's memory (the store holds one walk).
    const members = [
      toncenterMember(endpointName(env.COCOON_TON_ENDPOINT, 0), client, vault, primary),
      ...others.map((endpoint, i) => {
        const c = new ToncenterClient({ endpoint });
        return toncenterMember(endpointName(endpoint, i + 1), c, vault, new VaultHistoryReader(new ChainCheckedHistory(c), vault));
      }),
    ];
    reader = (alerts) => new QuorumChainReader(members, { alerts });
  }
  return {
    store: core.store,
    clock: core.clock,
    log: core.log,
    vault: rawAddress(vault),
    reader,
    alerts: fanoutAlerts(channels),
    lagThresholdSeconds: env.COCOON_CHAIN_LAG_SECONDS,
    ...(env.COCOON_ANCHOR_ADDRESS
      ? {
          anchorReader: new ToncenterAnchorReader(client, parseTonAddress(env.COCOON_ANCHOR_ADDRESS)),
          anchorOverdueSeconds: env.COCOON_ANCHOR_OVERDUE_SECONDS,
        }
      : {}),
    ...(env.COCOON_REGISTRY_ADDRESS
      ? {
          policy: {
            registry: env.COCOON_REGISTRY_ADDRESS,
            source: new ToncenterPolicySource(client, parseTonAddress(env.COCOON_REGISTRY_ADDRESS)),
          },
        }
      : {}),
  };
}
export const handler = makeChainWatcherHandler(lambdaChainWatcherDeps);
