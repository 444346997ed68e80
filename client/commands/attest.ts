/**
 * cocoon attest verify QUOTE_FILE [--collateral FILE] [--at ISO_TIME] [--json]
 *
 * For operators and auditors: verifies an Intel TDX DCAP quote (binary or hex) against the
 * pinned Intel SGX Root CA, and with Intel PCS collateral (JSON layout of
 * test/fixtures/attestation/tdx_quote_collateral.json) reports the TCB status.
 * Exit 0 only when the quote is genuine; 1 when it is not; 64 usage; 66 unreadable input.
 */
import { readFile } from "node:fs/promises";
import { type Command, InvalidArgumentError } from "commander";
import { verifyTdxQuote } from "../../core/attestation/tdx/verify";
import { newProgram, reportError, runProgram, type Io } from "../../api-client/program";

const DESCRIPTION =
  "verify an Intel TDX DCAP quote (binary or hex) against the pinned Intel root; with Intel PCS collateral, report the TCB status. Exit 0 genuine, 1 not genuine, 64 usage, 66 unreadable input";

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

function isoTime(v: string): Date {
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError("must be an ISO time (e.g. 2025-06-25T00:00:00Z).");
  return d;
}

/** Gives `cmd` the arguments, options and action of `attest verify`; the action reports its exit code to `setCode`. */
export function defineAttestVerify(cmd: Command, io: Io, setCode: (code: number) => void): Command {
  return cmd
    .description(DESCRIPTION)
    .argument("<quote-file>", "the quote: binary, or hex text")
    .option("--collateral <file>", "Intel PCS collateral as JSON (layout of test/fixtures/attestation/tdx_quote_collateral.json)")
    .option("--at <iso-time>", "verify as of this time (default: now)", isoTime)
    .option("--json", "print the verdict as JSON")
    .action(async (file: string, o: { collateral?: string; at?: Date; json?: boolean }) => setCode(await attestVerify(file, o, io)));
}

/** `cocoon attest verify …` on its own: argv is what follows `verify`. */
export async function attestVerifyCommand(argv: string[], io: Io = { out: process.stdout, err: process.stderr }): Promise<number> {
  let code = 0;
  const program = defineAttestVerify(newProgram("cocoon attest verify", DESCRIPTION, io), io, (c) => (code = c));
  return runProgram(program, argv, () => code);
}

export async function attestVerify(file: string, values: { collateral?: string; at?: Date; json?: boolean }, io: Io): Promise<number> {
  const now = values.at ?? new Date();
  let quote: Uint8Array;
  let collateral: unknown;
  try {
    quote = decodeQuoteFile(new Uint8Array(await readFile(file)));
  } catch (e) {
    // as every CLI failure: `error [code]: …`, or one JSON line with --json (a script's parser reads it)
    reportError(io, values.json, { code: "unreadable_quote", message: `cannot read quote file ${file}: ${(e as Error).message}` });
    return 66;
  }
  if (values.collateral) {
    try {
      collateral = JSON.parse(await readFile(values.collateral, "utf8"));
    } catch (e) {
      reportError(io, values.json, {
        code: "unreadable_collateral",
        message: `cannot read collateral ${values.collateral} as JSON: ${(e as Error).message}`,
      });
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
