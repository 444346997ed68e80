/**
 * The local default's chain faucet (POST /v1/account/faucet, functions/http/dev-wallet.ts) killed
 * between its two durable steps: the claim of its Idempotency-Key (a store write) and the sandbox
 * deposit (a chain send). The retry under the same key must end with the caller credited once.
 */
import { describe, expect, it } from "vitest";
import type { CoreDeps } from "../../core/deps";
import { createChainLedger } from "../../core/chain/store-ledger";
import { createMemoryStore } from "../../local/memory-store";
import { KilledError, killAtWrite } from "../../test/fixtures/kill-store";
import { chainFaucetRoute, type DevChain, type DevChainDeps } from "./dev-wallet";

const TON = 1_000_000_000n;
const NOW = 1_760_000_000_000;
const CALLER = "caller-key-id";

/** A sandbox chain stand-in: each deposit is a vault transaction, credited by the next sync (the watcher's pass). */
function world() {
  let now = NOW;
  const clock = { now: () => now };
  const store = createMemoryStore({ clock });
  const ledger = createChainLedger(store);
  const sent: Array<{ account: string; amount: bigint; tx: string }> = [];
  const chain: DevChain & { beforeDeposit?: () => void } = {
    vault: "0:" + "f".repeat(64),
    minDeposit: TON / 10n,
    depositFee: 0n,
    walletOf: async () => ({ address: "0:" + "1".repeat(64), balance: 0n }),
    async deposit(account, amount) {
      chain.beforeDeposit?.();
      const tx = String(sent.length + 1).padStart(64, "0");
      sent.push({ account, amount, tx });
      return { txHash: tx, success: true };
    },
    redeem: async () => ({ txHash: "", success: false, paid: 0n }),
    withdraw: async () => ({ txHash: "", success: false }),
    vaultBalance: async () => sent.reduce((s, d) => s + d.amount, 0n),
    async sync() {
      for (const d of sent) await ledger.creditDeposit(d.tx, d.account, d.amount, clock.now());
    },
  };
  const deps = { store, clock, log: { info() {}, warn() {}, error() {} }, devChain: chain } as unknown as CoreDeps & DevChainDeps;
  const faucet = (key: string) =>
    chainFaucetRoute.run({
      deps,
      caller: CALLER,
      requestNonce: "n1",
      body: { amount: TON },
      query: undefined,
      headers: { "idempotency-key": key },
      params: {},
    });
  return { store, chain, sent, faucet, later: (ms: number) => (now += ms) };
}

describe("chain faucet: a kill between the key's claim and the deposit", () => {
  // Found by the crash review (session 32): the claim was put before the deposit and only taken
  // back when the deposit threw in this process, so a kill in between left the key answering 200
  // for good with nothing credited. The claim is now two-phase ("sending", then "sent").
  it("killed after the claim, before the deposit left: the retry under the same key deposits and credits once", async () => {
    // Prepare: the process dies right before the deposit is sent (the claim committed)
    const w = world();
    const kill = killAtWrite(w.store, Infinity);
    w.chain.beforeDeposit = () => {
      kill.kill();
      throw new KilledError("killed before the deposit");
    };
    await expect(w.faucet("faucet-key-1")).rejects.toBeInstanceOf(KilledError);
    kill.restart();
    w.chain.beforeDeposit = undefined;
    // Act: the client retries with its key once the restarted coordinator answers
    w.later(60_000);
    const answer = await w.faucet("faucet-key-1");
    const again = await w.faucet("faucet-key-1");
    // Assess: one deposit, credited once
    expect(w.sent).toHaveLength(1);
    expect(answer).toMatchObject({ available: TON.toString() });
    expect(again).toMatchObject({ available: TON.toString() });
  });

  it("killed after the deposit left, before its mark: the retry deposits again, both credited (the tradeoff, dev play money)", async () => {
    // Prepare: the deposit lands, then the process dies before the claim is marked sent
    const w = world();
    const kill = killAtWrite(w.store, Infinity);
    const deposit = w.chain.deposit.bind(w.chain);
    w.chain.deposit = async (...a) => {
      await deposit(...a);
      kill.kill();
      throw new KilledError("killed after the deposit");
    };
    await expect(w.faucet("faucet-key-1")).rejects.toBeInstanceOf(KilledError);
    kill.restart();
    w.chain.deposit = deposit;
    // Act: a retry within the sending window is told to wait; one after it takes the claim over
    const early = await w.faucet("faucet-key-1").catch((e: unknown) => e);
    w.later(60_000);
    const answer = await w.faucet("faucet-key-1");
    const again = await w.faucet("faucet-key-1");
    // Assess: nothing lost, nothing unaccounted: two real deposits, both credited, then no more
    expect(early).toMatchObject({ status: 409, code: "faucet_in_progress" });
    expect(w.sent).toHaveLength(2);
    expect(answer).toMatchObject({ available: (2n * TON).toString() });
    expect(again).toMatchObject({ available: (2n * TON).toString() });
  });

  it("a deposit marked sent is never sent again under its key, however late the retry", async () => {
    const w = world();
    await w.faucet("faucet-key-1");
    w.later(3_600_000);
    const again = await w.faucet("faucet-key-1");
    expect(w.sent).toHaveLength(1);
    expect(again).toMatchObject({ available: TON.toString() });
  });
});

describe("chain faucet: a claim taken over by a retry", () => {
  // Found by the session 33 review: a first request whose deposit outlived FAUCET_SENDING_MS (its
  // claim taken over by a retry, which deposited and marked it sent) freed the key when its own
  // deposit then failed, so the next retry under the key deposited again: two deposits for a key
  // whose first never reached the vault. Its release is now conditioned on the claim being its own.
  it("the first request's failed deposit frees nothing it no longer holds: the key deposited once", async () => {
    // Prepare: the first request's deposit hangs past the sending window, then fails
    const w = world();
    const deposit = w.chain.deposit.bind(w.chain);
    let fail!: (e: Error) => void;
    const depositing = new Promise<void>((started) => {
      w.chain.deposit = () =>
        new Promise((_, reject) => {
          fail = reject;
          started();
        });
    });
    const first = w.faucet("faucet-key-1").catch((e: unknown) => e);
    await depositing;
    w.chain.deposit = deposit;
    w.later(31_000);
    const retried = await w.faucet("faucet-key-1");
    // Act: the first request's deposit fails now, and the client retries once more
    fail(new Error("the sandbox lost the first deposit"));
    expect(await first).toBeInstanceOf(Error);
    const again = await w.faucet("faucet-key-1");
    // Assess: one deposit under the key, credited once
    expect(w.sent).toHaveLength(1);
    expect(retried).toMatchObject({ available: TON.toString() });
    expect(again).toMatchObject({ available: TON.toString() });
  });
});
