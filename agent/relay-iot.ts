/**
 * The agent's publisher for the AWS relay (AWS IoT Core): one HTTPS POST per batch of sealed
 * chunks to the broker's publish endpoint, `POST https://<endpoint>/topics/<topic>?qos=0`,
 * signed with AWS Signature Version 4 under the job-scoped credentials the coordinator vended
 * (functions/adapters/relay-iot.ts: they allow iot:Publish on this job's topic and nothing
 * else). Written on node:crypto so the agent carries no AWS SDK; the signature is checked
 * against the AWS SDK's own signer in agent/relay-iot.test.ts, and its canonical request, string
 * to sign and signature against AWS's published SigV4 test suite in agent/sigv4-vectors.test.ts.
 */
import { createHash, createHmac } from "node:crypto";
import type { RelayChunk } from "../events/relay";
import type { ExternalRelayPublisher } from "./relay";

const sha256Hex = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();

/** RFC 3986 encoding as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
const uriEncode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The canonical query string, which is also the query the request is sent with. */
const canonicalQueryOf = (query: Record<string, string>) =>
  Object.entries(query)
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");

export interface SignedRequest {
  url: string;
  headers: Record<string, string>;
}

/** What SigV4 derives from one request, each part apart so AWS's published test suite can check it. */
export interface SigV4Parts {
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
  authorization: string;
}

/**
 * SigV4 of a request whose signed headers are all given (host and x-amz-date among them; names
 * in any case, one value each). `path` is the one that is URI-encoded again per segment (below);
 * `payloadHash` is the hex SHA-256 of the body. Pure: agent/sigv4-vectors.test.ts runs it on
 * AWS's published SigV4 test suite.
 */
export function sigV4Parts(o: {
  method: string;
  path: string;
  query?: Record<string, string>;
  headers: Record<string, string>;
  payloadHash: string;
  amzDate: string;
  region: string;
  service: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}): SigV4Parts {
  // Canonical headers: names lower-cased, values trimmed with each inner run of whitespace (a
  // folded line's break too) one space, as the suite's get-header-value-trim and -multiline want.
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(o.headers)) {
    const n = name.toLowerCase();
    if (headers.has(n)) throw new Error(`header ${n} given twice`);
    headers.set(n, value.trim().replace(/\s+/g, " "));
  }
  const names = [...headers.keys()].sort();
  const canonicalQuery = canonicalQueryOf(o.query ?? {});
  // Every service but S3 signs the path encoded twice: the path as sent, each segment encoded again.
  const canonicalPath = o.path.split("/").map(uriEncode).join("/");
  const canonicalRequest = [
    o.method,
    canonicalPath,
    canonicalQuery,
    ...names.map((n) => `${n}:${headers.get(n)!}`),
    "",
    names.join(";"),
    o.payloadHash,
  ].join("\n");
  const day = o.amzDate.slice(0, 8);
  const scope = `${day}/${o.region}/${o.service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", o.amzDate, scope, sha256Hex(canonicalRequest)].join("\n");
  const key = hmac(hmac(hmac(hmac(`AWS4${o.credentials.secretAccessKey}`, day), o.region), o.service), "aws4_request");
  const signature = createHmac("sha256", key).update(stringToSign).digest("hex");
  const authorization = `AWS4-HMAC-SHA256 Credential=${o.credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`;
  return { canonicalRequest, stringToSign, signature, authorization };
}

/**
 * SigV4 headers for one request (service "iotdata" for IoT Core's HTTPS publish). `path` is
 * the URI path as sent (already percent-encoded once); query parameters are signed sorted.
 * Signs host, x-amz-date, x-amz-content-sha256 and (temporary credentials) x-amz-security-token,
 * plus any further `headers` given, which are sent as given.
 */
export function signV4(o: {
  method: string;
  host: string;
  path: string;
  query?: Record<string, string>;
  body: string | Uint8Array;
  region: string;
  service: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  headers?: Record<string, string>;
  now?: Date;
}): SignedRequest {
  const now = o.now ?? new Date();
  const amzDate = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  const payloadHash = sha256Hex(o.body);
  // The signer's own headers win over a further header of the same name, whatever its case.
  const own: Record<string, string> = { host: o.host, "x-amz-date": amzDate, "x-amz-content-sha256": payloadHash };
  if (o.credentials.sessionToken) own["x-amz-security-token"] = o.credentials.sessionToken;
  const further = Object.fromEntries(Object.entries(o.headers ?? {}).filter(([n]) => !(n.toLowerCase() in own)));
  const headers: Record<string, string> = { ...further, ...own };
  const { method, path, query, region, service, credentials } = o;
  const { authorization } = sigV4Parts({ method, path, query, headers, payloadHash, amzDate, region, service, credentials });
  const canonicalQuery = canonicalQueryOf(o.query ?? {});
  return { url: `https://${o.host}${o.path}${canonicalQuery ? `?${canonicalQuery}` : ""}`, headers: { ...headers, authorization } };
}

/**
 * QoS of the relayed chunks (issue 12). A message is delivered at the lower of the publish's
 * and the subscription's QoS, and IoT Core meters the PUBACK a subscriber sends for each QoS 1
 * delivery as one more message: at QoS 0 a chunk costs its publish and its delivery, not a
 * third. What QoS 1 would add (redelivery to a subscriber that dropped) the SDK does not need:
 * it checks the stream against the stored reply and recovers what the relay lost.
 */
export const RELAY_PUBLISH_QOS = "0";

/**
 * Publishes each chunk as its own MQTT message (QoS 0, above) on the job's topic: the requester's
 * SDK reads them in order and checks each (positions, job, signature of the stream).
 */
export function createIotRelayPublisher(o: { fetch?: typeof fetch; now?: () => Date } = {}): ExternalRelayPublisher {
  const doFetch = o.fetch ?? fetch;
  return async (session, chunks: RelayChunk[]) => {
    if (session.transport !== "iot-mqtt") throw new Error(`not an IoT Core relay session: ${session.transport}`);
    if (session.credentials.expiration <= Date.now()) throw new Error("the relay credentials expired");
    for (const c of chunks) {
      const body = JSON.stringify(c);
      const path = `/topics/${uriEncode(session.topic)}`;
      const signed = signV4({
        method: "POST",
        host: session.endpoint,
        path,
        query: { qos: RELAY_PUBLISH_QOS },
        body,
        region: session.region,
        service: "iotdata",
        credentials: session.credentials,
        ...(o.now ? { now: o.now() } : {}),
      });
      const r = await doFetch(signed.url, { method: "POST", headers: { ...signed.headers, "content-type": "application/json" }, body });
      if (!r.ok) throw new Error(`IoT Core refused the publish: HTTP ${r.status}`);
    }
  };
}
