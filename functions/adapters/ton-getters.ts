/**
 * The two get-methods the scheduled functions read, through toncenter-client.ts and with no TON
 * library (issue 12): the ReceiptAnchor's `latest` (core/receipts/proof.ts AnchorReader) and the
 * PolicyRegistry's `policyState` (core/policy-registry.ts PolicySource). They decode the stack as
 * the Tact-generated bindings do (contracts/build/*: loadGetterTupleAnchorState,
 * loadGetterTuplePolicyState, the maps with Dictionary.loadDirect) and return what the wrappers
 * over them return (contracts/anchor.ts getLatest, ton/registry-source.ts ChainPolicySource);
 * toncenter-client.test.ts reads both ways from one toncenter double and compares.
 *
 * The local default and the CLI keep the wrappers over @ton/core (ton/anchor.ts,
 * ton/registry-source.ts): they do not ship as Lambda bundles.
 */
import type { PolicyReading, PolicySource } from "../../core/policy-registry";
import type { AnchorReader, ChainAnchor } from "../../core/receipts/proof";
import { parseDict, type Slice } from "./ton-boc";
import type { TonAddress } from "./ton-cells";
import type { ToncenterClient, TupleReader } from "./toncenter-client";

type Getters = Pick<ToncenterClient, "runMethod" | "getContractState">;

const hex32 = (n: bigint) => n.toString(16).padStart(64, "0");

/** = contracts/anchor.ts AnchorContract.getLatest over the Tact binding's loadGetterTupleAnchorState. */
export function decodeAnchorState(r: TupleReader): ChainAnchor {
  const [seqno, root, firstSeq, count, lastSeq, ledgerSeqno, ledgerHash, history, postedAt] = Array.from({ length: 9 }, () =>
    r.readBigNumber(),
  ) as [bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint];
  return {
    seqno: Number(seqno),
    root: hex32(root),
    firstSeq: Number(firstSeq),
    count: Number(count),
    lastSeq: Number(lastSeq),
    ledgerSeqno: Number(ledgerSeqno),
    ledgerHash: hex32(ledgerHash),
    history: hex32(history),
    postedAt: Number(postedAt),
  };
}

/** The anchor contract's `latest` getter through toncenter (the anchorer's and the watcher's AnchorReader). */
export class ToncenterAnchorReader implements AnchorReader {
  constructor(
    private readonly client: Pick<ToncenterClient, "runMethod">,
    readonly anchor: TonAddress,
  ) {}

  async latest(): Promise<ChainAnchor> {
    return decodeAnchorState((await this.client.runMethod(this.anchor, "latest")).stack);
  }
}

/**
 * = the Tact binding's loadGetterTuplePolicyState, then ton/registry-source.ts's conversions
 * (fromTactPolicy, fromContractPolicy): version, updatedAt, coordinatorKey, the four fees, then
 * the image and model maps as dictionary roots (or null when empty).
 */
export function decodePolicyState(r: TupleReader): Omit<PolicyReading, "readAt"> {
  const version = r.readBigNumber();
  const updatedAt = r.readBigNumber();
  const coordinatorKey = r.readBigNumber();
  const pricePerToken = r.readBigNumber();
  const promptBps = r.readBigNumber();
  const completionBps = r.readBigNumber();
  const operatorFeeBps = r.readBigNumber();
  const imagesRoot = r.readCellOpt();
  const modelsRoot = r.readCellOpt();
  const images = parseDict(imagesRoot?.beginParse() ?? null, 256, (s: Slice) => s.loadBit());
  const models = parseDict(modelsRoot?.beginParse() ?? null, 256, (s: Slice) => s.loadVarUintBig(4));
  return {
    version: Number(version),
    updatedAt: Number(updatedAt),
    policy: {
      coordinatorKey: Buffer.from(hex32(coordinatorKey), "hex").toString("hex"),
      fees: {
        pricePerToken,
        promptBps: Number(promptBps),
        completionBps: Number(completionBps),
        operatorFeeBps: Number(operatorFeeBps),
      },
      images: [...images.keys()].map(hex32).sort(),
      models: Object.fromEntries([...models.entries()].map(([k, v]) => [hex32(k), v] as const).sort(([a], [b]) => (a < b ? -1 : 1))),
    },
  };
}

/** Chain time (unix s) of the state a read sees: toncenter's sync time. */
export type ChainClock = () => Promise<number>;

/** toncenter: the time of the masterchain state getAddressInformation answered from (its `timestampt`, sic). */
export const toncenterClock =
  (client: Pick<ToncenterClient, "getContractState">, address: TonAddress): ChainClock =>
  async () =>
    (await client.getContractState(address)).timestampt;

/** The registry's `policyState` through toncenter (= ton/registry-source.ts ChainPolicySource over TonClient). */
export class ToncenterPolicySource implements PolicySource {
  constructor(
    private readonly client: Getters,
    readonly registry: TonAddress,
    private readonly chainTime: ChainClock = toncenterClock(client, registry),
  ) {}

  async read(): Promise<PolicyReading> {
    // The time first: the getter then runs on a state at least this new, so the age is never understated.
    const readAt = await this.chainTime();
    const s = decodePolicyState((await this.client.runMethod(this.registry, "policyState")).stack);
    return { ...s, readAt };
  }
}
