import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Address } from "@ton/core";
import { describe, expect, it } from "vitest";
import { ApiError } from "../../api-client/api";
import { coordinator, signedWithdrawal, stubbedClient } from "../sdk-stub-testing";
import { withdrawCommand } from "./withdraw";

const TO = "0:" + "cd".repeat(32);

/**
 * Factory: a client on a coordinator without the local sandbox (dev routes refused), whose
 * withdraw answers come from `answers` in turn (an ApiError is thrown), and the Idempotency-Keys it was sent.
 */
function noSandbox(withdrawAnswers: unknown[], status: { status: string } = { status: "pending" }) {
  const { c } = stubbedClient();
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
  const keyFile = join(mkdtempSync(join(tmpdir(), "cocoon-wd-unit-")), "requester.key");
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
    const w = await signedWithdrawal(coordinator.secretKey);
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
