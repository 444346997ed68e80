/**
 * Secrets from SSM SecureString parameters. On AWS the stack gives a function the NAME of each
 * secret's parameter (`<secret>_PARAM`, stacks/Cocoon.ts) instead of its value, so the value is
 * in no function configuration and no CloudFormation template; the cold start reads them here,
 * once per container, and checks each with the schema its plain variable has (env-fields.ts
 * SECRET_FIELDS). A module of its own, reached only from the providers of the functions the stack
 * gives secrets (deps-secrets.ts, deps-ton.ts, deps-registry.ts, the anchorer, the chain watcher), so no other
 * handler bundle carries it; functions/config.ts refuses a `_PARAM` that was not read.
 */
import { z } from "zod";
import { ConfigError, loadAwsConfig, type AwsConfig } from "./config";
import { paramVariable, SECRET_FIELDS, SECRET_VARIABLES, type SecretVariable } from "./env-fields";

/**
 * A parameter's full name (hierarchical, so its ARN is `arn:…:parameter<name>`): letters,
 * digits, `_`, `.`, `-` in `/`-separated parts. An ARN or a bare name is refused: the stack
 * grants ssm:GetParameters on this account's parameter of exactly this name.
 */
export const ssmParameterName = z
  .string()
  .max(1011, "is longer than SSM's 1011 characters")
  .regex(
    /^(\/[A-Za-z0-9_.-]+)+$/,
    "must be the full name of an SSM parameter in this account and region, such as /cocoon/prod/coordinator-seed ('/'-separated parts of letters, digits, '_', '.' and '-')",
  );

/**
 * A secret's SSM parameter could not be used: absent (or not readable by this function), not a
 * SecureString, not valid for its variable, or SSM could not be reached. Names the parameter and
 * the variable that named it, never the value. Thrown at cold start, before any adapter is built.
 */
export class SecretParameterError extends ConfigError {
  override readonly name: string = "SecretParameterError";
  override readonly code: string = "secret_parameter_invalid";
  constructor(
    variable: string,
    readonly parameter: string,
    message: string,
  ) {
    super(variable, message);
  }
}

/** A parameter as SSM answers it (GetParameters WithDecryption). */
export interface SecretParameter {
  value: string;
  /** "SecureString", "String" or "StringList" */
  type: string | undefined;
}
/** Reads the named parameters, decrypted; a name SSM does not know is absent from the answer. */
export type SecretParameterReader = (names: string[]) => Promise<Map<string, SecretParameter>>;

const ssmReader: SecretParameterReader = async (names) => (await import("./adapters/ssm-secrets")).readSsmParameters(names);

type Env = Record<string, string | undefined>;

/**
 * The environment with every secret the stack names by its SSM parameter (`<secret>_PARAM`) read
 * and checked with the secret's own schema (env-fields.ts SECRET_FIELDS), in one GetParameters
 * call; the `_PARAM` names are dropped. Without any `_PARAM`: the environment as it is, and no
 * SDK is loaded (local runs, dev stages with plain values).
 */
export async function resolveSecrets(env: Env, read: SecretParameterReader = ssmReader): Promise<Env> {
  const wanted: Array<{ variable: SecretVariable; param: string; name: string }> = [];
  for (const variable of SECRET_VARIABLES) {
    const param = paramVariable(variable);
    const name = env[param];
    if (!name) continue;
    if (env[variable])
      throw new ConfigError(param, `environment variables ${variable} and ${param} are both set: give the secret one way (the parameter)`);
    const ok = ssmParameterName.safeParse(name);
    if (!ok.success) throw new ConfigError(param, `environment variable ${param} ${ok.error.issues[0]!.message}`);
    wanted.push({ variable, param, name });
  }
  if (wanted.length === 0) return env;
  let found: Map<string, SecretParameter>;
  try {
    found = await read([...new Set(wanted.map((w) => w.name))]);
  } catch (e) {
    const names = wanted.map((w) => w.name).join(", ");
    // the SDK's error names the call and the resource (AccessDenied, throttling, KMS), never a value
    throw new SecretParameterError(
      wanted[0]!.param,
      wanted[0]!.name,
      `could not read SSM parameter(s) ${names}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
    );
  }
  const out: Env = { ...env };
  for (const { variable, param, name } of wanted) {
    const p = found.get(name);
    const issue = !p
      ? "does not exist in this account and region: create it (aws ssm put-parameter --type SecureString), or fix the name and redeploy"
      : p.type !== "SecureString"
        ? `is a ${p.type ?? "plain"} parameter, not a SecureString: anyone allowed ssm:GetParameter* reads it without a KMS key; store the secret as a SecureString (aws ssm put-parameter --type SecureString --overwrite)`
        : SECRET_FIELDS[variable].safeParse(p.value).error?.issues[0]?.message;
    if (issue !== undefined || !p) throw new SecretParameterError(param, name, `SSM parameter ${name} (named by ${param}) ${issue}`);
    out[variable] = p.value;
    delete out[param];
  }
  return out;
}

/**
 * Resolves `env()` once: concurrent and later callers share the first read (one SSM call per
 * container); a failed read is tried again by the next caller, as the deps providers retry a
 * failed cold start.
 */
export function secretsOnce(env: () => Env, read?: SecretParameterReader): () => Promise<Env> {
  let p: Promise<Env> | undefined;
  return () => (p ??= resolveSecrets(env(), read).catch((e: unknown) => ((p = undefined), Promise.reject(e))));
}

/** This Lambda container's environment, its SSM-held secrets read at cold start (once). */
export const loadLambdaEnv = secretsOnce(() => process.env);

/** This Lambda container's config, its secrets read from SSM where the stack names parameters. */
export async function lambdaConfig(): Promise<AwsConfig> {
  return loadAwsConfig(await loadLambdaEnv());
}
