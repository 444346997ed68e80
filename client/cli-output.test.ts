/**
 * What `cocoon` prints where no local sandbox sends for the requester: the withdrawal to send by
 * hand and the TON to attach, a warning for a testnet address, failures as JSON with --json, and a
 * key file it must not use. A stand-in coordinator over real HTTP (nothing else runs).
 */
import { chmodSync, copyFileSync, mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Address, Cell } from "@ton/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../test/temp-dir";
import { loadOrCreateKey } from "../api-client/keys";
import { routeStandIn } from "../api-client/stand-in-testing";
import { withdrawMessage } from "../api-client/vault-messages";
import { withdrawBody } from "../contracts/vault";
import { withdrawalFromJson } from "../functions/adapters/ton-withdrawal-signer";
import { main } from "./cli";
import { coordinator, signedWithdrawal } from "./sdk-stub-testing";

const home = tempDir("cocoon-cli-output-");
process.env.COCOON_HOME = home; // no .cocoon/local.json of this checkout leaks in

const RAW_TO = "0:" + "cd".repeat(32);
const JOB_ID = "job_" + "0".repeat(26);
const TESTNET_TO = Address.parse(RAW_TO).toString({ testOnly: true, bounceable: false });
const error = (status: number, code: string) => ({ status, body: { error: { code, message: `stand-in: ${code}` } } });

/**
 * A coordinator without the local sandbox: withdrawals are signed, never sent; `refuse` makes the
 * next one a 402. Its answer is signed for the account of `keyFile` (the SDK refuses a withdrawal
 * for another account), which `withdrawer` copies into a fresh folder for each run.
 */
async function noSandboxCoordinator() {
  const keyFile = join(mkdtempSync(join(home, "withdrawer-")), "requester.key");
  const w = await signedWithdrawal(coordinator.secretKey, 0, { account: loadOrCreateKey(keyFile).id });
  const state = { refuse: false };
  const answer = (route: string): { status: number; body?: unknown } => {
    if (route === "GET /v1/routes") return { status: 404 };
    if (route === "POST /v1/sessions") return error(404, "sessions_unavailable");
    if (route === "GET /v1/dev/wallet") return error(404, "dev_chain_disabled");
    if (route === "POST /v1/account/withdraw") return state.refuse ? error(402, "insufficient_funds") : { status: 200, body: w };
    if (route === "GET /v1/account") return { status: 200, body: { account: w.account, available: "0", held: "0", reserved: w.amount } };
    return error(404, "not_found");
  };
  return { ...(await routeStandIn(answer)), w, state, keyFile };
}

async function cocoon(argv: string[]) {
  const o = { out: "", err: "" };
  const code = await main(argv, { write: (s: string) => (o.out += s) }, { write: (s: string) => (o.err += s) });
  return { code, ...o };
}

/** Factory: the CLI arguments of a requester of its own (a fresh key file) against `url`. */
const requester = (url: string) => ["--api", url, "--key", join(mkdtempSync(join(home, "requester-")), "requester.key")];

/** Factory: the CLI arguments of the stand-in's requester (its key file, copied: no withdrawal left on file from another run). */
function withdrawer(c: { url: string; keyFile: string }): string[] {
  const key = join(mkdtempSync(join(home, "withdrawer-")), "requester.key");
  copyFileSync(c.keyFile, key);
  return ["--api", c.url, "--key", key];
}

describe("cocoon without the local sandbox (stand-in coordinator)", () => {
  let c: Awaited<ReturnType<typeof noSandboxCoordinator>>;
  beforeAll(async () => {
    c = await noSandboxCoordinator();
  });
  afterAll(async () => c?.close());

  // It printed JSON and "send it in a Withdraw message", which no wallet takes.
  it("the printed withdrawal is a ton://transfer link a wallet opens (the vault, 0.05 TON of gas, the Withdraw body), and so is its JSON", async () => {
    // Act
    const text = await cocoon(["withdraw", "0.005", "--to", RAW_TO, ...withdrawer(c)]);
    const json = await cocoon(["withdraw", "0.005", "--to", RAW_TO, ...withdrawer(c), "--json"]);
    // Assess
    expect([text.code, json.code]).toEqual([0, 0]);
    const expected = withdrawMessage(c.w);
    expect(text.out).toContain("NOT paid yet");
    expect(text.out).toContain(`open in your wallet: ${expected.link}\n`);
    expect(text.out).toContain(`or send 0.05 TON to ${expected.to} with this body (a BOC, base64): ${expected.body}\n`);
    expect(text.out).toContain("the 0.05 TON pays its gas: less is refused (ERR_LOW_VALUE)");
    expect(Cell.fromBase64(expected.body).equals(withdrawBody(withdrawalFromJson(c.w).withdrawal))).toBe(true);
    expect(JSON.parse(json.out)).toMatchObject({ sent: false, withdrawal: c.w, messageValue: "50000000", message: expected });
  });

  it("a test-only (testnet) --to is warned about on stderr, as JSON with --json; a mainnet form is not", async () => {
    // Act
    const testnet = await cocoon(["withdraw", "0.005", "--to", TESTNET_TO, ...withdrawer(c)]);
    const testnetJson = await cocoon(["withdraw", "0.005", "--to", TESTNET_TO, ...withdrawer(c), "--json"]);
    const mainnet = await cocoon(["withdraw", "0.005", "--to", Address.parse(RAW_TO).toString(), ...withdrawer(c)]);
    // Assess
    expect(testnet.code).toBe(0);
    expect(testnet.err).toMatch(/^warning \[testnet_address\]: --to \S+ is flagged test-only/);
    expect(JSON.parse(testnetJson.err)).toMatchObject({ warning: { code: "testnet_address", status: 0 } });
    expect(mainnet.err).toBe("");
  });

  it("--json: a refusal is one JSON object on stderr with its code, message and status; stdout empty; exit 2 as in text mode", async () => {
    // Prepare
    c.state.refuse = true;
    try {
      // Act
      const json = await cocoon(["withdraw", "0.005", "--to", RAW_TO, ...withdrawer(c), "--json"]);
      const text = await cocoon(["withdraw", "0.005", "--to", RAW_TO, ...withdrawer(c)]);
      // Assess
      expect([json.code, json.out]).toEqual([2, ""]);
      expect(JSON.parse(json.err)).toEqual({ error: { code: "insufficient_funds", message: "stand-in: insufficient_funds", status: 402 } });
      expect([text.code, text.err]).toEqual([2, "error [insufficient_funds]: stand-in: insufficient_funds\n"]);
    } finally {
      c.state.refuse = false;
    }
  });
});

describe("cocoon --json failures without any coordinator", () => {
  it("no answer at all: {error:{code:unreachable, status:0}} on stderr, exit 2", async () => {
    // Act
    const r = await cocoon(["balance", ...requester("http://127.0.0.1:1"), "--json"]);
    // Assess
    expect([r.code, r.out]).toEqual([2, ""]);
    expect(JSON.parse(r.err)).toMatchObject({ error: { code: "unreachable", status: 0 } });
  });

  it("receipts verify --json: an unreachable coordinator is one JSON line on stderr, exit 2, stdout empty", async () => {
    // Prepare: the key that made the job (receipts verify refuses a key file that is not there, no_key)
    const args = requester("http://127.0.0.1:1");
    loadOrCreateKey(args[3]!);
    // Act
    const r = await cocoon(["receipts", "verify", JOB_ID, ...args, "--json"]);
    // Assess
    expect([r.code, r.out]).toEqual([2, ""]);
    expect(r.err.split("\n")).toEqual([expect.any(String), ""]); // one line
    expect(JSON.parse(r.err)).toMatchObject({ error: { code: "unreachable", status: 0 } });
  });

  it.skipIf(process.platform === "win32")(
    "receipts verify --json: a key file it refuses is key_file_too_open as JSON, exit 2",
    async () => {
      // Prepare
      const args = requester("http://127.0.0.1:1");
      loadOrCreateKey(args[3]!);
      chmodSync(args[3]!, 0o644);
      // Act
      const r = await cocoon(["receipts", "verify", JOB_ID, ...args, "--json"]);
      // Assess
      expect(r.code).toBe(2);
      expect(JSON.parse(r.err)).toEqual({ error: { code: "key_file_too_open", message: expect.any(String), status: 0 } });
    },
  );

  it("an amount that is none: invalid_amount as JSON", async () => {
    // Act
    const r = await cocoon(["faucet", "abc", ...requester("http://127.0.0.1:1"), "--json"]);
    // Assess
    expect(r.code).toBe(2);
    expect(JSON.parse(r.err)).toMatchObject({ error: { code: "invalid_amount", status: 0 } });
  });

  it.skipIf(process.platform === "win32")(
    "a key file others may read is refused before anything is sent: key_file_too_open, exit 2 (not loaded, not a crash)",
    async () => {
      // Prepare
      const args = requester("http://127.0.0.1:1");
      loadOrCreateKey(args[3]!);
      chmodSync(args[3]!, 0o644);
      // Act
      const r = await cocoon(["balance", ...args]);
      // Assess
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^error \[key_file_too_open\]: the key file \S+ may be read or written by other users \(mode 0644\)/);
    },
  );
});

describe("cocoon models", () => {
  it("says a model without a live worker is unserved, not priced at 0", async () => {
    // Prepare: one model served, one whose workers all left (the coordinator still lists it)
    const listed = {
      models: [
        { model: "served", workers: 2, tiers: { dev: 2 }, price: { min: "100", median: "110", max: "120" } },
        { model: "left", workers: 0, tiers: {}, price: { min: "0", median: "0", max: "0" } },
      ],
    };
    const server: Server = createServer((req, res) => {
      req.resume();
      const ok = req.url === "/v1/models";
      res.writeHead(ok ? 200 : 404, { "content-type": "application/json" }).end(ok ? JSON.stringify(listed) : "{}");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      // Act
      const r = await cocoon(["models", ...requester(url)]);
      // Assess
      expect(r.code).toBe(0);
      expect(r.out.split("\n")).toEqual([
        "served  workers=2 dev (SIMULATED)=2  price/token min=100 median=110 max=120 nanoTON",
        "left  no live worker now (not served until one joins)",
        "",
      ]);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
