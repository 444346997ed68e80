/**
 * A strict DER reader: just enough ASN.1 for what node:crypto does not expose (the names,
 * serial, validity, basic constraints and Intel SGX extension of a certificate, and CRLs).
 * node:crypto's X509Certificate (OpenSSL) still parses every certificate and checks every
 * certificate signature; this reader only walks bytes that OpenSSL accepted, or CRLs whose
 * signature is then checked over the exact tbsCertList bytes it delimits.
 *
 * Strict: definite lengths in their shortest form, single-byte tags, nothing after the
 * outermost element. Anything else throws DerError.
 */
export class DerError extends Error {
  override readonly name = "DerError";
}

/** Universal tags used here. */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

export interface Der {
  tag: number;
  /** The whole element (tag, length, content): what a signature covers. */
  raw: Uint8Array;
  /** The content bytes. */
  value: Uint8Array;
}

/** Reads one element at `at`; returns it and the offset after it. */
function readAt(buf: Uint8Array, at: number): { el: Der; next: number } {
  if (at + 2 > buf.length) throw new DerError("truncated element");
  const tag = buf[at]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError("multi-byte tags are not used here");
  let len = buf[at + 1]!;
  let p = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError("indefinite length is not DER");
    if (n > 3) throw new DerError("element too large");
    if (p + n > buf.length) throw new DerError("truncated length");
    if (buf[p] === 0) throw new DerError("length not in its shortest form");
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | buf[p + i]!;
    if (len < 0x80) throw new DerError("length not in its shortest form");
    p += n;
  }
  const end = p + len;
  if (end > buf.length) throw new DerError("element runs past its container");
  return { el: { tag, raw: buf.subarray(at, end), value: buf.subarray(p, end) }, next: end };
}

/** Parses exactly one element filling `buf`. */
export function der(buf: Uint8Array): Der {
  const { el, next } = readAt(buf, 0);
  if (next !== buf.length) throw new DerError("bytes after the element");
  return el;
}

/** The elements inside a constructed element (SEQUENCE, SET, explicit tag). */
export function children(el: Der): Der[] {
  if ((el.tag & 0x20) === 0) throw new DerError(`tag 0x${el.tag.toString(16)} is not constructed`);
  const out: Der[] = [];
  for (let at = 0; at < el.value.length;) {
    const r = readAt(el.value, at);
    out.push(r.el);
    at = r.next;
  }
  return out;
}

export function expectTag(el: Der | undefined, tag: number, what: string): Der {
  if (!el) throw new DerError(`${what} is missing`);
  if (el.tag !== tag) throw new DerError(`${what} has tag 0x${el.tag.toString(16)}, expected 0x${tag.toString(16)}`);
  return el;
}

export function seq(el: Der | undefined, what: string): Der[] {
  return children(expectTag(el, TAG.SEQUENCE, what));
}

export function oid(el: Der | undefined, what: string): string {
  const v = expectTag(el, TAG.OID, what).value;
  if (v.length === 0) throw new DerError(`${what}: empty OID`);
  const parts: number[] = [];
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    if (n === 0 && v[i] === 0x80) throw new DerError(`${what}: OID arc not in its shortest form`);
    n = n * 128 + (v[i]! & 0x7f);
    if (n > Number.MAX_SAFE_INTEGER / 128) throw new DerError(`${what}: OID arc too large`);
    if ((v[i]! & 0x80) === 0) {
      parts.push(n);
      n = 0;
    } else if (i === v.length - 1) throw new DerError(`${what}: truncated OID`);
  }
  const first = parts[0]!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...parts.slice(1)].join(".");
}

/** A non-negative INTEGER as a number (refuses negatives and values past 2^48). */
export function uint(el: Der | undefined, what: string): number {
  const v = expectTag(el, TAG.INTEGER, what).value;
  if (v.length === 0) throw new DerError(`${what}: empty INTEGER`);
  if (v[0]! & 0x80) throw new DerError(`${what} is negative`);
  if (v.length > 1 && v[0] === 0 && (v[1]! & 0x80) === 0) throw new DerError(`${what}: INTEGER not in its shortest form`);
  if (v.length > 7) throw new DerError(`${what} is too large`);
  let n = 0;
  for (const b of v) n = n * 256 + b;
  // seven octets hold up to 2^56: past 2^53 two INTEGERs would read as one number
  if (n >= 2 ** 48) throw new DerError(`${what} is too large`);
  return n;
}

/** Content bytes of an INTEGER (a serial number), as carried. */
export function integerBytes(el: Der | undefined, what: string): Uint8Array {
  const v = expectTag(el, TAG.INTEGER, what).value;
  if (v.length === 0) throw new DerError(`${what}: empty INTEGER`);
  // X.690 §8.3.2: no leading 00 before a clear top bit, no leading ff before a set one, so one
  // serial has one encoding (a CRL names it by these bytes)
  if (v.length > 1 && ((v[0] === 0 && (v[1]! & 0x80) === 0) || (v[0] === 0xff && (v[1]! & 0x80) !== 0)))
    throw new DerError(`${what}: INTEGER not in its shortest form`);
  return v;
}

export function octets(el: Der | undefined, what: string): Uint8Array {
  return expectTag(el, TAG.OCTET_STRING, what).value;
}

/** A BIT STRING with no unused bits (signatures, keys). */
export function bits(el: Der | undefined, what: string): Uint8Array {
  const v = expectTag(el, TAG.BIT_STRING, what).value;
  if (v.length === 0 || v[0] !== 0) throw new DerError(`${what}: BIT STRING with unused bits`);
  return v.subarray(1);
}

export function boolean(el: Der | undefined, what: string): boolean {
  const v = expectTag(el, TAG.BOOLEAN, what).value;
  if (v.length !== 1 || (v[0] !== 0 && v[0] !== 0xff)) throw new DerError(`${what}: not a DER BOOLEAN`);
  return v[0] === 0xff;
}

/** UTCTime (YYMMDDHHMMSSZ, 1950–2049) or GeneralizedTime (YYYYMMDDHHMMSSZ), as epoch ms. */
export function time(el: Der | undefined, what: string): number {
  if (!el || (el.tag !== TAG.UTC_TIME && el.tag !== TAG.GENERALIZED_TIME)) throw new DerError(`${what} is not a time`);
  const s = Buffer.from(el.value).toString("latin1");
  const m =
    el.tag === TAG.UTC_TIME
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
      : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) throw new DerError(`${what}: "${s}" is not a DER time`);
  let year = Number(m[1]);
  if (el.tag === TAG.UTC_TIME) year += year < 50 ? 2000 : 1900;
  const [mo, d, h, mi, se] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  // not Date.UTC: it reads years 0–99 as 1900–1999, and a GeneralizedTime's YYYY is the year
  const back = new Date(0);
  back.setUTCFullYear(year, mo - 1, d);
  back.setUTCHours(h, mi, se, 0);
  const t = back.getTime();
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || se > 59)
    throw new DerError(`${what}: "${s}" is not a valid date`);
  return t;
}

/** An element with a context-specific tag [n], if `el` is one. */
export function isContext(el: Der | undefined, n: number, constructed = true): boolean {
  return !!el && el.tag === (0x80 | (constructed ? 0x20 : 0) | n);
}
