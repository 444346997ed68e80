/**
 * The edges of chain-watcher.ts that chain-watcher.test.ts leaves open:
 *
 *   makeChainWatcherHandler  a deps factory; passes across pages, a reader failing mid-pass (the
 *                            alert, the error, the cursor a retry resumes from: nothing skipped,
 *                            nothing credited twice); the defaults (lag 600 s, dedup window 30 min,
 *                            anchor overdue 900 s); the anchor check only with an anchor reader; a
 *                            failed policy read (its log line and alert); the pass's log line
 *   summarize                the collateral as decimal strings, null when the pass took none
 *   handler (the Lambda)     its environment read and refused before anything is built, then built
 *                            into toncenter (a double on 127.0.0.1), SNS and Telegram channels (their
 *                            adapters replaced by recorders) and the store of functions/deps-secrets.ts
 *                            (replaced by an in-memory one); its walk down the vault's history
 *                            kept in that store, so that the next cold start resumes it
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { Address } from "@ton/core";
import { ZodError } from "zod";
import { collectingAlerts } from "../../core/chain/dedup";
import { SCRIPTED_VAULT } from "../../core/chain/fixtures";
import { createChainLedger } from "../../core/chain/store-ledger";
import type { ChainReader } from "../../core/chain/ports";
import type { Cursor, VaultTx } from "../../core/chain/types";
import { ConditionFailedError, type Alert, type Clock, type Log, type Store } from "../../core/ports";
import { WALK_KEY } from "../../core/chain/vault-walk";
import { bindVault, boundVault } from "../../core/chain/vault-binding";
import type { ChainAnchor } from "../../core/receipts/proof";
import { inboxPk, MOVEMENT_INBOX_PK } from "../../core/receipts/log";
import { getBalance, requesterAccount } from "../../core/ledger";
import type { PolicyReading } from "../../core/policy-registry";
import { TestStore } from "../../test/fixtures/faulty-store";
import { makeChainWatcherHandler, summarize, type ChainWatcherDeps } from "./chain-watcher";
import {
  closeToncenterStandins,
  rawTransaction,
  refusedTxCell,
  startToncenterStandin,
  type ToncenterCall,
} from "../../test/fixtures/toncenter-standin";

// ---------------------------------------------------------------- the Lambda's modules, replaced

const lambda = vi.hoisted(() => ({
  core: undefined as unknown,
  depsCalls: 0,
  sns: [] as { topicArn: string; raised: string[] }[],
  telegram: [] as { opts: unknown; raised: string[] }[],
}));

// the lean deps the watcher builds from its environment with its secrets read (deps-secrets.ts)
vi.mock("../deps-secrets", () => ({
  lambdaSecretDeps: async () => {
    lambda.depsCalls++;
    return lambda.core;
  },
}));
vi.mock("../adapters/sns-alerts", () => ({
  SnsAlerts: class {
    readonly raised: string[] = [];
    constructor(_client: unknown, topicArn: string) {
      lambda.sns.push({ topicArn, raised: this.raised });
    }
    async raise(a: Alert) {
      this.raised.push(a.key);
    }
  },
}));
vi.mock("../adapters/telegram-alerts", () => ({
  TelegramAlerts: class {
    readonly raised: string[] = [];
    constructor(opts: unknown) {
      lambda.telegram.push({ opts, raised: this.raised });
    }
    async raise(a: Alert) {
      this.raised.push(a.key);
    }
  },
}));

// ---------------------------------------------------------------- factories

const NOW = 1_750_000_000;
const MIN = 60_000;
const REGISTRY = "0:" + "cd".repeat(32);

/** A log that keeps its lines. */
function recordingLog(): Log & { lines: { level: string; msg: string; fields: unknown }[] } {
  const lines: { level: string; msg: string; fields: unknown }[] = [];
  const at = (level: string) => (msg: string, fields?: unknown) => void lines.push({ level, msg, fields });
  return { lines, info: at("info"), warn: at("warn"), error: at("error") } as Log & { lines: typeof lines };
}

const clockAt = (ms: number) => {
  const c = { ms, now: () => c.ms };
  return c as Clock & { ms: number };
};

/** A credited deposit at lt n·10. */
const deposit = (n: number, account: string, amount: bigint, utime = NOW - 10): VaultTx => ({
  hash: `tx-${n}`,
  lt: String(n * 10),
  utime,
  kind: "deposit",
  account,
  amount,
  inValue: amount,
  outValue: 0n,
  aborted: false,
  bounced: false,
});

/**
 * A ChainReader over `txs` (oldest first) as the ChainReader port says: up to `limit` strictly
 * after the cursor. `failAfter` makes the read after that lt throw once; `reserveCursor` serves the
 * cursor's own transaction again at the head of each page (what an indexer may do).
 */
function fakeChain(txs: VaultTx[], o: { balance?: bigint; reserveCursor?: boolean } = {}) {
  const chain = {
    reads: [] as (string | null)[],
    failAfter: undefined as string | undefined,
    async getVaultTransactions(after: Cursor | null, limit: number) {
      chain.reads.push(after?.lt ?? null);
      if (chain.failAfter !== undefined && after?.lt === chain.failAfter) {
        chain.failAfter = undefined;
        throw new Error("toncenter: HTTP 502");
      }
      let start = after ? txs.findIndex((t) => BigInt(t.lt) > BigInt(after.lt)) : 0;
      if (start < 0) start = txs.length;
      if (o.reserveCursor && after && start > 0) start--;
      const page = txs.slice(start, start + limit);
      const last = page.at(-1);
      return { txs: page, cursor: last ? { lt: last.lt, hash: last.hash } : after };
    },
    async getVaultBalance() {
      return o.balance ?? 1_000_000n;
    },
  };
  return chain;
}

function world(reader: ChainReader, extra: Omit<Partial<ChainWatcherDeps>, "store"> = {}) {
  const clock = extra.clock ?? clockAt(NOW * 1000);
  const store = new TestStore(clock);
  const alerts = collectingAlerts();
  const log = recordingLog();
  const deps: ChainWatcherDeps = { store, clock, log, reader, vault: SCRIPTED_VAULT, alerts, ...extra };
  return { store, clock, alerts, log, deps, handler: makeChainWatcherHandler(deps), ledger: createChainLedger(store) };
}

const available = async (store: TestStore, account: string) => (await getBalance(store, requesterAccount(account))).available;

/** Runs passes until one is caught up; the totals it reported. */
async function drain(run: () => Promise<{ deposits: number; duplicates: number; hasMore: boolean }>) {
  const totals = { passes: 0, deposits: 0, duplicates: 0 };
  for (let more = true; more;) {
    const pass = await run();
    totals.passes++;
    totals.deposits += pass.deposits;
    totals.duplicates += pass.duplicates;
    more = pass.hasMore;
  }
  return totals;
}

const anchorAt = (seqno: number): ChainAnchor =>
  ({ seqno, root: "", firstSeq: 0, count: 0, ledgerSeqno: 0, ledgerHash: "", lastSeq: 0, history: "", postedAt: 0 }) as ChainAnchor;

/** A movement waiting for an anchor since `at` (ms): what StoreAnchorLog.oldestPending reads. */
const pendingMovement = (store: TestStore, at: number) =>
  store.transact([{ op: "put", table: "chain", item: { pk: inboxPk(MOVEMENT_INBOX_PK, "m-1"), sk: "m-1", movement: {}, at } }]);

// ---------------------------------------------------------------- summarize

describe("summarize", () => {
  const report = {
    processed: 1,
    deposits: 1,
    duplicates: 0,
    withdrawals: 0,
    redemptions: 0,
    bounces: 0,
    alerts: [],
    hasMore: false,
    lagSeconds: 0,
  };

  it("writes the collateral snapshot as decimal strings and leaves the cursor out", () => {
    // Act
    const s = summarize({ ...report, cursor: { lt: "1", hash: "h" }, vaultBalance: 12_345_678_901n, liabilities: 7n });

    // Assess
    expect(s).toEqual({ ...report, vaultBalance: "12345678901", liabilities: "7" });
  });

  it("writes null for a pass that took no snapshot", () => {
    // Act
    const s = summarize({ ...report, cursor: null, vaultBalance: null, liabilities: null });

    // Assess
    expect(s).toEqual({ ...report, vaultBalance: null, liabilities: null });
  });
});

// ---------------------------------------------------------------- passes, pages, failures

describe("makeChainWatcherHandler: every transaction once, across pages, passes and failures", () => {
  it("builds its deps from an async factory", async () => {
    // Prepare
    const { store, deps } = world(fakeChain([deposit(1, "acct-a", 5n)]));
    const run = makeChainWatcherHandler(async () => deps);

    // Act
    const pass = await run();

    // Assess
    expect({ deposits: pass.deposits, liabilities: pass.liabilities }).toEqual({ deposits: 1, liabilities: "5" });
    expect(await available(store, "acct-a")).toBe(5n);
  });

  it("a pass stopped at its page limit leaves the rest to the next one: each deposit credited once", async () => {
    // Prepare: five deposits, two per page, one page per pass
    const txs = [1, 2, 3, 4, 5].map((n) => deposit(n, n % 2 ? "acct-a" : "acct-b", BigInt(n)));
    const { store, handler, ledger } = world(fakeChain(txs), { pageSize: 2, maxPages: 1 });

    // Act
    const totals = await drain(handler);
    const again = await handler();

    // Assess
    expect(totals).toEqual({ passes: 3, deposits: 5, duplicates: 0 });
    expect([await available(store, "acct-a"), await available(store, "acct-b")]).toEqual([1n + 3n + 5n, 2n + 4n]);
    expect(await ledger.getCursor()).toEqual({ lt: "50", hash: "tx-5" });
    expect({ deposits: again.deposits, processed: again.processed }).toEqual({ deposits: 0, processed: 0 });
  });

  it("a reader failing mid-pass: the pass throws and alerts, the cursor stays after the last page done, the retry resumes there", async () => {
    // Prepare: the read after the second page fails once
    const txs = [1, 2, 3, 4, 5].map((n) => deposit(n, "acct-a", 10n ** BigInt(n - 1)));
    const chain = fakeChain(txs);
    chain.failAfter = "40";
    const { store, alerts, handler, ledger } = world(chain, { pageSize: 2 });

    // Act
    const failed = await handler().then(
      () => undefined,
      (e: Error) => e,
    );
    const cursorAfterFailure = await ledger.getCursor();
    const retry = await handler();

    // Assess
    expect(failed?.message).toBe("toncenter: HTTP 502");
    expect(alerts.raised).toEqual([
      expect.objectContaining({
        key: "chain.reader-error",
        severity: "warning",
        details: { error: "toncenter: HTTP 502", cursor: { lt: "40", hash: "tx-4" } },
      }),
    ]);
    expect(cursorAfterFailure).toEqual({ lt: "40", hash: "tx-4" });
    expect({ deposits: retry.deposits, duplicates: retry.duplicates }).toEqual({ deposits: 1, duplicates: 0 });
    expect(await available(store, "acct-a")).toBe(11_111n); // each of the five exactly once
    expect(chain.reads.slice(0, 4)).toEqual([null, "20", "40", "40"]); // the retry starts at the saved cursor
  });

  it("an indexer serving the cursor's own transaction again: a duplicate, never a second credit", async () => {
    // Prepare
    const txs = [1, 2, 3].map((n) => deposit(n, "acct-a", 100n * BigInt(n)));
    const { store, handler } = world(fakeChain(txs, { reserveCursor: true }), { pageSize: 2, maxPages: 1 });

    // Act
    const first = await handler();
    const second = await handler();

    // Assess
    expect([first.deposits, second.deposits, second.duplicates]).toEqual([2, 1, 1]);
    expect(await available(store, "acct-a")).toBe(600n);
  });
});

// ---------------------------------------------------------------- defaults

describe("makeChainWatcherHandler: the defaults it fills in", () => {
  /** Two deposits 700 s old, read one page of one per pass: the second is left behind. */
  const behind = () => fakeChain([deposit(1, "acct-a", 1n, NOW - 700), deposit(2, "acct-a", 1n, NOW - 700)]);

  it("lag: by the clock, against 600 s when no threshold is given", async () => {
    // Prepare
    const { alerts, handler } = world(behind(), { pageSize: 1, maxPages: 1 });

    // Act
    const pass = await handler();

    // Assess
    expect({ hasMore: pass.hasMore, lagSeconds: pass.lagSeconds, alerts: pass.alerts }).toEqual({
      hasMore: true,
      lagSeconds: 700,
      alerts: ["chain.lag"],
    });
    expect(alerts.raised[0]?.details).toEqual({ lagSeconds: 700, thresholdSeconds: 600, cursor: { lt: "10", hash: "tx-1" } });
  });

  it("lag: against the threshold given", async () => {
    // Prepare
    const { alerts, handler } = world(behind(), { pageSize: 1, maxPages: 1, lagThresholdSeconds: 800 });

    // Act
    const pass = await handler();

    // Assess
    expect({ lagSeconds: pass.lagSeconds, alerts: pass.alerts }).toEqual({ lagSeconds: 700, alerts: [] });
    expect(alerts.raised).toEqual([]);
  });

  it("alerts: one send per key within 30 minutes by default, through the store", async () => {
    // Prepare: a registry that cannot be read, each pass
    const clock = clockAt(NOW * 1000);
    const source = { read: async (): Promise<PolicyReading> => Promise.reject(new Error("down")) };
    const { alerts, handler } = world(fakeChain([]), { clock, policy: { registry: REGISTRY, source } });
    const sent = () => alerts.raised.filter((a) => a.key === "policy.read_failed").length;

    // Act
    const counts: number[] = [];
    for (const at of [0, 29 * MIN, 30 * MIN - 1, 30 * MIN]) {
      clock.ms = NOW * 1000 + at;
      await handler();
      counts.push(sent());
    }

    // Assess
    expect(counts).toEqual([1, 1, 1, 2]);
  });
});

// ---------------------------------------------------------------- anchors

describe("makeChainWatcherHandler: the anchor check", () => {
  it("is skipped without an anchor reader", async () => {
    // Prepare
    const { store, alerts, handler } = world(fakeChain([]));
    await pendingMovement(store, NOW * 1000 - 3600_000);

    // Act
    const pass = await handler();

    // Assess
    expect(pass).not.toHaveProperty("anchors");
    expect(alerts.raised).toEqual([]);
  });

  it("with a reader: overdue past 900 s by default, by the clock", async () => {
    // Prepare
    const reads: number[] = [];
    const anchorReader = { latest: async () => (reads.push(1), anchorAt(0)) };
    const late = world(fakeChain([]), { anchorReader });
    const onTime = world(fakeChain([]), { anchorReader });
    await pendingMovement(late.store, NOW * 1000 - 901_000);
    await pendingMovement(onTime.store, NOW * 1000 - 899_000);

    // Act
    const [l, o] = [await late.handler(), await onTime.handler()];

    // Assess
    expect(l.anchors).toEqual({ chainSeqno: 0, coordinatorSeqno: 0, mismatch: false, overdue: true });
    expect(o.anchors).toEqual({ chainSeqno: 0, coordinatorSeqno: 0, mismatch: false, overdue: false });
    expect(l.alerts).toEqual([]); // the anchor check's alerts are its own, not the watcher's
    expect(late.alerts.raised.map((a) => [a.key, a.details])).toEqual([
      ["anchor.overdue", { waitingSinceMs: NOW * 1000 - 901_000, chainSeqno: 0, coordinatorSeqno: 0 }],
    ]);
    expect(onTime.alerts.raised).toEqual([]);
    expect(reads).toHaveLength(2);
  });

  it("with a reader: overdue past the bound given", async () => {
    // Prepare
    const { store, handler } = world(fakeChain([]), { anchorReader: { latest: async () => anchorAt(0) }, anchorOverdueSeconds: 60 });
    await pendingMovement(store, NOW * 1000 - 100_000);

    // Act
    const pass = await handler();

    // Assess
    expect(pass.anchors?.overdue).toBe(true);
  });
});

// ---------------------------------------------------------------- policy, log

describe("makeChainWatcherHandler: the policy read's failure and the pass's log line", () => {
  it("a failed registry read is logged and alerted with the registry and the reason", async () => {
    // Prepare
    const source = { read: async (): Promise<PolicyReading> => Promise.reject(new Error("toncenter unreachable")) };
    const { alerts, log, handler } = world(fakeChain([]), { policy: { registry: REGISTRY, source } });

    // Act
    const pass = await handler();

    // Assess
    expect(pass.policy).toEqual({ error: "toncenter unreachable" });
    expect(log.lines.filter((l) => l.level === "error")).toEqual([
      { level: "error", msg: "policy registry read failed", fields: { registry: REGISTRY, error: "toncenter unreachable" } },
    ]);
    expect(alerts.raised).toEqual([
      {
        key: "policy.read_failed",
        severity: "warning",
        title:
          "The policy registry could not be read: the routes that register and match workers refuse (503) once the stored reading is too old",
        details: { registry: REGISTRY, error: "toncenter unreachable" },
      },
    ]);
  });

  it("a thrown non-Error is reported as its string", async () => {
    // Prepare
    const source = { read: async (): Promise<PolicyReading> => Promise.reject("rate limited") };
    const { handler } = world(fakeChain([]), { policy: { registry: REGISTRY, source } });

    // Act
    const pass = await handler();

    // Assess
    expect(pass.policy).toEqual({ error: "rate limited" });
  });

  it("each pass logs its summary once, as it returns it", async () => {
    // Prepare
    const { log, handler } = world(fakeChain([deposit(1, "acct-a", 9n)], { balance: 20n }));

    // Act
    const pass = await handler();

    // Assess
    expect(log.lines).toEqual([{ level: "info", msg: "chain watcher pass", fields: pass }]);
    expect(pass).toMatchObject({ deposits: 1, vaultBalance: "20", liabilities: "9" });
  });
});

// ---------------------------------------------------------------- the Lambda handler

afterEach(async () => {
  vi.unstubAllEnvs();
  lambda.sns.length = 0;
  lambda.telegram.length = 0;
  lambda.depsCalls = 0;
  await closeToncenterStandins();
});

/**
 * toncenter v2 on 127.0.0.1: an empty vault history, a balance of 5 nanoTON, and every get-method
 * exiting 11 (so the anchor and registry reads fail, and say which contract they asked).
 */
async function toncenter(): Promise<{ endpoint: string; calls: ToncenterCall[] }> {
  return startToncenterStandin(({ method }) => {
    if (method === "getTransactions") return [];
    if (method === "getAddressInformation")
      return { balance: "5", state: "active", data: "", code: "", last_transaction_id: { lt: "0", hash: "" }, sync_utime: NOW };
    return { gas_used: 0, exit_code: 11, stack: [] };
  });
}

const VAULT = "0:" + "ab".repeat(32);
const BOT_TOKEN = "123456789:AAbot-token";
const ANCHOR = "0:" + "ef".repeat(32);
const friendly = (raw: string) => Address.parse(raw).toString();

/**
 * The vault's transactions at these lts (refused ones: not credited), one chain, as toncenter's
 * raw.transaction, newest first; the last at `lastUtime` when given.
 */
function rawTxChain(lts: bigint[], utime: number, lastUtime = utime) {
  let prev: { lt: bigint; hash: Buffer } | undefined;
  const rows = lts.map((lt, i) => {
    const now = i === lts.length - 1 ? lastUtime : utime;
    const cell = refusedTxCell(BigInt("0x" + "ab".repeat(32)), lt, now, prev);
    prev = { lt, hash: cell.hash() };
    return { ...rawTransaction(cell, lt, now), hex: cell.hash().toString("hex") };
  });
  return rows.reverse();
}

function stubEnv(env: Record<string, string | undefined>) {
  for (const k of [
    "COCOON_TON_ENDPOINT",
    "COCOON_TON_API_KEY",
    "COCOON_TON_QUORUM_ENDPOINTS",
    "COCOON_VAULT_ADDRESS",
    "COCOON_ALERT_TOPIC_ARN",
    "COCOON_TELEGRAM_BOT_TOKEN",
    "COCOON_TELEGRAM_CHAT_ID",
    "COCOON_CHAIN_LAG_SECONDS",
    "COCOON_ANCHOR_ADDRESS",
    "COCOON_ANCHOR_OVERDUE_SECONDS",
    "COCOON_REGISTRY_ADDRESS",
  ])
    vi.stubEnv(k, env[k]);
}

const lambdaCore = () => {
  const clock = clockAt(NOW * 1000);
  const core = { store: new TestStore(clock), clock, log: recordingLog() };
  lambda.core = core;
  return core;
};

/** The Lambda's handler as a cold start loads it: a fresh module (its mocked imports included). */
async function coldStart() {
  vi.resetModules();
  return (await import("./chain-watcher")).handler;
}

const zodMessages = (e: unknown) => (e instanceof ZodError ? e.issues.map((i) => `${i.path.join(".")}: ${i.message}`) : [String(e)]);

describe("makeChainWatcherHandler: a failed policy alert does not stop the pass", () => {
  it("registry unreadable and an alert channel down: the deposits are still credited, the failure logged", async () => {
    // Prepare: every alert send fails (SNS throttled, Telegram token revoked, ...)
    const source = { read: async (): Promise<PolicyReading> => Promise.reject(new Error("toncenter unreachable")) };
    const { store, log, deps } = world(fakeChain([deposit(1, "acct-a", 5n)]), { policy: { registry: REGISTRY, source } });
    const handler = makeChainWatcherHandler({ ...deps, alerts: { raise: async () => Promise.reject(new Error("SNS: throttled")) } });

    // Act
    const pass = await handler();

    // Assess
    expect({ deposits: pass.deposits, policy: pass.policy }).toEqual({ deposits: 1, policy: { error: "toncenter unreachable" } });
    expect(await available(store, "acct-a")).toBe(5n);
    expect(log.lines.map((l) => l.msg)).toContain("policy registry read failed");
    expect(log.lines).toContainEqual({ level: "error", msg: "policy.read_failed alert not sent", fields: { error: "SNS: throttled" } });
  });
});

describe("the Lambda handler: its environment", () => {
  const valid = { COCOON_TON_ENDPOINT: "https://toncenter.com/api/v2/jsonRPC", COCOON_VAULT_ADDRESS: VAULT };

  it.each([
    [{ ...valid, COCOON_TON_ENDPOINT: "toncenter" }, "COCOON_TON_ENDPOINT: must be the toncenter JSON-RPC URL"],
    [
      { ...valid, COCOON_TON_ENDPOINT: "http://toncenter.com/api/v2/jsonRPC" },
      "COCOON_TON_ENDPOINT: must be an https:// URL (http:// only on 127.0.0.1 or localhost)",
    ],
    [
      { ...valid, COCOON_VAULT_ADDRESS: "0:abc" },
      "COCOON_VAULT_ADDRESS: must be the vault's TON address (raw 0:<64 hex>, or user-friendly with a valid checksum)",
    ],
    [
      { ...valid, COCOON_ANCHOR_ADDRESS: "0:abc" },
      "COCOON_ANCHOR_ADDRESS: must be the ReceiptAnchor contract's TON address (raw 0:<64 hex>, or user-friendly with a valid checksum)",
    ],
    [
      { ...valid, COCOON_REGISTRY_ADDRESS: "0:abc" },
      "COCOON_REGISTRY_ADDRESS: must be the PolicyRegistry contract's TON address (raw 0:<64 hex>, or user-friendly with a valid checksum)",
    ],
    // the secrets by the schema their SSM parameters are checked with (env-fields.ts SECRET_FIELDS)
    [
      { ...valid, COCOON_TELEGRAM_BOT_TOKEN: "bot/token" },
      "COCOON_TELEGRAM_BOT_TOKEN: must be a Telegram bot token as @BotFather gives it: <bot id>:<secret> (digits, ':', then letters, digits, '_' and '-')",
    ],
    // session 40: the quorum's other endpoints, each a TonEndpoint on a host of its own
    [
      { ...valid, COCOON_TON_QUORUM_ENDPOINTS: "https://ton-a.example/jsonRPC, http://ton-b.example/jsonRPC" },
      "COCOON_TON_QUORUM_ENDPOINTS.1: must be an https:// URL (http:// only on 127.0.0.1 or localhost)",
    ],
    [
      { ...valid, COCOON_TON_QUORUM_ENDPOINTS: "https://toncenter.com/api/v3/other" },
      "COCOON_TON_QUORUM_ENDPOINTS: names toncenter.com twice (COCOON_TON_ENDPOINT included): each endpoint of the quorum must be another operator's, on a host of its own",
    ],
    [
      { ...valid, COCOON_TON_API_KEY: "key\nX-Other: 1" },
      "COCOON_TON_API_KEY: must be the toncenter API key: printable ASCII without spaces or line breaks (it is sent as the X-API-Key header)",
    ],
  ])("refuses %o with its reason before building anything", async (env, reason) => {
    // Prepare
    stubEnv(env);
    lambdaCore();

    // Act
    const handler = await coldStart();
    const e = await handler().then(
      () => undefined,
      (err: unknown) => err,
    );

    // Assess
    expect(e).toBeInstanceOf(ZodError);
    expect(zodMessages(e)).toEqual([reason]);
    expect(lambda.depsCalls).toBe(0);
  });
});

describe("the Lambda handler: built from its environment", () => {
  it("reads the vault through toncenter with the API key, checks anchors and the registry, and alerts over SNS and Telegram", async () => {
    // Prepare
    const ton = await toncenter();
    stubEnv({
      COCOON_TON_ENDPOINT: ton.endpoint,
      COCOON_TON_API_KEY: "key-1",
      COCOON_VAULT_ADDRESS: VAULT,
      COCOON_ALERT_TOPIC_ARN: "arn:aws:sns:us-east-1:123456789012:alerts",
      COCOON_TELEGRAM_BOT_TOKEN: BOT_TOKEN,
      COCOON_TELEGRAM_CHAT_ID: "-100",
      COCOON_ANCHOR_ADDRESS: ANCHOR,
      COCOON_REGISTRY_ADDRESS: REGISTRY,
    });
    const core = lambdaCore();

    // Act
    const handler = await coldStart();
    const pass = await handler();

    // Assess
    expect(pass).toMatchObject({
      processed: 0,
      vaultBalance: "5",
      liabilities: "0",
      anchors: { chainSeqno: null, coordinatorSeqno: 0, mismatch: false, overdue: false },
      policy: { error: expect.stringContaining("exit_code: 11") },
    });
    expect(ton.calls.every((c) => c.apiKey === "key-1")).toBe(true);
    expect(ton.calls.filter((c) => c.method === "getTransactions").map((c) => c.params.address)).toContain(friendly(VAULT));
    const asked = ton.calls.filter((c) => c.method === "runGetMethod").map((c) => c.params.address);
    expect(new Set(asked)).toEqual(new Set([friendly(ANCHOR), friendly(REGISTRY)]));
    const keys = ["policy.read_failed", "anchor.reader-error"];
    expect(lambda.sns).toEqual([{ topicArn: "arn:aws:sns:us-east-1:123456789012:alerts", raised: keys }]);
    expect(lambda.telegram).toEqual([{ opts: { token: BOT_TOKEN, chatId: "-100" }, raised: keys }]);
    expect(core.log.lines.find((l) => l.level === "error")?.fields).toMatchObject({ registry: REGISTRY });
    expect(lambda.depsCalls).toBe(1);
  });

  it("without a topic, a chat id, an anchor or a registry: no SNS, no Telegram, no anchor check, no policy read", async () => {
    // Prepare
    const ton = await toncenter();
    stubEnv({ COCOON_TON_ENDPOINT: ton.endpoint, COCOON_VAULT_ADDRESS: VAULT, COCOON_TELEGRAM_BOT_TOKEN: BOT_TOKEN });
    lambdaCore();

    // Act
    const handler = await coldStart();
    const pass = await handler();

    // Assess
    expect(pass).not.toHaveProperty("anchors");
    expect(pass).not.toHaveProperty("policy");
    expect(pass.vaultBalance).toBe("5");
    expect([lambda.sns, lambda.telegram]).toEqual([[], []]);
    expect(ton.calls.map((c) => c.method)).not.toContain("runGetMethod");
    expect(ton.calls.every((c) => c.apiKey === undefined)).toBe(true);
  });

  it("session 40: a pass over a toncenter 15 minutes behind is caught up as of toncenter's sync time, and raises chain.lag", async () => {
    // Prepare: toncenter synced up to NOW − 900 s; the Lambda's clock at NOW
    const ton = await startToncenterStandin(({ method }) => {
      if (method === "getTransactions") return [];
      if (method === "getAddressInformation")
        return { balance: "5", state: "active", data: "", code: "", last_transaction_id: { lt: "0", hash: "" }, sync_utime: NOW - 900 };
      return { gas_used: 0, exit_code: 11, stack: [] };
    });
    stubEnv({ COCOON_TON_ENDPOINT: ton.endpoint, COCOON_VAULT_ADDRESS: VAULT, COCOON_ALERT_TOPIC_ARN: "arn:aws:sns:us-east-1:1:a" });
    const core = lambdaCore();

    // Act
    const handler = await coldStart();
    await handler();

    // Assess
    expect(await createChainLedger(core.store).lastCaughtUpAt()).toBe((NOW - 900) * 1000);
    expect(lambda.sns[0]!.raised).toEqual(["chain.lag"]);
  });

  it("with a chat id but no bot token: no Telegram channel", async () => {
    // Prepare
    const ton = await toncenter();
    stubEnv({ COCOON_TON_ENDPOINT: ton.endpoint, COCOON_VAULT_ADDRESS: VAULT, COCOON_TELEGRAM_CHAT_ID: "-100" });
    lambdaCore();

    // Act
    const handler = await coldStart();
    await handler();

    // Assess
    expect(lambda.telegram).toEqual([]);
  });
});

describe("the Lambda handler: a quorum of endpoints (COCOON_TON_QUORUM_ENDPOINTS, session 40)", () => {
  /** toncenter on 127.0.0.1 serving `history` (newest first) with a balance of 5 and get-methods exiting 11. */
  const endpointOf = (history: ReturnType<typeof rawTxChain>) =>
    startToncenterStandin(({ method, params }) => {
      if (method === "getTransactions") {
        const p = params as { limit: number; to_lt?: string };
        return history.slice(0, p.limit).filter((t) => !p.to_lt || BigInt(t.transaction_id.lt) > BigInt(p.to_lt));
      }
      if (method === "getAddressInformation") {
        const last = history[0];
        return {
          balance: "5",
          state: "active",
          data: "",
          code: "",
          last_transaction_id: last ? { lt: last.transaction_id.lt, hash: last.transaction_id.hash } : { lt: "0", hash: "" },
          sync_utime: NOW,
        };
      }
      return { gas_used: 0, exit_code: 11, stack: [] };
    });

  it("each endpoint is read (the API key sent to COCOON_TON_ENDPOINT's only); a transaction one of them invents raises chain.endpoints-disagree", async () => {
    // Prepare: B shows a transaction 10 minutes old that A, synced now, has not
    const common = rawTxChain([1001n, 1002n], NOW - 900);
    const a = await endpointOf(common);
    const b = await endpointOf(rawTxChain([1001n, 1002n, 1003n], NOW - 900, NOW - 600));
    stubEnv({
      COCOON_TON_ENDPOINT: a.endpoint,
      COCOON_TON_API_KEY: "key-1",
      COCOON_TON_QUORUM_ENDPOINTS: ` ${b.endpoint} ,`,
      COCOON_VAULT_ADDRESS: VAULT,
      COCOON_ALERT_TOPIC_ARN: "arn:aws:sns:us-east-1:1:a",
    });
    const core = lambdaCore();

    // Act
    const handler = await coldStart();
    const e = await handler().then(
      () => undefined,
      (err: unknown) => err as Error,
    );

    // Assess
    expect(e?.name).toBe("EndpointsDisagreeError");
    expect(lambda.sns[0]!.raised).toEqual(expect.arrayContaining(["chain.endpoints-disagree", "chain.reader-error"]));
    expect(a.calls.map((c) => c.method)).toEqual(expect.arrayContaining(["getTransactions", "getAddressInformation"]));
    expect(b.calls.map((c) => c.method)).toEqual(expect.arrayContaining(["getTransactions", "getAddressInformation"]));
    expect([a.calls.every((c) => c.apiKey === "key-1"), b.calls.every((c) => c.apiKey === undefined)]).toEqual([true, true]);
    expect(await createChainLedger(core.store).getCursor()).toBeNull();
  });

  it("two endpoints that agree: the pass reads both and proceeds", async () => {
    // Prepare
    const history = rawTxChain([1001n, 1002n], NOW - 900);
    const a = await endpointOf(history);
    const b = await endpointOf(history);
    stubEnv({ COCOON_TON_ENDPOINT: a.endpoint, COCOON_TON_QUORUM_ENDPOINTS: b.endpoint, COCOON_VAULT_ADDRESS: VAULT });
    const core = lambdaCore();

    // Act
    const handler = await coldStart();
    const pass = await handler();

    // Assess
    expect(pass).toMatchObject({ processed: 2, vaultBalance: "5" });
    expect((await createChainLedger(core.store).getCursor())?.lt).toBe("1002");
    expect(b.calls.filter((c) => c.method === "getTransactions")).not.toHaveLength(0);
  });
});

describe("the Lambda handler: the vault its store belongs to (core/chain/vault-binding.ts)", () => {
  it("a fresh store is bound to COCOON_VAULT_ADDRESS (raw form, whatever form the environment gives)", async () => {
    // Prepare: the vault in its user-friendly form, as an operator may paste it
    const ton = await toncenter();
    stubEnv({ COCOON_TON_ENDPOINT: ton.endpoint, COCOON_VAULT_ADDRESS: friendly(VAULT) });
    const core = lambdaCore();

    // Act
    const handler = await coldStart();
    await handler();

    // Assess
    expect(await boundVault(core.store)).toBe(VAULT);
  });

  it("a store bound to another vault: the pass is refused (vault_mismatch, chain.vault-changed) before the vault's history is read", async () => {
    // Prepare: the store belongs to another vault; the Lambda is configured with VAULT
    const ton = await toncenter();
    stubEnv({
      COCOON_TON_ENDPOINT: ton.endpoint,
      COCOON_VAULT_ADDRESS: VAULT,
      COCOON_ALERT_TOPIC_ARN: "arn:aws:sns:us-east-1:123456789012:alerts",
    });
    const core = lambdaCore();
    const other = "0:" + "cd".repeat(32);
    await bindVault(core.store, other, NOW * 1000);

    // Act
    const handler = await coldStart();
    const e = await handler().then(
      () => undefined,
      (err: unknown) => err,
    );

    // Assess
    // (a fresh module graph per cold start: its own VaultMismatchError class, so matched by shape)
    expect(e).toMatchObject({ status: 503, code: "vault_mismatch", details: { bound: other, configured: VAULT } });
    expect(lambda.sns.flatMap((c) => c.raised)).toContain("chain.vault-changed");
    expect(ton.calls.map((c) => c.method)).not.toContain("getTransactions");
    expect(await createChainLedger(core.store).getCursor()).toBeNull();
  });
});

describe("the Lambda handler: built once per cold start", () => {
  it("two invocations of one cold start build one set of clients and channels; a refused environment is read again next time", async () => {
    // Prepare
    const ton = await toncenter();
    stubEnv({ COCOON_TON_ENDPOINT: ton.endpoint, COCOON_VAULT_ADDRESS: "0:abc" });
    lambdaCore();
    const handler = await coldStart();
    const refused = await handler().then(
      () => undefined,
      (e: unknown) => e,
    );
    stubEnv({
      COCOON_TON_ENDPOINT: ton.endpoint,
      COCOON_VAULT_ADDRESS: VAULT,
      COCOON_ALERT_TOPIC_ARN: "arn:aws:sns:us-east-1:123456789012:alerts",
    });

    // Act
    await handler();
    await handler();

    // Assess
    expect(refused).toBeInstanceOf(ZodError);
    expect(lambda.sns).toHaveLength(1); // one SnsAlerts, one SNSClient, one ToncenterClient per cold start
    expect(lambda.depsCalls).toBe(1);
  });
});

describe("the Lambda handler: the walk down the vault's history outlives the Lambda", () => {
  /**
   * The test's store as the modules of a cold start (loaded afresh) see it: its refused conditions
   * are their ConditionFailedError, so the alerts' dedup recognises its own second claim.
   */
  const asColdStartSees = async (store: Store): Promise<Store> => {
    const { ConditionFailedError: Fresh } = await import("../../core/ports");
    return {
      get: (t, k) => store.get(t, k),
      query: (t, pk, o) => store.query(t, pk, o),
      transact: (ops) =>
        store.transact(ops).catch((e: unknown) => {
          throw e instanceof ConditionFailedError ? new Fresh(e.index, e.message) : e;
        }),
    };
  };

  it("a cold start goes on from where the last one's walk stopped, not from the newest transaction", async () => {
    // Prepare: 250 unread vault transactions; toncenter answers 2 requests a pass (then a malformed
    // answer, as a timeout would end the pass): a walk of 3 requests never ends within one pass
    const history = rawTxChain(
      Array.from({ length: 250 }, (_, i) => BigInt(1751 + i)),
      NOW,
    );
    const budget = { left: 0 };
    const { endpoint, calls } = await startToncenterStandin(({ method, params }) => {
      if (method === "getAddressInformation")
        return { balance: "5", state: "active", data: "", code: "", last_transaction_id: { lt: "0", hash: "" }, sync_utime: NOW };
      if (method !== "getTransactions" || budget.left-- <= 0) return "timeout";
      const p = params as { limit: number; lt?: string; hash?: string; to_lt?: string };
      const start = p.lt ? history.findIndex((t) => t.transaction_id.lt === p.lt && t.hex === p.hash) : 0;
      return history.slice(start, start + p.limit).filter((t) => !p.to_lt || BigInt(t.transaction_id.lt) > BigInt(p.to_lt));
    });
    stubEnv({ COCOON_TON_ENDPOINT: endpoint, COCOON_VAULT_ADDRESS: VAULT });
    const core = lambdaCore();
    const asked = () => calls.filter((c) => c.method === "getTransactions").map((c) => c.params.lt ?? "newest");

    // Act: three cold starts
    const passes: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      budget.left = 2;
      const handler = await coldStart();
      lambda.core = { ...core, store: await asColdStartSees(core.store) };
      passes.push(
        await handler().then(
          () => "ok",
          (e: unknown) => (e instanceof Error ? e.name : e),
        ),
      );
    }
    const walk = await core.store.get("chain", WALK_KEY);

    // Assess: the first cold start read 100 + 99 and was cut off asking below 1802; the second
    // asked below 1802 again (a Lambda that kept its walk in memory asked from the newest)
    expect(passes[0]).toBe("ToncenterError");
    expect(asked().slice(0, 4)).toEqual(["newest", "1901", "1802", "1802"]);
    expect(walk).toMatchObject({ done: true, head: { lt: "2000" }, lo: "-1" });
    expect(Number((await createChainLedger(core.store).getCursor())?.lt)).toBeGreaterThan(1751);
  });
});
