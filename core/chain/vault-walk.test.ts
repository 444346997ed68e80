/**
 * The walk's store (vault-walk.ts): the same behaviour over the Store port (the Lambda) and in
 * memory (a reader built without a store): writes conditional on the version read, page tops
 * lowest lt first (by number, not by string), dropped pages gone with the walk's floor raised.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../local/memory-store";
import { memoryVaultWalk, StoreVaultWalk, VaultWalkConflictError, type VaultWalk, type VaultWalkStore } from "./vault-walk";

const point = (lt: number) => ({ lt: String(lt), hash: Buffer.alloc(32, lt % 256).toString("base64") });
const walkOf = (over: Partial<VaultWalk> = {}): VaultWalk => ({
  id: "-1.1",
  version: 1,
  lo: "-1",
  head: point(1000),
  from: point(901),
  done: false,
  floor: "-1",
  ...over,
});

describe.each([
  ["over the Store", () => new StoreVaultWalk(createMemoryStore())],
  ["in memory", () => memoryVaultWalk()],
] as [string, () => VaultWalkStore][])("the vault walk's store, %s", (_name, make) => {
  it("keeps the walk and its page tops, lowest lt first by number (9 before 10, 99 before 1000)", async () => {
    // Prepare
    const walks = make();
    // Act
    await walks.save(walkOf({ version: 1 }), null, point(1000));
    await walks.save(walkOf({ version: 2 }), 1, point(99));
    await walks.save(walkOf({ version: 3, done: true }), 2, point(9));
    await walks.save(walkOf({ version: 4, done: true }), 3, point(10));
    // Assess
    expect(await walks.load()).toEqual(walkOf({ version: 4, done: true }));
    expect((await walks.pages("-1.1", 10)).map((p) => p.lt)).toEqual(["9", "10", "99", "1000"]);
    expect((await walks.pages("-1.1", 2)).map((p) => p.lt)).toEqual(["9", "10"]);
    expect(await walks.pages("other", 10)).toEqual([]);
  });

  it("refuses a write from a version no longer stored (another pass moved the walk), and a second first walk", async () => {
    // Prepare
    const walks = make();
    await walks.save(walkOf({ version: 1 }), null, point(1000));
    await walks.save(walkOf({ version: 2 }), 1, point(900));
    // Act
    const stale = await walks.save(walkOf({ version: 2 }), 1, point(800)).catch((e: unknown) => e);
    const second = await walks.save(walkOf({ id: "x", version: 1 }), null).catch((e: unknown) => e);
    const staleDrop = await walks.drop(walkOf({ version: 2, floor: "1000" }), 1, [point(1000)]).catch((e: unknown) => e);
    // Assess: nothing of them written
    expect([stale, second, staleDrop].map((e) => e instanceof VaultWalkConflictError && e.code)).toEqual([
      "walk_conflict",
      "walk_conflict",
      "walk_conflict",
    ]);
    expect((await walks.load())?.version).toBe(2);
    expect((await walks.pages("-1.1", 10)).map((p) => p.lt)).toEqual(["900", "1000"]);
  });

  it("drops pages with the floor raised, in one write", async () => {
    // Prepare
    const walks = make();
    await walks.save(walkOf({ version: 1, done: true }), null, point(1000));
    await walks.save(walkOf({ version: 2, done: true }), 1, point(900));
    await walks.save(walkOf({ version: 3, done: true }), 2, point(800));
    // Act
    await walks.drop(walkOf({ version: 4, done: true, floor: "900" }), 3, [point(800), point(900)]);
    // Assess
    expect(await walks.load()).toMatchObject({ version: 4, floor: "900" });
    expect((await walks.pages("-1.1", 10)).map((p) => p.lt)).toEqual(["1000"]);
  });
});
