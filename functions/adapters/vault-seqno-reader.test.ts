/** Review fix check: the key-less seqno reader of GET /v1/account/withdrawals/{seqno} reads what the keyed signer read. */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, expect, it } from "vitest";
import { loadAwsConfig } from "../config";
import * as tonDeps from "./aws-ton-deps";

const calls: string[] = [];
const server = createServer((req, res) => {
  let s = "";
  req.on("data", (c: Buffer) => (s += c));
  req.on("end", () => {
    calls.push(s);
    const rpc = JSON.parse(s) as { method: string };
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify(
        rpc.method === "getAddressInformation"
          ? { ok: true, result: { state: "active" } }
          : { ok: true, result: { gas_used: 1, exit_code: 0, stack: [["num", "0x5"]] } },
      ),
    );
  });
});
afterAll(() => new Promise((r) => server.close(r)));

it("vaultSeqnoReader: same vault seqno reads as the keyed signer, no key, sign refuses", async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jsonRPC`;
  const base = {
    COCOON_STAGE: "prod",
    AWS_REGION: "us-east-1",
    COCOON_TABLE: "t",
    COCOON_MATCHING_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/m",
    COCOON_WORKER_QUEUE_NAME_PREFIX: "cocoon-prod-",
    COCOON_WORKER_QUEUE_URL_PREFIX: "https://sqs.us-east-1.amazonaws.com/123456789012/cocoon-prod-",
    COCOON_WORKER_QUEUE_ARN_PREFIX: "arn:aws:sqs:us-east-1:123456789012:cocoon-prod-",
    COCOON_WORKER_DLQ_ARN: "arn:aws:sqs:us-east-1:123456789012:dlq",
    COCOON_VAULT_ADDRESS: "0:" + "ab".repeat(32),
    COCOON_TON_ENDPOINT: endpoint,
    COCOON_TON_API_KEY: "k",
  };
  const account = Buffer.alloc(32, 9).toString("base64url");
  const keyed = tonDeps.tonSigners(loadAwsConfig({ ...base, COCOON_COORDINATOR_SEED: "07".repeat(32) })).withdrawalSigner!;
  expect(await keyed.chainSeqno!(account)).toBe(5);
  const keyedCalls = calls.splice(0);
  const reader = (tonDeps as any).vaultSeqnoReader(base).withdrawalSigner;
  expect(reader.vault).toBe(keyed.vault);
  expect(await reader.chainSeqno(account)).toBe(5);
  expect(calls).toEqual(keyedCalls);
  await expect(reader.sign({ account, to: "0:" + "cd".repeat(32), amount: 1n, seqno: 0, expiry: 1 })).rejects.toThrow(/no coordinator key/);
});
