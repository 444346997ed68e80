/**
 * Mutants of CocoonClient.withdraw's withdrawal_mismatch check (session 38, helper mut38) that
 * client/sdk-withdraw-binding.test.ts left alive: a destination that is no TON address at all.
 */
import { describe, expect, it } from "vitest";
import { VerificationError } from "./sdk";
import { coordinator, signedWithdrawal, stubbedClient } from "./sdk-stub-testing";

const TO = "0:" + "cd".repeat(32);
const AMOUNT = 5_000_000n;

describe("withdraw: a destination that does not parse", () => {
  it("an answer whose destination is no address is refused (withdrawal_mismatch), not handed back to be sent", async () => {
    // Prepare: the withdrawal asked for, its destination then garbled (no registry: no signature check after)
    const x = stubbedClient();
    const w = await signedWithdrawal(coordinator.secretKey, 0, { account: x.requester.id, to: TO, amount: AMOUNT });
    x.answers.set("/v1/account/withdraw", { ...w, to: "not-an-address" });
    // Act
    const refused = await x.c.withdraw(AMOUNT, TO).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Assess
    expect(refused).toBeInstanceOf(VerificationError);
    expect(refused).toMatchObject({ code: "withdrawal_mismatch" });
  });
});
