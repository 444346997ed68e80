/**
 * TCB matching: the quote's QE report against the QE identity, the TDX module against its
 * identity, and the platform's SVNs (PCK certificate extension, TEE_TCB_SVN) against the TCB
 * levels of Intel's TCB info, merged into one TCB status the way Intel's QVL does.
 */
import type { TcbStatus } from "./collateral";
import type { PreparedCollateral } from "./cache";
import { fromHex } from "./prepare-collateral";
import type { TdxQuote } from "./quote";
import { TdxCheckError, hex, pckExtension, type Cert } from "./x509";

/** Converges two TCB statuses the way Intel's QVL does (out-of-date and configuration flags combine). */
export function mergeTcbStatus(a: TcbStatus, b: TcbStatus): TcbStatus {
  const s = new Set([a, b]);
  if (s.has("Revoked")) return "Revoked";
  const outOfDate = s.has("OutOfDate") || s.has("OutOfDateConfigurationNeeded");
  const config = s.has("ConfigurationNeeded") || s.has("ConfigurationAndSWHardeningNeeded") || s.has("OutOfDateConfigurationNeeded");
  const sw = s.has("SWHardeningNeeded") || s.has("ConfigurationAndSWHardeningNeeded");
  if (outOfDate) return config ? "OutOfDateConfigurationNeeded" : "OutOfDate";
  if (config) return sw ? "ConfigurationAndSWHardeningNeeded" : "ConfigurationNeeded";
  return sw ? "SWHardeningNeeded" : "UpToDate";
}

function maskedEqual(actual: Uint8Array, expected: Uint8Array, mask: Uint8Array): boolean {
  if (actual.length < mask.length || expected.length < mask.length) return false;
  for (let i = 0; i < mask.length; i++) if ((actual[i]! & mask[i]!) !== (expected[i]! & mask[i]!)) return false;
  return true;
}

export interface TcbResult {
  status: TcbStatus;
  advisoryIds: string[];
  fmspc: string;
}

export function matchTcb(q: TdxQuote, pckLeaf: Cert, col: PreparedCollateral): TcbResult {
  const { tcbInfo, qeIdentity } = col;
  const ext = pckExtension(pckLeaf);
  if (tcbInfo.id !== "TDX" || tcbInfo.version < 3) {
    throw new TdxCheckError("tcb_info_not_tdx", `TCB info id "${tcbInfo.id}" version ${tcbInfo.version} is not TDX TCB info v3+`);
  }
  if (tcbInfo.fmspc.toLowerCase() !== ext.fmspc) {
    throw new TdxCheckError("fmspc_mismatch", `TCB info is for FMSPC ${tcbInfo.fmspc}, the PCK certificate says ${ext.fmspc}`);
  }
  if (tcbInfo.pceId.toLowerCase() !== ext.pceId) {
    throw new TdxCheckError("pceid_mismatch", `TCB info is for PCE-ID ${tcbInfo.pceId}, the PCK certificate says ${ext.pceId}`);
  }
  const advisories = new Set<string>();

  // QE identity (TD_QE) against the QE report.
  if (qeIdentity.id !== "TD_QE") {
    throw new TdxCheckError("qe_identity_not_tdx", `QE identity id "${qeIdentity.id}" is not TD_QE`);
  }
  const qe = q.qeReport;
  const misc = new Uint8Array([qe.miscSelect & 0xff, (qe.miscSelect >>> 8) & 0xff, (qe.miscSelect >>> 16) & 0xff, qe.miscSelect >>> 24]);
  if (
    hex(qe.mrSigner) !== qeIdentity.mrsigner.toLowerCase() ||
    qe.isvProdId !== qeIdentity.isvprodid ||
    !maskedEqual(misc, fromHex(qeIdentity.miscselect), fromHex(qeIdentity.miscselectMask)) ||
    !maskedEqual(qe.attributes, fromHex(qeIdentity.attributes), fromHex(qeIdentity.attributesMask))
  ) {
    throw new TdxCheckError(
      "qe_identity_mismatch",
      "the quoting enclave's MRSIGNER/ISVPRODID/MISCSELECT/ATTRIBUTES do not match the QE identity",
    );
  }
  const qeLevel = qeIdentity.tcbLevels.find((l) => qe.isvSvn >= l.tcb.isvsvn);
  if (!qeLevel) throw new TdxCheckError("qe_tcb_not_supported", `QE ISVSVN ${qe.isvSvn} is below every QE identity TCB level`);
  let status: TcbStatus = qeLevel.tcbStatus;
  for (const a of qeLevel.advisoryIDs ?? []) advisories.add(a);

  // TDX module identity (TEE_TCB_SVN[1] = module major version, [0] = module SVN).
  const tee = q.body.teeTcbSvn;
  const moduleVersion = tee[1]!;
  const moduleSvn = tee[0]!;
  // A module of version > 0 must have its identity in the TCB info, as Intel's QVL requires
  // (TdxModuleCheck): TCB info without identities judges no such module (before session 16 it
  // fell back to tdxModule and counted TEE_TCB_SVN[0..1] as platform components).
  if (moduleVersion > 0) {
    const id = `TDX_${moduleVersion.toString(16).toUpperCase().padStart(2, "0")}`;
    const ident = (tcbInfo.tdxModuleIdentities ?? []).find((m) => m.id.toUpperCase() === id);
    if (!ident) throw new TdxCheckError("tdx_module_mismatch", `TCB info has no TDX module identity ${id}`);
    if (
      hex(q.body.mrSignerSeam) !== ident.mrsigner.toLowerCase() ||
      !maskedEqual(q.body.seamAttributes, fromHex(ident.attributes), fromHex(ident.attributesMask))
    ) {
      throw new TdxCheckError("tdx_module_mismatch", `MRSIGNERSEAM/SEAMATTRIBUTES do not match TDX module identity ${id}`);
    }
    const lvl = (ident.tcbLevels ?? []).find((l) => moduleSvn >= l.tcb.isvsvn);
    if (!lvl) throw new TdxCheckError("tdx_module_tcb_not_supported", `TDX module SVN ${moduleSvn} is below every level of ${id}`);
    status = mergeTcbStatus(status, lvl.tcbStatus);
    for (const a of lvl.advisoryIDs ?? []) advisories.add(a);
  } else if (tcbInfo.tdxModule) {
    const m = tcbInfo.tdxModule;
    if (
      hex(q.body.mrSignerSeam) !== m.mrsigner.toLowerCase() ||
      !maskedEqual(q.body.seamAttributes, fromHex(m.attributes), fromHex(m.attributesMask))
    ) {
      throw new TdxCheckError("tdx_module_mismatch", "MRSIGNERSEAM/SEAMATTRIBUTES do not match the TCB info's TDX module");
    }
  }

  // Platform TCB level: first level (highest first) that the platform meets on every component.
  const tdxStart = moduleVersion > 0 ? 2 : 0;
  const level = tcbInfo.tcbLevels.find(
    (l) =>
      ext.pceSvn >= l.tcb.pcesvn &&
      l.tcb.sgxtcbcomponents.every((c, i) => ext.sgxTcbComponents[i]! >= c.svn) &&
      l.tcb.tdxtcbcomponents.every((c, i) => i < tdxStart || tee[i]! >= c.svn),
  );
  if (!level) {
    throw new TdxCheckError("tcb_level_not_found", "the platform's TCB is below every level in the TCB info (TCB not supported)");
  }
  status = mergeTcbStatus(level.tcbStatus, status);
  for (const a of level.advisoryIDs ?? []) advisories.add(a);
  return { status, advisoryIds: [...advisories].sort(), fmspc: ext.fmspc };
}
