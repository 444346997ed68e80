/** `cocoon policy show`'s text: an empty model list reads as what it is (no list in force), not as "no model allowed". */
import { describe, expect, it } from "vitest";
import type { PolicyStateView } from "../../events/receipts";
import { formatPolicyState } from "./policy";

/** Factory: a registry state as the API returns it, with `models` as given. */
const aState = (models: Record<string, string>): PolicyStateView => ({
  address: "0:" + "ab".repeat(32),
  version: 1,
  updatedAt: 1_800_000_000,
  readAt: 1_800_000_100,
  policy: {
    coordinatorKey: "cd".repeat(32),
    fees: { pricePerToken: "100", promptBps: 2_500, completionBps: 10_000, operatorFeeBps: 0 },
    images: ["ef".repeat(32)],
    models,
  },
  multisig: { threshold: 2, ownerCount: 3, timelock: 30, nextProposalId: 0 },
  proposals: [],
});

describe("formatPolicyState: the model list", () => {
  it("says an empty model list is no allow-list in force (any model digest accepted)", () => {
    // Act
    const text = formatPolicyState(aState({}));
    // Assess
    expect(text).toContain("  models (0: no model allow-list in force, any model digest is accepted)");
  });

  it("lists the digests of a list in force, with their prices, and says nothing of 'any'", () => {
    // Act
    const text = formatPolicyState(aState({ ["12".repeat(32)]: "150" }));
    // Assess
    expect(text).toContain(`  models (1)\n    ${"12".repeat(32)} 150 nanoTON/token`);
    expect(text).not.toContain("any model");
  });
});
