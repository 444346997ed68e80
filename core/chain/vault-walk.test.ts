/**
 * The walk's store (vault-walk.ts): the same behaviour over the Store port (the Lambda) and in
 * memory (a reader built without a store): writes conditional on the version read, page tops
 * lowest lt first (by number, not by string), dropped pages gone with the walk's floor raised.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../local/memory-store";
import type { Item, Store } from "../ports";
import {
  memoryVaultWalk,
  StoreVaultWalk,
  VaultWalkConflictError,
  WALK_KEY,
  walkPageSk,
  type VaultWalk,
  type VaultWalkStore,
} from "./vault-walk";

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
    expect(stale).toMatchObject({ name: "VaultWalkConflictError", message: "the vault walk was moved by another pass" });
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

  it("drops pages of a walk that kept none (all of them expired) without failing", async () => {
    // Prepare
    const walks = make();
    await walks.save(walkOf({ id: "bare", version: 1, done: true }), null);
    // Act
    await walks.drop(walkOf({ id: "bare", version: 2, done: true, floor: "900" }), 1, [point(900)]);
    // Assess
    expect(await walks.load()).toMatchObject({ id: "bare", version: 2, floor: "900" });
    expect(await walks.pages("bare", 10)).toEqual([]);
  });
});

const NOW_MS = 1_750_000_000_500;
const clock = { now: () => NOW_MS };
const put = (store: Store, item: Item) => store.transact([{ op: "put", table: "chain", item }]);

describe("the walk over the Store reads only what it wrote", () => {
  it.each([
    ["no id", { id: undefined }],
    ["a version that is no number", { version: "1" }],
    ["a head that is null", { head: null }],
    ["a head whose lt is no string", { head: { lt: 1000, hash: "h" } }],
    ["a head without its lt", { head: { hash: "h" } }],
    ["a from without its hash", { from: { lt: "901" } }],
  ])("a walk item with %s is read as no walk (a new walk starts), not as a broken one", async (_what, bad) => {
    // Prepare
    const store = createMemoryStore({ clock });
    await put(store, { ...WALK_KEY, ...walkOf(), ...bad });
    // Act
    const loaded = await new StoreVaultWalk(store, clock.now).load();
    // Assess
    expect(loaded).toBeNull();
  });

  it("a page item that is no page top is skipped; the others are read", async () => {
    // Prepare
    const store = createMemoryStore({ clock });
    const walks = new StoreVaultWalk(store, clock.now);
    await walks.save(walkOf(), null, point(1000));
    await put(store, { pk: "walk:-1.1", sk: walkPageSk("950"), lt: 950 });
    // Act
    const tops = await walks.pages("-1.1", 10);
    // Assess
    expect(tops).toEqual([point(1000)]);
  });

  it("a page top expires 30 days after it was written (a replaced walk's pages go by themselves)", async () => {
    // Prepare
    const store = createMemoryStore({ clock });
    const walks = new StoreVaultWalk(store, clock.now);
    // Act
    await walks.save(walkOf(), null, point(1000));
    // Assess: ttl in seconds, as the store's ttl attribute is
    const item = await store.get("chain", { pk: "walk:-1.1", sk: walkPageSk("1000") });
    expect(item?.ttl).toBe(Math.ceil(NOW_MS / 1000) + 30 * 24 * 3600);
  });

  it("a store failure that is no condition is passed on as it is (the pass fails and retries), not read as another pass's move", async () => {
    // Prepare
    const failure = new Error("store: throttled");
    const inner = createMemoryStore({ clock });
    const store: Store = {
      get: (t, k, o) => inner.get(t, k, o),
      query: (t, pk, o) => inner.query(t, pk, o),
      transact: () => Promise.reject(failure),
    };
    // Act
    const e = await new StoreVaultWalk(store, clock.now).save(walkOf(), null, point(1000)).catch((x: unknown) => x);
    // Assess
    expect(e).toBe(failure);
  });
});
