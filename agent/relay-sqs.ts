/**
 * The agent's publisher for the SQS relay (issue 12; functions/adapters/relay-sqs.ts vends the
 * sessions): each sealed chunk is one message on the requester's channel queue, its body the
 * RelayChunk as JSON, sent with the job-scoped credentials the coordinator vended (they allow
 * sqs:SendMessage to that one queue, under a role session named for this job attempt, which
 * the requester reads back as the message's SenderId). Chunks that queued while the last send
 * was in flight go out in one SendMessageBatch (≤ 10 entries, ≤ 256 KiB): SQS bills a request
 * per 64 KiB of it, not per message.
 */
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { RelayChunk, RelaySession } from "../events/relay";
import type { ExternalRelayPublisher } from "./relay";

export type SqsSession = Extract<RelaySession, { transport: "sqs" }>;

/** SendMessageBatch's limits: 10 entries, 256 KiB of bodies in all. */
const MAX_BATCH_ENTRIES = 10;
const MAX_BATCH_BYTES = 256 * 1024;

/** Consecutive groups of bodies that each fit one SendMessageBatch. */
export function batchBodies(bodies: string[]): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  let bytes = 0;
  for (const b of bodies) {
    const n = Buffer.byteLength(b);
    if (cur.length > 0 && (cur.length === MAX_BATCH_ENTRIES || bytes + n > MAX_BATCH_BYTES)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(b);
    bytes += n;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

export function createSqsRelayPublisher(o: { client?: (s: SqsSession) => Promise<SQSClient> } = {}): ExternalRelayPublisher {
  // One client per credentials (a session is per job attempt; its sends share the connection).
  const clients = new Map<string, Promise<SQSClient>>();
  const clientFor =
    o.client ??
    ((s: SqsSession) => {
      let c = clients.get(s.credentials.accessKeyId);
      if (!c) {
        c = import("@aws-sdk/client-sqs").then(
          ({ SQSClient }) =>
            new SQSClient({
              region: s.region,
              // the queue's own origin (what the SDK would pick from QueueUrl anyway, without its warning)
              endpoint: new URL(s.queueUrl).origin,
              credentials: {
                accessKeyId: s.credentials.accessKeyId,
                secretAccessKey: s.credentials.secretAccessKey,
                sessionToken: s.credentials.sessionToken,
              },
            }),
        );
        clients.set(s.credentials.accessKeyId, c);
        // sessions are per job attempt: forget the client when its credentials lapse
        setTimeout(() => clients.delete(s.credentials.accessKeyId), Math.max(0, s.credentials.expiration - Date.now())).unref();
      }
      return c;
    });
  return async (session, chunks: RelayChunk[]) => {
    if (session.transport !== "sqs") throw new Error(`not an SQS relay session: ${session.transport}`);
    if (session.credentials.expiration <= Date.now()) throw new Error("the relay credentials expired");
    const client = await clientFor(session);
    const { SendMessageCommand, SendMessageBatchCommand } = await import("@aws-sdk/client-sqs");
    for (const group of batchBodies(chunks.map((c) => JSON.stringify(c)))) {
      if (group.length === 1) {
        await client.send(new SendMessageCommand({ QueueUrl: session.queueUrl, MessageBody: group[0]! }));
        continue;
      }
      const r = await client.send(
        new SendMessageBatchCommand({
          QueueUrl: session.queueUrl,
          Entries: group.map((MessageBody, i) => ({ Id: String(i), MessageBody })),
        }),
      );
      // A partial failure would leave a gap the requester must refuse: fail the whole publish (streaming stops).
      if (r.Failed?.length) throw new Error(`SQS refused ${r.Failed.length} of ${group.length} chunks: ${r.Failed[0]!.Code ?? "error"}`);
    }
  };
}
