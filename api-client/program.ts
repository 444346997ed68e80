/**
 * Command-line plumbing shared by `cocoon` and `cocoon-agent` (commander): output to the
 * streams the caller gives (tests pass their own), no process.exit inside, and one exit-code
 * convention: 0 done, 64 usage error (sysexits EX_USAGE), otherwise what the command returns.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { Command, CommanderError, InvalidArgumentError } from "commander";

/** Where a CLI writes: process.stdout / process.stderr, or a test's sinks. */
export interface Io {
  out: { write(s: string): unknown };
  err: { write(s: string): unknown; isTTY?: boolean };
}

export const EX_USAGE = 64;

/** The release, as package.json says it (api-client/program.test.ts keeps the two equal). */
export const COCOON_VERSION = "0.1.0";

/**
 * What `--version` prints: the release, and where the code runs from. For the agent's bundle
 * (`npm run build:agent`: cocoon-agent.cjs) its SHA-256, the digest a build prints and an
 * image's allow-list names: what an owner quotes to say exactly which agent runs.
 */
export function versionLine(name: string, script: string | undefined = process.argv[1]): string {
  if (script && basename(script) === "cocoon-agent.cjs")
    return `${name} ${COCOON_VERSION} (bundle sha256:${createHash("sha256").update(readFileSync(script)).digest("hex")})`;
  return `${name} ${COCOON_VERSION}`;
}

/**
 * A program whose help and errors go to `io`, and which throws instead of exiting. `version`
 * makes its --version line (the agent's names its single executable's embedded digest too), and
 * `versionHelp` says what it prints (`cocoon` prints the release alone).
 */
export function newProgram(
  name: string,
  description: string,
  io: Io,
  version: () => string = () => versionLine(name),
  versionHelp = "print the version",
): Command {
  const program = new Command(name)
    .description(description)
    .exitOverride()
    .configureOutput({ writeOut: (s) => void io.out.write(s), writeErr: (s) => void io.err.write(s) })
    .showHelpAfterError("(add --help for usage)")
    .showSuggestionAfterError(true)
    // (not commander's .version(string): the bundle is hashed only when asked)
    .option("-V, --version", versionHelp);
  program.on("option:version", () => {
    io.out.write(version() + "\n");
    throw new CommanderError(0, "commander.version", "version printed");
  });
  return program;
}

/**
 * Parses `argv` (the arguments after the program name) and runs the chosen command's action,
 * which reports its exit code through `setCode`. `--help` is 0; no command, an unknown one,
 * a missing argument or a bad option value is 64 (commander has printed why, and the help).
 */
export async function runProgram(program: Command, argv: string[], code: () => number): Promise<number> {
  // With --json a usage error is the one JSON line every other failure is (reportError), not
  // commander's text and help hint, which a script reading stderr as JSON cannot parse.
  const json = argv.slice(0, argv.includes("--") ? argv.indexOf("--") : argv.length).includes("--json");
  const writeErr = program.configureOutput().writeErr ?? ((s: string) => void process.stderr.write(s));
  if (json) quietUsageErrors(program);
  try {
    await program.parseAsync(argv, { from: "user" });
    return code();
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return 0;
      if (json) reportError({ out: { write: () => {} }, err: { write: writeErr } }, true, usageNotice(e));
      return EX_USAGE;
    }
    throw e;
  }
}

/** Commander's own error text and help hint off, on the program and every subcommand (each keeps its own copy). */
function quietUsageErrors(cmd: Command): void {
  cmd.configureOutput({ outputError: () => {} }).showHelpAfterError(false);
  for (const sub of cmd.commands) quietUsageErrors(sub);
}

/** A commander error as a Notice: code `usage_error`, commander's message without its "error: " prefix. */
function usageNotice(e: CommanderError): Notice {
  return {
    code: "usage_error",
    message: `${e.message.replace(/^error: /, "")} (see --help)`,
    details: { commander: e.code.replace(/^commander\./, "") },
  };
}

/** A failure or a warning as a CLI reports it: its machine-readable code, and status (the HTTP status; 0 when no answer says it). */
export interface Notice {
  code: string;
  message: string;
  status?: number;
  details?: unknown;
}

/**
 * A failed command on stderr: `error [code]: message`, or with --json one line of JSON,
 * {"error":{"code","message","status"[,"details"]}} (the API's own error shape, plus the status),
 * so a script reads the failure as it reads the result. Stdout stays empty; the exit code is the caller's.
 */
export function reportError(io: Io, json: boolean | undefined, e: Notice): void {
  io.err.write(json ? JSON.stringify({ error: noticeJson(e) }) + "\n" : `error [${e.code}]: ${e.message}\n`);
}

/** A warning on stderr, shaped like reportError's: `warning [code]: message`, or {"warning":{…}} with --json. */
export function reportWarning(io: Io, json: boolean | undefined, w: Notice): void {
  io.err.write(json ? JSON.stringify({ warning: noticeJson(w) }) + "\n" : `warning [${w.code}]: ${w.message}\n`);
}

const noticeJson = (n: Notice) => ({
  code: n.code,
  message: n.message,
  status: n.status ?? 0,
  ...(n.details !== undefined ? { details: n.details } : {}),
});

/** Option parser: a whole number ≥ 1. */
export function positiveInt(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("must be a whole number of at least 1.");
  return n;
}

/** Option parser for repeatable options: `--model a --model b` → ["a", "b"]. */
export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}
