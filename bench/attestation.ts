/**
 * Quote verification time: our verifier cold (fresh cache: parse, chains, CRLs, collateral
 * signatures), warm (cached verified collateral and chains; quote signatures, QE binding,
 * TCB matching and freshness still run every time), and @phala/dcap-qvl in the same run.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { TdxVerifierCache, verifyTdxQuote } from "../core/attestation/tdx/verify";
import type { BenchResult } from "./types";

const fixtures = fileURLToPath(new URL("../test/fixtures/attestation/", import.meta.url));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function time(n: number, f: () => Promise<unknown> | unknown): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    xs.push(performance.now() - t);
  }
  return median(xs);
}

const round = (x: number) => Math.round(x * 1000) / 1000;

export async function benchAttestation(): Promise<BenchResult[]> {
  const quote = new Uint8Array(readFileSync(fixtures + "tdx_quote.bin"));
  const collateral = JSON.parse(readFileSync(fixtures + "tdx_quote_collateral.json", "utf8"));
  const now = new Date("2025-06-25T00:00:00Z");

  // Sanity + JIT warm-up of the code paths (not of the cache).
  const v = await verifyTdxQuote(quote, { now, collateral });
  if (!v.genuine || v.status !== "UpToDate") throw new Error(`bench sample did not verify: ${v.code}`);
  for (let i = 0; i < 3; i++) await verifyTdxQuote(quote, { now, collateral });

  const cold = await time(30, () => verifyTdxQuote(quote, { now, collateral, cache: new TdxVerifierCache() }));
  const coldNoCollateral = await time(30, () => verifyTdxQuote(quote, { now, cache: new TdxVerifierCache() }));
  const cache = new TdxVerifierCache();
  await verifyTdxQuote(quote, { now, collateral, cache });
  const warm = await time(300, () => verifyTdxQuote(quote, { now, collateral, cache }));

  const require = createRequire(import.meta.url);
  const dcap = require("@phala/dcap-qvl") as { verify(q: Buffer, c: unknown, nowSecs: number): unknown };
  const qb = Buffer.from(quote);
  dcap.verify(qb, collateral, now.getTime() / 1000);
  const oracle = await time(30, () => dcap.verify(qb, collateral, now.getTime() / 1000));

  return [
    { name: "attestation.tdx_verify_cold_ms", value: round(cold), unit: "ms (median)", target: "< 50", ok: cold < 50 },
    { name: "attestation.tdx_verify_cold_no_collateral_ms", value: round(coldNoCollateral), unit: "ms (median)", target: "< 20", ok: coldNoCollateral < 20 },
    { name: "attestation.tdx_verify_warm_ms", value: round(warm), unit: "ms (median)", target: "< 5", ok: warm < 5 },
    { name: "attestation.dcap_qvl_verify_ms", value: round(oracle), unit: "ms (median, reference)", target: null, ok: null },
    { name: "attestation.cold_vs_dcap_qvl_speedup", value: round(oracle / cold), unit: "x", target: null, ok: null },
  ];
}
