import { main } from "./cli";

/**
 * Test factory: `cocoon-agent …` run in this process with `env` set for the call only (restored
 * after, whatever happened); its exit code and what it printed.
 */
export async function runAgentCli(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const printed = { out: "", err: "" };
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const code = await main(argv, { write: (s: string) => (printed.out += s) }, { write: (s: string) => (printed.err += s) });
    return { code, ...printed };
  } finally {
    process.env = saved;
  }
}
