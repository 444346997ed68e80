/**
 * The Intel collateral a TDX worker's quote is judged by (TCB info, QE identity, PCK CRL, root CA
 * CRL, with their issuer chains), fetched by the agent from a PCCS or Intel's PCS and attached to
 * its attestation document (`collateral`, core/attestation/tdx/collateral.ts's layout), since the
 * coordinator and the SDK fetch none of their own: without it a genuine TD's status is `Unknown`
 * and the default policy refuses it.
 *
 * Where from: `pccsUrl` (COCOON_PCCS_URL; default Intel's PCS), with Intel's PCS API v4 paths:
 *   GET /sgx/certification/v4/pckcrl?ca={platform|processor}&encoding=der  header SGX-PCK-CRL-Issuer-Chain
 *   GET /tdx/certification/v4/tcb?fmspc={FMSPC}      {"tcbInfo":…,"signature":hex}       header TCB-Info-Issuer-Chain
 *   GET /tdx/certification/v4/qe/identity            {"enclaveIdentity":…,"signature":hex} header SGX-Enclave-Identity-Issuer-Chain
 *   GET /sgx/certification/v4/rootcacrl              (a PCCS; Intel's PCS has none: the root CA certificate's CRL
 *                                                      distribution point, certificates.trustedservices.intel.com)
 * Issuer chains come URL-encoded (PEM) in those headers. FMSPC and CA type come from the quote's
 * PCK certificate, read with the verifier's own parsers.
 *
 * Nothing here is trusted: the agent checks only the layout. Every signature, chain and date is
 * the verifier's to check (a PCCS that serves forged collateral gets the worker refused, not
 * believed). The agent reads the dates only to know when to fetch again.
 *
 * Kept in the state directory (one file per FMSPC and CA), fetched again well before it is too
 * old for the policy (`maxCollateralAgeSeconds`, counted from Intel's issueDate: the
 * coordinator's, named with each registration nonce, else the bundled policy's) or past any of
 * its nextUpdates, and used from the cache while the PCCS is down. Once the cached copy is too old
 * to pass, no evidence is made: `collateral_stale` is logged by name and thrown, rather than
 * evidence sent that the coordinator would refuse. Collateral that is not valid yet (a part's
 * issueDate, thisUpdate or notBefore later than the coordinator's time, beyond
 * NOT_YET_VALID_SKEW_MS) is never used nor cached: the verifier refuses it too. Held collateral the
 * coordinator refused is fetched afresh (`refetch`).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { replaceFileSync } from "../api-client/durable-file";
import { defaultPolicy } from "../core/attestation/policy";
import { collateralIssuedAt, collateralWindows, TdxCollateral } from "../core/attestation/tdx/collateral";
import { parseTdxQuote, pemCertificates } from "../core/attestation/tdx/quote";
import { parseCertificate, parseCrl, pckExtension } from "../core/attestation/tdx/x509";
import type { AttestationBounds } from "../events/api";
import type { AgentLog } from "./execute";

/** Intel's Provisioning Certification Service: the default when the owner names no PCCS. */
export const INTEL_PCS_URL = "https://api.trustedservices.intel.com";
/** The CRL distribution point of Intel's SGX Root CA certificate (Intel's PCS serves no rootcacrl). */
export const INTEL_ROOT_CA_CRL_URL = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";

/** One response at most (a PCK CRL of Intel's is some 10 KB; the layout allows 256 KiB of it). */
const MAX_RESPONSE_BYTES = 512 * 1024;

export type CollateralErrorCode =
  /** the quote names no FMSPC / PCK CA we can read */
  | "quote_unreadable"
  /** the PCCS could not be reached, answered an error, or answered something that is not PCS collateral */
  | "pccs_unavailable"
  /** no cached collateral that still passes, and none could be fetched: no evidence is made */
  | "collateral_stale"
  /**
   * the PCCS served collateral whose dates start after the coordinator's time (beyond
   * NOT_YET_VALID_SKEW_MS), and nothing held passes: no evidence is made (the verifier would say
   * collateral_not_yet_valid)
   */
  | "collateral_not_yet_valid";

export class CollateralError extends Error {
  override readonly name = "CollateralError";
  constructor(
    readonly code: CollateralErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type PckCa = "platform" | "processor";

/** What a quote asks of the PCCS: its platform's FMSPC (upper-case hex, as PCS takes it) and the CA that issued its PCK certificate. */
export interface CollateralKey {
  fmspc: string;
  ca: PckCa;
}

/**
 * The FMSPC (the PCK certificate's Intel SGX extension) and the PCK CA (the CN of the leaf's
 * issuer: "Intel SGX PCK Platform CA" or "… Processor CA") of `quote`. Parsed with the verifier's
 * parsers and nothing verified: the coordinator verifies the quote.
 */
export function collateralKeyOf(quote: Uint8Array): CollateralKey {
  try {
    const q = parseTdxQuote(quote);
    const [leafDer, caDer] = q.pckChainDer;
    if (!leafDer || !caDer) throw new Error("the quote's PCK chain has fewer than 2 certificates");
    const fmspc = pckExtension(parseCertificate(leafDer, "pck_chain_invalid", "PCK certificate")).fmspc.toUpperCase();
    const caName = parseCertificate(caDer, "pck_chain_invalid", "PCK CA certificate").cn;
    const ca = pckCaOf(caName);
    if (!ca) throw new Error(`the PCK certificate's issuer "${caName}" is neither Intel's PCK Platform CA nor its Processor CA`);
    return { fmspc, ca };
  } catch (e) {
    throw new CollateralError("quote_unreadable", `cannot tell which collateral this quote needs: ${(e as Error).message}`);
  }
}

/** Which PCK CA a CA certificate's CN names (PCS's `ca` parameter): Intel's "Intel SGX PCK Platform CA" or "Intel SGX PCK Processor CA". */
export function pckCaOf(cn: string): PckCa | undefined {
  return /\bProcessor CA$/.test(cn) ? "processor" : /\bPlatform CA$/.test(cn) ? "platform" : undefined;
}

/** A configured PCCS URL as the root its v4 paths go under: `/sgx/certification/v4` (Intel's QCNL habit) or `/tdx/…` dropped. */
export function pccsRoot(url: string): string {
  return url.replace(/\/+$/, "").replace(/\/(sgx|tdx)\/certification\/v4$/, "");
}

/** The four requests for `key`, under `pccsUrl` (see the module comment). */
export function pcsUrls(pccsUrl: string, key: CollateralKey): { pckCrl: string; tcb: string; qeIdentity: string; rootCaCrl: string } {
  const root = pccsRoot(pccsUrl);
  const intel = root === INTEL_PCS_URL;
  return {
    pckCrl: `${root}/sgx/certification/v4/pckcrl?ca=${key.ca}&encoding=der`,
    tcb: `${root}/tdx/certification/v4/tcb?fmspc=${key.fmspc}`,
    qeIdentity: `${root}/tdx/certification/v4/qe/identity`,
    rootCaCrl: intel ? INTEL_ROOT_CA_CRL_URL : `${root}/sgx/certification/v4/rootcacrl`,
  };
}

/**
 * The exact text of member `name` of the JSON object `text`: Intel signs the bytes of "tcbInfo" /
 * "enclaveIdentity" as served, so it is cut out, never parsed and written again. `text` must be
 * JSON already (the caller parsed it), which is what lets this scan stay this small.
 */
export function rawMember(text: string, name: string): string | undefined {
  const STRING = /"(?:[^"\\]|\\.)*"/y;
  const PRIMITIVE = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const token = (re: RegExp) => {
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) throw new Error(`not JSON at ${i}`);
    i += m[0].length;
    return m[0];
  };
  const value = () => {
    if (text[i] === '"') return void token(STRING);
    if (text[i] !== "{" && text[i] !== "[") return void token(PRIMITIVE);
    let depth = 0;
    do {
      const c = text[i]!;
      if (c === '"') {
        token(STRING);
        continue;
      }
      if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") depth--;
      i++;
    } while (depth > 0 && i < text.length);
  };
  let found: string | undefined;
  ws();
  if (text[i++] !== "{") return undefined;
  for (ws(); text[i] !== "}" && i < text.length; ws()) {
    const key = JSON.parse(token(STRING)) as string;
    ws();
    i++; // ':'
    ws();
    const start = i;
    value();
    if (key === name) {
      if (found !== undefined) throw new Error(`"${name}" appears twice`);
      found = text.slice(start, i);
    }
    ws();
    if (text[i] === ",") i++;
  }
  return found;
}

/** A CRL as served (DER, as asked with encoding=der; PEM; or hex, as a PCCS serves the root CA CRL) → hex DER. */
export function crlHex(body: Uint8Array, what: string): string {
  if (body[0] === 0x30) return Buffer.from(body).toString("hex");
  const text = Buffer.from(body).toString("latin1").trim();
  const pem = /-----BEGIN X509 CRL-----([\s\S]+?)-----END X509 CRL-----/.exec(text);
  if (pem) return Buffer.from(pem[1]!.replace(/\s+/g, ""), "base64").toString("hex");
  if (/^([0-9a-fA-F]{2})+$/.test(text)) return text.toLowerCase();
  throw new CollateralError("pccs_unavailable", `${what}: the answer is not a CRL (DER, PEM or hex)`);
}

interface Fetched {
  body: Uint8Array;
  headers: Headers;
}

async function get(url: string, timeoutMs: number): Promise<Fetched> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "follow" });
  } catch (e) {
    const why = (e as Error).name === "TimeoutError" ? `no answer in ${timeoutMs} ms` : String((e as { cause?: unknown }).cause ?? e);
    throw new CollateralError("pccs_unavailable", `GET ${url}: ${why}`);
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => {});
    throw new CollateralError("pccs_unavailable", `GET ${url}: HTTP ${res.status}`);
  }
  // Read with a cap: a PCCS that streams without end must not fill the TD's memory.
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body?.getReader();
  for (;;) {
    const r = reader ? await reader.read() : { done: true as const, value: undefined };
    if (r.done) break;
    size += r.value.length;
    if (size > MAX_RESPONSE_BYTES) {
      await reader?.cancel().catch(() => {});
      throw new CollateralError("pccs_unavailable", `GET ${url}: the answer is larger than ${MAX_RESPONSE_BYTES} bytes`);
    }
    chunks.push(r.value);
  }
  return { body: Buffer.concat(chunks), headers: res.headers };
}

function chainHeader(f: Fetched, names: string[], url: string): string {
  for (const n of names) {
    const v = f.headers.get(n);
    if (v) {
      try {
        return decodeURIComponent(v);
      } catch {
        throw new CollateralError("pccs_unavailable", `GET ${url}: header ${n} is not URL-encoded PEM`);
      }
    }
  }
  throw new CollateralError("pccs_unavailable", `GET ${url}: no ${names.join(" / ")} header (the issuer chain)`);
}

/** `{"<member>": {…}, "signature": "<hex>"}` → the member's exact text and the signature. */
function signedJson(f: Fetched, member: string, url: string): { text: string; signature: string } {
  const body = Buffer.from(f.body).toString("utf8");
  try {
    const parsed = JSON.parse(body) as { signature?: unknown };
    const text = rawMember(body, member);
    if (text === undefined || typeof parsed.signature !== "string") throw new Error(`no "${member}" and "signature"`);
    return { text, signature: parsed.signature };
  } catch (e) {
    throw new CollateralError("pccs_unavailable", `GET ${url}: not Intel PCS JSON (${(e as Error).message})`);
  }
}

/**
 * Fetches the collateral for `key` from `pccsUrl`, in the layout the verifier reads. Throws
 * CollateralError `pccs_unavailable` when any part is missing or not in PCS's shape; the
 * signatures are left to the verifier.
 */
export async function fetchCollateral(pccsUrl: string, key: CollateralKey, o: { timeoutMs?: number } = {}): Promise<TdxCollateral> {
  const urls = pcsUrls(pccsUrl, key);
  const t = o.timeoutMs ?? 30_000;
  const [pck, tcb, qe, root] = await Promise.all([get(urls.pckCrl, t), get(urls.tcb, t), get(urls.qeIdentity, t), get(urls.rootCaCrl, t)]);
  const tcbInfo = signedJson(tcb, "tcbInfo", urls.tcb);
  const qeIdentity = signedJson(qe, "enclaveIdentity", urls.qeIdentity);
  const collateral = {
    pck_crl_issuer_chain: chainHeader(pck, ["SGX-PCK-CRL-Issuer-Chain"], urls.pckCrl),
    root_ca_crl: crlHex(root.body, `GET ${urls.rootCaCrl}`),
    pck_crl: crlHex(pck.body, `GET ${urls.pckCrl}`),
    // v4 names it TCB-Info-Issuer-Chain; v3 and some PCCS versions SGX-TCB-Info-Issuer-Chain
    tcb_info_issuer_chain: chainHeader(tcb, ["TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"], urls.tcb),
    tcb_info: tcbInfo.text,
    tcb_info_signature: tcbInfo.signature,
    qe_identity_issuer_chain: chainHeader(qe, ["SGX-Enclave-Identity-Issuer-Chain"], urls.qeIdentity),
    qe_identity: qeIdentity.text,
    qe_identity_signature: qeIdentity.signature,
  };
  const r = TdxCollateral.safeParse(collateral);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new CollateralError(
      "pccs_unavailable",
      `${pccsRoot(pccsUrl)} served collateral the verifier cannot read: ${i?.path.join(".")}: ${i?.message}`,
    );
  }
  return r.data;
}

/**
 * When Intel issued the collateral's evaluation (the older of TCB info and QE identity, as the
 * verifier counts it), when its first part expires, and when its last part becomes valid (the
 * latest issueDate, CRL thisUpdate or certificate notBefore: before it the verifier refuses it as
 * collateral_not_yet_valid), with that part's name.
 */
export interface CollateralDates {
  issuedAt: number;
  nextUpdate: number;
  validFrom: number;
  validFromPart: string;
}

const Dated = z.object({ issueDate: z.string(), nextUpdate: z.string() });

/** The dates the verifier will judge `c` by (read, not verified). Throws when a part has none. */
export function collateralDates(c: TdxCollateral): CollateralDates {
  const windows = collateralWindows({
    tcbInfo: Dated.parse(JSON.parse(c.tcb_info)),
    qeIdentity: Dated.parse(JSON.parse(c.qe_identity)),
    crls: [
      { what: "PCK CRL", ...parseCrl(Buffer.from(c.pck_crl, "hex"), "crl_malformed", "CRL") },
      { what: "root CA CRL", ...parseCrl(Buffer.from(c.root_ca_crl, "hex"), "crl_malformed", "CRL") },
    ],
    validity: [c.pck_crl_issuer_chain, c.tcb_info_issuer_chain, c.qe_identity_issuer_chain].flatMap((p) =>
      pemCertificates(p).map((d) => {
        const x = parseCertificate(d, "chain_malformed", "issuer chain");
        return { subject: x.cn, notBefore: x.notBefore, notAfter: x.notAfter };
      }),
    ),
  });
  const issuedAt = collateralIssuedAt(windows);
  // a CRL without nextUpdate makes it -Infinity: refused below, as the verifier refuses that CRL
  const nextUpdate = Math.min(...windows.map((w) => w.until ?? -Infinity));
  if (!Number.isFinite(issuedAt) || !Number.isFinite(nextUpdate)) throw new Error("a date is missing or not a date");
  // the latest start (the first of equal ones): before it the verifier says collateral_not_yet_valid
  const last = windows.reduce((a, b) => (b.from > a.from ? b : a));
  return { issuedAt, nextUpdate, validFrom: last.from, validFromPart: `${last.what} ${last.starts}` };
}

/**
 * How far a part's start (issueDate, thisUpdate, notBefore) may lie ahead of the coordinator's time
 * as the agent reckons it and the collateral still be used: the agent's clock, corrected only once
 * a request was refused as stale or ahead, may lag the coordinator's by the request window (5 min,
 * as the verifier's own evidence skew), and collateral Intel issued a moment ago must not be
 * taken for a PCCS's fault. Beyond it the dates are wrong (a PCCS serving test or forged
 * collateral, or a clock far off), and the verifier would refuse the evidence.
 */
export const NOT_YET_VALID_SKEW_MS = 5 * 60_000;

/** The cache file: the collateral as attached, and when we fetched it. */
const CacheFile = z.object({
  version: z.literal(1),
  fmspc: z.string(),
  ca: z.enum(["platform", "processor"]),
  fetchedAt: z.number(),
  collateral: TdxCollateral,
});
type CacheFile = z.infer<typeof CacheFile>;

interface Entry extends CacheFile {
  /** the collateral passes the verifier from then on (ms): its last part's start */
  usableFrom: number;
  /** which part that is, for the log */
  usableFromPart: string;
  /** the collateral passes the policy until then (ms), by its own dates */
  usableUntil: number;
  /** fetch again from then on (ms) */
  refreshAt: number;
}

export interface CollateralSource {
  /** Collateral for `quote` that the verifier will accept at `now` (ms, the coordinator's clock); throws CollateralError. */
  forQuote(quote: Uint8Array, now: number): Promise<TdxCollateral>;
  /**
   * The bounds the coordinator judges registrations by (its nonce answer's `attestationPolicy`),
   * used from now on in place of `maxAgeSeconds`: the coordinator's bound, or none where it names
   * none. `undefined` (a coordinator too old to say): the bundled policy's again.
   */
  coordinatorBounds(b: AttestationBounds | undefined): void;
  /**
   * The coordinator refused evidence made with the collateral held (403 attestation_*): the next
   * attestation fetches afresh rather than send the same copy again, at most once per `retryMs`
   * after the last fetch (a refusal the collateral cannot mend, such as an image not on the
   * allow-list, must not have the PCCS asked at every retry). A fetch that fails leaves the copy held in use.
   */
  refetch(): void;
}

export interface CollateralSourceOptions {
  /** the agent's state directory: the cache files go there */
  stateDir: string;
  /** PCCS or PCS base URL (default Intel's PCS) */
  pccsUrl?: string;
  /**
   * the policy's bound on the collateral's age (Policy.maxCollateralAgeSeconds) until the
   * coordinator names its own (coordinatorBounds); default the bundled policy's (none: Intel's nextUpdate only)
   */
  maxAgeSeconds?: number;
  /** fetch again at least this often, ms (default 12 h: well inside any sensible maxCollateralAgeSeconds and Intel's 30 days) */
  refreshEveryMs?: number;
  /** after a failed refresh while the cache still passes, wait this long before the next try, ms (default 5 min) */
  retryMs?: number;
  /** one request's limit, ms (default 30 s) */
  timeoutMs?: number;
  log?: AgentLog & { error?: AgentLog["warn"] };
}

const iso = (t: number) => (Number.isFinite(t) ? new Date(t).toISOString() : String(t));

/**
 * The agent's collateral: cached on disk per FMSPC and CA, fetched again once half of its useful
 * life (by the policy's age bound and its nextUpdates) or `refreshEveryMs` has passed, and served
 * from the cache while the PCCS is down until it would no longer pass.
 */
export function collateralSource(o: CollateralSourceOptions): CollateralSource {
  const pccsUrl = o.pccsUrl ?? INTEL_PCS_URL;
  const bundledMaxAgeSeconds = o.maxAgeSeconds ?? defaultPolicy.maxCollateralAgeSeconds;
  /** the bound in force: the bundled one until the coordinator names its own (coordinatorBounds) */
  let maxAgeSeconds = bundledMaxAgeSeconds;
  let maxAgeMs = maxAgeSeconds === undefined ? Infinity : maxAgeSeconds * 1000;
  const refreshEveryMs = o.refreshEveryMs ?? 12 * 3_600_000;
  const retryMs = o.retryMs ?? 5 * 60_000;
  const log = o.log;
  const entries = new Map<string, Entry>();
  const inFlight = new Map<string, Promise<Entry>>();
  const nextTry = new Map<string, number>();

  const fileOf = (k: CollateralKey) => join(o.stateDir, `tdx-collateral-${k.fmspc}-${k.ca}.json`);
  const idOf = (k: CollateralKey) => `${k.fmspc}-${k.ca}`;

  const entryOf = (f: CacheFile): Entry => {
    const d = collateralDates(f.collateral);
    const usableUntil = Math.min(d.nextUpdate, d.issuedAt + maxAgeMs);
    // half of what was left when fetched: a PCCS down for a while still leaves the other half
    const refreshAt = Math.min(f.fetchedAt + refreshEveryMs, f.fetchedAt + (usableUntil - f.fetchedAt) / 2);
    return { ...f, usableFrom: d.validFrom, usableFromPart: d.validFromPart, usableUntil, refreshAt };
  };

  const load = (k: CollateralKey): Entry | undefined => {
    let text: string;
    try {
      text = readFileSync(fileOf(k), "utf8");
    } catch {
      return undefined; // none yet
    }
    try {
      const f = CacheFile.parse(JSON.parse(text));
      if (f.fmspc !== k.fmspc || f.ca !== k.ca) throw new Error("it is for another platform");
      return entryOf(f);
    } catch (e) {
      log?.warn("tdx collateral cache unreadable: ignored, fetching afresh", { file: fileOf(k), error: (e as Error).message });
      return undefined;
    }
  };

  const refresh = (k: CollateralKey, now: number): Promise<Entry> => {
    const id = idOf(k);
    const running = inFlight.get(id);
    if (running) return running;
    const p = (async () => {
      const collateral = await fetchCollateral(pccsUrl, k, o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs });
      let e: Entry;
      try {
        e = entryOf({ version: 1, fmspc: k.fmspc, ca: k.ca, fetchedAt: now, collateral });
      } catch (err) {
        throw new CollateralError(
          "pccs_unavailable",
          `${pccsRoot(pccsUrl)} served collateral without readable dates: ${(err as Error).message}`,
        );
      }
      // Not valid yet by the coordinator's clock: neither cached nor used (the verifier refuses it,
      // and a cached copy would outlive this process). Dates Intel signs do not run ahead; a PCCS
      // serving test or forged collateral, or a clock far off (ours, corrected by the
      // coordinator's answers, or the coordinator's), does.
      if (e.usableFrom > now + NOT_YET_VALID_SKEW_MS)
        throw new CollateralError(
          "collateral_not_yet_valid",
          `${pccsRoot(pccsUrl)} served collateral for FMSPC ${k.fmspc} that is not valid yet: its ${e.usableFromPart} is ` +
            `${iso(e.usableFrom)}, ${Math.round((e.usableFrom - now) / 60_000)} min after the coordinator's time ${iso(now)}; ` +
            "the verifier refuses it (collateral_not_yet_valid): check that the PCCS serves Intel's collateral, and the clocks (the PCCS host's, the coordinator's)",
        );
      try {
        const { usableFrom: _f, usableFromPart: _p, usableUntil: _u, refreshAt: _r, ...file } = e;
        replaceFileSync(fileOf(k), JSON.stringify(file) + "\n", { mode: 0o600 });
      } catch (err) {
        // the copy in memory still serves this process; only a restart while the PCCS is down loses it
        log?.warn("tdx collateral fetched but not cached", { file: fileOf(k), error: (err as Error).message });
      }
      log?.info("tdx collateral fetched", {
        pccs: pccsRoot(pccsUrl),
        fmspc: k.fmspc,
        ca: k.ca,
        issuedAt: iso(collateralDates(collateral).issuedAt),
        usableUntil: iso(e.usableUntil),
      });
      return e;
    })().finally(() => inFlight.delete(id));
    inFlight.set(id, p);
    return p;
  };

  /** The last refusal logged, by platform: each is logged once per change, not at every retry of a starting agent. */
  const lastLogged = new Map<string, string>();
  /**
   * The named refusal: logged (an operator reads why the worker drops off) and thrown (the caller
   * sends nothing). `notYet`: the fetch brought collateral that is not valid yet, which is said
   * by its own code (collateral_not_yet_valid) rather than as stale.
   */
  const stale = (k: CollateralKey, e: Entry | undefined, why: string, notYet = false): CollateralError => {
    const code: CollateralErrorCode = notYet ? "collateral_not_yet_valid" : "collateral_stale";
    const data = {
      code,
      maxCollateralAgeSeconds: maxAgeSeconds ?? "none",
      fmspc: k.fmspc,
      ca: k.ca,
      pccs: pccsRoot(pccsUrl),
      ...(e ? { usableUntil: iso(e.usableUntil) } : {}),
      error: why,
    };
    const said = JSON.stringify(data);
    if (lastLogged.get(idOf(k)) !== said) {
      lastLogged.set(idOf(k), said);
      if (log?.error) log.error(`${code}: not attesting`, data);
      else log?.warn(`${code}: not attesting`, data);
    }
    return new CollateralError(
      code,
      `tdx collateral ${notYet ? "not valid yet" : "stale"}: no evidence is made until ${pccsRoot(pccsUrl)} serves collateral that passes ` +
        (e
          ? `(the cached copy for FMSPC ${k.fmspc} passed until ${iso(e.usableUntil)})`
          : `(nothing cached for FMSPC ${k.fmspc} in ${o.stateDir})`) +
        `; check the PCCS (pccsUrl, COCOON_PCCS_URL): ${why}`,
    );
  };

  /** `e`'s collateral, which passes: a refusal after it is a change, logged again. */
  const passes = (id: string, e: Entry): TdxCollateral => {
    lastLogged.delete(id);
    return e.collateral;
  };

  return {
    coordinatorBounds(b) {
      const next = b === undefined ? bundledMaxAgeSeconds : b.maxCollateralAgeSeconds;
      if (next === maxAgeSeconds) return;
      log?.info("tdx collateral age bound changed", {
        maxCollateralAgeSeconds: next ?? "none",
        was: maxAgeSeconds ?? "none",
        from: b ? `the coordinator's policy v${b.policyVersion}` : "the bundled policy (the coordinator names none)",
      });
      maxAgeSeconds = next;
      maxAgeMs = next === undefined ? Infinity : next * 1000;
      // what is held is judged again: a shorter bound brings its refresh forward, or makes it stale
      for (const [id, e] of entries) entries.set(id, entryOf(e));
    },
    refetch() {
      for (const [id, e] of entries) {
        entries.set(id, { ...e, refreshAt: Math.min(e.refreshAt, e.fetchedAt + retryMs) });
        nextTry.delete(id);
      }
    },
    async forQuote(quote, now) {
      const k = collateralKeyOf(quote);
      const id = idOf(k);
      let e = entries.get(id) ?? load(k);
      if (e) entries.set(id, e);
      // a copy not valid yet (a cache written before this check, a clock that went back) is not used either
      const usable = (x: Entry | undefined): x is Entry =>
        x !== undefined && now < x.usableUntil && x.usableFrom <= now + NOT_YET_VALID_SKEW_MS;
      if (usable(e) && (now < e.refreshAt || now < (nextTry.get(id) ?? 0))) return passes(id, e);
      try {
        const fresh = await refresh(k, now);
        nextTry.delete(id);
        // a PCCS behind Intel must not replace a copy that passes longer
        if (!usable(e) || fresh.usableUntil >= e.usableUntil) entries.set(id, (e = fresh));
        // the copy held stays, and with it its past refreshAt: without a wait every attestation asked again (mut40)
        else nextTry.set(id, now + retryMs);
      } catch (err) {
        nextTry.set(id, now + retryMs);
        const why = err instanceof Error ? err.message : String(err);
        if (!usable(e)) throw stale(k, e, why, err instanceof CollateralError && err.code === "collateral_not_yet_valid");
        log?.warn("tdx collateral refresh failed: using the cached copy", {
          code: err instanceof CollateralError ? err.code : "pccs_unavailable",
          fmspc: k.fmspc,
          pccs: pccsRoot(pccsUrl),
          usableUntil: iso(e.usableUntil),
          error: why,
        });
      }
      // the PCCS answered, but with collateral already too old for the policy (a PCCS that stopped syncing with Intel)
      if (!e || now >= e.usableUntil)
        throw stale(
          k,
          e,
          e ? `it serves collateral issued ${iso(collateralDates(e.collateral).issuedAt)}, too old to pass` : "nothing fetched",
        );
      return passes(id, e);
    },
  };
}
