/**
 * Scheduled function (EventBridge rate(1 minute)): one run of the receipt anchorer (issue 15).
 * The logic is core/receipts/anchoring.ts runAnchoring: cut the next batch from the receipt
 * and movement inboxes when the interval has passed since the last anchor, post it from the
 * coordinator's anchoring wallet to the ReceiptAnchor contract through toncenter, and resend
 * anchors the chain has not shown after two minutes. Reserved concurrency 1 in the stack: the
 * log has one writer (a second loses at the head's condition, and its chunks, keyed by its own cut, never replace the winner's).
 *
 * Environment (besides the store's, via functions/deps.ts):
 *   COCOON_TON_ENDPOINT, COCOON_TON_API_KEY   toncenter (the key a secret: on AWS COCOON_TON_API_KEY_PARAM may name its SSM SecureString)
 *   COCOON_ANCHOR_ADDRESS               the ReceiptAnchor contract
 *   COCOON_ANCHOR_SEED                  64 hex chars: seed of the wallet v5r1 the contract accepts (a secret;
 *                                       on AWS COCOON_ANCHOR_SEED_PARAM names its SSM SecureString instead)
 *   COCOON_ANCHOR_INTERVAL_SECONDS      default 300
 */
import { z } from "zod";
import type { Clock, Log, Store } from "../../core/ports";
import { DEFAULT_ANCHOR_INTERVAL_SECONDS, DEFAULT_ANCHOR_LIMITS, type AnchorLimits } from "../../core/receipts/anchor";
import { runAnchoring, type AnchoringReport, type AnchorPoster } from "../../core/receipts/anchoring";
import { StoreAnchorLog } from "../../core/receipts/log";
import type { AnchorReader } from "../../core/receipts/proof";
import { depsOnce } from "./deps-once";
import { TonEndpoint } from "../../events/common";
import { SECRET_FIELDS, tonAddressField } from "../env-fields";

export interface AnchorFunctionDeps {
  store: Store;
  clock: Clock;
  log: Log;
  reader: AnchorReader;
  poster: AnchorPoster;
  intervalSeconds?: number;
  limits?: AnchorLimits;
}

export function makeAnchorHandler(deps: AnchorFunctionDeps | (() => Promise<AnchorFunctionDeps>)) {
  const built = depsOnce(deps);
  return async (): Promise<AnchoringReport> => {
    const d = await built();
    const report = await runAnchoring({
      log: new StoreAnchorLog(d.store),
      reader: d.reader,
      poster: d.poster,
      now: () => d.clock.now(),
      intervalSeconds: d.intervalSeconds ?? DEFAULT_ANCHOR_INTERVAL_SECONDS,
      limits: d.limits ?? DEFAULT_ANCHOR_LIMITS,
      logger: d.log,
    });
    d.log.info("anchoring run", { ...report });
    return report;
  };
}

export const AnchorEnv = z.object({
  COCOON_TON_ENDPOINT: TonEndpoint,
  COCOON_TON_API_KEY: SECRET_FIELDS.COCOON_TON_API_KEY.optional(),
  COCOON_ANCHOR_ADDRESS: tonAddressField("the ReceiptAnchor contract's"),
  COCOON_ANCHOR_SEED: SECRET_FIELDS.COCOON_ANCHOR_SEED,
  COCOON_ANCHOR_INTERVAL_SECONDS: z.coerce.number().int().min(10).max(86_400).default(DEFAULT_ANCHOR_INTERVAL_SECONDS),
});

/**
 * Lambda entry: AWS store + toncenter reader and wallet, built once per cold start. No TON
 * library in the bundle (issue 12): toncenter over fetch, the anchor's getter, the wallet v5r1
 * and its signed transfer from functions/adapters/ton-*.ts, each checked against @ton/core and
 * @ton/ton in its tests (the local default and the tests above run ton/anchor.ts over them).
 */
export async function lambdaAnchorDeps(): Promise<AnchorFunctionDeps> {
  // the seed and the toncenter key from their SSM parameters where the stack names them
  // (COCOON_ANCHOR_SEED_PARAM, COCOON_TON_API_KEY_PARAM), read once per container
  const { loadLambdaEnv } = await import("../secrets");
  const env = AnchorEnv.parse(await loadLambdaEnv());
  const [
    { lambdaSecretDeps },
    { ToncenterClient },
    { parseTonAddress },
    { ToncenterAnchorReader },
    { anchorWalletFromSeed, ToncenterAnchorPoster },
  ] = await Promise.all([
    import("../deps-secrets"),
    import("../adapters/toncenter-client"),
    import("../adapters/ton-cells"),
    import("../adapters/ton-getters"),
    import("../adapters/ton-wallet-v5"),
  ]);
  // the store's config from the same read: lambdaDeps' (the bare environment) would refuse the
  // toncenter key's `_PARAM` as not read (functions/config.ts)
  const core = await lambdaSecretDeps();
  const client = new ToncenterClient({ endpoint: env.COCOON_TON_ENDPOINT, apiKey: env.COCOON_TON_API_KEY });
  const anchor = parseTonAddress(env.COCOON_ANCHOR_ADDRESS);
  return {
    store: core.store,
    clock: core.clock,
    log: core.log,
    reader: new ToncenterAnchorReader(client, anchor),
    poster: new ToncenterAnchorPoster(client, anchorWalletFromSeed(Buffer.from(env.COCOON_ANCHOR_SEED, "hex")), anchor),
    intervalSeconds: env.COCOON_ANCHOR_INTERVAL_SECONDS,
  };
}
export const handler = makeAnchorHandler(lambdaAnchorDeps);
