/**
 * TCB matching (tcb.ts), rule by rule. A mutation run found most of it untested: with
 * `ext.pceSvn >= l.tcb.pcesvn` replaced by `true` no test failed, so an out-of-date platform could
 * have been judged UpToDate. Here matchTcb is called directly on the genuine sample quote, its
 * verified PCK leaf and its Intel-signed collateral (prepared once), each test changing ONE thing
 * in a copy: a field of the TCB info or QE identity, or a field of the parsed quote.
 *
 * The sample platform: PCK extension SGX components 3,3,2,2,4,1,0,5,0…, PCESVN 11, FMSPC
 * b0c06f000000, PCE-ID 0000; QE report ISVSVN 6, ISVPRODID 2, MISCSELECT 0; TEE_TCB_SVN
 * 06 01 03 00… (module SVN 6, module major version 1 → identity TDX_01, whose levels are 4
 * UpToDate and 2 OutOfDate). The TCB info's first level (UpToDate, PCESVN 11, SGX 2,2,2,2,3,1,0,5,
 * TDX 5,0,2) matches; its second (OutOfDate, PCESVN 5, same components) carries 14 advisories.
 * The rules follow Intel's QVL (TcbLevelCheck.cpp, TdxModuleCheck.cpp).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { IN_WINDOW, SAMPLE_QUOTE, sampleCollateral, thrownBy } from "../../../test/fixtures/attestation/helpers";
import { TdxVerifierCache, loadRoot, type PreparedCollateral } from "./cache";
import { TcbStatus, type QeIdentityJson, type TcbInfoJson } from "./collateral";
import { INTEL_SGX_ROOT_CA_PEM } from "./intel-root";
import { prepareCollateral } from "./prepare-collateral";
import { parseTdxQuote, type TdxQuote } from "./quote";
import { verifyQuoteSignatures } from "./signatures";
import { matchTcb, mergeTcbStatus } from "./tcb";
import { TdxCheckError, pckExtension, type Cert } from "./x509";

const q: TdxQuote = parseTdxQuote(SAMPLE_QUOTE);
let genuine: PreparedCollateral;
let leaf: Cert;

beforeAll(async () => {
  // The real inputs, as verify.ts builds them: PCK chain verified to the pinned root, collateral signature-checked.
  const cache = new TdxVerifierCache();
  const root = loadRoot(INTEL_SGX_ROOT_CA_PEM, cache);
  leaf = (await verifyQuoteSignatures(q, root, IN_WINDOW.getTime(), cache)).certs[0]!;
  genuine = await prepareCollateral(sampleCollateral(), root, cache);
});

/** A copy of the genuine collateral with `edit` applied to its TCB info and QE identity (the CRLs are not read here). */
function collateralWith(edit: (c: { tcbInfo: TcbInfoJson; qeIdentity: QeIdentityJson }) => void): PreparedCollateral {
  const copy = { ...genuine, tcbInfo: structuredClone(genuine.tcbInfo), qeIdentity: structuredClone(genuine.qeIdentity) };
  edit(copy);
  return copy;
}

/** The sample quote with TEE_TCB_SVN bytes replaced (index → value). */
function quoteWithTee(bytes: Record<number, number>): TdxQuote {
  const tee = q.body.teeTcbSvn.slice();
  for (const [i, v] of Object.entries(bytes)) tee[Number(i)] = v;
  return { ...q, body: { ...q.body, teeTcbSvn: tee } };
}

/** The sample quote with one TD report body field replaced. */
const quoteWithBody = (body: Partial<TdxQuote["body"]>): TdxQuote => ({ ...q, body: { ...q.body, ...body } });
/** The sample quote with one QE report field replaced. */
const quoteWithQe = (qe: Partial<TdxQuote["qeReport"]>): TdxQuote => ({ ...q, qeReport: { ...q.qeReport, ...qe } });

const refusal = (act: () => unknown): TdxCheckError => thrownBy(TdxCheckError, act);

/** TDX module identity TDX_01 (the sample's) of a collateral copy. */
const tdx01 = (c: { tcbInfo: TcbInfoJson }) => c.tcbInfo.tdxModuleIdentities!.find((m) => m.id === "TDX_01")!;
/** Byte `hex` repeated `n` times (a 48-byte MRSIGNER and the like). */
const rep = (hex: string, n: number) => hex.repeat(n);
/** The 14 advisories of the sample's second (OutOfDate) platform level. */
const OUT_OF_DATE_ADVISORIES = [
  "INTEL-SA-00106",
  "INTEL-SA-00115",
  "INTEL-SA-00135",
  "INTEL-SA-00203",
  "INTEL-SA-00220",
  "INTEL-SA-00233",
  "INTEL-SA-00270",
  "INTEL-SA-00293",
  "INTEL-SA-00320",
  "INTEL-SA-00329",
  "INTEL-SA-00381",
  "INTEL-SA-00389",
  "INTEL-SA-00477",
  "INTEL-SA-00837",
];

describe("the genuine sample is the baseline every test changes one thing of", () => {
  it("the sample matches: UpToDate, no advisories, the PCK certificate's FMSPC", () => {
    // Act
    const r = matchTcb(q, leaf, genuine);
    // Assess
    expect(r).toEqual({ status: "UpToDate", advisoryIds: [], fmspc: "b0c06f000000" });
  });

  it("the sample's platform values are those the tests below are built on", () => {
    const ext = pckExtension(leaf);
    expect(ext).toMatchObject({ pceSvn: 11, fmspc: "b0c06f000000", pceId: "0000" });
    expect(ext.sgxTcbComponents).toEqual([3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Buffer.from(q.body.teeTcbSvn).toString("hex")).toBe("06010300000000000000000000000000");
    expect(q.qeReport).toMatchObject({ isvSvn: 6, isvProdId: 2, miscSelect: 0 });
  });
});

describe("mergeTcbStatus: Intel's convergence (out-of-date, configuration and SW-hardening flags combine)", () => {
  const ALL: TcbStatus[] = TcbStatus.options; // every status Intel's collateral may name

  it.each(ALL)("%s merged with UpToDate is unchanged (UpToDate adds nothing)", (s) => {
    expect(mergeTcbStatus(s, "UpToDate")).toBe(s);
    expect(mergeTcbStatus("UpToDate", s)).toBe(s);
  });

  it.each(ALL)("Revoked wins over %s", (s) => {
    expect(mergeTcbStatus("Revoked", s)).toBe("Revoked");
    expect(mergeTcbStatus(s, "Revoked")).toBe("Revoked");
  });

  // QVL convergeTcbStatusWith{Qe,TdxModule}Status: an OutOfDate part turns Configuration* into OutOfDateConfigurationNeeded.
  it.each([
    ["OutOfDate", "SWHardeningNeeded", "OutOfDate"],
    ["OutOfDate", "ConfigurationNeeded", "OutOfDateConfigurationNeeded"],
    ["OutOfDate", "ConfigurationAndSWHardeningNeeded", "OutOfDateConfigurationNeeded"],
    ["OutOfDate", "OutOfDateConfigurationNeeded", "OutOfDateConfigurationNeeded"],
    ["OutOfDateConfigurationNeeded", "SWHardeningNeeded", "OutOfDateConfigurationNeeded"],
    ["ConfigurationNeeded", "SWHardeningNeeded", "ConfigurationAndSWHardeningNeeded"],
    ["ConfigurationAndSWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded"],
    ["SWHardeningNeeded", "SWHardeningNeeded", "SWHardeningNeeded"],
  ] as const)("%s + %s → %s (either order)", (a, b, want) => {
    expect(mergeTcbStatus(a, b)).toBe(want);
    expect(mergeTcbStatus(b, a)).toBe(want);
  });
});

describe("TCB info identity: TDX v3+, for this platform's FMSPC and PCE-ID", () => {
  it("a TCB info that is not TDX (SGX) → tcb_info_not_tdx, naming its id and version", () => {
    // Prepare
    const col = collateralWith((c) => (c.tcbInfo.id = "SGX"));
    // Act
    const e = refusal(() => matchTcb(q, leaf, col));
    // Assess
    expect(e.code).toBe("tcb_info_not_tdx");
    expect(e.message).toBe('TCB info id "SGX" version 3 is not TDX TCB info v3+');
  });

  it("a TDX TCB info older than v3 (no TDX components) → tcb_info_not_tdx; v3 and later pass", () => {
    const e = refusal(() =>
      matchTcb(
        q,
        leaf,
        collateralWith((c) => (c.tcbInfo.version = 2)),
      ),
    );
    expect(e.code).toBe("tcb_info_not_tdx");
    expect(e.message).toContain("version 2");
    expect(
      matchTcb(
        q,
        leaf,
        collateralWith((c) => (c.tcbInfo.version = 4)),
      ).status,
    ).toBe("UpToDate");
  });

  it("a TCB info for another FMSPC → fmspc_mismatch, naming both FMSPCs", () => {
    const e = refusal(() =>
      matchTcb(
        q,
        leaf,
        collateralWith((c) => (c.tcbInfo.fmspc = "B0C06F000001")),
      ),
    );
    expect(e.code).toBe("fmspc_mismatch");
    expect(e.message).toBe("TCB info is for FMSPC B0C06F000001, the PCK certificate says b0c06f000000");
  });

  it("FMSPC case does not matter (Intel serves upper case, the certificate gives bytes)", () => {
    expect(
      matchTcb(
        q,
        leaf,
        collateralWith((c) => (c.tcbInfo.fmspc = "b0c06f000000")),
      ).status,
    ).toBe("UpToDate");
  });

  it("a TCB info for another PCE-ID → pceid_mismatch, naming both", () => {
    const e = refusal(() =>
      matchTcb(
        q,
        leaf,
        collateralWith((c) => (c.tcbInfo.pceId = "0001")),
      ),
    );
    expect(e.code).toBe("pceid_mismatch");
    expect(e.message).toBe("TCB info is for PCE-ID 0001, the PCK certificate says 0000");
  });

  it("PCE-ID case does not matter: a PCK certificate with PCE-ID 00ab matches TCB info 00AB", () => {
    // Prepare: the sample's PCE-ID 0000 has no letters, so a leaf whose SGX extension says 00ab
    const leafAb = leafWithPceId(0x00, 0xab);
    expect(pckExtension(leafAb).pceId).toBe("00ab");
    // Act
    const r = matchTcb(
      q,
      leafAb,
      collateralWith((c) => (c.tcbInfo.pceId = "00AB")),
    );
    // Assess
    expect(r.status).toBe("UpToDate");
  });
});

/** The verified leaf with the PCE-ID in its Intel SGX extension replaced (same length, so the DER stays valid). */
function leafWithPceId(hi: number, lo: number): Cert {
  // OID 1.2.840.113741.1.13.1.3 (PCE-ID), then OCTET STRING of 2 bytes
  const pceIdTlv = [0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01, 0x03, 0x04, 0x02];
  const extensions = leaf.extensions.map((e) => {
    if (e.oid !== "1.2.840.113741.1.13.1") return e;
    const value = e.value.slice();
    const at = Buffer.from(value).indexOf(Buffer.from(pceIdTlv));
    if (at < 0) throw new Error("PCE-ID not found in the SGX extension");
    value[at + pceIdTlv.length] = hi;
    value[at + pceIdTlv.length + 1] = lo;
    return { ...e, value };
  });
  return { ...leaf, extensions };
}

describe("QE identity: the quoting enclave must be Intel's TD QE", () => {
  it("a QE identity that is not TD_QE (the SGX QE's) → qe_identity_not_tdx, naming it", () => {
    const e = refusal(() =>
      matchTcb(
        q,
        leaf,
        collateralWith((c) => (c.qeIdentity.id = "QE")),
      ),
    );
    expect(e.code).toBe("qe_identity_not_tdx");
    expect(e.message).toBe('QE identity id "QE" is not TD_QE');
  });

  const MISMATCH = "the quoting enclave's MRSIGNER/ISVPRODID/MISCSELECT/ATTRIBUTES do not match the QE identity";

  it.each<[string, (c: { qeIdentity: QeIdentityJson }) => void]>([
    ["another MRSIGNER", (c) => (c.qeIdentity.mrsigner = "EC" + c.qeIdentity.mrsigner.slice(2))],
    ["another ISVPRODID", (c) => (c.qeIdentity.isvprodid = 3)],
    ["another MISCSELECT", (c) => (c.qeIdentity.miscselect = "01000000")],
    ["an ATTRIBUTES bit inside the mask", (c) => (c.qeIdentity.attributes = "13000000000000000000000000000000")],
    // maskedEqual must not read a too-short value as a match (the schema fixes lengths; this is its own guard)
    ["expected ATTRIBUTES shorter than the mask", (c) => (c.qeIdentity.attributes = "11")],
  ])("%s → qe_identity_mismatch", (_what, edit) => {
    const e = refusal(() => matchTcb(q, leaf, collateralWith(edit)));
    expect(e.code).toBe("qe_identity_mismatch");
    expect(e.message).toBe(MISMATCH);
  });

  it("a QE report whose ATTRIBUTES are shorter than the mask → qe_identity_mismatch (not a match on what is there)", () => {
    // Prepare: the mask's last 8 bytes are 0, so only the length check tells this apart
    const short = quoteWithQe({ attributes: q.qeReport.attributes.slice(0, 8) });
    // Act / Assess
    expect(refusal(() => matchTcb(short, leaf, genuine)).code).toBe("qe_identity_mismatch");
  });

  it("MRSIGNER case does not matter (Intel serves upper case)", () => {
    const col = collateralWith((c) => (c.qeIdentity.mrsigner = c.qeIdentity.mrsigner.toLowerCase()));
    expect(matchTcb(q, leaf, col).status).toBe("UpToDate");
  });

  it("ATTRIBUTES bits outside the mask may differ: the sample's 0x15 meets 0x11 under mask 0xFB, not under 0xFF", () => {
    expect(matchTcb(q, leaf, genuine).status).toBe("UpToDate");
    const strict = collateralWith((c) => (c.qeIdentity.attributesMask = "FF" + c.qeIdentity.attributesMask.slice(2)));
    expect(refusal(() => matchTcb(q, leaf, strict)).code).toBe("qe_identity_mismatch");
  });

  it("MISCSELECT is compared little-endian under its mask (QE MISCSELECT 1 is 01000000)", () => {
    // Prepare
    const qe1 = quoteWithQe({ miscSelect: 1 });
    const le = collateralWith((c) => (c.qeIdentity.miscselect = "01000000"));
    const be = collateralWith((c) => (c.qeIdentity.miscselect = "00000001"));
    const masked = collateralWith((c) => (c.qeIdentity.miscselectMask = "FEFFFFFF"));
    // Act / Assess
    expect(matchTcb(qe1, leaf, le).status).toBe("UpToDate");
    expect(refusal(() => matchTcb(qe1, leaf, be)).code).toBe("qe_identity_mismatch");
    expect(refusal(() => matchTcb(qe1, leaf, genuine)).code).toBe("qe_identity_mismatch");
    expect(matchTcb(qe1, leaf, masked).status).toBe("UpToDate");
  });
});

describe("QE TCB level: the first level whose ISVSVN the QE meets (QE ISVSVN 6)", () => {
  it("a level at exactly the QE's ISVSVN matches", () => {
    const col = collateralWith((c) => (c.qeIdentity.tcbLevels[0]!.tcb.isvsvn = 6));
    expect(matchTcb(q, leaf, col).status).toBe("UpToDate");
  });

  it("one above every level → qe_tcb_not_supported, naming the ISVSVN", () => {
    const e = refusal(() =>
      matchTcb(
        q,
        leaf,
        collateralWith((c) => (c.qeIdentity.tcbLevels[0]!.tcb.isvsvn = 7)),
      ),
    );
    expect(e.code).toBe("qe_tcb_not_supported");
    expect(e.message).toBe("QE ISVSVN 6 is below every QE identity TCB level");
  });

  it("the first level met wins: above 7 UpToDate, at 6 OutOfDate → OutOfDate with its advisories", () => {
    // Prepare
    const col = collateralWith((c) => {
      c.qeIdentity.tcbLevels = [
        { tcb: { isvsvn: 7 }, tcbStatus: "UpToDate" },
        { tcb: { isvsvn: 6 }, tcbStatus: "OutOfDate", advisoryIDs: ["INTEL-SA-00615"] },
        { tcb: { isvsvn: 1 }, tcbStatus: "Revoked" },
      ];
    });
    // Act
    const r = matchTcb(q, leaf, col);
    // Assess: an out-of-date QE makes the whole TCB out of date
    expect(r).toMatchObject({ status: "OutOfDate", advisoryIds: ["INTEL-SA-00615"] });
  });

  it("a Revoked QE level makes the verdict Revoked", () => {
    const col = collateralWith((c) => (c.qeIdentity.tcbLevels[0]!.tcbStatus = "Revoked"));
    expect(matchTcb(q, leaf, col).status).toBe("Revoked");
  });
});

describe("TDX module identity (TEE_TCB_SVN[1] = major version > 0): TDX_<version> judges the module SVN", () => {
  it("a module level below the module SVN makes the verdict that level's: 7 UpToDate, 6 OutOfDate → OutOfDate", () => {
    // Prepare
    const col = collateralWith((c) => {
      tdx01(c).tcbLevels = [
        { tcb: { isvsvn: 7 }, tcbStatus: "UpToDate" },
        { tcb: { isvsvn: 6 }, tcbStatus: "OutOfDate", advisoryIDs: ["INTEL-SA-00960"] },
      ];
    });
    // Act
    const r = matchTcb(q, leaf, col);
    // Assess
    expect(r).toMatchObject({ status: "OutOfDate", advisoryIds: ["INTEL-SA-00960"] });
  });

  it("a module level at exactly the module SVN matches", () => {
    const col = collateralWith((c) => (tdx01(c).tcbLevels = [{ tcb: { isvsvn: 6 }, tcbStatus: "UpToDate" }]));
    expect(matchTcb(q, leaf, col).status).toBe("UpToDate");
  });

  it("a module SVN below every level → tdx_module_tcb_not_supported, naming SVN and identity", () => {
    const col = collateralWith((c) => (tdx01(c).tcbLevels = [{ tcb: { isvsvn: 7 }, tcbStatus: "UpToDate" }]));
    const e = refusal(() => matchTcb(q, leaf, col));
    expect(e.code).toBe("tdx_module_tcb_not_supported");
    expect(e.message).toBe("TDX module SVN 6 is below every level of TDX_01");
  });

  it("an identity without TCB levels supports no module SVN → tdx_module_tcb_not_supported", () => {
    const col = collateralWith((c) => delete tdx01(c).tcbLevels);
    expect(refusal(() => matchTcb(q, leaf, col)).code).toBe("tdx_module_tcb_not_supported");
  });

  it("a Revoked module level makes the verdict Revoked", () => {
    const col = collateralWith((c) => (tdx01(c).tcbLevels![0]!.tcbStatus = "Revoked"));
    expect(matchTcb(q, leaf, col).status).toBe("Revoked");
  });

  it("the identity is picked by id, not position: TDX_03 (listed first, revoked here) does not judge a version-1 module", () => {
    const col = collateralWith((c) => (c.tcbInfo.tdxModuleIdentities![0]!.tcbLevels![0]!.tcbStatus = "Revoked"));
    expect(col.tcbInfo.tdxModuleIdentities![0]!.id).toBe("TDX_03");
    expect(matchTcb(q, leaf, col).status).toBe("UpToDate");
  });

  it("no identity for the module's version → tdx_module_mismatch, naming the id looked for", () => {
    const col = collateralWith((c) => (c.tcbInfo.tdxModuleIdentities = c.tcbInfo.tdxModuleIdentities!.filter((m) => m.id !== "TDX_01")));
    const e = refusal(() => matchTcb(q, leaf, col));
    expect(e.code).toBe("tdx_module_mismatch");
    expect(e.message).toBe("TCB info has no TDX module identity TDX_01");
  });

  it("the id is two upper-case hex digits and compared case-insensitively: version 0x0a finds tdx_0a", () => {
    // Prepare: a module with major version 10 and an identity spelt in lower case
    const q10 = quoteWithTee({ 1: 0x0a });
    const col = collateralWith((c) => c.tcbInfo.tdxModuleIdentities!.push({ ...structuredClone(tdx01(c)), id: "tdx_0a" }));
    // Act / Assess
    expect(matchTcb(q10, leaf, col).status).toBe("UpToDate");
    expect(refusal(() => matchTcb(q10, leaf, genuine)).message).toBe("TCB info has no TDX module identity TDX_0A");
  });

  it("another MRSIGNERSEAM → tdx_module_mismatch, naming the identity", () => {
    const col = collateralWith((c) => (tdx01(c).mrsigner = "01" + rep("00", 47)));
    const e = refusal(() => matchTcb(q, leaf, col));
    expect(e.code).toBe("tdx_module_mismatch");
    expect(e.message).toBe("MRSIGNERSEAM/SEAMATTRIBUTES do not match TDX module identity TDX_01");
  });

  it("MRSIGNERSEAM case does not matter: a quote's ab…ab meets the identity's AB…AB", () => {
    const qAb = quoteWithBody({ mrSignerSeam: new Uint8Array(48).fill(0xab) });
    const col = collateralWith((c) => (tdx01(c).mrsigner = rep("AB", 48)));
    expect(matchTcb(qAb, leaf, col).status).toBe("UpToDate");
    expect(refusal(() => matchTcb(qAb, leaf, genuine)).code).toBe("tdx_module_mismatch");
  });

  it("a SEAMATTRIBUTES bit inside the mask → tdx_module_mismatch; outside the mask it may differ", () => {
    const q1 = quoteWithBody({ seamAttributes: Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0]) });
    expect(refusal(() => matchTcb(q1, leaf, genuine)).code).toBe("tdx_module_mismatch");
    const loose = collateralWith((c) => (tdx01(c).attributesMask = "FEFFFFFFFFFFFFFF"));
    expect(matchTcb(q1, leaf, loose).status).toBe("UpToDate");
  });
});

describe("TDX module major version 0: no identity lookup, the TCB info's tdxModule is checked instead", () => {
  // Version 0 leaves identity TDX_00 unlooked-for (none exists): only MRSIGNERSEAM/SEAMATTRIBUTES are checked.
  const q0 = () => quoteWithTee({ 1: 0 });

  it("version 0 with the sample's tdxModule passes, although no identity TDX_00 exists", () => {
    expect(matchTcb(q0(), leaf, genuine)).toMatchObject({ status: "UpToDate", advisoryIds: [] });
  });

  it("version 0 and no tdxModule in the TCB info: nothing to check the module against, the platform level decides", () => {
    const col = collateralWith((c) => delete c.tcbInfo.tdxModule);
    expect(matchTcb(q0(), leaf, col).status).toBe("UpToDate");
  });

  it("another MRSIGNERSEAM than the tdxModule's → tdx_module_mismatch", () => {
    const col = collateralWith((c) => (c.tcbInfo.tdxModule!.mrsigner = "01" + rep("00", 47)));
    const e = refusal(() => matchTcb(q0(), leaf, col));
    expect(e.code).toBe("tdx_module_mismatch");
    expect(e.message).toBe("MRSIGNERSEAM/SEAMATTRIBUTES do not match the TCB info's TDX module");
  });

  it("a SEAMATTRIBUTES bit inside the tdxModule's mask → tdx_module_mismatch; outside it may differ", () => {
    const q1 = { ...q0(), body: { ...q0().body, seamAttributes: Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0x80]) } };
    expect(refusal(() => matchTcb(q1, leaf, genuine)).code).toBe("tdx_module_mismatch");
    const loose = collateralWith((c) => (c.tcbInfo.tdxModule!.attributesMask = "FFFFFFFFFFFFFF7F"));
    expect(matchTcb(q1, leaf, loose).status).toBe("UpToDate");
  });

  it("MRSIGNERSEAM case does not matter against tdxModule either", () => {
    const qAb = { ...q0(), body: { ...q0().body, mrSignerSeam: new Uint8Array(48).fill(0xab) } };
    const col = collateralWith((c) => (c.tcbInfo.tdxModule!.mrsigner = rep("AB", 48)));
    expect(matchTcb(qAb, leaf, col).status).toBe("UpToDate");
  });

  it("version 0: the module SVN and version (TDX components 0 and 1) count in the platform level", () => {
    // Prepare: first level wants TDX component 0 ≥ 7 (the module SVN is 6); the second wants 5
    const col = collateralWith((c) => (c.tcbInfo.tcbLevels[0]!.tcb.tdxtcbcomponents[0]!.svn = 7));
    // Act
    const r = matchTcb(q0(), leaf, col);
    // Assess: falls to the OutOfDate level
    expect(r).toEqual({ status: "OutOfDate", advisoryIds: OUT_OF_DATE_ADVISORIES, fmspc: "b0c06f000000" });
  });

  // Intel QVL TdxModuleCheck: version > 0 with no identity for it is STATUS_TDX_MODULE_MISMATCH, whether or
  // not the TCB info lists tdxModuleIdentities. tcb.ts takes the tdxModule fallback when the list is absent
  // and so accepts a module whose SVN no identity level judged.
  it("version > 0 and a TCB info without tdxModuleIdentities → tdx_module_mismatch, as Intel's QVL (session 16: it was judged by tdxModule)", () => {
    const col = collateralWith((c) => delete c.tcbInfo.tdxModuleIdentities);
    expect(refusal(() => matchTcb(q, leaf, col)).code).toBe("tdx_module_mismatch");
  });
});

describe("platform TCB level: the first level the platform meets on PCESVN, every SGX and every TDX component", () => {
  /** The sample with the first (UpToDate) level changed; the second (OutOfDate, PCESVN 5) still matches. */
  const firstLevel = (edit: (l: TcbInfoJson["tcbLevels"][number]) => void) => collateralWith((c) => edit(c.tcbInfo.tcbLevels[0]!));
  const OUT_OF_DATE = { status: "OutOfDate", advisoryIds: OUT_OF_DATE_ADVISORIES, fmspc: "b0c06f000000" };

  it("PCESVN equal to the certificate's (11) matches the level", () => {
    expect(
      matchTcb(
        q,
        leaf,
        firstLevel((l) => (l.tcb.pcesvn = 11)),
      ).status,
    ).toBe("UpToDate");
  });

  it("PCESVN one above the certificate's (12) does not: the next level (OutOfDate) is taken", () => {
    expect(
      matchTcb(
        q,
        leaf,
        firstLevel((l) => (l.tcb.pcesvn = 12)),
      ),
    ).toEqual(OUT_OF_DATE);
  });

  it.each([...Array(16).keys()])("SGX component %i: equal matches, one above falls to the next level", (i) => {
    const own = pckExtension(leaf).sgxTcbComponents[i]!;
    expect(
      matchTcb(
        q,
        leaf,
        firstLevel((l) => (l.tcb.sgxtcbcomponents[i]!.svn = own)),
      ).status,
    ).toBe("UpToDate");
    expect(
      matchTcb(
        q,
        leaf,
        firstLevel((l) => (l.tcb.sgxtcbcomponents[i]!.svn = own + 1)),
      ),
    ).toEqual(OUT_OF_DATE);
  });

  it.each([...Array(14).keys()].map((k) => k + 2))("TDX component %i: equal matches, one above falls to the next level", (i) => {
    const own = q.body.teeTcbSvn[i]!;
    expect(
      matchTcb(
        q,
        leaf,
        firstLevel((l) => (l.tcb.tdxtcbcomponents[i]!.svn = own)),
      ).status,
    ).toBe("UpToDate");
    expect(
      matchTcb(
        q,
        leaf,
        firstLevel((l) => (l.tcb.tdxtcbcomponents[i]!.svn = own + 1)),
      ),
    ).toEqual(OUT_OF_DATE);
  });

  it("TDX components 0 and 1 are skipped when a module identity judged them (Intel: TEE_TCB_SVN[1] > 0)", () => {
    // Prepare: a first level asking more of the module SVN (7 > 6) and version (2 > 1) than the quote has
    const col = firstLevel((l) => {
      l.tcb.tdxtcbcomponents[0]!.svn = 7;
      l.tcb.tdxtcbcomponents[1]!.svn = 2;
    });
    // Act / Assess: TDX_01's level judged the module; the platform level is still UpToDate
    expect(matchTcb(q, leaf, col)).toMatchObject({ status: "UpToDate", advisoryIds: [] });
  });

  it("the first matching level wins, even when a later one is better", () => {
    // Prepare: levels listed OutOfDate first, then UpToDate; both match the platform
    const col = collateralWith((c) => c.tcbInfo.tcbLevels.reverse());
    // Act / Assess
    expect(matchTcb(q, leaf, col)).toEqual(OUT_OF_DATE);
  });

  it("a platform below every level → tcb_level_not_found", () => {
    const col = collateralWith((c) => c.tcbInfo.tcbLevels.forEach((l) => (l.tcb.pcesvn = 12)));
    const e = refusal(() => matchTcb(q, leaf, col));
    expect(e.code).toBe("tcb_level_not_found");
    expect(e.message).toBe("the platform's TCB is below every level in the TCB info (TCB not supported)");
  });

  it("a Revoked platform level makes the verdict Revoked, whatever QE and module say", () => {
    const col = firstLevel((l) => (l.tcbStatus = "Revoked"));
    expect(matchTcb(q, leaf, col).status).toBe("Revoked");
  });
});

describe("the verdict merges QE, module and platform statuses and their advisories", () => {
  it("QE OutOfDate + platform ConfigurationNeeded → OutOfDateConfigurationNeeded", () => {
    const col = collateralWith((c) => {
      c.qeIdentity.tcbLevels[0]!.tcbStatus = "OutOfDate";
      c.tcbInfo.tcbLevels[0]!.tcbStatus = "ConfigurationNeeded";
    });
    expect(matchTcb(q, leaf, col).status).toBe("OutOfDateConfigurationNeeded");
  });

  it("module SWHardeningNeeded + platform ConfigurationNeeded → ConfigurationAndSWHardeningNeeded", () => {
    const col = collateralWith((c) => {
      tdx01(c).tcbLevels![0]!.tcbStatus = "SWHardeningNeeded";
      c.tcbInfo.tcbLevels[0]!.tcbStatus = "ConfigurationNeeded";
    });
    expect(matchTcb(q, leaf, col).status).toBe("ConfigurationAndSWHardeningNeeded");
  });

  it("advisories of the QE, module and platform levels are all reported, once each, sorted", () => {
    // Prepare: inserted out of order, with INTEL-SA-00001 in both the QE and the platform level
    const col = collateralWith((c) => {
      c.qeIdentity.tcbLevels[0]!.advisoryIDs = ["INTEL-SA-00999", "INTEL-SA-00001"];
      tdx01(c).tcbLevels![0]!.advisoryIDs = ["INTEL-SA-00500"];
      c.tcbInfo.tcbLevels[0]!.advisoryIDs = ["INTEL-SA-00300", "INTEL-SA-00001"];
    });
    // Act
    const r = matchTcb(q, leaf, col);
    // Assess
    expect(r).toEqual({
      status: "UpToDate",
      advisoryIds: ["INTEL-SA-00001", "INTEL-SA-00300", "INTEL-SA-00500", "INTEL-SA-00999"],
      fmspc: "b0c06f000000",
    });
  });
});
