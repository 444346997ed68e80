/**
 * The output items this proxy answered on /v1/responses, kept in its memory so that a later
 * request may name one by `{"type": "item_reference", "id": …}` instead of sending it again.
 * The Vercel AI SDK's `openai()` provider does so by default (its `store` option is true): from a
 * conversation's second turn, or an agent's second step, each earlier assistant text it got from
 * /v1/responses comes back as a reference to that text's `msg_` id, and a proxy that kept nothing
 * refused the request.
 *
 * Only this process's memory holds them (nothing on disk, nothing at the network: the answers are
 * already in this process, which the requester runs), only for requests that did not say
 * `store: false`, and only the latest: past `maxBytes` of items the least recently used go first. An id is 96
 * random bits, so a reference can name only an item its app was given.
 */

/** An output item as /v1/responses answered it (message, function_call or reasoning). */
export type StoredItem = { id: string; type: string } & Record<string, unknown>;

export interface ItemStore {
  /** Keeps the items of one answer (as copies: the caller may go on changing its own). */
  remember(items: ReadonlyArray<StoredItem>): void;
  /** The item answered under `id`, while it is kept. */
  recall(id: string): StoredItem | undefined;
  /** The bytes the item under `id` takes (as the bound counts them), without using it; undefined if not kept. */
  bytesOf(id: string): number | undefined;
  /** What is kept: how many items, about how many bytes. */
  readonly size: { items: number; bytes: number };
}

/** The bytes an item takes, as its JSON counts them (UTF-16 units; near enough for a bound). */
const bytesOf = (item: StoredItem) => JSON.stringify(item).length;

/** 16 MiB of items: some thousands of answers, a small part of what a Node process takes anyway. */
export const DEFAULT_ITEM_STORE_BYTES = 16 * 1024 * 1024;

export function itemStore(maxBytes = DEFAULT_ITEM_STORE_BYTES): ItemStore {
  // A Map iterates in insertion order: its first entry is the least recently kept or recalled.
  const items = new Map<string, { item: StoredItem; bytes: number }>();
  let bytes = 0;
  const forget = (id: string) => {
    const e = items.get(id);
    if (!e) return;
    items.delete(id);
    bytes -= e.bytes;
  };
  return {
    remember(given) {
      for (const item of given) {
        const copy = structuredClone(item);
        const size = bytesOf(copy);
        // An item larger than the whole store would evict everything and still not fit.
        if (size > maxBytes) continue;
        forget(copy.id);
        items.set(copy.id, { item: copy, bytes: size });
        bytes += size;
      }
      for (const id of items.keys()) {
        if (bytes <= maxBytes) break;
        forget(id);
      }
    },
    recall(id) {
      const e = items.get(id);
      if (!e) return undefined;
      // Used again: kept as long as a newer one. An app that names its earlier items by reference
      // sends them all again each turn (the Vercel AI SDK), and their age since it was first
      // answered must not have them forgotten while it goes on using them.
      items.delete(id);
      items.set(id, e);
      return structuredClone(e.item);
    },
    bytesOf(id) {
      return items.get(id)?.bytes;
    },
    get size() {
      return { items: items.size, bytes };
    },
  };
}
