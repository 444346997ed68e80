/**
 * `cocoon operator key|status|voucher|redeem`: the network operator's fees (the registry policy's
 * operator fee, kept at each settlement) paid to its TON wallet by a coordinator-signed voucher
 * at the vault, as a worker's earnings are. The same code as `cocoon-agent redeem`
 * (api-client/money.ts: the payout address default, the sandbox send; api-client/vault-messages.ts:
 * the Redeem message to send elsewhere). The operator is the one key the coordinator's
 * COCOON_OPERATOR_KEY names, in hex: `key` prints a key file's public key in that form
 * (`cocoon whoami` prints the account id, base64url, which that variable does not take).
 */
import { existsSync } from "node:fs";
import type { Command } from "commander";
import { ApiClient, ApiError } from "../../api-client/api";
import { formatTon } from "../../api-client/format";
import { loadKey, loadOrCreateKey } from "../../api-client/keys";
import { redeemOperatorFees, type OperatorRedeemOutcome } from "../../api-client/money";
import { type Io, reportWarning } from "../../api-client/program";
import { cliSettings, SettingsError } from "../../api-client/settings";
import { redeemDue, redeemFeeWarning, redeemInstructions, redeemMessage, type VaultMessage } from "../../api-client/vault-messages";
import type { SigningKeyPair } from "../../core/crypto/keys";
import { API } from "../../api-client/routes";
import type { OperatorStatusView, Voucher } from "../../events/money";
import { runWithCode } from "./receipts";

interface OperatorOptions {
  api?: string;
  key?: string;
  json?: boolean;
  payoutAddress?: string;
  /** redeem: toncenter, to read whether the payout wallet is deployed (the fee warning's first Redeem) */
  tonEndpoint?: string;
  tonApiKey?: string;
}

export interface OperatorCommandDeps {
  io: Io;
  setCode: (code: number) => void;
}

const KEY_HELP = "the operator's key file (default: $COCOON_HOME/operator.key, ./.cocoon/operator.key)";

/** The public key as COCOON_OPERATOR_KEY takes it: 64 lower-case hex chars. */
export const operatorKeyHex = (k: SigningKeyPair): string => Buffer.from(k.publicKey).toString("hex");

const keyFileOf = (o: OperatorOptions) => cliSettings({ api: o.api, key: o.key, defaultKeyName: "operator.key" });

/**
 * The operator's existing key: a missing one is an error that says how to make it, never made
 * here (a new key is not the operator's until the coordinator is told so).
 */
function operatorKey(file: string): SigningKeyPair {
  try {
    return loadKey(file);
  } catch (e) {
    if (e instanceof SettingsError && e.code === "no_key")
      throw new SettingsError(
        `there is no operator key at ${file}: make one with \`cocoon operator key --key ${file}\` and set the coordinator's COCOON_OPERATOR_KEY to the public key it prints, or point --key at the operator's key file`,
        "no_key",
      );
    throw e;
  }
}

/**
 * 403 not_the_operator, said with what the operator can do about it: the coordinator does not
 * say whose key it names, only that this one is not it.
 */
function notTheOperator(e: unknown, hex: string): unknown {
  if (!(e instanceof ApiError && e.code === "not_the_operator")) return e;
  return new ApiError(
    e.status,
    e.code,
    `this key is not the operator's: the coordinator's COCOON_OPERATOR_KEY names another key (this key's public key is ${hex}). ` +
      `Point --key at the operator's key file, or, to make this key the operator, set COCOON_OPERATOR_KEY=${hex} where the coordinator runs and redeploy (npm start: restart it)`,
    { publicKey: hex },
  );
}

/**
 * 409 nothing_earned while the fee in force is 0 %: "ask again once jobs have settled" would
 * never come true (npm start's registry starts at 0), so it says where the fee is set. The fee
 * is read from the operator's status; unreadable, the refusal stays as it came.
 */
async function nothingEarnedAtZero(api: ApiClient, e: unknown): Promise<unknown> {
  if (!(e instanceof ApiError && e.code === "nothing_earned")) return e;
  const fee = await api.request(API.operatorStatus).then(
    (s) => s.fee,
    () => undefined,
  );
  if (fee?.bps !== 0) return e;
  const where =
    fee.source === "registry"
      ? "the policy registry's; its owners set one: cocoon policy propose --operator-fee-bps N, approved and executed by the owners (cocoon policy show prints it)"
      : "the coordinator has no policy registry, and its own fee is 0: deploy with COCOON_REGISTRY_ADDRESS, a registry whose policy sets the fee";
  return new ApiError(
    e.status,
    e.code,
    `the operator has earned no fees: the operator fee in force is 0 %, so no job pays one (${where}). Jobs submitted after a fee is in force pay it`,
    { operatorFeeBps: 0, feeSource: fee.source },
  );
}

/** The voucher's first line: what it is for, to whom, until when. */
const voucherLine = (v: Voucher) =>
  `operator voucher for ${formatTon(v.cumulative)} (cumulative: every fee so far) to ${v.worker}, valid until ${new Date(v.expiry * 1000).toISOString()}`;

export function defineOperatorCommands(parent: Command, d: OperatorCommandDeps): Command {
  const operator = parent
    .command("operator")
    .description("the network operator's fees: its key for COCOON_OPERATOR_KEY, its status, and its payout voucher at the vault");
  const print = (o: OperatorOptions, v: unknown, text: string) => d.io.out.write((o.json ? JSON.stringify(v, null, 2) : text) + "\n");
  /** A command that asks the coordinator as the operator: the key must exist; a refusal of it says so. */
  const asOperator = <T>(o: OperatorOptions, fn: (api: ApiClient) => Promise<T>): Promise<T> => {
    const s = keyFileOf(o);
    const key = operatorKey(s.keyFile);
    const api = new ApiClient(s.apiUrl, key);
    return fn(api).catch(async (e: unknown) => {
      throw notTheOperator(await nothingEarnedAtZero(api, e), operatorKeyHex(key));
    });
  };
  const withConnection = (cmd: Command) =>
    cmd
      .option("--api <url>", "the coordinator's API (default: COCOON_API_URL, the local network, http://127.0.0.1:8787)")
      .option("--key <file>", KEY_HELP)
      .option("--json", "print JSON");
  const withOptions = (cmd: Command) =>
    withConnection(cmd).option(
      "--payout-address <address>",
      "the TON wallet to be paid (bound by the first voucher; default: the bound one, else your sandbox wallet on the local network)",
    );

  operator
    .command("key")
    .description(
      "print a key file's Ed25519 public key in hex, as the coordinator's COCOON_OPERATOR_KEY takes it (the key file is made, 0600, when there is none)",
    )
    .option("--key <file>", KEY_HELP)
    .option("--json", "print JSON")
    .action(
      runWithCode(d, async (o: OperatorOptions) => {
        const { keyFile } = keyFileOf(o);
        const made = !existsSync(keyFile);
        const hex = operatorKeyHex(loadOrCreateKey(keyFile));
        print(
          o,
          { keyFile, made, publicKey: hex },
          `COCOON_OPERATOR_KEY=${hex}\n  the public key of ${keyFile}${made ? " (made now: keep it safe, whoever holds it is paid the operator's fees)" : ""}; ` +
            `set it where the coordinator runs (npm start, or the deploying shell): then this key alone may ask for the operator's fees (cocoon operator redeem)`,
        );
        return 0;
      }),
    );

  withConnection(
    operator
      .command("status")
      .description(
        "the operator's fees as the coordinator books them: earned, redeemed, not yet vouchered (per fee shard in --json), vouchered; the payout address and the fee in force",
      ),
  ).action(
    runWithCode(d, async (o: OperatorOptions) => {
      const s = await asOperator(o, (api) => api.request(API.operatorStatus));
      print(o, s, statusText(s));
      return 0;
    }),
  );

  withOptions(
    operator
      .command("voucher")
      .description(
        "ask the coordinator for a voucher of all the operator's fees so far (cumulative), and print it with the Redeem message that has the vault pay it (nothing is sent)",
      ),
  ).action(
    runWithCode(d, async (o: OperatorOptions) => {
      const { voucher } = await asOperator(o, async (api) => redeemOperatorFees(api, { ...(await payout(o, api)), send: false }));
      const message = redeemMessage(voucher);
      print(o, { voucher, message }, `${voucherLine(voucher)}\n${redeemInstructions(voucher, message)}`);
      return 0;
    }),
  );

  withOptions(
    operator
      .command("redeem")
      .description(
        "ask for the operator's voucher; in the local default, send its Redeem from the operator's sandbox wallet and print what the vault paid; elsewhere print the Redeem message to send",
      )
      .option(
        "--ton-endpoint <url>",
        "toncenter JSON-RPC, read to tell a first Redeem (its payout wallet not deployed) for the fee warning (default: COCOON_TON_ENDPOINT; none: what is booked)",
      )
      .option("--ton-api-key <key>", "toncenter API key (default: COCOON_TON_API_KEY)"),
  ).action(
    runWithCode(d, async (o: OperatorOptions) => {
      const { r, due, first } = await asOperator(o, async (api) => {
        const r = await redeemOperatorFees(api, await payout(o, api));
        return { r, ...(await dueOf(api, r, o)) };
      });
      const message = r.sendYourself ? redeemMessage(r.voucher) : undefined;
      const feeWarning = redeemFeeWarning(due, { sent: r.txHash !== undefined, ...(first !== undefined ? { first } : {}) });
      if (feeWarning) reportWarning(d.io, o.json, { code: feeWarning.code, message: feeWarning.message });
      print(o, { ...r, ...(message ? { message } : {}), ...(feeWarning ? { feeWarning } : {}) }, redeemText(r, message));
      return 0;
    }),
  );
  return operator;
}

/**
 * Where the voucher pays: --payout-address, else the address the first voucher bound (the
 * operator's status), else redeemOperatorFees' default (the sandbox wallet locally; elsewhere it
 * asks for --payout-address). Bound, it is the only address the coordinator vouchers to, so the
 * operator need not type it again, and the local default cannot ask for another one.
 */
async function payout(o: OperatorOptions, api: ApiClient): Promise<{ payoutAddress?: string }> {
  if (o.payoutAddress) return { payoutAddress: o.payoutAddress };
  const bound = await api.request(API.operatorStatus).then(
    (s) => s.payoutAddress,
    () => undefined, // a coordinator without the route, or a refusal the voucher route repeats with its reason
  );
  return bound ? { payoutAddress: bound } : {};
}

/**
 * What the Redeem pays (or paid), and whether it is its payout address's first (redeemDue), by
 * the payout wallet on chain where a TON endpoint is given (a claim the vault refused deployed it
 * with nothing booked), else by what the operator's status books as redeemed; where neither can
 * be read, the whole cumulative with `first` unknown (then only a voucher below a later Redeem's
 * cost is warned of).
 */
async function dueOf(
  api: ApiClient,
  r: OperatorRedeemOutcome,
  o: Pick<OperatorOptions, "tonEndpoint" | "tonApiKey">,
): Promise<{ due: bigint; first?: boolean }> {
  const walletActive = r.sendYourself ? await payoutWalletOnChain(o, r.voucher) : undefined;
  // the status is read only for a Redeem to send (what the vault paid before is then unknown here)
  const redeemed =
    r.txHash || !r.sendYourself
      ? undefined
      : await api.request(API.operatorStatus).then(
          (s) => BigInt(s.redeemed),
          () => undefined,
        );
  return redeemDue(r, redeemed, walletActive);
}

/** ton/payout-wallet.ts toncenterPayoutWalletActive through --ton-endpoint or COCOON_TON_ENDPOINT (loaded only here). */
async function payoutWalletOnChain(o: Pick<OperatorOptions, "tonEndpoint" | "tonApiKey">, v: Voucher): Promise<boolean | undefined> {
  const { toncenterPayoutWalletActive } = await import("../../ton/payout-wallet");
  return toncenterPayoutWalletActive(
    { endpoint: o.tonEndpoint ?? process.env.COCOON_TON_ENDPOINT, apiKey: o.tonApiKey ?? process.env.COCOON_TON_API_KEY },
    v,
  );
}

function redeemText(r: OperatorRedeemOutcome, message: VaultMessage | undefined): string {
  if (message) return `${voucherLine(r.voucher)}: NOT paid yet. ${redeemInstructions(r.voucher, message)}`;
  if (r.txHash)
    return `redeemed on the local TON sandbox (not mainnet): the vault paid ${formatTon(r.paid)} to ${r.voucher.worker} (the operator's fees: ${formatTon(r.voucher.cumulative)} in all so far)\n  tx ${r.txHash}`;
  return `nothing new to redeem: the vault already paid the voucher for ${formatTon(r.voucher.cumulative)} to ${r.voucher.worker}; fees settled from now on go into the next one`;
}

/** `cocoon operator status` in words: the worker's status line (earned · redeemed · unredeemed), then where the rest is. */
export function statusText(s: OperatorStatusView): string {
  const withFees = s.shards.filter((v) => BigInt(v) > 0n).length;
  const fee =
    s.fee.bps === null
      ? "operator fee unknown: the policy registry could not be read freshly (no job is accepted until it can)"
      : `operator fee ${s.fee.bps / 100} % (${s.fee.bps} bps) of each job's cost, ${s.fee.source === "registry" ? `from the policy registry${s.fee.registryVersion !== undefined ? ` (policy version ${s.fee.registryVersion})` : ""}` : "from the coordinator's config (no policy registry)"}`;
  return [
    `operator fees: earned ${formatTon(s.earned)} · redeemed ${formatTon(s.redeemed)} · unredeemed ${formatTon(BigInt(s.earned) - BigInt(s.redeemed))}`,
    `  not yet vouchered ${formatTon(s.available)} (in ${withFees} of ${s.shards.length} fee shards) · vouchered ${formatTon(s.vouchered)} in all`,
    s.payoutAddress
      ? `  paid to ${s.payoutAddress} (bound by the first voucher)`
      : "  no payout address yet: the first voucher binds it (cocoon operator redeem, or voucher --payout-address <your TON wallet>)",
    `  ${fee}`,
  ].join("\n");
}
