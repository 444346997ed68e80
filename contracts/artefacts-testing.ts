/**
 * Checks every contract's tests make of its build artefacts and gas table (vault, registry,
 * anchor): the committed wrapper matches its .tact source, the TS exit codes match the
 * contract's constants, and measured gas equals the recorded table (UPDATE_GAS=1 rewrites it).
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const CONTRACTS_DIR = import.meta.dirname;

/** SHA-256 (hex) of a file under contracts/. */
export const sha256Of = (file: string): string =>
  createHash("sha256")
    .update(readFileSync(join(CONTRACTS_DIR, file)))
    .digest("hex");

/** A build manifest under contracts/build/ (what contracts/build.ts wrote). */
export const manifestOf = <M extends { sourceSha256: string }>(name: string): M =>
  JSON.parse(readFileSync(join(CONTRACTS_DIR, "build", name), "utf8")) as M;

/** The ERR_* constants a generated wrapper exports, as numbers: to compare with the TS exit-code map. */
export const exitCodesOf = (generated: Record<string, unknown>): Record<string, number> =>
  Object.fromEntries(
    Object.entries(generated)
      .filter(([k]) => k.startsWith("ERR_"))
      .map(([k, v]) => [k, Number(v as bigint)]),
  );

/**
 * The recorded gas table `file`, after rewriting it with `measured` (and `extra` top-level fields,
 * the vault's reserve costs) when UPDATE_GAS=1; fields of the old file named by neither are kept.
 */
export function recordedGas<F extends { ops: Record<string, unknown> }>(
  file: string,
  unit: string,
  measured: F["ops"],
  extra: Omit<F, "ops"> | object = {},
): F {
  const path = join(CONTRACTS_DIR, file);
  const read = () => JSON.parse(readFileSync(path, "utf8")) as F;
  if (process.env.UPDATE_GAS === "1") writeFileSync(path, JSON.stringify({ ...read(), unit, ops: measured, ...extra }, null, 2) + "\n");
  return read();
}
