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
import { prodStageEnv } from "./adapters/aws-testing";
import { parseTonAddress } from "./adapters/ton-cells";
import { vaultVoucherSigner } from "./adapters/vault-signers";
import type { CoreDeps } from "../core/deps";
import type { PayoutDeps } from "../core/payouts";

type Env = Record<string, string | undefined>;

const SEED = "5e".repeat(32);
const QUOTE = "9a".repeat(32);
const VAULT = "0:" + "ab".repeat(32);
const SEED_PARAM = "/cocoon/prod/coordinator-seed";
const QUOTE_PARAM = "/cocoon/prod/quote-key";

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
    const voucher = { worker: "0:" + "cd".repeat(32), cumulative: 5n, expiry: 1_900_000_000 };

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
  ];
  const SECRET_PROVIDERS =
    /lambdaHandler\(route, (lambdaSecretDeps|lambdaTonDeps|lambdaRegistryDeps|withRelaySessions\(lambdaRegistryDeps\))\)/;

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
