/**
 * client/serve/items.ts: the output items a proxy keeps for a later item_reference — copies in and
 * out, a second answer under an id replacing the first, and the bound on their bytes, least recently
 * used first.
 */
import { describe, expect, it } from "vitest";
import { itemStore, type StoredItem } from "./items";

/** An assistant message item as /v1/responses answers it, `text` its one text part. */
const aMessage = (id: string, text = "hello"): StoredItem => ({
  id,
  type: "message",
  status: "completed",
  role: "assistant",
  content: [{ type: "output_text", text, annotations: [], logprobs: [] }],
});

const bytesOf = (item: StoredItem) => JSON.stringify(item).length;

describe("itemStore", () => {
  it("gives back an item it was given, by its id, and nothing for another id", () => {
    // Prepare
    const store = itemStore();
    // Act
    store.remember([aMessage("msg_a"), aMessage("msg_b", "bye")]);
    // Assess
    expect(store.recall("msg_b")).toStrictEqual(aMessage("msg_b", "bye"));
    expect(store.recall("msg_c")).toBeUndefined();
    expect(store.size.items).toBe(2);
  });

  it("keeps copies: the caller changing its item, or what it recalled, changes nothing kept", () => {
    // Prepare
    const store = itemStore();
    const given = aMessage("msg_a");
    store.remember([given]);
    // Act
    given.status = "incomplete";
    store.recall("msg_a")!.status = "failed";
    // Assess
    expect(store.recall("msg_a")!.status).toBe("completed");
  });

  it("keeps the latest item given under an id, counted once", () => {
    // Prepare
    const store = itemStore();
    store.remember([aMessage("msg_a", "first")]);
    // Act
    store.remember([aMessage("msg_a", "second")]);
    // Assess
    expect(store.recall("msg_a")).toStrictEqual(aMessage("msg_a", "second"));
    expect(store.size).toStrictEqual({ items: 1, bytes: bytesOf(aMessage("msg_a", "second")) });
  });

  it("forgets the oldest items first once they pass its bound on bytes", () => {
    // Prepare: room for two items of this size, not three
    const one = bytesOf(aMessage("msg_1"));
    const store = itemStore(one * 2 + one / 2);
    // Act
    store.remember([aMessage("msg_1"), aMessage("msg_2")]);
    store.remember([aMessage("msg_3")]);
    // Assess
    expect(store.recall("msg_1")).toBeUndefined();
    expect(store.recall("msg_2")).toBeDefined();
    expect(store.recall("msg_3")).toBeDefined();
    expect(store.size).toStrictEqual({ items: 2, bytes: one * 2 });
  });

  it("forgets the least recently used first: an item recalled since counts as new", () => {
    // Prepare: room for two items of this size, not three; the oldest recalled since it was kept
    const one = bytesOf(aMessage("msg_1"));
    const store = itemStore(one * 2 + one / 2);
    store.remember([aMessage("msg_1"), aMessage("msg_2")]);
    store.recall("msg_1");
    // Act
    store.remember([aMessage("msg_3")]);
    // Assess
    expect(store.recall("msg_1")).toBeDefined();
    expect(store.recall("msg_2")).toBeUndefined();
  });

  it("keeps none of an item larger than the whole bound, and forgets nothing for it", () => {
    // Prepare
    const small = aMessage("msg_1");
    const store = itemStore(bytesOf(small) * 2);
    store.remember([small]);
    // Act
    store.remember([aMessage("msg_big", "x".repeat(bytesOf(small) * 3))]);
    // Assess
    expect(store.recall("msg_big")).toBeUndefined();
    expect(store.recall("msg_1")).toStrictEqual(small);
  });
});
