/**
 * Collateral for TDX quote verification, in the JSON layout Intel PCS serves (and that
 * dcap-qvl's `sample/tdx_quote_collateral.json` uses): CRLs as hex DER, issuer chains as PEM,
 * TCB info and QE identity as the exact signed JSON text, signatures as hex r||s.
 */
import { z } from "zod";

/** Size caps (issue 9 #5): collateral may come inside a worker's evidence, so it is bounded before it is parsed. */
const Hex = (maxBytes: number) =>
  z
    .string()
    .max(maxBytes * 2, `must be at most ${maxBytes} bytes`)
    .regex(/^([0-9a-fA-F]{2})*$/, "must be hex");
/** A PEM chain: a few certificates (quote.ts also caps their count and size). */
const PemChain = z
  .string()
  .min(1)
  .max(16 * 1024, "must be at most 16 KiB of PEM");
/** Signed JSON from Intel PCS (TCB info is about 3 KB today). */
const SignedJson = z
  .string()
  .min(2)
  .max(64 * 1024, "must be at most 64 KiB");

export const TdxCollateral = z.object({
  pck_crl_issuer_chain: PemChain,
  root_ca_crl: Hex(64 * 1024),
  pck_crl: Hex(256 * 1024),
  tcb_info_issuer_chain: PemChain,
  /** The exact JSON text Intel signed (the "tcbInfo" member of the PCS response). */
  tcb_info: SignedJson,
  tcb_info_signature: Hex(128),
  qe_identity_issuer_chain: PemChain,
  /** The exact JSON text Intel signed (the "enclaveIdentity" member). */
  qe_identity: SignedJson,
  qe_identity_signature: Hex(128),
});
export type TdxCollateral = z.infer<typeof TdxCollateral>;

export const TcbStatus = z.enum([
  "UpToDate",
  "SWHardeningNeeded",
  "ConfigurationNeeded",
  "ConfigurationAndSWHardeningNeeded",
  "OutOfDate",
  "OutOfDateConfigurationNeeded",
  "Revoked",
]);
export type TcbStatus = z.infer<typeof TcbStatus>;

const HexN = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`), `must be ${bytes} bytes of hex`);
const Svn = z.object({ svn: z.number().int().min(0).max(255) });
const IsoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), "must be an ISO date");

/** One TCB level of an enclave identity (QE identity, TD QE module): an ISV SVN and its status. */
const IsvTcbLevel = z.object({
  tcb: z.object({ isvsvn: z.number().int().min(0) }),
  tcbDate: IsoDate.optional(),
  tcbStatus: TcbStatus,
  advisoryIDs: z.array(z.string()).optional(),
});

const ModuleIdentity = z.object({
  id: z.string().optional(),
  mrsigner: HexN(48),
  attributes: HexN(8),
  attributesMask: HexN(8),
  tcbLevels: z.array(IsvTcbLevel).optional(),
});

export const TcbInfoJson = z.object({
  id: z.string(),
  version: z.number().int(),
  issueDate: IsoDate,
  nextUpdate: IsoDate,
  fmspc: HexN(6),
  pceId: HexN(2),
  tcbType: z.number().int(),
  tcbEvaluationDataNumber: z.number().int(),
  tdxModule: ModuleIdentity.omit({ tcbLevels: true }).optional(),
  tdxModuleIdentities: z.array(ModuleIdentity.extend({ id: z.string() })).optional(),
  tcbLevels: z
    .array(
      z.object({
        tcb: z.object({
          sgxtcbcomponents: z.array(Svn).length(16),
          pcesvn: z.number().int().min(0),
          tdxtcbcomponents: z.array(Svn).length(16),
        }),
        tcbDate: IsoDate.optional(),
        tcbStatus: TcbStatus,
        advisoryIDs: z.array(z.string()).optional(),
      }),
    )
    .min(1),
});
export type TcbInfoJson = z.infer<typeof TcbInfoJson>;

export const QeIdentityJson = z.object({
  id: z.string(),
  version: z.number().int(),
  issueDate: IsoDate,
  nextUpdate: IsoDate,
  tcbEvaluationDataNumber: z.number().int().optional(),
  miscselect: HexN(4),
  miscselectMask: HexN(4),
  attributes: HexN(16),
  attributesMask: HexN(16),
  mrsigner: HexN(32),
  isvprodid: z.number().int().min(0),
  tcbLevels: z.array(IsvTcbLevel).min(1),
});
export type QeIdentityJson = z.infer<typeof QeIdentityJson>;

/** What the collateral's validity windows are read from: the verifier's prepared collateral, or the agent's unverified reading of it. */
export interface DatedCollateral {
  tcbInfo: { issueDate: string; nextUpdate: string };
  qeIdentity: { issueDate: string; nextUpdate: string };
  crls: ReadonlyArray<{ what: string; thisUpdate: number; nextUpdate?: number }>;
  /** the issuer chains' certificates */
  validity: ReadonlyArray<{ subject: string; notBefore: number; notAfter: number }>;
}

/** One part's validity: from its issueDate, thisUpdate or notBefore (`starts` names which) until its nextUpdate or notAfter (ms). */
export interface CollateralWindow {
  what: string;
  starts: "issueDate" | "thisUpdate" | "notBefore";
  from: number;
  until: number | undefined;
}

/**
 * Every part's validity window, TCB info and QE identity first, then the CRLs and the
 * certificates in the order given: the verifier judges the collateral by them
 * (collateral_not_yet_valid, collateral_expired), and the agent reads them to know when the
 * collateral it holds stops passing, so both count the same parts.
 */
export function collateralWindows(c: DatedCollateral): CollateralWindow[] {
  const signed = (what: string, j: { issueDate: string; nextUpdate: string }): CollateralWindow => ({
    what,
    starts: "issueDate",
    from: Date.parse(j.issueDate),
    until: Date.parse(j.nextUpdate),
  });
  return [
    signed("TCB info", c.tcbInfo),
    signed("QE identity", c.qeIdentity),
    ...c.crls.map((l): CollateralWindow => ({ what: l.what, starts: "thisUpdate", from: l.thisUpdate, until: l.nextUpdate })),
    ...c.validity.map((v): CollateralWindow => ({
      what: `certificate "${v.subject}"`,
      starts: "notBefore",
      from: v.notBefore,
      until: v.notAfter,
    })),
  ];
}

/** When Intel issued the evaluation the windows carry: the older of the TCB info's and the QE identity's issueDate (ms). */
export const collateralIssuedAt = (w: readonly CollateralWindow[]): number => Math.min(w[0]!.from, w[1]!.from);
