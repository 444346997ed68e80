import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Address } from "@ton/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { tempDir } from "../../test/temp-dir";
import { ApiError } from "../../api-client/api";
import { durableIo } from "../../api-client/durable-file";
import { VerificationError } from "../sdk";
import { coordinator, fakeRegistry, impostor, signedWithdrawal, stubbedClient } from "../sdk-stub-testing";
import { withdrawCommand, WithdrawalIntents } from "./withdraw";

const TO = "0:" + "cd".repeat(32);

/**
 * Factory: a client on a coordinator without the local sandbox (dev routes refused), whose
 * withdraw answers come from `answers` in turn (an ApiError is thrown), and the Idempotency-Keys it was sent.
 */
function noSandbox(
  withdrawAnswers: unknown[],
  status: { status: string } = { status: "pending" },
  registry?: ReturnType<typeof fakeRegistry>,
) {
  const { c } = stubbedClient(registry);
  const keys: string[] = [];
  const tos: string[] = [];
  c.api.request = (async (route: { path: string }, o?: { headers?: Record<string, string>; body?: { to: string } }) => {
    if (route.path === "/v1/dev/wallet") throw new ApiError(403, "dev_chain_disabled", "no sandbox");
    if (route.path === "/v1/account") return { account: c.account, available: "1000", held: "0", reserved: "5000000" };
    if (route.path === "/v1/account/withdrawals/{seqno}") return { seqno: 0, amount: "5000000", to: TO, expiry: 1, ...status };
    if (route.path === "/v1/account/withdraw") {
      keys.push(o!.headers!["idempotency-key"]!);
      tos.push(o!.body!.to);
      const a = withdrawAnswers.shift();
      if (a instanceof Error) throw a;
      return a;
    }
    throw new Error(`stub: no answer for ${route.path}`);
  }) as typeof c.api.request;
  const keyFile = join(tempDir("cocoon-wd-unit-"), "requester.key");
  return { c, keys, tos, keyFile, status };
}

describe("cocoon withdraw without the local sandbox (the signed withdrawal is printed for the requester to send)", () => {
  it("a lost answer is withdrawal_unconfirmed; the rerun sends the same Idempotency-Key and prints the same withdrawal, unsent", async () => {
    // Prepare
    const w = await signedWithdrawal(coordinator.secretKey);
    const { c, keys, keyFile } = noSandbox([new ApiError(0, "unreachable", "socket hang up"), w, w]);

    // Act
    const lost = await withdrawCommand(c, keyFile, 5_000_000n, { to: TO }).catch((e: unknown) => e);
    const again = await withdrawCommand(c, keyFile, 5_000_000n, { to: TO });
    const reprinted = await withdrawCommand(c, keyFile, 5_000_000n, { to: TO });

    // Assess
    expect(lost).toMatchObject({ code: "withdrawal_unconfirmed" });
    expect(again).toMatchObject({ withdrawal: w, sent: false, status: "pending", resumed: true });
    expect(reprinted).toMatchObject({ withdrawal: w, sent: false, resumed: true });
    expect(new Set(keys).size).toBe(1);
    expect(JSON.parse(readFileSync(`${keyFile}.withdrawals.json`, "utf8"))["127.0.0.1:9"]).toMatchObject({ seqno: 0, amount: "5000000" });
  });

  it("another withdrawal is refused while the printed one is pending, and asked for under a new key once it landed", async () => {
    // Prepare
    const w = await signedWithdrawal(coordinator.secretKey);
    const { c, keys, keyFile, status } = noSandbox([w, { ...w, seqno: 1, amount: "1000" }]);
    await withdrawCommand(c, keyFile, 5_000_000n, { to: TO });

    // Act
    const blocked = await withdrawCommand(c, keyFile, 1_000n, { to: TO }).catch((e: unknown) => e);
    status.status = "landed";
    const next = await withdrawCommand(c, keyFile, 1_000n, { to: TO });

    // Assess
    expect(blocked).toMatchObject({ code: "unfinished_withdrawal" });
    expect(next).toMatchObject({ withdrawal: { seqno: 1 }, resumed: false });
    expect(keys).toHaveLength(2);
    expect(keys[0]).not.toBe(keys[1]);
  });

  it("a refusal (4xx) forgets the key: nothing was reserved under it", async () => {
    // Prepare
    const w = await signedWithdrawal(coordinator.secretKey, 0, { amount: 1_000n }); // the second ask's
    const { c, keys, keyFile } = noSandbox([new ApiError(402, "insufficient_funds", "no"), w]);

    // Act
    const refused = await withdrawCommand(c, keyFile, 5_000_000n, { to: TO }).catch((e: unknown) => e);
    const other = await withdrawCommand(c, keyFile, 1_000n, { to: TO });

    // Assess
    expect(refused).toMatchObject({ code: "insufficient_funds" });
    expect(other).toMatchObject({ resumed: false });
    expect(keys[0]).not.toBe(keys[1]);
  });

  it("the same destination in another form (friendly instead of raw) resumes it, sending the form first sent", async () => {
    // Prepare
    const w = await signedWithdrawal(coordinator.secretKey);
    const { c, keys, tos, keyFile } = noSandbox([new ApiError(0, "unreachable", "socket hang up"), w]);
    const friendly = Address.parse(TO).toString({ bounceable: false });
    await withdrawCommand(c, keyFile, 5_000_000n, { to: TO }).catch(() => undefined);

    // Act
    const again = await withdrawCommand(c, keyFile, 5_000_000n, { to: friendly });

    // Assess
    expect(again).toMatchObject({ withdrawal: w, resumed: true });
    expect(keys[1]).toBe(keys[0]);
    expect(tos).toEqual([TO, TO]);
  });

  it("a state file that is not what cocoon wrote is refused with a code (withdrawal_state_unreadable), not a crash", async () => {
    // Prepare
    const { c, keyFile } = noSandbox([]);
    writeFileSync(`${keyFile}.withdrawals.json`, "{ not json");

    // Act
    const r = await withdrawCommand(c, keyFile, 1n, { to: TO }).catch((e: unknown) => e);

    // Assess
    expect(r).toBeInstanceOf(ApiError);
    expect(r).toMatchObject({ code: "withdrawal_state_unreadable" });
  });
});

/**
 * Factory: a client on a coordinator with the local sandbox: its wallet at TO, withdraw answering
 * `w`, the Withdraw sent from the wallet answered by `send` (an ApiError is thrown), and the
 * watcher's status of the withdrawal taken from `statuses` in turn (the last one repeated).
 */
function withSandbox(w: unknown, statuses: string[], send: unknown = { txHash: "ab".repeat(32) }) {
  const { c } = stubbedClient();
  const sent: unknown[] = [];
  c.api.request = (async (route: { path: string }, o?: { body?: unknown }) => {
    if (route.path === "/v1/dev/wallet") return { address: TO };
    if (route.path === "/v1/account") return { account: c.account, available: "1000", held: "0", reserved: "0" };
    if (route.path === "/v1/account/withdraw") return w;
    if (route.path === "/v1/account/withdrawals/{seqno}")
      return { seqno: 0, amount: "5000000", to: TO, expiry: 1, status: statuses.length > 1 ? statuses.shift() : statuses[0] };
    if (route.path === "/v1/dev/wallet/withdraw") {
      sent.push(o?.body);
      if (send instanceof Error) throw send;
      return send;
    }
    throw new Error(`stub: no answer for ${route.path}`);
  }) as typeof c.api.request;
  const keyFile = join(tempDir("cocoon-wd-unit-"), "requester.key");
  const kept = () => JSON.parse(readFileSync(`${keyFile}.withdrawals.json`, "utf8"))["127.0.0.1:9"] as Record<string, unknown> | undefined;
  return { c, keyFile, sent, kept };
}

describe("two cocoon withdraw of one key at once (walk39)", () => {
  it("the second is refused withdrawal_in_progress, nothing asked: both read the empty state file and reserved two withdrawals, the file keeping one", async () => {
    // Prepare: the first one's answer held back until the second has run
    const w = await signedWithdrawal(coordinator.secretKey);
    let answer!: (v: unknown) => void;
    const { c, keys, keyFile } = noSandbox([new Promise((r) => (answer = r)), w]);
    // Act
    const first = withdrawCommand(c, keyFile, 5_000_000n, { to: TO });
    await vi.waitFor(() => expect(keys).toHaveLength(1));
    const second = await withdrawCommand(c, keyFile, 1_000n, { to: TO }).catch((e: unknown) => e);
    answer(w);
    // Assess
    expect(second).toMatchObject({ code: "withdrawal_in_progress" });
    expect((second as Error).message).toContain(`(pid ${process.pid})`);
    expect(keys).toHaveLength(1);
    expect(await first).toMatchObject({ withdrawal: w, resumed: false });
    expect(existsSync(`${keyFile}.withdrawals.json.lock`)).toBe(false);
    // released once the first ended: the next runs
    expect(await withdrawCommand(c, keyFile, 5_000_000n, { to: TO })).toMatchObject({ withdrawal: w, resumed: true });
  });

  it("a lock left by a process that ended (kill -9) is taken over", async () => {
    // Prepare: a pid that is not running (a child that exited)
    const w = await signedWithdrawal(coordinator.secretKey);
    const { c, keys, keyFile } = noSandbox([w]);
    const gone = spawnSync(process.execPath, ["-e", "process.pid"]).pid!;
    writeFileSync(`${keyFile}.withdrawals.json.lock`, String(gone), { mode: 0o600 });
    // Act
    const r = await withdrawCommand(c, keyFile, 5_000_000n, { to: TO });
    // Assess
    expect(r).toMatchObject({ withdrawal: w, resumed: false });
    expect(keys).toHaveLength(1);
    expect(existsSync(`${keyFile}.withdrawals.json.lock`)).toBe(false);
  });
});

describe("cocoon withdraw with the local sandbox (sent from the sandbox wallet, then watched)", () => {
  it("a withdrawal the watcher saw released (expired unpaid) is an error, withdrawal_released, and is forgotten", async () => {
    // Prepare
    const w = await signedWithdrawal(coordinator.secretKey);
    const { c, keyFile, sent, kept } = withSandbox(w, ["pending", "released"]);
    // Act
    const r = await withdrawCommand(c, keyFile, 5_000_000n, { pollMs: 1 }).catch((e: unknown) => e);
    // Assess
    expect(r).toMatchObject({ code: "withdrawal_released", message: expect.stringContaining("nothing was paid") });
    expect(sent).toHaveLength(1);
    expect(kept()).toBeUndefined();
  });

  it("a landed withdrawal names the transaction that paid it, and is forgotten", async () => {
    // Prepare
    const w = await signedWithdrawal(coordinator.secretKey);
    const { c, keyFile, kept } = withSandbox(w, ["pending", "pending", "pending", "landed"]);
    const waits: string[] = [];
    // Act
    const r = await withdrawCommand(c, keyFile, 5_000_000n, { pollMs: 1, onWait: (s) => waits.push(s) });
    // Assess
    expect(r).toMatchObject({ sent: true, status: "landed", txHash: "ab".repeat(32), resumed: false });
    expect(waits).toEqual([`withdrawal ${"ab".repeat(6)}… sent; waiting for the chain watcher to record it`]);
    expect(kept()).toBeUndefined();
  });

  it("a Withdraw the sandbox refuses (withdraw_rejected) says the amount stays reserved and how to retry; the key is kept", async () => {
    // Prepare
    const w = await signedWithdrawal(coordinator.secretKey);
    const { c, keyFile, kept } = withSandbox(w, ["pending"], new ApiError(409, "withdraw_rejected", "the vault refused it"));
    // Act
    const r = await withdrawCommand(c, keyFile, 5_000_000n, { pollMs: 1 }).catch((e: unknown) => e);
    // Assess
    expect(r).toMatchObject({
      status: 409,
      code: "withdraw_rejected",
      message: expect.stringMatching(/^the vault refused it\. The amount stays reserved until .*run the same command again/),
    });
    expect(r).toBeInstanceOf(ApiError);
    expect(kept()).toMatchObject({ seqno: 0, sentAt: expect.any(String) });
  });

  it("another failure sending it is passed on as it is; the key is kept", async () => {
    // Prepare
    const w = await signedWithdrawal(coordinator.secretKey);
    const failure = new ApiError(0, "unreachable", "socket hang up");
    const { c, keyFile, kept } = withSandbox(w, ["pending"], failure);
    // Act
    const r = await withdrawCommand(c, keyFile, 5_000_000n, { pollMs: 1 }).catch((e: unknown) => e);
    // Assess
    expect(r).toBe(failure);
    expect(kept()).toMatchObject({ seqno: 0 });
  });

  it("a withdrawal the watcher does not record in time is withdrawal_not_recorded, naming its transaction; the key is kept", async () => {
    // Prepare
    const w = await signedWithdrawal(coordinator.secretKey);
    const { c, keyFile, kept } = withSandbox(w, ["pending"]);
    // Act
    const r = await withdrawCommand(c, keyFile, 5_000_000n, { pollMs: 1, timeoutMs: 30 }).catch((e: unknown) => e);
    // Assess
    expect(r).toMatchObject({
      code: "withdrawal_not_recorded",
      message: expect.stringContaining(
        `withdrawal seqno 0 (tx ${"ab".repeat(32)}) was sent but the chain watcher has not recorded it within 0 s`,
      ),
    });
    expect(kept()).toMatchObject({ seqno: 0 });
  });
});

describe("cocoon withdraw: where to send it, and a resumed withdrawal that expired", () => {
  it("without the sandbox and without --to it is missing_address, asking nothing", async () => {
    // Prepare
    const { c, keys, keyFile } = noSandbox([]);
    // Act
    const r = await withdrawCommand(c, keyFile, 1n).catch((e: unknown) => e);
    // Assess
    expect(r).toMatchObject({ code: "missing_address" });
    expect(keys).toEqual([]);
  });

  it("a failure asking for the sandbox wallet other than 'no sandbox' is passed on", async () => {
    // Prepare
    const { c, keys, keyFile } = noSandbox([]);
    const failure = new ApiError(500, "internal", "boom");
    const request = c.api.request;
    c.api.request = (async (route: { path: string }, o?: unknown) => {
      if (route.path === "/v1/dev/wallet") throw failure;
      return (request as (r: unknown, o?: unknown) => Promise<unknown>)(route, o);
    }) as typeof c.api.request;
    // Act
    const r = await withdrawCommand(c, keyFile, 1n, { to: TO }).catch((e: unknown) => e);
    // Assess
    expect(r).toBe(failure);
    expect(keys).toEqual([]);
  });

  it("a resumed withdrawal that expired unused (withdrawal_expired) is asked for afresh under a new key", async () => {
    // Prepare
    const w = await signedWithdrawal(coordinator.secretKey, 1);
    const { c, keys, keyFile } = noSandbox([
      new ApiError(0, "unreachable", "socket hang up"),
      new ApiError(410, "withdrawal_expired", "expired"),
      w,
    ]);
    await withdrawCommand(c, keyFile, 5_000_000n, { to: TO }).catch(() => undefined);
    // Act
    const again = await withdrawCommand(c, keyFile, 5_000_000n, { to: TO });
    // Assess
    expect(again).toMatchObject({ withdrawal: { seqno: 1 }, resumed: true });
    expect(keys).toHaveLength(3);
    expect(keys[1]).toBe(keys[0]);
    expect(keys[2]).not.toBe(keys[0]);
    expect(JSON.parse(readFileSync(`${keyFile}.withdrawals.json`, "utf8"))["127.0.0.1:9"]).toMatchObject({
      idempotencyKey: keys[2],
      seqno: 1,
    });
  });

  it("a resumed withdrawal refused outright (402) is not asked for afresh: the refusal is the answer, and the key forgotten", async () => {
    // Prepare
    const { c, keys, keyFile } = noSandbox([
      new ApiError(0, "unreachable", "socket hang up"),
      new ApiError(402, "insufficient_funds", "no"),
    ]);
    await withdrawCommand(c, keyFile, 5_000_000n, { to: TO }).catch(() => undefined);
    // Act
    const r = await withdrawCommand(c, keyFile, 5_000_000n, { to: TO }).catch((e: unknown) => e);
    // Assess
    expect(r).toMatchObject({ code: "insufficient_funds" });
    expect(keys).toEqual([keys[0], keys[0]]);
    expect(JSON.parse(readFileSync(`${keyFile}.withdrawals.json`, "utf8"))).toEqual({});
  });

  it("a resume says so (the same Idempotency-Key); a first ask does not", async () => {
    // Prepare
    const w = await signedWithdrawal(coordinator.secretKey);
    const { c, keyFile } = noSandbox([new ApiError(0, "unreachable", "socket hang up"), w]);
    const first: string[] = [];
    const second: string[] = [];
    await withdrawCommand(c, keyFile, 5_000_000n, { to: TO, onWait: (s) => first.push(s) }).catch(() => undefined);
    // Act
    await withdrawCommand(c, keyFile, 5_000_000n, { to: TO, onWait: (s) => second.push(s) });
    // Assess
    expect(first).toEqual([]);
    expect(second).toEqual([
      expect.stringMatching(/^resuming the withdrawal asked for at .* \(same Idempotency-Key: never reserved twice\)$/),
    ]);
  });

  it("while the coordinator cannot say where an earlier withdrawal stands, another one is refused (unfinished_withdrawal)", async () => {
    // Prepare: one answered (seqno 0), then the status route fails
    const w = await signedWithdrawal(coordinator.secretKey);
    const { c, keys, keyFile } = noSandbox([w]);
    await withdrawCommand(c, keyFile, 5_000_000n, { to: TO });
    const request = c.api.request;
    c.api.request = (async (route: { path: string }, o?: unknown) => {
      if (route.path === "/v1/account/withdrawals/{seqno}") throw new ApiError(0, "unreachable", "socket hang up");
      return (request as (r: unknown, o?: unknown) => Promise<unknown>)(route, o);
    }) as typeof c.api.request;
    // Act
    const r = await withdrawCommand(c, keyFile, 1_000n, { to: TO }).catch((e: unknown) => e);
    // Assess
    expect(r).toMatchObject({ code: "unfinished_withdrawal" });
    expect(keys).toHaveLength(1);
  });

  it("a withdrawal not signed by the registry's coordinator key is refused (never sent) and its key kept: it is reserved", async () => {
    // Prepare
    const forged = await signedWithdrawal(impostor.secretKey);
    const { c, keyFile } = noSandbox([forged], { status: "pending" }, fakeRegistry());
    // Act
    const r = await withdrawCommand(c, keyFile, 5_000_000n, { to: TO }).catch((e: unknown) => e);
    // Assess
    expect(r).toBeInstanceOf(VerificationError);
    expect(JSON.parse(readFileSync(`${keyFile}.withdrawals.json`, "utf8"))["127.0.0.1:9"]).toMatchObject({ amount: "5000000" });
  });

  it("the fresh ask after an expired resume keeps its own key first: its answer lost, the next run resumes it, not a third", async () => {
    // Prepare
    const w = await signedWithdrawal(coordinator.secretKey, 1);
    const lost = () => new ApiError(0, "unreachable", "socket hang up");
    const { c, keys, keyFile } = noSandbox([lost(), new ApiError(410, "withdrawal_expired", "expired"), lost(), w]);
    await withdrawCommand(c, keyFile, 5_000_000n, { to: TO }).catch(() => undefined);
    await withdrawCommand(c, keyFile, 5_000_000n, { to: TO }).catch(() => undefined);
    // Act
    const again = await withdrawCommand(c, keyFile, 5_000_000n, { to: TO });
    // Assess
    expect(again).toMatchObject({ withdrawal: { seqno: 1 }, resumed: true });
    expect(keys).toEqual([keys[0], keys[0], keys[2], keys[2]]);
    expect(keys[2]).toMatch(/^withdraw-[0-9a-f-]{36}$/);
  });
});

describe("the withdrawal state file", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("is replaced whole and fsync'd, file then folder, mode 0600: a power cut cannot leave it empty, forgetting a reserved withdrawal's key", () => {
    // Prepare
    const folder = tempDir("cocoon-wd-state-");
    const intents = new WithdrawalIntents(join(folder, "requester.key"), "127.0.0.1:9");
    const intent = { amount: "5000000", to: TO, idempotencyKey: "wd-key-1", createdAt: "2026-03-01T00:00:00.000Z" };
    const fsyncs = vi.spyOn(durableIo, "fsyncSync");
    // Act
    intents.put(intent);
    // Assess: the temporary file's fsync, then the folder's (after the rename)
    expect(fsyncs).toHaveBeenCalledTimes(2);
    expect(JSON.parse(readFileSync(intents.path, "utf8"))).toEqual({ "127.0.0.1:9": intent });
    expect(statSync(intents.path).mode & 0o777).toBe(0o600);
    expect(readdirSync(folder)).toEqual(["requester.key.withdrawals.json"]);
  });

  it("a write that fails (a full disk) keeps the state it had, whole, and leaves no temporary file", () => {
    // Prepare: one unfinished withdrawal kept, then the disk full
    const folder = tempDir("cocoon-wd-state-full-");
    const intents = new WithdrawalIntents(join(folder, "requester.key"), "127.0.0.1:9");
    const kept = { amount: "5000000", to: TO, idempotencyKey: "wd-key-1", createdAt: "2026-03-01T00:00:00.000Z" };
    intents.put(kept);
    vi.spyOn(durableIo, "writeSync").mockImplementation(() => {
      throw Object.assign(new Error("ENOSPC: played"), { code: "ENOSPC" });
    });
    // Act
    const forget = () => intents.put(undefined);
    // Assess
    expect(forget).toThrow(/ENOSPC/);
    expect(intents.get()).toEqual(kept);
    expect(readdirSync(folder)).toEqual(["requester.key.withdrawals.json"]);
  });
});
