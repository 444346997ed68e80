/**
 * mut40: POST /v1/jobs's edge size check (walk40) at its exact edge: an envelope of exactly
 * MAX_ENVELOPE_BYTES (canonical JSON) passes the edge whatever the whole request weighs, and one
 * byte more is refused with the envelope's own size, not the request's.
 */
import { describe, expect, it } from "vitest";
import { MAX_ENVELOPE_BYTES } from "../../events/envelope";
import { canonicalJson } from "../../core/crypto/encoding";
import { EnvelopeTooLargeError } from "../../core/errors";
import { quotedSubmit } from "./submit-job-testing";

/** Factory: a quoted submit (submit-job-testing.ts); `submit(extra)` posts an envelope `extra` bytes past the cap (0: exactly at it). */
async function rig() {
  const { envelope, post } = await quotedSubmit();
  const bare = canonicalJson({ ...envelope, payload: "" }).length;
  const submit = (extra: number) => {
    const big = { ...envelope, payload: "A".repeat(MAX_ENVELOPE_BYTES - bare + extra) };
    // the whole request, as the edge measures it, is past the cap in both cases
    return { envelopeBytes: canonicalJson(big).length, run: post(big) };
  };
  return { submit };
}

const outcome = (p: Promise<unknown>) =>
  p.then(
    (v) => ({ ok: true as const, v }),
    (e: unknown) => ({ ok: false as const, e }),
  );

describe("mut40: the edge's envelope size check at its edge", () => {
  it(`an envelope of exactly ${MAX_ENVELOPE_BYTES} bytes in a request past that is taken (by the edge and by core)`, async () => {
    // Prepare
    const { submit } = await rig();
    // Act
    const s = submit(0);
    const r = await outcome(s.run);
    // Assess
    expect(s.envelopeBytes).toBe(MAX_ENVELOPE_BYTES);
    expect(r.ok ? undefined : r.e).not.toBeInstanceOf(EnvelopeTooLargeError);
    expect(r).toMatchObject({ ok: true }); // and core takes it too: the same measure, the same cap
  });

  it("one byte more: 413 envelope_too_large with the envelope's size (not the request's)", async () => {
    // Prepare
    const { submit } = await rig();
    // Act
    const s = submit(1);
    const r = await outcome(s.run);
    // Assess
    expect(r.ok).toBe(false);
    expect(r.ok ? undefined : r.e).toBeInstanceOf(EnvelopeTooLargeError);
    expect(r.ok ? undefined : r.e).toMatchObject({ details: { bytes: MAX_ENVELOPE_BYTES + 1, limitBytes: MAX_ENVELOPE_BYTES } });
  });
});
