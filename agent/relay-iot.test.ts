import { describe, expect, it } from "vitest";
import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256 } from "@aws-crypto/sha256-js";
import type { RelayChunk } from "../events/relay";
import { createIotRelayPublisher, signV4 } from "./relay-iot";

const credentials = {
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
  sessionToken: "FwoGZXIvYXdzEXAMPLE",
};
const NOW = new Date(Date.UTC(2026, 11, 2, 12, 36, 0));
const TOPIC =
  "cocoon-prod/r/UmVxdWVzdGVyS2V5Rm9yVGhlVGVzdHNPZlRoZVJlbGF5/job_01jdqv6x7s9k2m4n8p0r3t5w00/Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo";
const HOST = "abc123-ats.iot.us-east-1.amazonaws.com";

describe("the agent's IoT Core publisher (no network: a fake fetch)", () => {
  it("signs like the AWS SDK's own SigV4 signer (differential, the same request and clock)", async () => {
    // Prepare
    const body = JSON.stringify({ hello: "world", n: 1 });
    const path = `/topics/${encodeURIComponent(TOPIC)}`;
    const ours = signV4({
      method: "POST",
      host: HOST,
      path,
      query: { qos: "1" },
      body,
      region: "us-east-1",
      service: "iotdata",
      credentials,
      now: NOW,
    });
    // Act: the SDK signs the same request
    const sdk = new SignatureV4({ credentials, region: "us-east-1", service: "iotdata", sha256: Sha256 });
    const theirs = await sdk.sign(
      {
        method: "POST",
        protocol: "https:",
        hostname: HOST,
        path,
        query: { qos: "1" },
        headers: { host: HOST, "x-amz-content-sha256": ours.headers["x-amz-content-sha256"]! },
        body,
      },
      { signingDate: NOW },
    );
    // Assess
    expect(ours.headers.authorization).toBe(theirs.headers.authorization);
    expect(ours.url).toBe(`https://${HOST}${path}?qos=1`);
  });

  it("signs further headers like the AWS SDK's signer, and keeps its own host and x-amz-* whatever case a further one has", async () => {
    // Prepare
    const body = JSON.stringify({ hello: "world" });
    const path = `/topics/${encodeURIComponent(TOPIC)}`;
    const sign = (headers: Record<string, string>) =>
      signV4({
        method: "POST",
        host: HOST,
        path,
        query: { qos: "0" },
        body,
        region: "us-east-1",
        service: "iotdata",
        credentials,
        headers,
        now: NOW,
      });
    // Act
    const ours = sign({ "Content-Type": "application/json;  charset=utf-8 " });
    const clashing = sign({ "Content-Type": "application/json;  charset=utf-8 ", Host: "evil.example", "X-Amz-Date": "20000101T000000Z" });
    const sdk = new SignatureV4({ credentials, region: "us-east-1", service: "iotdata", sha256: Sha256 });
    const theirs = await sdk.sign(
      {
        method: "POST",
        protocol: "https:",
        hostname: HOST,
        path,
        query: { qos: "0" },
        headers: {
          host: HOST,
          "Content-Type": "application/json;  charset=utf-8 ",
          "x-amz-content-sha256": ours.headers["x-amz-content-sha256"]!,
        },
        body,
      },
      { signingDate: NOW },
    );
    // Assess
    expect(ours.headers.authorization).toBe(theirs.headers.authorization);
    expect(ours.headers.authorization).toContain("SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token,");
    expect(ours.headers["Content-Type"]).toBe("application/json;  charset=utf-8 ");
    expect(clashing.headers).toEqual(ours.headers);
  });

  it("posts each chunk to the job's topic with QoS 0 (issue 12: no metered PUBACK per delivery), signed with the session's credentials; a refusal is an error", async () => {
    // Prepare
    const calls: Array<{ url: string; init: RequestInit }> = [];
    let status = 200;
    const fake = (async (url: string, init: RequestInit) => (
      calls.push({ url, init }),
      new Response("{}", { status })
    )) as unknown as typeof fetch;
    const publish = createIotRelayPublisher({ fetch: fake, now: () => NOW });
    const session = {
      transport: "iot-mqtt" as const,
      endpoint: HOST,
      region: "us-east-1",
      topic: TOPIC,
      clientId: "x",
      credentials: { ...credentials, expiration: Date.now() + 60_000 },
    };
    const chunk = (seq: number): RelayChunk => ({ jobId: "job_01jdqv6x7s9k2m4n8p0r3t5w00", attempt: 0, seq, final: false, data: "AAAA" });
    // Act
    await publish(session, [chunk(0), chunk(1)]);
    status = 403;
    const refused = await publish(session, [chunk(2)]).then(
      () => "published",
      (e: Error) => e.message,
    );
    // Assess
    expect(calls.slice(0, 2).map((c) => c.url)).toEqual([0, 1].map(() => `https://${HOST}/topics/${encodeURIComponent(TOPIC)}?qos=0`)); // issue 12: no metered PUBACK per delivery
    expect(calls.map((c) => (JSON.parse(String(c.init.body)) as RelayChunk).seq)).toEqual([0, 1, 2]);
    const h = calls[0]!.init.headers as Record<string, string>;
    expect(h["x-amz-security-token"]).toBe(credentials.sessionToken);
    expect(h.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20261202\/us-east-1\/iotdata\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/,
    );
    expect(refused).toMatch(/HTTP 403/);
  });
});
