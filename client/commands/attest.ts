/**
 * cocoon attest verify QUOTE_FILE [--collateral FILE] [--at ISO_TIME] [--json]
 *
 * For operators and auditors: verifies an Intel TDX DCAP quote (binary or hex) against the
 * pinned Intel SGX Root CA, and with Intel PCS collateral (JSON layout of
 * test/fixtures/attestation/tdx_quote_collateral.json) reports the TCB status.
 * Exit 0 only when the quote is genuine; 1 when it is not; 64 usage; 66 unreadable input.
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { verifyTdxQuote } from "../../core/attestation/tdx/verify";

interface Io {
  out: { write(s: string): unknown };
  err: { write(s: string): unknown };
}

const USAGE = "usage: cocoon attest verify QUOTE_FILE [--collateral FILE] [--at ISO_TIME] [--json]\n";

/** Binary quote, or hex text (optional 0x, whitespace ignored). */
export function decodeQuoteFile(raw: Uint8Array): Uint8Array {
  const head = new TextDecoder("latin1").decode(raw.subarray(0, Math.min(raw.length, 4096)));
  const looksHex = raw.length > 0 && /^\s*(0x)?[0-9a-fA-F\s]*$/.test(head);
  if (looksHex) {
    const text = new TextDecoder("latin1").decode(raw).trim().replace(/^0x/i, "").replace(/\s+/g, "");
    if (/^[0-9a-fA-F]*$/.test(text) && text.length % 2 === 0 && text.length > 0) return new Uint8Array(Buffer.from(text, "hex"));
  }
  return raw;
}

export async function attestVerifyCommand(argv: string[], io: Io = { out: process.stdout, err: process.stderr }): Promise<number> {
  let values: { collateral?: string; at?: string; json?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { collateral: { type: "string" }, at: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (e) {
    io.err.write(`${(e as Error).message}\n${USAGE}`);
    return 64;
  }
  if (values.help) {
    io.out.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    io.err.write(USAGE);
    return 64;
  }
  const now = values.at ? new Date(values.at) : new Date();
  if (Number.isNaN(now.getTime())) {
    io.err.write(`--at ${values.at} is not an ISO time (e.g. 2025-06-25T00:00:00Z)\n`);
    return 64;
  }
  let quote: Uint8Array;
  let collateral: unknown;
  try {
    quote = decodeQuoteFile(new Uint8Array(await readFile(positionals[0]!)));
  } catch (e) {
    io.err.write(`cannot read quote file ${positionals[0]}: ${(e as Error).message}\n`);
    return 66;
  }
  if (values.collateral) {
    try {
      collateral = JSON.parse(await readFile(values.collateral, "utf8"));
    } catch (e) {
      io.err.write(`cannot read collateral ${values.collateral} as JSON: ${(e as Error).message}\n`);
      return 66;
    }
  }

  const v = await verifyTdxQuote(quote, { now, ...(collateral !== undefined ? { collateral } : {}) });
  const m = v.measurements;
  if (values.json) {
    io.out.write(
      JSON.stringify(
        {
          verdict: v.genuine ? "genuine" : "invalid",
          status: v.status,
          code: v.code,
          reason: v.reason,
          mrtd: m?.mrtd ?? null,
          rtmr0: m?.rtmr0 ?? null,
          rtmr1: m?.rtmr1 ?? null,
          rtmr2: m?.rtmr2 ?? null,
          rtmr3: m?.rtmr3 ?? null,
          reportData: m?.reportData ?? null,
          ...(v.fmspc ? { fmspc: v.fmspc } : {}),
          ...(v.advisoryIds ? { advisoryIds: v.advisoryIds } : {}),
          at: now.toISOString(),
        },
        null,
        2,
      ) + "\n",
    );
  } else if (v.genuine) {
    io.out.write(
      [
        `genuine TDX quote · TCB status ${v.status}${v.code !== "ok" ? ` (${v.code})` : ""}`,
        `  ${v.reason}`,
        ...(v.fmspc ? [`  FMSPC       ${v.fmspc}${v.advisoryIds?.length ? ` · advisories ${v.advisoryIds.join(", ")}` : ""}`] : []),
        `  MRTD        ${m!.mrtd}`,
        `  RTMR0       ${m!.rtmr0}`,
        `  RTMR1       ${m!.rtmr1}`,
        `  RTMR2       ${m!.rtmr2}`,
        `  RTMR3       ${m!.rtmr3}`,
        `  report data ${m!.reportData}`,
        `  verified at ${now.toISOString()}`,
        "",
      ].join("\n"),
    );
  } else {
    io.err.write(`INVALID quote (${v.code}): ${v.reason}\n`);
  }
  return v.genuine ? 0 : 1;
}
