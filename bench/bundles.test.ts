/**
 * Guards the bundle budget where it is easiest to lose: a handler that neither signs nor reads
 * the policy registry must carry no TON code (a dynamic import in shared code is enough to put
 * a chunk into every split bundle) and no AWS SDK (the runtime's), and stay within 300 KB.
 */
import { describe, expect, it } from "vitest";
import { BUNDLE_TARGET_KB, buildHandler } from "./bundles";

describe("Lambda bundles, built as the stack builds them", () => {
  it.each(["http/get-job", "queue/matching"])(
    "%s: no TON, no bundled AWS SDK, within the size budget",
    async (handler) => {
      // Act
      const b = await buildHandler(handler);
      // Assess
      expect(b.packages.filter((p) => p.startsWith("@ton/") || p === "axios")).toEqual([]);
      expect(b.packages.filter((p) => p.startsWith("@aws-sdk/"))).toEqual([]);
      expect(b.externals).toContain("@aws-sdk/client-dynamodb");
      expect(b.bytes / 1024).toBeLessThanOrEqual(BUNDLE_TARGET_KB);
    },
    60_000,
  );

  it("a signing route does carry the TON signers (the guard above can see them)", async () => {
    const b = await buildHandler("http/issue-voucher");
    expect(b.packages).toContain("@ton/core");
  }, 60_000);
});
