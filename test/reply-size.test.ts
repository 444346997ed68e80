/**
 * events/envelope.ts MAX_REPLY_BYTES: a worker's reply is read back whole by GET /v1/jobs/{id}
 * (and by POST /v1/jobs?wait=N), and on AWS a Lambda answers at most 6 MB: the JSON of its
 * result, whose body is the view's JSON escaped once more. Before the cap a reply was bounded
 * only by Lambda's 6 MB request, and a waited submit's answer (the reply beside a renewed
 * quote) could pass 6 MB: accepted and paid for, never readable. Now a reply over 4 MiB is a 413
 * reply_too_large at POST, and one at the cap reads back inside 6 MB, through the real Lambda
 * mapping.
 */
import type { APIGatewayProxyEventV2, Context } from "aws-lambda";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../core/crypto/encoding";
import type { SigningKeyPair } from "../core/crypto/keys";
import { signRequest } from "../core/crypto/request-auth";
import { jobKey, type JobItem } from "../core/jobs/items";
import { makeJobWorld, type JobWorld } from "../core/jobs/testing";
import { jsonResponse } from "../edge/http";
import type { Candidate, JobView, PrepareResponse } from "../events/api";
import { MAX_REPLY_BYTES, MAX_REPLY_CHUNKS, type ChunkedReply } from "../events/envelope";
import { lambdaHandler, toLambdaResult } from "../functions/http/lambda";
import { MAX_PAYLOAD_BYTES } from "../functions/http/middleware";
import { routes } from "../functions/http/routes";
import { renewalBeside, RENEWAL_ROOM } from "../functions/http/submit-job";

const context = { functionName: "test", awsRequestId: "r", getRemainingTimeInMillis: () => 30_000 } as unknown as Context;
const base = JSON.parse(readFileSync(new URL("./fixtures/events/apigw-prepare.json", import.meta.url), "utf8")) as APIGatewayProxyEventV2;
const route = (method: string, path: string) => routes.find((r) => r.spec.method === method && r.spec.path === path)!;

/** A signed API Gateway v2 event for `method path`, as `key` sends it at the world's time. */
function event(w: JobWorld, key: SigningKeyPair, method: "GET" | "POST", path: string, body = ""): APIGatewayProxyEventV2 {
  const auth = signRequest(key, { method, path, body, host: base.requestContext.domainName, now: w.clock.now() });
  return {
    ...base,
    rawPath: path,
    routeKey: `${method} ${path}`,
    requestContext: { ...base.requestContext, http: { ...base.requestContext.http, method, path } },
    headers: { ...base.headers, "x-cocoon-auth": auth },
    body,
  };
}

/** What Lambda counts of an event or a result: its JSON. */
const payloadBytes = (x: unknown) => Buffer.byteLength(JSON.stringify(x), "utf8");

/**
 * Factory: a chunked reply of exactly `bytes` as canonical JSON, in the most chunks a reply may
 * have (each chunk's quotes are escaped again in Lambda's result: the largest answer for its
 * size). The coordinator only hashes a reply, so the chunks need not open.
 */
function replyOf(bytes: number): ChunkedReply {
  const shell: ChunkedReply = { v: 2, enc: "E".repeat(43), sig: "S".repeat(86), chunks: [] };
  const empty = canonicalJson({ ...shell, chunks: Array.from({ length: MAX_REPLY_CHUNKS }, () => "") }).length;
  const room = bytes - empty;
  const each = Math.floor(room / MAX_REPLY_CHUNKS);
  const chunks = Array.from({ length: MAX_REPLY_CHUNKS }, (_, i) => "A".repeat(each + (i < room % MAX_REPLY_CHUNKS ? 1 : 0)));
  const reply = { ...shell, chunks };
  expect(Buffer.byteLength(canonicalJson(reply))).toBe(bytes);
  return reply;
}

async function post(w: JobWorld, bytes: number) {
  const { r, envelope, header, workers } = await w.submitted(1);
  const body = JSON.stringify(w.completed(workers[0]!, envelope, { reply: replyOf(bytes) }));
  const request = event(w, workers[0]!.signing, "POST", "/v1/agent/results", body);
  const res = await lambdaHandler(route("POST", "/v1/agent/results"), async () => w.deps)(request, context);
  return { r, header, request, res, body: JSON.parse(res.body!) as { status?: string; error?: { code: string; details?: unknown } } };
}

describe("a worker's reply is capped so that it can always be read back from a Lambda (6 MB)", () => {
  it("a reply of exactly MAX_REPLY_BYTES in 4096 chunks is taken, and GET /v1/jobs/{id} answers it whole inside 6 MB", async () => {
    // Prepare
    const w = makeJobWorld();
    const posted = await post(w, MAX_REPLY_BYTES);
    // Act
    const get = event(w, posted.r, "GET", `/v1/jobs/${posted.header.jobId}`);
    const res = await lambdaHandler(route("GET", "/v1/jobs/{id}"), async () => w.deps)(get, context);
    // Assess
    expect(posted.res.statusCode).toBe(200);
    expect(posted.body).toMatchObject({ status: "completed" });
    expect(payloadBytes(posted.request)).toBeLessThan(MAX_PAYLOAD_BYTES); // Lambda took the request
    expect(res.statusCode).toBe(200);
    const view = JSON.parse(res.body!) as JobView;
    expect(canonicalJson(view.reply)).toBe(canonicalJson(replyOf(MAX_REPLY_BYTES)));
    expect(payloadBytes(res)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES - RENEWAL_ROOM); // room left for a renewal, below
  });

  it("one byte more is 413 reply_too_large with the sizes, and nothing is stored: the job is still the worker's to answer", async () => {
    // Prepare
    const w = makeJobWorld();
    // Act
    const posted = await post(w, MAX_REPLY_BYTES + 1);
    // Assess
    expect(posted.res.statusCode).toBe(413);
    expect(posted.body.error).toMatchObject({ code: "reply_too_large", details: { bytes: MAX_REPLY_BYTES + 1, max: MAX_REPLY_BYTES } });
    expect(await w.store.get<JobItem>("jobs", jobKey(posted.header.jobId))).toMatchObject({ status: "assigned", attempt: 0 });
    expect(await w.store.query("jobs", posted.header.jobId, { skPrefix: "reply#" })).toEqual([]);
  });

  it("POST /v1/jobs?wait=N: a renewed quote rides beside a reply at the cap when it fits, and is left out when it would pass 6 MB", async () => {
    // Prepare: the answer at the cap as GET gave it; a real renewal, and one whose 8 candidates carry 192 KiB documents of quotes
    const w = makeJobWorld();
    const posted = await post(w, MAX_REPLY_BYTES);
    const get = event(w, posted.r, "GET", `/v1/jobs/${posted.header.jobId}`);
    const view = JSON.parse((await lambdaHandler(route("GET", "/v1/jobs/{id}"), async () => w.deps)(get, context)).body!) as JobView;
    const { prepared } = await w.sealedJob(posted.r);
    const c = prepared.candidates[0] as Candidate; // a prepare naming no held documents: each candidate carries its own
    const padded = { ...c, attestation: { ...c.attestation, collateral: Array.from({ length: 65_000 }, () => "") } };
    const huge: PrepareResponse = { ...prepared, candidates: Array.from({ length: 8 }, () => padded) };
    const answer = async (next: PrepareResponse) => payloadBytes(await toLambdaResult(jsonResponse(202, { ...view, next })));
    // Act
    const kept = renewalBeside(view, prepared);
    const left = renewalBeside(view, huge);
    // Assess
    expect(kept).toEqual({ next: prepared });
    expect(await answer(prepared)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
    expect(left).toEqual({});
    expect(await answer(huge)).toBeGreaterThan(MAX_PAYLOAD_BYTES); // what it would have answered
    expect(renewalBeside({ ...view, reply: undefined }, huge)).toEqual({ next: huge }); // no reply: it fits alone
  });
});
