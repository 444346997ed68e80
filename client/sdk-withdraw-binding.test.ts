/**
 * The signed withdrawal the coordinator answers is what the requester then sends to the vault (or
 * the CLI prints as a ton://transfer link): CocoonClient.withdraw must hand back the withdrawal it
 * asked for (this account, this amount, this destination), never merely one a trusted key signed.
 */
import { Address } from "@ton/core";
import { describe, expect, it } from "vitest";
import { generateSigningKey } from "../core/crypto/keys";
import { VerificationError } from "./sdk";
import { coordinator, fakeRegistry, signedWithdrawal, stubbedClient } from "./sdk-stub-testing";

const TO = "0:" + "cd".repeat(32);
const AMOUNT = 5_000_000n;

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe("withdraw: the signed withdrawal is the one asked for", () => {
  for (const registry of [false, true]) {
    const which = registry ? "with a registry" : "without a registry";
    it(`${which}: another destination, amount or account is refused (withdrawal_mismatch), whoever signed it`, async () => {
      // Prepare
      const cases = {
        destination: { to: "0:" + "ef".repeat(32) },
        amount: { amount: AMOUNT + 1n },
        account: { account: generateSigningKey().id },
      };
      const refused: Record<string, unknown> = {};

      // Act
      for (const [name, over] of Object.entries(cases)) {
        const x = stubbedClient(registry ? fakeRegistry() : undefined);
        x.answers.set("/v1/account/withdraw", await signedWithdrawal(coordinator.secretKey, 0, { to: TO, amount: AMOUNT, ...over }));
        refused[name] = await refusal(x.c.withdraw(AMOUNT, TO));
      }

      // Assess
      for (const name of Object.keys(cases)) {
        expect(refused[name], name).toBeInstanceOf(VerificationError);
        expect(refused[name], name).toMatchObject({ code: "withdrawal_mismatch" });
      }
    });

    it(`${which}: the withdrawal asked for is returned, its destination in another form (raw answer to a friendly request)`, async () => {
      // Prepare
      const x = stubbedClient(registry ? fakeRegistry() : undefined);
      const w = await signedWithdrawal(coordinator.secretKey, 0, { account: x.requester.id, to: TO, amount: AMOUNT });
      x.answers.set("/v1/account/withdraw", w);
      const friendly = Address.parse(TO).toString({ bounceable: false });

      // Act
      const got = await x.c.withdraw(AMOUNT, friendly);

      // Assess
      expect(got).toEqual(w);
    });
  }
});
