import { describe, expect, it } from "vitest";
import { isProductionStage } from "./stages";

describe("isProductionStage", () => {
  it.each([
    ["prod", true],
    ["production", true],
    ["Prod", true],
    ["prod-eu", true],
    ["dev", false],
    ["alice", false],
    ["preprod", false],
    ["", false],
  ])("%s → %s", (stage, expected) => {
    expect(isProductionStage(stage)).toBe(expected);
  });
});
