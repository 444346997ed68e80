/**
 * The local default's anchorer, beside the chain watcher: every `tickMs` one runAnchoring
 * (cut a batch when `intervalSeconds` passed since the last anchor and something happened,
 * post it to the sandbox's ReceiptAnchor; resend what the chain lost) and one checkAnchors
 * (anchor.overdue / anchor.mismatch into the watcher's alert list). Runs never overlap.
 * A job's receipt is provable within intervalSeconds + tickMs of its settlement.
 */
import type { Alerts, Log } from "../core/ports";
import { DEFAULT_ANCHOR_LIMITS } from "../core/receipts/anchor";
import { checkAnchors, runAnchoring, type AnchorCheckReport, type AnchoringReport } from "../core/receipts/anchoring";
import type { StoreAnchorLog } from "../core/receipts/log";
import type { LocalContracts } from "./contracts";

export interface LocalAnchoringOptions {
  log: StoreAnchorLog;
  contracts: LocalContracts;
  alerts: Alerts;
  logger: Log;
  now: () => number;
  /** default 1000; 0: only runOnce */
  tickMs?: number;
  /** default 3 */
  intervalSeconds?: number;
  /** default 60 */
  overdueSeconds?: number;
}

export interface LocalAnchoring {
  runOnce(): Promise<{ anchoring: AnchoringReport; check: AnchorCheckReport }>;
  stop(): Promise<void>;
}

export function startLocalAnchoring(o: LocalAnchoringOptions): LocalAnchoring {
  let tail: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const pass = async () => {
    const anchoring = await runAnchoring({
      log: o.log,
      reader: o.contracts.anchorReader,
      poster: o.contracts.anchorPoster,
      now: o.now,
      intervalSeconds: o.intervalSeconds ?? 3,
      limits: DEFAULT_ANCHOR_LIMITS,
      resendAfterSeconds: 10, // the sandbox executes a send at once: a missing anchor was lost, not in flight
      logger: o.logger,
    });
    const check = await checkAnchors({
      log: o.log,
      reader: o.contracts.anchorReader,
      alerts: o.alerts,
      now: o.now,
      overdueSeconds: o.overdueSeconds ?? 60,
    });
    return { anchoring, check };
  };
  const runOnce = () => {
    const p = tail.then(pass);
    tail = p.catch(() => undefined);
    return p;
  };
  let busy = false;
  const tick = o.tickMs ?? 1000;
  const timer =
    tick > 0
      ? setInterval(() => {
          if (busy || stopped) return;
          busy = true;
          runOnce()
            .catch((e) => o.logger.error("anchoring pass failed", { error: e instanceof Error ? e.message : String(e) }))
            .finally(() => (busy = false));
        }, tick)
      : undefined;
  timer?.unref();
  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await tail;
    },
  };
}
