/**
 * The agent's configuration: a JSON file written by `cocoon-agent init` (default
 * `$COCOON_HOME/agent.json`, `./.cocoon/agent.json` without COCOON_HOME), then environment
 * variables, then command-line flags, each overriding the one before. The merged result is
 * checked with one zod schema; a wrong value is refused with a message that names the setting
 * and where it came from (the file's key, the variable, or the flag).
 */
import { accessSync, constants, existsSync, lstatSync, mkdirSync, readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname, join, resolve } from "node:path";
import { Address } from "@ton/core";
import { z } from "zod";
import { replaceFileSync } from "../api-client/durable-file";
import { AttestationTier } from "../events/attestation";
import { ModelName, TonAddress, TonEndpoint } from "../events/common";

/** sysexits EX_CONFIG: a configuration error, not a usage error. */
export const EX_CONFIG = 78;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly code = "bad_config";
}

/**
 * The agent's state directory (its key, agent.json) could not be written. No restart mends a
 * directory this user may not write or a read-only file system (`state_unwritable`, EX_CONFIG),
 * but one does once a full disk has room again (`state_disk_full`). They used to end the command
 * with the bare errno ("error: EACCES: permission denied, open …", exit 1), which the unit
 * restarted every 15 s until its start limit, and which named neither the user nor the fix.
 */
export class StateWriteError extends Error {
  override readonly name = "StateWriteError";
  constructor(
    message: string,
    readonly code: "state_unwritable" | "state_disk_full",
  ) {
    super(message);
  }
}

/** Errnos of a file the agent cannot write in its state directory, and which of them a restart may mend. */
const STATE_ERRNOS: Record<string, StateWriteError["code"]> = {
  EACCES: "state_unwritable",
  EPERM: "state_unwritable",
  EROFS: "state_unwritable",
  ENOSPC: "state_disk_full",
  EDQUOT: "state_disk_full",
};

/**
 * `e`, a failed write of `file` in the agent's state directory, as a StateWriteError naming the
 * file, this user and the fix; any other error as it is.
 */
export function stateWriteError(e: unknown, file: string): unknown {
  const err = e as NodeJS.ErrnoException | undefined;
  if (err?.code === "ENOENT" && err.syscall === "mkdir") return unmadeDirError(err, file);
  const errno = err?.code;
  const code = errno ? STATE_ERRNOS[errno] : undefined;
  if (!code) return e;
  return stateErrnoError(errno!, code, file, dirname(resolve(file)));
}

/**
 * Node's recursive mkdir reports a directory it could not make as ENOENT on the path it was
 * asked for, whatever stopped it: a COCOON_HOME to be made on a read-only file system ended with
 * "ENOENT: no such file or directory, mkdir …" (exit 1). The nearest part of the path that
 * exists says why: asked whether it may be written, it answers EROFS (or EACCES); one that may
 * is left with the part that could not be made in it (a link to nothing, most often).
 */
function unmadeDirError(e: NodeJS.ErrnoException, file: string): StateWriteError {
  let missing = resolve(e.path ?? dirname(file));
  while (!existsSync(dirname(missing)) && dirname(missing) !== missing) missing = dirname(missing);
  const parent = dirname(missing);
  try {
    accessSync(parent, constants.W_OK);
  } catch (denied) {
    const errno = (denied as NodeJS.ErrnoException).code;
    const code = errno ? STATE_ERRNOS[errno] : undefined;
    if (code) return stateErrnoError(errno!, code, file, parent);
  }
  const link = (() => {
    try {
      return lstatSync(missing).isSymbolicLink();
    } catch {
      return false;
    }
  })();
  return new StateWriteError(
    `cannot write ${file}: ${missing} cannot be made (ENOENT${link ? ": it is a link to a path that does not exist" : ""}); point COCOON_HOME (or --config, --key) at a directory that exists or can be made`,
    "state_unwritable",
  );
}

/** The StateWriteError of `errno` (one of STATE_ERRNOS), `dir` being the directory that refused. */
function stateErrnoError(errno: string, code: StateWriteError["code"], file: string, dir: string): StateWriteError {
  if (code === "state_disk_full")
    return new StateWriteError(`cannot write ${file} (${errno}): the disk holding ${dir} is full; free some space and start again`, code);
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = `uid ${process.getuid?.() ?? "?"}`;
  }
  return new StateWriteError(
    errno === "EROFS"
      ? `cannot write ${file} (EROFS): ${dir} is on a read-only file system; point COCOON_HOME (or --config, --key) at a writable directory`
      : `cannot write ${file} (${errno}): this user (${user}) may not write ${dir}. Run the agent as the user who owns it (the unit's: sudo -u cocoon-agent env COCOON_HOME=/var/lib/cocoon-agent …; \`sudo systemd-tmpfiles --create\` makes that directory, deploy/cocoon-agent.tmpfiles), or point COCOON_HOME at a directory of yours`,
    code,
  );
}

/**
 * The payout wallet, checked here as the vault will pay it. The shape alone let any 48
 * characters through, and a wallet off the basechain: both were refused only by the
 * coordinator at the first voucher (invalid_payout_address, unsupported_workchain), after
 * days of earnings, while `init` and `start` said "payouts to …". The friendly form's CRC-16
 * catches a typo. Bounceable (EQ…) and non-bounceable (UQ…) forms name the same account and
 * the vault pays with bounce off, so both are taken.
 */
const PayoutAddress = TonAddress.superRefine((text, ctx) => {
  let address: Address;
  try {
    address = Address.parse(text);
  } catch {
    // Only a text of the friendly form's shape can have a wrong checksum; any other already has
    // the shape's own issue ("must be a TON address…"), and a second one blaming the checksum misleads.
    if (/^[A-Za-z0-9_+/-]{48}$/.test(text))
      ctx.addIssue({ code: "custom", message: `is not a valid TON address (its checksum does not match: a typo?), got "${text}"` });
    return;
  }
  if (address.workChain !== 0)
    ctx.addIssue({
      code: "custom",
      message: `is on workchain ${address.workChain}: the vault pays basechain (workchain 0) wallets only`,
    });
});

const GPU = z.enum(["auto", "cpu", "cuda", "vulkan", "metal"]);

/**
 * An API URL not ending in /v1: the agent asks /v1/… under it, so one that does (the engine URL's
 * habit) asked POST /v1/v1/… and failed every start with no_such_route.
 */
function withoutV1(url: string): boolean {
  try {
    return !/\/v1\/?$/.test(new URL(url).pathname);
  } catch {
    return true; // not a URL: the url check says so
  }
}

export const AgentConfig = z
  .object({
    /** the coordinator's API */
    apiUrl: z
      .url({ protocol: /^https?$/, error: "must be an http(s) URL, e.g. https://api.example.org" })
      .refine(withoutV1, {
        error: (i) => `must be the API's base URL, without /v1 (the agent asks /v1/… under it): ${String(i.input).replace(/\/v1\/?$/, "")}`,
      })
      .optional(),
    /** the TON wallet payouts go to (bound by the first voucher); the local default uses the sandbox wallet */
    payoutAddress: PayoutAddress.optional(),
    /** builtin: deterministic, not a model; openai: an OpenAI-compatible server; llama: a GGUF file in a child process */
    engine: z.enum(["builtin", "openai", "llama"]).optional(),
    engineUrl: z
      .url({ protocol: /^https?$/, error: "must be an http(s) URL, e.g. http://127.0.0.1:8000/v1" })
      .default("http://127.0.0.1:8000/v1"),
    /** --engine openai: the server's API key (vLLM --api-key, llama-server --api-key), sent as a Bearer token */
    engineKey: z.string().min(1).max(512).optional(),
    /** --engine openai: the server returns log probabilities (vLLM, llama.cpp server do; not every server does), so requesters may ask for them */
    engineLogprobs: z.enum(["on", "off"], { error: 'must be "on" or "off"' }).default("off"),
    /**
     * --engine openai: the server reads images in chat messages. auto: as llama-server's GET /props
     * says (modalities.vision, with --mmproj); on: the owner says so (vLLM or Ollama serving a vision model); off: never
     */
    engineVision: z.enum(["auto", "on", "off"], { error: 'must be "auto", "on" or "off"' }).default("auto"),
    modelFile: z.string().min(1).optional(),
    threads: z.number().int().min(1).max(1024).optional(),
    gpu: GPU.default("auto"),
    contextSize: z.number().int().min(16).max(1_048_576).optional(),
    /** models to offer; empty: what the engine lists */
    models: z.array(ModelName).max(32).default([]),
    /** price coefficient in basis points of each model's base price (10000 = 1.0) */
    priceBps: z.number().int().min(1).max(1_000_000).default(10_000),
    /** jobs run at once at most (also bounded by the engine's capacity) */
    maxConcurrentJobs: z.number().int().min(1).max(1024).default(1),
    /** tdx: confidential (Intel TDX); none: the home tier, NOT confidential; dev: SIMULATED evidence, local testing only */
    tier: AttestationTier.default("tdx"),
    /** earnings are redeemed automatically once this much TON is unredeemed ("0": never) */
    redeemThresholdTon: z
      .string()
      .regex(/^\d+(?:\.\d{1,9})?$/, 'must be an amount of TON such as "10" or "2.5"')
      .default("10"),
    /** GET /metrics and /status on 127.0.0.1 (0: a free port, printed at start) */
    metricsPort: z.number().int().min(0).max(65_535).default(9464),
    /**
     * issue 15: the PolicyRegistry contract, read through toncenter (`tonEndpoint`): jobs are then
     * run only under a reading no older than `policyMaxAgeSeconds` that still lists this worker's
     * image (dev) and its models' digests; otherwise they are left to their lease.
     */
    registryAddress: TonAddress.optional(),
    tonEndpoint: TonEndpoint.optional(),
    tonApiKey: z.string().min(1).max(256).optional(),
    policyMaxAgeSeconds: z.number().int().min(10).max(86_400).default(600),
    /**
     * While no job runs, the engine's health check (one GET /health) is made this often, ms: an
     * engine that died between jobs leaves the candidate lists before a paid job finds it.
     * At least a second (a probe is cheap, but not free to the engine), at most an hour.
     */
    engineHealthEveryMs: z
      .number()
      .int()
      .min(1_000, "must be at least 1000 (ms): one probe a second at most")
      .max(3_600_000, "must be at most 3600000 (ms): one hour")
      .default(30_000),
    /**
     * This many jobs in a row the engine leaves unanswered (engine_timeout) take the worker off the candidate lists;
     * each counts only once a one-token canary, sent with nothing else on the engine, went unanswered (agent/runtime.ts checkHung).
     */
    engineTimeoutsBeforeDown: z.number().int().min(1, "must be at least 1").max(100, "must be at most 100").default(3),
    /** tdx: the PCCS (or Intel's PCS) the quote's collateral is fetched from (agent/collateral.ts); absent: Intel's PCS */
    pccsUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL, e.g. https://pccs.example.org:8081" }).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.modelFile && c.engine && c.engine !== "llama")
      ctx.addIssue({
        code: "custom",
        path: ["modelFile"],
        message: `serves a GGUF file with the llama engine; the engine is set to ${c.engine}`,
      });
    if (c.engine === "llama" && !c.modelFile)
      ctx.addIssue({ code: "custom", path: ["modelFile"], message: "the llama engine needs a GGUF model file" });
    if (c.modelFile && c.models.length > 1)
      ctx.addIssue({ code: "custom", path: ["models"], message: "a model file serves one model: give at most one model name" });
    if (c.registryAddress && !c.tonEndpoint)
      ctx.addIssue({
        code: "custom",
        path: ["tonEndpoint"],
        message: "reading the policy registry (registryAddress) needs a toncenter endpoint, e.g. https://toncenter.com/api/v2/jsonRPC",
      });
  })
  .transform((c) => ({ ...c, engine: c.engine ?? (c.modelFile ? ("llama" as const) : ("builtin" as const)) }));
export type AgentConfig = z.output<typeof AgentConfig>;
export type AgentConfigInput = z.input<typeof AgentConfig>;
type Key = keyof AgentConfigInput;

/**
 * Each setting's flag and environment variable, for overrides and for messages, and how it is
 * given there. A "path" from a flag or the environment is made absolute against the directory the
 * command runs in: `init --model-file model.gguf` wrote the name as given, and the service, which
 * runs in its state directory (WorkingDirectory=/var/lib/cocoon-agent), looked for the file there
 * and refused to start.
 */
export const SETTINGS: Record<Key, { flag: string; env: string; kind: "string" | "path" | "int" | "list" }> = {
  apiUrl: { flag: "--api", env: "COCOON_API_URL", kind: "string" },
  payoutAddress: { flag: "--payout-address", env: "COCOON_PAYOUT_ADDRESS", kind: "string" },
  engine: { flag: "--engine", env: "COCOON_ENGINE", kind: "string" },
  engineUrl: { flag: "--engine-url", env: "COCOON_ENGINE_URL", kind: "string" },
  engineKey: { flag: "--engine-key", env: "COCOON_ENGINE_KEY", kind: "string" },
  engineLogprobs: { flag: "--engine-logprobs", env: "COCOON_ENGINE_LOGPROBS", kind: "string" },
  engineVision: { flag: "--engine-vision", env: "COCOON_ENGINE_VISION", kind: "string" },
  modelFile: { flag: "--model-file", env: "COCOON_MODEL_FILE", kind: "path" },
  threads: { flag: "--threads", env: "COCOON_THREADS", kind: "int" },
  gpu: { flag: "--gpu", env: "COCOON_GPU", kind: "string" },
  contextSize: { flag: "--context-size", env: "COCOON_CONTEXT_SIZE", kind: "int" },
  models: { flag: "--model", env: "COCOON_MODELS", kind: "list" },
  priceBps: { flag: "--price-bps", env: "COCOON_PRICE_BPS", kind: "int" },
  maxConcurrentJobs: { flag: "--capacity", env: "COCOON_MAX_JOBS", kind: "int" },
  tier: { flag: "--tier", env: "COCOON_TIER", kind: "string" },
  redeemThresholdTon: { flag: "--redeem-threshold", env: "COCOON_REDEEM_THRESHOLD", kind: "string" },
  metricsPort: { flag: "--metrics-port", env: "COCOON_METRICS_PORT", kind: "int" },
  registryAddress: { flag: "--registry", env: "COCOON_REGISTRY_ADDRESS", kind: "string" },
  tonEndpoint: { flag: "--ton-endpoint", env: "COCOON_TON_ENDPOINT", kind: "string" },
  tonApiKey: { flag: "--ton-api-key", env: "COCOON_TON_API_KEY", kind: "string" },
  policyMaxAgeSeconds: { flag: "--policy-max-age", env: "COCOON_POLICY_MAX_AGE_SECONDS", kind: "int" },
  engineHealthEveryMs: { flag: "--engine-health-every", env: "COCOON_ENGINE_HEALTH_EVERY_MS", kind: "int" },
  engineTimeoutsBeforeDown: { flag: "--engine-timeouts-before-down", env: "COCOON_ENGINE_TIMEOUTS_BEFORE_DOWN", kind: "int" },
  pccsUrl: { flag: "--pccs-url", env: "COCOON_PCCS_URL", kind: "string" },
};

/** Where the config file is: --config, else COCOON_AGENT_CONFIG, else $COCOON_HOME/agent.json. */
export function configPath(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env.COCOON_AGENT_CONFIG ?? join(env.COCOON_HOME ?? ".cocoon", "agent.json"));
}

/** Flags as text (what the command line gave), by setting; absent = not given. */
export type FlagValues = Partial<Record<Key, string | string[] | number>>;

/**
 * file ← env ← flags, then the schema. Throws ConfigError naming the setting and its source:
 * `priceBps (COCOON_PRICE_BPS): must be a whole number, got "ten"`.
 */
export function resolveConfig(o: {
  file?: string;
  flags?: FlagValues;
  env?: NodeJS.ProcessEnv;
  requireFile?: boolean;
  readFile?: boolean;
}): { config: AgentConfig; file: string; fromFile: boolean } {
  const env = o.env ?? process.env;
  const file = o.file ?? configPath(undefined, env);
  const raw: Record<string, unknown> = {};
  const source: Record<string, string> = {};
  let fromFile = false;
  const text = o.readFile === false ? undefined : readConfigFile(file);
  if (text !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new ConfigError(`${file} is not JSON (${(e as Error).message}); fix it or write it again with cocoon-agent init --force`);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json))
      throw new ConfigError(`${file} must hold a JSON object of settings`);
    for (const [k, v] of Object.entries(json)) {
      raw[k] = v;
      source[k] = `${file}: ${k}`;
    }
    fromFile = true;
  } else if (o.requireFile) {
    throw new ConfigError(`no config file at ${file}: run cocoon-agent init first`);
  }
  const take = (key: Key, text: string | string[] | number, where: string) => {
    const s = SETTINGS[key];
    raw[key] =
      s.kind === "int" && typeof text === "string"
        ? wholeNumber(text, `${key} (${where})`)
        : s.kind === "list" && typeof text === "string"
          ? text
              .split(",")
              .map((x) => x.trim())
              .filter(Boolean)
          : s.kind === "path" && typeof text === "string" && text
            ? resolve(text)
            : text;
    source[key] = `${key} (${where})`;
  };
  for (const key of Object.keys(SETTINGS) as Key[]) {
    const v = env[SETTINGS[key].env];
    if (v !== undefined && v !== "") take(key, v, SETTINGS[key].env);
  }
  for (const [key, v] of Object.entries(o.flags ?? {}) as Array<[Key, string | string[] | number | undefined]>) {
    if (v !== undefined && !(Array.isArray(v) && v.length === 0)) take(key, v, SETTINGS[key].flag);
  }
  const r = AgentConfig.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map((i) => {
      const key = String(i.path[0] ?? "");
      const where = source[key] ?? (key ? key : file);
      if (i.code === "unrecognized_keys")
        return `${file}: unknown setting${i.keys.length > 1 ? "s" : ""} ${i.keys.join(", ")} (known: ${Object.keys(SETTINGS).join(", ")})`;
      // init spells the default engine out ("engine": "builtin" in agent.json), so a --model-file
      // given to start later was refused without a word of where the engine was set or what to add
      const engineSetBy =
        key === "modelFile" && raw.modelFile && raw.engine !== undefined && raw.engine !== "llama"
          ? ` (by ${source.engine}): add --engine llama to serve the file, or write both with cocoon-agent init --force --model-file <file>`
          : "";
      return `${where}${i.path.length > 1 ? `[${i.path.slice(1).join(".")}]` : ""}: ${i.message}${engineSetBy}`;
    });
    throw new ConfigError(`invalid agent configuration:\n  ${lines.join("\n  ")}`);
  }
  return { config: r.data, file, fromFile };
}

/**
 * The file's text, or undefined when there is none. existsSync() said "no file" for a directory
 * the agent may not search (root's 0700 state directory, the service running as cocoon-agent),
 * so its settings were silently skipped and the agent went on with the defaults; and a file it
 * may not read was reported as "not JSON". Either is now named for what it is (exit 78).
 */
function readConfigFile(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    const who =
      code === "EACCES" || code === "EPERM"
        ? `: it and its directory must be readable by ${userInfo().username}, the user the agent runs as`
        : "";
    throw new ConfigError(`cannot read the config file ${file} (${code ?? (e as Error).message})${who}`);
  }
}

function wholeNumber(text: string, what: string): number {
  if (!/^\d+$/.test(text.trim())) throw new ConfigError(`invalid agent configuration:\n  ${what}: must be a whole number, got "${text}"`);
  return Number(text.trim());
}

/** Writes the config file (checked first), atomically; the input's unset keys stay unset. */
export function writeConfig(file: string, input: AgentConfigInput): void {
  const checked = AgentConfig.safeParse(input);
  if (!checked.success)
    throw new ConfigError(
      `invalid agent configuration: ${checked.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  // 0700: the directory holds the worker's key and this file (the engine's API key); outside
  // systemd (StateDirectoryMode=0700) nothing else would keep other users out of it.
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // a failed write (a full disk) leaves no temporary file beside the config for the owner to find
    replaceFileSync(file, JSON.stringify(input, null, 2) + "\n", { mode: 0o600 });
  } catch (e) {
    throw stateWriteError(e, file);
  }
}
