/**
 * Stand-ins for a tdx agent's attestation suites (agent/attest.test.ts, agent/collateral*.test.ts):
 * configfs-tsm (`standInTdx`), and a stand-in PCCS for the collateral suites (agent/collateral*.test.ts): node:http on 127.0.0.1
 * answering the four Intel PCS API v4 paths the agent asks (agent/collateral.ts pcsUrls), so no
 * test ever reaches Intel's PCS. One stand-in, general enough for the mutant suite (each path's
 * status, headers, body, or no answer at all), with `pcsAnswers` as the thin adapter from a
 * TdxCollateral to PCS's shapes.
 */
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TdxCollateral } from "../core/attestation/tdx/collateral";
import { sampleCollateral } from "../test/fixtures/attestation/helpers";
import { makeTestPlatform, type TestPlatform } from "../test/fixtures/attestation/test-pki";
import { CollateralError } from "./collateral";
import type { QuoteProvider } from "./quote-provider";

/**
 * A configfs-tsm stand-in for a tdx agent: each quote is signed by a fresh stand-in platform
 * (test-pki.ts) with the agent's report data, and kept (`last`) for the verifier's context.
 */
export function standInTdx() {
  const platforms: TestPlatform[] = [];
  const provider: QuoteProvider = {
    tier: "tdx",
    async quote(reportData) {
      const p = await makeTestPlatform({ reportData });
      platforms.push(p);
      return p.quote;
    },
  };
  return { provider, last: () => platforms.at(-1)! };
}

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/** The sample's first nextUpdate (its PCK CRL's): it passes until then, past it the verifier says collateral_expired. */
export const SAMPLE_UNTIL = Date.parse("2025-07-19T10:00:35Z");
/** The older of the sample's TCB info and QE identity issueDates: the collateral's age is counted from it. */
export const SAMPLE_ISSUED = Date.parse("2025-06-19T10:16:03Z");
/** The sample's platform (its PCK certificate's FMSPC and CA) and the cache file the agent keeps for it. */
export const SAMPLE_KEY = { fmspc: "B0C06F000000", ca: "platform" } as const;
export const SAMPLE_FILE = "tdx-collateral-B0C06F000000-platform.json";

/** The PCS v4 paths, by the short names a test edits them under. */
const PATHS = {
  pckcrl: "/sgx/certification/v4/pckcrl",
  rootcacrl: "/sgx/certification/v4/rootcacrl",
  tcb: "/tdx/certification/v4/tcb",
  qe: "/tdx/certification/v4/qe/identity",
} as const;
export type PcsPath = keyof typeof PATHS;

/** What one PCS path answers: its status, headers and body. */
export interface PcsAnswer {
  status?: number;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** never answer (the request hangs until the client gives up, or the suite's afterEach) */
  hang?: boolean;
  /** answered only where the request's query has these values; otherwise 404 (as PCS says of an unknown FMSPC or CA) */
  query?: Record<string, string>;
}
export type PcsAnswers = Record<PcsPath, PcsAnswer>;

/**
 * The four answers of a PCS serving `c` in PCS's shapes: the signed JSON inside
 * {"tcbInfo"|"enclaveIdentity": …, "signature": hex}, the PCK CRL as DER, the root CA CRL as hex
 * (as Intel's PCCS serves it), issuer chains URL-encoded in their headers. With `only`, it
 * answers 404 for another FMSPC or PCK CA (so a test sees the agent asked for its quote's).
 */
export function pcsAnswers(c: TdxCollateral, only?: { fmspc: string; ca: string }): PcsAnswers {
  return {
    pckcrl: {
      headers: { "content-type": "application/pkix-crl", "SGX-PCK-CRL-Issuer-Chain": encodeURIComponent(c.pck_crl_issuer_chain) },
      body: Buffer.from(c.pck_crl, "hex"),
      ...(only ? { query: { ca: only.ca, encoding: "der" } } : {}),
    },
    tcb: {
      headers: { "content-type": "application/json", "TCB-Info-Issuer-Chain": encodeURIComponent(c.tcb_info_issuer_chain) },
      body: `{"tcbInfo":${c.tcb_info},"signature":"${c.tcb_info_signature}"}`,
      ...(only ? { query: { fmspc: only.fmspc } } : {}),
    },
    qe: {
      headers: {
        "content-type": "application/json",
        "SGX-Enclave-Identity-Issuer-Chain": encodeURIComponent(c.qe_identity_issuer_chain),
      },
      body: `{"enclaveIdentity":${c.qe_identity},"signature":"${c.qe_identity_signature}"}`,
    },
    rootcacrl: { headers: { "content-type": "text/plain" }, body: c.root_ca_crl },
  };
}

export interface StandInPccs {
  url: string;
  /** each request's path and query, in order */
  requests: string[];
  /** what it serves from now on (a function: asked at each request, for collateral made after the stand-in); undefined: it is down (connections are dropped) */
  answers: PcsAnswers | (() => PcsAnswers) | undefined;
}

const servers: Server[] = [];
const hanging: ServerResponse[] = [];

/** Closes every stand-in (and drops the requests left hanging): each suite calls it from its afterEach, so no port outlives its test. */
export async function closeStandInPccses(): Promise<void> {
  for (const r of hanging.splice(0)) r.destroy();
  // closeAllConnections: a close waits for every open connection, and the "never answers" and
  // error stand-ins leave some (about 3 s each, every file that used them)
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise((r) => {
          s.close(r);
          s.closeAllConnections();
        }),
    ),
  );
}

/** A PCCS on 127.0.0.1 answering the PCS v4 paths with `answers` (undefined: down from the start). */
export async function standInPccs(answers: StandInPccs["answers"]): Promise<StandInPccs> {
  const state: StandInPccs = { url: "", requests: [], answers };
  const server = createServer((req, res) => {
    state.requests.push(req.url ?? "");
    const all = typeof state.answers === "function" ? state.answers() : state.answers;
    if (!all) return void req.socket.destroy();
    const u = new URL(req.url ?? "/", "http://x");
    const which = (Object.keys(PATHS) as PcsPath[]).find((k) => PATHS[k] === u.pathname);
    const a = which ? all[which] : undefined;
    const asked = !a?.query || Object.entries(a.query).every(([k, v]) => u.searchParams.get(k) === v);
    if (!a || !asked) return void res.writeHead(404).end();
    if (a.hang) return void hanging.push(res);
    res.writeHead(a.status ?? 200, a.headers ?? {});
    res.end(a.body ?? "");
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

/** A PCCS serving the genuine sample collateral (test/fixtures/attestation) in PCS's shapes, to any FMSPC and CA. */
export const samplePccs = (): Promise<StandInPccs> => standInPccs(pcsAnswers(sampleCollateral()));

export type LogLine = { level: "info" | "warn" | "error"; msg: string; data: Record<string, unknown> };
/** A log recording its lines; `withError: false`: one with no error level (warn only), as AgentLog allows. */
export function recordingLog(withError = true) {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine["level"]) =>
    (msg: string, data: Record<string, unknown> = {}) =>
      void lines.push({ level, msg, data });
  return { lines, log: { info: at("info"), warn: at("warn"), ...(withError ? { error: at("error") } : {}) } };
}

/** The rejection of `p`, which must be a CollateralError (anything else fails the test, naming it). */
export async function collateralRefusal(p: Promise<unknown>): Promise<CollateralError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  if (!(e instanceof CollateralError)) throw new Error(`expected a CollateralError, got ${String(e)}`);
  return e;
}
