/**
 * Session 23 privacy review: on the tdx tier, the settings that would hand prompts to the host
 * although the attestation says nothing of them are said at start (agent/cli.ts start).
 */
import { describe, expect, it } from "vitest";
import { tdxPrivacyWarnings } from "./cli";

describe("tdxPrivacyWarnings", () => {
  it.each([["http://127.0.0.1:8000/v1"], ["http://127.0.0.2:8000/v1"], ["http://localhost:8000/v1"], ["http://[::1]:8000/v1"]])(
    "an OpenAI-compatible engine on loopback (%s) is not warned about",
    (engineUrl) => {
      // Act
      const warnings = tdxPrivacyWarnings("tdx", { engine: "openai", engineUrl }, false);
      // Assess
      expect(warnings).toEqual([]);
    },
  );

  it.each([["http://10.0.0.5:8000/v1"], ["http://vllm:8000/v1"], ["https://api.example.org/v1"]])(
    "an engine off loopback (%s) is: prompts reach it in the clear",
    (engineUrl) => {
      // Act
      const warnings = tdxPrivacyWarnings("tdx", { engine: "openai", engineUrl }, false);
      // Assess
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(`the engine at ${engineUrl} is not on this machine's loopback`);
    },
  );

  it("--log-engine is warned about on tdx", () => {
    // Act
    const warnings = tdxPrivacyWarnings("tdx", { engine: "llama", engineUrl: "http://127.0.0.1:8000/v1" }, true);
    // Assess
    expect(warnings).toEqual([expect.stringContaining("--log-engine copies the engine's own lines into the log")]);
  });

  it.each([["none"], ["dev"]] as const)("tier %s: nothing (its owner can read prompts anyway, and is told so)", (tier) => {
    // Act
    const warnings = tdxPrivacyWarnings(tier, { engine: "openai", engineUrl: "http://10.0.0.5:8000/v1" }, true);
    // Assess
    expect(warnings).toEqual([]);
  });
});
