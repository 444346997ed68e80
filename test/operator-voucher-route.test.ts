/**
 * POST /v1/operator/voucher through the real routes on the in-memory store (test/route-world.ts):
 * only the configured operator key is vouchered its fees (every shard `opr:fees:<k>`), any other key is refused
 * with nothing written, a replay of the same signed bytes moves nothing, and the route's own
 * config (COCOON_OPERATOR_KEY, functions/http/issue-operator-voucher.ts) is checked at cold start.
 */
import { describe, expect, it } from "vitest";
import { generateSigningKey } from "../core/crypto/keys";
import { applyMovement, getBalance, operatorFeeAccount, operatorFeesEarned } from "../core/ledger";
import { OPERATOR_VOUCHER_ACCOUNT } from "../core/payouts";
import type { ReplayGuard, TableName } from "../core/ports";
import { ConfigError } from "../functions/config";
import { route } from "../functions/http/issue-operator-voucher";
import { buildOpenApi } from "../functions/http/openapi-doc";
import { operatorFromEnv } from "../functions/operator-env";
import { makeRouteWorld, type RouteWorld } from "./route-world";

const PAYOUT = "0:" + "a".repeat(64);
const TABLES: TableName[] = ["jobs", "quotes", "workers", "offers", "accounts", "ledger", "idempotency", "nonces", "chain"];
const noGuard: ReplayGuard = { claim: async () => true };

/** Every item of every table, as JSON: equal snapshots mean nothing was written. */
const snapshot = (w: RouteWorld) =>
  JSON.stringify(
    TABLES.map((t) => w.store.scan(t)),
    (_k, v) => (typeof v === "bigint" ? `${v}n` : v),
  );

/** Factory: the route world with an operator key configured (or not) and `fees` nanoTON in the fee shards (two of them: w1's and w2's). */
async function operatorWorld(o: { configured?: boolean; fees?: bigint } = {}) {
  const w = makeRouteWorld();
  w.deps.replay = noGuard; // the replays below reach the route: what they write is the route's doing
  const operator = generateSigningKey();
  if (o.configured !== false) w.deps.operatorKeyId = operator.id;
  if (o.fees) {
    await applyMovement(w.store, {
      id: "settle:fees",
      kind: "settle",
      at: w.clock.now(),
      postings: [
        { account: "ext:faucet", field: "available", delta: -o.fees },
        { account: operatorFeeAccount("w1"), field: "available", delta: o.fees - o.fees / 4n },
        { account: operatorFeeAccount("w2"), field: "available", delta: o.fees / 4n },
      ],
    });
  }
  return { w, operator };
}

describe("POST /v1/operator/voucher", () => {
  it("the operator's key is vouchered all its fees; the same signed request again answers the same voucher and writes nothing", async () => {
    // Prepare
    const { w, operator } = await operatorWorld({ fees: 120n });
    const req = w.request(operator, "POST", "/v1/operator/voucher", { payoutAddress: PAYOUT });

    // Act
    const first = await w.send(req);
    const before = snapshot(w);
    const replay = await w.send(req);

    // Assess
    expect(first.status, first.text).toBe(200);
    expect(first.json).toMatchObject({ vault: w.voucherSigner.vault, worker: PAYOUT, cumulative: "120" });
    expect(replay.status).toBe(200);
    expect(replay.json.cumulative).toBe("120");
    expect(snapshot(w)).toBe(before);
    expect(await operatorFeesEarned(w.store)).toBe(0n);
    expect((await getBalance(w.store, OPERATOR_VOUCHER_ACCOUNT)).available).toBe(120n);
  });

  it("any other key (a registered worker's too) is refused with 403 not_the_operator and nothing is written", async () => {
    // Prepare
    const { w } = await operatorWorld({ fees: 120n });
    const a = await w.worker();
    const before = snapshot(w);

    // Act
    const byWorker = await w.call(a.signing, "POST", "/v1/operator/voucher", { payoutAddress: PAYOUT });
    const byStranger = await w.call(generateSigningKey(), "POST", "/v1/operator/voucher", { payoutAddress: PAYOUT });

    // Assess
    expect([byWorker.status, byWorker.json.error.code]).toEqual([403, "not_the_operator"]);
    expect([byStranger.status, byStranger.json.error.code]).toEqual([403, "not_the_operator"]);
    expect(snapshot(w)).toBe(before);
  });

  it("no operator key configured: 503 payouts_unavailable; nothing earned: 409 nothing_earned; unsigned: 401", async () => {
    const off = await operatorWorld({ configured: false, fees: 120n });
    const idle = await operatorWorld();
    const code = (r: { status: number; json: any }) => [r.status, r.json.error.code];
    expect(code(await off.w.call(off.operator, "POST", "/v1/operator/voucher", { payoutAddress: PAYOUT }))).toEqual([
      503,
      "payouts_unavailable",
    ]);
    expect(code(await idle.w.call(idle.operator, "POST", "/v1/operator/voucher", { payoutAddress: PAYOUT }))).toEqual([
      409,
      "nothing_earned",
    ]);
    expect((await idle.w.call(undefined, "POST", "/v1/operator/voucher", { payoutAddress: PAYOUT })).status).toBe(401);
  });

  it("COCOON_OPERATOR_KEY: the hex public key becomes the key id; unset or empty: none; malformed: ConfigError naming it", () => {
    const k = generateSigningKey();
    expect(operatorFromEnv({ COCOON_OPERATOR_KEY: Buffer.from(k.publicKey).toString("hex") })).toEqual({ operatorKeyId: k.id });
    expect(operatorFromEnv({})).toEqual({});
    expect(operatorFromEnv({ COCOON_OPERATOR_KEY: "" })).toEqual({});
    let e: unknown;
    try {
      operatorFromEnv({ COCOON_OPERATOR_KEY: k.id });
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(ConfigError);
    expect(e).toMatchObject({ variable: "COCOON_OPERATOR_KEY" });
  });

  it("the published API describes it as the operator's voucher, under the request signature (no session key)", () => {
    const doc = buildOpenApi([route]) as { paths: Record<string, Record<string, { summary?: string; security?: unknown }>> };
    expect(doc.paths["/v1/operator/voucher"]!.post).toMatchObject({
      summary: "A signed payout voucher for the operator's cumulative fees (the operator's key only; redeem it at the vault)",
      security: [{ cocoonSignature: [] }],
    });
  });

  it("COCOON_OPERATOR_KEY: exactly 64 lower-case hex chars; one more or less, upper case or anything around them is a ConfigError saying so", () => {
    const hex = "ab".repeat(32);
    for (const bad of [hex.slice(1), hex + "0", " " + hex, hex + "\n", hex.toUpperCase(), "0x" + hex.slice(2)]) {
      expect(() => operatorFromEnv({ COCOON_OPERATOR_KEY: bad })).toThrow(
        new ConfigError(
          "COCOON_OPERATOR_KEY",
          "environment variable COCOON_OPERATOR_KEY must be 64 lower-case hex chars (the operator's 32-byte Ed25519 public key); set it in the deploying shell and redeploy",
        ),
      );
    }
  });
});
