/**
 * A ChainReader over two or more independent toncenter-compatible endpoints that proceeds only on
 * what all of them agree on (session 40, Known limits: the watcher trusted one toncenter for the
 * vault's history and balance, with no proof). Each endpoint is a member: its own reader of the
 * vault's history (a VaultHistoryReader over its own ChainCheckedHistory) and its own view of the
 * vault's state (getAddressInformation: sync time, last transaction, balance).
 *
 *   history    the transactions every member returns, up to the first where they part: the same
 *              transaction (by hash: computed here from the BOC, so it covers every field the
 *              watcher reads) at each position, or a member that has none there. A member that
 *              shows a transaction no other has is lagging, or lying: its extra transactions are
 *              not credited. It is called a lie when a member that has not got it synced long
 *              after it (its sync time more than `lagMarginMs` past the transaction's time, its last
 *              transaction older): that member's state would hold it.
 *   state      (chainView) all members' last transactions agree: the earliest sync time vouches.
 *              Members one or more transactions apart (honest lag between two indexers): the
 *              oldest state is vouched for, at the earliest sync time less `lagMarginMs`, so a
 *              transaction a lagging member hides within that margin cannot be vouched away
 *              (one older than that contradicts the member's state, above).
 *   balance    read with each member's last transaction: all at one transaction must agree on the
 *              balance; members apart, the balance of those at the last transaction the history
 *              agreed (the ledger's cursor: what the watcher compares liabilities with), else the
 *              lowest (a lie can only raise a false shortfall, never hide one).
 *
 * Disagreement (two transactions at one position, two hashes at one lt, two balances at one
 * transaction, or a lie as above) raises chain.endpoints-disagree (critical, with every member's
 * view) and throws EndpointsDisagreeError: the watcher credits nothing of that read and releases
 * nothing this pass. A member that does not answer raises chain.endpoint-down (warning) and throws
 * EndpointDownError, with the same effect: all configured endpoints must answer (safety over
 * availability: with two endpoints, going on with one is no quorum, and taking the honest one
 * down is exactly what a hostile one would do). The watcher's own chain.reader-error and, past
 * its threshold, chain.lag (critical) follow.
 */
import type { Alerts } from "../../core/ports";
import type { ChainReader, ChainView, Cursor, VaultTx } from "../../core/chain/ports";
import type { TonAddress } from "./ton-cells";
import type { ToncenterContractState } from "./toncenter-client";

/** One endpoint's view of the vault's state. */
export interface MemberState {
  /** its sync time (ms) */
  at: number;
  /** the vault's last transaction it has (hash in hex); null when none */
  lastTx: { lt: string; hash: string } | null;
  balance: bigint;
}

export interface QuorumMember {
  /** names the endpoint in alerts: its host, never its URL (a key may be in it) */
  name: string;
  reader: ChainReader;
  state(): Promise<MemberState>;
}

export interface QuorumOptions {
  alerts: Alerts;
  /**
   * How long after a transaction's time an honest endpoint may still not have it in its state
   * (a shard block is referenced by a masterchain block seconds later); default 60 s.
   */
  lagMarginMs?: number;
}

/** The endpoints answered differently about the same thing: nothing of it is used. */
export class EndpointsDisagreeError extends Error {
  override readonly name = "EndpointsDisagreeError";
  readonly code = "endpoints_disagree";
}

/** An endpoint did not answer: with all endpoints required, nothing is read this time. */
export class EndpointDownError extends Error {
  override readonly name = "EndpointDownError";
  readonly code = "endpoint_down";
}

const DEFAULT_LAG_MARGIN_MS = 60_000;

const ltOf = (s: MemberState) => (s.lastTx ? BigInt(s.lastTx.lt) : -1n);
const txView = (t: VaultTx | undefined) => (t ? { lt: t.lt, hash: t.hash, utime: t.utime, kind: t.kind } : null);
const stateView = (s: MemberState) => ({ at: s.at, lastTx: s.lastTx, balance: s.balance.toString() });

export class QuorumChainReader implements ChainReader {
  private readonly margin: number;
  /** the members' states as chainView read them (this pass); read anew when none */
  private states: MemberState[] | null = null;
  /** the last transaction the history agreed, as served */
  private agreed: Cursor | null = null;

  constructor(
    private readonly members: QuorumMember[],
    private readonly o: QuorumOptions,
  ) {
    if (members.length < 2) throw new TypeError("a quorum needs two members or more");
    this.margin = o.lagMarginMs ?? DEFAULT_LAG_MARGIN_MS;
  }

  async chainView(): Promise<ChainView> {
    const states = await this.readStates();
    this.states = states;
    await this.sameTxSameHash(states);
    const lts = states.map(ltOf);
    const lowest = lts.reduce((a, b) => (b < a ? b : a));
    const apart = lts.some((lt) => lt !== lowest);
    const at = Math.min(...states.map((s) => s.at)) - (apart ? this.margin : 0);
    return { at, lastLt: lowest < 0n ? null : lowest.toString() };
  }

  async getVaultTransactions(after: Cursor | null, limit: number): Promise<{ txs: VaultTx[]; cursor: Cursor | null }> {
    const pages = await this.all("history", (m) => m.reader.getVaultTransactions(after, limit));
    const shortest = Math.min(...pages.map((p) => p.txs.length));
    for (let i = 0; i < shortest; i++) {
      const at = pages.map((p) => p.txs[i]!);
      if (at.some((t) => t.hash !== at[0]!.hash || t.lt !== at[0]!.lt)) {
        await this.disagree("history", `the endpoints return different transactions after ${after?.lt ?? "the start"}`, {
          after,
          views: this.members.map((m, k) => ({ endpoint: m.name, tx: txView(at[k]) })),
        });
      }
    }
    // Past the common prefix: a member's extra transactions are lag, unless a member without them
    // synced well after them (its state would hold them): then one of the two lies.
    const states = this.states ?? (this.states = await this.readStates());
    for (const [k, p] of pages.entries()) {
      const first = p.txs[shortest];
      if (!first) continue;
      const contradicted = this.members.findIndex(
        (_, e) =>
          pages[e]!.txs.length === shortest && BigInt(first.lt) > ltOf(states[e]!) && first.utime * 1000 < states[e]!.at - this.margin,
      );
      if (contradicted >= 0) {
        await this.disagree(
          "history",
          `${this.members[k]!.name} shows a transaction that ${this.members[contradicted]!.name}, synced after it, has not`,
          {
            after,
            views: this.members.map((m, e) => ({ endpoint: m.name, tx: txView(pages[e]!.txs[shortest]), state: stateView(states[e]!) })),
          },
        );
      }
    }
    const txs = pages[0]!.txs.slice(0, shortest);
    const last = txs[txs.length - 1];
    const cursor = last ? { lt: last.lt, hash: last.hash } : after;
    if (last) this.agreed = cursor;
    return { txs, cursor };
  }

  async getVaultBalance(): Promise<bigint> {
    const states = await this.readStates();
    await this.sameTxSameHash(states);
    // The states at one transaction must show one balance.
    for (const s of states) {
      const peers = states.filter((x) => ltOf(x) === ltOf(s));
      if (peers.some((x) => x.balance !== s.balance)) {
        await this.disagree("balance", `the endpoints report different balances at the vault's transaction ${s.lastTx?.lt ?? "none"}`, {
          views: this.members.map((m, e) => ({ endpoint: m.name, state: stateView(states[e]!) })),
        });
      }
    }
    const atCursor = this.agreed ? states.filter((s) => s.lastTx?.hash === this.agreed!.hash) : [];
    const pick = atCursor.length > 0 ? atCursor : states;
    return pick.map((s) => s.balance).reduce((a, b) => (b < a ? b : a));
  }

  /** Two members at one lt with two hashes: two histories. */
  private async sameTxSameHash(states: MemberState[]): Promise<void> {
    for (const s of states) {
      if (!s.lastTx) continue;
      if (states.some((x) => x.lastTx?.lt === s.lastTx!.lt && x.lastTx.hash !== s.lastTx!.hash)) {
        await this.disagree("state", `the endpoints report different transactions at the vault's lt ${s.lastTx.lt}`, {
          views: this.members.map((m, e) => ({ endpoint: m.name, state: stateView(states[e]!) })),
        });
      }
    }
  }

  private readStates(): Promise<MemberState[]> {
    return this.all("state", (m) => m.state());
  }

  /** Asks every member at once; any that fails fails the read (all are required). */
  private async all<T>(what: string, ask: (m: QuorumMember) => Promise<T>): Promise<T[]> {
    const answers = await Promise.allSettled(this.members.map(ask));
    const down = answers.flatMap((a, k) =>
      a.status === "rejected"
        ? [{ endpoint: this.members[k]!.name, error: a.reason instanceof Error ? a.reason.message : String(a.reason) }]
        : [],
    );
    if (down.length > 0) {
      await this.o.alerts.raise({
        key: "chain.endpoint-down",
        severity: "warning",
        title:
          "a chain endpoint of the quorum did not answer: the watcher credits and releases nothing until every configured endpoint answers",
        details: { what, down },
      });
      throw new EndpointDownError(`chain endpoint ${down.map((d) => `${d.endpoint} (${d.error})`).join(", ")} did not answer (${what})`);
    }
    return answers.map((a) => (a as PromiseFulfilledResult<T>).value);
  }

  private async disagree(what: string, title: string, details: Record<string, unknown>): Promise<never> {
    await this.o.alerts.raise({
      key: "chain.endpoints-disagree",
      severity: "critical",
      title: `${title}: nothing of it is credited or released (one endpoint is broken or lying)`,
      details: { what, ...details },
    });
    throw new EndpointsDisagreeError(title);
  }
}

/** How an endpoint is named in alerts and logs: its place and host (a provider's key may be in its path). */
export const endpointName = (url: string, index: number): string => `#${index + 1} ${new URL(url).host}`;

/** A toncenter endpoint as a member: `reader` reads its history, its getAddressInformation its state. */
export function toncenterMember(
  name: string,
  client: { getContractState(address: TonAddress): Promise<ToncenterContractState> },
  vault: TonAddress,
  reader: ChainReader,
): QuorumMember {
  return {
    name,
    reader,
    state: async () => {
      const s = await client.getContractState(vault);
      const last = s.lastTransaction;
      return {
        at: s.timestampt * 1000,
        lastTx: last ? { lt: last.lt, hash: Buffer.from(last.hash, "base64").toString("hex") } : null,
        balance: s.balance,
      };
    },
  };
}
