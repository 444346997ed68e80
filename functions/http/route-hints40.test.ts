/**
 * walk40: core's refusals name no HTTP route (core knows none); the edge adds the route a
 * refusal's code points at (functions/http/route-hints.ts), keeping the code. Checked on core's
 * own errors through failureResponse, and by reading core's sources for route wording in strings.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CocoonError, EnvelopeTooLargeError, GoneError, NoLiveCandidateError, UnknownModelError } from "../../core/errors";
import { bodyText } from "../../edge/http";
import { failureResponse } from "./middleware";
import { ROUTE_HINTS, withRouteHint } from "./route-hints";

const log = { error: () => {} };
const bodyOf = async (e: unknown) =>
  JSON.parse(await bodyText(failureResponse(e, log, "POST /v1/x").body)) as { error: { code: string; message: string; details?: unknown } };

/** Every .ts source under `dir` (not tests), recursively. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith(".ts") && !path.endsWith(".test.ts") ? [path] : [];
  });
}

describe("walk40: route wording at the edge, not in core", () => {
  it.each([
    [new UnknownModelError("nope"), "unknown_model", 'model "nope" is not served by any registered worker (see GET /v1/models)'],
    [
      new GoneError("quote_expired", "the price quote expired: prepare a fresh one"),
      "quote_expired",
      "the price quote expired: prepare a fresh one (POST /v1/jobs/prepare)",
    ],
    [
      new NoLiveCandidateError(["w"]),
      "no_live_candidate",
      "none of this quote's candidates is live now: prepare a fresh quote and submit again (POST /v1/jobs/prepare)",
    ],
    [
      new CocoonError(409, "no_workers", "no worker can take this job now: no live worker in tiers [tdx]"),
      "no_workers",
      "no worker can take this job now: no live worker in tiers [tdx] (see GET /v1/models)",
    ],
  ])("a core refusal answers its code, its message with the route its code points at: %s", async (error, code, message) => {
    // Act
    const { error: body } = await bodyOf(error);
    // Assess
    expect(body).toMatchObject({ code, message });
  });

  it("a refusal whose code points at no route is answered as core worded it; the size refusal names its limit", async () => {
    // Act
    const { error: plain } = await bodyOf(new CocoonError(409, "job_exists", "taken"));
    const { error: big } = await bodyOf(new EnvelopeTooLargeError(300_000, 204_800));
    // Assess
    expect(plain.message).toBe("taken");
    expect(big).toEqual({
      code: "envelope_too_large",
      message: "the envelope exceeds 204800 bytes; shorten the prompt",
      details: { bytes: 300_000, limitBytes: 204_800 },
    });
    expect(withRouteHint("constructor", "m")).toBe("m"); // only the table's own codes
  });

  it("no string in core's sources names an HTTP route (session-auth's handshake words left, see the report)", () => {
    // Prepare: a method and a /v1/ path inside a quoted string, outside comments
    const route = /["'`][^"'`\n]*\b(GET|POST|PUT|DELETE) \/v1\//;
    const allowed = new Set([join("core", "crypto", "session-auth.ts")]);
    // Act
    const offending = sources("core")
      .filter((f) => !allowed.has(f))
      .flatMap((f) =>
        readFileSync(f, "utf8")
          .split("\n")
          .filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l) && route.test(l))
          .map((l) => `${f}: ${l.trim()}`),
      );
    // Assess
    expect(offending).toEqual([]);
    expect(Object.keys(ROUTE_HINTS).length).toBeGreaterThan(0);
  });
});
