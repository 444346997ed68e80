/**
 * Issue 15 end to end on the local default: the real handlers, the LMDB store, the sandbox with
 * the vault, the ReceiptAnchor and the PolicyRegistry, dev agents, and the `cocoon` CLI.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir";
import { ApiError } from "../api-client/api";
import { API } from "../api-client/routes";
import { loadOrCreateKey } from "../api-client/keys";
import type { RunningAgent } from "../agent/runtime";
import { main } from "../client/cli";
import { CocoonClient } from "../client/sdk";
import { generateSigningKey } from "../core/crypto/keys";
import { newJobId } from "../core/ids";
import type { Receipt } from "../events/envelope";
import { jobKey, type JobItem } from "../core/jobs/items";
import type { Item } from "../core/ports";
import { windowEntryKey } from "../core/receipts/log";
import { DEV_IMAGE_DIGEST } from "../core/policy-registry";
import { startLocalAgents } from "../local/agents";
import { startNetwork, type LocalNetwork } from "../local/network";
import { startAgent } from "../agent/runtime";
import { makeAttester } from "../agent/attest";
import { createBuiltinEngine } from "../agent/engines/builtin";
import { devPolicySource } from "../client/policy-source";
import { VerificationError } from "../client/sdk";
import { generateKemKey } from "../core/crypto/keys";
import { PolicyCache, type PolicySource } from "../core/policy-registry";
import { agentLogTo, MODEL, pollUntil } from "./helpers";

/** Runs `cocoon …` in this process; answers its exit code and what it wrote. */
async function cocoon(...argv: string[]) {
  let out = "";
  let err = "";
  const code = await main(argv, { write: (s: string) => (out += s) }, { write: (s: string) => (err += s) });
  return { code, out, err };
}

async function ask(client: CocoonClient) {
  return client.ask({ model: MODEL, messages: [{ role: "user", content: "is my receipt on chain?" }], maxTokens: 16, tiers: ["dev"] });
}

describe("receipts anchored on TON (local default)", () => {
  let net: LocalNetwork;
  let agents: RunningAgent[];
  let keyFile: string;
  let client: CocoonClient;
  let conn: string[];

  beforeAll(async () => {
    const home = tempDir("cocoon-receipts-");
    net = await startNetwork({ anchoring: { tickMs: 200, intervalSeconds: 1 } });
    agents = await startLocalAgents(net.url, home, [{ name: "a", priceBps: 10_000 }]);
    keyFile = join(home, "requester.key");
    client = new CocoonClient({ apiUrl: net.url, key: loadOrCreateKey(keyFile), allowDev: true });
    await client.faucet(5_000_000_000n);
    conn = ["--api", net.url, "--key", keyFile];
  }, 60_000);
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await net.stop();
  });

  it("a job's receipt is provable against the anchor contract within a minute of its answer (cocoon receipts verify)", async () => {
    // Prepare
    const started = Date.now();
    const r = await ask(client);

    // Act
    const v = await cocoon("receipts", "verify", r.jobId, ...conn, "--wait", "60", "--json");

    // Assess
    expect(v.code, v.err).toBe(0);
    expect(JSON.parse(v.out)).toMatchObject({ jobId: r.jobId, verified: true });
    expect(Date.now() - started).toBeLessThan(60_000);
    const onChain = await net.contracts!.anchorReader.latest();
    expect(onChain.seqno).toBeGreaterThanOrEqual(JSON.parse(v.out).anchorSeqno);
  });

  it("an unknown job is an error (exit 2, unknown_job), never a pass; someone else's job is refused", async () => {
    // Prepare
    const r = await ask(client);
    const stranger = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });

    // Act
    const unknown = await cocoon("receipts", "verify", newJobId(Date.now()), ...conn);
    const notYours = stranger.api.request(API.receiptProof, { params: { jobId: r.jobId } });

    // Assess
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain("unknown_job");
    await expect(notYours).rejects.toMatchObject({ status: 403, code: "not_your_job" });
  });

  it("a receipt altered in the coordinator's database no longer verifies (exit 1)", async () => {
    // Prepare: an anchored job
    const r = await ask(client);
    expect((await cocoon("receipts", "verify", r.jobId, ...conn, "--wait", "60")).code).toBe(0);
    // the receipt as the database holds it: its entry in the time-windowed log, found from the job item's updatedAt
    const key = windowEntryKey((await net.store.get<JobItem>("jobs", jobKey(r.jobId)))!.updatedAt, r.jobId);
    const entry = (await net.store.get<{ receipt: Receipt } & Item>("chain", key))!;

    // Act: the operator edits the logged receipt (the billed usage) in its database
    const altered = { ...entry.receipt, body: { ...entry.receipt.body, usage: { promptTokens: 1, completionTokens: 999 } } };
    await net.store.transact([{ op: "put", table: "chain", item: { ...entry, receipt: altered } }]);
    const v = await cocoon("receipts", "verify", r.jobId, ...conn);

    // Assess
    expect(v.code).toBe(1);
    expect(v.err).toMatch(/NOT VERIFIED \[(receipt_differs|bad_receipt_signature|not_included)\]/);
  });

  it("the watcher's check sees the anchors match the coordinator's log: no anchor alert", async () => {
    const { check } = await net.runAnchoringOnce();
    expect(check).toMatchObject({ mismatch: false, overdue: false });
    expect(net.chainAlerts.filter((a) => a.key.startsWith("anchor."))).toEqual([]);
  });
});

describe("the SDK and the agent read policy from the registry (local default)", () => {
  let net: LocalNetwork;
  let agents: RunningAgent[];
  const cache = (source: PolicySource) => new PolicyCache(source, { refreshSeconds: 1, maxAgeSeconds: 60, now: Date.now });
  const withoutDev = (source: PolicySource): PolicySource => ({
    async read() {
      const r = await source.read();
      return { ...r, policy: { ...r.policy, images: r.policy.images.filter((i) => i !== DEV_IMAGE_DIGEST) } };
    },
  });
  const stale = (source: PolicySource): PolicySource => ({
    read: async () => ({ ...(await source.read()), readAt: Date.now() / 1000 - 3600 }),
  });

  beforeAll(async () => {
    net = await startNetwork({ anchoring: false });
    agents = await startLocalAgents(net.url, tempDir("cocoon-sdk-policy-"), [{ name: "a", priceBps: 10_000 }]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await net.stop();
  });

  async function sdk(registry: (api: CocoonClient["api"]) => PolicySource) {
    const plain = new CocoonClient({ apiUrl: net.url, key: generateSigningKey(), allowDev: true });
    await plain.faucet(1_000_000_000n);
    return new CocoonClient({ apiUrl: net.url, key: plain.api.key, allowDev: true, policyRegistry: cache(registry(plain.api)) });
  }

  it("the SDK encrypts only to workers whose image the registry lists, and refuses to act on a stale reading", async () => {
    // Prepare
    const listed = await sdk((api) => devPolicySource(api));
    const delisted = await sdk((api) => withoutDev(devPolicySource(api)));
    const old = await sdk((api) => stale(devPolicySource(api)));

    // Act
    const ok = await ask(listed);
    // each refusal is caught where it is made: a rejection left pending while another is awaited is an unhandled one
    const refused = await ask(delisted).then(
      () => undefined,
      (e: unknown) => e,
    );
    const tooOld = await ask(old).then(
      () => undefined,
      (e: unknown) => e,
    );

    // Assess
    expect(ok.text.length).toBeGreaterThan(0);
    expect(refused).toBeInstanceOf(VerificationError);
    expect(refused).toMatchObject({ code: "no_verified_candidates", message: expect.stringContaining("policy registry") });
    expect(tooOld).toBeInstanceOf(VerificationError);
    expect(tooOld).toMatchObject({ code: "policy_stale" });
  });

  it("the agent leaves a job to its lease while its reading of the registry is stale", async () => {
    // Prepare: the only worker of a fresh model, whose registry reading is an hour old
    const lines: string[] = [];
    const signingKey = generateSigningKey();
    const kemKey = generateKemKey();
    const api = new CocoonClient({ apiUrl: net.url, key: signingKey }).api;
    const agent = await startAgent({
      apiUrl: net.url,
      signingKey,
      kemKey,
      engine: createBuiltinEngine(),
      models: [{ model: "stale/model", priceBps: 10_000 }],
      attest: makeAttester({ tier: "dev", signingKey, kemKey }),
      log: agentLogTo(lines),
      policy: { registry: cache(stale(devPolicySource(api))), image: DEV_IMAGE_DIGEST },
    });
    const client = await sdk((a) => devPolicySource(a));

    // Act: the ask is given up once the refusal is seen (it waited out its 5 s before: the job is left to its lease)
    const giveUp = new AbortController();
    const job = client
      .ask({
        model: "stale/model",
        messages: [{ role: "user", content: "hi" }],
        maxTokens: 8,
        tiers: ["dev"],
        timeoutMs: 5_000,
        signal: giveUp.signal,
      })
      .catch((e: Error) => e);
    const refusal = await pollUntil(
      "the agent's refusal in its log",
      () => lines.find((l) => l.includes("no fresh reading of the policy registry")),
      10_000,
      50,
    );

    // Assess
    expect(refusal).toBeDefined();
    expect(agent.stats.jobs).toBe(0);
    giveUp.abort();
    await job;
    await agent.stop();
  });
});

describe("policy held on chain (local default)", () => {
  let net: LocalNetwork;
  let agents: RunningAgent[];
  let client: CocoonClient;
  let conn: string[];

  beforeAll(async () => {
    const home = tempDir("cocoon-policy-");
    net = await startNetwork({
      chain: { now: Math.floor(Date.now() / 1000) },
      anchoring: false,
      policyRegistry: { timelockSeconds: 600, refreshSeconds: 1 },
    });
    agents = await startLocalAgents(net.url, home, [{ name: "a", priceBps: 10_000 }]);
    const keyFile = join(home, "requester.key");
    client = new CocoonClient({ apiUrl: net.url, key: loadOrCreateKey(keyFile), allowDev: true });
    await client.faucet(5_000_000_000n);
    conn = ["--api", net.url, "--key", keyFile];
  }, 60_000);
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await net.stop();
  });

  /** The registry as `cocoon policy show` reads it, less the time of the read. */
  const policyState = async () => {
    const { readAt: _readAt, ...s } = JSON.parse((await cocoon("policy", "show", ...conn, "--json")).out) as {
      readAt: number;
      version: number;
      policy: { images: string[] };
      proposals: unknown[];
    };
    return s;
  };

  it("a change with fewer than m approvals, or before the time lock, is refused on chain (exit code by name, state unchanged); the removed image's worker then leaves the candidate lists", async () => {
    // Prepare: the seeded registry lists the dev image, and the dev worker is matched
    const before = await policyState();
    expect(before.policy.images).toContain(DEV_IMAGE_DIGEST);
    await expect(ask(client)).resolves.toMatchObject({ text: expect.any(String) });
    const proposed = await cocoon("policy", "propose", "--owner", "0", "--remove-image", DEV_IMAGE_DIGEST, ...conn, "--json");
    expect(proposed.code, proposed.err).toBe(0);
    const id = String(JSON.parse(proposed.out).id);
    const open = await policyState();
    expect(open.policy).toEqual(before.policy);

    // Act + Assess: one approval of two
    const lonely = await cocoon("policy", "execute", id, "--owner", "0", ...conn);
    expect(lonely.code).toBe(1);
    expect(lonely.out).toContain("ERR_NOT_ENOUGH_APPROVALS");
    expect(await policyState()).toEqual(open);

    // two approvals, inside the time lock
    expect((await cocoon("policy", "approve", id, "--owner", "1", ...conn)).code).toBe(0);
    const early = await cocoon("policy", "execute", id, "--owner", "2", ...conn);
    expect(early.code).toBe(1);
    expect(early.out).toContain("ERR_TIMELOCKED");
    const locked = await policyState();
    expect({ version: locked.version, policy: locked.policy }).toEqual({ version: before.version, policy: before.policy });
    await expect(ask(client)).resolves.toMatchObject({ text: expect.any(String) });

    // after the time lock
    net.chain!.blockchain.now = net.chain!.nowSeconds() + 601;
    const done = await cocoon("policy", "execute", id, "--owner", "2", ...conn);
    expect(done.code, done.out + done.err).toBe(0);
    const after = await policyState();
    expect(after.version).toBe(before.version + 1);
    expect(after.policy.images).not.toContain(DEV_IMAGE_DIGEST);

    // within one policy refresh (1 s here) the worker is out of the candidate lists: polled with
    // a deadline (a prepare is cheap and moves no money) instead of a fixed sleep a loaded machine can outlast
    await pollUntil(
      "the delisted worker to leave the candidate lists",
      () =>
        client.api.request(API.prepareJob, { body: { model: MODEL, maxTokens: 16, maxPromptTokens: 64, tiers: ["dev"] } }).then(
          () => undefined,
          (e: unknown) => (e instanceof ApiError && e.code === "no_workers" ? true : undefined),
        ),
      15_000,
      100,
    );
    const refused = ask(client);
    await expect(refused).rejects.toBeInstanceOf(ApiError);
    await expect(refused).rejects.toMatchObject({ code: "no_workers" });
  }, 60_000);
});
