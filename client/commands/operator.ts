/**
 * `cocoon operator key|voucher|redeem`: the network operator's fees (the registry policy's
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
import type { Io } from "../../api-client/program";
import { cliSettings, SettingsError } from "../../api-client/settings";
import { redeemInstructions, redeemMessage, type VaultMessage } from "../../api-client/vault-messages";
import type { SigningKeyPair } from "../../core/crypto/keys";
import type { Voucher } from "../../events/money";
import { runWithCode } from "./receipts";

interface OperatorOptions {
  api?: string;
  key?: string;
  json?: boolean;
  payoutAddress?: string;
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

/** The voucher's first line: what it is for, to whom, until when. */
const voucherLine = (v: Voucher) =>
  `operator voucher for ${formatTon(v.cumulative)} (cumulative: every fee so far) to ${v.worker}, valid until ${new Date(v.expiry * 1000).toISOString()}`;

export function defineOperatorCommands(parent: Command, d: OperatorCommandDeps): Command {
  const operator = parent
    .command("operator")
    .description("the network operator's fees: its key for COCOON_OPERATOR_KEY, and its payout voucher at the vault");
  const print = (o: OperatorOptions, v: unknown, text: string) => d.io.out.write((o.json ? JSON.stringify(v, null, 2) : text) + "\n");
  /** A command that asks the coordinator as the operator: the key must exist; a refusal of it says so. */
  const asOperator = <T>(o: OperatorOptions, fn: (api: ApiClient) => Promise<T>): Promise<T> => {
    const s = keyFileOf(o);
    const key = operatorKey(s.keyFile);
    return fn(new ApiClient(s.apiUrl, key)).catch((e: unknown) => {
      throw notTheOperator(e, operatorKeyHex(key));
    });
  };
  const withOptions = (cmd: Command) =>
    cmd
      .option("--api <url>", "the coordinator's API (default: COCOON_API_URL, the local network, http://127.0.0.1:8787)")
      .option("--key <file>", KEY_HELP)
      .option(
        "--payout-address <address>",
        "the TON wallet to be paid (bound by the first voucher; default: your sandbox wallet on the local network)",
      )
      .option("--json", "print JSON");

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

  withOptions(
    operator
      .command("voucher")
      .description(
        "ask the coordinator for a voucher of all the operator's fees so far (cumulative), and print it with the Redeem message that has the vault pay it (nothing is sent)",
      ),
  ).action(
    runWithCode(d, async (o: OperatorOptions) => {
      const { voucher } = await asOperator(o, (api) => redeemOperatorFees(api, { ...payout(o), send: false }));
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
      ),
  ).action(
    runWithCode(d, async (o: OperatorOptions) => {
      const r = await asOperator(o, (api) => redeemOperatorFees(api, payout(o)));
      const message = r.sendYourself ? redeemMessage(r.voucher) : undefined;
      print(o, message ? { ...r, message } : r, redeemText(r, message));
      return 0;
    }),
  );
  return operator;
}

const payout = (o: OperatorOptions) => (o.payoutAddress ? { payoutAddress: o.payoutAddress } : {});

function redeemText(r: OperatorRedeemOutcome, message: VaultMessage | undefined): string {
  if (message) return `${voucherLine(r.voucher)}: NOT paid yet. ${redeemInstructions(r.voucher, message)}`;
  if (r.txHash)
    return `redeemed on the local TON sandbox (not mainnet): the vault paid ${formatTon(r.paid)} to ${r.voucher.worker} (the operator's fees: ${formatTon(r.voucher.cumulative)} in all so far)\n  tx ${r.txHash}`;
  return `nothing new to redeem: the vault already paid the voucher for ${formatTon(r.voucher.cumulative)} to ${r.voucher.worker}; fees settled from now on go into the next one`;
}
