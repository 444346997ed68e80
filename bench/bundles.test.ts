/**
 * Guards the bundle budget where it is easiest to lose: no request handler (HTTP routes, the
 * queue consumer) may carry TON code (issue 12: the signing routes build the vault's cells
 * themselves, the registry routes read the chain watcher's snapshot; a dynamic import in shared
 * code is enough to put a chunk into every split bundle) or the AWS SDK (the runtime's), and
 * each stays within 300 KB. Only the scheduled functions talk to TON, and they too without a TON
 * library (their cells, BOCs and wallet are functions/adapters/ton-*.ts).
 */
import { describe, expect, it } from "vitest";
import { BUNDLE_TARGET_KB, buildHandler, handlerModules } from "./bundles";

describe("Lambda bundles, built as the stack builds them", () => {
  it.each(handlerModules().filter((h) => !h.startsWith("schedule/")))(
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

  it("the guard can see TON code: a module that imports @ton/core (ton-chain.ts, the local default's reader) bundles it", async () => {
    const b = await buildHandler("adapters/ton-chain");
    expect(b.packages).toContain("@ton/core");
  }, 60_000);

  it.each(handlerModules().filter((h) => h.startsWith("schedule/")))(
    "%s: no TON library (issue 12: functions/adapters/ton-*.ts), no axios, within the size budget",
    async (handler) => {
      const b = await buildHandler(handler);
      expect(b.packages.filter((p) => p.startsWith("@ton/") || p === "axios" || p === "mime-db" || p === "tweetnacl")).toEqual([]);
      expect(b.bytes / 1024).toBeLessThanOrEqual(BUNDLE_TARGET_KB);
    },
    60_000,
  );
});
