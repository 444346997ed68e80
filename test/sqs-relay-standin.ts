/**
 * Amazon SQS for the SQS relay's tests (issue 12), on 127.0.0.1: local-aws-sqs (an in-process SQS
 * speaking the JSON protocol the AWS SDK v3 and the SDK's own reader use) behind a small HTTP proxy
 * that makes it behave as SQS does where the relay depends on it:
 *
 *  - SigV4: every request must be signed with the secret of the access key it names (checked here
 *    on node:crypto, AWS's documented algorithm, independent of both signers under test); a
 *    request that is not is refused 403 SignatureDoesNotMatch, as SQS would.
 *  - SenderId: local-aws-sqs reports a fixed one; SQS reports `<role id>:<role session name>` of
 *    the credentials that sent the message. The access keys minted here (credentialsFor) encode
 *    the session name, so the proxy reads it from each SendMessage(Batch)'s Authorization header
 *    and puts `AROATEST:<name>` in ReceiveMessage's answers, when the receive asked for SenderId.
 *  - A deleted queue's name cannot be used again for 60 s (local-aws-sqs's emulation, left on).
 *  - Long polls: local-aws-sqs answers a long poll only when it holds MaxNumberOfMessages or at the
 *    end of WaitTimeSeconds; SQS answers as soon as a message is there. The proxy polls it briefly
 *    until a message comes or the wait ends, even when the caller went away (an aborted poll): SQS
 *    goes on with such a poll, and what it takes is invisible to everyone for the queue's visibility
 *    timeout (aws/aws-sdk-js#2350). close() ends those.
 *
 * It also records what a relay's bill is made of: every call by action and caller, each message
 * sent and each delivered, and each receive that found nothing (CloudWatch's NumberOfEmptyReceives,
 * which the relay sweep reads on AWS: core/relay-sweep.ts).
 */
import { createHash, createHmac } from "node:crypto";
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequestHandler } from "local-aws-sqs";

/** Short-lived credentials in the shape a relay session carries them. */
export interface TestCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: number;
}

/**
 * Credentials whose access key id names `sessionName` (the role session name SQS reports in
 * SenderId). Their session token carries their expiration, which the stand-in enforces as SQS does.
 */
export function credentialsFor(sessionName: string, ms = 900_000): TestCredentials {
  const expiration = Date.now() + ms;
  return {
    accessKeyId: `ASIA${Buffer.from(sessionName).toString("hex").toUpperCase()}`,
    secretAccessKey: secretOf(sessionName),
    sessionToken: `token-${sessionName}-${expiration}`,
    expiration,
  };
}
/** The expiration a session token of credentialsFor carries (undefined: a token not made there). */
const expirationOf = (token: string | string[] | undefined) => {
  const m = /-(\d+)$/.exec(typeof token === "string" ? token : "");
  return m ? Number(m[1]) : undefined;
};
const secretOf = (sessionName: string) => createHash("sha256").update(`secret/${sessionName}`).digest("base64");
export const sessionNameOf = (accessKeyId: string) => Buffer.from(accessKeyId.slice(4), "hex").toString("utf8");

/** What the proxy saw of one call. */
export interface SqsCall {
  action: string;
  /** the role session name of the caller's credentials */
  caller: string;
  queueUrl?: string;
}

export interface SqsStandIn {
  /** http://127.0.0.1:<port>: the endpoint, and the origin of every queue URL */
  readonly url: string;
  /** every call, in order */
  readonly calls: SqsCall[];
  /** every message sent (SendMessage and SendMessageBatch entries), in order */
  readonly sent: Array<{ messageId: string; body: string; sender: string; queueUrl: string }>;
  /** every message a ReceiveMessage handed out, in order */
  readonly delivered: Array<{ messageId: string; body: string; sender: string; queueUrl: string }>;
  /** every ReceiveMessage answered with no message (SQS's NumberOfEmptyReceives counts these), when (Date.now()) */
  readonly emptyReceives: Array<{ queueUrl: string; at: number }>;
  /** requests refused for their signature */
  readonly refused: string[];
  /** requests refused because their credentials had expired (SQS: 403 ExpiredToken): the caller's session names */
  readonly expired: string[];
  /** long polls open now */
  receiving(): number;
  /** long polls whose caller went away (aborted) but that still run, as on SQS: what one takes is lost */
  abandoned(): number;
  /** messages an abandoned poll took: nobody will read them */
  readonly lost: Array<{ messageId: string; body: string; queueUrl: string }>;
  /** Called before a send is passed on (a test may send something of its own first); `bodies` are the messages' bodies. */
  beforeSend: ((send: { bodies: string[]; sender: string; queueUrl: string }) => Promise<void> | void) | undefined;
  /** The names of the queues that exist now. */
  queueNames(): string[];
  close(): Promise<void>;
}

/** How far a signature's date may be from AWS's time (SQS: 15 min). */
const SIGNATURE_SKEW_MS = 15 * 60_000;

const parseAuth = (h: string | undefined) =>
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
    h ?? "",
  );

/**
 * Why a request's SigV4 signature is not the one its access key's secret makes (undefined when it
 * is): AWS's documented algorithm for a request without a query (SQS's JSON protocol), on node:crypto.
 */
export function sigV4Refusal(req: { method: string; path: string; headers: IncomingMessage["headers"]; body: Buffer }): string | undefined {
  const m = parseAuth(req.headers.authorization);
  if (!m) return "no SigV4 Authorization header";
  const [, keyId, day, region, service, signedHeaders, signature] = m as unknown as string[];
  if (service !== "sqs") return `signed for service ${service}, not sqs`;
  const names = signedHeaders!.split(";");
  if (!names.includes("host") || !names.includes("x-amz-date")) return "host or x-amz-date not signed";
  const amzDate = String(req.headers["x-amz-date"]);
  if (amzDate.slice(0, 8) !== day) return "the credential's day is not x-amz-date's";
  // as SQS: a signature dated more than 15 min from AWS's time has expired
  const at = Date.parse(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z"));
  if (!(Math.abs(Date.now() - at) <= SIGNATURE_SKEW_MS)) return `Signature expired: ${amzDate} is more than 15 min from now`;
  const sha = (d: string | Buffer) => createHash("sha256").update(d).digest("hex");
  const claimed = req.headers["x-amz-content-sha256"];
  if (claimed !== undefined && claimed !== sha(req.body)) return "x-amz-content-sha256 is not the body's hash";
  const canonical = [
    req.method,
    req.path,
    "",
    names
      .map(
        (n) =>
          `${n}:${String(req.headers[n] ?? "")
            .trim()
            .replace(/\s+/g, " ")}\n`,
      )
      .join(""),
    signedHeaders,
    sha(req.body), // what was sent, not what a header says was
  ].join("\n");
  const toSign = ["AWS4-HMAC-SHA256", amzDate, `${day}/${region}/${service}/aws4_request`, sha(canonical)].join("\n");
  const h = (k: string | Buffer, d: string) => createHmac("sha256", k).update(d).digest();
  const key = h(h(h(h(`AWS4${secretOf(sessionNameOf(keyId!))}`, day!), region!), service!), "aws4_request");
  return createHmac("sha256", key).update(toSign).digest("hex") === signature ? undefined : "SignatureDoesNotMatch";
}

const readBody = (req: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", () => resolve(Buffer.concat(parts)));
    req.on("error", reject);
  });

type Json = Record<string, unknown>;

export async function startSqsStandIn(): Promise<SqsStandIn> {
  // The proxy's port is the queue URLs' port: it listens first, local-aws-sqs is told it.
  const proxy = createServer();
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  const port = (proxy.address() as AddressInfo).port;
  const { requestHandler, service } = createRequestHandler({ port, hostname: "127.0.0.1" });
  const inner: Server = createServer((req, res) => void requestHandler(req, res));
  await new Promise<void>((r) => inner.listen(0, "127.0.0.1", r));
  const innerPort = (inner.address() as AddressInfo).port;

  /** One JSON-protocol call to local-aws-sqs. */
  const forward = (target: string, body: Json) =>
    new Promise<{ status: number; json: Json }>((resolve, reject) => {
      const payload = JSON.stringify(body);
      const r = request(
        {
          host: "127.0.0.1",
          port: innerPort,
          method: "POST",
          path: "/",
          headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": target, "content-length": Buffer.byteLength(payload) },
        },
        (res) =>
          void readBody(res).then((b) =>
            resolve({ status: res.statusCode ?? 500, json: b.length ? (JSON.parse(b.toString()) as Json) : {} }),
          ),
      );
      r.on("error", reject);
      r.end(payload);
    });

  const calls: SqsCall[] = [];
  const sent: SqsStandIn["sent"] = [];
  const delivered: SqsStandIn["delivered"] = [];
  const emptyReceives: SqsStandIn["emptyReceives"] = [];
  const refused: string[] = [];
  const expired: string[] = [];
  const senderOf = new Map<string, string>();
  let open = 0;
  let abandoned = 0;
  let stopped = false;
  const lost: SqsStandIn["lost"] = [];
  const self: SqsStandIn = {
    url: `http://127.0.0.1:${port}`,
    calls,
    sent,
    delivered,
    emptyReceives,
    refused,
    expired,
    receiving: () => open,
    abandoned: () => abandoned,
    lost,
    beforeSend: undefined,
    queueNames: () => service.Queues.map((q) => q.QueueName).filter((n) => !service.deletingQueues.has(n)),
    close: async () => {
      stopped = true;
      proxy.closeAllConnections();
      await Promise.all([proxy, inner].map((s) => new Promise((r) => s.close(r))));
    },
  };

  proxy.on("request", (req, res) => {
    void (async () => {
      const raw = await readBody(req);
      const answer = (status: number, json: Json) => {
        res.writeHead(status, { "content-type": "application/x-amz-json-1.0" });
        res.end(JSON.stringify(json));
      };
      const refusal = sigV4Refusal({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: raw });
      if (refusal) {
        refused.push(refusal);
        return answer(403, { __type: "com.amazon.coral.service#SignatureDoesNotMatch", message: refusal });
      }
      const target = String(req.headers["x-amz-target"] ?? "");
      const action = target.replace(/^AmazonSQS\./, "");
      const caller = sessionNameOf(parseAuth(req.headers.authorization)![1]!);
      // as SQS: temporary credentials are refused once they have expired
      const expiration = expirationOf(req.headers["x-amz-security-token"]);
      if (expiration !== undefined && Date.now() >= expiration) {
        expired.push(caller);
        return answer(403, {
          __type: "com.amazon.coral.service#ExpiredTokenException",
          message: "The security token included in the request is expired",
        });
      }
      const body = JSON.parse(raw.toString() || "{}") as Json;
      const queueUrl = typeof body.QueueUrl === "string" ? body.QueueUrl : undefined;
      calls.push({ action, caller, ...(queueUrl ? { queueUrl } : {}) });

      if (action === "SendMessage" || action === "SendMessageBatch") {
        const entries = action === "SendMessage" ? [body] : (body.Entries as Json[]);
        await self.beforeSend?.({ bodies: entries.map((e) => String(e.MessageBody)), sender: caller, queueUrl: queueUrl! });
        const r = await forward(target, body);
        // Who sent each message: what ReceiveMessage reports as its SenderId.
        const ids =
          action === "SendMessage" ? [r.json.MessageId] : ((r.json.Successful as Json[] | undefined) ?? []).map((e) => e.MessageId);
        ids.forEach((id, i) => {
          if (typeof id !== "string") return;
          senderOf.set(id, caller);
          const entry =
            action === "SendMessage" ? body : (body.Entries as Json[]).find((e) => e.Id === (r.json.Successful as Json[])[i]!.Id)!;
          sent.push({ messageId: id, body: String(entry.MessageBody), sender: caller, queueUrl: queueUrl! });
        });
        return answer(r.status, r.json);
      }

      if (action === "ReceiveMessage") {
        // SQS answers a long poll as soon as a message is there: poll local-aws-sqs (WaitTimeSeconds 0) until one is.
        const until = Date.now() + Number(body.WaitTimeSeconds ?? 0) * 1000;
        let gone = false;
        res.on("close", () => {
          if (res.writableEnded) return;
          gone = true;
          abandoned++;
        });
        open++;
        let r: { status: number; json: Json };
        try {
          for (;;) {
            r = await forward(target, { ...body, WaitTimeSeconds: 0 });
            const got = (r.json.Messages as Json[] | undefined)?.length ?? 0;
            if (r.status !== 200 || got > 0 || stopped || Date.now() >= until) break;
            await new Promise((w) => setTimeout(w, 10));
          }
        } finally {
          open--;
          if (gone) abandoned--;
        }
        if (gone) {
          // the caller aborted: what this poll took is lost, as on SQS
          for (const m of (r!.json.Messages as Json[] | undefined) ?? [])
            lost.push({ messageId: String(m.MessageId), body: String(m.Body), queueUrl: queueUrl! });
          return;
        }
        const asked = [
          ...((body.MessageSystemAttributeNames as string[] | undefined) ?? []),
          ...((body.AttributeNames as string[] | undefined) ?? []),
        ];
        if (r.status === 200 && !((r.json.Messages as Json[] | undefined) ?? []).length)
          emptyReceives.push({ queueUrl: queueUrl!, at: Date.now() });
        const withSender = asked.includes("SenderId") || asked.includes("All");
        for (const m of (r.json.Messages as Json[] | undefined) ?? []) {
          const sender = senderOf.get(String(m.MessageId)) ?? "unknown";
          const { SenderId: _fixed, ...attributes } = (m.Attributes as Json | undefined) ?? {};
          m.Attributes = withSender ? { ...attributes, SenderId: `AROATEST:${sender}` } : attributes;
          delivered.push({ messageId: String(m.MessageId), body: String(m.Body), sender, queueUrl: queueUrl! });
        }
        return answer(r.status, r.json);
      }

      const r = await forward(target, body);
      answer(r.status, r.json);
    })().catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(e));
    });
  });
  return self;
}
