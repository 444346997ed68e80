/**
 * core/chain/vault-binding.ts over every store backend: the local ones (memory, LMDB) for its
 * semantics, the DynamoDB adapter (its document client mocked) for the item it reads and the
 * conditional put it sends. The sandbox vault's end-to-end refusal is
 * functions/adapters/ton-chain-vault-binding.test.ts.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { makeStore, NOW, TABLE } from "../../functions/adapters/dynamo-testing";
import { localStoreBackends } from "../../local/store-backends-testing";
import { StoreChainLedger } from "./store-ledger";
import { bindVault, boundVault, VAULT_BINDING_KEY, VaultMismatchError } from "./vault-binding";

const A = "0:" + "a1".repeat(32);
const B = "0:" + "b2".repeat(32);
const AT = 1_750_000_000_000;

const { stores } = localStoreBackends("vault-binding");

describe.each(stores)("the vault binding on the %s store", (_name, open) => {
  it("a fresh store is bound by its first operation; the same vault passes again, another is refused with nothing written", async () => {
    // Prepare
    const store = await open();

    // Act
    await bindVault(store, A, AT);
    await bindVault(store, A, AT + 1);
    const refused = await bindVault(store, B, AT + 2).catch((e: unknown) => e);

    // Assess
    expect(await store.get("chain", VAULT_BINDING_KEY)).toEqual({ ...VAULT_BINDING_KEY, address: A, boundAt: AT });
    expect(refused).toBeInstanceOf(VaultMismatchError);
    expect(refused).toMatchObject({ status: 503, code: "vault_mismatch", bound: A, configured: B, details: { bound: A, configured: B } });
    expect((refused as Error).message).toContain(`belongs to vault ${A}`);
  });

  it("a store from before the binding (a cursor, no binding) is bound to the vault configured at its first operation", async () => {
    // Prepare: chain state written by a coordinator that knew no binding
    const store = await open();
    const ledger = new StoreChainLedger(store);
    await ledger.setCursor({ lt: "100", hash: "ab".repeat(32) }, AT);

    // Act
    const before = await boundVault(store);
    await ledger.bindVault(A, AT);

    // Assess
    expect(before).toBeNull();
    expect(await boundVault(store)).toBe(A);
    expect(await ledger.getCursor()).toEqual({ lt: "100", hash: "ab".repeat(32) });
    await expect(ledger.bindVault(B, AT)).rejects.toBeInstanceOf(VaultMismatchError);
  });

  it("first operations racing under two vaults: one binds, every other under the other vault is refused", async () => {
    // Prepare
    const store = await open();

    // Act
    const results = await Promise.allSettled([A, B, A, B, A, B].map((v, i) => bindVault(store, v, AT + i)));

    // Assess
    const bound = await boundVault(store);
    const other = bound === A ? B : A;
    results.forEach((r, i) => {
      const vault = i % 2 === 0 ? A : B;
      if (vault === bound) expect(r.status).toBe("fulfilled");
      else expect(r).toMatchObject({ status: "rejected", reason: { code: "vault_mismatch", bound, configured: other } });
    });
  });
});

describe("the vault binding on the DynamoDB store", () => {
  const ddb = mockClient(DynamoDBDocumentClient);
  beforeEach(() => ddb.reset());

  it("a fresh table: reads the binding consistently, then puts it on condition that none exists", async () => {
    // Prepare
    ddb.on(GetCommand).resolves({});
    ddb.on(PutCommand).resolves({});

    // Act
    await bindVault(makeStore(), A, NOW);

    // Assess
    expect(ddb.commandCalls(GetCommand)[0]!.args[0].input).toEqual({
      TableName: TABLE,
      Key: { pk: "chain#vault", sk: "binding" },
      ConsistentRead: true,
    });
    const put = ddb.commandCalls(PutCommand)[0]!.args[0].input;
    expect(put.Item).toEqual({ pk: "chain#vault", sk: "binding", address: A, boundAt: NOW });
    expect(put.ConditionExpression).toMatch(/^attribute_not_exists\(#n0\)/);
  });

  it("a table bound to another vault: refused, nothing written", async () => {
    // Prepare
    ddb.on(GetCommand).resolves({ Item: { pk: "chain#vault", sk: "binding", address: A, boundAt: NOW } });

    // Act
    const e = await bindVault(makeStore(), B, NOW).catch((x: unknown) => x);

    // Assess
    expect(e).toMatchObject({ code: "vault_mismatch", bound: A, configured: B });
    expect(ddb.commandCalls(PutCommand)).toHaveLength(0);
  });

  it("lost the first write to another vault's binding (ConditionalCheckFailed): reads the winner and refuses", async () => {
    // Prepare
    ddb
      .on(GetCommand)
      .resolvesOnce({})
      .resolves({ Item: { pk: "chain#vault", sk: "binding", address: A, boundAt: NOW } });
    ddb.on(PutCommand).rejects(new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} }));

    // Act
    const lost = await bindVault(makeStore(), B, NOW).catch((x: unknown) => x);
    const same = await bindVault(makeStore(), A, NOW);

    // Assess
    expect(lost).toMatchObject({ code: "vault_mismatch", bound: A, configured: B });
    expect(same).toBeUndefined();
  });
});
