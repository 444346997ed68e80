/**
 * What `cocoon ask` adds to two coordinator refusals a requester meets first, whose words were
 * written for API callers: a mistyped model (`unknown_model`: "see GET /v1/models") and an account
 * short of funds (`insufficient_funds`: "deposit more or lower maxTokens", an SDK field). The error
 * keeps its class, code, status and details; its message then names what to type: the models
 * served here (the nearest one to a typo first) and the commands that add funds, with the flag.
 */
import { formatTon } from "../api-client/format";

/** Where the model hint reads what is served (the SDK's models()). */
export interface ServedModels {
  models(): Promise<{ models: Array<{ model: string; workers: number }> }>;
}

const nanoAndTon = (nano: string) => `${nano} nanoTON (${formatTon(nano)})`;

/** Edit distance (insertions, deletions, substitutions), for the nearest served name to a typo. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** The served model nearest to `asked` when it reads as a typo of it (case, a few letters), else undefined. */
export function nearestModel(asked: string, served: string[]): string | undefined {
  const lower = asked.toLowerCase();
  let best: { model: string; d: number } | undefined;
  for (const model of served) {
    const d = editDistance(lower, model.toLowerCase());
    if (!best || d < best.d) best = { model, d };
  }
  return best && best.d <= Math.max(2, Math.floor(asked.length / 4)) ? best.model : undefined;
}

/** The most served names the message lists (a long list stays in `cocoon models`). */
const LISTED = 8;

/**
 * An `unknown_model` refusal of `model`: its message names the model nearest to it, if any, and
 * the models with a live worker here, with `cocoon models`; any other error comes back as it was.
 */
export async function withModelHint(err: unknown, model: string, network: ServedModels): Promise<unknown> {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (e?.code !== "unknown_model" || typeof e.message !== "string") return err;
  const served = await network.models().then(
    (r) => r.models.filter((m) => m.workers > 0).map((m) => m.model),
    () => undefined,
  );
  const near = served && nearestModel(model, served);
  const list = !served
    ? "`cocoon models` lists those served"
    : served.length === 0
      ? "no model has a live worker here right now (`cocoon models`)"
      : `served here: ${served.slice(0, LISTED).join(", ")}${served.length > LISTED ? ", …" : ""} (\`cocoon models\`)`;
  e.message =
    `model "${model}" is not served by any worker here` +
    (near ? `; did you mean ${near}? run cocoon ask again with --model ${near}` : "") +
    `; ${list}`;
  return err;
}

/**
 * An `insufficient_funds` refusal of a job (details.needed / details.available, nanoTON): its
 * message names the commands that add funds and the flag that lowers the hold; any other error,
 * or one without those details (a tab's), comes back as it was.
 */
export function withFundsHint(err: unknown): unknown {
  const e = err as { code?: unknown; message?: unknown; details?: unknown } | null;
  const d = e?.details as { needed?: unknown; available?: unknown } | undefined;
  if (e?.code !== "insufficient_funds" || typeof d?.needed !== "string" || typeof d.available !== "string") return err;
  if (!/^-?\d+$/.test(d.needed) || !/^-?\d+$/.test(d.available)) return err;
  e.message =
    `this job may cost up to ${nanoAndTon(d.needed)} (its whole --max-tokens budget is held until it is billed), ` +
    `and the account has ${nanoAndTon(d.available)} available: add funds with cocoon deposit <TON> ` +
    `(cocoon faucet on the local network), or ask for a smaller answer with a lower --max-tokens; cocoon balance shows what is held`;
  return err;
}
