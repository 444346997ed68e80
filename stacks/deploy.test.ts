import { describe, expect, it } from "vitest";
import {
  credentialsRefusal,
  deployCommand,
  EX_REFUSED,
  EX_USAGE,
  parseStageOption,
  settingsPreflight,
  UsageError,
  type DeployDeps,
  type SstAction,
} from "./deploy";

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
    sst: async (action: SstAction, stage) => (calls.push(`sst ${action} ${stage}`), 0),
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    ...over,
  };
  const wrap = <K extends "preflight" | "whoAmI" | "sst">(k: K) => {
    const f = over[k] as ((...a: never[]) => unknown) | undefined;
    if (f) (deps as unknown as Record<string, unknown>)[k] = (...a: never[]) => (calls.push(`${k}*`), f(...a));
  };
  wrap("preflight");
  wrap("whoAmI");
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
