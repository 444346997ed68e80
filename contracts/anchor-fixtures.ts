/**
 * Test/bench fixtures for the receipt anchor on a @ton/sandbox Blockchain: a deployed anchor
 * whose coordinator is a sandbox treasury, a stranger, a fixed clock (reproducible gas and
 * fees), and a factory for well-formed next anchors.
 */
import { createHash } from "node:crypto";
import { Blockchain, type SandboxContract, type TreasuryContract } from "@ton/sandbox";
import { type Transaction, toNano } from "@ton/core";
import { GENESIS_HEAD, type Anchor, type AnchorHead } from "../core/receipts/anchor";
import { AnchorContract } from "./anchor";

export const ANCHOR_NOW = 1_750_000_000;
export const ANCHOR_RESERVE = toNano("0.5");

export interface AnchorFixture {
  blockchain: Blockchain;
  coordinator: SandboxContract<TreasuryContract>;
  stranger: SandboxContract<TreasuryContract>;
  anchor: SandboxContract<AnchorContract>;
  deployTx: Transaction[];
  /** Off-chain head kept in step with what the tests post successfully. */
  head: AnchorHead;
}

export async function anchorFixture(opts: { now?: number } = {}): Promise<AnchorFixture> {
  const blockchain = await Blockchain.create();
  blockchain.now = opts.now ?? ANCHOR_NOW;
  const coordinator = await blockchain.treasury("coordinator");
  const stranger = await blockchain.treasury("stranger");
  const anchor = blockchain.openContract(await AnchorContract.createFromConfig({ coordinator: coordinator.address }));
  const res = await anchor.sendDeploy(coordinator.getSender(), ANCHOR_RESERVE);
  return { blockchain, coordinator, stranger, anchor, deployTx: res.transactions, head: GENESIS_HEAD };
}

const h = (label: string) => createHash("sha256").update(label).digest("hex");

/** A well-formed anchor after `head`: `count` receipts, `movements` new ledger movements (synthetic hashes). */
export function nextAnchor(head: AnchorHead, o: { count?: number; movements?: number } = {}): Anchor {
  const count = o.count ?? 10;
  const movements = o.movements ?? 3;
  return {
    seqno: head.seqno + 1,
    root: h(`root ${head.seqno + 1}`),
    firstSeq: head.lastSeq + 1,
    count,
    ledgerSeqno: head.ledgerSeqno + movements,
    ledgerHash: movements === 0 ? head.ledgerHash : h(`ledger ${head.ledgerSeqno + movements}`),
  };
}
