/**
 * Test factory: runs a CLI's main() in-process (the `cocoon` or `cocoon-agent` program, given its
 * output streams) and captures what it prints; `json` is stdout parsed when the run succeeded
 * and printed a JSON object.
 */
export type CliMain = (argv: string[], out?: NodeJS.WriteStream, err?: NodeJS.WriteStream) => Promise<number>;

export async function runCli(main: CliMain, argv: string[]) {
  let out = "";
  let err = "";
  const sink = (f: (s: string) => void) => ({ write: (s: string) => (f(s), true) }) as unknown as NodeJS.WriteStream;
  const code = await main(
    argv,
    sink((s) => (out += s)),
    sink((s) => (err += s)),
  );
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each test reads the shape its command prints
  const json: any = code === 0 && out.trim().startsWith("{") ? JSON.parse(out) : undefined;
  return { code, out, err, json };
}
