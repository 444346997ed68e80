/**
 * Test factory: every REST route of the coordinator, run in process through the same router the
 * local server and the Lambdas use (functions/http/middleware.ts routeRequests) on neutral
 * requests (edge/http.ts), over the real core on the in-memory store with a clock the test moves
 * (core/jobs/testing.ts makeJobWorld). Requests are signed for real (x-cocoon-auth v2), so
 * authentication, schemas, idempotency keys and the handlers all run as in production; only
 * the transport is left out, which is what lets a fuzz send 100k requests.
 *
 * The withdrawal and voucher signers are deterministic stand-ins (the same input gives the same
 * signature), so two answers to one request can be compared byte for byte.
 */
import { createHash } from "node:crypto";
import { bodyText, httpRequest, type HttpResponse } from "../edge/http";
import { signRequest } from "../core/crypto/request-auth";
import type { SigningKeyPair } from "../core/crypto/keys";
import { InvalidPayoutAddressError, type PayoutDeps, type VoucherSigner } from "../core/payouts";
import { InvalidWithdrawalAddressError, type WithdrawalDeps, type WithdrawalSigner } from "../core/withdrawals";
import type { CoreDeps } from "../core/deps";
import { routeRequests, type Route } from "../functions/http/middleware";
import { devChainRoutes, routes } from "../functions/http/routes";
import { makeJobWorld } from "../core/jobs/testing";

export const TEST_HOST = "coordinator.test";
export const VAULT = "0:" + "f".repeat(64);
const RAW_ADDRESS = /^0:[0-9a-f]{64}$/;

/** 64 bytes in standard base64, the shape of an Ed25519 signature on the wire (events/common.ts SignatureBase64). */
const digest = (s: string) => createHash("sha512").update(s).digest("base64");

/** A withdrawal signer that accepts raw basechain addresses and signs deterministically; `signed` counts its calls. */
export function fakeWithdrawalSigner(): WithdrawalSigner & { signed: number } {
  const s = {
    vault: VAULT,
    signed: 0,
    address(a: string) {
      if (typeof a !== "string" || !/^-?\d+:[0-9a-f]{64}$/.test(a))
        throw new InvalidWithdrawalAddressError(`to must be a raw address "0:<64 hex>", got ${JSON.stringify(a).slice(0, 80)}`);
      return a;
    },
    async sign(w: { account: string; to: string; amount: bigint; seqno: number; expiry: number }) {
      s.signed++;
      return { signature: digest(`wd|${w.account}|${w.to}|${w.amount}|${w.seqno}|${w.expiry}`) };
    },
  };
  return s;
}

/** A voucher signer like the TON one in what it accepts (raw basechain addresses), deterministic. */
export function fakeVoucherSigner(): VoucherSigner & { signed: number } {
  const s = {
    vault: VAULT,
    signed: 0,
    payoutAddress(a: string) {
      if (typeof a !== "string" || !RAW_ADDRESS.test(a))
        throw new InvalidPayoutAddressError(`payoutAddress must be a raw address "0:<64 hex>"`);
      return a;
    },
    async sign(v: { payee: string; worker: string; cumulative: bigint; expiry: number }) {
      s.signed++;
      return { signature: digest(`v|${v.payee}|${v.worker}|${v.cumulative}|${v.expiry}`) };
    },
  };
  return s;
}

export interface Answer {
  status: number;
  /** the JSON body as sent */
  text: string;
  json: any;
}

export interface CallOptions {
  idempotencyKey?: string;
  /** sign with this nonce (the same nonce twice = the same request twice) */
  nonce?: string;
  /** signing time (default: the world's clock) */
  now?: number;
  /** send this text as the body instead of JSON.stringify(body) */
  rawBody?: string;
  query?: string;
  /** replace the signature header (forgeries) */
  auth?: string;
}

export type RouteWorld = ReturnType<typeof makeRouteWorld>;

/** Factory: the job world plus every route (dev chain routes included: they answer 403 without a sandbox) and signers. */
export function makeRouteWorld(o: { faucet?: boolean; extraRoutes?: Route[]; wrap?: (r: Route) => Route } = {}) {
  const w = makeJobWorld();
  const withdrawalSigner = fakeWithdrawalSigner();
  const voucherSigner = fakeVoucherSigner();
  const deps = Object.assign(w.deps, { withdrawalSigner, voucherSigner }) as CoreDeps & WithdrawalDeps & PayoutDeps;
  deps.config = { ...deps.config, faucet: o.faucet ?? true };
  const all = [...routes, ...devChainRoutes, ...(o.extraRoutes ?? [])].map(o.wrap ?? ((r) => r));
  const handle = routeRequests(all, deps);

  /** The signed request as bytes: send it once or many times (`send`). */
  function request(key: SigningKeyPair | undefined, method: "GET" | "POST", path: string, body?: unknown, c: CallOptions = {}) {
    const text = c.rawBody ?? (body === undefined ? "" : JSON.stringify(body, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
    const pathWithQuery = path + (c.query ? `?${c.query}` : "");
    const headers: Record<string, string> = text ? { "content-type": "application/json" } : {};
    if (c.idempotencyKey !== undefined) headers["idempotency-key"] = c.idempotencyKey;
    const auth =
      c.auth ??
      (key
        ? signRequest(key, {
            method,
            path: pathWithQuery,
            body: text,
            host: TEST_HOST,
            idempotencyKey: c.idempotencyKey,
            now: c.now ?? w.clock.now(),
            ...(c.nonce ? { nonce: c.nonce } : {}),
          })
        : undefined);
    if (auth !== undefined) headers["x-cocoon-auth"] = auth;
    return httpRequest({ method, path, rawQuery: c.query ?? "", headers, body: text, host: TEST_HOST });
  }

  async function send(req: ReturnType<typeof request>): Promise<Answer> {
    const res: HttpResponse = await handle({ ...req, headers: { ...req.headers } });
    const text = await bodyText(res.body);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json };
  }

  const call = (key: SigningKeyPair | undefined, method: "GET" | "POST", path: string, body?: unknown, c: CallOptions = {}) =>
    send(request(key, method, path, body, c));

  return { ...w, deps, withdrawalSigner, voucherSigner, routes: all, handle, request, send, call };
}
