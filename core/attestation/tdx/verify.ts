/**
 * Intel TDX DCAP quote verification (quote v4/v5, ECDSA-P256), pure and `now`-parameterised.
 *
 * Without collateral: structure, QE vendor, PCK chain up to the PINNED Intel SGX Root CA,
 * QE report signature (PCK key), QE report data binding (SHA-256(attestation key || QE auth
 * data)), quote signature (attestation key), TD attributes → genuine, status 'Unknown'.
 *
 * With collateral (Intel PCS JSON layout): additionally root CA CRL and PCK CRL (signatures,
 * revocation of every certificate involved), TCB info and QE identity (signatures by the TCB
 * signing certificate chained to the pinned root), FMSPC/PCE-ID match, QE identity match,
 * TDX module identity, TCB level matching (SGX TCB components + PCESVN from the PCK
 * certificate's SGX extension, TDX components from TEE_TCB_SVN) → TCB status. Collateral
 * past its nextUpdate yields its own verdict 'CollateralExpired' (genuine stays true).
 *
 * `cache` (a {@link TdxVerifierCache}) keeps the time-independent work — parsed and
 * signature-checked collateral and certificate chains — across calls; validity periods and
 * freshness are re-checked against `now` on every call.
 */
import { INTEL_SGX_ROOT_CA_PEM } from "./intel-root";
import { collateralIssuedAt, collateralWindows, type TcbStatus, type TdxCollateral } from "./collateral";
import { loadRoot, TdxVerifierCache } from "./cache";
import { prepareCollateral } from "./prepare-collateral";
import { QuoteParseError, parseTdxQuote, type TdxQuote } from "./quote";
import { verifyQuoteSignatures } from "./signatures";
import { matchTcb } from "./tcb";
import { TdxCheckError, hex, serialHex } from "./x509";
import { bytesEqual } from "../../crypto/encoding";

export { TDX_CACHE_MAX_ENTRIES, TdxVerifierCache } from "./cache";
export { mergeTcbStatus } from "./tcb";

export type TdxStatus = TcbStatus | "Unknown" | "CollateralExpired";

export interface TdxMeasurements {
  mrtd: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
  reportData: string;
  mrSeam: string;
  mrSignerSeam: string;
  seamAttributes: string;
  tdAttributes: string;
  xfam: string;
  teeTcbSvn: string;
  mrConfigId: string;
  mrOwner: string;
  mrOwnerConfig: string;
}

export interface TdxVerdict {
  /** Signatures, QE binding and chain to the pinned root hold, nothing revoked or malformed. */
  genuine: boolean;
  status: TdxStatus;
  /** 'ok', 'collateral_expired', or the precise failure code. */
  code: string;
  reason: string;
  /** Lower-case hex; present only when genuine. */
  measurements: TdxMeasurements | undefined;
  fmspc?: string;
  advisoryIds?: string[];
  /**
   * With collateral: when Intel issued the older of its TCB info and QE identity (ms), i.e. how
   * old the evaluation behind `status` is. The collateral is the worker's choice (it travels in
   * the document), so the policy bounds its age (Policy.maxCollateralAgeSeconds).
   */
  collateralIssuedAt?: number;
}

export interface TdxVerifyOptions {
  now: Date;
  /** Intel PCS collateral; validated here (a malformed object gives 'collateral_malformed'). */
  collateral?: TdxCollateral | unknown;
  /** Overrides the pinned Intel SGX Root CA (tests, or a future Intel root). */
  rootCaPem?: string;
  cache?: TdxVerifierCache;
}

function measurementsOf(q: TdxQuote): TdxMeasurements {
  const b = q.body;
  return {
    mrtd: hex(b.mrTd),
    rtmr0: hex(b.rtmr0),
    rtmr1: hex(b.rtmr1),
    rtmr2: hex(b.rtmr2),
    rtmr3: hex(b.rtmr3),
    reportData: hex(b.reportData),
    mrSeam: hex(b.mrSeam),
    mrSignerSeam: hex(b.mrSignerSeam),
    seamAttributes: hex(b.seamAttributes),
    tdAttributes: hex(b.tdAttributes),
    xfam: hex(b.xfam),
    teeTcbSvn: hex(b.teeTcbSvn),
    mrConfigId: hex(b.mrConfigId),
    mrOwner: hex(b.mrOwner),
    mrOwnerConfig: hex(b.mrOwnerConfig),
  };
}

function fail(code: string, reason: string, status: TdxStatus = "Unknown"): TdxVerdict {
  return { genuine: false, status, code, reason, measurements: undefined };
}

/** Verifies a TDX quote; never throws for bad input (the verdict carries a precise code). */
export async function verifyTdxQuote(quote: Uint8Array, opts: TdxVerifyOptions): Promise<TdxVerdict> {
  const cache = opts.cache ?? new TdxVerifierCache();
  const now = opts.now.getTime();
  if (!Number.isFinite(now)) return fail("invalid_time", "`now` is not a valid date");
  let q: TdxQuote;
  try {
    q = parseTdxQuote(quote);
  } catch (e) {
    if (e instanceof QuoteParseError) return fail(e.code, e.message);
    return fail("quote_malformed", (e as Error).message);
  }
  try {
    const root = loadRoot(opts.rootCaPem ?? INTEL_SGX_ROOT_CA_PEM, cache);
    const pck = await verifyQuoteSignatures(q, root, now, cache);
    const measurements = measurementsOf(q);
    if (opts.collateral === undefined) {
      return {
        genuine: true,
        status: "Unknown",
        code: "ok",
        reason: "signatures and PCK chain to the pinned Intel root verified; no collateral, so the TCB status is unknown",
        measurements,
      };
    }
    const col = await prepareCollateral(opts.collateral, root, cache);
    // Revocation of the PCK chain: each certificate must be covered by a CRL from its issuer.
    for (const [i, cert] of pck.certs.entries()) {
      const covering = col.crls.find((c) => bytesEqual(c.issuer, cert.issuer));
      if (!covering) {
        throw new TdxCheckError(
          "pck_crl_issuer_mismatch",
          `no CRL in the collateral is issued by the issuer of PCK chain certificate #${i}: fetch the PCK CRL for the right CA (platform/processor)`,
        );
      }
      if (covering.revoked.has(serialHex(cert))) {
        return {
          ...fail("pck_revoked", `PCK chain certificate #${i} (serial ${serialHex(cert)}) is revoked by the ${covering.what}`, "Revoked"),
        };
      }
    }
    const tcb = matchTcb(q, pck.certs[0]!, col);
    if (tcb.status === "Revoked") {
      return {
        ...fail("tcb_revoked", "the platform TCB level is Revoked in Intel's TCB info", "Revoked"),
        fmspc: tcb.fmspc,
        advisoryIds: tcb.advisoryIds,
      };
    }
    // Freshness of collateral, at `now`.
    const windows = collateralWindows(col);
    for (const w of windows) {
      if (now < w.from) {
        return {
          genuine: true,
          status: "Unknown",
          code: "collateral_not_yet_valid",
          reason: `${w.what} is valid from ${new Date(w.from).toISOString()}, after ${new Date(now).toISOString()}: check the clock`,
          measurements,
          fmspc: tcb.fmspc,
          advisoryIds: tcb.advisoryIds,
        };
      }
    }
    const expired = windows.filter((w) => w.until !== undefined && now > w.until);
    if (expired.length > 0) {
      return {
        genuine: true,
        status: "CollateralExpired",
        code: "collateral_expired",
        reason: `collateral expired: ${expired.map((w) => `${w.what} (next update ${new Date(w.until!).toISOString()})`).join(", ")}; fetch fresh collateral from Intel PCS`,
        measurements,
        fmspc: tcb.fmspc,
        advisoryIds: tcb.advisoryIds,
      };
    }
    return {
      genuine: true,
      status: tcb.status,
      code: "ok",
      reason: `genuine TDX quote, TCB ${tcb.status}`,
      measurements,
      fmspc: tcb.fmspc,
      advisoryIds: tcb.advisoryIds,
      collateralIssuedAt: collateralIssuedAt(windows),
    };
  } catch (e) {
    if (e instanceof TdxCheckError || e instanceof QuoteParseError) return fail(e.code, e.message);
    return fail("verification_error", `unexpected verification error: ${(e as Error).message}`);
  }
}
