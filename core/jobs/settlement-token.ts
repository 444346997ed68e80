/**
 * The coordinator's side of settlement tokens (core/crypto/settlement.ts, session 40): a job's
 * settle key, handed to its requester with the submit, and the token of a completed result,
 * handed to its worker in the answer to its result post, which the worker relays on its final
 * chunk for the requester to check.
 *
 * Stateless like quotes and tabs: the key is derived from the quote key (config.quoteKey) under a
 * domain of its own and this deployment's name (./quote.ts tokenDomain), over the job id and its
 * requester, so nothing is stored and every process that has the quote key (prepare, submit, the
 * result post) derives the same key. A process without it (a per-process random key) makes
 * tokens that do not verify: the SDK then reads the job, as it does for an agent that relays none.
 */
import { b64u } from "../crypto/encoding";
import { tokenMac } from "../crypto/keys";
import { settlementMac } from "../crypto/settlement";
import type { CoreDeps } from "../deps";
import { tokenDomain } from "./quote";

const KEY_DOMAIN = "cocoon/v1/settle-key\n";

type Config = Pick<CoreDeps["config"], "quoteKey" | "deployment">;

/** Job `jobId`'s settle key (base64url of 32 bytes): for its requester's eyes only (the submit's answer). */
export const settleKeyOf = (config: Config, job: { jobId: string; requester: string }): string =>
  b64u.encode(tokenMac(config.quoteKey, tokenDomain(config, KEY_DOMAIN), { jobId: job.jobId, requester: job.requester }));

/**
 * The settlement token of `job`, completed at `attempt` with the reply of `replyHash`, charged
 * `cost`: what the answer to that result post carries (ResultResponse.settlement).
 */
export const settlementOf = (
  config: Config,
  job: { jobId: string; requester: string },
  attempt: number,
  replyHash: string,
  cost: string,
): { settlement: string } => ({ settlement: settlementMac(settleKeyOf(config, job), { jobId: job.jobId, attempt, replyHash, cost }) });
