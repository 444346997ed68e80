/**
 * Collateral preparation (Intel PCS JSON layout): root CA and PCK CRLs checked against the
 * pinned root and the PCK CRL issuer chain, TCB info and QE identity signatures checked
 * against their issuer chains, no certificate of those chains revoked. The result is
 * time-independent and cached per (root, collateral); freshness is checked in verify.ts.
 */
import { QeIdentityJson, TcbInfoJson, TdxCollateral } from "./collateral";
import { chain, leafKey, memo, cacheKey, type PreparedCollateral, type PreparedCrl, type Root, type TdxVerifierCache } from "./cache";
import { pemCertificates } from "./quote";
import { bytesEqual } from "../../crypto/encoding";
import { TdxCheckError, parseCrl, serialHex, verifyCrlSignature, verifyRawEcdsa, type Cert, type Crl } from "./x509";

export function fromHex(h: string): Uint8Array {
  return new Uint8Array(Buffer.from(h, "hex"));
}

export async function prepareCollateral(raw: unknown, root: Root, cache: TdxVerifierCache): Promise<PreparedCollateral> {
  const parsed = TdxCollateral.safeParse(raw);
  if (!parsed.success) {
    throw new TdxCheckError(
      "collateral_malformed",
      `collateral does not have the Intel PCS JSON layout: ${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`,
    );
  }
  const c = parsed.data;
  return memo(cache.collateral, cacheKey(root.key, JSON.stringify(c)), async () => {
    // Root CA CRL: issued and signed by the pinned root.
    const rootCrl = parseCrl(fromHex(c.root_ca_crl), "root_ca_crl_malformed", "root CA CRL");
    if (!bytesEqual(rootCrl.issuer, root.cert.subject) || !verifyCrlSignature(rootCrl, root.cert)) {
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
    if (!bytesEqual(pckCrl.issuer, pckCrlIssuer.subject) || !verifyCrlSignature(pckCrl, pckCrlIssuer)) {
      throw new TdxCheckError("pck_crl_signature_invalid", "the PCK CRL is not signed by the first certificate of its issuer chain");
    }
    const crls = [prepCrl(rootCrl, "root CA CRL", "root_ca_crl_malformed"), prepCrl(pckCrl, "PCK CRL", "pck_crl_malformed")];

    const tcbChain = await chain(
      cache,
      pemCertificates(c.tcb_info_issuer_chain, "TCB info issuer chain"),
      root,
      "tcb_signing_chain_invalid",
      "TCB info issuer chain",
    );
    const tcbKey = await leafKey(cache, tcbChain.certs[0]!, "tcb_signing_chain_invalid", "TCB signing certificate");
    if (!verifyRawEcdsa(tcbKey, fromHex(c.tcb_info_signature), new TextEncoder().encode(c.tcb_info))) {
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
    if (!verifyRawEcdsa(qeKey, fromHex(c.qe_identity_signature), new TextEncoder().encode(c.qe_identity))) {
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

/**
 * A CRL without nextUpdate is refused: it would never expire, so an old list (signed before a
 * revocation) would pass for ever. RFC 5280 §5.1.2.5: conforming issuers always include it, and
 * Intel's do.
 */
function prepCrl(crl: Crl, what: string, code: string): PreparedCrl {
  if (crl.nextUpdate === undefined) throw new TdxCheckError(code, `the ${what} has no nextUpdate, so it would never expire`);
  return { what, issuer: crl.issuer, revoked: crl.revoked, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate };
}

/** The CRL (by name) that revokes `cert`, if any; only CRLs issued by the certificate's issuer count. */
export function revokedBy(cert: Cert, crls: PreparedCrl[]): string | undefined {
  for (const c of crls) if (bytesEqual(c.issuer, cert.issuer) && c.revoked.has(serialHex(cert))) return c.what;
  return undefined;
}

function parseJson<T>(
  schema: {
    safeParse(
      v: unknown,
    ): { success: true; data: T } | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } };
  },
  text: string,
  code: string,
  what: string,
): T {
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
