/**
 * Session 23 privacy review: on the tdx tier, the settings that would hand prompts to the host
 * although the attestation says nothing of them are said at start (agent/cli.ts start).
 */
import { describe, expect, it } from "vitest";
import { coreLimitOf, swapDevicesOnDisk, tdxPrivacyWarnings } from "./cli";

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

  it.each([["unlimited"], ["1048576"]])(
    "session 31: core dumps on (soft limit %s) are warned about: a crash would write running jobs' text to disk",
    (coreLimit) => {
      // Act
      const warnings = tdxPrivacyWarnings("tdx", { engine: "llama", engineUrl: "http://127.0.0.1:8000/v1" }, false, coreLimit);
      // Assess
      expect(warnings).toEqual([expect.stringContaining(`core dumps are on (soft limit ${coreLimit})`)]);
      expect(warnings[0]).toContain("LimitCORE=0");
    },
  );

  it("session 31: core dumps off (soft limit 0), or a limit /proc cannot tell: nothing", () => {
    // Act + Assess
    expect(tdxPrivacyWarnings("tdx", { engine: "llama", engineUrl: "http://127.0.0.1:8000/v1" }, false, "0")).toEqual([]);
    expect(tdxPrivacyWarnings("tdx", { engine: "llama", engineUrl: "http://127.0.0.1:8000/v1" }, false, undefined)).toEqual([]);
    expect(tdxPrivacyWarnings("none", { engine: "llama", engineUrl: "http://127.0.0.1:8000/v1" }, false, "unlimited")).toEqual([]);
  });
});

describe("tdxPrivacyWarnings: node's own flags (session 31)", () => {
  const llama = { engine: "llama" as const, engineUrl: "http://127.0.0.1:8000/v1" };

  it.each([
    ["--inspect"],
    ["--inspect=0.0.0.0:9229"],
    ["--inspect-brk"],
    ["--inspect-port=9230"],
    ["--heapsnapshot-signal=SIGUSR2"],
    ["--heapsnapshot-near-heap-limit=3"],
  ])("%s opens the agent's memory: warned about", (flag) => {
    // Act
    const warnings = tdxPrivacyWarnings("tdx", llama, false, "0", ["--enable-source-maps", flag]);
    // Assess
    expect(warnings).toEqual([expect.stringContaining(`node runs with ${flag}:`)]);
  });

  it("other flags, and the same flags off the tdx tier: nothing", () => {
    // Act + Assess
    expect(tdxPrivacyWarnings("tdx", llama, false, "0", ["--enable-source-maps", "--max-old-space-size=4096", "--import", "x"])).toEqual(
      [],
    );
    expect(tdxPrivacyWarnings("dev", llama, false, "0", ["--inspect"])).toEqual([]);
  });
});

describe("coreLimitOf (/proc/<pid>/limits)", () => {
  it("reads the soft limit of the core file size line", () => {
    // Prepare: Linux's layout
    const limits = [
      "Limit                     Soft Limit           Hard Limit           Units     ",
      "Max file size             unlimited            unlimited            bytes     ",
      "Max core file size        0                    unlimited            bytes     ",
      "Max resident set          unlimited            unlimited            bytes     ",
    ].join("\n");
    // Act + Assess
    expect(coreLimitOf(limits)).toBe("0");
    expect(coreLimitOf(limits.replace("Max core file size        0 ", "Max core file size        unlimited "))).toBe("unlimited");
    expect(coreLimitOf("Max file size unlimited unlimited bytes")).toBeUndefined();
  });
});

describe("swap (session 42 privacy review: TDX encrypts memory, not what is paged out to the host's disk)", () => {
  const header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
  const llama = { engine: "llama" as const, engineUrl: "http://127.0.0.1:8000/v1" };

  it("a tdx start warns when a swap device other than zram is on", () => {
    // Prepare: a partition and a swap file beside a zram device
    const swaps = `${header}/dev/vdb\tpartition\t8388604\t0\t-2\n/swapfile\tfile\t1048572\t0\t-3\n/dev/zram0\tpartition\t4194300\t0\t100\n`;
    // Act
    const warnings = tdxPrivacyWarnings("tdx", llama, false, "0", [], swaps);
    // Assess: one warning naming the disk devices only
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("swap is on (/dev/vdb, /swapfile)");
    expect(warnings[0]).toContain("MemorySwapMax=0");
  });

  it("says nothing for no swap, zram only, an unreadable /proc/swaps, or a tier that is not tdx", () => {
    expect(tdxPrivacyWarnings("tdx", llama, false, "0", [], header)).toEqual([]);
    expect(tdxPrivacyWarnings("tdx", llama, false, "0", [], `${header}/dev/zram0\tpartition\t4194300\t0\t100\n`)).toEqual([]);
    expect(tdxPrivacyWarnings("tdx", llama, false, "0", [], undefined)).toEqual([]);
    expect(tdxPrivacyWarnings("dev", llama, false, "0", [], `${header}/dev/vdb\tpartition\t8388604\t0\t-2\n`)).toEqual([]);
  });

  it("swapDevicesOnDisk reads /proc/swaps' first column past its header", () => {
    expect(swapDevicesOnDisk(`${header}/dev/sda2 partition 1 0 -2\n\n`)).toEqual(["/dev/sda2"]);
    expect(swapDevicesOnDisk("")).toEqual([]);
  });
});
