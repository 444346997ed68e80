import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "node:http";
import { DEFAULT_CORE_CONFIG, type CoreConfig } from "../core/config";
import type { CoreDeps } from "../core/deps";
import { defaultPolicy } from "../core/attestation/policy";
import type { Log, Store } from "../core/ports";
import { routes } from "../functions/http/routes";
import { route as openapiRoute } from "../functions/http/openapi";
import { matchingHandler } from "../functions/queue/matching";
import { recoverAssignedJobs } from "../core/recovery";
import { startHttpServer } from "./http-server";
import { createJsonLog } from "./log";
import { createLocalNotifier } from "./notifier";
import { createMemoryReplayGuard } from "./replay-guard";
import { createLocalQueues, startConsumer, type LocalQueues } from "./queues";
import { openLmdbStore, type LmdbStore } from "./store-lmdb";

export interface NetworkOptions {
  /** Where the embedded store keeps its files; a fresh temp dir when omitted. */
  dataDir?: string;
  port?: number;
  config?: Partial<CoreConfig>;
  /** Where coordinator log lines go (JSON lines). Default: dropped. */
  logSink?: (line: string) => void;
  /** Swap the store (tests of other adapters). */
  store?: Store;
}

export interface LocalNetwork {
  url: string;
  deps: CoreDeps;
  queues: LocalQueues;
  store: Store;
  server: Server;
  dataDir: string;
  stop(): Promise<void>;
}

/** Local default coordinator config: dev attestation accepted, dev faucet on, short leases. */
export const LOCAL_CONFIG: Partial<CoreConfig> = {
  allowDevAttestation: true,
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
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), "cocoon-"));
  mkdirSync(dataDir, { recursive: true });
  const lmdb: LmdbStore | undefined = o.store ? undefined : await openLmdbStore(join(dataDir, "store"));
  const store = o.store ?? lmdb!;
  const queues = createLocalQueues();
  const log: Log = createJsonLog(o.logSink ?? (() => {}));
  const deps: CoreDeps = {
    store,
    queues,
    notifier: createLocalNotifier(),
    clock: { now: () => Date.now() },
    log,
    config: { ...DEFAULT_CORE_CONFIG, ...LOCAL_CONFIG, ...o.config },
    policy: defaultPolicy,
    replay: createMemoryReplayGuard(),
  };
  const consumer = startConsumer(queues, "matching", matchingHandler(async () => deps), {
    batchSize: 10,
    visibilitySeconds: 30,
    maxReceiveCount: 5,
    concurrency: 4,
    deadLetter: (m) => log.error("matching message dead-lettered", { messageId: m.id }),
    onError: (e) => log.error("matching consumer error", { error: String(e) }),
  });
  const { server, url } = await startHttpServer({ routes: [...routes, openapiRoute], deps, port: o.port ?? 0 });
  // Local queues live in memory and the store is the truth: after a restart every job still
  // assigned gets a fresh lease check, so it finishes or is refunded instead of hanging.
  await recoverAssignedJobs(deps, lmdb?.scan("jobs") ?? []);
  return {
    url,
    deps,
    queues,
    store,
    server,
    dataDir,
    async stop() {
      await consumer.stop();
      queues.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await lmdb?.close();
    },
  };
}
