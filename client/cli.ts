/** The cocoon command line; HELP below is both its documentation and its --help. */
export const HELP = `cocoon — the requester CLI.
  cocoon ask "prompt" [--model M] [--max-tokens N] [--allow-dev] [--tier tdx,dev,none] [--fresh-attestation] [--json]
  cocoon balance | faucet <TON> | models | whoami
  cocoon deposit <TON>                 local default: pay from the sandbox test wallet into the
                                       vault; waits until the chain watcher credits it
  cocoon withdraw <TON> [--to ADDRESS] a coordinator-signed withdrawal of the available balance; local
                                       default: sent from the sandbox wallet (default \`to\`), then
                                       waits until the chain watcher records it; elsewhere printed
                                       (send it to the vault in a Withdraw message before its expiry)
  cocoon serve [--port 8788]            OpenAI-compatible proxy on 127.0.0.1
  cocoon attest verify QUOTE_FILE [--collateral FILE] [--at ISO] [--json]
Settings: --api URL (or COCOON_API_URL), --key FILE (or COCOON_KEY_FILE); defaults come from
the local network's .cocoon/local.json (written by \`npm start\`) and .cocoon/requester.key.
`;
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { AttestationTier } from "../events/attestation";
import { ApiError } from "./api";
import { formatAnswer, formatTon } from "./format";
import { loadOrCreateKey } from "./keys";
import { ApiClient } from "./api";
import { CocoonClient, VerificationError } from "./sdk";

/** "5", "0.25", "12.000000001" TON → nanoTON, exactly (no floating point). */
export function parseTon(text: string): bigint {
  const m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(text.trim());
  if (!m) throw new ApiError(0, "invalid_amount", `"${text}" is not an amount of TON (e.g. 5 or 0.25, at most 9 decimals)`);
  return BigInt(m[1]!) * 1_000_000_000n + BigInt((m[2] ?? "").padEnd(9, "0"));
}

export interface DepositOutcome {
  txHash: string;
  vault: string;
  amount: string;
  before: string;
  available: string;
  held: string;
}

/**
 * Local default: pay `amount` nanoTON from the sandbox test requester wallet into the vault
 * (POST /v1/dev/wallet/deposit), then poll GET /v1/account until the chain watcher credited it.
 */
export async function depositAndWait(api: ApiClient, amount: bigint, o: { timeoutMs?: number; pollMs?: number } = {}): Promise<DepositOutcome> {
  const b0 = await api.get<{ available: string; held: string }>("/v1/account");
  const before = BigInt(b0.available) + BigInt(b0.held);
  const sent = await api.post<{ txHash: string; vault: string; amount: string }>("/v1/dev/wallet/deposit", { amount: amount.toString() });
  const deadline = Date.now() + (o.timeoutMs ?? 30_000);
  for (;;) {
    const b = await api.get<{ available: string; held: string }>("/v1/account");
    if (BigInt(b.available) + BigInt(b.held) >= before + amount) return { ...sent, before: before.toString(), available: b.available, held: b.held };
    if (Date.now() > deadline) {
      throw new ApiError(0, "deposit_not_credited", `deposit ${sent.txHash} is on chain but the chain watcher has not credited it within ${Math.round((o.timeoutMs ?? 30_000) / 1000)} s; check the coordinator's log (COCOON_LOG=1)`);
    }
    await new Promise((r) => setTimeout(r, o.pollMs ?? 200));
  }
}

export interface WithdrawOutcome {
  withdrawal: { vault: string; account: string; to: string; amount: string; seqno: number; expiry: number; signature: string };
  /** false: not sent (no local sandbox); send `withdrawal` to the vault yourself */
  sent: boolean;
  txHash?: string;
  status: "pending" | "landed" | "released";
  available: string;
}

/**
 * Ask for a signed withdrawal (POST /v1/account/withdraw). With the local sandbox
 * (GET /v1/dev/wallet answers), send it from the caller's sandbox wallet
 * (POST /v1/dev/wallet/withdraw) — `to` defaults to that wallet — and poll
 * GET /v1/account/withdrawals/{seqno} until the chain watcher recorded it as landed.
 */
export async function withdrawAndWait(api: ApiClient, amount: bigint, o: { to?: string; timeoutMs?: number; pollMs?: number } = {}): Promise<WithdrawOutcome> {
  let wallet: { address: string } | undefined;
  try {
    wallet = await api.get<{ address: string }>("/v1/dev/wallet");
  } catch (e) {
    if (!(e instanceof ApiError && e.code === "dev_chain_disabled")) throw e;
  }
  const to = o.to ?? wallet?.address;
  if (!to) throw new ApiError(0, "missing_address", "this network has no local TON sandbox wallet: say where to send the TON with --to ADDRESS");
  const w = await api.post<WithdrawOutcome["withdrawal"]>("/v1/account/withdraw", { amount: amount.toString(), to }, { "idempotency-key": `withdraw-${randomUUID()}` });
  const balance = async () => (await api.get<{ available: string }>("/v1/account")).available;
  if (!wallet) return { withdrawal: w, sent: false, status: "pending", available: await balance() };
  const sent = await api.post<{ txHash: string }>("/v1/dev/wallet/withdraw", { withdrawal: w });
  const deadline = Date.now() + (o.timeoutMs ?? 30_000);
  for (;;) {
    const st = await api.get<{ status: WithdrawOutcome["status"] }>(`/v1/account/withdrawals/${w.seqno}`);
    if (st.status !== "pending") return { withdrawal: w, sent: true, txHash: sent.txHash, status: st.status, available: await balance() };
    if (Date.now() > deadline) {
      throw new ApiError(0, "withdrawal_not_recorded", `withdrawal ${sent.txHash} is on chain but the chain watcher has not recorded it within ${Math.round((o.timeoutMs ?? 30_000) / 1000)} s; check the coordinator's log (COCOON_LOG=1)`);
    }
    await new Promise((r) => setTimeout(r, o.pollMs ?? 200));
  }
}

interface LocalSettings {
  apiUrl?: string;
  allowDevAttestation?: boolean;
}

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") {
    (cmd === undefined ? err : out).write(HELP);
    return cmd === undefined ? 64 : 0;
  }
  if (cmd === "attest") {
    const { attestVerifyCommand } = await import("./commands/attest");
    if (rest[0] !== "verify") return usage(err, "usage: cocoon attest verify QUOTE_FILE [--collateral FILE] [--at ISO_TIME] [--json]");
    return attestVerifyCommand(rest.slice(1), { out, err });
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      api: { type: "string" },
      key: { type: "string" },
      model: { type: "string" },
      "max-tokens": { type: "string" },
      "allow-dev": { type: "boolean" },
      "fresh-attestation": { type: "boolean" },
      tier: { type: "string" },
      json: { type: "boolean" },
      port: { type: "string" },
      to: { type: "string" },
    },
  });
  const home = resolve(process.env.COCOON_HOME ?? ".cocoon");
  const localFile = join(home, "local.json");
  const local: LocalSettings = existsSync(localFile) ? JSON.parse(readFileSync(localFile, "utf8")) : {};
  const apiUrl = values.api ?? process.env.COCOON_API_URL ?? local.apiUrl ?? "http://127.0.0.1:8787";
  // Dev (simulated) attestations only with an explicit opt-in: the flag, or the local network's own settings file.
  const allowDev = values["allow-dev"] === true || process.env.COCOON_ALLOW_DEV === "1" || (local.allowDevAttestation === true && apiUrl === local.apiUrl);
  const key = loadOrCreateKey(values.key ?? process.env.COCOON_KEY_FILE ?? join(home, "requester.key"));
  const client = new CocoonClient({ apiUrl, key, allowDev });
  const print = (v: unknown, text: string) => out.write((values.json ? JSON.stringify(v, null, 2) : text) + "\n");

  try {
    switch (cmd) {
      case "ask": {
        const prompt = positionals.join(" ");
        if (!prompt) return usage(err, 'usage: cocoon ask "prompt" [--model M] [--max-tokens N]');
        let model = values.model;
        if (!model) {
          const { models } = await client.models();
          model = models.find((m) => m.workers > 0)?.model;
          if (!model) throw new ApiError(409, "no_workers", "no model has a live worker right now; see cocoon models");
        }
        const tiers = (values.tier?.split(",") as AttestationTier[] | undefined) ?? (allowDev ? ["tdx", "dev"] : ["tdx"]);
        const r = await client.ask({
          model,
          messages: [{ role: "user", content: prompt }],
          maxTokens: Number(values["max-tokens"] ?? 256),
          tiers,
          // challenge every candidate for evidence bound to a nonce of ours before encrypting to it
          freshAttestation: values["fresh-attestation"] === true,
        });
        print(r, formatAnswer(r));
        return 0;
      }
      case "balance": {
        const b = await client.balance();
        print(b, `${b.account}\n  available ${formatTon(b.available)} (${b.available} nanoTON)\n  held      ${formatTon(b.held)} (jobs in flight)\n  reserved  ${formatTon(b.reserved)} (withdrawals not landed yet)`);
        return 0;
      }
      case "faucet": {
        const ton = Number(positionals[0] ?? "10");
        const b = await client.faucet(BigInt(Math.round(ton * 1e9)));
        print(b, `dev faucet: now ${formatTon(b.available)} available (sandbox TON deposited into the local vault; local network only)`);
        return 0;
      }
      case "deposit": {
        if (!positionals[0]) return usage(err, "usage: cocoon deposit <TON>   (local default: from the sandbox test wallet into the vault)");
        const d = await depositAndWait(client.api, parseTon(positionals[0]));
        print(
          d,
          `deposited ${formatTon(d.amount)} into the vault ${d.vault} (local TON sandbox, not mainnet)\n  tx ${d.txHash}\n  credited by the chain watcher: ${formatTon(d.available)} available (was ${formatTon(d.before)})`,
        );
        return 0;
      }
      case "withdraw": {
        if (!positionals[0]) return usage(err, "usage: cocoon withdraw <TON> [--to ADDRESS]   (local default: to your sandbox wallet)");
        const w = await withdrawAndWait(client.api, parseTon(positionals[0]), values.to ? { to: values.to } : {});
        print(
          w,
          w.sent
            ? `withdrew ${formatTon(w.withdrawal.amount)} from the vault ${w.withdrawal.vault} to ${w.withdrawal.to} (local TON sandbox, not mainnet)\n  tx ${w.txHash}\n  recorded by the chain watcher: ${w.status}; ${formatTon(w.available)} available`
            : `signed withdrawal (send it to the vault ${w.withdrawal.vault} in a Withdraw message before ${new Date(w.withdrawal.expiry * 1000).toISOString()}; unused, it is released back to your balance after that):\n${JSON.stringify(w.withdrawal, null, 2)}\n  ${formatTon(w.available)} still available`,
        );
        return 0;
      }
      case "models": {
        const m = await client.models();
        print(m, m.models.map((x) => `${x.model}  workers=${x.workers} ${JSON.stringify(x.tiers)}  price/token min=${x.price.min} median=${x.price.median} max=${x.price.max} nanoTON`).join("\n") || "no models");
        return 0;
      }
      case "whoami":
        print({ account: key.id, apiUrl, allowDev }, `account ${key.id}\napi ${apiUrl}${allowDev ? "\ndev (simulated) attestations accepted" : ""}`);
        return 0;
      case "serve": {
        const { startServeProxy } = await import("./serve");
        const p = await startServeProxy({
          port: Number(values.port ?? 8788),
          ask: async (req) => {
            const r = await client.ask({ model: req.model, messages: req.messages, maxTokens: req.maxTokens, ...(req.temperature !== undefined ? { temperature: req.temperature } : {}) });
            return { ...r, tier: r.tier };
          },
          listModels: async () => (await client.models()).models.filter((m) => m.workers > 0).map((m) => m.model),
        });
        out.write(`OpenAI-compatible proxy on ${p.url}/v1 (key stays here; account ${key.id})\n`);
        await new Promise(() => {});
        return 0;
      }
      default:
        return usage(err, "usage: cocoon <ask|balance|deposit|withdraw|faucet|models|whoami|serve|attest verify> …");
    }
  } catch (e) {
    if (e instanceof ApiError || e instanceof VerificationError) {
      err.write(`error [${e.code}]: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

function usage(err: NodeJS.WritableStream, text: string) {
  err.write(text + "\n");
  return 64;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("client/cli.ts")) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
