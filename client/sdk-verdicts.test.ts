/**
 * The SDK's cache of attestation verdicts (CocoonClient.verdicts) is bounded: every
 * re-attestation is a new document and a coordinator can invent them, so a long-running client
 * (cocoon serve) kept one entry per document it was ever shown.
 */
import { describe, expect, it } from "vitest";
import { generateSigningKey } from "../core/crypto/keys";
import { CocoonClient, MAX_VERDICTS } from "./sdk";
import { devCandidate, T0 } from "./sdk-stub-testing";

describe("the SDK's verdict cache", () => {
  it(`keeps at most MAX_VERDICTS (${MAX_VERDICTS}) verdicts, however many documents it is shown, and still uses the recent ones`, async () => {
    // Prepare: a client that accepts dev workers, and more distinct documents than it keeps
    const client = new CocoonClient({ apiUrl: "http://127.0.0.1:9", key: generateSigningKey(), allowDev: true, now: () => T0 });
    const cands = Array.from({ length: MAX_VERDICTS + 8 }, () => devCandidate());
    // Act: each checked in its own job's candidate list, as a coordinator showing new documents would
    for (const c of cands) expect(await client.verifyCandidates([c], ["dev"])).toHaveLength(1);
    // Assess: bounded, and the latest is still answered from the cache
    const verdicts = (client as unknown as { verdicts: { size: number; has(k: string): boolean } }).verdicts;
    expect(verdicts.size).toBe(MAX_VERDICTS);
    expect(await client.verifyCandidates([cands.at(-1)!], ["dev"])).toHaveLength(1);
  });
});
