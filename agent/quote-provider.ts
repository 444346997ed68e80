/**
 * Where an agent gets its attestation evidence.
 *
 * - configfs-tsm (Linux ≥ 6.7, TDX guests): the kernel's generic TSM report ABI,
 *   Documentation/ABI/testing/configfs-tsm. One report = one directory:
 *     mkdir  $root/<name>            (the kernel creates the attribute files)
 *     write  $root/<name>/inblob     (64 bytes: the TDX REPORTDATA)
 *     read   $root/<name>/outblob    (the signed quote, produced on read)
 *     read   $root/<name>/generation (bumped on every inblob write: detects a concurrent writer)
 *     rmdir  $root/<name>
 * - dev: SIMULATED evidence (core/attestation/dev.ts), only when the operator chose it
 *   explicitly (--dev-attestation). It proves nothing.
 */
import { existsSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { AttestationTier } from "../events/attestation";

export interface QuoteProvider {
  tier: AttestationTier;
  /** Evidence whose report data is `reportData` (64 bytes). */
  quote(reportData: Uint8Array): Promise<Uint8Array>;
}

export class QuoteProviderError extends Error {
  override readonly name = "QuoteProviderError";
  constructor(
    readonly code: "no_tee" | "bad_report_data" | "tsm_provider_unsupported" | "tsm_busy" | "tsm_failed",
    message: string,
  ) {
    super(message);
  }
}

export const CONFIGFS_TSM_ROOT = "/sys/kernel/config/tsm/report";

/** The subset of node:fs/promises the provider uses (tests pass a kernel mimic). */
export interface TsmFs {
  mkdir(path: string): Promise<unknown>;
  writeFile(path: string, data: Uint8Array): Promise<void>;
  readFile(path: string): Promise<Uint8Array>;
  rmdir(path: string): Promise<void>;
}
const nodeFs: TsmFs = {
  mkdir: (p) => fsp.mkdir(p),
  writeFile: (p, d) => fsp.writeFile(p, d),
  readFile: async (p) => new Uint8Array(await fsp.readFile(p)),
  rmdir: (p) => fsp.rmdir(p),
};

const text = (b: Uint8Array) => new TextDecoder().decode(b).trim();

export function configfsTsmProvider(root = CONFIGFS_TSM_ROOT, fs: TsmFs = nodeFs): QuoteProvider {
  return {
    tier: "tdx",
    async quote(reportData: Uint8Array): Promise<Uint8Array> {
      if (reportData.length !== 64) {
        throw new QuoteProviderError("bad_report_data", `TDX report data must be 64 bytes, got ${reportData.length}`);
      }
      for (let attempt = 0; attempt < 3; attempt++) {
        const dir = join(root, `cocoon-${randomBytes(8).toString("hex")}`);
        try {
          await fs.mkdir(dir);
        } catch (e) {
          throw new QuoteProviderError(
            "tsm_failed",
            `cannot create ${dir} (${(e as Error).message}): run the agent as root inside the TDX guest`,
          );
        }
        try {
          const provider = await fs.readFile(join(dir, "provider")).then(text, () => undefined);
          if (provider !== undefined && provider !== "tdx_guest") {
            throw new QuoteProviderError("tsm_provider_unsupported", `configfs-tsm provider is "${provider}", only tdx_guest is supported`);
          }
          await fs.writeFile(join(dir, "inblob"), reportData);
          const before = await fs.readFile(join(dir, "generation")).then(text, () => undefined);
          const quote = await fs.readFile(join(dir, "outblob"));
          const after = await fs.readFile(join(dir, "generation")).then(text, () => undefined);
          if (before !== after) continue; // someone else wrote inblob meanwhile: retry with a fresh entry
          if (quote.length === 0) throw new QuoteProviderError("tsm_failed", "configfs-tsm returned an empty quote");
          return quote;
        } finally {
          await fs.rmdir(dir).catch(() => undefined);
        }
      }
      throw new QuoteProviderError(
        "tsm_busy",
        "configfs-tsm report kept changing under us (3 attempts): another process is writing the same entry",
      );
    },
  };
}

/** SIMULATED: returns a JSON stand-in for a quote. Evidence for tier dev is built by core/attestation/dev. */
export function devQuoteProvider(): QuoteProvider {
  return {
    tier: "dev",
    async quote(reportData: Uint8Array) {
      return new TextEncoder().encode(JSON.stringify({ simulated: true, reportData: Buffer.from(reportData).toString("hex") }));
    },
  };
}

/**
 * configfs-tsm when the platform has it; else the dev provider only if the operator chose it
 * explicitly; else refuse to start.
 */
export function detectQuoteProvider(o: { dev: boolean; root?: string; fs?: TsmFs }): QuoteProvider {
  const root = o.root ?? CONFIGFS_TSM_ROOT;
  if (existsSync(root)) return configfsTsmProvider(root, o.fs);
  if (o.dev) return devQuoteProvider();
  throw new QuoteProviderError(
    "no_tee",
    `no TDX quote interface at ${root} (not a TDX guest, or configfs not mounted / kernel < 6.7). ` +
      "Run inside a TDX confidential VM; on a machine without one, choose the home tier (NOT confidential): --tier none, " +
      "or cocoon-agent init --force --tier none; --tier dev (--dev-attestation) runs with SIMULATED attestation (local testing only).",
  );
}
