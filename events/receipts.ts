/**
 * Wire shapes of issue 15: a receipt's inclusion proof (GET /v1/receipts/{jobId}/proof), the
 * anchor contract's and the policy registry's state as the local default's dev routes read
 * them from the sandbox, and the registry owners' dev operations.
 */
import { z } from "zod";
import { Receipt } from "./envelope";
import { JobId, NanoTonString } from "./common";

// Module-level schemas are built in /* @__PURE__ */ IIFEs so that bundles drop unused ones (see events/api.ts).

const Hex32 = /* @__PURE__ */ (() => z.string().regex(/^[0-9a-f]{64}$/, "must be 32 bytes of lower-case hex"))();
const Uint = /* @__PURE__ */ (() => z.number().int().nonnegative())();

/** One anchor as the contract's PostAnchor carries it. */
export const AnchorView = /* @__PURE__ */ (() =>
  z.object({ seqno: Uint, root: Hex32, firstSeq: Uint, count: Uint, ledgerSeqno: Uint, ledgerHash: Hex32 }))();
export type AnchorView = z.infer<typeof AnchorView>;

/**
 * A receipt's inclusion proof. `anchors` runs from the receipt's own anchor to the newest the
 * coordinator cut, and `prevHistory` is the history before the first of them: a verifier
 * replays them to the history the contract's getter shows (core/receipts/proof.ts), so none of
 * this has to be taken on the coordinator's word.
 */
export const ReceiptProofView = /* @__PURE__ */ (() =>
  z.object({
    jobId: JobId,
    receipt: Receipt,
    /** position in the receipt log, from 1 */
    seq: Uint,
    anchorSeqno: Uint,
    leafIndex: Uint,
    treeSize: Uint,
    /** RFC 6962 audit path, leaf to root */
    path: z.array(Hex32).max(64),
    prevHistory: Hex32,
    anchors: z.array(AnchorView).min(1).max(1000),
    /** the ReceiptAnchor contract the coordinator posts to (a verifier pins its own copy) */
    anchorAddress: z.string().optional(),
  }))();
export type ReceiptProofView = z.infer<typeof ReceiptProofView>;

/** The contract's `latest` getter. */
export const ChainAnchorView = /* @__PURE__ */ (() =>
  AnchorView.extend({ lastSeq: Uint, history: Hex32, postedAt: Uint, address: z.string() }))();
export type ChainAnchorView = z.infer<typeof ChainAnchorView>;

/** The registry's policy, bigints as decimal strings. */
export const RegistryPolicyBody = /* @__PURE__ */ (() =>
  z.object({
    coordinatorKey: Hex32,
    // the registry stores the weights in 32 bits
    fees: z.object({
      pricePerToken: NanoTonString,
      promptBps: Uint.min(1).max(0xffff_ffff),
      completionBps: Uint.min(1).max(0xffff_ffff),
      operatorFeeBps: Uint.max(10_000),
    }),
    images: z.array(Hex32).max(1000),
    models: z.record(Hex32, NanoTonString),
  }))();
export type RegistryPolicyBody = z.infer<typeof RegistryPolicyBody>;

export const PolicyStateView = /* @__PURE__ */ (() =>
  z.object({
    address: z.string(),
    version: Uint,
    /** chain time (s) of the last executed change */
    updatedAt: Uint,
    /** chain time (s) of the state read */
    readAt: Uint,
    policy: RegistryPolicyBody,
    multisig: z.object({ threshold: Uint, ownerCount: Uint, timelock: Uint, nextProposalId: Uint }),
    proposals: z.array(
      z.object({ id: Uint, proposer: Uint, baseVersion: Uint, approvals: z.array(Uint), readyAt: Uint, policy: RegistryPolicyBody }),
    ),
  }))();
export type PolicyStateView = z.infer<typeof PolicyStateView>;

export const DevPolicyProposeRequest = /* @__PURE__ */ (() => z.object({ owner: Uint.max(15), policy: RegistryPolicyBody }))();
// id: the registry stores a proposal id as uint32 (contracts/registry.tact); a larger one failed to build its message (a 500)
export const DevPolicyVoteRequest = /* @__PURE__ */ (() => z.object({ owner: Uint.max(15), id: Uint.min(1).max(0xffff_ffff) }))();
export const DevPolicyOpView = /* @__PURE__ */ (() =>
  z.object({
    success: z.boolean(),
    /** the registry's exit code by name (ERR_...) when it refused */
    error: z.string().optional(),
    /** the proposal's id (propose) */
    id: Uint.optional(),
  }))();
export type DevPolicyOpView = z.infer<typeof DevPolicyOpView>;
