/**
 * The anchorer (one writer: the local loop beside the chain watcher, or the scheduled function
 * on AWS) and the watcher's check of the anchors (docs/architecture.md §4b).
 *
 * runAnchoring, each run:
 *   1. reads the contract's latest anchor and the coordinator's latest batch;
 *   2. batches the chain does not hold yet are (re)sent in order, the first resend
 *      `resendAfterSeconds` after the send (a message in flight on a real chain takes seconds;
 *      the contract refuses a duplicate with ERR_ANCHOR_SEQNO anyway, so a resend costs only its
 *      fee), each later one twice as long after the one before, up to `maxResendAfterSeconds`:
 *      an anchor the contract refuses for good (or a wallet that cannot pay) costs a fee an
 *      hour, not one every two minutes. The count is the batch's own (`sends`), so the next
 *      batch starts again at `resendAfterSeconds` once the chain shows this one. A post that
 *      failed before its hand-over (toncenter down) is not counted; one whose hand-over failed
 *      (AnchorPostUncertainError: it may have gone out) is. After a crash, a
 *      lost send, or a sandbox restored from before the send, they go out again; the watcher's
 *      anchor.overdue keeps being raised meanwhile (checkAnchors);
 *   3. when the chain is level with the log and the interval has passed since the last anchor,
 *      or the last anchor was a full batch (receipts were left waiting: "every 5 minutes or
 *      every 100k receipts, whichever comes first"), it cuts the next batch from the inboxes
 *      (core/receipts/log.ts) and sends it.
 * It never posts on top of a chain that disagrees with the log: checkAnchors raises that.
 *
 * checkAnchors raises through the Alerts port:
 *   anchor.mismatch   critical: the contract holds an anchor the coordinator's log does not
 *                     have, or has with other fields (its database was restored from an older
 *                     state or edited; or someone else posts with its wallet)
 *   anchor.overdue    warning: receipts or movements have waited longer than the bound, or a
 *                     cut batch has not reached the chain within it
 *   anchor.reader-error  warning: the contract could not be read
 */
import type { Alerts, Log } from "../ports";
import { DEFAULT_ANCHOR_LIMITS, sameAnchor, type Anchor, type AnchorLimits } from "./anchor";
import { AnchorConcurrencyError, anchorOf, type StoreAnchorLog } from "./log";
import { AnchorPostUncertainError } from "./anchor-post";
import type { AnchorReader, ChainAnchor } from "./proof";

export { AnchorPostUncertainError };

/**
 * Sends anchors to the contract, in this order (one wallet transfer may carry several). A post
 * that fails before the transfer is handed to the network throws anything; one whose hand-over
 * itself fails throws AnchorPostUncertainError.
 */
export interface AnchorPoster {
  post(anchors: Anchor[]): Promise<void>;
}

export interface AnchoringOptions {
  log: StoreAnchorLog;
  reader: AnchorReader;
  poster: AnchorPoster;
  /** ms */
  now: () => number;
  intervalSeconds: number;
  limits?: AnchorLimits;
  /** Wait this long for a sent anchor to show on chain before sending it again (default 120 s); twice as long after each resend. */
  resendAfterSeconds?: number;
  /** The longest wait between two sends of an anchor the chain does not show (default 3600 s). */
  maxResendAfterSeconds?: number;
  logger?: Log;
}

export interface AnchoringReport {
  chainSeqno: number;
  coordinatorSeqno: number;
  /** the batch cut in this run */
  prepared?: number;
  /** anchors sent in this run */
  sent: number[];
  /** why nothing was sent */
  idle?: "not_due" | "nothing_to_anchor" | "in_flight" | "chain_disagrees" | "concurrent_writer";
}

/** Anchors one post may carry (a wallet v5r1 transfer holds at most 255 messages). */
export const MAX_ANCHORS_PER_POST = 255;

export async function runAnchoring(o: AnchoringOptions): Promise<AnchoringReport> {
  const [chain, coordinatorSeqno] = await Promise.all([o.reader.latest(), o.log.latestSeqno()]);
  const report: AnchoringReport = { chainSeqno: chain.seqno, coordinatorSeqno, sent: [] };
  if (chain.seqno > coordinatorSeqno) return { ...report, idle: "chain_disagrees" };
  const limits = o.limits ?? DEFAULT_ANCHOR_LIMITS;
  let lastWasFull = false;
  if (chain.seqno >= 1) {
    const onChain = await o.log.record(chain.seqno);
    if (!onChain || !sameAnchor(onChain, chain) || onChain.history !== chain.history) return { ...report, idle: "chain_disagrees" };
    if (onChain.postedAt === undefined) await o.log.markPosted(chain.seqno, chain.postedAt);
    lastWasFull = onChain.count >= limits.maxReceipts;
  }
  const now = o.now();
  if (coordinatorSeqno > chain.seqno) {
    // at most one wallet transfer's worth (v5r1: 255 messages) a run; the rest go in the next runs
    const missing = await o.log.records(chain.seqno + 1, Math.min(coordinatorSeqno, chain.seqno + MAX_ANCHORS_PER_POST));
    const first = missing[0];
    if (first?.sentAt !== undefined && now - first.sentAt < resendDelayMs(o, first.sends ?? 1)) return { ...report, idle: "in_flight" };
    if (first?.sentAt !== undefined) {
      const sends = (first.sends ?? 1) + 1;
      o.logger?.warn("anchor not on chain: sent again (refused, lost, or the wallet cannot pay)", {
        seqno: first.seqno,
        sends,
        nextResendInSeconds: resendDelayMs(o, sends) / 1000,
      });
    }
    await send(o, missing.map(anchorOf), now, report);
    return report;
  }
  // a full last batch left receipts waiting: the next one is due at once, or above maxReceipts
  // per interval the backlog would only grow
  if (!lastWasFull && now / 1000 - chain.postedAt < o.intervalSeconds) return { ...report, idle: "not_due" };
  let cut;
  try {
    cut = await o.log.prepareNext(now, limits);
  } catch (e) {
    if (e instanceof AnchorConcurrencyError) return { ...report, idle: "concurrent_writer" };
    throw e;
  }
  if (!cut) return { ...report, idle: "nothing_to_anchor" };
  report.prepared = cut.seqno;
  report.coordinatorSeqno = cut.seqno;
  o.logger?.info("anchor batch cut", { seqno: cut.seqno, receipts: cut.count, firstSeq: cut.firstSeq, ledgerSeqno: cut.ledgerSeqno });
  // a straggler committed after a range covering it was cut: a settling function ran (or a clock
  // was) further behind than WINDOW_LAG_MS allows; anchored now, but worth knowing (core/receipts/log.ts)
  if (cut.late) o.logger?.warn("anchor batch took receipts committed after their range was cut", { seqno: cut.seqno, late: cut.late });
  await send(o, [anchorOf(cut)], now, report);
  return report;
}

/** How long after its `sends`-th send an anchor the chain does not show is sent again: doubling from resendAfterSeconds, capped. */
export function resendDelayMs(o: Pick<AnchoringOptions, "resendAfterSeconds" | "maxResendAfterSeconds">, sends: number): number {
  const base = o.resendAfterSeconds ?? 120;
  const cap = Math.max(base, o.maxResendAfterSeconds ?? 3_600);
  return Math.min(base * 2 ** Math.max(0, Math.min(sends - 1, 30)), cap) * 1000;
}

async function send(o: AnchoringOptions, anchors: Anchor[], now: number, report: AnchoringReport) {
  if (anchors.length === 0) return;
  // Marked before the send: a crash after it only delays the resend, never doubles it at once.
  for (const a of anchors) await o.log.markSent(a.seqno, now);
  try {
    await o.poster.post(anchors);
  } catch (e) {
    // Not sent at all (the post threw before the hand-over): not counted towards the backoff for
    // refused anchors, so an outage does not delay the batch once toncenter is back. A hand-over
    // that failed may have sent it: counted (a refused anchor backs off; never sent twice at once).
    if (e instanceof AnchorPostUncertainError)
      o.logger?.warn("anchor post may have gone out: counted as a send", { seqnos: anchors.map((a) => a.seqno), error: e.message });
    else for (const a of anchors) await o.log.unmarkSent(a.seqno);
    throw e;
  }
  report.sent.push(...anchors.map((a) => a.seqno));
  o.logger?.info("anchors sent", { seqnos: report.sent });
}

// ---------------------------------------------------------------- the watcher's check

export interface AnchorCheckOptions {
  log: StoreAnchorLog;
  reader: AnchorReader;
  alerts: Alerts;
  /** ms */
  now: () => number;
  /** How long receipts may wait for an anchor before `anchor.overdue` (e.g. 3 intervals). */
  overdueSeconds: number;
}

export interface AnchorCheckReport {
  chainSeqno: number | null;
  coordinatorSeqno: number;
  mismatch: boolean;
  overdue: boolean;
}

export async function checkAnchors(o: AnchorCheckOptions): Promise<AnchorCheckReport> {
  // The chain first, then the log: the anchorer (its own function) cuts a batch before it posts
  // it, so a log read after the chain read is never behind it. Read the other way round, a
  // batch cut and landed between the two reads looked like a chain ahead of the log: a false
  // critical mismatch.
  let chain: ChainAnchor;
  try {
    chain = await o.reader.latest();
  } catch (e) {
    const coordinatorSeqno = await o.log.latestSeqno();
    await o.alerts.raise({
      key: "anchor.reader-error",
      severity: "warning",
      title: "the anchor contract could not be read",
      details: { error: (e as Error).message },
    });
    return { chainSeqno: null, coordinatorSeqno, mismatch: false, overdue: false };
  }
  const coordinatorSeqno = await o.log.latestSeqno();
  const report: AnchorCheckReport = { chainSeqno: chain.seqno, coordinatorSeqno, mismatch: false, overdue: false };
  const mismatch = async (why: string, details: Record<string, unknown>) => {
    report.mismatch = true;
    await o.alerts.raise({
      key: "anchor.mismatch",
      severity: "critical",
      title: `the anchor on chain does not match the coordinator's log: ${why}`,
      details: { chainSeqno: chain.seqno, coordinatorSeqno, ...details },
    });
  };
  if (chain.seqno > coordinatorSeqno) {
    await mismatch("the chain holds anchors the log does not (database restored from an older state, or another poster)", {});
  } else if (chain.seqno >= 1) {
    const r = await o.log.record(chain.seqno);
    if (!r) await mismatch(`the log has no batch ${chain.seqno}`, {});
    else if (!sameAnchor(r, chain) || r.history !== chain.history) {
      await mismatch(`batch ${chain.seqno} differs from what was anchored (database edited?)`, {
        chain: anchorOf(chain),
        log: anchorOf(r),
      });
    }
  }
  const now = o.now();
  // the time-windowed log is read only for entries older than the bound (core/receipts/log.ts)
  const oldest = await o.log.oldestPending(now - o.overdueSeconds * 1000);
  if (oldest !== undefined && now - oldest > o.overdueSeconds * 1000) {
    report.overdue = true;
    await o.alerts.raise({
      key: "anchor.overdue",
      severity: "warning",
      title: `receipts or ledger movements have waited over ${o.overdueSeconds} s for an anchor`,
      details: { waitingSinceMs: oldest, chainSeqno: chain.seqno, coordinatorSeqno },
    });
  } else if (coordinatorSeqno > chain.seqno) {
    const cut = await o.log.record(chain.seqno + 1);
    if (cut && now - cut.preparedAt > o.overdueSeconds * 1000) {
      report.overdue = true;
      await o.alerts.raise({
        key: "anchor.overdue",
        severity: "warning",
        title: `anchor ${cut.seqno} was cut over ${o.overdueSeconds} s ago and is not on chain (wallet out of funds? endpoint down?)`,
        details: { preparedAtMs: cut.preparedAt, sentAtMs: cut.sentAt ?? null, chainSeqno: chain.seqno, coordinatorSeqno },
      });
    }
  }
  return report;
}
