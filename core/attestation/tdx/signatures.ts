/**
 * The quote's own evidence, without collateral: QE vendor, PCK chain to the pinned root (and
 * its validity at `now`), QE report signed by the PCK key, QE report data binding the
 * attestation key, quote signed by that key, and TD and QE attributes that keep them confidential.
 */
import { createHash } from "node:crypto";
import { chain, leafKey, type Root, type TdxVerifierCache } from "./cache";
import { INTEL_QE_VENDOR_ID, type TdxQuote } from "./quote";
import { bytesEqual } from "../../crypto/encoding";
import { TdxCheckError, hex, importP256Raw, verifyRawEcdsa, type VerifiedChain } from "./x509";

/** TD attributes (TDX module spec, TDATTRIBUTES): no debug, no reserved bits, SEPT_VE_DISABLE set. */
export function checkTdAttributes(q: Pick<TdxQuote, "body">) {
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

export async function verifyQuoteSignatures(q: TdxQuote, root: Root, now: number, cache: TdxVerifierCache): Promise<VerifiedChain> {
  if (hex(q.header.qeVendorId) !== INTEL_QE_VENDOR_ID) {
    throw new TdxCheckError("qe_vendor_unknown", `QE vendor id ${hex(q.header.qeVendorId)} is not Intel's`);
  }
  // What the quote claims about the TD and the QE first: a debug TD or QE is refused whether or
  // not its signatures hold (a genuine one is no less readable by its host), at no crypto cost.
  checkTdAttributes(q);
  if ((q.qeReport.attributes[0]! & 0x02) !== 0) {
    throw new TdxCheckError("qe_debug_mode", "the quoting enclave runs in DEBUG mode");
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
  if (!verifyRawEcdsa(pckKey, q.qeReportSignature, q.qeReport.raw)) {
    throw new TdxCheckError("qe_report_signature_invalid", "the QE report signature does not verify with the PCK certificate key");
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
  const attKey = importP256Raw(q.attestationKey, "attestation_key_invalid", "attestation key");
  if (!verifyRawEcdsa(attKey, q.quoteSignature, q.signedBytes)) {
    throw new TdxCheckError(
      "quote_signature_invalid",
      "the quote signature over header and TD report does not verify with the attestation key",
    );
  }
  return pck;
}
