/**
 * client/commands/withdraw.ts lockWithdrawals (mutation pass mut39): a lock file with no pid yet,
 * one with a pid that is no process id, a lock whose holder runs as another user, a lock that is
 * removed while it is looked at, and a lock that cannot be made or read at all. Each test fails
 * with the mutant named beside it applied.
 */
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { tempDir } from "../../test/temp-dir";
import { lockWithdrawals } from "./withdraw";

/** Set by a test: the next read of a lock file finds it removed since its open failed (its holder released it). */
const fsHook = vi.hoisted(() => ({ vanishNextLockRead: false }));
vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>();
  const readFileSync = ((path: string, ...rest: unknown[]) => {
    if (fsHook.vanishNextLockRead && String(path).endsWith(".lock")) {
      fsHook.vanishNextLockRead = false;
      fs.rmSync(path);
    }
    return (fs.readFileSync as (...a: unknown[]) => unknown)(path, ...rest);
  }) as typeof fs.readFileSync;
  return { ...fs, readFileSync };
});

afterEach(() => {
  fsHook.vanishNextLockRead = false;
  vi.restoreAllMocks();
});

const statePath = () => join(tempDir("cocoon-wd-mut39-"), "requester.key.withdrawals.json");
/** A lock file of `text`, last written `ageMs` ago. */
const lockOf = (state: string, text: string, ageMs = 0) => {
  writeFileSync(`${state}.lock`, text, { mode: 0o600 });
  const t = (Date.now() - ageMs) / 1000;
  utimesSync(`${state}.lock`, t, t);
};
const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e as Error & { code?: string };
  }
  return undefined;
};

describe("a lock file with no pid in it (its maker between open and write)", () => {
  it("is held while young, and the refusal names no pid", () => {
    // Prepare
    const state = statePath();
    lockOf(state, "");
    // Act
    const e = refusal(() => lockWithdrawals(state));
    // Assess (killed: an empty lock never held; empty read as pid 0)
    expect(e?.code).toBe("withdrawal_in_progress");
    expect(e?.message).not.toContain("(pid");
  });

  it("is taken over once older than its maker could take to write it", () => {
    // Prepare
    const state = statePath();
    lockOf(state, "", 60_000);
    // Act
    const release = lockWithdrawals(state);
    // Assess (killed: an empty lock always held; the age test flipped)
    expect(readFileSync(`${state}.lock`, "utf8")).toBe(String(process.pid));
    release();
    expect(existsSync(`${state}.lock`)).toBe(false);
  });

  it.each([
    ["0", "pid 0 (kill(0) asks this process's own group)"],
    ["99999999999999999999", "a pid past a safe integer"],
  ])("%s is no pid (%s): judged by its age like an empty one", (text) => {
    // Prepare
    const young = statePath();
    const old = statePath();
    lockOf(young, text);
    lockOf(old, text, 60_000);
    // Act / Assess (killed: pid 0 asked of the OS, which answers for our own group; no safe-integer test)
    expect(refusal(() => lockWithdrawals(young))?.code).toBe("withdrawal_in_progress");
    lockWithdrawals(old)();
  });
});

describe("a lock with a pid", () => {
  it("is held when its process runs as another user (the OS answers EPERM)", () => {
    // Prepare
    const state = statePath();
    lockOf(state, "4242", 60_000);
    vi.spyOn(process, "kill").mockImplementation(() => {
      throw Object.assign(new Error("kill EPERM"), { code: "EPERM" });
    });
    // Act / Assess (killed: EPERM read as not running)
    expect(refusal(() => lockWithdrawals(state))).toMatchObject({ code: "withdrawal_in_progress" });
    expect(readFileSync(`${state}.lock`, "utf8")).toBe("4242");
  });

  it("released while it is looked at is taken on the next try", () => {
    // Prepare
    const state = statePath();
    lockOf(state, String(process.pid));
    fsHook.vanishNextLockRead = true;
    // Act
    const release = lockWithdrawals(state);
    // Assess (killed: a lock gone since its open failed refused)
    expect(readFileSync(`${state}.lock`, "utf8")).toBe(String(process.pid));
    release();
  });
});

describe("a lock that cannot be made or read", () => {
  it("a folder that is missing is the filesystem's error, not withdrawal_in_progress", () => {
    // Act / Assess (killed: every failure to open read as the lock existing)
    expect(refusal(() => lockWithdrawals(join(statePath(), "missing", "state.json")))).toMatchObject({ code: "ENOENT" });
  });

  it("a lock that cannot be read on either try (a folder in its place) is refused, never passed over unlocked", () => {
    // Prepare
    const state = statePath();
    mkdirSync(`${state}.lock`);
    // Act / Assess (killed: the tries exhausted going on without the lock)
    expect(refusal(() => lockWithdrawals(state))).toMatchObject({ code: "withdrawal_in_progress" });
  });
});
