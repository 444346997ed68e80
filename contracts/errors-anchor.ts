/**
 * The receipt anchor's exit codes by name. Mirrors the constants in contracts/anchor.tact
 * (contracts/anchor.test.ts checks that both agree).
 */
export const AnchorExit = {
  ERR_NOT_COORDINATOR: 1101, // PostAnchor from anyone but the coordinator's wallet
  ERR_ANCHOR_SEQNO: 1102, // seqno is not the latest + 1 (replayed, skipped or reordered anchor)
  ERR_ANCHOR_RANGE: 1103, // firstSeq is not the previous lastSeq + 1 (gap or overlap in the receipt log)
  ERR_LEDGER_REWOUND: 1104, // ledgerSeqno below the anchored one (ledger restored from an old state)
  ERR_LEDGER_FORK: 1105, // same ledgerSeqno, different ledger hash (ledger edited)
} as const;

export type AnchorExitName = keyof typeof AnchorExit;

export function anchorExitName(code: number): AnchorExitName | undefined {
  return (Object.keys(AnchorExit) as AnchorExitName[]).find((k) => AnchorExit[k] === code);
}
