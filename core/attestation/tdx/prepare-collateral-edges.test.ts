/**
 * Every refusal of the collateral's preparation (prepare-collateral.ts), each with its exact code
 * and reason: a worker operator reads these to tell which part of the collateral is wrong. A
 * mutation run (c1b8f79) found that no test checked them, nor that a root CA CRL must have BOTH
 * the pinned root's name and its signature, nor that a signed TCB info / QE identity that is not
 * JSON, or not of the expected shape, is refused.
 *
 * Platforms come from the TEST stand-in PKI (test/fixtures/attestation/test-pki.ts). Some cases
 * need a CRL, a certificate or a JSON text signed by one of its keys (TestPlatform.keys); the
 * CRL / certificate are built below as the fixture builds its own.
 */
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { describe, expect, it } from "vitest";
import { toPem } from "../../../test/fixtures/attestation/forge";
import {
  TEST_NOW,
  ecdsaSha256,
  makeCrl,
  makeTestPlatform,
  name,
  utc,
  type TestPlatform,
} from "../../../test/fixtures/attestation/test-pki";
import type { TdxCollateral } from "./collateral";
import { verifyTdxQuote, type TdxVerdict } from "./verify";

/** The fixture's names (test-pki.ts). */
const ROOT = "Intel SGX Root CA (TEST stand-in)";
const PLATFORM = "Intel SGX PCK Platform CA";
const WINDOW = { from: new Date("2030-06-01T00:00:00Z"), until: new Date("2030-07-01T00:00:00Z") };

/** A stand-in platform and the private keys it was made with. */
async function platformWithKeys(): Promise<{ p: TestPlatform; keys: TestPlatform["keys"] }> {
  const p = await makeTestPlatform();
  return { p, keys: p.keys };
}

/** The verdict on the platform's own quote with its collateral edited. */
const verdictWith = (p: TestPlatform, edit: Partial<Record<keyof TdxCollateral, unknown>> | unknown): Promise<TdxVerdict> =>
  verifyTdxQuote(p.quote, {
    now: TEST_NOW,
    rootCaPem: p.rootPem,
    collateral: (typeof edit === "object" && edit !== null ? { ...p.collateral, ...edit } : edit) as TdxCollateral,
  });

/** A refusal: not genuine, the exact code and reason, no measurements. */
const refused = (code: string, reason: string) => ({ genuine: false, code, reason, measurements: undefined });

const hexOf = (b: Uint8Array) => Buffer.from(b).toString("hex");
const rawSign = (text: string, key: KeyObject) =>
  hexOf(new Uint8Array(sign("sha256", new TextEncoder().encode(text), { key, dsaEncoding: "ieee-p1363" })));

/** A CRL naming `issuer`, revoking nothing, signed with `key` (hex DER, as the collateral carries it). */
const crlHex = (issuer: string, key: KeyObject): string => hexOf(makeCrl(issuer, key, WINDOW, []));

/** An end-entity certificate "Intel SGX TCB Signing" issued by the root, for a P-384 key (PEM). */
function p384SigningCertPem(rootKey: KeyObject): string {
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = new asn1js.Integer({ valueHex: new Uint8Array([0x01, 0x23, 0x45, 0x67]).buffer });
  cert.signature = ecdsaSha256();
  cert.signatureAlgorithm = ecdsaSha256();
  cert.issuer = name(ROOT);
  cert.subject = name("Intel SGX TCB Signing");
  cert.notBefore = utc(new Date("2025-01-01T00:00:00Z"));
  cert.notAfter = utc(new Date("2040-01-01T00:00:00Z"));
  const spki = new Uint8Array(publicKey.export({ type: "spki", format: "der" }));
  cert.subjectPublicKeyInfo = new pkijs.PublicKeyInfo({ schema: asn1js.fromBER(spki).result });
  cert.extensions = [
    new pkijs.Extension({ extnID: "2.5.29.19", critical: true, extnValue: new pkijs.BasicConstraints({}).toSchema().toBER(false) }),
  ];
  cert.tbsView = new Uint8Array(cert.encodeTBS().toBER(false));
  cert.signatureValue = new asn1js.BitString({ valueHex: new Uint8Array(sign("sha256", cert.tbsView, rootKey)).buffer });
  return toPem(new Uint8Array(cert.toSchema().toBER(false)));
}

/** Five PEM headers: one more than a chain may hold (quote.ts MAX_CHAIN_CERTS = 4); counted before anything is decoded. */
const TOO_MANY_PEMS = "-----BEGIN CERTIFICATE-----\n".repeat(5);

describe("the fixture platform is accepted (baseline for every refusal below)", () => {
  it("genuine UpToDate under its own root", async () => {
    // Prepare
    const { p } = await platformWithKeys();
    // Act
    const v = await verdictWith(p, {});
    // Assess
    expect(v).toMatchObject({ genuine: true, code: "ok", reason: "genuine TDX quote, TCB UpToDate" });
  });
});

describe("collateral_malformed: not the Intel PCS JSON layout", () => {
  it("names the field and the schema's message", async () => {
    // Prepare
    const { p } = await platformWithKeys();
    // Act
    const v = await verdictWith(p, { root_ca_crl: "zz" });
    // Assess
    expect(v).toMatchObject(
      refused("collateral_malformed", "collateral does not have the Intel PCS JSON layout: root_ca_crl: must be hex"),
    );
  });

  it("a field of the wrong type", async () => {
    const { p } = await platformWithKeys();
    const v = await verdictWith(p, { qe_identity_signature: 7 });
    expect(v).toMatchObject(
      refused(
        "collateral_malformed",
        "collateral does not have the Intel PCS JSON layout: qe_identity_signature: Invalid input: expected string, received number",
      ),
    );
  });
});

describe("the root CA CRL: issued (name) AND signed (key) by the pinned root", () => {
  it("not DER → root_ca_crl_malformed, naming the root CA CRL", async () => {
    const { p } = await platformWithKeys();
    const v = await verdictWith(p, { root_ca_crl: "0500" });
    expect(v).toMatchObject(refused("root_ca_crl_malformed", "root CA CRL: not a valid DER CRL (CRL has tag 0x5, expected 0x30)"));
  });

  it("the root's name, another key's signature → root_ca_crl_signature_invalid", async () => {
    // Prepare: another platform's root has the same name and another key
    const { p } = await platformWithKeys();
    const { p: other } = await platformWithKeys();
    // Act
    const v = await verdictWith(p, { root_ca_crl: other.collateral.root_ca_crl });
    // Assess
    expect(v).toMatchObject(refused("root_ca_crl_signature_invalid", "the root CA CRL is not signed by the pinned Intel SGX Root CA"));
  });

  it("the root's signature, another issuer name → root_ca_crl_signature_invalid", async () => {
    // Prepare
    const { p, keys } = await platformWithKeys();
    const crl = crlHex(PLATFORM, keys.root);
    // Act
    const v = await verdictWith(p, { root_ca_crl: crl });
    // Assess
    expect(v).toMatchObject(refused("root_ca_crl_signature_invalid", "the root CA CRL is not signed by the pinned Intel SGX Root CA"));
  });

  it("a CRL rebuilt here with the root's name and key is accepted (the two cases above differ in one thing each)", async () => {
    const { p, keys } = await platformWithKeys();
    const v = await verdictWith(p, { root_ca_crl: crlHex(ROOT, keys.root) });
    expect(v).toMatchObject({ genuine: true, code: "ok" });
  });
});

describe("the PCK CRL and its issuer chain", () => {
  it("too many PEM certificates in the issuer chain → cert_chain_too_long, naming the PCK CRL issuer chain", async () => {
    const { p } = await platformWithKeys();
    const v = await verdictWith(p, { pck_crl_issuer_chain: TOO_MANY_PEMS });
    expect(v).toMatchObject(refused("cert_chain_too_long", "PCK CRL issuer chain: more than 4 PEM certificates; an Intel chain has 3"));
  });

  it("an issuer chain whose first certificate is not a CA → pck_crl_chain_invalid", async () => {
    // Prepare: the TCB signing chain (an end entity) where the CRL issuer's chain belongs
    const { p } = await platformWithKeys();
    // Act
    const v = await verdictWith(p, { pck_crl_issuer_chain: p.collateral.tcb_info_issuer_chain });
    // Assess
    expect(v).toMatchObject(
      refused("pck_crl_chain_invalid", 'PCK CRL issuer chain: "Intel SGX TCB Signing" must be a CA (it signs a CRL)'),
    );
  });

  it("not DER → pck_crl_malformed, naming the PCK CRL", async () => {
    const { p } = await platformWithKeys();
    const v = await verdictWith(p, { pck_crl: "0500" });
    expect(v).toMatchObject(refused("pck_crl_malformed", "PCK CRL: not a valid DER CRL (CRL has tag 0x5, expected 0x30)"));
  });

  it("the issuer's name, another key's signature → pck_crl_signature_invalid", async () => {
    const { p } = await platformWithKeys();
    const { p: other } = await platformWithKeys();
    const v = await verdictWith(p, { pck_crl: other.collateral.pck_crl });
    expect(v).toMatchObject(refused("pck_crl_signature_invalid", "the PCK CRL is not signed by the first certificate of its issuer chain"));
  });

  it("the issuer's signature, another issuer name → pck_crl_signature_invalid", async () => {
    const { p, keys } = await platformWithKeys();
    const v = await verdictWith(p, { pck_crl: crlHex("Intel SGX PCK Processor CA", keys.platform) });
    expect(v).toMatchObject(refused("pck_crl_signature_invalid", "the PCK CRL is not signed by the first certificate of its issuer chain"));
  });
  it("a PCK CRL rebuilt here with the issuer's name and key is accepted (the recorded key is the Platform CA's)", async () => {
    const { p, keys } = await platformWithKeys();
    const v = await verdictWith(p, { pck_crl: crlHex(PLATFORM, keys.platform) });
    expect(v).toMatchObject({ genuine: true, code: "ok" });
  });
});

describe("the TCB info: issuer chain, signing key, signature, JSON", () => {
  it("too many PEM certificates → cert_chain_too_long, naming the TCB info issuer chain", async () => {
    const { p } = await platformWithKeys();
    const v = await verdictWith(p, { tcb_info_issuer_chain: TOO_MANY_PEMS });
    expect(v).toMatchObject(refused("cert_chain_too_long", "TCB info issuer chain: more than 4 PEM certificates; an Intel chain has 3"));
  });

  it("a CA certificate as the signer → tcb_signing_chain_invalid", async () => {
    // Prepare: the PCK CRL issuer chain (Platform CA, root)
    const { p } = await platformWithKeys();
    // Act
    const v = await verdictWith(p, { tcb_info_issuer_chain: p.collateral.pck_crl_issuer_chain });
    // Assess
    expect(v).toMatchObject(
      refused("tcb_signing_chain_invalid", 'TCB info issuer chain: "Intel SGX PCK Platform CA" is a CA certificate, not an end entity'),
    );
  });

  it("a signing certificate with a P-384 key → tcb_signing_chain_invalid, naming the TCB signing certificate", async () => {
    // Prepare: a valid end entity under the root, but not P-256
    const { p, keys } = await platformWithKeys();
    // Act
    const v = await verdictWith(p, { tcb_info_issuer_chain: p384SigningCertPem(keys.root) + p.rootPem });
    // Assess
    expect(v).toMatchObject(refused("tcb_signing_chain_invalid", "TCB signing certificate: public key is not an ECDSA P-256 key"));
  });

  it("a signature by another key → tcb_info_signature_invalid", async () => {
    const { p } = await platformWithKeys();
    const { p: other } = await platformWithKeys();
    const v = await verdictWith(p, { tcb_info_signature: other.collateral.tcb_info_signature });
    expect(v).toMatchObject(
      refused("tcb_info_signature_invalid", "the TCB info signature does not verify with the TCB signing certificate"),
    );
  });

  it("signed, but not JSON → tcb_info_malformed", async () => {
    // Prepare
    const { p, keys } = await platformWithKeys();
    const text = "{not json";
    // Act
    const v = await verdictWith(p, { tcb_info: text, tcb_info_signature: rawSign(text, keys.tcbSigner) });
    // Assess
    expect(v).toMatchObject(refused("tcb_info_malformed", "TCB info is not JSON"));
  });

  it("signed JSON of the wrong shape → tcb_info_malformed, naming the nested field", async () => {
    // Prepare
    const { p, keys } = await platformWithKeys();
    const tcbInfo = JSON.parse(p.collateral.tcb_info);
    tcbInfo.tdxModule.mrsigner = "00";
    const text = JSON.stringify(tcbInfo);
    // Act
    const v = await verdictWith(p, { tcb_info: text, tcb_info_signature: rawSign(text, keys.tcbSigner) });
    // Assess
    expect(v).toMatchObject(refused("tcb_info_malformed", "TCB info: tdxModule.mrsigner: must be 48 bytes of hex"));
  });
});

describe("the QE identity: issuer chain, signing key, signature, JSON", () => {
  it("too many PEM certificates → cert_chain_too_long, naming the QE identity issuer chain", async () => {
    const { p } = await platformWithKeys();
    const v = await verdictWith(p, { qe_identity_issuer_chain: TOO_MANY_PEMS });
    expect(v).toMatchObject(refused("cert_chain_too_long", "QE identity issuer chain: more than 4 PEM certificates; an Intel chain has 3"));
  });

  it("a CA certificate as the signer → qe_identity_chain_invalid", async () => {
    const { p } = await platformWithKeys();
    const v = await verdictWith(p, { qe_identity_issuer_chain: p.collateral.pck_crl_issuer_chain });
    expect(v).toMatchObject(
      refused("qe_identity_chain_invalid", 'QE identity issuer chain: "Intel SGX PCK Platform CA" is a CA certificate, not an end entity'),
    );
  });

  it("a signing certificate with a P-384 key → qe_identity_chain_invalid, naming the QE identity signing certificate", async () => {
    const { p, keys } = await platformWithKeys();
    const v = await verdictWith(p, { qe_identity_issuer_chain: p384SigningCertPem(keys.root) + p.rootPem });
    expect(v).toMatchObject(refused("qe_identity_chain_invalid", "QE identity signing certificate: public key is not an ECDSA P-256 key"));
  });

  it("a signature by another key → qe_identity_signature_invalid", async () => {
    const { p } = await platformWithKeys();
    const { p: other } = await platformWithKeys();
    const v = await verdictWith(p, { qe_identity_signature: other.collateral.qe_identity_signature });
    expect(v).toMatchObject(
      refused("qe_identity_signature_invalid", "the QE identity signature does not verify with the TCB signing certificate"),
    );
  });

  it("signed, but not JSON → qe_identity_malformed", async () => {
    const { p, keys } = await platformWithKeys();
    const text = "[1, 2";
    const v = await verdictWith(p, { qe_identity: text, qe_identity_signature: rawSign(text, keys.tcbSigner) });
    expect(v).toMatchObject(refused("qe_identity_malformed", "QE identity is not JSON"));
  });

  it("signed JSON of the wrong shape → qe_identity_malformed, naming the nested field", async () => {
    // Prepare
    const { p, keys } = await platformWithKeys();
    const qeIdentity = JSON.parse(p.collateral.qe_identity);
    qeIdentity.tcbLevels[0].tcbDate = "not a date";
    const text = JSON.stringify(qeIdentity);
    // Act
    const v = await verdictWith(p, { qe_identity: text, qe_identity_signature: rawSign(text, keys.tcbSigner) });
    // Assess
    expect(v).toMatchObject(refused("qe_identity_malformed", "QE identity: tcbLevels.0.tcbDate: must be an ISO date"));
  });
});
