import { readdirSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { configfsTsmProvider, detectQuoteProvider, type TsmFs } from "./quote-provider";

// A temp directory plus a mimic of what the kernel does on configfs-tsm: mkdir creates the
// attribute files, writing inblob bumps generation and produces outblob, rmdir removes all.
function kernelMimic(o: { provider?: string; racer?: boolean } = {}): TsmFs & { writes: Uint8Array[] } {
  const writes: Uint8Array[] = [];
  let racing = o.racer ?? false;
  return {
    writes,
    async mkdir(p) {
      await fsp.mkdir(p);
      await fsp.writeFile(join(p, "provider"), `${o.provider ?? "tdx_guest"}\n`);
      await fsp.writeFile(join(p, "generation"), "0\n");
    },
    async writeFile(p, d) {
      await fsp.writeFile(p, d);
      if (p.endsWith("inblob")) {
        writes.push(d);
        const dir = p.slice(0, -"/inblob".length);
        const g = Number((await fsp.readFile(join(dir, "generation"), "utf8")).trim());
        await fsp.writeFile(join(dir, "generation"), `${g + 1}\n`);
        await fsp.writeFile(join(dir, "outblob"), Buffer.concat([Buffer.from("QUOTE:"), Buffer.from(d)]));
      }
    },
    async readFile(p) {
      if (racing && p.endsWith("outblob")) {
        racing = false; // one concurrent writer, once
        const dir = p.slice(0, -"/outblob".length);
        await fsp.writeFile(join(dir, "generation"), "99\n");
      }
      return new Uint8Array(await fsp.readFile(p));
    },
    async rmdir(p) {
      await fsp.rm(p, { recursive: true });
    },
  };
}

let root: string;
function makeRoot() {
  root = tempDir("cocoon-tsm-report-");
  return root;
}

describe("configfsTsmProvider", () => {
  it("mkdir, writes inblob, reads outblob, rmdirs the entry", async () => {
    // Prepare
    const fs = kernelMimic();
    const rd = new Uint8Array(64).fill(7);
    // Act
    const quote = await configfsTsmProvider(makeRoot(), fs).quote(rd);
    // Assess
    expect(Buffer.from(quote).toString("latin1")).toBe("QUOTE:" + "\u0007".repeat(64));
    expect(fs.writes).toHaveLength(1);
    expect(readdirSync(root)).toEqual([]);
  });

  it("retries with a fresh entry when generation changes under it", async () => {
    const fs = kernelMimic({ racer: true });
    const quote = await configfsTsmProvider(makeRoot(), fs).quote(new Uint8Array(64));
    expect(quote.length).toBe(70);
    expect(fs.writes).toHaveLength(2);
    expect(readdirSync(root)).toEqual([]);
  });

  it("refuses report data that is not 64 bytes (bad_report_data)", async () => {
    await expect(configfsTsmProvider(makeRoot(), kernelMimic()).quote(new Uint8Array(32))).rejects.toMatchObject({
      code: "bad_report_data",
    });
  });

  it("refuses a non-TDX TSM provider and still cleans up", async () => {
    await expect(configfsTsmProvider(makeRoot(), kernelMimic({ provider: "sev_guest" })).quote(new Uint8Array(64))).rejects.toMatchObject({
      code: "tsm_provider_unsupported",
    });
    expect(readdirSync(root)).toEqual([]);
  });

  it("reports an unusable root (tsm_failed)", async () => {
    makeRoot();
    await expect(configfsTsmProvider(join(root, "missing")).quote(new Uint8Array(64))).rejects.toMatchObject({ code: "tsm_failed" });
  });
});

describe("detectQuoteProvider", () => {
  it("uses configfs-tsm when present", () => {
    expect(detectQuoteProvider({ dev: false, root: makeRoot() }).tier).toBe("tdx");
    expect(detectQuoteProvider({ dev: true, root }).tier).toBe("tdx");
  });
  it("falls back to dev only when chosen explicitly", async () => {
    makeRoot();
    const p = detectQuoteProvider({ dev: true, root: join(root, "nope") });
    expect(p.tier).toBe("dev");
    expect(JSON.parse(new TextDecoder().decode(await p.quote(new Uint8Array(64))))).toMatchObject({ simulated: true });
  });
  it("otherwise refuses to start, telling the operator about --dev-attestation", () => {
    makeRoot();
    expect(() => detectQuoteProvider({ dev: false, root: join(root, "nope") })).toThrow(
      expect.objectContaining({ code: "no_tee", message: expect.stringContaining("--dev-attestation") }),
    );
  });
});
