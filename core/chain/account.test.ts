import { describe, expect, it } from "vitest";
import { accountIdFromHex, accountIdFromUint, accountIdToHex, accountIdToUint, depositCommentFor, InvalidAccountIdError } from "./account";

describe("account ids", () => {
  const key = Buffer.from("8f".repeat(32), "hex");
  const id = key.toString("base64url");

  it("round-trips base64url <-> hex <-> uint256", () => {
    expect(accountIdToHex(id)).toBe("8f".repeat(32));
    expect(accountIdFromHex("8f".repeat(32))).toBe(id);
    expect(accountIdFromUint(accountIdToUint(id))).toBe(id);
    expect(accountIdFromUint(1n)).toBe(Buffer.from("00".repeat(31) + "01", "hex").toString("base64url"));
    expect(depositCommentFor(id)).toBe(`deposit:${"8f".repeat(32)}`);
  });

  it.each([
    ["short", key.subarray(0, 31).toString("base64url")],
    ["padded", key.toString("base64")],
    ["not base64", "!".repeat(43)],
  ])("rejects a %s id with code invalid_account_id", (_, bad) => {
    const e = (() => {
      try {
        accountIdToHex(bad);
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(InvalidAccountIdError);
    expect((e as InvalidAccountIdError).code).toBe("invalid_account_id");
  });
});
