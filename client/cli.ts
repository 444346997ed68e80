/**
 * `cocoon`, the requester CLI (commander: each command declares its own options, and
 * `cocoon --help` / `cocoon <command> --help` are generated from them). Amounts are typed in
 * TON and converted exactly with @ton/core (api-client/format.ts); nothing is a float.
 */
import { createReadStream } from "node:fs";
import { z } from "zod";
import { type Command, InvalidArgumentError } from "commander";
import { AttestationTier } from "../events/attestation";
import { MAX_JOB_TOKENS, type CancelJobResponse } from "../events/api";
import { JobId } from "../events/common";
import { depositCommentFor } from "../core/chain/account";
import { ApiError, isLoopbackUrl } from "../api-client/api";
import { formatTon, isTestOnlyAddress, parseTon } from "../api-client/format";
import { loadKey, loadOrCreateKey } from "../api-client/keys";
import { depositAndWait } from "../api-client/money";
import { newProgram, positiveInt, reportError, reportWarning, runProgram, type Io, type Notice } from "../api-client/program";
import { progressOn } from "../api-client/progress";
import { cliSettings, sameApiUrl, SettingsError } from "../api-client/settings";
import { defineAttestVerify } from "./commands/attest";
import { defineOperatorCommands } from "./commands/operator";
import { definePolicyCommands } from "./commands/policy";
import { defineReceiptsCommands } from "./commands/receipts";
import { withdrawCommand } from "./commands/withdraw";
import { formatAnswer, formatCancel, formatJob, formatJobs, jobsRow, withdrawalSent, withdrawalToSend } from "./format";
import { JobJournal, JobJournalError, readJournaled } from "./journal";
import { VAULT_MESSAGE_VALUE, withdrawMessage } from "../api-client/vault-messages";
import { addModelAlias, describeAliases, ModelAliasError, parseModelAlias } from "./serve/aliases";
import {
  AskInputError,
  CocoonClient,
  JobOutcomeUnknownError,
  JobRefundedError,
  JobTimeoutError,
  PriceAboveCapError,
  VerificationError,
  type CocoonClientOptions,
} from "./sdk";
import { devHintFor, withDevHint, type DevHint } from "./dev-hint";
import { withFundsHint, withModelHint } from "./ask-hints";

interface ConnectionOptions {
  api?: string;
  key?: string;
  json?: boolean;
  allowDev?: boolean;
}

const SETTINGS_HELP = `
Settings: --api URL (or COCOON_API_URL), --key FILE (or COCOON_KEY_FILE); defaults come from
the local network's .cocoon/local.json (written by \`npm start\`) and .cocoon/requester.key.
Amounts are in TON (e.g. 5 or 0.25, at most 9 decimals).
`;

/** The options every command that talks to the API takes. */
function connection(cmd: Command): Command {
  return cmd
    .option("--api <url>", "the coordinator's API (default: COCOON_API_URL, the local network, http://127.0.0.1:8787)")
    .option(
      "--key <file>",
      "your Ed25519 key file, created on first use, except by job, jobs, cancel, withdrawal and receipts verify, which read what it made (default: COCOON_KEY_FILE or .cocoon/requester.key)",
    )
    .option("--json", "print JSON (and no progress)");
}

/**
 * The client of the key and API the options name. `owned` says what the command reads or stops (a
 * job, a withdrawal): only the key that made it may, so a key file that is not there is refused
 * (no_key) rather than made: a new key owns nothing, and a mistyped --key read as "not your job".
 */
function connect(o: ConnectionOptions, extra: Pick<CocoonClientOptions, "tabs" | "onCancel"> = {}, owned?: string) {
  const s = cliSettings({ api: o.api, key: o.key, keyEnv: process.env.COCOON_KEY_FILE, defaultKeyName: "requester.key" });
  // Dev (simulated) attestations only with an explicit opt-in: the flag, or the local network's own settings file.
  const allowDev =
    o.allowDev === true ||
    process.env.COCOON_ALLOW_DEV === "1" ||
    (s.local?.allowDevAttestation === true && sameApiUrl(s.apiUrl, s.local.apiUrl));
  const key = owned ? existingKey(s.keyFile, owned) : loadOrCreateKey(s.keyFile);
  // the key's jobs, listed by `cocoon jobs`: each recorded before its submit leaves (client/journal.ts)
  const journal = new JobJournal(`${s.keyFile}.jobs.jsonl`);
  return {
    apiUrl: s.apiUrl,
    key,
    keyFile: s.keyFile,
    allowDev,
    journal,
    client: new CocoonClient({ apiUrl: s.apiUrl, key, allowDev, journal, ...extra }),
  };
}

/** The key in `keyFile`, which must be there: `owned` (a job, a withdrawal) belongs to the key that made it. */
function existingKey(keyFile: string, owned: string) {
  try {
    return loadKey(keyFile);
  } catch (e) {
    if (!(e instanceof SettingsError && e.code === "no_key")) throw e;
    throw new SettingsError(
      `there is no key file at ${keyFile}: ${owned} belongs to the key that made it; point --key (or COCOON_KEY_FILE) at that key file`,
      "no_key",
    );
  }
}

const Tiers = z.array(AttestationTier).min(1);
/** --tier parser: "tdx,dev" → ["tdx", "dev"], each checked against the AttestationTier schema. */
function tierList(v: string): AttestationTier[] {
  const r = Tiers.safeParse(v.split(",").map((t) => t.trim()));
  if (!r.success) throw new InvalidArgumentError("takes a comma-separated list of tdx, dev, none.");
  return r.data;
}

/**
 * What `cocoon deposit` says where it cannot send the deposit itself (no local sandbox): the
 * exact comment that credits this key's account, and what happens to a transfer without it.
 */
async function walletDepositInstructions(account: string): Promise<ApiError> {
  const { DEPOSIT_FEE, MIN_DEPOSIT } = await import("../contracts/vault");
  return new ApiError(
    0,
    "deposit_by_wallet",
    `this network has no local TON sandbox, so cocoon cannot send the deposit: send it yourself from a TON wallet to the vault, ` +
      `with exactly this text comment: ${depositCommentFor(account)}\n` +
      `  - the comment names the account credited: it is this key's (${account}); a deposit with another key's comment credits that account\n` +
      `  - a transfer without it, or with any other comment, is not credited: the vault bounces it (or sends it back, less fees); ` +
      `an exchange withdrawal usually cannot carry it exactly, so send from a wallet you control\n` +
      `  - at least ${formatTon(MIN_DEPOSIT)}; the vault keeps ${formatTon(DEPOSIT_FEE)} of each deposit as its fee; then check \`cocoon balance\``,
  );
}

/** A job id argument (job_ and 26 base32 characters, as `cocoon ask` prints it). */
function jobIdArg(v: string): string {
  if (!JobId.safeParse(v).success)
    throw new InvalidArgumentError("must be a job id: job_ and 26 lowercase base32 characters (as cocoon ask prints it).");
  return v;
}

/** `cocoon ask`'s options, as commander gives them. */
type AskCliOptions = ConnectionOptions & {
  model?: string;
  maxTokens: number;
  timeout: number;
  tier?: AttestationTier[];
  maxPrice?: bigint;
  file?: string;
  freshAttestation?: boolean;
  stream: boolean;
  reasoning: boolean;
};

/** `cocoon serve`'s options, as commander gives them. */
type ServeCliOptions = ConnectionOptions & {
  port: number;
  tabs?: number;
  maxTokens?: number;
  modelAlias?: Map<string, string>;
  maxPrice?: bigint;
};
/**
 * The CLI's io, plus where it hears an interrupt: `onInterrupt(handler)` calls `handler` on the
 * first one and returns what stops listening. Default: STOP_SIGNALS, each once (a second one while
 * the cancel is on its way then ends the process the usual way).
 */
export interface CliIo extends Io {
  onInterrupt?: (handler: () => void) => () => void;
}

/**
 * What ends a `cocoon ask` whose job must be cancelled first: Ctrl-C, and SIGTERM / SIGHUP
 * (`timeout 60 cocoon ask`, a closed terminal, a process manager). Only SIGINT was heard: the
 * others killed the process at once, and its job ran to its maxTokens and was billed, its answer
 * sealed to a key that died with the process.
 */
const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

const onStopSignals = (handler: () => void) => {
  for (const s of STOP_SIGNALS) process.once(s, handler);
  return () => {
    for (const s of STOP_SIGNALS) process.removeListener(s, handler);
  };
};

/** The exit code of a command interrupted by Ctrl-C, as shells report one killed by SIGINT (128 + 2). */
export const EX_INTERRUPTED = 130;

/** A withdrawal seqno: a whole number 0..2^32-1 (uint32 on chain). */
function seqnoArg(v: string): number {
  const n = Number(v);
  if (!/^\d{1,10}$/.test(v) || n > 0xffff_ffff)
    throw new InvalidArgumentError("must be a whole number of at least 0 (a withdrawal's seqno).");
  return n;
}

/** A prompt file's most: far past what one job takes (a sealed request is at most 200 KiB), so the SDK's own refusal names a file under it. */
const PROMPT_FILE_MAX_BYTES = 1 << 20;

/** `--file`'s text, read no further than PROMPT_FILE_MAX_BYTES (`--file /dev/zero` or `yes |` read until memory ran out). */
async function readPromptFile(file: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  const stream = file === "-" ? process.stdin : createReadStream(file);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > PROMPT_FILE_MAX_BYTES)
        throw new SettingsError(
          `the prompt file ${file} is past ${PROMPT_FILE_MAX_BYTES} bytes, far more than one job takes`,
          "prompt_file_too_large",
        );
      chunks.push(chunk);
    }
  } catch (e) {
    if (e instanceof SettingsError) throw e;
    throw new SettingsError(
      `cannot read the prompt file ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      "prompt_file_unreadable",
    );
  } finally {
    if (file !== "-") stream.destroy();
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * `cocoon ask`'s prompt: its words, then the text of `--file` (a path, or - for standard input).
 * None, or only blanks: the usage error a missing argument is (64).
 */
async function promptOf(words: string[], file: string | undefined, cmd: Command): Promise<string> {
  const text = file === undefined ? "" : await readPromptFile(file);
  const prompt = [words.join(" "), text].filter((t) => t.trim() !== "").join("\n\n");
  if (prompt === "")
    cmd.error("error: missing required argument 'prompt' (the question, or --file with it)", {
      code: "commander.missingArgument",
      exitCode: 64,
    });
  return prompt;
}

/** A price in nanoTON: a whole number ≥ 1. */
function nanoTon(v: string): bigint {
  if (!/^\d{1,30}$/.test(v) || BigInt(v) < 1n) throw new InvalidArgumentError("must be a whole number of nanoTON, at least 1.");
  return BigInt(v);
}

/** A completion budget: 1 … MAX_JOB_TOKENS, the network's cap on one job's completion tokens. */
function jobTokens(v: string): number {
  const n = positiveInt(v);
  if (n > MAX_JOB_TOKENS)
    throw new InvalidArgumentError(`must be at most ${MAX_JOB_TOKENS} (the Cocoon network's cap on one job's completion tokens).`);
  return n;
}

/**
 * --model-alias collector: each "openai-name=cocoon-model" added to the table of those before it;
 * a malformed pair, an alias given twice or an alias of an alias is a usage error before anything starts.
 */
function modelAlias(v: string, table: Map<string, string> = new Map()): Map<string, string> {
  try {
    return addModelAlias(table, ...parseModelAlias(v));
  } catch (e) {
    if (e instanceof ModelAliasError) throw new InvalidArgumentError(`${e.message}.`);
    throw e;
  }
}

/**
 * A reasoning model's thinking, on stderr so that stdout stays the answer alone (a pipe or a
 * redirect gets the answer; the user still sees why a reasoning model is slow to answer): dimmed on
 * a terminal, after a "[thinking]" tag otherwise; `end` closes it with a newline once the answer starts.
 */
function thinkingOn(err: Io["err"], show: boolean) {
  let open = false;
  return {
    write(text: string | undefined) {
      if (!show || !text) return;
      if (!open && !err.isTTY) err.write("[thinking] ");
      open = true;
      err.write(err.isTTY ? `\x1b[2m${text}\x1b[22m` : text);
    },
    end() {
      if (open) err.write("\n");
      open = false;
    },
  };
}

export function buildProgram(io: CliIo, setCode: (code: number) => void): Command {
  const program = newProgram("cocoon", "the Cocoon requester CLI: confidential AI inference paid in TON", io).addHelpText(
    "after",
    SETTINGS_HELP,
  );
  const print = (o: ConnectionOptions, v: unknown, text: string) => io.out.write((o.json ? JSON.stringify(v, null, 2) : text) + "\n");
  /** Shows what a long wait waits for (spinner on a terminal, lines otherwise, nothing with --json), wiped when it ends. */
  const withProgress = async <T>(o: ConnectionOptions, fn: (step: (text: string) => void) => Promise<T>): Promise<T> => {
    const progress = progressOn(io.err, { quiet: o.json === true });
    try {
      return await fn((text) => progress.step(text));
    } finally {
      progress.done();
    }
  };
  /**
   * Runs a command body; API, verification, input and settings failures, and a job whose outcome
   * is unknown, are exit 2 with their code (JSON on stderr with --json), never a stack trace.
   */
  const run =
    <A extends unknown[]>(fn: (...args: A) => Promise<void | number>) =>
    async (...args: A) => {
      try {
        const code = await fn(...args);
        setCode(code ?? 0);
      } catch (e) {
        const notice = failureNotice(e);
        if (!notice) throw e;
        // the options are the action's last argument but one (commander passes the Command last)
        const o = args[args.length - 2] as ConnectionOptions | undefined;
        reportError(io, o?.json, notice);
        setCode(2);
      }
    };

  connection(
    program
      .command("ask")
      .description(
        "ask a model; the job is sealed to workers whose attestation you verified, and the answer's receipt and bill are checked",
      )
      .argument("[prompt...]", "the question (several words are joined; with --file, put before the file's text)")
      .option(
        "--file <path>",
        "read the prompt from this file (-: standard input), after the words if any: for a prompt longer than a command line takes (128 KiB in one argument on Linux)",
      )
      .option("--model <name>", "the model (default: the first with a live worker; see `cocoon models`)")
      .option("--max-tokens <n>", `most tokens in the answer (at most ${MAX_JOB_TOKENS})`, jobTokens, 256)
      .option("--timeout <seconds>", "give up after this long, and cancel the job (billed only for what was generated)", positiveInt, 120)
      .option(
        "--tier <list>",
        "attestation tiers you accept, comma-separated: tdx, dev (SIMULATED), none (NOT confidential); default tdx, plus dev when dev is allowed",
        tierList,
      )
      .option(
        "--max-price <nanoTON>",
        "take only workers priced at most this many nanoTON per token (the price `cocoon models` lists)",
        nanoTon,
      )
      .option("--allow-dev", "accept SIMULATED (dev) attestations (default only against the local network)")
      .option("--fresh-attestation", "challenge every candidate for evidence bound to a nonce of yours before encrypting to it")
      .option("--no-stream", "wait for the whole answer instead of printing tokens as they arrive (--json never streams)")
      .option(
        "--no-reasoning",
        "do not print a reasoning model's thinking (by default it goes to stderr, so stdout is the answer alone; --json has it as `reasoning`)",
      ),
  ).action(
    run(async (words: string[], o: AskCliOptions, cmd: Command) => {
      const prompt = await promptOf(words, o.file, cmd);
      // Ctrl-C while the job runs cancels it (the SDK sends the cancel once the submit went out)
      const cancels: Array<{ jobId: string; outcome: Parameters<NonNullable<CocoonClientOptions["onCancel"]>>[1] }> = [];
      const { client, allowDev, apiUrl } = connect(o, { onCancel: (jobId, outcome) => cancels.push({ jobId, outcome }) });
      const interrupt = new AbortController();
      const stopListening = (io.onInterrupt ?? onStopSignals)(() => interrupt.abort());
      try {
        // on a local network whose dev workers are not accepted, a refusal for want of a tdx worker names the opt-in
        const devHint = devHintFor({ apiUrl, allowDev, ...(o.tier ? { tiers: o.tier } : {}), retry: "run cocoon ask again" });
        await askCommand(client, allowDev, devHint, interrupt.signal, prompt, o);
      } catch (e) {
        // the cancel of a job given up (Ctrl-C, or its deadline) goes out before the process exits;
        // each is bounded (CANCEL_TIMEOUT_MS)
        await client.settleCancels();
        if (!interrupt.signal.aborted) throw withCancelOutcome(e, cancels);
        // with --json one JSON line, as every other failure: the job a script interrupted, and its cancel
        if (o.json) reportError(io, true, interruptedNotice(cancels));
        else io.err.write(`\n${interruptedNote(cancels)}\n`);
        return EX_INTERRUPTED;
      } finally {
        stopListening();
      }
    }),
  );

  /**
   * What `cocoon ask` asks and prints, its waits given up when `signal` aborts (Ctrl-C); a refusal
   * for want of a tdx worker names the dev opt-in where `devHint` says so (client/dev-hint.ts).
   */
  async function askCommand(
    client: CocoonClient,
    allowDev: boolean,
    devHint: DevHint | undefined,
    signal: AbortSignal,
    prompt: string,
    o: AskCliOptions,
  ): Promise<void> {
    let model = o.model;
    if (!model) {
      const { models } = await client.models();
      model = models.find((m) => m.workers > 0)?.model;
      if (!model) throw new ApiError(409, "no_workers", "no model has a live worker right now; see cocoon models");
    }
    try {
      await askModel(client, allowDev, signal, prompt, o, model);
    } catch (e) {
      // the coordinator's words name its API ("see GET /v1/models", maxTokens); here the commands and flags
      throw withFundsHint(await withModelHint(await withDevHint(e, model, client, devHint), model, client));
    }
  }

  /** `cocoon ask`'s job on `model`: the answer printed whole, or its tokens as they arrive. */
  async function askModel(
    client: CocoonClient,
    allowDev: boolean,
    signal: AbortSignal,
    prompt: string,
    o: AskCliOptions,
    model: string,
  ): Promise<void> {
    const ask = {
      model,
      messages: [{ role: "user" as const, content: prompt }],
      maxTokens: o.maxTokens,
      timeoutMs: o.timeout * 1000,
      tiers: o.tier ?? (allowDev ? (["tdx", "dev"] as AttestationTier[]) : (["tdx"] as AttestationTier[])),
      freshAttestation: o.freshAttestation === true,
      ...(o.maxPrice !== undefined ? { maxPricePerToken: o.maxPrice } : {}),
      signal,
    };
    const thinking = thinkingOn(io.err, o.reasoning && o.json !== true);
    if (o.json || !o.stream) {
      const r = await withProgress(o, (step) => client.ask({ ...ask, onProgress: step }));
      thinking.write(r.reasoning);
      thinking.end();
      print(o, r, formatAnswer(r));
      if (r.finishReason === "cancelled") throw new AskCancelledError(r.jobId, r.cost);
      return;
    }
    // Tokens as they arrive: each delta is shown only once its chunk verified (client/reply.ts).
    const progress = progressOn(io.err, { quiet: false });
    let streaming = false;
    let cancelled: AskCancelledError | undefined;
    try {
      for await (const ev of client.askStream({ ...ask, onProgress: (t) => progress.step(t) })) {
        if (!streaming) {
          progress.done();
          streaming = true;
        }
        if (ev.type === "delta") {
          thinking.write(ev.reasoning);
          if (ev.text) {
            thinking.end();
            io.out.write(ev.text);
          }
        } else if (ev.type === "restart") {
          thinking.end();
          io.err.write(
            `\n[the worker streaming this answer failed; worker ${ev.workerId.slice(0, 8)} starts over — the text above is not part of the answer]\n`,
          );
        } else {
          thinking.end();
          io.out.write("\n" + formatAnswer({ ...ev, text: "" }).replace(/^\n/, "") + "\n");
          if (ev.finishReason === "cancelled") cancelled = new AskCancelledError(ev.jobId, ev.cost);
        }
      }
    } finally {
      if (!streaming) progress.done();
    }
    if (cancelled) throw cancelled;
  }

  connection(
    program
      .command("cancel")
      .description(
        "cancel one of your jobs: its worker stops, and it is billed only for what was generated (refunded if nothing was); a job that already ended is left as it is",
      )
      .argument("<jobId>", "the job's id (cocoon ask prints it)", jobIdArg),
  ).action(
    run(async (jobId: string, o: ConnectionOptions) => {
      const r = await connect(o, {}, `job ${jobId}`).client.cancel(jobId);
      print(o, r, formatCancel(r));
    }),
  );

  connection(
    program
      .command("job")
      .description(
        "read one of your jobs as the coordinator stores it: status, usage and cost (read it before asking again after a timeout or a lost connection)",
      )
      .argument("<jobId>", "the job's id (cocoon ask prints it)", jobIdArg),
  ).action(
    run(async (jobId: string, o: ConnectionOptions) => {
      const j = await connect(o, {}, `job ${jobId}`).client.job(jobId);
      print(o, j, formatJob(j));
    }),
  );

  connection(
    program
      .command("jobs")
      .description(
        "list your jobs, newest first by when each was submitted (this machine's clock, the time shown), each with its status and cost as the coordinator has it; they are those this machine's cocoon ask and cocoon serve submitted with this key (recorded before each submit, so a killed ask leaves its job here; one whose submit never landed shows as not submitted)",
      )
      .option("--limit <n>", "list at most this many (the newest submitted)", positiveInt, 20),
  ).action(
    run(async (o: ConnectionOptions & { limit: number }) => {
      const { client, journal, key, apiUrl } = connect(o, {}, "each job");
      const entries = await journal.entries(key.id, apiUrl, o.limit);
      const rows = await withProgress(o, async (step) => {
        step(`reading ${entries.length} job${entries.length === 1 ? "" : "s"} from the coordinator`);
        return (await readJournaled(entries, (id) => client.job(id))).map(jobsRow);
      });
      print(o, { account: key.id, api: apiUrl, journal: journal.path, jobs: rows }, formatJobs(rows, journal.path));
    }),
  );

  connection(program.command("balance").description("your balance: available, held for jobs in flight, reserved for withdrawals")).action(
    run(async (o: ConnectionOptions) => {
      const b = await connect(o).client.balance();
      print(
        o,
        b,
        `${b.account}\n  available ${formatTon(b.available)} (${b.available} nanoTON)\n  held      ${formatTon(b.held)} (jobs in flight and open tabs of cocoon serve --tabs: back to available as each job ends; a tab's when it closes, about 2 min after it expires)\n  reserved  ${formatTon(b.reserved)} (signed withdrawals not landed yet: back to available if unused after their expiry)`,
      );
    }),
  );

  connection(
    program
      .command("deposit")
      .description(
        "local default: pay TON from the sandbox test wallet into the vault, and wait until the chain watcher credits it (the account is credited the amount less the vault's fixed deposit fee, which pays for the deposit's transactions; the output shows both)",
      )
      .argument("<ton>", "how much, in TON"),
  ).action(
    run(async (ton: string, o: ConnectionOptions) => {
      const amount = parseTon(ton, { positive: true });
      const { client, key } = connect(o);
      const d = await withProgress(o, (step) => depositAndWait(client.api, amount, { onWait: step })).catch(async (e: unknown) => {
        // No sandbox: the deposit is the requester's own transfer, and the comment is all that says whose it is.
        if (e instanceof ApiError && e.code === "dev_chain_disabled") throw await walletDepositInstructions(key.id);
        throw e;
      });
      print(
        o,
        d,
        `deposited ${formatTon(d.amount)} into the vault ${d.vault} (local TON sandbox, not mainnet)\n  tx ${d.txHash}\n  credited by the chain watcher: ${formatTon(d.credited)} (the vault keeps ${formatTon(BigInt(d.amount) - BigInt(d.credited))} as its deposit fee); ${formatTon(d.available)} available (was ${formatTon(d.before)})`,
      );
    }),
  );

  connection(
    program
      .command("withdraw")
      .description(
        "a coordinator-signed withdrawal of your available balance; local default: sent from the sandbox wallet and waited for until the chain watcher records it; elsewhere printed (send it to the vault in a Withdraw message before its expiry). Interrupted (no answer, a crash), run the same command again: it resumes the same withdrawal, never a second one",
      )
      .argument("<ton>", "how much, in TON")
      .option("--to <address>", "the TON address to pay (default: your sandbox wallet on the local network)"),
  ).action(
    run(async (ton: string, o: ConnectionOptions & { to?: string }) => {
      const amount = parseTon(ton, { positive: true });
      const { client, keyFile } = connect(o);
      // The coordinator does not know which TON network its vault is on, so it cannot refuse this: say it here.
      if (o.to && isTestOnlyAddress(o.to))
        reportWarning(io, o.json, {
          code: "testnet_address",
          message: `--to ${o.to} is flagged test-only (a testnet wallet's address): on mainnet the TON goes to that account, which is often not the same wallet there (wallet v5 addresses depend on the network); unless this coordinator pays on testnet, use your mainnet wallet's address`,
        });
      const w = await withProgress(o, (step) => withdrawCommand(client, keyFile, amount, { ...(o.to ? { to: o.to } : {}), onWait: step }));
      const resumed = w.resumed ? " (resumed: the withdrawal asked for before, not a second one)" : "";
      // not sent (no local sandbox): the message for the requester's own wallet to send
      const message = w.sent ? undefined : withdrawMessage(w.withdrawal);
      print(
        o,
        message ? { ...w, messageValue: VAULT_MESSAGE_VALUE.toString(), message } : w,
        message ? withdrawalToSend(w, resumed, message) : withdrawalSent(w, resumed),
      );
    }),
  );

  connection(
    program
      .command("withdrawal")
      .description(
        "where one of your withdrawals stands: pending (reserved, not paid), landed (paid on chain) or released (expired unused, available again)",
      )
      .argument("<seqno>", "the withdrawal's seqno (printed by cocoon withdraw)", seqnoArg),
  ).action(
    run(async (seqno: number, o: ConnectionOptions) => {
      const st = await connect(o, {}, `withdrawal ${seqno}`).client.withdrawalStatus(seqno);
      const what = {
        pending: "pending: reserved, NOT paid yet",
        landed: "landed: paid on chain",
        released: "released: expired unused, NOT paid; the amount is available again",
      }[st.status];
      print(
        o,
        st,
        `withdrawal seqno ${st.seqno}: ${what}\n  ${formatTon(st.amount)} to ${st.to}${st.txHash ? `\n  tx ${st.txHash}` : ""}${st.status === "pending" ? `\n  expires ${new Date(st.expiry * 1000).toISOString()}` : ""}`,
      );
    }),
  );

  connection(
    program
      .command("faucet")
      .description("DEV ONLY, local network: sandbox TON deposited into the vault for you")
      .argument("[ton]", "how much, in TON", "10"),
  ).action(
    run(async (ton: string, o: ConnectionOptions) => {
      const b = await connect(o).client.faucet(parseTon(ton, { positive: true }));
      print(o, b, `dev faucet: now ${formatTon(b.available)} available (sandbox TON deposited into the local vault; local network only)`);
    }),
  );

  connection(program.command("models").description("models with live workers, their tiers and prices per token")).action(
    run(async (o: ConnectionOptions) => {
      const m = await connect(o).client.models();
      print(
        o,
        m,
        m.models
          .map((x) =>
            // A model whose workers all left is still listed (price 0): not free, just unserved now.
            x.workers === 0
              ? `${x.model}  no live worker now (not served until one joins)`
              : `${x.model}  workers=${x.workers} ${Object.entries(x.tiers)
                  .map(([t, n]) => `${t}${t === "none" ? " (NOT confidential)" : t === "dev" ? " (SIMULATED)" : ""}=${n}`)
                  .join(" ")}  price/token min=${x.price.min} median=${x.price.median} max=${x.price.max} nanoTON`,
          )
          .join("\n") || "no models",
      );
    }),
  );

  connection(
    program.command("whoami").description("your account id, the API you talk to, and whether dev attestations are accepted"),
  ).action(
    run(async (o: ConnectionOptions) => {
      const { key, apiUrl, allowDev } = connect(o);
      const depositComment = depositCommentFor(key.id);
      print(
        o,
        { account: key.id, apiUrl, allowDev, depositComment },
        `account ${key.id}\napi ${apiUrl}\ndeposit comment ${depositComment} (exactly: the text comment of a transfer to the vault that credits this account)${allowDev ? "\ndev (simulated) attestations accepted" : ""}`,
      );
    }),
  );

  connection(
    program
      .command("serve")
      .description(
        "an OpenAI-compatible proxy on 127.0.0.1 (/v1/models, /v1/chat/completions, /v1/responses, /v1/completions, /v1/embeddings); your key stays in this process",
      )
      .option("--port <n>", "the port to listen on", positiveInt, 8788)
      // OpenAI answers a request without max_tokens up to the model's limit; each job here holds
      // its budget's price until it is billed, so the default is short and the user may raise it.
      .option(
        "--max-tokens <n>",
        "the completion budget of a request that names none (max_tokens, max_completion_tokens, max_output_tokens): at most half the model's context; default 1024",
        jobTokens,
      )
      .option(
        "--tabs <slots>",
        "hold once for this many jobs (at most 32) instead of once per job: fewer writes per job; workers are paid when each tab closes, about 7 min later",
        positiveInt,
      )
      .option(
        "--model-alias <openai-name=cocoon-model>",
        "answer requests for an OpenAI model name with a Cocoon model (repeatable), e.g. gpt-4o-mini=qwen2-7b for apps that hard-code OpenAI's names; the answer names the model as the app asked; an alias wins over a Cocoon model of its name",
        modelAlias,
      )
      .option(
        "--max-price <nanoTON>",
        "send every job only to workers priced at most this many nanoTON per token (the price `cocoon models` lists); where all ask more, the app gets 409 price_above_cap",
        nanoTon,
      )
      .option("--allow-dev", "accept SIMULATED (dev) attestations (default only against the local network)"),
  ).action(
    run(async (o: ServeCliOptions) => {
      const { client, key, allowDev, apiUrl } = connect(o, {
        ...(o.tabs ? { tabs: { slots: o.tabs } } : {}),
        // an app that hung up had its job cancelled: a cancel that failed leaves that job to run on and be billed, say so
        onCancel: (jobId, r) => {
          if (!r.ok)
            reportWarning(io, false, {
              code: "cancel_failed",
              message: `the app hung up, and the cancel of its job ${jobId} failed (${(r.error as Error).message}): it may run on and be billed`,
            });
        },
      });
      const { startServeProxy, serveBackend, ServeProxyError, mapAskError } = await import("./serve");
      const devHint = devHintFor({ apiUrl, allowDev, retry: "restart cocoon serve" });
      let p;
      try {
        p = await startServeProxy({
          port: o.port,
          ...(o.maxTokens !== undefined ? { defaultMaxTokens: o.maxTokens } : {}),
          ...(o.modelAlias ? { modelAliases: Object.fromEntries(o.modelAlias) } : {}),
          // A local network's dev workers are accepted by default only where its settings file names
          // this very API: on loopback otherwise, a refusal for want of a tdx worker names the opt-in.
          ...serveBackend(client, {
            ...(devHint ? { devHint } : {}),
            ...(o.maxPrice !== undefined ? { maxPricePerToken: o.maxPrice } : {}),
          }),
          // The app's 500 says nothing of what failed inside the proxy (client/serve/errors.ts): the error itself is
          // written here, as is why the coordinator could not be reached (its address and the system's words,
          // which the app's 503 coordinator_unavailable leaves out). Other failures (no worker, a timeout) the
          // app reads in full, and they are not repeated.
          onError: (err) => {
            const code = mapAskError(err).code;
            if (code === "internal_error")
              reportWarning(io, false, {
                code: "serve_internal_error",
                message: err instanceof Error ? `${err.stack ?? `${err.name}: ${err.message}`}` : `thrown: ${String(err)}`,
              });
            else if (code === "coordinator_unavailable")
              reportWarning(io, false, {
                code: "serve_coordinator_unavailable",
                message: err instanceof Error ? err.message : String(err),
              });
          },
        });
      } catch (e) {
        // Most often a second `cocoon serve` on the default port: its code and the fix, not a stack trace.
        if (!(e instanceof ServeProxyError) || e.code !== "listen_failed") throw e;
        const inUse = (e.cause as NodeJS.ErrnoException | undefined)?.code === "EADDRINUSE";
        reportError(io, o.json, {
          code: e.code,
          message: `${e.message}${inUse ? ` (another cocoon serve, or another program): stop it, or choose another port: cocoon serve --port ${o.port + 1}` : ""}`,
        });
        return 2;
      }
      // OpenAI clients never show the x-cocoon-tier header: say it here, where the user looks
      const dev = allowDev
        ? "accepting dev workers too: their attestation is SIMULATED, whoever runs them can read your prompts (without --allow-dev, and off the local network, only attested workers)\n"
        : isLoopbackUrl(apiUrl)
          ? `only attested (tdx) workers: the workers of a local network at ${apiUrl} are dev ones, accepted with --allow-dev (SIMULATED attestation)\n`
          : "";
      const aliases = o.modelAlias ? `model aliases: ${describeAliases(o.modelAlias)}\n` : "";
      io.out.write(`OpenAI-compatible proxy on ${p.url}/v1 (key stays here; account ${key.id})\n${aliases}${dev}`);
      // Stopped (Ctrl-C, SIGTERM, SIGHUP), the proxy hangs up on the requests still open, which
      // cancels their jobs as an app hanging up does, and exits once those cancels went out. It
      // died at once: each running job ran on to its max_tokens, billed, its answer read by nobody.
      await new Promise<void>((stop) => {
        const stopListening = (io.onInterrupt ?? onStopSignals)(() => {
          stopListening();
          stop();
        });
      });
      await p.close(); // after every request's handling ended: the cancels of the aborted ones were sent
      await client.settleCancels();
      io.err.write("cocoon serve stopped: the jobs of requests still open were cancelled (billed only for what was generated)\n");
      return EX_INTERRUPTED;
    }),
  );

  const attest = program.command("attest").description("attestation tools for operators and auditors");
  defineAttestVerify(attest.command("verify"), io, setCode);
  // issue 15: receipts anchored on TON, and the policy registry
  const chainCommands = { io, setCode, connection, api: (o: ConnectionOptions, owned?: string) => connect(o, {}, owned).client.api };
  defineReceiptsCommands(program, {
    ...chainCommands,
    journal: (o: ConnectionOptions) => connect(o, {}, "the job's kept receipt").journal,
  });
  definePolicyCommands(program, chainCommands);
  defineOperatorCommands(program, { io, setCode });
  return program;
}

/**
 * `cocoon ask`'s job cancelled while it ran, from elsewhere (`cocoon cancel`, or the SDK's cancel in
 * another process): the answer printed stops where its worker stopped, and was billed for what was
 * generated. A failure (exit 2, details with the job), as a refund or a timeout is: it exited 0
 * with a note, so a script took a cut answer for a whole one.
 */
class AskCancelledError extends Error {
  override readonly name = "AskCancelledError";
  readonly code = "job_cancelled";
  constructor(
    readonly jobId: string,
    readonly cost: string,
  ) {
    super(
      `job ${jobId} was cancelled before it finished (cocoon cancel): its answer stops where its worker stopped, ` +
        `and was billed ${cost} nanoTON for what was generated (\`cocoon job ${jobId}\` shows its bill)`,
    );
  }
}

/**
 * A failure as the CLI reports it (`error [code]`, exit 2), or undefined for a bug (thrown on, a
 * stack trace). The SDK's named errors keep what a script needs beside the code: the field an
 * input error names, and the job a timeout or a lost connection leaves to read. They were thrown
 * on: a --max-tokens past the network's cap, a prompt past its cap or a coordinator that went
 * away mid-answer ended `cocoon ask` with a stack trace and exit 1.
 */
export function failureNotice(e: unknown): Notice | undefined {
  if (e instanceof JobTimeoutError) return { code: e.code, message: e.message, details: { jobId: e.jobId } };
  // the job as the coordinator keeps it (completed, billed for what was generated, cancelled), as `cocoon cancel --json` names it
  if (e instanceof AskCancelledError)
    return { code: e.code, message: e.message, details: { jobId: e.jobId, status: "completed", cancelled: true, cost: e.cost } };
  // the SDK's words name its option; here the flag, and the price to give it
  if (e instanceof PriceAboveCapError)
    return {
      code: e.code,
      status: e.status,
      message:
        `every live worker you accept for this model asks more than --max-price ${e.maxPricePerToken} nanoTON per token; the cheapest asks ` +
        `${e.cheapestPricePerToken}: run cocoon ask again with --max-price ${e.cheapestPricePerToken} (or more), or later for a cheaper worker`,
      details: e.details,
    };
  if (e instanceof JobRefundedError && e.jobId !== undefined)
    return { code: e.code, message: e.message, details: { jobId: e.jobId, ...(e.failure ? { failure: e.failure } : {}) } };
  if (e instanceof ApiError || e instanceof VerificationError || e instanceof SettingsError) return e;
  if (e instanceof JobJournalError) return { code: e.code, message: e.message };
  if (e instanceof AskInputError) return { code: e.code, message: e.message, details: { param: e.param } };
  if (e instanceof JobOutcomeUnknownError)
    return {
      code: e.code,
      // the SDK's advice names its own call; here the command that reads the job
      message: e.message.replace(`client.job("${e.jobId}")`, `cocoon job ${e.jobId}`),
      details: { jobId: e.jobId, submitted: e.submitted },
    };
  return undefined;
}

/** What `cocoon ask` says on stderr when Ctrl-C ended it: which job it cancelled, and how that went. */
function interruptedNote(
  cancels: Array<{ jobId: string; outcome: { ok: true; answer: CancelJobResponse } | { ok: false; error: unknown } }>,
): string {
  const c = cancels[0];
  if (!c) return "interrupted before the job was submitted: nothing was sent, nothing to cancel";
  if (!c.outcome.ok) {
    const e = c.outcome.error as { code?: unknown; message?: unknown };
    return `interrupted; the cancel of job ${c.jobId} failed (${typeof e.code === "string" ? `${e.code}: ` : ""}${String(e.message ?? e)}): it may run on and be billed; try \`cocoon cancel ${c.jobId}\``;
  }
  return `interrupted; ${formatCancel(c.outcome.answer)}`;
}

/**
 * `cocoon ask --json` ended by Ctrl-C: the note as an error line (code "interrupted") whose details
 * carry the job and its cancel's answer (or the cancel's failure). It was the text note alone, so a
 * script that interrupted an ask had no job id to read back.
 */
function interruptedNotice(
  cancels: Array<{ jobId: string; outcome: { ok: true; answer: CancelJobResponse } | { ok: false; error: unknown } }>,
): Notice {
  const c = cancels[0];
  const details = !c
    ? { submitted: false }
    : c.outcome.ok
      ? { jobId: c.jobId, submitted: true, cancel: c.outcome.answer }
      : { jobId: c.jobId, submitted: true, cancelError: String((c.outcome.error as { code?: unknown }).code ?? "failed") };
  return { code: "interrupted", message: interruptedNote(cancels), details };
}

/**
 * `cocoon ask --timeout` given up on: the SDK cancelled the job at its deadline, and the error
 * says what became of it (billed for what was generated, or refunded), or that its cancel failed.
 * It said only "did not finish within N ms", as if nothing were billed or still running.
 */
function withCancelOutcome(
  e: unknown,
  cancels: Array<{ jobId: string; outcome: { ok: true; answer: CancelJobResponse } | { ok: false; error: unknown } }>,
): unknown {
  if (!(e instanceof VerificationError) || e.code !== "timeout") return e;
  const c = cancels.at(-1);
  if (!c) return e; // given up before a job was submitted: nothing to cancel, nothing billed
  e.message += c.outcome.ok ? `; ${formatCancel(c.outcome.answer)}` : `; ${interruptedNote([c]).replace(/^interrupted; /, "")}`;
  return e;
}

/** Runs `cocoon` with `argv` (the arguments after the program name); resolves to the exit code. */
export async function main(
  argv: string[],
  out: Io["out"] = process.stdout,
  err: Io["err"] = process.stderr,
  onInterrupt?: CliIo["onInterrupt"],
): Promise<number> {
  let code = 0;
  return runProgram(
    buildProgram({ out, err, ...(onInterrupt ? { onInterrupt } : {}) }, (c) => (code = c)),
    argv,
    () => code,
  );
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("client/cli.ts")) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
