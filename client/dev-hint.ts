/**
 * The dev opt-in hint of the CLI commands that submit jobs (`cocoon ask`, `cocoon serve`): on a
 * local network reached another way than its settings file names (another port, another
 * directory), dev workers are not accepted by default, and the coordinator's refusal said only
 * "no live worker in tiers [tdx]". Where the network lists dev workers for the model, the refusal
 * names the flag that accepts them. Only on this machine's loopback (a local network, whose
 * workers are dev ones): off it, dev workers are never suggested.
 */
import type { AttestationTier } from "../events/attestation";
import { isLoopbackUrl } from "../api-client/api";

/** What the hint tells the user to type, and how to retry with it. */
export interface DevHint {
  /** the flag (and variable) that accepts dev workers, as the user would type it */
  optIn: string;
  /** how the user retries with it: "restart cocoon serve", "run cocoon ask again" */
  retry: string;
}

/** The opt-in of a command that takes --allow-dev and no --tier. */
export const ALLOW_DEV_OPT_IN = "--allow-dev (or COCOON_ALLOW_DEV=1)";

/**
 * The hint for a command on `apiUrl`, or undefined where dev workers are accepted already or the
 * API is not on loopback. `tiers`: the tiers the user named (ask's --tier), which --allow-dev
 * alone does not change: the hint then names the list with dev added.
 */
export function devHintFor(
  o: { apiUrl: string; allowDev: boolean; tiers?: AttestationTier[]; retry: string },
  spelling: OptInSpelling = CLI_OPT_IN,
): DevHint | undefined {
  if (!isLoopbackUrl(o.apiUrl)) return undefined;
  if (!o.tiers) return o.allowDev ? undefined : { optIn: spelling.allowDev, retry: o.retry };
  if (o.tiers.includes("dev")) return undefined; // refused for another reason (the verifier's, without --allow-dev)
  const tier = spelling.tiers([...o.tiers, "dev"]);
  return { optIn: o.allowDev ? tier : spelling.both(tier), retry: o.retry };
}

/** How a caller spells the opt-in: alone, as the tiers with dev added, and the two together. */
interface OptInSpelling {
  allowDev: string;
  tiers(list: AttestationTier[]): string;
  both(tiers: string): string;
}

const CLI_OPT_IN: OptInSpelling = {
  allowDev: ALLOW_DEV_OPT_IN,
  tiers: (list) => `--tier ${list.join(",")}`,
  both: (tiers) => `--allow-dev ${tiers}`,
};

/** The SDK's: its CocoonClient option and ask()'s tiers (client/sdk.ts), which the CLI's and serve's hints replace. */
export const SDK_OPT_IN: OptInSpelling = {
  allowDev: "allowDev: true in CocoonClient's options",
  tiers: (list) => `tiers: [${list.map((t) => JSON.stringify(t)).join(", ")}]`,
  both: (tiers) => `allowDev: true in CocoonClient's options and ${tiers}`,
};

/** A refusal's message before a hint was added to it: a later hint (the CLI's flag) replaces an earlier one (the SDK's option). */
const unhinted = new WeakMap<object, string>();

/** Where the hint reads how many dev workers serve a model (the SDK's, or the proxy's, models()). */
export interface ModelTiers {
  models(): Promise<{ models: Array<{ model: string; tiers?: Record<string, number> }> }>;
}

/**
 * A no_workers refusal for want of an accepted tier (core/workers.ts: "no live worker in tiers
 * [tdx]"), while the network lists dev workers for the model: the same error, its message naming
 * the opt-in. Any other error, or no hint, comes back as it was.
 */
export async function withDevHint(err: unknown, model: string, network: ModelTiers, hint: DevHint | undefined): Promise<unknown> {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!hint || e?.code !== "no_workers" || typeof e.message !== "string") return err;
  const message = unhinted.get(e) ?? e.message;
  const tiers = /no live worker in tiers \[([^\]]*)\]/.exec(message)?.[1];
  if (tiers === undefined || tiers.split(", ").includes("dev")) return err;
  const dev = await network.models().then(
    (r) => r.models.find((m) => m.model === model)?.tiers?.dev ?? 0,
    () => 0,
  );
  if (dev <= 0) return err;
  // the error itself (its class, code, status, details) with the hint added to its message
  unhinted.set(e, message);
  e.message = `${message} (${dev} dev worker(s), with SIMULATED attestation, serve ${model} here: ${hint.retry} with ${hint.optIn} to accept them; whoever runs them can read your prompts)`;
  return err;
}
