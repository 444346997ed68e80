/**
 * Secrets from SSM SecureString parameters (functions/secrets.ts resolveSecrets, loadLambdaEnv;
 * adapters/ssm-secrets.ts; the guard in config.ts loadAwsConfig): the stack gives a function `<secret>_PARAM`, the parameter's name, and
 * the cold start reads it once, checks it with the secret's own schema, and fails by a named error
 * that names the parameter, never the value. SSM is aws-sdk-client-mock's.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { GetParametersCommand, SSMClient, type GetParametersCommandOutput } from "@aws-sdk/client-ssm";
import { ConfigError, loadAwsConfig } from "./config";
import { resolveSecrets, SecretParameterError, secretsOnce } from "./secrets";
import { readSsmParameters } from "./adapters/ssm-secrets";
import { AnchorEnv } from "./schedule/anchor";
import { ChainEnv } from "./schedule/chain-watcher";
import { prodStageEnv } from "./adapters/aws-testing";
import { parseTonAddress } from "./adapters/ton-cells";
import { vaultVoucherSigner } from "./adapters/vault-signers";
import type { CoreDeps } from "../core/deps";
import type { PayoutDeps } from "../core/payouts";
import type { WithdrawalDeps } from "../core/withdrawals";

type Env = Record<string, string | undefined>;

const SEED = "5e".repeat(32);
const QUOTE = "9a".repeat(32);
const VAULT = "0:" + "ab".repeat(32);
const SEED_PARAM = "/cocoon/prod/coordinator-seed";
const QUOTE_PARAM = "/cocoon/prod/quote-key";
const TON_KEY = "c3".repeat(32);
const TON_KEY_PARAM = "/cocoon/prod/ton-api-key";
const BOT_TOKEN = "4242424242:AAtelegram-token_of_the_alert_bot0123";
const BOT_TOKEN_PARAM = "/cocoon/prod/telegram-bot-token";
const TON_ENDPOINT = "https://toncenter.example/api/v2/jsonRPC";

const ssm = mockClient(SSMClient);
beforeEach(() => ssm.reset());
afterEach(() => vi.unstubAllEnvs());

/** Factory: SSM holding these parameters (SecureString unless told), answering GetParameters as SSM does. */
function ssmHolds(params: Record<string, string | { value: string; type: string }>) {
  ssm.on(GetParametersCommand).callsFake((input: { Names: string[] }): GetParametersCommandOutput => {
    const known = input.Names.filter((n) => params[n] !== undefined);
    return {
      $metadata: {},
      Parameters: known.map((n) => {
        const p = params[n]!;
        return typeof p === "string" ? { Name: n, Value: p, Type: "SecureString" } : { Name: n, Value: p.value, Type: p.type as "String" };
      }),
      InvalidParameters: input.Names.filter((n) => params[n] === undefined),
    };
  });
}

/** Factory: a signing route's environment as the stack sets it with the seed in SSM. */
const signerEnv = (over: Env = {}): Env =>
  prodStageEnv({ COCOON_VAULT_ADDRESS: VAULT, COCOON_COORDINATOR_SEED_PARAM: SEED_PARAM, ...over });

/** Runs `p` and returns the error it rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e as Error,
  );
}

describe("resolveSecrets over SSM", () => {
  it("reads the named parameter once, decrypted, and the config signs with its value (the name is dropped)", async () => {
    // Prepare
    ssmHolds({ [SEED_PARAM]: SEED, [QUOTE_PARAM]: QUOTE });
    const env = signerEnv({ COCOON_QUOTE_KEY_PARAM: QUOTE_PARAM });

    // Act
    const resolved = await resolveSecrets(env);
    const config = loadAwsConfig(resolved);

    // Assess
    expect(ssm.commandCalls(GetParametersCommand).map((c) => c.args[0].input)).toEqual([
      { Names: [SEED_PARAM, QUOTE_PARAM], WithDecryption: true },
    ]);
    expect(config.payouts?.coordinatorSeedHex).toBe(SEED);
    expect(config.core.quoteKey).toBe(QUOTE);
    expect(resolved.COCOON_COORDINATOR_SEED_PARAM).toBeUndefined();
    expect(env.COCOON_COORDINATOR_SEED).toBeUndefined(); // the caller's environment is left as it was
  });

  it("the anchorer's seed too, checked by AnchorEnv", async () => {
    // Prepare
    ssmHolds({ "/cocoon/prod/anchor-seed": "08".repeat(32) });
    const env = {
      COCOON_TON_ENDPOINT: "https://toncenter.com/api/v2/jsonRPC",
      COCOON_ANCHOR_ADDRESS: "0:" + "b".repeat(64),
      COCOON_ANCHOR_SEED_PARAM: "/cocoon/prod/anchor-seed",
    };

    // Act
    const parsed = AnchorEnv.parse(await resolveSecrets(env));

    // Assess
    expect(parsed.COCOON_ANCHOR_SEED).toBe("08".repeat(32));
  });

  it("the toncenter key and the alert bot's token too, checked by the chain watcher's ChainEnv", async () => {
    // Prepare
    ssmHolds({ [TON_KEY_PARAM]: TON_KEY, [BOT_TOKEN_PARAM]: BOT_TOKEN });
    const env = {
      COCOON_TON_ENDPOINT: TON_ENDPOINT,
      COCOON_VAULT_ADDRESS: VAULT,
      COCOON_TON_API_KEY_PARAM: TON_KEY_PARAM,
      COCOON_TELEGRAM_BOT_TOKEN_PARAM: BOT_TOKEN_PARAM,
      COCOON_TELEGRAM_CHAT_ID: "-1001234",
    };

    // Act
    const parsed = ChainEnv.parse(await resolveSecrets(env));

    // Assess
    expect(ssm.commandCalls(GetParametersCommand).map((c) => c.args[0].input)).toEqual([
      { Names: [TON_KEY_PARAM, BOT_TOKEN_PARAM], WithDecryption: true },
    ]);
    expect(parsed).toMatchObject({ COCOON_TON_API_KEY: TON_KEY, COCOON_TELEGRAM_BOT_TOKEN: BOT_TOKEN });
  });

  it.each([
    ["COCOON_TELEGRAM_BOT_TOKEN_PARAM", BOT_TOKEN_PARAM, "bot/" + BOT_TOKEN, /must be a Telegram bot token as @BotFather gives it/],
    ["COCOON_TELEGRAM_BOT_TOKEN_PARAM", BOT_TOKEN_PARAM, BOT_TOKEN + "\n", /must be a Telegram bot token as @BotFather gives it/],
    [
      "COCOON_TON_API_KEY_PARAM",
      TON_KEY_PARAM,
      TON_KEY + "\n",
      /must be the toncenter API key: printable ASCII without spaces or line breaks/,
    ],
    ["COCOON_TON_API_KEY_PARAM", TON_KEY_PARAM, `${TON_KEY} ${TON_KEY}`, /must be the toncenter API key/],
  ])(
    "a malformed %s value fails by the plain variable's schema, naming the parameter and never the value",
    async (param, name, value, why) => {
      // Prepare
      ssmHolds({ [name]: value });

      // Act
      const e = await rejection(resolveSecrets({ COCOON_TON_ENDPOINT: TON_ENDPOINT, [param]: name }));

      // Assess
      expect(e).toBeInstanceOf(SecretParameterError);
      expect(e).toMatchObject({ variable: param, parameter: name });
      expect(e.message).toMatch(new RegExp(`^SSM parameter ${name} \\(named by ${param}\\) `));
      expect(e.message).toMatch(why);
      expect(e.message).not.toContain(value.trim().slice(-16));
    },
  );

  it("no parameter named: the environment as it is, and no SSM call (local runs, dev stages with plain values)", async () => {
    // Prepare
    const env = prodStageEnv({ COCOON_VAULT_ADDRESS: VAULT, COCOON_COORDINATOR_SEED: SEED });

    // Act
    const resolved = await resolveSecrets(env);

    // Assess
    expect(resolved).toBe(env);
    expect(ssm.calls()).toHaveLength(0);
  });

  it("a missing parameter fails by SecretParameterError naming the parameter and its variable", async () => {
    // Prepare
    ssmHolds({});

    // Act
    const e = await rejection(resolveSecrets(signerEnv()));

    // Assess
    expect(e).toBeInstanceOf(SecretParameterError);
    expect(e).toBeInstanceOf(ConfigError);
    expect(e).toMatchObject({ name: "SecretParameterError", variable: "COCOON_COORDINATOR_SEED_PARAM", parameter: SEED_PARAM });
    expect(e.message).toMatch(
      new RegExp(`^SSM parameter ${SEED_PARAM} \\(named by COCOON_COORDINATOR_SEED_PARAM\\) does not exist in this account and region`),
    );
  });

  it.each([
    ["upper-case hex", SEED.toUpperCase()],
    ["31 bytes", "5e".repeat(31)],
    ["a trailing newline", SEED + "\n"],
  ])("a malformed value (%s) fails by the secret's own schema, naming the parameter and never the value", async (_, value) => {
    // Prepare
    ssmHolds({ [SEED_PARAM]: value });

    // Act
    const e = await rejection(resolveSecrets(signerEnv()));

    // Assess
    expect(e).toBeInstanceOf(SecretParameterError);
    expect(e.message).toBe(
      `SSM parameter ${SEED_PARAM} (named by COCOON_COORDINATOR_SEED_PARAM) must be 64 lower-case hex chars (a 32-byte Ed25519 seed)`,
    );
    expect(e.message).not.toContain(value.trim().slice(0, 16));
  });

  it("a parameter stored as a plain String is refused (readable without any KMS key)", async () => {
    // Prepare
    ssmHolds({ [SEED_PARAM]: { value: SEED, type: "String" } });

    // Act
    const e = await rejection(resolveSecrets(signerEnv()));

    // Assess
    expect(e).toBeInstanceOf(SecretParameterError);
    expect(e.message).toMatch(/is a String parameter, not a SecureString: .*store the secret as a SecureString/);
    expect(e.message).not.toContain(SEED);
  });

  it("SSM refusing the read (no grant, KMS) fails by SecretParameterError naming the parameter", async () => {
    // Prepare
    const denied = Object.assign(
      new Error("User: arn:aws:sts::123456789012:assumed-role/x is not authorized to perform: ssm:GetParameters"),
      {
        name: "AccessDeniedException",
      },
    );
    ssm.on(GetParametersCommand).rejects(denied);

    // Act
    const e = await rejection(resolveSecrets(signerEnv()));

    // Assess
    expect(e).toBeInstanceOf(SecretParameterError);
    expect(e.message).toMatch(new RegExp(`^could not read SSM parameter\\(s\\) ${SEED_PARAM}: AccessDeniedException: `));
  });

  it("a secret given both ways, or a parameter name that is not one, is a ConfigError naming the variable (no SSM call)", async () => {
    // Act
    const both = await rejection(resolveSecrets(signerEnv({ COCOON_COORDINATOR_SEED: SEED })));
    const arn = await rejection(
      resolveSecrets(signerEnv({ COCOON_COORDINATOR_SEED_PARAM: "arn:aws:ssm:us-east-1:123456789012:parameter/cocoon/seed" })),
    );

    // Assess
    expect(both).toBeInstanceOf(ConfigError);
    expect(both).toMatchObject({ variable: "COCOON_COORDINATOR_SEED_PARAM" });
    expect(both.message).toMatch(/COCOON_COORDINATOR_SEED and COCOON_COORDINATOR_SEED_PARAM are both set/);
    expect(arn).toMatchObject({ variable: "COCOON_COORDINATOR_SEED_PARAM" });
    expect(arn.message).toMatch(/must be the full name of an SSM parameter/);
    expect(ssm.calls()).toHaveLength(0);
  });

  it("readSsmParameters asks at most 10 names a call (SSM's limit)", async () => {
    // Prepare
    const names = Array.from({ length: 12 }, (_, i) => `/p/${i}`);
    ssmHolds(Object.fromEntries(names.map((n) => [n, "v"])));

    // Act
    const read = await readSsmParameters(names, new SSMClient({ region: "us-east-1" }));

    // Assess
    expect(ssm.commandCalls(GetParametersCommand).map((c) => c.args[0].input.Names?.length)).toEqual([10, 2]);
    expect(read.size).toBe(12);
  });
});

describe("loadAwsConfig without the read", () => {
  it("refuses a named parameter that was not read, instead of running as if the secret were unset (payouts off)", () => {
    // Act
    const act = () => loadAwsConfig(signerEnv());

    // Assess
    expect(act).toThrow(ConfigError);
    expect(act).toThrow(
      /^environment variable COCOON_COORDINATOR_SEED_PARAM names an SSM parameter that was not read \(functions\/secrets.ts reads it\)$/,
    );
    // the anchorer's seed is no part of the config: that function builds the lean deps from the environment as it is
    expect(() => loadAwsConfig(prodStageEnv({ COCOON_ANCHOR_SEED_PARAM: "/cocoon/prod/anchor-seed" }))).not.toThrow();
    // the toncenter key is: a function given its parameter builds its deps from the read (lambdaSecretDeps)
    expect(() => loadAwsConfig(prodStageEnv({ COCOON_TON_API_KEY_PARAM: TON_KEY_PARAM }))).toThrow(
      /^environment variable COCOON_TON_API_KEY_PARAM names an SSM parameter that was not read/,
    );
  });
});

describe("once per container", () => {
  it("concurrent and later cold-start callers share one SSM read; a failed read is tried again", async () => {
    // Prepare
    ssm.on(GetParametersCommand).rejectsOnce(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" }));
    const load = secretsOnce(() => signerEnv());

    // Act
    const first = await rejection(load());
    ssmHolds({ [SEED_PARAM]: SEED });
    const [a, b] = await Promise.all([load(), load()]);
    const c = await load();

    // Assess
    expect(first).toBeInstanceOf(SecretParameterError);
    expect(ssm.commandCalls(GetParametersCommand)).toHaveLength(2); // the failed one, then one for all three
    expect(a).toBe(b);
    expect(c).toBe(a);
    expect(a.COCOON_COORDINATOR_SEED).toBe(SEED);
  });

  it("a signing route's cold start (lambdaTonDeps over lambdaSecretDeps) reads the seed once and signs with it", async () => {
    // Prepare
    ssmHolds({ [SEED_PARAM]: SEED });
    for (const [k, v] of Object.entries(signerEnv())) if (v !== undefined) vi.stubEnv(k, v);
    const { lambdaTonDeps } = await import("./deps-ton");
    const voucher = { payee: "ef".repeat(32), worker: "0:" + "cd".repeat(32), cumulative: 5n, expiry: 1_900_000_000 };

    // Act
    const deps = (await lambdaTonDeps()) as CoreDeps & PayoutDeps;
    const signature = await deps.voucherSigner!.sign(voucher);

    // Assess
    expect(ssm.commandCalls(GetParametersCommand)).toHaveLength(1);
    expect(signature).toEqual(await vaultVoucherSigner(Buffer.from(SEED, "hex"), parseTonAddress(VAULT)).sign(voucher));
  });
});

describe("which handlers read secrets from SSM", () => {
  /** The routes the stack gives a secret (stacks/Cocoon.ts; test/stacks.test.ts pins them): sessions, the handshake, quotes and tabs, the signers. */
  const SECRET_ROUTES = [
    "POST /v1/sessions",
    "POST /v1/jobs/prepare",
    "POST /v1/jobs",
    "POST /v1/tabs",
    "GET /v1/tabs/{id}",
    "POST /v1/agents/voucher",
    "POST /v1/account/withdraw",
    "GET /v1/account/withdrawals/{seqno}", // the toncenter key
  ];
  const SECRET_PROVIDERS =
    /lambdaHandler\(route, (lambdaSecretDeps|lambdaTonDeps|lambdaTonSeqnoDeps|lambdaRegistryDeps|withRelaySessions\(lambdaRegistryDeps\))\)/;

  it("every route the stack may give a secret's parameter builds its deps through a provider that reads it (any other would refuse the `_PARAM` at cold start)", async () => {
    // Prepare
    const { readdirSync, readFileSync } = await import("node:fs");
    const files = readdirSync("functions/http").filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
    let checked = 0;
    for (const f of files) {
      const source = readFileSync(`functions/http/${f}`, "utf8");
      if (!/export const handler = lambdaHandler\(/.test(source)) continue;
      const { route } = (await import(`./http/${f.replace(/\.ts$/, "")}`)) as {
        route: { spec: { method: string; path: string; auth: string } };
      };
      const key = `${route.spec.method} ${route.spec.path}`;
      // Act
      const getsSecret = route.spec.auth === "session" || SECRET_ROUTES.includes(key);
      // Assess
      if (getsSecret) {
        expect(source, f).toMatch(SECRET_PROVIDERS);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(13);
  });
});

describe("the toncenter key and the alert bot's token from SSM, at the cold start of the functions that use them", () => {
  /** What the functions sent over fetch (toncenter's JSON-RPC, Telegram's Bot API), answered as they answer. */
  let sent: Array<{ url: string; headers: Record<string, string>; method: string | undefined }>;
  beforeEach(() => {
    sent = [];
    vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
      const body = JSON.parse(String(init.body)) as { method?: string };
      sent.push({ url, headers: { ...(init.headers as Record<string, string>) }, method: body.method });
      const result =
        body.method === "getAddressInformation"
          ? { state: "active" }
          : body.method === "runGetMethod"
            ? { gas_used: 1, exit_code: 0, stack: [["num", "0x5"]] }
            : true;
      return new Response(JSON.stringify({ ok: true, result }), { status: 200, headers: { "content-type": "application/json" } });
    });
    // each test a fresh container: the environment, the secrets and the deps are read once per module instance
    vi.resetModules();
  });
  afterEach(() => vi.unstubAllGlobals());
  const stub = (env: Env) => {
    for (const [k, v] of Object.entries(env)) if (v !== undefined) vi.stubEnv(k, v);
  };

  it("the chain watcher reads both in one SSM call, sends the key to toncenter and the token to Telegram (lambdaDeps would refuse the key's `_PARAM`)", async () => {
    // Prepare
    ssmHolds({ [TON_KEY_PARAM]: TON_KEY, [BOT_TOKEN_PARAM]: BOT_TOKEN });
    stub(
      prodStageEnv({
        COCOON_TON_ENDPOINT: TON_ENDPOINT,
        COCOON_VAULT_ADDRESS: VAULT,
        COCOON_ANCHOR_ADDRESS: "0:" + "b".repeat(64),
        COCOON_TON_API_KEY_PARAM: TON_KEY_PARAM,
        COCOON_TELEGRAM_BOT_TOKEN_PARAM: BOT_TOKEN_PARAM,
        COCOON_TELEGRAM_CHAT_ID: "-1001234",
      }),
    );
    const { lambdaChainWatcherDeps } = await import("./schedule/chain-watcher");

    // Act
    const deps = await lambdaChainWatcherDeps();
    await deps.alerts.raise({ key: "k", severity: "info", title: "t", details: {} });
    await deps.anchorReader!.latest().catch(() => undefined); // what it decodes does not matter here: what it sent does

    // Assess
    expect(ssm.commandCalls(GetParametersCommand).map((c) => c.args[0].input)).toEqual([
      { Names: [TON_KEY_PARAM, BOT_TOKEN_PARAM], WithDecryption: true },
    ]);
    expect(sent.map((s) => s.url)).toEqual([`https://api.telegram.org/bot${BOT_TOKEN}/sendMessage`, TON_ENDPOINT]);
    expect(sent[1]!.headers["X-API-Key"]).toBe(TON_KEY);
  });

  it("the anchorer: the key and the seed from SSM, the key sent to toncenter", async () => {
    // Prepare
    ssmHolds({ [TON_KEY_PARAM]: TON_KEY, "/cocoon/prod/anchor-seed": "08".repeat(32) });
    stub(
      prodStageEnv({
        COCOON_TON_ENDPOINT: TON_ENDPOINT,
        COCOON_ANCHOR_ADDRESS: "0:" + "b".repeat(64),
        COCOON_TON_API_KEY_PARAM: TON_KEY_PARAM,
        COCOON_ANCHOR_SEED_PARAM: "/cocoon/prod/anchor-seed",
      }),
    );
    const { lambdaAnchorDeps } = await import("./schedule/anchor");

    // Act
    const deps = await lambdaAnchorDeps();
    await deps.reader.latest().catch(() => undefined);

    // Assess
    expect(ssm.commandCalls(GetParametersCommand)).toHaveLength(1);
    expect(sent.map((s) => [s.url, s.headers["X-API-Key"]])).toEqual([[TON_ENDPOINT, TON_KEY]]);
  });

  it("GET /v1/account/withdrawals/{seqno} (no vault key): the vault's seqno getter sends the key held in SSM", async () => {
    // Prepare
    ssmHolds({ [TON_KEY_PARAM]: TON_KEY });
    stub(prodStageEnv({ COCOON_VAULT_ADDRESS: VAULT, COCOON_TON_ENDPOINT: TON_ENDPOINT, COCOON_TON_API_KEY_PARAM: TON_KEY_PARAM }));
    const { lambdaTonSeqnoDeps } = await import("./deps-ton");

    // Act
    const deps = (await lambdaTonSeqnoDeps()) as CoreDeps & WithdrawalDeps;
    const seqno = await deps.withdrawalSigner!.chainSeqno!(Buffer.alloc(32, 9).toString("base64url"));

    // Assess
    expect(seqno).toBe(5);
    expect(ssm.commandCalls(GetParametersCommand)).toHaveLength(1);
    expect(sent.map((s) => s.headers["X-API-Key"])).toEqual([TON_KEY, TON_KEY]);
  });
});
