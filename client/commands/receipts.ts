/**
 * `cocoon receipts verify JOB_ID`: is this job's worker-signed receipt in an anchor on TON?
 *
 * The proof (receipt, audit path, the anchors from its batch on) comes from the coordinator;
 * the anchor comes from the ReceiptAnchor contract's getter through a chain reader: toncenter
 * with --ton-endpoint and --anchor (the address you pinned, not one the coordinator names), or,
 * against the local default, its sandbox through the dev chain route. Verification is
 * core/receipts/proof.ts: the anchors must replay to the contract's history, the path must lead
 * to the anchored root, the receipt must be signed by its worker and name this job.
 *
 * The anchored receipt must be the one the requester's answer came with: the one passed with
 * --receipt, else the one the SDK kept in the key's job journal when it checked the answer
 * (client/journal.ts); only a job with neither is compared with the coordinator's word.
 *
 * Exit 0 verified; 1 not verified (including "not anchored yet": never a pass); 2 the API
 * refused (an unknown job is `unknown_job`, never a pass); 64 usage.
 */
import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError } from "commander";
import { ApiError, isLoopbackUrl, type ApiClient } from "../../api-client/api";
import { API } from "../../api-client/routes";
import { reportError, type Io } from "../../api-client/program";
import { JobId, TonEndpoint } from "../../events/common";
import { Receipt } from "../../events/envelope";
import type { JobJournal } from "../journal";
import {
  verifyProofAgainstChain,
  type AnchorReader,
  type ChainAnchor,
  type ProofVerdict,
  type ReceiptProofBundle,
} from "../../core/receipts/proof";

export interface ChainOptions {
  tonEndpoint?: string;
  tonApiKey?: string;
}

/** The anchor contract through toncenter (loaded on demand: @ton/ton is heavy). */
export async function toncenterAnchorReader(o: ChainOptions & { anchor: string }): Promise<AnchorReader> {
  const [{ TonClient }, { Address }, { ChainAnchorReader }] = await Promise.all([
    import("@ton/ton"),
    import("@ton/core"),
    import("../../ton/anchor"),
  ]);
  if (!o.tonEndpoint)
    throw new ApiError(0, "missing_ton_endpoint", "reading the anchor contract needs --ton-endpoint (or COCOON_TON_ENDPOINT)");
  // The anchor read is what a receipt is verified against: over plain http it could be forged.
  const endpoint = TonEndpoint.safeParse(o.tonEndpoint);
  if (!endpoint.success) throw new ApiError(0, "invalid_ton_endpoint", `--ton-endpoint ${endpoint.error.issues[0]!.message}`);
  return new ChainAnchorReader(new TonClient({ endpoint: endpoint.data, apiKey: o.tonApiKey }), Address.parse(o.anchor));
}

/** The receipt GET /v1/jobs/{id} answers for the job's requester; undefined for anyone else (its worker) or when the reply has expired. */
async function requesterReceiptOf(api: ApiClient, jobId: string): Promise<Receipt | undefined> {
  try {
    return (await api.request(API.getJob, { params: { id: jobId }, query: { wait: 0 } })).receipt;
  } catch (e) {
    if (e instanceof ApiError && e.code === "not_your_job") return undefined;
    throw e;
  }
}

/** The local default's sandbox: the contract's getter, run by the dev chain route. */
export const devAnchorReader = (api: ApiClient): AnchorReader => ({
  async latest(): Promise<ChainAnchor> {
    const { address: _a, ...a } = await api.request(API.devAnchor);
    return a;
  },
});

/**
 * What the anchored receipt was compared with (session 42: the output said VERIFIED alike for all
 * three, and only the first binds the proof to the answer the requester received):
 * - `kept`: the receipt the SDK checked when the answer came (--receipt, or the job journal's);
 * - `coordinator`: the one GET /v1/jobs/{id} answers the requester with today, the coordinator's word;
 * - `worker`: none (the caller is the job's worker): the anchored one carries the caller's own signature.
 */
export type ComparedWith = "kept" | "coordinator" | "worker";

export interface VerifyOutcome {
  jobId: string;
  verdict: ProofVerdict;
  proof?: ReceiptProofBundle;
  /** set once a proof was read */
  comparedWith?: ComparedWith;
}

/** Fetches the proof and the on-chain anchor, and verifies; with `waitSeconds`, retries while the receipt is not anchored yet. */
export async function verifyReceipt(
  api: ApiClient,
  reader: AnchorReader,
  jobId: string,
  o: { waitSeconds?: number; now?: () => number; sleep?: (ms: number) => Promise<void>; expected?: Receipt } = {},
): Promise<VerifyOutcome> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + (o.waitSeconds ?? 0) * 1000;
  for (;;) {
    let proof: ReceiptProofBundle | undefined;
    let verdict: ProofVerdict;
    let comparedWith: ComparedWith | undefined;
    try {
      // the job asked about, not the one the answer names: a coordinator must not pass off another
      // job's anchored receipt as this one's (the verifier checks the receipt against this id)
      proof = { ...(await api.request(API.receiptProof, { params: { jobId } })), jobId };
      // The anchored receipt must be the one this job was answered and billed with, not any
      // receipt for its id that some key signed: the one the caller kept (--receipt), else, for
      // the requester, the one the job answers with (the SDK checked it against the worker it
      // encrypted to); a worker asking about its own job needs its own signature on it.
      const expected = o.expected ?? (await requesterReceiptOf(api, jobId));
      comparedWith = o.expected ? "kept" : expected ? "coordinator" : "worker";
      verdict =
        expected === undefined && proof.receipt.body.workerId !== api.key.id
          ? {
              ok: false,
              code: "receipt_differs",
              message: `the anchored receipt names worker ${proof.receipt.body.workerId}, and this job's receipt is not at hand to compare (pass --receipt FILE)`,
            }
          : verifyProofAgainstChain(proof, await reader.latest(), expected);
    } catch (e) {
      if (!(e instanceof ApiError && e.code === "receipt_not_anchored_yet")) throw e;
      verdict = { ok: false, code: "not_anchored_yet", message: e.message };
    }
    if (verdict.ok || verdict.code !== "not_anchored_yet" || now() >= deadline)
      return { jobId, verdict, ...(proof ? { proof } : {}), ...(comparedWith ? { comparedWith } : {}) };
    await sleep(1000);
  }
}

/** Where the receipt a requester kept came from: --receipt FILE, or the key's job journal. */
type Kept = { receipt: Receipt; from: "file" } | { receipt: Receipt; from: "journal"; path: string };

/** The VERIFIED output's last line: what the anchored receipt was compared with, and so what the proof binds. */
function compared(r: VerifyOutcome, kept: Kept | undefined, journal: JobJournal): string {
  if (r.comparedWith === "worker") return "compared with your own signature: you are the job's worker";
  if (r.comparedWith === "coordinator")
    return (
      `compared with the job's receipt as the coordinator answers it today (GET /v1/jobs/{id}): no receipt of this job is kept in ${journal.path}; ` +
      "to bind the proof to the answer you received, pass --receipt FILE (the output of cocoon ask --json, or the SDK's result)"
    );
  return kept?.from === "journal"
    ? `compared with the receipt kept in ${kept.path} when your answer was checked: the anchored receipt is the one your answer came with`
    : "compared with the receipt you kept (--receipt): the anchored receipt is the one your answer came with";
}

function jobIdArg(v: string): string {
  if (!JobId.safeParse(v).success) throw new InvalidArgumentError("must look like job_<26 lowercase base32 chars>.");
  return v;
}

/** --receipt FILE: a receipt, or anything with one under `receipt` (a job view, `cocoon ask --json`). */
function keptReceipt(file: string): Receipt {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new ApiError(0, "invalid_receipt_file", `--receipt ${file}: ${(e as Error).message}`);
  }
  const r = Receipt.safeParse((raw as { receipt?: unknown } | null)?.receipt ?? raw);
  if (!r.success) throw new ApiError(0, "invalid_receipt_file", `--receipt ${file} holds no receipt: ${r.error.issues[0]!.message}`);
  return r.data;
}

function seconds(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 600) throw new InvalidArgumentError("must be a whole number of seconds, at most 600.");
  return n;
}

export interface ReceiptsCommandDeps {
  io: Io;
  setCode: (code: number) => void;
  /** adds --api/--key/--json */
  connection: (cmd: Command) => Command;
  /** the API as the key names it; `owned` (what the command reads) refuses a key file that is not there (no_key) instead of making one */
  api: (o: { api?: string; key?: string }, owned?: string) => ApiClient;
}

export interface ReceiptsVerifyDeps extends ReceiptsCommandDeps {
  /** the key's job journal, where the SDK kept each answer's receipt (client/journal.ts) */
  journal: (o: { api?: string; key?: string }) => JobJournal;
}

/**
 * A command body that answers its own exit code (0 or 1); an API or settings error is exit 2
 * with its code, like every other cocoon command (one JSON line on stderr with --json).
 */
export function runWithCode<A extends unknown[]>(d: Pick<ReceiptsCommandDeps, "io" | "setCode">, fn: (...args: A) => Promise<number>) {
  return async (...args: A) => {
    try {
      d.setCode(await fn(...args));
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (e instanceof ApiError || (e instanceof Error && e.name === "SettingsError" && typeof code === "string")) {
        // the options are the action's last argument but one (commander passes the Command last)
        const o = args[args.length - 2] as { json?: boolean } | undefined;
        reportError(d.io, o?.json, e instanceof ApiError ? e : { code: String(code), message: e.message });
        d.setCode(2);
        return;
      }
      throw e;
    }
  };
}

export function defineReceiptsCommands(parent: Command, d: ReceiptsVerifyDeps): Command {
  const receipts = parent.command("receipts").description("receipts anchored on TON: check that a job's receipt is in the anchored log");
  d.connection(
    receipts
      .command("verify")
      .description(
        "verify a job's receipt against the ReceiptAnchor contract on chain (exit 0 verified, 1 not verified or not anchored yet, 2 unknown job or API error)",
      )
      .argument("<job-id>", "the job (yours as requester, or one you completed as worker)", jobIdArg)
      .option(
        "--anchor <address>",
        "the ReceiptAnchor contract to trust (default: COCOON_ANCHOR_ADDRESS; the local network's sandbox when unset)",
      )
      .option("--ton-endpoint <url>", "toncenter JSON-RPC to read the contract through (default: COCOON_TON_ENDPOINT)")
      .option("--ton-api-key <key>", "toncenter API key (default: COCOON_TON_API_KEY)")
      .option("--wait <seconds>", "keep trying this long while the receipt is not anchored yet", seconds, 0)
      .option(
        "--receipt <file>",
        "the receipt you kept for the job (JSON: a receipt, or anything with one under receipt, as cocoon ask --json prints): the anchored one must be it (default: the one kept in the key's job journal when the answer was checked; with none there, the job's receipt as the coordinator answers it today, GET /v1/jobs/{id})",
      ),
  ).action(
    runWithCode(
      d,
      async (
        jobId: string,
        o: {
          api?: string;
          key?: string;
          json?: boolean;
          anchor?: string;
          tonEndpoint?: string;
          tonApiKey?: string;
          wait: number;
          receipt?: string;
        },
      ) => {
        // a receipt's proof is its requester's or worker's alone: a mistyped --key made a new key, then read not_your_job
        const api = d.api(o, `the receipt of job ${jobId}`);
        const anchor = o.anchor ?? process.env.COCOON_ANCHOR_ADDRESS;
        let reader: AnchorReader;
        if (anchor)
          reader = await toncenterAnchorReader({
            anchor,
            tonEndpoint: o.tonEndpoint ?? process.env.COCOON_TON_ENDPOINT,
            tonApiKey: o.tonApiKey ?? process.env.COCOON_TON_API_KEY,
          });
        // the dev route is the coordinator's own word: only the local default's sandbox may answer for the chain
        else if (isLoopbackUrl(api.baseUrl)) reader = devAnchorReader(api);
        else
          throw new ApiError(
            0,
            "missing_anchor",
            "verifying against a remote coordinator needs --anchor (or COCOON_ANCHOR_ADDRESS): the anchor is read from the chain, never from the coordinator",
          );
        const journal = d.journal(o);
        let kept: Kept | undefined;
        if (o.receipt !== undefined) kept = { receipt: keptReceipt(o.receipt), from: "file" };
        else {
          const receipt = await journal.receiptOf(api.key.id, api.baseUrl, jobId);
          if (receipt) kept = { receipt, from: "journal", path: journal.path };
        }
        const r = await verifyReceipt(api, reader, jobId, { waitSeconds: o.wait, ...(kept ? { expected: kept.receipt } : {}) });
        const v = r.verdict;
        if (o.json)
          d.io.out.write(
            JSON.stringify(
              {
                jobId,
                verified: v.ok,
                ...(v.ok
                  ? {
                      anchorSeqno: v.anchor.seqno,
                      root: v.anchor.root,
                      chainSeqno: v.chain.seqno,
                      seq: r.proof?.seq,
                      comparedWith: r.comparedWith,
                    }
                  : { code: v.code, message: v.message }),
              },
              null,
              2,
            ) + "\n",
          );
        else if (v.ok) {
          const p = r.proof!;
          d.io.out.write(
            [
              `VERIFIED: job ${jobId}'s receipt is leaf ${p.leafIndex} of ${p.treeSize} (receipt #${p.seq}) under anchor ${v.anchor.seqno}'s root ${v.anchor.root}`,
              `  anchored on chain: the contract is at anchor ${v.chain.seqno} (posted at ${new Date(v.chain.postedAt * 1000).toISOString()}); its history matches the proof's anchors`,
              `  receipt signed by worker ${p.receipt.body.workerId}: ${p.receipt.body.usage.promptTokens} prompt + ${p.receipt.body.usage.completionTokens} completion tokens, model ${p.receipt.body.model}`,
              `  audit path ${p.path.length} hashes (${p.path.length * 32 + 12} bytes)`,
              `  ${compared(r, kept, journal)}`,
              "",
            ].join("\n"),
          );
        } else d.io.err.write(`NOT VERIFIED [${v.code}]: ${v.message}\n`);
        return v.ok ? 0 : 1;
      },
    ),
  );
  return receipts;
}
