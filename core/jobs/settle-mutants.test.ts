/**
 * What session 36's mutation run of settleTogether and its lane (./settle.ts) found untested:
 * its guard (at most MAX_SETTLE_BATCH settlements, all of one worker) and how the groups queued
 * behind a commit in flight are packed: whole groups, as many as fit in MAX_SETTLE_BATCH, and
 * never more. The store here only records each transaction (the ledger's own tests cover what
 * a transaction writes).
 */
import { describe, expect, it } from "vitest";
import { settleMovement } from "../ledger";
import type { Store, WriteOp } from "../ports";
import { MAX_SETTLE_BATCH, settleTogether, type Settlement } from "./settle";
import { settleRecords } from "./testing";

/** Settlement `i` of `workerId`: a job's movement and its move to completed, nothing else. */
const settlement = (workerId: string, i: number): Settlement => ({
  workerId,
  movement: settleMovement(`job-${workerId}-${i}`, "requester-1", workerId, 100n, 60n, 1_000, 0),
  record: {
    op: "update",
    table: "jobs",
    key: { pk: `job-${workerId}-${i}`, sk: "job" },
    set: { status: "completed", settledInJob: true },
    when: { kind: "exists" },
  },
  extra: [],
  counters: { jobs: 1, promptTokens: 1, completionTokens: 1 },
});

/** A store whose transactions only record how many settlements each carried; the first waits for `release`. */
function recordingStore() {
  const sizes: number[] = [];
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const store = {
    async transact(ops: WriteOp[]) {
      const first = sizes.length === 0;
      sizes.push(settleRecords(ops).length);
      if (first) await held;
    },
  } as unknown as Store;
  return { store, sizes, release };
}

describe("settleTogether's guard", () => {
  it("refuses more than MAX_SETTLE_BATCH settlements, or settlements of two workers, before anything is queued", () => {
    // Prepare
    const { store, sizes } = recordingStore();
    const tooMany = Array.from({ length: MAX_SETTLE_BATCH + 1 }, (_, i) => settlement("w1", i));
    const twoWorkers = [settlement("w1", 0), settlement("w2", 1)];
    const otherFirst = [settlement("w2", 0), settlement("w1", 1), settlement("w1", 2)];
    // Act
    const many = () => settleTogether({ store }, tooMany);
    const mixed = () => settleTogether({ store }, twoWorkers);
    const mixedLater = () => settleTogether({ store }, otherFirst);
    // Assess
    const message = `settleTogether: at most ${MAX_SETTLE_BATCH} settlements, all of one worker`;
    expect(many).toThrow(message);
    expect(mixed).toThrow(message);
    expect(mixedLater).toThrow(message);
    expect(sizes).toEqual([]);
  });
});

describe("the groups queued behind a commit in flight", () => {
  it("commit as many whole groups as fit in MAX_SETTLE_BATCH together, and the next group in the next transaction", async () => {
    // Prepare: one settlement committing (held), then groups of 8, 8 and 1 queued behind it
    const { store, sizes, release } = recordingStore();
    const half = MAX_SETTLE_BATCH / 2;
    const first = settleTogether({ store }, [settlement("w1", 0)]);
    const a = settleTogether(
      { store },
      Array.from({ length: half }, (_, i) => settlement("w1", 1 + i)),
    );
    const b = settleTogether(
      { store },
      Array.from({ length: half }, (_, i) => settlement("w1", 1 + half + i)),
    );
    const c = settleTogether({ store }, [settlement("w1", 1 + MAX_SETTLE_BATCH)]);
    // Act
    release();
    const answers = await Promise.all([...first, ...a, ...b, ...c]);
    // Assess: 8 + 8 fill one transaction exactly; the last group does not fit beside them
    expect(sizes).toEqual([1, MAX_SETTLE_BATCH, 1]);
    expect(answers).toEqual(Array(2 + MAX_SETTLE_BATCH).fill("applied"));
  });
});
