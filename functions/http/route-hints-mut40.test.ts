/**
 * mut40: every code of functions/http/route-hints.ts keeps the route an HTTP client read in its
 * message before walk40 moved the routes out of core (route-hints40.test.ts checks four of them;
 * dropping any other entry from the table failed no test). Written out here, not read from the
 * table: a dropped or changed entry fails.
 */
import { describe, expect, it } from "vitest";
import { CocoonError } from "../../core/errors";
import { bodyText } from "../../edge/http";
import { failureResponse } from "./middleware";

const log = { error: () => {} };
const messageOf = async (e: unknown) =>
  (JSON.parse(await bodyText(failureResponse(e, log, "POST /v1/x").body)) as { error: { code: string; message: string } }).error;

describe("mut40: each code's route, added at the edge", () => {
  it.each([
    ["bad_registration_nonce", "POST /v1/agents/nonce"],
    ["bad_quote", "POST /v1/jobs/prepare"],
    ["quote_expired", "POST /v1/jobs/prepare"],
    ["no_live_candidate", "POST /v1/jobs/prepare"],
    ["unknown_worker", "POST /v1/jobs/prepare"],
    ["no_workers", "see GET /v1/models"],
    ["unknown_model", "see GET /v1/models"],
    ["tab_expired", "POST /v1/tabs"],
    ["relay_unavailable", "POST /v1/jobs/{id}/relay says how to reach the relay; GET /v1/jobs/{id} reads the answer"],
  ])("%s: the message, then (%s)", async (code, hint) => {
    // Act
    const body = await messageOf(new CocoonError(409, code, "core's words"));
    // Assess
    expect(body).toEqual({ code, message: `core's words (${hint})` });
  });
});
