import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "node:http";
import { DEFAULT_CORE_CONFIG, type CoreConfig } from "../core/config";
import type { CoreDeps } from "../core/deps";
import { localPolicy } from "../core/attestation/policy";
import type { Alert, Clock, Log, Store } from "../core/ports";
import { dedupAlerts } from "../core/chain/dedup";
import { createChainLedger, type StoreChainLedger } from "../core/chain/store-ledger";
import { runWatcher, type WatcherReport } from "../core/chain/watcher";
import { CocoonError } from "../core/errors";
import { operatorKeyId, type PayoutDeps } from "../core/payouts";
import { DEPOSIT_FEE, MIN_DEPOSIT } from "../contracts/vault";
import { InvalidVoucherError, voucherFromJson } from "../functions/adapters/ton-chain";
import { InvalidWithdrawalError, tonWithdrawalSigner, withdrawalFromJson } from "../functions/adapters/ton-withdrawal-signer";
import type { WithdrawalDeps } from "../core/withdrawals";
import type { DevChain, DevChainDeps } from "../functions/http/dev-wallet";
import { chainFaucet, devChainRoutes, httpRelayRoutes, routes } from "../functions/http/routes";
import { createMemoryRelay } from "../core/relay-memory";
import type { RelayPort, WithRelay } from "../core/relay";
import { startLocalChain, type LocalChain, type LocalChainOptions } from "./chain";
import { route as openapiRoute } from "../functions/http/openapi";
import { routeDirectoryRoute } from "../functions/http/route-directory";
import { matchingHandler } from "../functions/queue/matching";
import { recoverAssignedJobs } from "../core/recovery";
import { redriveMatching, type RedriveReport } from "../core/jobs/redrive";
import { startHttpServer } from "./http-server";
import { createJsonLog } from "./log";
import { createLocalNotifier } from "./notifier";
import { createMemoryReplayGuard } from "./replay-guard";
import { storeReplayGuard } from "../core/auth";
import { createLocalQueues, startConsumer, type LocalQueues } from "./queues";
import { openLmdbStore, type LmdbStore } from "./store-lmdb";
// ---- issue 15: receipt anchoring and the policy registry
import { StoreAnchorLog, withMovementLog } from "../core/receipts/log";
import { LOCAL_POLICY_CACHE, PolicyCache, seedRegistryPolicy } from "../core/policy-registry";
import type { DevContractsDeps } from "../functions/http/dev-contracts";
import { startLocalAnchoring, type LocalAnchoring } from "./anchoring";
import { devContractsFor, startLocalContracts, type LocalContracts } from "./contracts";

export interface NetworkOptions {
  /**
   * Where the embedded store keeps its files (kept after stop(): a restart reopens it). Omitted: a
   * fresh temp dir that stop() removes once the store is closed.
   */
  dataDir?: string;
  port?: number;
  config?: Partial<CoreConfig>;
  /** Where coordinator log lines go (JSON lines). Default: dropped. */
  logSink?: (line: string) => void;
  /** Swap the store (tests of other adapters). */
  store?: Store;
  /**
   * The TON sandbox with the vault (default on). `false` skips it (about 0.5 s of startup):
   * then the dev faucet is the ledger-only one and payouts/dev wallet routes are off.
   * The sandbox is saved to `<dataDir>/chain.json` and loaded back on the next start.
   */
  chain?: boolean | Omit<LocalChainOptions, "stateFile">;
  /** How often the chain watcher looks for new vault transactions (ms, default 500; 0: only runWatcherOnce). */
  watcherIntervalMs?: number;
  /** The relay streamed answers travel through (default: in-process, core/relay-memory.ts); tests pass a faulty one. */
  relay?: RelayPort;
  /** issue 15: receipt anchoring beside the watcher (needs the chain). `false` turns it off; tickMs 0: only runAnchoringOnce. */
  anchoring?: false | { tickMs?: number; intervalSeconds?: number; overdueSeconds?: number };
  /** issue 15: the sandbox's PolicyRegistry as the coordinator's allow-list (needs the chain). `false` turns it off. */
  policyRegistry?:
    | false
    | {
        timelockSeconds?: number;
        refreshSeconds?: number;
        maxAgeSeconds?: number;
        /** the operator fee of the registry's first policy (bps, default 0); a registry restored from its state file keeps its own */
        operatorFeeBps?: number;
      };
  /** How often the matching dead-letter queue is redriven (ms, default 15 min as on AWS; 0: only redriveOnce). */
  redriveIntervalMs?: number;
  /**
   * The operator's Ed25519 public key in hex, as COCOON_OPERATOR_KEY on AWS: the one key POST
   * /v1/operator/voucher pays the operator's fees to (needs the chain). Unset: that route answers 503.
   */
  operatorKey?: string;
}

export interface LocalNetwork {
  url: string;
  /**
   * What GET /v1/routes answers: routes that also answer at another URL (on AWS, their Lambda
   * function URLs). Empty here: every route answers at `url`. Tests put a second listener in.
   */
  routeUrls: Record<string, string>;
  deps: CoreDeps & PayoutDeps & WithdrawalDeps & DevChainDeps & WithRelay & DevContractsDeps;
  /** the relay the coordinator carries streamed chunks through (HTTP routes over an in-process buffer) */
  relay: RelayPort;
  /** the TON sandbox with the vault (undefined with `chain: false`) */
  chain: LocalChain | undefined;
  /** the ledger side of the chain watcher */
  chainLedger: StoreChainLedger;
  /** one chain watcher pass now, after any pass in progress (throws without a chain) */
  runWatcherOnce(): Promise<WatcherReport>;
  /** every alert the watcher raised (after dedup), oldest first */
  chainAlerts: Alert[];
  queues: LocalQueues;
  store: Store;
  server: Server;
  /** the store's folder; removed by stop() when startNetwork made it (no `dataDir` option) */
  dataDir: string;
  /** issue 15: the sandbox's ReceiptAnchor and PolicyRegistry (undefined without the chain) */
  contracts: LocalContracts | undefined;
  /** issue 15: the receipt and movement logs and their anchor batches */
  anchorLog: StoreAnchorLog;
  /** one anchoring pass now (cut, post, check), after any pass in progress (throws without anchoring) */
  runAnchoringOnce(): ReturnType<LocalAnchoring["runOnce"]>;
  /** one redrive of the matching dead-letter queue now (core/jobs/redrive.ts), as the scheduled function does on AWS */
  redriveOnce(): Promise<RedriveReport>;
  stop(): Promise<void>;
}

/** How often the local store removes expired items from its disk (reads skip them at once). */
export const PURGE_EVERY_MS = 3_600_000;

/** Local default coordinator config: dev attestation accepted, dev faucet on, short leases. */
export const LOCAL_CONFIG: Partial<CoreConfig> = {
  allowDevAttestation: true,
  allowTestImages: true,
  faucet: true,
  leaseBaseSeconds: 10,
  leaseMsPerToken: 20,
  heartbeatSeconds: 5,
  livenessMs: 15_000,
};

/**
 * The embedded coordinator: the real handlers over HTTP on 127.0.0.1, an LMDB store
 * (durable, transactional), in-process SQS-shaped queues and the matching consumer.
 */
export async function startNetwork(o: NetworkOptions = {}): Promise<LocalNetwork> {
  // A temp dir made here is ours to remove on stop(); a caller's dataDir is theirs to reopen.
  const ownDataDir = o.dataDir === undefined;
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), "cocoon-"));
  mkdirSync(dataDir, { recursive: true });
  const lmdb: LmdbStore | undefined = o.store ? undefined : await openLmdbStore(join(dataDir, "store"));
  // Every ledger movement also joins the movement log's inbox, in its own transaction (issue 15).
  const store = withMovementLog(o.store ?? lmdb!);
  const queues = createLocalQueues();
  // Without a sink the lines go nowhere: none is formatted (a JSON line and a timestamp, twice per job).
  const log: Log = o.logSink ? createJsonLog(o.logSink) : DROPPED_LOG;
  const chain =
    o.chain === false
      ? undefined
      : await startLocalChain({ ...(typeof o.chain === "object" ? o.chain : {}), stateFile: join(dataDir, "chain.json") });
  const chainLedger = createChainLedger(store); // the same construction as the Lambda's watcher
  const relay = o.relay ?? createMemoryRelay();
  const deps: CoreDeps & PayoutDeps & WithdrawalDeps & DevChainDeps & WithRelay & DevContractsDeps = {
    store,
    queues,
    notifier: createLocalNotifier(),
    clock: { now: () => Date.now() },
    log,
    // its own session secret: a session opened at one local network is refused by another, as between deployments
    config: { ...DEFAULT_CORE_CONFIG, ...LOCAL_CONFIG, sessionKey: randomBytes(32).toString("hex"), ...o.config },
    policy: localPolicy,
    // Nonces in memory; the store vouches only for requests that could straddle a restart (issue 9 #10).
    replay: createMemoryReplayGuard({ durable: storeReplayGuard(store) }),
    relay,
  };
  const watcher = chain ? startChainWatcher(chain, chainLedger, log, o.watcherIntervalMs ?? 500, deps.clock) : undefined;
  if (chain && watcher) {
    deps.voucherSigner = chain.voucherSigner;
    if (o.operatorKey) deps.operatorKeyId = operatorKeyId(o.operatorKey);
    deps.withdrawalSigner = tonWithdrawalSigner(chain.coordinator.secretKey, chain.vaultAddress, (account) =>
      chain.vault.getWithdrawSeqno(account),
    );
    deps.devChain = devChainFor(chain, watcher.runOnce);
    log.info("local TON sandbox up", { vault: chain.vaultAddress.toRawString(), restored: chain.restored });
  }
  // ---- issue 15: anchor + registry in the sandbox, the registry as the allow-list, the anchorer beside the watcher
  const anchorLog = new StoreAnchorLog(store);
  const contracts = chain
    ? await startLocalContracts(chain, {
        seed: seedRegistryPolicy({
          attestation: deps.policy,
          pricing: deps.config.pricing,
          coordinatorKey: Buffer.from(chain.coordinator.publicKey).toString("hex"),
          devImage: deps.config.allowDevAttestation,
          ...(o.policyRegistry && o.policyRegistry.operatorFeeBps !== undefined ? { operatorFeeBps: o.policyRegistry.operatorFeeBps } : {}),
        }),
        stateFile: join(dataDir, "contracts.json"),
        ...(o.policyRegistry ? { timelockSeconds: o.policyRegistry.timelockSeconds } : {}),
      })
    : undefined;
  if (contracts && o.policyRegistry !== false) {
    const p = o.policyRegistry ?? {};
    deps.policyRegistry = new PolicyCache(contracts.policySource, {
      refreshSeconds: p.refreshSeconds ?? LOCAL_POLICY_CACHE.refreshSeconds,
      maxAgeSeconds: p.maxAgeSeconds ?? LOCAL_POLICY_CACHE.maxAgeSeconds,
      now: deps.clock.now,
      onError: (e) => log.warn("policy registry read failed", { error: e instanceof Error ? e.message : String(e) }),
    });
  }
  const anchoring =
    contracts && watcher && o.anchoring !== false
      ? startLocalAnchoring({ log: anchorLog, contracts, alerts: watcher.sink, logger: log, now: deps.clock.now, ...(o.anchoring ?? {}) })
      : undefined;
  if (contracts) deps.devContracts = devContractsFor(contracts, { ...(deps.policyRegistry ? { policy: deps.policyRegistry } : {}) });
  const httpRoutes = [
    ...(chain
      ? [...routes.map((r) => (r.spec.path === chainFaucet.spec.path ? chainFaucet : r)), ...devChainRoutes]
      : [...routes, ...devChainRoutes]),
    ...httpRelayRoutes,
  ];
  const consumer = startConsumer(
    queues,
    "matching",
    matchingHandler(async () => deps),
    {
      batchSize: 10,
      visibilitySeconds: 30,
      maxReceiveCount: 5,
      concurrency: 4,
      // into the DLQ, as SQS's redrive policy does; the redrive below sends it back later
      deadLetter: async (m) => {
        log.error("matching message dead-lettered", { messageId: m.id });
        await queues.send("matching-dlq", JSON.parse(m.body));
      },
      onError: (e) => log.error("matching consumer error", { error: String(e) }),
    },
  );
  const routeUrls: Record<string, string> = {};
  const { server, url } = await startHttpServer({
    routes: [...httpRoutes, openapiRoute, routeDirectoryRoute(() => routeUrls)],
    deps,
    port: o.port ?? 0,
  });
  // Local queues live in memory and the store is the truth: after a restart every job still
  // assigned gets a fresh lease check, so it finishes or is refunded instead of hanging. A
  // caller's own store (the cost bench's metered one) starts empty: nothing to recover.
  if (lmdb) await recoverAssignedJobs(deps, lmdb.scan("jobs"));
  let redriving: Promise<RedriveReport> | undefined;
  const redriveOnce = async () => {
    while (redriving) await redriving.catch(() => undefined); // one run at a time, as the stack's reserved concurrency 1
    redriving = redriveMatching(deps);
    try {
      return await redriving;
    } finally {
      redriving = undefined;
    }
  };
  const redriveMs = o.redriveIntervalMs ?? 15 * 60_000;
  const redriveTimer =
    redriveMs > 0
      ? setInterval(() => void redriveOnce().catch((e: unknown) => log.error("matching redrive failed", { error: String(e) })), redriveMs)
      : undefined;
  redriveTimer?.unref();
  // An item past its ttl (a job's records past their retention, core/jobs/retention.ts; envelopes,
  // replies, nonces) reads as absent at once; this takes it off the disk too, as DynamoDB's TTL
  // deletes it within days: at start, then every PURGE_EVERY_MS, one run at a time.
  let purging: Promise<unknown> | undefined;
  const purge = () => {
    if (!lmdb || purging) return;
    purging = lmdb
      .purgeExpired()
      .catch((e: unknown) => log.error("expired items not purged", { error: String(e) }))
      .finally(() => (purging = undefined));
  };
  purge();
  const purgeTimer = lmdb ? setInterval(purge, PURGE_EVERY_MS) : undefined;
  purgeTimer?.unref();
  return {
    url,
    routeUrls,
    deps,
    relay,
    chain,
    chainLedger,
    chainAlerts: watcher?.alerts ?? [],
    runWatcherOnce() {
      if (!watcher) throw new Error("this network runs without the TON sandbox (chain: false)");
      return watcher.runOnce();
    },
    queues,
    store,
    server,
    dataDir,
    contracts,
    anchorLog,
    runAnchoringOnce() {
      if (!anchoring) throw new Error("this network runs without anchoring (chain: false or anchoring: false)");
      return anchoring.runOnce();
    },
    redriveOnce,
    async stop() {
      if (redriveTimer) clearInterval(redriveTimer);
      if (purgeTimer) clearInterval(purgeTimer);
      await redriving?.catch(() => undefined);
      await purging;
      await anchoring?.stop();
      await watcher?.stop();
      await consumer.stop();
      queues.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await lmdb?.close();
      if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The chain watcher of the local default: a pass whenever the sandbox executed new
 * transactions (checked every `intervalMs`; the sandbox only changes through transactions, so
 * an idle chain costs no store reads). Passes never overlap. Before each pass the sandbox is saved with the vault's
 * unprocessed transactions, so a crash leaves the chain ahead of the ledger (the next start
 * re-reads them), never behind it.
 */
function startChainWatcher(chain: LocalChain, ledger: StoreChainLedger, log: Log, intervalMs: number, clock: Clock) {
  const alerts: Alert[] = [];
  const sink = dedupAlerts(
    {
      async raise(a) {
        alerts.push(a);
        if (alerts.length > 1000) alerts.shift();
        (a.severity === "critical" ? log.error : a.severity === "warning" ? log.warn : log.info)(`chain alert: ${a.title}`, {
          alert: a.key,
          severity: a.severity,
          ...a.details,
        });
      },
    },
    10 * 60_000,
    { now: () => Date.now() },
  );
  let seen = -1;
  let stopped = false;
  let tail: Promise<unknown> = Promise.resolve();
  const pass = async (): Promise<WatcherReport> => {
    const count = chain.txCount();
    const before = await ledger.getCursor();
    if (count !== seen) chain.save(before ? BigInt(before.lt) : undefined);
    const report = await runWatcher({
      reader: chain.reader,
      ledger,
      alerts: sink,
      now: () => clock.now(), // the coordinator's clock: expiry releases compare against it
      lagThresholdSeconds: 120,
      vault: chain.vaultAddress.toRawString(), // a store kept from another sandbox vault is refused, never read on top of
    });
    if (report.processed > 0 && report.cursor) chain.save(BigInt(report.cursor.lt));
    seen = count;
    return report;
  };
  const runOnce = (): Promise<WatcherReport> => {
    const p = tail.then(pass);
    tail = p.catch(() => undefined);
    return p;
  };
  let busy = false;
  const timer =
    intervalMs > 0
      ? setInterval(() => {
          if (busy || stopped || chain.txCount() === seen) return;
          busy = true;
          runOnce()
            .catch((e) => log.error("chain watcher pass failed", { error: e instanceof Error ? e.message : String(e) }))
            .finally(() => (busy = false));
        }, intervalMs)
      : undefined;
  timer?.unref();
  return {
    alerts,
    /** the same deduplicating sink, for the anchorer's alerts (issue 15) */
    sink,
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await tail;
      const c = await ledger.getCursor().catch(() => null);
      chain.save(c ? BigInt(c.lt) : undefined);
    },
  };
}

/** The coordinator's log where no sink takes its lines. */
const DROPPED_LOG: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The dev redeem and withdraw routes on the sandbox: the adapters' parse of the voucher or
 * withdrawal (a 400 naming what it refuses), then the real vault, from the caller's sandbox
 * wallet (`walletName(owner)`). Shared with the handler fuzz (test/fuzz/handlers.ts).
 */
export function sandboxPayouts(chain: LocalChain, walletName: (owner: string) => string): Pick<DevChain, "redeem" | "withdraw"> {
  return {
    async redeem(owner, json) {
      let parsed;
      try {
        parsed = voucherFromJson(json);
      } catch (e) {
        if (e instanceof InvalidVoucherError) throw new CocoonError(400, e.code, e.message);
        throw e;
      }
      const w = await chain.wallet(walletName(owner));
      // by payee: the vault's mark is the payee's, whatever the address (others may share it)
      const before = await chain.paid(parsed.voucher.payee);
      const r = await chain.redeem(w, parsed.voucher);
      const paid = (await chain.paid(parsed.voucher.payee)) - before;
      return { txHash: r.txHash, success: r.success, paid, ...(r.error ? { error: r.error } : {}) };
    },
    async withdraw(owner, json) {
      let parsed;
      try {
        parsed = withdrawalFromJson(json);
      } catch (e) {
        if (e instanceof InvalidWithdrawalError) throw new CocoonError(400, e.code, e.message);
        throw e;
      }
      const r = await chain.withdraw(await chain.wallet(walletName(owner)), parsed.withdrawal);
      return { txHash: r.txHash, success: r.success, ...(r.error ? { error: r.error } : {}) };
    },
  };
}

/** The dev wallet routes' view of the sandbox. */
function devChainFor(chain: LocalChain, sync: () => Promise<unknown>): DevChain {
  const walletName = (owner: string) => `wallet:${owner}`;
  return {
    vault: chain.vaultAddress.toRawString(),
    minDeposit: MIN_DEPOSIT,
    depositFee: DEPOSIT_FEE,
    async walletOf(owner) {
      const w = await chain.wallet(walletName(owner));
      return { address: w.address.toRawString(), balance: await chain.walletBalance(w.address) };
    },
    async deposit(accountId, amount, from) {
      const wallet = from === "faucet" ? await chain.faucetWallet(amount) : chain.requesterWallet;
      if (from === "requester") await chain.ensureFunds(wallet.address, amount);
      const r = await chain.depositNano(accountId, amount, { from: wallet });
      return { txHash: r.txHash, success: r.success, ...(r.error ? { error: r.error } : {}) };
    },
    ...sandboxPayouts(chain, walletName),
    vaultBalance: () => chain.vaultBalance(),
    sync: async () => void (await sync()),
  };
}
