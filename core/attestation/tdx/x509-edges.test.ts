/**
 * x509.ts, rule by rule. A mutation run left 118 mutants alive here, among them the chain rules a
 * forged PCK chain would attack: with `!bytesEqual(cert.issuer, issuer.subject)` or
 * `i > 0 && !cert.isCa` replaced by `false`, no test failed.
 *
 * The certificates and CRLs below are encoded byte by byte with a dozen-line DER writer (pkijs
 * cannot write the odd ones: a v1 certificate, unique IDs, two basicConstraints, a CRL without
 * nextUpdate or with mismatched algorithms), and signed with node:crypto. Each test changes ONE
 * thing in an otherwise well-formed chain: root → "Platform CA" → "PCK leaf".
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  CertMemo,
  TdxCheckError,
  X509,
  commonName,
  importP256Raw,
  p256KeyOf,
  parseCertificate,
  parseCrl,
  pckExtension,
  serialHex,
  verifyChainToRoot,
  verifyCrlSignature,
  verifyRawEcdsa,
  type Cert,
} from "./x509";
import { thrownBy } from "../../../test/fixtures/attestation/helpers";

// ------------------------------------------------------------------ a tiny DER writer

const cat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
const lengthBytes = (n: number) => (n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff]);
const tlv = (tag: number, ...content: Uint8Array[]) => {
  const body = cat(...content);
  return cat(new Uint8Array([tag, ...lengthBytes(body.length)]), body);
};
const SEQ = (...c: Uint8Array[]) => tlv(0x30, ...c);
const SET = (...c: Uint8Array[]) => tlv(0x31, ...c);
const INT = (...bytes: number[]) => tlv(0x02, new Uint8Array(bytes));
const BOOL = (byte: number) => tlv(0x01, new Uint8Array([byte]));
const OCTETS = (b: Uint8Array) => tlv(0x04, b);
const UTF8 = (s: string) => tlv(0x0c, Buffer.from(s));
const BITS = (b: Uint8Array, unused = 0) => tlv(0x03, new Uint8Array([unused]), b);
const UTC = (s: string) => tlv(0x17, Buffer.from(s));
const GEN = (s: string) => tlv(0x18, Buffer.from(s));
function OID(dotted: string): Uint8Array {
  const [a, b, ...rest] = dotted.split(".").map(Number) as [number, number, ...number[]];
  const out = [40 * a + b];
  for (const n of rest) {
    const arc = [n & 0x7f];
    for (let m = Math.floor(n / 128); m > 0; m = Math.floor(m / 128)) arc.unshift((m & 0x7f) | 0x80);
    out.push(...arc);
  }
  return tlv(0x06, new Uint8Array(out));
}

const ECDSA_SHA256 = SEQ(OID("1.2.840.10045.4.3.2"));
const ECDSA_SHA384 = SEQ(OID("1.2.840.10045.4.3.3"));
const OID_BC = "2.5.29.19";
const SGX = "1.2.840.113741.1.13.1";

/** A Name of one attribute per RDN, in the order given ([type OID, value]). */
const nameOf = (...attrs: Array<[string, string]>) => SEQ(...attrs.map(([t, v]) => SET(SEQ(OID(t), UTF8(v)))));
/** An Intel-style Name: CN first, then O. */
const named = (cn: string) => nameOf(["2.5.4.3", cn], ["2.5.4.10", "Intel Corporation"]);

const extension = (id: string, value: Uint8Array, critical?: Uint8Array) => SEQ(OID(id), ...(critical ? [critical] : []), OCTETS(value));
/** basicConstraints, critical: cA TRUE, or (undefined) the end-entity form with no cA field. */
const basicConstraints = (ca: boolean | undefined, ...more: Uint8Array[]) =>
  extension(OID_BC, SEQ(...(ca === undefined ? [] : [BOOL(ca ? 0xff : 0x00)]), ...more), BOOL(0xff));
const CA = basicConstraints(true);
const END_ENTITY = basicConstraints(undefined);

// ------------------------------------------------------------------ certificates

interface Party {
  key: KeyObject;
  pub: KeyObject;
  name: Uint8Array;
  cn: string;
}
const ec = (curve = "P-256") => generateKeyPairSync("ec", { namedCurve: curve });
const party = (cn: string): Party => {
  const { privateKey, publicKey } = ec();
  return { key: privateKey, pub: publicKey, name: named(cn), cn };
};

interface CertSpec {
  subject: Uint8Array;
  issuer: Uint8Array;
  subjectKey: KeyObject;
  signer: KeyObject;
  /** Extensions in order; undefined: no extensions field at all. */
  extensions?: Uint8Array[];
  /** false: a v1 certificate (no version field). */
  v3?: boolean;
  serial?: number[];
  notBefore?: Uint8Array;
  notAfter?: Uint8Array;
  /** Adds issuerUniqueID [1] and subjectUniqueID [2] before the extensions. */
  uniqueIds?: boolean;
}

function certificate(s: CertSpec): Uint8Array {
  const tbs = SEQ(
    ...(s.v3 === false ? [] : [tlv(0xa0, INT(2))]),
    INT(...(s.serial ?? [0x11, 0x22])),
    ECDSA_SHA256,
    s.issuer,
    SEQ(s.notBefore ?? UTC("250101000000Z"), s.notAfter ?? UTC("400101000000Z")),
    s.subject,
    new Uint8Array(s.subjectKey.export({ type: "spki", format: "der" })),
    ...(s.uniqueIds ? [tlv(0x81, new Uint8Array([0, 1, 2])), tlv(0x82, new Uint8Array([0, 3, 4]))] : []),
    ...(s.extensions ? [tlv(0xa3, SEQ(...s.extensions))] : []),
  );
  return SEQ(tbs, ECDSA_SHA256, BITS(new Uint8Array(sign("sha256", tbs, s.signer))));
}

/** `subject` certified by `issuer` (a CA unless told otherwise). */
const issue = (subject: Party, issuer: Party, more: Partial<CertSpec> = {}) =>
  certificate({ subject: subject.name, issuer: issuer.name, subjectKey: subject.pub, signer: issuer.key, extensions: [CA], ...more });

const parse = (der: Uint8Array, what = "test cert") => parseCertificate(der, "cert_invalid", what);

/** A fresh PKI: a self-signed root, a Platform CA under it, a PCK leaf under that. */
function pki() {
  const root = party("Test Root CA");
  const platform = party("Platform CA");
  const leaf = party("PCK leaf");
  const rootDer = issue(root, root);
  const platformDer = issue(platform, root);
  const leafDer = issue(leaf, platform, { extensions: [END_ENTITY] });
  const pinned = { cert: parse(rootDer, "root"), der: rootDer, key: CertMemo.id(rootDer) };
  return { root, platform, leaf, rootDer, platformDer, leafDer, pinned };
}

const refusal = (act: () => unknown): TdxCheckError => thrownBy(TdxCheckError, act);

afterEach(() => {
  vi.restoreAllMocks();
});

// ------------------------------------------------------------------ chain rules

describe("verifyChainToRoot: a chain is accepted only as it links to the pinned root", () => {
  const chain = (p: ReturnType<typeof pki>, ders: Uint8Array[], leafIsCa?: boolean, memo?: CertMemo) =>
    verifyChainToRoot(ders, p.pinned, "pck_chain_invalid", "pck chain", leafIsCa, memo);

  it("accepts leaf → Platform CA, with or without the pinned root's copy, leaf first", () => {
    // Prepare
    const p = pki();

    // Act
    const without = chain(p, [p.leafDer, p.platformDer]);
    const withRoot = chain(p, [p.leafDer, p.platformDer, p.rootDer]);

    // Assess: the root's copy is dropped, the windows are the certificates' own
    for (const r of [without, withRoot]) {
      expect(r.certs.map((c) => c.cn)).toEqual(["PCK leaf", "Platform CA"]);
      expect(r.validity).toEqual([
        { subject: "PCK leaf", notBefore: Date.UTC(2025, 0, 1), notAfter: Date.UTC(2040, 0, 1) },
        { subject: "Platform CA", notBefore: Date.UTC(2025, 0, 1), notAfter: Date.UTC(2040, 0, 1) },
      ]);
    }
  });

  it("refuses an empty chain", () => {
    const p = pki();
    const e = refusal(() => chain(p, []));
    expect(e.code).toBe("pck_chain_invalid");
    expect(e.message).toBe("pck chain: empty certificate chain");
  });

  it("refuses a chain that holds only the root", () => {
    const p = pki();
    const e = refusal(() => chain(p, [p.rootDer]));
    expect(e.code).toBe("pck_chain_invalid");
    expect(e.message).toBe("pck chain: the chain holds only the root certificate");
  });

  it("refuses a leaf whose issuer name is not the Platform CA's, even when the Platform CA's key signed it", () => {
    // Prepare: signed by the right key, but naming another issuer (names chain, not just keys)
    const p = pki();
    const leafDer = issue(p.leaf, p.platform, { issuer: named("Other CA"), extensions: [END_ENTITY] });

    // Act
    const e = refusal(() => chain(p, [leafDer, p.platformDer]));

    // Assess
    expect(e.code).toBe("pck_chain_invalid");
    expect(e.message).toBe('pck chain: "PCK leaf" names an issuer that is not "Platform CA"');
  });

  it("refuses a top certificate whose issuer name is not the pinned root's, as untrusted_root", () => {
    const p = pki();
    const platformDer = issue(p.platform, p.root, { issuer: named("Some Other Root") });
    const e = refusal(() => chain(p, [p.leafDer, platformDer]));
    expect(e.code).toBe("untrusted_root");
    expect(e.message).toBe('pck chain: "Platform CA" names an issuer that is not the pinned Intel SGX Root CA');
  });

  it("refuses a leaf signed by another key under the Platform CA's name", () => {
    const p = pki();
    const impostor = { ...party("x"), name: p.platform.name };
    const e = refusal(() => chain(p, [issue(p.leaf, impostor, { extensions: [END_ENTITY] }), p.platformDer]));
    expect(e.code).toBe("pck_chain_invalid");
    expect(e.message).toBe('pck chain: the signature of "PCK leaf" does not verify with the key of "Platform CA"');
  });

  it("refuses a top certificate the pinned root did not sign, as untrusted_root", () => {
    const p = pki();
    const impostor = { ...party("x"), name: p.root.name };
    const e = refusal(() => chain(p, [p.leafDer, issue(p.platform, impostor)]));
    expect(e.code).toBe("untrusted_root");
    expect(e.message).toMatch(/the signature of "Platform CA" does not verify with the key of "Test Root CA"/);
  });

  it("refuses a self-issued top that is not the pinned root byte for byte, even one the root's key signed", () => {
    // Prepare: a second certificate for the root (same name and key, another serial): its issuer
    // name matches and its signature verifies, so only the self-issued rule stops it
    const p = pki();
    const reissuedRoot = issue(p.root, p.root, { serial: [0x7e] });

    // Act
    const e = refusal(() => chain(p, [p.leafDer, p.platformDer, reissuedRoot]));

    // Assess
    expect(e.code).toBe("untrusted_root");
    expect(e.message).toBe('pck chain: the chain ends at "Test Root CA", which is not the pinned Intel SGX Root CA');
  });

  it("refuses a chain ending at a foreign self-signed root", () => {
    const p = pki();
    const foreign = party("Foreign Root");
    const e = refusal(() => chain(p, [p.leafDer, issue(foreign, foreign)]));
    expect(e.code).toBe("untrusted_root");
    expect(e.message).toMatch(/the chain ends at "Foreign Root"/);
  });

  it.each([
    ["basicConstraints without cA", [END_ENTITY]],
    ["basicConstraints cA FALSE", [basicConstraints(false)]],
    ["no basicConstraints", [extension("2.5.29.15", BITS(new Uint8Array([0x06]), 1), BOOL(0xff))]],
  ])("refuses a non-CA intermediate (%s) issuing the leaf", (_, extensions) => {
    // Prepare: a properly signed chain whose middle certificate is an end entity
    const p = pki();
    const platformDer = issue(p.platform, p.root, { extensions });

    // Act
    const e = refusal(() => chain(p, [p.leafDer, platformDer]));

    // Assess
    expect(e.code).toBe("pck_chain_invalid");
    expect(e.message).toBe('pck chain: "Platform CA" issues certificates but is not a CA');
  });

  it("refuses a CA certificate as the leaf of an end-entity chain (the default)", () => {
    const p = pki();
    const caLeaf = issue(p.leaf, p.platform);
    const e = refusal(() => chain(p, [caLeaf, p.platformDer]));
    expect(e.code).toBe("pck_chain_invalid");
    expect(e.message).toBe('pck chain: "PCK leaf" is a CA certificate, not an end entity');
  });

  it("accepts a CA leaf and refuses an end-entity leaf when the leaf must be a CA (a CRL issuer chain)", () => {
    const p = pki();
    expect(chain(p, [p.platformDer], true).certs[0]!.cn).toBe("Platform CA");
    const e = refusal(() => chain(p, [p.leafDer, p.platformDer], true));
    expect(e.code).toBe("pck_chain_invalid");
    expect(e.message).toBe('pck chain: "PCK leaf" must be a CA (it signs a CRL)');
  });

  it("names the position of a certificate that does not parse", () => {
    const p = pki();
    const e = refusal(() => chain(p, [p.leafDer, new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])]));
    expect(e.code).toBe("pck_chain_invalid");
    expect(e.message).toMatch(/^pck chain certificate #1: certificate is not valid DER X\.509 \(/);
  });

  // RFC 5280 §4.2.1.9 / §6.1.4 (l)-(m): a CA whose pathLenConstraint is 0 may issue end entities
  // only. The root here has no pathLen and the Platform CA pathLen 0; a CA below it must fail.
  it("refuses a CA issued by a CA whose pathLenConstraint is 0 (session 16: pathLen was ignored)", () => {
    const p = pki();
    const platformDer = issue(p.platform, p.root, { extensions: [basicConstraints(true, INT(0))] });
    const sub = party("Sub CA");
    const subDer = issue(sub, p.platform);
    const leafDer = issue(p.leaf, sub, { extensions: [END_ENTITY] });
    const e = refusal(() => chain(p, [leafDer, subDer, platformDer]));
    expect(e.code).toBe("pck_chain_invalid");
  });

  // RFC 5280 §4.2.1.3: with keyUsage present, a key may verify certificate signatures only when keyCertSign is set.
  it("refuses an intermediate CA whose keyUsage lacks keyCertSign (session 16: keyUsage was ignored)", () => {
    const p = pki();
    const digitalSignatureOnly = extension("2.5.29.15", BITS(new Uint8Array([0x80]), 7), BOOL(0xff));
    const platformDer = issue(p.platform, p.root, { extensions: [CA, digitalSignatureOnly] });
    const e = refusal(() => chain(p, [p.leafDer, platformDer]));
    expect(e.code).toBe("pck_chain_invalid");
  });

  // RFC 5280 §4.2: a certificate-using system MUST reject a certificate with a critical extension it does not recognise.
  it("refuses a leaf carrying an unrecognised critical extension (session 16: criticality was ignored)", () => {
    const p = pki();
    const leafDer = issue(p.leaf, p.platform, { extensions: [END_ENTITY, extension("1.2.3.4.5", INT(1), BOOL(0xff))] });
    const e = refusal(() => chain(p, [leafDer, p.platformDer]));
    expect(e.code).toBe("pck_chain_invalid");
  });
});

// ------------------------------------------------------------------ CertMemo

describe("CertMemo: remembers parses of verified chains and signatures that held, nothing else", () => {
  const chain = (p: ReturnType<typeof pki>, ders: Uint8Array[], memo: CertMemo) =>
    verifyChainToRoot(ders, p.pinned, "pck_chain_invalid", "pck chain", false, memo);

  it("keeps the parses and signatures of a chain that verified, and parses them from memory next time", () => {
    // Prepare
    const p = pki();
    const memo = new CertMemo();

    // Act
    chain(p, [p.leafDer, p.platformDer], memo);
    const parses = vi.spyOn(X509, "parse");
    const again = memo.parse(p.leafDer, "c", "w");

    // Assess
    expect(memo.sizes()).toEqual({ parsedCerts: 2, signatures: 2 });
    expect(parses).not.toHaveBeenCalled();
    expect(again.cn).toBe("PCK leaf");
  });

  it("keeps no parse when the chain fails, and only the signature that held", () => {
    const p = pki();
    const memo = new CertMemo();
    const forged = issue(p.leaf, { ...party("x"), name: p.platform.name }, { extensions: [END_ENTITY] });
    refusal(() => chain(p, [forged, p.platformDer], memo));
    expect(memo.sizes()).toEqual({ parsedCerts: 0, signatures: 1 });
  });

  it("checks a remembered signature only once", () => {
    // Prepare
    const p = pki();
    const memo = new CertMemo();
    const child = parse(p.platformDer);
    const check = vi.spyOn(child.x509, "verify");

    // Act
    const first = memo.verify(child, p.pinned.cert);
    const second = memo.verify(child, p.pinned.cert);

    // Assess
    expect([first, second]).toEqual([true, true]);
    expect(check).toHaveBeenCalledTimes(1);
  });

  it("does not remember a signature that failed", () => {
    const p = pki();
    const memo = new CertMemo();
    const child = parse(p.leafDer);
    expect(memo.verify(child, p.pinned.cert)).toBe(false);
    expect(memo.verify(child, p.pinned.cert)).toBe(false);
    expect(memo.sizes().signatures).toBe(0);
  });

  it("answers false when the issuer's key cannot be used at all", () => {
    // An issuer whose key OpenSSL cannot load: verify must say no, not throw
    const p = pki();
    const broken = {
      id: "broken",
      x509: {
        get publicKey(): KeyObject {
          throw new Error("unsupported key");
        },
      },
    } as unknown as Cert;
    expect(new CertMemo().verify(parse(p.leafDer), broken)).toBe(false);
  });

  it("forgets everything on clear()", () => {
    const p = pki();
    const memo = new CertMemo();
    chain(p, [p.leafDer, p.platformDer], memo);
    memo.clear();
    expect(memo.sizes()).toEqual({ parsedCerts: 0, signatures: 0 });
  });

  it("keys certificates by the base64 SHA-256 of their DER", () => {
    const p = pki();
    const expected = createHash("sha256").update(p.leafDer).digest("base64");
    expect(CertMemo.id(p.leafDer)).toBe(expected);
    expect(parse(p.leafDer).id).toBe(expected);
  });
});

// ------------------------------------------------------------------ parseCertificate

describe("parseCertificate: the fields chaining and revocation compare", () => {
  const someone = party("Issuer");
  const subjectKey = ec().publicKey;
  const make = (more: Partial<CertSpec>) =>
    certificate({ subject: named("Subject"), issuer: someone.name, subjectKey, signer: someone.key, extensions: [CA], ...more });

  it("reads serial, names, validity, CN and extensions as encoded", () => {
    // Prepare: a serial whose top bit is set (content 00 ff 01), a non-critical extension without the flag
    const der = make({
      serial: [0x00, 0xff, 0x01],
      notBefore: UTC("300102030405Z"),
      notAfter: GEN("20600101000000Z"),
      extensions: [CA, extension("1.2.3.4", new Uint8Array([5]))],
    });

    // Act
    const c = parse(der);

    // Assess
    expect(serialHex(c)).toBe("00ff01");
    expect(Buffer.from(c.issuer)).toEqual(Buffer.from(someone.name));
    expect(Buffer.from(c.subject)).toEqual(Buffer.from(named("Subject")));
    expect(c.notBefore).toBe(Date.UTC(2030, 0, 2, 3, 4, 5));
    expect(c.notAfter).toBe(Date.UTC(2060, 0, 1));
    expect(commonName(c)).toBe("Subject");
    expect(c.isCa).toBe(true);
    expect(c.extensions.map((e) => [e.oid, e.critical, Buffer.from(e.value).toString("hex")])).toEqual([
      [OID_BC, true, "30030101ff"],
      ["1.2.3.4", false, "05"],
    ]);
  });

  it("finds the CN after other attributes, and says when there is none", () => {
    const late = parse(make({ subject: nameOf(["2.5.4.10", "Org"], ["2.5.4.6", "US"], ["2.5.4.3", "Late CN"]) }));
    const none = parse(make({ subject: nameOf(["2.5.4.10", "Org"]) }));
    expect(late.cn).toBe("Late CN");
    expect(none.cn).toBe("(no CN)");
  });

  it("reads a v1 certificate (no version, no extensions) as a non-CA with no extensions", () => {
    const c = parse(make({ v3: false, extensions: undefined }));
    expect(c.extensions).toEqual([]);
    expect(c.isCa).toBe(false);
  });

  it("skips issuer and subject unique IDs to find the extensions", () => {
    const c = parse(make({ uniqueIds: true }));
    expect(c.isCa).toBe(true);
  });

  it.each([
    ["extensions without basicConstraints", [extension("1.2.3.4", new Uint8Array([5]))]],
    ["basicConstraints without cA", [END_ENTITY]],
    ["basicConstraints with only pathLen", [extension(OID_BC, SEQ(INT(0)))]],
    ["basicConstraints cA FALSE", [basicConstraints(false)]],
  ])("is not a CA with %s", (_, extensions) => {
    expect(parse(make({ extensions })).isCa).toBe(false);
  });

  it.each([
    ["two basicConstraints", [END_ENTITY, CA], /more than one basicConstraints extension/],
    ["a basicConstraints value that is not a SEQUENCE", [extension(OID_BC, INT(1))], /basicConstraints has tag 0x2/],
    ["a non-DER cA BOOLEAN (01)", [extension(OID_BC, SEQ(BOOL(0x01)))], /cA: not a DER BOOLEAN/],
    ["a non-DER critical BOOLEAN (01)", [extension("1.2.3.4", new Uint8Array([5]), BOOL(0x01))], /extension critical: not a DER BOOLEAN/],
  ])("refuses %s (OpenSSL accepts it)", (_, extensions, reason) => {
    const e = refusal(() => parse(make({ extensions }), "PCK leaf"));
    expect(e.code).toBe("cert_invalid");
    expect(e.message).toMatch(/^PCK leaf: certificate is not valid DER X\.509 \(/);
    expect(e.message).toMatch(reason);
  });

  it.each([
    ["notBefore", { notBefore: UTC("2501010000Z") }],
    ["notAfter", { notAfter: UTC("400101000000+0100") }],
  ])("refuses a %s that is not a DER time (OpenSSL accepts it)", (field, more) => {
    const e = refusal(() => parse(make(more)));
    expect(e.message).toMatch(new RegExp(`\\(${field}: ".*" is not a DER time\\)`));
  });

  it("refuses bytes that are not a certificate, naming what was parsed", () => {
    const e = refusal(() => parse(new Uint8Array([1, 2, 3]), "pinned root CA"));
    expect(e.name).toBe("TdxCheckError");
    expect(e.message).toMatch(/^pinned root CA: certificate is not valid DER X\.509/);
  });
});

describe("p256KeyOf: only an ECDSA P-256 key is a PCK key", () => {
  const issuer = party("Issuer");
  const withKey = (subjectKey: KeyObject) =>
    parse(certificate({ subject: named("K"), issuer: issuer.name, subjectKey, signer: issuer.key, extensions: [END_ENTITY] }));

  it("returns a P-256 key", () => {
    const key = ec().publicKey;
    expect(p256KeyOf(withKey(key), "c", "w").equals(key)).toBe(true);
  });

  it.each([
    ["P-384", () => ec("P-384").publicKey],
    ["RSA", () => generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey],
    ["Ed25519", () => generateKeyPairSync("ed25519").publicKey],
  ])("refuses a %s key", (_, key) => {
    const e = refusal(() => p256KeyOf(withKey(key()), "pck_key_invalid", "PCK leaf"));
    expect(e.code).toBe("pck_key_invalid");
    expect(e.message).toBe("PCK leaf: public key is not an ECDSA P-256 key");
  });
});

// ------------------------------------------------------------------ raw keys and signatures

describe("importP256Raw / verifyRawEcdsa: raw x||y keys and r||s signatures", () => {
  const { privateKey, publicKey } = ec();
  const jwk = publicKey.export({ format: "jwk" });
  const raw = cat(Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url"));
  const data = new TextEncoder().encode("quote body");
  const sig = new Uint8Array(sign("sha256", data, { key: privateKey, dsaEncoding: "ieee-p1363" }));

  it("imports a 64-byte point (from inside a larger buffer) and verifies its signature", () => {
    const framed = cat(new Uint8Array([9, 9]), raw, new Uint8Array([9]));
    const key = importP256Raw(framed.subarray(2, 66), "c", "w");
    expect(key.equals(publicKey)).toBe(true);
    expect(verifyRawEcdsa(key, sig, data)).toBe(true);
    expect(verifyRawEcdsa(key, sig, cat(data, new Uint8Array([0])))).toBe(false);
  });

  it.each([
    ["65 bytes (an 0x04 prefix)", cat(new Uint8Array([4]), raw), /^attestation key: not a valid P-256 point \(65 bytes, expected 64\)$/],
    ["a point not on the curve", new Uint8Array(64), /^attestation key: not a valid P-256 point \(/],
  ])("refuses %s", (_, xy, message) => {
    const e = refusal(() => importP256Raw(xy, "quote_key_invalid", "attestation key"));
    expect(e.code).toBe("quote_key_invalid");
    expect(e.message).toMatch(message);
  });

  it.each([
    ["63 bytes", sig.subarray(0, 63)],
    ["65 bytes", cat(sig, new Uint8Array([0]))],
    ["empty", new Uint8Array(0)],
  ])("rejects a signature of %s", (_, s) => {
    expect(verifyRawEcdsa(publicKey, s, data)).toBe(false);
  });

  it("answers false, not an exception, for a key that cannot do ECDSA-SHA256", () => {
    const ed = generateKeyPairSync("ed25519").publicKey;
    expect(verifyRawEcdsa(ed, sig, data)).toBe(false);
  });
});

// ------------------------------------------------------------------ CRLs

interface CrlSpec {
  /** The version field; null: absent (a v1 CRL). */
  version?: Uint8Array | null;
  inner?: Uint8Array;
  /** The outer algorithm; null: absent. */
  outer?: Uint8Array | null;
  issuer?: Uint8Array;
  thisUpdate?: Uint8Array | null;
  /** null: absent. */
  nextUpdate?: Uint8Array | null;
  revoked?: Uint8Array;
  /** Anything after (crlExtensions [0], or junk). */
  tail?: Uint8Array[];
  signer?: KeyObject;
  digest?: string;
  unusedBits?: number;
}

const crlSigner = party("Platform CA");
const revokedEntry = (...serial: number[]) => SEQ(INT(...serial), UTC("300601000000Z"));

function crl(s: CrlSpec = {}): Uint8Array {
  const tbs = SEQ(
    ...(s.version === null ? [] : [s.version ?? INT(1)]),
    s.inner ?? ECDSA_SHA256,
    s.issuer ?? crlSigner.name,
    ...(s.thisUpdate === null ? [] : [s.thisUpdate ?? UTC("300601000000Z")]),
    ...(s.nextUpdate === null ? [] : [s.nextUpdate ?? UTC("300701000000Z")]),
    ...(s.revoked ? [s.revoked] : []),
    ...(s.tail ?? []),
  );
  const signature = new Uint8Array(sign(s.digest ?? "sha256", tbs, s.signer ?? crlSigner.key));
  return SEQ(tbs, ...(s.outer === null ? [] : [s.outer ?? s.inner ?? ECDSA_SHA256]), BITS(signature, s.unusedBits));
}

const readCrl = (der: Uint8Array) => parseCrl(der, "crl_invalid", "PCK CRL");
const crlRefusal = (der: Uint8Array) => {
  const e = refusal(() => readCrl(der));
  expect(e.code).toBe("crl_invalid");
  expect(e.message).toMatch(/^PCK CRL: not a valid DER CRL \(/);
  return e.message;
};

describe("parseCrl: a v2 CRL as RFC 5280 §5.1 lays it out", () => {
  it("reads a v2 CRL with revoked serials and extensions, and its signature verifies with the issuer's key", () => {
    // Prepare
    const issuerCert = parse(issue(crlSigner, party("Root")));
    const der = crl({
      revoked: SEQ(revokedEntry(0x01, 0x02), revokedEntry(0x00, 0xff)),
      tail: [tlv(0xa0, SEQ(extension("2.5.29.20", INT(7))))],
    });

    // Act
    const c = readCrl(der);

    // Assess
    expect(Buffer.from(c.issuer)).toEqual(Buffer.from(crlSigner.name));
    expect(c.thisUpdate).toBe(Date.UTC(2030, 5, 1));
    expect(c.nextUpdate).toBe(Date.UTC(2030, 6, 1));
    expect([...c.revoked]).toEqual(["0102", "00ff"]);
    expect(c.algorithm).toBe("1.2.840.10045.4.3.2");
    expect(verifyCrlSignature(c, issuerCert)).toBe(true);
    expect(verifyCrlSignature(c, parse(issue(party("Platform CA"), party("Root"))))).toBe(false);
  });

  it("reads a v1 CRL (no version field)", () => {
    expect(readCrl(crl({ version: null })).nextUpdate).toBe(Date.UTC(2030, 6, 1));
  });

  it("reads GeneralizedTime thisUpdate and nextUpdate (dates from 2050 on)", () => {
    const c = readCrl(crl({ thisUpdate: GEN("20500101000000Z"), nextUpdate: GEN("20510203040506Z") }));
    expect(c.thisUpdate).toBe(Date.UTC(2050, 0, 1));
    expect(c.nextUpdate).toBe(Date.UTC(2051, 1, 3, 4, 5, 6));
  });

  it("reads a CRL without nextUpdate (optional in the ASN.1), with or without a revoked list", () => {
    const bare = readCrl(crl({ nextUpdate: null }));
    const listing = readCrl(crl({ nextUpdate: null, revoked: SEQ(revokedEntry(0x05)) }));
    expect(bare.nextUpdate).toBeUndefined();
    expect(bare.revoked.size).toBe(0);
    expect(listing.nextUpdate).toBeUndefined();
    expect([...listing.revoked]).toEqual(["05"]);
  });

  it.each([
    ["version 1 (v1 written out)", { version: INT(0) }, /CRL version is not v2/],
    ["version 3", { version: INT(2) }, /CRL version is not v2/],
    ["a negative version", { version: INT(0xff) }, /CRL version is negative/],
    ["inner and outer algorithms that differ", { outer: ECDSA_SHA384 }, /inner and outer signature algorithms differ/],
    ["no outer algorithm", { outer: null }, /inner and outer signature algorithms differ/],
    ["an issuer that is not a Name", { issuer: INT(1) }, /issuer has tag 0x2/],
    ["no thisUpdate", { thisUpdate: null, nextUpdate: null }, /thisUpdate is not a time/],
    ["an impossible nextUpdate", { nextUpdate: UTC("301332000000Z") }, /nextUpdate: "301332000000Z" is not a valid date/],
    ["a revoked entry that is not a SEQUENCE", { revoked: SEQ(INT(5)) }, /revoked entry has tag 0x2/],
    ["a revoked serial that is not an INTEGER", { revoked: SEQ(SEQ(UTC("300601000000Z"))) }, /revoked serial has tag 0x17/],
    ["a field after the revoked list", { revoked: SEQ(revokedEntry(5)), tail: [INT(9)] }, /unexpected field in tbsCertList/],
    ["a field after nextUpdate", { tail: [INT(9)] }, /unexpected field in tbsCertList/],
    ["an algorithm that is not a SEQUENCE", { inner: INT(1) }, /\(algorithm has tag 0x2/],
    ["an algorithm without an OID", { inner: SEQ(INT(1)) }, /\(algorithm has tag 0x2/],
    ["a signature BIT STRING with unused bits", { unusedBits: 1 }, /signature: BIT STRING with unused bits/],
  ])("refuses %s", (_, spec, reason) => {
    expect(crlRefusal(crl(spec))).toMatch(reason);
  });

  it("refuses a CRL that is not a SEQUENCE, or whose tbsCertList is not one", () => {
    expect(crlRefusal(INT(1))).toMatch(/CRL has tag 0x2/);
    expect(crlRefusal(SEQ(INT(1), ECDSA_SHA256, BITS(new Uint8Array([1]))))).toMatch(/tbsCertList has tag 0x2/);
  });
});

describe("verifyCrlSignature: ECDSA-P256-SHA256 only", () => {
  it("rejects a CRL declaring ECDSA-SHA384, even when its bytes carry a valid SHA-256 signature", () => {
    // Prepare: signed with SHA-256 but labelled SHA-384 (inner and outer agree, so it parses)
    const issuerCert = parse(issue(crlSigner, party("Root")));
    const c = readCrl(crl({ inner: ECDSA_SHA384 }));

    // Act / Assess
    expect(c.algorithm).toBe("1.2.840.10045.4.3.3");
    expect(verifyCrlSignature(c, issuerCert)).toBe(false);
  });

  it("answers false, not an exception, when the issuer's key cannot do ECDSA-SHA256", () => {
    const c = readCrl(crl());
    const edIssuer = { x509: { publicKey: generateKeyPairSync("ed25519").publicKey } } as unknown as Cert;
    expect(verifyCrlSignature(c, edIssuer)).toBe(false);
  });
});

// ------------------------------------------------------------------ Intel SGX PCK extension

describe("pckExtension: FMSPC, PCE-ID, PCESVN and TCB components, exactly once each", () => {
  const item = (id: string, value: Uint8Array, ...extra: Uint8Array[]) => SEQ(OID(id), value, ...extra);
  interface SgxParts {
    comps?: Uint8Array[];
    pceSvn?: Uint8Array | null;
    cpuSvn?: Uint8Array | null;
    tcbValue?: Uint8Array;
    fmspc?: Uint8Array | null;
    pceId?: Uint8Array | null;
    noTcb?: boolean;
    extraItems?: Uint8Array[];
  }
  /** The SGX extension value (sample values: components 3,3,2,2,4,1,0,5,0…, PCESVN 11). */
  function sgxValue(p: SgxParts = {}): Uint8Array {
    const comps = p.comps ?? [3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0].map((n, i) => item(`${SGX}.2.${i + 1}`, INT(n)));
    const tcb = SEQ(
      ...comps,
      ...(p.pceSvn === null ? [] : [item(`${SGX}.2.17`, p.pceSvn ?? INT(11))]),
      ...(p.cpuSvn === null ? [] : [item(`${SGX}.2.18`, p.cpuSvn ?? OCTETS(new Uint8Array(16)))]),
    );
    return SEQ(
      item(`${SGX}.1`, OCTETS(new Uint8Array(16))),
      ...(p.noTcb ? [] : [item(`${SGX}.2`, p.tcbValue ?? tcb)]),
      ...(p.pceId === null ? [] : [item(`${SGX}.3`, p.pceId ?? OCTETS(new Uint8Array([0, 0])))]),
      ...(p.fmspc === null ? [] : [item(`${SGX}.4`, p.fmspc ?? OCTETS(Buffer.from("b0c06f000000", "hex")))]),
      ...(p.extraItems ?? []),
    );
  }
  /** A parsed certificate reduced to what pckExtension reads. */
  const certWith = (...values: Uint8Array[]) => ({ extensions: values.map((value) => ({ oid: SGX, critical: false, value })) }) as Cert;
  const refused = (c: Cert) => {
    const e = refusal(() => pckExtension(c));
    expect(e.code).toBe("pck_extension_invalid");
    return e.message;
  };

  it("reads the sample's values", () => {
    expect(pckExtension(certWith(sgxValue()))).toEqual({
      sgxTcbComponents: [3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0],
      pceSvn: 11,
      cpuSvn: new Uint8Array(16),
      fmspc: "b0c06f000000",
      pceId: "0000",
    });
  });

  it("reads it from a real certificate among other extensions", () => {
    const issuer = party("Issuer");
    const der = certificate({
      subject: named("PCK"),
      issuer: issuer.name,
      subjectKey: ec().publicKey,
      signer: issuer.key,
      extensions: [END_ENTITY, extension(SGX, sgxValue())],
    });
    expect(pckExtension(parse(der)).fmspc).toBe("b0c06f000000");
  });

  it("accepts an SVN of 0xffff", () => {
    expect(pckExtension(certWith(sgxValue({ pceSvn: INT(0x00, 0xff, 0xff) }))).pceSvn).toBe(0xffff);
  });

  it.each([
    ["no", []],
    ["two", [sgxValue(), sgxValue()]],
  ])("refuses a certificate with %s SGX extensions", (_, values) => {
    expect(refused(certWith(...values))).toBe(`PCK certificate has ${values.length} Intel SGX extensions, expected 1`);
  });

  it.each([
    ["a value that is not a SEQUENCE", () => INT(1), /^PCK certificate Intel SGX extension: SGX extension has tag 0x2/],
    ["an item that is not a SEQUENCE", () => sgxValue({ extraItems: [INT(1)] }), /SGX extension item has tag 0x2/],
    ["an item without a value", () => sgxValue({ extraItems: [SEQ(OID(`${SGX}.6`))] }), /SGX extension item has no OID\/value/],
    [
      "an item with a third element",
      () => sgxValue({ extraItems: [item(`${SGX}.6`, INT(1), INT(2))] }),
      /SGX extension item has no OID\/value/,
    ],
    [
      "an item whose first element is not an OID",
      () => sgxValue({ extraItems: [SEQ(INT(1), INT(2))] }),
      /SGX extension item OID has tag 0x2/,
    ],
    [
      "a repeated FMSPC",
      () => sgxValue({ extraItems: [item(`${SGX}.4`, OCTETS(new Uint8Array(6)))] }),
      /SGX extension repeats 1\.2\.840\.113741\.1\.13\.1\.4/,
    ],
    ["no TCB entry", () => sgxValue({ noTcb: true }), /TCB entry missing/],
    ["a TCB entry that is not a SEQUENCE", () => sgxValue({ tcbValue: INT(1) }), /SGX TCB has tag 0x2/],
    ["a TCB component missing", () => sgxValue({ comps: [] }), /SGX TCB comp1 is missing/],
    [
      "a TCB component past 0xffff",
      () => sgxValue({ comps: [item(`${SGX}.2.1`, INT(0x01, 0x00, 0x00))] }),
      /SGX TCB comp1 is out of range/,
    ],
    ["no PCESVN", () => sgxValue({ pceSvn: null }), /PCESVN is missing/],
    ["a PCESVN past 0xffff", () => sgxValue({ pceSvn: INT(0x01, 0x00, 0x00) }), /PCESVN is out of range/],
    ["a 15-byte CPUSVN", () => sgxValue({ cpuSvn: OCTETS(new Uint8Array(15)) }), /CPUSVN has 15 bytes, expected 16/],
    ["a 5-byte FMSPC", () => sgxValue({ fmspc: OCTETS(new Uint8Array(5)) }), /FMSPC has 5 bytes, expected 6/],
    ["no FMSPC", () => sgxValue({ fmspc: null }), /FMSPC is missing/],
    ["a 3-byte PCE-ID", () => sgxValue({ pceId: OCTETS(new Uint8Array(3)) }), /PCE-ID has 3 bytes, expected 2/],
  ])("refuses %s", (_, value, reason) => {
    expect(refused(certWith(value()))).toMatch(reason);
  });
});
