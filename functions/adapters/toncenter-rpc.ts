/**
 * One toncenter JSON-RPC call over the runtime's fetch, as @ton/ton's HttpApi.doCall makes it
 * (POST { id, jsonrpc, method, params }, X-API-Key when set; an answer that is not 200 with
 * `ok: true` or whose result does not parse throws). Shared by the withdrawal routes' seqno
 * getter (toncenter-seqno.ts) and the scheduled functions' client (toncenter-client.ts), so
 * that neither carries @ton/ton's TonClient and axios (issue 12).
 */
import * as z from "zod";

export interface ToncenterEndpoint {
  /** the JSON-RPC URL, e.g. https://toncenter.com/api/v2/jsonRPC */
  endpoint: string;
  apiKey?: string;
}

/** TonClient's default (HttpApi: 30 s). */
const TIMEOUT_MS = 30_000;

const Envelope = z.object({ ok: z.boolean(), result: z.unknown().optional() });

export class ToncenterError extends Error {
  override readonly name: string = "ToncenterError";
}

export async function toncenterCall<T>(ton: ToncenterEndpoint, method: string, params: unknown, codec: z.ZodType<T>): Promise<T> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (ton.apiKey) headers["X-API-Key"] = ton.apiKey;
  const res = await fetch(ton.endpoint, {
    method: "POST",
    headers,
    body: JSON.stringify({ id: "1", jsonrpc: "2.0", method, params }),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ToncenterError(`toncenter ${method}: HTTP ${res.status}, not JSON`);
  }
  const envelope = Envelope.safeParse(body);
  if (res.status !== 200 || !envelope.success || !envelope.data.ok) {
    throw new ToncenterError(`toncenter ${method}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  }
  const result = codec.safeParse(envelope.data.result);
  if (!result.success) throw new ToncenterError(`toncenter ${method}: malformed result: ${result.error.message}`);
  return result.data;
}
