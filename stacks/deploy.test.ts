import { execFile } from "node:child_process";
import { existsSync, fstatSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { tempDir } from "../test/temp-dir";
import {
  checkCredentials,
  credentialsRefusal,
  deployCommand,
  DeployRefusedError,
  deployRegion,
  EX_REFUSED,
  EX_USAGE,
  parseStageOption,
  settingsPreflight,
  SST_CLI,
  sstRunner,
  UsageError,
  USAGE,
  type DeployDeps,
  type SstAction,
  type WhoAmI,
} from "./deploy";
import { COMPLETE_PROD_SETTINGS } from "./settings-testing";

/**
 * `npm run deploy|remove -- --stage <stage>` (stacks/deploy.ts): `npx sst deploy` without usable
 * AWS credentials exited 0 printing nothing, and never reached the stacks' settings check. No
 * network here: STS and sst are injected; the settings check is the stacks' own.
 */

const IDENTITY = { account: "210987654321", arn: "arn:aws:iam::210987654321:user/ops" };

/** Factory: deps that record what ran, in order; each step overridable. */
function recording(over: Partial<DeployDeps> = {}) {
  const calls: string[] = [];
  const out: string[] = [];
  const err: string[] = [];
  const deps: DeployDeps = {
    preflight: async (stage) => void calls.push(`preflight ${stage}`),
    region: async () => "eu-west-1",
    whoAmI: async (region) => (calls.push(`sts ${region}`), IDENTITY),
    queueDepths: async (stage, region) => (calls.push(`queues ${stage} ${region}`), []),
    sst: async (action: SstAction, stage) => (calls.push(`sst ${action} ${stage}`), 0),
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    ...over,
  };
  const wrap = <K extends "preflight" | "whoAmI" | "queueDepths" | "sst">(k: K) => {
    const f = over[k] as ((...a: never[]) => unknown) | undefined;
    if (f) (deps as unknown as Record<string, unknown>)[k] = (...a: never[]) => (calls.push(`${k}*`), f(...a));
  };
  wrap("preflight");
  wrap("whoAmI");
  wrap("queueDepths");
  wrap("sst");
  return { deps, calls, out, err };
}

const named = (name: string, message: string) => Object.assign(new Error(message), { name });

describe("npm run deploy -- --stage <stage>", () => {
  it("checks the settings, then the credentials, then runs sst deploy for that stage, passing on its exit code", async () => {
    // Prepare
    const r = recording({ sst: async () => 3 });
    // Act
    const code = await deployCommand("deploy", ["--stage", "dev"], r.deps);
    // Assess
    expect(code).toBe(3);
    expect(r.calls).toEqual(["preflight dev", "sts eu-west-1", "sst*"]);
    expect(r.out).toEqual([`deploying stage dev: AWS account ${IDENTITY.account} (${IDENTITY.arn}), region eu-west-1`]);
    expect(r.err).toEqual([]);
  });

  it("refuses a malformed setting by name with the stacks' own check, before any AWS call or sst (exit 2, one line)", async () => {
    // Prepare: the stacks' check on a shell with a malformed vault address
    const r = recording({ preflight: (stage) => settingsPreflight(stage, { COCOON_VAULT_ADDRESS: "EQbad" }) });
    // Act
    const code = await deployCommand("deploy", ["--stage=prod"], r.deps);
    // Assess
    expect(code).toBe(EX_REFUSED);
    expect(r.calls).toEqual(["preflight*"]);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/^error \[deploy_refused\]: COCOON_VAULT_ADDRESS must be the vault's TON address/);
  }, 60_000);

  it("refuses a stage name too long for the worker queues' names before any AWS call or sst (sst itself refused it only once built)", async () => {
    // Prepare: the stacks' own check; a clean shell
    const r = recording({ preflight: (stage) => settingsPreflight(stage, {}) });
    // Act
    const code = await deployCommand("deploy", ["--stage", "s".repeat(30)], r.deps);
    // Assess
    expect(code).toBe(EX_REFUSED);
    expect(r.calls).toEqual(["preflight*"]);
    expect(r.err).toEqual([
      expect.stringMatching(/^error \[deploy_refused\]: stage name "s{30}" is too long: "cocoon-s{30}-worker-<43-char id>"/),
    ]);
  }, 60_000);

  it("without credentials: error [no_aws_credentials] naming what to do, exit 2, and sst never runs", async () => {
    // Prepare: what the SDK's default chain throws when it finds nothing
    const r = recording({
      whoAmI: async () => {
        throw named("CredentialsProviderError", "Could not load credentials from any providers");
      },
    });
    // Act
    const code = await deployCommand("deploy", ["--stage", "prod"], r.deps);
    // Assess
    expect(code).toBe(EX_REFUSED);
    expect(r.calls).toEqual(["preflight prod", "whoAmI*"]);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/^error \[no_aws_credentials\]: no AWS credentials found .*aws configure.*AWS_PROFILE.*aws sso login/);
  });

  it("with STS unreachable (no answer), gives up after its timeout: error [aws_unreachable], exit 2, sst never runs", async () => {
    // Prepare: an STS call that never settles (no network, a black-holed proxy)
    const r = recording({ whoAmI: () => new Promise(() => {}), timeoutMs: 10 });
    // Act
    const code = await deployCommand("deploy", ["--stage", "dev"], r.deps);
    // Assess
    expect(code).toBe(EX_REFUSED);
    expect(r.calls).toEqual(["preflight dev", "whoAmI*"]);
    expect(r.err[0]).toMatch(/^error \[aws_unreachable\]: AWS STS did not answer .*check the network/);
  });

  it("names expired, refused and unreachable credentials apart", () => {
    // Act
    const codes = [
      named("ExpiredToken", "The security token included in the request is expired"),
      named("TokenProviderError", "The SSO session associated with this profile has expired or is otherwise invalid"),
      named("InvalidClientTokenId", "The security token included in the request is invalid."),
      Object.assign(named("Error", "getaddrinfo ENOTFOUND sts.eu-west-1.amazonaws.com"), { code: "ENOTFOUND" }),
      named("Weird", "something else"),
    ].map((e) => credentialsRefusal(e).code);
    // Assess
    expect(codes).toEqual([
      "aws_credentials_expired",
      "aws_credentials_expired",
      "aws_credentials_invalid",
      "aws_unreachable",
      "aws_credentials_unusable",
    ]);
  });

  it("requires --stage (no default to both stages), and refuses a --stage without a value or an unknown flag: exit 64, nothing run", async () => {
    for (const args of [[], ["--stage"], ["--stage", "--force"], ["--stage", "dev", "--force"], ["dev"], ["--stage="]]) {
      // Prepare
      const r = recording();
      // Act
      const code = await deployCommand("deploy", args, r.deps);
      // Assess
      expect(code, args.join(" ")).toBe(EX_USAGE);
      expect(r.calls, args.join(" ")).toEqual([]);
      expect(r.err[0], args.join(" ")).toMatch(/^error \[usage\]: /);
    }
  });
});

describe("npm run remove -- --stage <stage>", () => {
  it("checks the same way (sst remove synthesizes the stacks too), then runs sst remove", async () => {
    // Prepare
    const r = recording();
    // Act
    const code = await deployCommand("remove", ["--stage", "dev-alice"], r.deps);
    // Assess
    expect(code).toBe(0);
    expect(r.calls).toEqual(["preflight dev-alice", "sts eu-west-1", "sst remove dev-alice"]);
    expect(r.out[0]).toMatch(/^removing stage dev-alice: AWS account 210987654321/);
  });
});

describe("parseStageOption (npm run synth, deploy, remove)", () => {
  it("takes --stage <s> and --stage=<s>; undefined without it", () => {
    expect([parseStageOption(["--stage", "prod"]), parseStageOption(["--stage=prod"]), parseStageOption([])]).toEqual([
      "prod",
      "prod",
      undefined,
    ]);
  });

  it("refuses a --stage without a value (it synthesized both stages), unknown flags and stray words", () => {
    for (const args of [["--stage"], ["--stage", "--verbose"], ["--verbose"], ["prod"], ["--stage", "pr od"]])
      expect(() => parseStageOption(args), args.join(" ")).toThrow(UsageError);
  });
});

describe("the stacks' settings checks, run alone (settingsPreflight)", () => {
  it.each([
    ["the route concurrency", { COCOON_ROUTE_CONCURRENCY: "0" }, /^COCOON_ROUTE_CONCURRENCY is "0": must be a whole number/],
    ["the relay transport", { COCOON_RELAY_TRANSPORT: "carrier-pigeon" }, /^COCOON_RELAY_TRANSPORT is "carrier-pigeon": must be "sqs"/],
    // ops38: only its presence was checked; the functions refuse an endpoint with a scheme (what a
    // console shows), and with it every answer streamed nothing (the relay routes refused each session)
    [
      "the IoT endpoint as a URL",
      { COCOON_RELAY_TRANSPORT: "iot-mqtt", COCOON_IOT_ENDPOINT: "https://abc123-ats.iot.us-east-1.amazonaws.com" },
      /^COCOON_IOT_ENDPOINT is "https:\/\/abc123-ats\.iot\.us-east-1\.amazonaws\.com": must be /,
    ],
    // ops38: the chain watcher's own settings (functions/schedule/chain-watcher.ts ChainEnv) were not
    // checked: each deployed, then failed every cold start of the function that credits deposits
    [
      "the chain watcher's lag threshold",
      { COCOON_CHAIN_LAG_SECONDS: "10m" },
      /^COCOON_CHAIN_LAG_SECONDS must be a whole number of seconds/,
    ],
    // session 40: the chain watcher's quorum of toncenter endpoints: each a TonEndpoint, each another operator's host
    [
      "a quorum endpoint over plain http",
      { COCOON_TON_QUORUM_ENDPOINTS: "https://ton-a.example/jsonRPC,http://ton-b.example/jsonRPC" },
      /^COCOON_TON_QUORUM_ENDPOINTS must be an https:\/\/ URL/,
    ],
    [
      "a quorum endpoint on COCOON_TON_ENDPOINT's host",
      { COCOON_TON_ENDPOINT: "https://toncenter.com/api/v2/jsonRPC", COCOON_TON_QUORUM_ENDPOINTS: "https://toncenter.com/api/v3/x" },
      /^COCOON_TON_QUORUM_ENDPOINTS names toncenter\.com twice \(COCOON_TON_ENDPOINT included\)/,
    ],
    // ops38: the watcher uses the alert bot only with both (functions/schedule/chain-watcher.ts): one of
    // the two deployed, and no Telegram alert was ever sent, without a word
    [
      "the alert bot's token without its chat",
      { COCOON_TELEGRAM_BOT_TOKEN_PARAM: "/cocoon/dev/telegram-bot-token" },
      /^COCOON_TELEGRAM_CHAT_ID is not set, but COCOON_TELEGRAM_BOT_TOKEN_PARAM is: /,
    ],
    [
      "the alert bot's chat without its token",
      { COCOON_TELEGRAM_CHAT_ID: "-1001234" },
      /^COCOON_TELEGRAM_BOT_TOKEN is not set, but COCOON_TELEGRAM_CHAT_ID is: /,
    ],
    // the stack passes these on only when exactly "true": "yes" or "1" deployed a dev stage without
    // its faucet or its simulated TEEs, and nothing said so
    ["the faucet switch", { COCOON_FAUCET: "yes" }, /^COCOON_FAUCET is "yes": must be "true" or "false"/],
    [
      "the dev attestation switch",
      { COCOON_ALLOW_DEV_ATTESTATION: "1" },
      /^COCOON_ALLOW_DEV_ATTESTATION is "1": must be "true" or "false"/,
    ],
    // ops39: SNS checks the address only when CloudFormation subscribes it: a malformed one failed
    // mid-deploy and rolled the whole update back
    [
      "the alert e-mail address given as a mailto: link",
      { COCOON_ALERT_EMAIL: "mailto:ops@example.com" },
      /^COCOON_ALERT_EMAIL is "mailto:ops@example.com": must be one e-mail address alone .*mid-deploy; fix it in the deploying shell/,
    ],
    [
      "the chain watcher's anchor-overdue threshold",
      { COCOON_ANCHOR_OVERDUE_SECONDS: "0" },
      /^COCOON_ANCHOR_OVERDUE_SECONDS must be a whole number of seconds above 0/,
    ],
  ])(
    "refuses %s by name, as deploy_refused",
    async (_what, env, message) => {
      // Act
      const checked = settingsPreflight("dev", env);
      // Assess
      await expect(checked).rejects.toBeInstanceOf(DeployRefusedError);
      await expect(checked).rejects.toMatchObject({ code: "deploy_refused", message: expect.stringMatching(message) });
    },
    60_000,
  );

  // ops38: the whole configuration is the deploying shell's: a production redeploy from a shell
  // without the exports (a new terminal) went ahead, and took the keys, the seed and the chain's
  // settings off every running function (submits refused, deposits not credited, payouts off).
  const complete = COMPLETE_PROD_SETTINGS;

  it("a production deploy missing a required setting is refused, naming each one in the stage's form (missing_settings)", async () => {
    // Act
    const none = settingsPreflight("prod", {}, "deploy");
    const { COCOON_VAULT_ADDRESS: _, ...noVault } = complete;
    const oneLeftOut = settingsPreflight("Prod-eu", noVault, "deploy");
    // Assess
    await expect(none).rejects.toBeInstanceOf(DeployRefusedError);
    await expect(none).rejects.toMatchObject({
      code: "missing_settings",
      message: expect.stringMatching(
        /^the production stage prod would be deployed without COCOON_QUOTE_KEY_PARAM, COCOON_SESSION_KEY_PARAM, COCOON_TON_ENDPOINT, COCOON_VAULT_ADDRESS, COCOON_COORDINATOR_SEED_PARAM, COCOON_ANCHOR_ADDRESS, COCOON_ANCHOR_SEED_PARAM: /,
      ),
    });
    await expect(oneLeftOut).rejects.toMatchObject({
      code: "missing_settings",
      message: expect.stringMatching(/^the production stage Prod-eu would be deployed without COCOON_VAULT_ADDRESS: /),
    });
  }, 60_000);

  it("npm run deploy stops there on a production stage: exit 2, one line, before any AWS call; npm run remove does not", async () => {
    // Prepare: the deploy's own preflight on a shell without the settings
    const bare = () => recording({ preflight: (stage, action) => settingsPreflight(stage, {}, action) });
    const [deploy, remove] = [bare(), bare()];
    // Act
    const deployed = await deployCommand("deploy", ["--stage", "prod"], deploy.deps);
    const removed = await deployCommand("remove", ["--stage", "prod"], remove.deps);
    // Assess
    expect(deployed).toBe(EX_REFUSED);
    expect(deploy.calls).toEqual(["preflight*"]);
    expect(deploy.err).toEqual([
      expect.stringMatching(/^error \[missing_settings\]: the production stage prod would be deployed without COCOON_QUOTE_KEY_PARAM, /),
    ]);
    expect(removed).toBe(0);
    // ops39: then the production stage's queues are asked whether they are drained (stacks/deploy-drain.test.ts)
    expect(remove.calls).toEqual(["preflight*", "sts eu-west-1", "queues prod eu-west-1", "sst remove prod"]);
  }, 60_000);

  it("all given, a production deploy passes; a dev deploy, a remove and the offline synth never need them", async () => {
    // Act / Assess
    await expect(settingsPreflight("prod", complete, "deploy")).resolves.toBeUndefined();
    await expect(settingsPreflight("dev", {}, "deploy")).resolves.toBeUndefined();
    await expect(settingsPreflight("prod", {}, "remove")).resolves.toBeUndefined();
    await expect(settingsPreflight("prod", {})).resolves.toBeUndefined();
  }, 60_000);

  it("ops39: COCOON_ALERT_EMAIL is one address alone, or refused by name before any AWS call (SNS refused it mid-deploy)", async () => {
    // Prepare: the deploy's own preflight on a shell with only this address set
    const longest = `${"o".repeat(64)}@${"e".repeat(63)}.${"x".repeat(63)}.${"y".repeat(57)}.com`; // 254 characters
    const withEmail = (email: string) =>
      recording({ preflight: (stage, action) => settingsPreflight(stage, { COCOON_ALERT_EMAIL: email }, action) });
    const refused = [
      "ops@example.com, oncall@example.com",
      "ops@example.com;oncall@example.com",
      "Ops <ops@example.com>",
      "mailto:ops@example.com",
      " ops@example.com",
      "ops@example.com\n",
      "ops@example",
      "ops@@example.com",
      "ops.example.com",
      "ops@-example.com",
      longest.replace("@", "o@"), // 255 characters: one past RFC 5321's limit
    ];
    const taken = ["ops@example.com", "ops+cocoon@mail.example.co.uk", "o'brien@example.org", "ALERTS_1@Example.COM", longest];
    for (const email of refused) {
      const r = withEmail(email);
      // Act
      const code = await deployCommand("deploy", ["--stage", "dev"], r.deps);
      // Assess
      expect(code, email).toBe(EX_REFUSED);
      expect(r.calls, email).toEqual(["preflight*"]);
      expect(r.err, email).toHaveLength(1);
      expect(
        r.err[0]!.startsWith(`error [deploy_refused]: COCOON_ALERT_EMAIL is "${email}": must be one e-mail address alone (`),
        email,
      ).toBe(true);
    }
    for (const email of taken) await expect(settingsPreflight("dev", { COCOON_ALERT_EMAIL: email }), email).resolves.toBeUndefined();
  }, 60_000);

  it("a KMS key of another region than the stage deploys to is refused: SSM parameters and keys are regional, and every function given a secret would fail its cold start", async () => {
    // Prepare
    const region = await deployRegion("dev");
    const other = region === "eu-west-1" ? "us-east-2" : "eu-west-1";
    const key = (r: string) => `arn:aws:kms:${r}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
    // Act
    const elsewhere = settingsPreflight("dev", { COCOON_SECRETS_KMS_KEY_ARN: key(other) });
    // Assess
    await expect(elsewhere).rejects.toMatchObject({
      code: "deploy_refused",
      message: expect.stringMatching(new RegExp(`^COCOON_SECRETS_KMS_KEY_ARN is a key in ${other}, but stage dev deploys to ${region} `)),
    });
    await expect(settingsPreflight("dev", { COCOON_SECRETS_KMS_KEY_ARN: key(region) })).resolves.toBeUndefined();
  }, 60_000);

  it("the IoT endpoint is taken or refused at deploy exactly as the functions that vend relay sessions take or refuse it", async () => {
    // Prepare: what the stack gives those functions besides the endpoint
    const { relaySessionsFromEnv } = await import("../functions/adapters/relay-sessions");
    const { relayTransportFromEnv } = await import("./Cocoon");
    const stack = {
      COCOON_RELAY_TRANSPORT: "iot-mqtt",
      COCOON_RELAY_ROLE_ARN: "arn:aws:iam::123456789012:role/RelayRole",
      COCOON_RELAY_PREFIX: "cocoon-dev",
      COCOON_IOT_ARN: "arn:aws:iot:us-east-1:123456789012",
      AWS_REGION: "us-east-1",
    };
    for (const endpoint of [
      "abc123-ats.iot.us-east-1.amazonaws.com",
      "https://abc123-ats.iot.us-east-1.amazonaws.com",
      "abc123-ats.iot.us-east-1.amazonaws.com/mqtt",
      "abc123-ats.iot.us-east-1.amazonaws.com:443",
      " abc123-ats.iot.us-east-1.amazonaws.com",
      // at the length bound (256) and past it (mut38: a deploy bound other than the functions' lived)
      "a".repeat(256 - ".iot.us-east-1.amazonaws.com".length) + ".iot.us-east-1.amazonaws.com",
      "a".repeat(257 - ".iot.us-east-1.amazonaws.com".length) + ".iot.us-east-1.amazonaws.com",
    ]) {
      // Act
      const atDeploy = (() => {
        try {
          return relayTransportFromEnv({ COCOON_RELAY_TRANSPORT: "iot-mqtt", COCOON_IOT_ENDPOINT: endpoint }) === "iot-mqtt";
        } catch {
          return false;
        }
      })();
      const atColdStart = await relaySessionsFromEnv({ ...stack, COCOON_IOT_ENDPOINT: endpoint }).then(
        () => true,
        () => false,
      );
      // Assess
      expect(atDeploy, endpoint).toBe(atColdStart);
    }
  }, 60_000);

  it("passes a clean dev shell, and reads the region sst deploys to from sst.config.ts", async () => {
    // Act / Assess
    await expect(settingsPreflight("dev", {})).resolves.toBeUndefined();
    expect(await deployRegion("dev")).toMatch(/^[a-z]{2}-[a-z]+-\d$/);
  }, 60_000);
});

describe("the credentials check", () => {
  it.each([
    [
      named("ExpiredToken", "The security token included in the request is expired"),
      "aws_credentials_expired",
      "the AWS credentials have expired (ExpiredToken: The security token included in the request is expired): renew them: configure them with `aws configure`",
    ],
    [
      named("TokenProviderError", "no SSO token for this profile"),
      "no_aws_credentials",
      "no AWS credentials found (TokenProviderError: no SSO token for this profile): configure them",
    ],
    [named("CredentialsProviderError", ""), "no_aws_credentials", "no AWS credentials found (CredentialsProviderError): configure them"],
    [
      named("InvalidClientTokenId", "bad id"),
      "aws_credentials_invalid",
      "AWS refused these credentials (InvalidClientTokenId: bad id): configure them",
    ],
    [
      named("SignatureDoesNotMatch", "bad secret"),
      "aws_credentials_invalid",
      "AWS refused these credentials (SignatureDoesNotMatch: bad secret)",
    ],
    [
      named("UnrecognizedClientException", "unknown"),
      "aws_credentials_invalid",
      "AWS refused these credentials (UnrecognizedClientException: unknown)",
    ],
    [
      named("AbortError", "aborted"),
      "aws_unreachable",
      "AWS STS did not answer (AbortError: aborted): check the network (and any proxy), then try again",
    ],
    [named("TimeoutError", "late"), "aws_unreachable", "AWS STS did not answer (TimeoutError: late)"],
    [{ cause: { code: "ECONNREFUSED" } }, "aws_unreachable", "AWS STS did not answer (ECONNREFUSED): check the network"],
    [Object.assign(named("Error", "EAI_AGAIN"), { code: "EAI_AGAIN" }), "aws_unreachable", "AWS STS did not answer (Error: EAI_AGAIN)"],
    [
      Object.assign(named("Error", "odd"), { code: "XENOTFOUND" }),
      "aws_credentials_unusable",
      "the AWS credentials could not be checked (Error: odd): configure them",
    ],
    [
      Object.assign(named("Error", "odd"), { code: "ENOTFOUNDX" }),
      "aws_credentials_unusable",
      "the AWS credentials could not be checked (Error: odd)",
    ],
  ])("%o is %s, with its own words and the error's", (e, code, message) => {
    // Act
    const r = credentialsRefusal(e);
    // Assess
    expect(r).toMatchObject({ code });
    expect(r.message.startsWith(message)).toBe(true);
  });

  it("at its timeout aborts the STS call's signal, and says how long it waited", async () => {
    // Prepare: an STS call that never settles, keeping the signal it was given
    let signal: AbortSignal | undefined;
    const never: WhoAmI = (_region, s) => ((signal = s), new Promise(() => {}));
    // Act
    const checked = checkCredentials(never, "eu-west-1", 20);
    // Assess
    await expect(checked).rejects.toMatchObject({
      code: "aws_unreachable",
      message: expect.stringContaining("TimeoutError: no answer within 0.02 s"),
    });
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toMatchObject({ name: "TimeoutError" });
  });

  it("leaves no timer behind once STS has answered (a deploy of many minutes is not cut off, nor held open)", async () => {
    // Prepare
    vi.useFakeTimers();
    try {
      // Act
      const who = await checkCredentials(async () => IDENTITY, "eu-west-1", 1_000);
      // Assess
      expect(who).toEqual(IDENTITY);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("deployCommand's refusals and failures", () => {
  it("a command-line refusal prints the usage line after the error", async () => {
    // Prepare
    const r = recording();
    // Act
    const code = await deployCommand("deploy", [], r.deps);
    // Assess
    expect(code).toBe(EX_USAGE);
    expect(r.err).toEqual(["error [usage]: --stage <stage> is required (e.g. --stage prod or --stage dev)", USAGE]);
  });

  it("names what a bad --stage is, and an unknown flag by node's own words", () => {
    expect(() => parseStageOption(["--verbose"])).toThrow(/^Unknown option '--verbose'/);
    expect(() => parseStageOption(["--stage"])).toThrow("--stage needs a stage name: --stage <stage> or --stage=<stage>");
    expect(() => parseStageOption(["--stage", "9lives"])).toThrow(
      '--stage "9lives": a stage name starts with a letter, followed by letters, digits or "-"',
    );
  });

  it("a failure that is no refusal (a bug in a check) is thrown, not printed as a refusal with exit 2", async () => {
    // Prepare
    const r = recording({ preflight: () => Promise.reject(new TypeError("a bug")) });
    // Act
    const run = deployCommand("deploy", ["--stage", "dev"], r.deps);
    // Assess
    await expect(run).rejects.toBeInstanceOf(TypeError);
    expect(r.err).toEqual([]);
  });
});

describe("runSst (sst with this terminal)", () => {
  /** Factory: a stand-in sst CLI that writes its arguments and folder to a file, then ends as `end` says. */
  function standInSst(end: string) {
    const dir = tempDir("cocoon-deploy-sst-");
    const seen = join(dir, "seen.json");
    const cli = join(dir, "sst.mjs");
    writeFileSync(
      cli,
      `import { fstatSync, writeFileSync } from "node:fs";\n` +
        `const fds = [fstatSync(1).ino, fstatSync(2).ino];\n` +
        `writeFileSync(${JSON.stringify(seen)}, JSON.stringify({ args: process.argv.slice(2), cwd: process.cwd(), fds }));\n${end}\n`,
    );
    return { cli, seen: () => JSON.parse(readFileSync(seen, "utf8")) as { args: string[]; cwd: string; fds: number[] } };
  }

  it("runs `sst <action> --stage <stage>` in the repository's folder and passes on its exit code", async () => {
    // Prepare
    const sst = standInSst("process.exit(3);");
    // Act
    const code = await sstRunner(sst.cli)("remove", "dev-alice");
    // Assess
    expect(code).toBe(3);
    expect(sst.seen()).toMatchObject({ args: ["remove", "--stage", "dev-alice"], cwd: resolve(import.meta.dirname, "..") });
  });

  it("runs the sst the repository installed", () => {
    expect(existsSync(SST_CLI)).toBe(true);
  });

  it("gives sst this terminal (its output, its prompts), and holds Ctrl-C and TERM here while it runs", async () => {
    // Prepare
    const sst = standInSst("process.exit(0);");
    const listeners = () => [process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")];
    const [int, term] = listeners();
    // Act
    const running = sstRunner(sst.cli)("deploy", "dev");
    const during = listeners();
    await running;
    // Assess: sst's standard output and error are this process's own (not pipes nobody reads)
    expect(sst.seen().fds).toEqual([fstatSync(1).ino, fstatSync(2).ino]);
    expect(during).toEqual([int! + 1, term! + 1]);
  });

  it("an sst ended by a signal is 128 + its number (as a shell says), and the signal handlers are let go", async () => {
    // Prepare
    const sst = standInSst('process.kill(process.pid, "SIGTERM");');
    const listeners = () => [process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")];
    const before = listeners();
    // Act
    const code = await sstRunner(sst.cli)("deploy", "dev");
    // Assess
    expect(code).toBe(128 + 15);
    expect(listeners()).toEqual(before);
  });
});

describe("the script itself (npm run deploy|remove)", () => {
  /** `tsx stacks/deploy.ts …args` (as npm runs it) from the repository's folder: its exit code and what it printed. */
  function script(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
    const repo = resolve(import.meta.dirname, "..");
    return new Promise((done, fail) => {
      execFile(process.execPath, ["--import", "tsx", "stacks/deploy.ts", ...args], { cwd: repo }, (e, out, err) =>
        e && typeof e.code !== "number" ? fail(e) : done({ code: e ? (e.code as number) : 0, out, err }),
      );
    });
  }

  it("exits 64 with the usage for a first argument that is not deploy or remove, and for a deploy without --stage", async () => {
    // Act
    const [unknown, noStage] = await Promise.all([script(["frobnicate"]), script(["deploy"])]);
    // Assess
    expect(unknown).toEqual({
      code: EX_USAGE,
      out: "",
      err: `error [usage]: the first argument is deploy or remove, not frobnicate\n${USAGE}\n`,
    });
    expect(noStage).toEqual({
      code: EX_USAGE,
      out: "",
      err: `error [usage]: --stage <stage> is required (e.g. --stage prod or --stage dev)\n${USAGE}\n`,
    });
  }, 30_000);
});
