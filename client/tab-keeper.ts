/**
 * The SDK's side of tabs (issue 12, core/jobs/tabs.ts): with `CocoonClient({ tabs })` every job
 * takes the next slot of a kept open tab instead of holding for itself, and a tab is opened when
 * none fits. Nothing here closes a tab: the coordinator does, after it expires.
 *
 * A slot is never used twice: it is taken before its job's first submit and never given back,
 * whatever that submit's outcome (a job id whose submit may have landed is spent). One open at a
 * time: jobs that find no slot wait for the same open. An open that fails (402 insufficient
 * funds, anything else) makes jobs hold for themselves for a minute before the next try. An open
 * whose answer never came (the connection dropped, a 5xx) may have opened its tab all the same:
 * the next open with the same body is sent under the same Idempotency-Key, so it answers that tab
 * instead of holding slots × slotCost a second time beside a tab nobody draws on.
 */
import { randomBytes } from "node:crypto";
import { ApiError } from "../api-client/api";
import { MAX_TAB_SLOTS, type OpenTabRequest, type Tab, type TabView } from "../events/api";

export interface TabOptions {
  /** jobs per tab (default 16, at most 32): the tab holds slots × the job's maximum cost while it is open */
  slots?: number;
  /** how long jobs may be submitted under a tab (default 300 s, 60–3600); it closes 2 min after that, once its jobs ended */
  ttlSeconds?: number;
}

/** A job's place under a tab: what its submit carries (SubmitRequest.tab). */
export interface TabSlot {
  tab: Tab;
  slot: number;
}

/** A tab the client keeps, for callers to see (CocoonClient.openTabs). */
export interface KeptTabView {
  tabId: string;
  slots: number;
  used: number;
  slotCost: string;
  expiresAt: number;
}

/** A tab is not drawn on this close to its expiry: a submit must reach the coordinator before it. */
const EXPIRY_MARGIN_MS = 10_000;
/** After an open fails, jobs hold for themselves this long before the next try. */
const RETRY_OPEN_AFTER_MS = 60_000;

interface Kept {
  tab: Tab;
  next: number;
  /**
   * ms on this client's clock: when the open was sent + the ttl. The tab's expiresAt is on the
   * coordinator's clock; measured against ours, a clock ahead by more than ttl − 10 s made every
   * new tab look spent, and take() opened tab after tab (each holding slots × slotCost).
   */
  deadline: number;
}

/** A whole number from an option, or a clear error (NaN would pass Math.max/min and every open would be refused). */
function wholeOption(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isFinite(v)) throw new RangeError(`tabs.${name} must be a finite number, got ${v}`);
  return Math.floor(v);
}

export class TabKeeper {
  private kept: Kept[] = [];
  private opening: Promise<Kept | undefined> | undefined;
  private pausedUntil = 0;
  /** the last open whose answer never came: its key and when it was sent, for the next open of the same body */
  private unanswered: { body: OpenTabRequest; key: string; sentAt: number } | undefined;
  private readonly slots: number;
  private readonly ttlSeconds: number;

  constructor(
    o: TabOptions,
    private readonly open: (body: OpenTabRequest, idempotencyKey: string) => Promise<TabView>,
    private readonly now: () => number,
  ) {
    this.slots = Math.max(1, Math.min(MAX_TAB_SLOTS, wholeOption("slots", o.slots, 16)));
    this.ttlSeconds = Math.max(60, Math.min(3600, wholeOption("ttlSeconds", o.ttlSeconds, 300)));
  }

  /**
   * A slot for a job that holds at most `maxCost`, from a kept tab or a new one of `slotCost`
   * (at least maxCost); undefined when no tab could be opened: the job holds for itself.
   */
  async take(maxCost: bigint, slotCost: bigint): Promise<TabSlot | undefined> {
    for (;;) {
      const t = this.usable(maxCost);
      if (t) return { tab: t.tab, slot: t.next++ };
      if (this.now() < this.pausedUntil) return undefined;
      this.opening ??= this.openOne(slotCost > maxCost ? slotCost : maxCost).finally(() => (this.opening = undefined));
      // another job may take the new tab's last slot first: look again (an open that failed pauses opens)
      if (!(await this.opening)) return undefined;
    }
  }

  /** Stop drawing on this tab (the coordinator refused a job under it). */
  drop(tabId: string) {
    this.kept = this.kept.filter((k) => k.tab.tabId !== tabId);
  }

  view(): KeptTabView[] {
    return this.kept.map((k) => ({
      tabId: k.tab.tabId,
      slots: k.tab.slots,
      used: k.next,
      slotCost: k.tab.slotCost,
      expiresAt: k.tab.expiresAt,
    }));
  }

  private usable(maxCost: bigint): Kept | undefined {
    const now = this.now();
    this.kept = this.kept.filter((k) => k.next < k.tab.slots && k.deadline - now > EXPIRY_MARGIN_MS);
    return this.kept.find((k) => BigInt(k.tab.slotCost) >= maxCost);
  }

  private async openOne(slotCost: bigint): Promise<Kept | undefined> {
    const body: OpenTabRequest = { slots: this.slots, slotCost: slotCost.toString(), ttlSeconds: this.ttlSeconds };
    // an open whose answer was lost is asked again under its key (the coordinator answers the tab
    // it opened, holding nothing more), and that tab's life counts from when it was first sent
    const u = this.unanswered;
    const again = u && u.body.slots === body.slots && u.body.slotCost === body.slotCost && u.body.ttlSeconds === body.ttlSeconds;
    const key = again ? u.key : `tab-${randomBytes(12).toString("base64url")}`;
    const sentAt = again ? u.sentAt : this.now();
    // the coordinator opened the tab after this, so it takes jobs for at least ttl from here
    const deadline = sentAt + this.ttlSeconds * 1000;
    try {
      const view = await this.open(body, key);
      if (again) this.unanswered = undefined;
      const k = { tab: view.tab, next: 0, deadline };
      this.kept.push(k);
      return k;
    } catch (e) {
      // a 4xx (402 insufficient funds, 422, ...) opened nothing; anything else may have opened the tab
      const openedNothing = e instanceof ApiError && e.status >= 400 && e.status < 500;
      if (!openedNothing) this.unanswered = { body, key, sentAt };
      else if (again) this.unanswered = undefined;
      this.pausedUntil = this.now() + RETRY_OPEN_AFTER_MS;
      return undefined;
    }
  }
}

/** Refusals of a job under a tab that say the tab (or that slot) is no good: drop it and redo the job. */
export const tabRefused = (code: string) =>
  ["tab_expired", "bad_tab", "not_your_tab", "job_exists", "idempotency_key_reused"].includes(code);
