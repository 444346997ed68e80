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
import { createHash } from "node:crypto";
import type * as pkijs from "pkijs";
import {
  QeIdentityJson,
  TcbInfoJson,
  TdxCollateral,
  type TcbStatus,
} from "./collateral";
import { INTEL_SGX_ROOT_CA_PEM } from "./intel-root";
import { Lru } from "../lru";
import { INTEL_QE_VENDOR_ID, QuoteParseError, parseTdxQuote, pemCertificates, type TdxQuote } from "./quote";
import {
  CertMemo,
  TdxCheckError,
  bytesEqual,
  hex,
  importP256Raw,
  importP256Spki,
  parseCertificate,
  parseCrl,
  pckExtension,
  serialHex,
  spkiOf,
  verifyChainToRoot,
  verifyRawEcdsa,
  type CryptoKey,
  type VerifiedChain,
} from "./x509";

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
}

export interface TdxVerifyOptions {
  now: Date;
  /** Intel PCS collateral; validated here (a malformed object gives 'collateral_malformed'). */
  collateral?: TdxCollateral | unknown;
  /** Overrides the pinned Intel SGX Root CA (tests, or a future Intel root). */
  rootCaPem?: string;
  cache?: TdxVerifierCache;
}

interface Root {
  cert: pkijs.Certificate;
  der: Uint8Array;
  key: string; // sha256 of der
}

interface PreparedCrl {
  what: string;
  crl: pkijs.CertificateRevocationList;
  revoked: Set<string>;
  thisUpdate: number;
  nextUpdate: number | undefined;
}

interface PreparedCollateral {
  tcbInfo: TcbInfoJson;
  qeIdentity: QeIdentityJson;
  crls: PreparedCrl[];
  /** Validity windows of the collateral signing certificates (TCB signing, PCK CRL issuer). */
  validity: VerifiedChain["validity"];
}

/** Entries kept per map of a {@link TdxVerifierCache} unless told otherwise. */
export const TDX_CACHE_MAX_ENTRIES = 256;

/**
 * Time-independent results, keyed by content hashes. Safe to share between calls and roots.
 * Every map is a bounded LRU and holds only results that verified: the keys are hashes of what
 * the evidence carries, so a failure cached under them would let anyone grow the cache at will
 * (issue 9 #5). Verified results exist only for Intel-signed material, a handful of entries.
 */
export class TdxVerifierCache {
  readonly roots: Lru<string, Root>;
  readonly chains: Lru<string, Promise<VerifiedChain>>;
  readonly collateral: Lru<string, Promise<PreparedCollateral>>;
  readonly keys: Lru<string, Promise<CryptoKey>>;
  readonly certs: CertMemo;
  constructor(readonly maxEntries = TDX_CACHE_MAX_ENTRIES) {
    this.roots = new Lru(Math.min(maxEntries, 8));
    this.chains = new Lru(maxEntries);
    this.collateral = new Lru(Math.min(maxEntries, 32)); // a prepared collateral holds parsed CRLs: the largest entry
    this.keys = new Lru(maxEntries);
    this.certs = new CertMemo(maxEntries);
  }
  /** Entry counts (tests and diagnostics). */
  sizes() {
    return { roots: this.roots.size, chains: this.chains.size, collateral: this.collateral.size, keys: this.keys.size, ...this.certs.sizes() };
  }
  clear() {
    this.certs.clear();
    this.roots.clear();
    this.chains.clear();
    this.collateral.clear();
    this.keys.clear();
  }
}

function sha256Hex(...parts: Array<Uint8Array | string>): string {
  const h = createHash("sha256");
  for (const p of parts) {
    h.update(p);
    h.update("\u0000");
  }
  return h.digest("hex");
}

/**
 * Shares one verification per key among concurrent callers and keeps it once it succeeded.
 * A failure is dropped as soon as it settles: its key is a hash of attacker-chosen bytes.
 */
function memo<T>(map: Lru<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let p = map.get(key);
  if (!p) {
    const made = make();
    p = made;
    map.set(key, made);
    made.catch(() => {
      if (map.get(key) === made) map.delete(key);
    });
  }
  return p;
}

function loadRoot(pem: string, cache: TdxVerifierCache): Root {
  const hit = cache.roots.get(pem);
  if (hit) return hit;
  const ders = pemCertificates(pem, "pinned root CA");
  if (ders.length !== 1) {
    throw new TdxCheckError("root_ca_invalid", `the pinned root PEM must hold exactly one certificate, found ${ders.length}`);
  }
  const der = ders[0]!;
  const root = { cert: parseCertificate(der, "root_ca_invalid", "pinned root CA"), der, key: CertMemo.id(der) };
  cache.roots.set(pem, root);
  return root;
}

function chain(cache: TdxVerifierCache, ders: Uint8Array[], root: Root, code: string, what: string, leafIsCa = false) {
  return memo(cache.chains, sha256Hex(root.key, code, ...ders), () => verifyChainToRoot(ders, root, code, what, leafIsCa, cache.certs));
}

function leafKey(cache: TdxVerifierCache, cert: pkijs.Certificate, code: string, what: string) {
  const spki = spkiOf(cert);
  return memo(cache.keys, sha256Hex(new Uint8Array(spki)), () => importP256Spki(spki, code, what));
}

/** Converges two TCB statuses the way Intel's QVL does (out-of-date and configuration flags combine). */
export function mergeTcbStatus(a: TcbStatus, b: TcbStatus): TcbStatus {
  const s = new Set([a, b]);
  if (s.has("Revoked")) return "Revoked";
  const outOfDate = s.has("OutOfDate") || s.has("OutOfDateConfigurationNeeded");
  const config =
    s.has("ConfigurationNeeded") || s.has("ConfigurationAndSWHardeningNeeded") || s.has("OutOfDateConfigurationNeeded");
  const sw = s.has("SWHardeningNeeded") || s.has("ConfigurationAndSWHardeningNeeded");
  if (outOfDate) return config ? "OutOfDateConfigurationNeeded" : "OutOfDate";
  if (config) return sw ? "ConfigurationAndSWHardeningNeeded" : "ConfigurationNeeded";
  return sw ? "SWHardeningNeeded" : "UpToDate";
}

function fromHex(h: string): Uint8Array {
  return new Uint8Array(Buffer.from(h, "hex"));
}

function maskedEqual(actual: Uint8Array, expected: Uint8Array, mask: Uint8Array): boolean {
  if (actual.length < mask.length || expected.length < mask.length) return false;
  for (let i = 0; i < mask.length; i++) if ((actual[i]! & mask[i]!) !== (expected[i]! & mask[i]!)) return false;
  return true;
}

async function prepareCollateral(raw: unknown, root: Root, cache: TdxVerifierCache): Promise<PreparedCollateral> {
  const parsed = TdxCollateral.safeParse(raw);
  if (!parsed.success) {
    throw new TdxCheckError(
      "collateral_malformed",
      `collateral does not have the Intel PCS JSON layout: ${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`,
    );
  }
  const c = parsed.data;
  return memo(cache.collateral, sha256Hex(root.key, JSON.stringify(c)), async () => {
    // Root CA CRL: issued and signed by the pinned root.
    const rootCrl = parseCrl(fromHex(c.root_ca_crl), "root_ca_crl_malformed", "root CA CRL");
    if (!rootCrl.issuer.isEqual(root.cert.subject) || !(await safeVerifyCrl(rootCrl, root.cert))) {
      throw new TdxCheckError("root_ca_crl_signature_invalid", "the root CA CRL is not signed by the pinned Intel SGX Root CA");
    }
    // PCK CRL: signed by the PCK Platform/Processor CA in its issuer chain.
    const pckCrlChain = await chain(
      cache,
      pemCertificates(c.pck_crl_issuer_chain, "PCK CRL issuer chain"),
      root,
      "pck_crl_chain_invalid",
      "PCK CRL issuer chain",
      true,
    );
    const pckCrl = parseCrl(fromHex(c.pck_crl), "pck_crl_malformed", "PCK CRL");
    const pckCrlIssuer = pckCrlChain.certs[0]!;
    if (!pckCrl.issuer.isEqual(pckCrlIssuer.subject) || !(await safeVerifyCrl(pckCrl, pckCrlIssuer))) {
      throw new TdxCheckError("pck_crl_signature_invalid", "the PCK CRL is not signed by the first certificate of its issuer chain");
    }
    const crls = [prepCrl(rootCrl, "root CA CRL"), prepCrl(pckCrl, "PCK CRL")];

    const tcbChain = await chain(cache, pemCertificates(c.tcb_info_issuer_chain, "TCB info issuer chain"), root, "tcb_signing_chain_invalid", "TCB info issuer chain");
    const tcbKey = await leafKey(cache, tcbChain.certs[0]!, "tcb_signing_chain_invalid", "TCB signing certificate");
    if (!(await verifyRawEcdsa(tcbKey, fromHex(c.tcb_info_signature), new TextEncoder().encode(c.tcb_info)))) {
      throw new TdxCheckError("tcb_info_signature_invalid", "the TCB info signature does not verify with the TCB signing certificate");
    }
    const qeChain = await chain(
      cache,
      pemCertificates(c.qe_identity_issuer_chain, "QE identity issuer chain"),
      root,
      "qe_identity_chain_invalid",
      "QE identity issuer chain",
    );
    const qeKey = await leafKey(cache, qeChain.certs[0]!, "qe_identity_chain_invalid", "QE identity signing certificate");
    if (!(await verifyRawEcdsa(qeKey, fromHex(c.qe_identity_signature), new TextEncoder().encode(c.qe_identity)))) {
      throw new TdxCheckError(
        "qe_identity_signature_invalid",
        "the QE identity signature does not verify with the TCB signing certificate",
      );
    }
    const tcbInfo = parseJson(TcbInfoJson, c.tcb_info, "tcb_info_malformed", "TCB info");
    const qeIdentity = parseJson(QeIdentityJson, c.qe_identity, "qe_identity_malformed", "QE identity");

    for (const [what, ch] of [
      ["PCK CRL issuer chain", pckCrlChain],
      ["TCB info issuer chain", tcbChain],
      ["QE identity issuer chain", qeChain],
    ] as const) {
      for (const cert of ch.certs) {
        const hit = revokedBy(cert, crls);
        if (hit) {
          throw new TdxCheckError("collateral_cert_revoked", `${what}: certificate ${serialHex(cert)} is revoked by the ${hit}`);
        }
      }
    }
    return { tcbInfo, qeIdentity, crls, validity: [...pckCrlChain.validity, ...tcbChain.validity, ...qeChain.validity] };
  });
}

async function safeVerifyCrl(crl: pkijs.CertificateRevocationList, issuer: pkijs.Certificate): Promise<boolean> {
  try {
    return await crl.verify({ issuerCertificate: issuer });
  } catch {
    return false;
  }
}

function prepCrl(crl: pkijs.CertificateRevocationList, what: string): PreparedCrl {
  return {
    what,
    crl,
    revoked: new Set((crl.revokedCertificates ?? []).map((r) => hex(r.userCertificate.valueBlock.valueHexView))),
    thisUpdate: crl.thisUpdate.value.getTime(),
    nextUpdate: crl.nextUpdate?.value.getTime(),
  };
}

/** The CRL (by name) that revokes `cert`, if any; only CRLs issued by the certificate's issuer count. */
function revokedBy(cert: pkijs.Certificate, crls: PreparedCrl[]): string | undefined {
  for (const c of crls) if (c.crl.issuer.isEqual(cert.issuer) && c.revoked.has(serialHex(cert))) return c.what;
  return undefined;
}

function parseJson<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } } }, text: string, code: string, what: string): T {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new TdxCheckError(code, `${what} is not JSON`);
  }
  const r = schema.safeParse(v);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new TdxCheckError(code, `${what}: ${i?.path.join(".")}: ${i?.message}`);
  }
  return r.data;
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

/** TD attributes (TDX module spec, TDATTRIBUTES): no debug, no reserved bits, SEPT_VE_DISABLE set. */
function checkTdAttributes(q: TdxQuote) {
  const a = q.body.tdAttributes;
  if ((a[0]! & 0x01) !== 0) {
    throw new TdxCheckError("td_debug_mode", "the TD runs in DEBUG mode: the host can read its memory, it is not confidential");
  }
  const reservedLower = (a[0]! & 0xfe) !== 0 || a[1] !== 0 || a[2] !== 0 || (a[3]! & 0x0f) !== 0 || (a[3]! & 0x20) !== 0;
  const reservedOther = a[4] !== 0 || a[5] !== 0 || a[6] !== 0 || (a[7]! & 0x7f) !== 0;
  if (reservedLower || reservedOther) {
    throw new TdxCheckError("td_attributes_insecure", `TD attributes ${hex(a)} set reserved bits`);
  }
  if ((a[3]! & 0x10) === 0) {
    throw new TdxCheckError("td_attributes_insecure", `TD attributes ${hex(a)} do not set SEPT_VE_DISABLE`);
  }
  if (q.body.mrServiceTd && q.body.mrServiceTd.some((x) => x !== 0)) {
    throw new TdxCheckError("td_attributes_insecure", "MRSERVICETD is not zero: service-TD binding is not supported");
  }
}

async function verifyQuoteSignatures(q: TdxQuote, root: Root, now: number, cache: TdxVerifierCache): Promise<VerifiedChain> {
  if (hex(q.header.qeVendorId) !== INTEL_QE_VENDOR_ID) {
    throw new TdxCheckError("qe_vendor_unknown", `QE vendor id ${hex(q.header.qeVendorId)} is not Intel's`);
  }
  // 1. PCK chain up to the pinned root.
  const pck = await chain(cache, q.pckChainDer, root, "pck_chain_invalid", "PCK certificate chain");
  for (const v of pck.validity) {
    if (now < v.notBefore || now > v.notAfter) {
      throw new TdxCheckError(
        "pck_cert_expired",
        `"${v.subject}" is valid from ${new Date(v.notBefore).toISOString()} to ${new Date(v.notAfter).toISOString()}, not at ${new Date(now).toISOString()}`,
      );
    }
  }
  // 2. QE report signed by the PCK key.
  const pckKey = await leafKey(cache, pck.certs[0]!, "pck_chain_invalid", "PCK certificate");
  if (!(await verifyRawEcdsa(pckKey, q.qeReportSignature, q.qeReport.raw))) {
    throw new TdxCheckError("qe_report_signature_invalid", "the QE report signature does not verify with the PCK certificate key");
  }
  if ((q.qeReport.attributes[0]! & 0x02) !== 0) {
    throw new TdxCheckError("qe_debug_mode", "the quoting enclave runs in DEBUG mode");
  }
  // 3. QE report data binds the attestation key (and QE auth data).
  const h = createHash("sha256").update(q.attestationKey).update(q.qeAuthData).digest();
  if (!bytesEqual(new Uint8Array(h), q.qeReport.reportData.subarray(0, 32)) || q.qeReport.reportData.subarray(32).some((x) => x !== 0)) {
    throw new TdxCheckError(
      "qe_report_data_mismatch",
      "the QE report data is not SHA-256(attestation key || QE auth data): the attestation key is not the QE's",
    );
  }
  // 4. Quote signed by the attestation key.
  const attKey = await importP256Raw(q.attestationKey, "attestation_key_invalid", "attestation key");
  if (!(await verifyRawEcdsa(attKey, q.quoteSignature, q.signedBytes))) {
    throw new TdxCheckError("quote_signature_invalid", "the quote signature over header and TD report does not verify with the attestation key");
  }
  checkTdAttributes(q);
  return pck;
}

interface TcbResult {
  status: TcbStatus;
  advisoryIds: string[];
  fmspc: string;
}

function matchTcb(q: TdxQuote, pckLeaf: pkijs.Certificate, col: PreparedCollateral): TcbResult {
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
    throw new TdxCheckError("qe_identity_mismatch", "the quoting enclave's MRSIGNER/ISVPRODID/MISCSELECT/ATTRIBUTES do not match the QE identity");
  }
  const qeLevel = qeIdentity.tcbLevels.find((l) => qe.isvSvn >= l.tcb.isvsvn);
  if (!qeLevel) throw new TdxCheckError("qe_tcb_not_supported", `QE ISVSVN ${qe.isvSvn} is below every QE identity TCB level`);
  let status: TcbStatus = qeLevel.tcbStatus;
  for (const a of qeLevel.advisoryIDs ?? []) advisories.add(a);

  // TDX module identity (TEE_TCB_SVN[1] = module major version, [0] = module SVN).
  const tee = q.body.teeTcbSvn;
  const moduleVersion = tee[1]!;
  const moduleSvn = tee[0]!;
  if (moduleVersion > 0 && tcbInfo.tdxModuleIdentities) {
    const id = `TDX_${moduleVersion.toString(16).toUpperCase().padStart(2, "0")}`;
    const ident = tcbInfo.tdxModuleIdentities.find((m) => m.id.toUpperCase() === id);
    if (!ident) throw new TdxCheckError("tdx_module_mismatch", `TCB info has no TDX module identity ${id}`);
    if (hex(q.body.mrSignerSeam) !== ident.mrsigner.toLowerCase() || !maskedEqual(q.body.seamAttributes, fromHex(ident.attributes), fromHex(ident.attributesMask))) {
      throw new TdxCheckError("tdx_module_mismatch", `MRSIGNERSEAM/SEAMATTRIBUTES do not match TDX module identity ${id}`);
    }
    const lvl = (ident.tcbLevels ?? []).find((l) => moduleSvn >= l.tcb.isvsvn);
    if (!lvl) throw new TdxCheckError("tdx_module_tcb_not_supported", `TDX module SVN ${moduleSvn} is below every level of ${id}`);
    status = mergeTcbStatus(status, lvl.tcbStatus);
    for (const a of lvl.advisoryIDs ?? []) advisories.add(a);
  } else if (tcbInfo.tdxModule) {
    const m = tcbInfo.tdxModule;
    if (hex(q.body.mrSignerSeam) !== m.mrsigner.toLowerCase() || !maskedEqual(q.body.seamAttributes, fromHex(m.attributes), fromHex(m.attributesMask))) {
      throw new TdxCheckError("tdx_module_mismatch", "MRSIGNERSEAM/SEAMATTRIBUTES do not match the TCB info's TDX module");
    }
  }

  // Platform TCB level: first level (highest first) that the platform meets on every component.
  const tdxStart = moduleVersion > 0 && tcbInfo.tdxModuleIdentities ? 2 : 0;
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
      const covering = col.crls.find((c) => c.crl.issuer.isEqual(cert.issuer));
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
      return { ...fail("tcb_revoked", "the platform TCB level is Revoked in Intel's TCB info", "Revoked"), fmspc: tcb.fmspc, advisoryIds: tcb.advisoryIds };
    }
    // Freshness of collateral, at `now`.
    const windows: Array<{ what: string; from: number; until: number | undefined }> = [
      { what: "TCB info", from: Date.parse(col.tcbInfo.issueDate), until: Date.parse(col.tcbInfo.nextUpdate) },
      { what: "QE identity", from: Date.parse(col.qeIdentity.issueDate), until: Date.parse(col.qeIdentity.nextUpdate) },
      ...col.crls.map((c) => ({ what: c.what, from: c.thisUpdate, until: c.nextUpdate })),
      ...col.validity.map((v) => ({ what: `certificate "${v.subject}"`, from: v.notBefore, until: v.notAfter })),
    ];
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
    };
  } catch (e) {
    if (e instanceof TdxCheckError || e instanceof QuoteParseError) return fail(e.code, e.message);
    return fail("verification_error", `unexpected verification error: ${(e as Error).message}`);
  }
}
